//! Does a child still hold what the controller applies? Pure JSON comparisons, so unchanged
//! children cost no API request, and detection of fields other managers added to the pod spec.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::Value;

use super::builders::MANAGER;

/// Whether `actual` (a stored object) already has every value of `wanted` (what we apply).
///
/// Maps may hold more keys than we set (server defaults, other managers' labels and
/// annotations, `kubectl rollout restart`'s annotation); lists must match item for item, so an
/// extra container, env var or RBAC subject counts as drift. A missing field equals an empty
/// one (the API server drops empty lists and maps).
pub fn contains(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (_, Value::Null) => true,
        (Value::Object(actual), Value::Object(wanted)) => wanted.iter().all(|(key, value)| {
            actual
                .get(key)
                .map_or_else(|| is_empty(value), |found| contains(found, value))
        }),
        (Value::Array(actual), Value::Array(wanted)) => {
            actual.len() == wanted.len() && actual.iter().zip(wanted).all(|(a, w)| contains(a, w))
        }
        (Value::Null, wanted) => is_empty(wanted),
        (actual, wanted) => actual == wanted,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_empty),
        _ => false,
    }
}

/// Managers other than ours that own fields of a Deployment's pod spec
/// (`spec.template.spec`): a hand-added env var, container, volume or resource limit.
///
/// Server-side apply never removes fields another manager owns, so the controller takes them
/// over and drops them (see `reconcile::revert_foreign_pod_spec`). Pod-template metadata is
/// left alone on purpose: `kubectl rollout restart` writes an annotation there.
pub fn foreign_pod_spec_managers(entries: &[ManagedFieldsEntry]) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| entry.manager.as_deref() != Some(MANAGER))
        .filter(|entry| entry.subresource.as_deref().is_none_or(str::is_empty))
        .filter(|entry| {
            entry
                .fields_v1
                .as_ref()
                .and_then(|fields| fields.0.pointer("/f:spec/f:template/f:spec"))
                .is_some_and(|spec| spec.as_object().is_some_and(|m| !m.is_empty()))
        })
        .map(|entry| entry.manager.clone().unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
    use serde_json::json;

    #[test]
    fn extra_map_keys_are_fine_extra_list_items_are_drift() {
        let wanted = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"env": [{"name": "X", "value": "1"}]}});
        let same = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "resourceVersion": "9"},
            "spec": {"env": [{"name": "X", "value": "1"}], "defaulted": true}, "status": {"x": 1}});
        assert!(contains(&same, &wanted));
        let extra_env = json!({"metadata": {"labels": {"a": "1"}},
            "spec": {"env": [{"name": "X", "value": "1"}, {"name": "HAND", "value": "2"}]}});
        assert!(!contains(&extra_env, &wanted));
        let changed = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"env": [{"name": "X", "value": "1"}]}});
        assert!(!contains(&changed, &wanted));
        let missing =
            json!({"metadata": {"labels": {}}, "spec": {"env": [{"name": "X", "value": "1"}]}});
        assert!(!contains(&missing, &wanted));
    }

    #[test]
    fn empty_and_missing_are_the_same() {
        assert!(contains(&json!({}), &json!({"a": [], "b": {}, "c": null})));
        assert!(!contains(&json!({}), &json!({"a": [1]})));
        assert!(!contains(&json!({"a": false}), &json!({"a": true})));
    }

    fn entry(manager: &str, subresource: Option<&str>, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            subresource: subresource.map(str::to_string),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    #[test]
    fn finds_only_other_managers_of_the_pod_spec() {
        let entries = vec![
            entry(
                MANAGER,
                None,
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}),
            ),
            entry(
                "kubectl-rollout",
                None,
                json!({"f:spec": {"f:template": {"f:metadata": {"f:annotations": {}}}}}),
            ),
            entry(
                "kube-controller-manager",
                Some("status"),
                json!({"f:status": {}}),
            ),
            entry(
                "kubectl-edit",
                None,
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"coder\"}": {"f:env": {}}}}}}}),
            ),
        ];
        assert_eq!(foreign_pod_spec_managers(&entries), vec!["kubectl-edit"]);
    }
}
