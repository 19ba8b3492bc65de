//! Outputs of the CoderProvisioner and CoderWorkspaceProxy tools, and how the objects become
//! them. Inputs are [`super::shape`]'s `ListInput` and `ObjectInput`.
//!
//! Only the objects themselves are read, never the Secrets they point to: a provisioner key or
//! a proxy token cannot reach an agent through these tools, whatever the caller may read.
//! Names that exist in coderd (`keyName`, `proxyName`) come from status, i.e. as the controller
//! last created them, and are absent until then; the controller's defaulting of the spec is
//! not repeated here, so the tools never claim a name coderd does not have.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use super::shape::{ConditionSummary, ListOutput, conditions, name_of, namespace_of, non_empty};
use crate::api::coder::v1alpha1::{CoderProvisioner, CoderWorkspaceProxy};

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionerSummary {
    pub name: String,
    pub namespace: String,
    /// The CoderControlPlane (same namespace) the daemons join (spec.controlPlaneRef.name).
    pub control_plane: String,
    /// Organization of the provisioner key: as created (status), else as asked (spec).
    pub organization_name: String,
    /// Desired daemon pods (spec.replicas).
    pub replicas: i32,
    pub ready_replicas: i32,
    /// Pending or Ready; empty before the first reconcile.
    pub phase: String,
    /// Name of the provisioner key in coderd; absent until the controller created it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Tags of the key (spec.tags): coderd sends jobs with matching tags to these daemons.
    pub tags: BTreeMap<String, String>,
}

pub type ListProvisionersOutput = ListOutput<ProvisionerSummary>;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionerStatusOutput {
    #[serde(flatten)]
    pub provisioner: ProvisionerSummary,
    /// The metadata.generation the status describes.
    pub observed_generation: i64,
    /// ControlPlaneReady, OperatorAccessReady, ExternalProvisionersEntitled,
    /// ProvisionerKeyReady, ProvisionerKeySecretReady, DeploymentReady (by type).
    pub conditions: Vec<ConditionSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceProxySummary {
    pub name: String,
    pub namespace: String,
    /// Name of the proxy in coderd as last registered; absent until registered, and for
    /// proxies registered elsewhere (no spec.bootstrap).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_name: Option<String>,
    /// Region name Coder shows: spec.bootstrap.displayName, else the proxy name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Whether the controller registered the proxy in coderd.
    pub registered: bool,
    /// Desired proxy pods (spec.replicas).
    pub replicas: i32,
    pub ready_replicas: i32,
    /// Pending, Ready or Failed; empty before the first reconcile.
    pub phase: String,
}

pub type ListWorkspaceProxiesOutput = ListOutput<WorkspaceProxySummary>;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceProxyStatusOutput {
    #[serde(flatten)]
    pub proxy: WorkspaceProxySummary,
    /// The metadata.generation the status describes.
    pub observed_generation: i64,
    /// ControlPlaneReady, WorkspaceProxyEntitled, ProxyRegistered, ProxyTokenSecretReady,
    /// DeploymentReady (by type).
    pub conditions: Vec<ConditionSummary>,
}

pub fn provisioner_summary(p: &CoderProvisioner) -> ProvisionerSummary {
    let status = p.status.as_ref();
    ProvisionerSummary {
        name: name_of(&p.metadata),
        namespace: namespace_of(&p.metadata),
        control_plane: p.spec.control_plane_ref.name.clone(),
        organization_name: non_empty(status.and_then(|s| s.organization_name.as_ref()))
            .unwrap_or_else(|| p.spec.organization_name.clone()),
        replicas: p.spec.replicas,
        ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        phase: status
            .and_then(|s| s.phase)
            .map(|phase| phase.as_str().to_string())
            .unwrap_or_default(),
        key_name: non_empty(status.and_then(|s| s.provisioner_key_name.as_ref())),
        tags: p.spec.tags.clone().unwrap_or_default(),
    }
}

pub fn provisioner_status(p: &CoderProvisioner) -> ProvisionerStatusOutput {
    let status = p.status.as_ref();
    ProvisionerStatusOutput {
        provisioner: provisioner_summary(p),
        observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
        conditions: conditions(status.and_then(|s| s.conditions.as_ref())),
    }
}

pub fn workspace_proxy_summary(proxy: &CoderWorkspaceProxy) -> WorkspaceProxySummary {
    let status = proxy.status.as_ref();
    let proxy_name = non_empty(status.and_then(|s| s.proxy_name.as_ref()));
    let display_name = non_empty(
        proxy
            .spec
            .bootstrap
            .as_ref()
            .and_then(|b| b.display_name.as_ref()),
    )
    // coderd's default display name is the proxy's name.
    .or_else(|| proxy_name.clone());
    WorkspaceProxySummary {
        name: name_of(&proxy.metadata),
        namespace: namespace_of(&proxy.metadata),
        proxy_name,
        display_name,
        registered: status.and_then(|s| s.registered) == Some(true),
        replicas: proxy.spec.replicas,
        ready_replicas: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        phase: status
            .and_then(|s| s.phase)
            .map(|phase| phase.as_str().to_string())
            .unwrap_or_default(),
    }
}

pub fn workspace_proxy_status(proxy: &CoderWorkspaceProxy) -> WorkspaceProxyStatusOutput {
    let status = proxy.status.as_ref();
    WorkspaceProxyStatusOutput {
        proxy: workspace_proxy_summary(proxy),
        observed_generation: status.and_then(|s| s.observed_generation).unwrap_or(0),
        conditions: conditions(status.and_then(|s| s.conditions.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn provisioner(status: serde_json::Value) -> CoderProvisioner {
        serde_json::from_value(json!({
            "apiVersion": "coder.com/v1alpha1", "kind": "CoderProvisioner",
            "metadata": { "name": "eu", "namespace": "coder" },
            "spec": { "controlPlaneRef": { "name": "coder" }, "replicas": 2,
                      "tags": { "region": "eu", "scope": "organization" } },
            "status": status,
        }))
        .expect("valid CoderProvisioner")
    }

    fn proxy(spec: serde_json::Value, status: serde_json::Value) -> CoderWorkspaceProxy {
        serde_json::from_value(json!({
            "apiVersion": "coder.com/v1alpha1", "kind": "CoderWorkspaceProxy",
            "metadata": { "name": "sydney", "namespace": "coder" },
            "spec": spec, "status": status,
        }))
        .expect("valid CoderWorkspaceProxy")
    }

    #[test]
    fn a_provisioner_before_its_first_reconcile_shows_the_spec_and_no_key() {
        let out = serde_json::to_value(provisioner_status(&provisioner(json!(null)))).unwrap();
        assert_eq!(
            out,
            json!({
                "name": "eu", "namespace": "coder", "controlPlane": "coder",
                "organizationName": "default", "replicas": 2, "readyReplicas": 0, "phase": "",
                "tags": { "region": "eu", "scope": "organization" },
                "observedGeneration": 0, "conditions": []
            })
        );
    }

    #[test]
    fn a_reconciled_provisioner_shows_the_key_and_organization_coderd_has() {
        let p = provisioner(json!({
            "phase": "Ready", "readyReplicas": 1, "observedGeneration": 3,
            "organizationName": "acme", "provisionerKeyName": "eu-key",
            "secretRef": { "name": "eu-provisioner-key", "key": "key" },
            "conditions": [
                { "type": "ProvisionerKeyReady", "status": "True", "reason": "Created",
                  "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z" },
                { "type": "DeploymentReady", "status": "False", "reason": "Progressing",
                  "message": "1 of 2 ready", "lastTransitionTime": "2026-01-01T00:00:00Z" }
            ]
        }));
        let out = provisioner_status(&p);
        assert_eq!(out.provisioner.key_name.as_deref(), Some("eu-key"));
        assert_eq!(out.provisioner.organization_name, "acme");
        assert_eq!(out.provisioner.phase, "Ready");
        assert_eq!(out.observed_generation, 3);
        let types: Vec<&str> = out.conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(
            types,
            ["DeploymentReady", "ProvisionerKeyReady"],
            "sorted by type"
        );
        assert_eq!(out.conditions[0].message, "1 of 2 ready");
        // The list item is the same summary, without conditions.
        let item = serde_json::to_value(provisioner_summary(&p)).unwrap();
        assert!(item.get("conditions").is_none(), "{item}");
        assert_eq!(item["keyName"], "eu-key");
    }

    #[test]
    fn a_registered_proxy_shows_its_coderd_name_and_display_name() {
        let p = proxy(
            json!({ "replicas": 3, "bootstrap": { "coderURL": "https://coder.example",
                    "credentialsSecretRef": { "name": "owner" }, "displayName": "Sydney" } }),
            json!({ "registered": true, "proxyName": "syd", "phase": "Failed",
                    "readyReplicas": 2, "proxyTokenSecretRef": { "name": "sydney-proxy-token" } }),
        );
        let out = serde_json::to_value(workspace_proxy_status(&p)).unwrap();
        assert_eq!(
            out,
            json!({
                "name": "sydney", "namespace": "coder", "proxyName": "syd",
                "displayName": "Sydney", "registered": true, "replicas": 3,
                "readyReplicas": 2, "phase": "Failed", "observedGeneration": 0,
                "conditions": []
            })
        );
    }

    #[test]
    fn a_proxy_display_name_defaults_to_the_registered_name_and_is_absent_before() {
        let registered = proxy(
            json!({ "bootstrap": { "coderURL": "https://c", "credentialsSecretRef": { "name": "o" } } }),
            json!({ "registered": true, "proxyName": "sydney" }),
        );
        let summary = workspace_proxy_summary(&registered);
        assert_eq!(summary.display_name.as_deref(), Some("sydney"));
        let elsewhere = proxy(
            json!({ "primaryAccessURL": "https://c",
                    "proxySessionTokenSecretRef": { "name": "t" } }),
            json!(null),
        );
        let summary = workspace_proxy_summary(&elsewhere);
        assert_eq!(
            (summary.proxy_name, summary.display_name, summary.registered),
            (None, None, false)
        );
        assert_eq!(summary.replicas, 1, "the CRD's default");
    }
}
