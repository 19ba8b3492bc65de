//! The Role and RoleBinding that let coderd manage workspace pods (and PVCs, deployments,
//! `extraRules`) in its own namespace and in each `rbac.workspaceNamespaces` entry.

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Target;
use crate::controller::rbac::bind_role_to_service_account;

const WORKSPACE_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

fn rule(group: &str, resource: &str) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(vec![resource.to_string()]),
        verbs: WORKSPACE_VERBS.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

/// The rules of the workspace Role; empty when `rbac.workspacePerms` is off.
pub fn workspace_rules(target: &Target<'_>) -> Vec<PolicyRule> {
    let rbac = &target.spec.rbac;
    if !rbac.workspace_perms {
        return Vec::new();
    }
    let mut rules = vec![rule("", "pods"), rule("", "persistentvolumeclaims")];
    if rbac.enable_deployments {
        rules.push(rule("apps", "deployments"));
    }
    rules.extend(rbac.extra_rules.clone().unwrap_or_default());
    rules
}

/// Namespaces that get the Role and RoleBinding: the control plane's own first, then the others
/// in the order given, without duplicates. Empty when `rbac.workspacePerms` is off.
pub fn workspace_namespaces(target: &Target<'_>) -> Vec<String> {
    if !target.spec.rbac.workspace_perms {
        return Vec::new();
    }
    let mut namespaces = vec![target.namespace.to_string()];
    for ns in target
        .spec
        .rbac
        .workspace_namespaces
        .as_deref()
        .unwrap_or_default()
    {
        if !ns.is_empty() && !namespaces.contains(ns) {
            namespaces.push(ns.clone());
        }
    }
    namespaces
}

/// Every RBAC object carries the owner-namespace label, so one label query finds them all for
/// the stale sweep and the finalizer; only the ones in the control plane's own namespace can
/// also carry an owner reference.
fn meta_for(target: &Target<'_>, namespace: &str) -> ObjectMeta {
    let mut meta = target.foreign_meta(&target.role_name(), namespace);
    if namespace == target.namespace {
        meta.owner_references = target.owned_meta("").owner_references;
    }
    meta
}

pub fn role(target: &Target<'_>, namespace: &str) -> Role {
    Role {
        metadata: meta_for(target, namespace),
        rules: Some(workspace_rules(target)),
    }
}

pub fn role_binding(target: &Target<'_>, namespace: &str) -> RoleBinding {
    bind_role_to_service_account(
        meta_for(target, namespace),
        target.role_name(),
        target.service_account_name(),
        target.namespace,
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ccp;
    use super::super::{OWNER_NAMESPACE_LABEL, desired};
    use super::*;
    use serde_json::json;

    fn summary(rules: &[PolicyRule]) -> Vec<String> {
        rules
            .iter()
            .map(|r| {
                format!(
                    "{}/{}:{}",
                    r.api_groups.clone().unwrap_or_default().join(","),
                    r.resources.clone().unwrap_or_default().join(","),
                    r.verbs.join(",")
                )
            })
            .collect()
    }

    const ALL: &str = "create,delete,deletecollection,get,list,patch,update,watch";

    #[test]
    fn rules_table() {
        let cases = [
            (
                json!({}),
                vec![
                    format!("/pods:{ALL}"),
                    format!("/persistentvolumeclaims:{ALL}"),
                    format!("apps/deployments:{ALL}"),
                ],
            ),
            (
                json!({"rbac": {"enableDeployments": false}}),
                vec![
                    format!("/pods:{ALL}"),
                    format!("/persistentvolumeclaims:{ALL}"),
                ],
            ),
            (
                json!({"rbac": {"enableDeployments": false, "extraRules": [
                    {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get"]}]}}),
                vec![
                    format!("/pods:{ALL}"),
                    format!("/persistentvolumeclaims:{ALL}"),
                    "networking.k8s.io/ingresses:get".to_string(),
                ],
            ),
            (
                json!({"rbac": {"workspacePerms": false, "extraRules": [{"verbs": ["get"]}]}}),
                vec![],
            ),
        ];
        for (spec, want) in cases {
            let obj = ccp("coder", "ns", spec.clone());
            let target = Target::new(&obj).unwrap();
            assert_eq!(summary(&workspace_rules(&target)), want, "{spec}");
        }
    }

    #[test]
    fn namespaces_table() {
        let cases = [
            (json!({}), vec!["ns"]),
            (
                json!({"rbac": {"workspaceNamespaces": ["a", "ns", "b", "a", ""]}}),
                vec!["ns", "a", "b"],
            ),
            (
                json!({"rbac": {"workspacePerms": false, "workspaceNamespaces": ["a"]}}),
                vec![],
            ),
        ];
        for (spec, want) in cases {
            let obj = ccp("coder", "ns", spec.clone());
            let d = desired(&obj).unwrap();
            let got: Vec<String> = d
                .rbac
                .iter()
                .map(|(r, _)| r.metadata.namespace.clone().unwrap())
                .collect();
            assert_eq!(got, want, "{spec}");
        }
    }

    #[test]
    fn role_and_binding_fields() {
        let obj = ccp(
            "coder",
            "ns",
            json!({"serviceAccount": {"name": "sa"}, "rbac": {"workspaceNamespaces": ["ws"]}}),
        );
        let d = desired(&obj).unwrap();
        let (own_role, own_binding) = &d.rbac[0];
        let (ws_role, ws_binding) = &d.rbac[1];
        assert_eq!(
            own_role.metadata.name.as_deref(),
            Some("coder-workspace-perms")
        );
        assert_eq!(
            own_role.metadata.owner_references.as_ref().unwrap().len(),
            1
        );
        assert_eq!(
            own_binding
                .metadata
                .owner_references
                .as_ref()
                .unwrap()
                .len(),
            1
        );
        assert!(ws_role.metadata.owner_references.is_none());
        assert!(ws_binding.metadata.owner_references.is_none());
        for role in [own_role, ws_role] {
            assert_eq!(
                role.metadata.labels.as_ref().unwrap()[OWNER_NAMESPACE_LABEL],
                "ns"
            );
        }
        assert_eq!(ws_binding.metadata.namespace.as_deref(), Some("ws"));
        for binding in [own_binding, ws_binding] {
            assert_eq!(binding.role_ref.kind, "Role");
            assert_eq!(binding.role_ref.name, "coder-workspace-perms");
            assert_eq!(binding.role_ref.api_group, "rbac.authorization.k8s.io");
            let subject = &binding.subjects.as_ref().unwrap()[0];
            assert_eq!(subject.kind, "ServiceAccount");
            assert_eq!(subject.name, "sa");
            assert_eq!(subject.namespace.as_deref(), Some("ns"));
        }
    }
}
