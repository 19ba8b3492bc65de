//! The ServiceAccount coderd runs as (skipped when `serviceAccount.disableCreate`).

use k8s_openapi::api::core::v1::ServiceAccount;

use super::Target;

pub fn service_account(target: &Target<'_>) -> Option<ServiceAccount> {
    let sa = &target.spec.service_account;
    if sa.disable_create {
        return None;
    }
    let mut meta = target.owned_meta(target.service_account_name());
    if let Some(extra) = &sa.labels {
        // The standard labels win: the controller selects children by them.
        let mut labels = extra.clone();
        labels.extend(target.labels());
        meta.labels = Some(labels);
    }
    meta.annotations = sa.annotations.clone().filter(|a| !a.is_empty());
    Some(ServiceAccount {
        metadata: meta,
        ..ServiceAccount::default()
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ccp;
    use super::*;
    use serde_json::json;

    #[test]
    fn table() {
        // (spec, expected name or None when not created, expected extra label, expected annotation)
        let cases = [
            (json!({}), Some("coder"), None, None),
            (
                json!({"serviceAccount": {"name": "custom", "labels": {"team": "a", "app.kubernetes.io/name": "x"}, "annotations": {"iam": "role"}}}),
                Some("custom"),
                Some(("team", "a")),
                Some(("iam", "role")),
            ),
            (
                json!({"serviceAccount": {"name": "", "disableCreate": false}}),
                Some("coder"),
                None,
                None,
            ),
            (
                json!({"serviceAccount": {"name": "existing", "disableCreate": true}}),
                None,
                None,
                None,
            ),
        ];
        for (spec, name, label, annotation) in cases {
            let obj = ccp("coder", "ns", spec.clone());
            let target = Target::new(&obj).unwrap();
            let sa = service_account(&target);
            assert_eq!(
                sa.as_ref().and_then(|s| s.metadata.name.as_deref()),
                name,
                "{spec}"
            );
            let Some(sa) = sa else { continue };
            assert_eq!(sa.metadata.namespace.as_deref(), Some("ns"));
            let labels = sa.metadata.labels.clone().unwrap();
            assert_eq!(labels["app.kubernetes.io/name"], "coder", "{spec}");
            assert_eq!(labels["app.kubernetes.io/managed-by"], "coder-k8s");
            if let Some((k, v)) = label {
                assert_eq!(labels[k], v);
            }
            match annotation {
                Some((k, v)) => assert_eq!(sa.metadata.annotations.unwrap()[k], v),
                None => assert!(sa.metadata.annotations.is_none()),
            }
            assert_eq!(sa.metadata.owner_references.unwrap().len(), 1);
        }
    }
}
