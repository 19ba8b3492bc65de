//! Pure functions from a `CoderControlPlane` to the objects the controller applies. Nothing here
//! talks to the API server, so every field and default is unit-tested in isolation.

mod deployment;
mod httproute;
mod ingress;
mod rbac;
mod service;
mod service_account;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use crate::api::coder::v1alpha1::CoderControlPlane;
use crate::controller::error::{Error, Result};
use crate::controller::identity::{self, Owner};

pub use crate::controller::labels::{INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGER, NAME_LABEL};
pub use deployment::deployment;
pub use httproute::{GATEWAY_GROUP, HTTPRoute, http_route};
pub use ingress::ingress;
pub use rbac::{role, role_binding, workspace_namespaces, workspace_rules};
pub use service::service;
pub use service_account::service_account;

/// `app.kubernetes.io/name` of every child: what is running, independent of the instance.
pub const APP_NAME: &str = "coder";
/// Marks RBAC objects in other namespaces with the namespace of the control plane they serve,
/// since owner references cannot cross namespaces.
pub const OWNER_NAMESPACE_LABEL: &str = "coder.com/owner-namespace";

/// coderd's plain HTTP port inside the pod.
pub const HTTP_PORT: i32 = 8080;
/// coderd's TLS port inside the pod (when `tls.secretNames` is set).
pub const HTTPS_PORT: i32 = 8443;
/// The Service port for HTTPS is fixed, like the Helm chart's.
pub const SERVICE_HTTPS_PORT: i32 = 443;
pub const ACCESS_URL_ENV: &str = "CODER_ACCESS_URL";

/// The object being reconciled, with the fields every builder needs.
pub type Target<'a> = identity::Target<'a, CoderControlPlane>;

impl Owner for CoderControlPlane {
    type Error = Error;
    const APP_NAME: &'static str = APP_NAME;

    fn instance_label(name: &str) -> String {
        name.to_string()
    }
}

impl<'a> Target<'a> {
    /// Metadata of a child in another namespace: no owner reference (the API server would reject
    /// or ignore it), but labels the finalizer and stale-object sweep can select by.
    pub fn foreign_meta(&self, name: &str, namespace: &str) -> ObjectMeta {
        let mut labels = self.labels();
        labels.insert(
            OWNER_NAMESPACE_LABEL.to_string(),
            self.namespace.to_string(),
        );
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(labels),
            ..ObjectMeta::default()
        }
    }

    /// Label selector matching the RBAC objects this control plane put in any namespace.
    pub fn foreign_selector(&self) -> String {
        format!(
            "{MANAGED_BY_LABEL}={MANAGER},{INSTANCE_LABEL}={},{OWNER_NAMESPACE_LABEL}={}",
            self.name, self.namespace
        )
    }

    pub fn service_account_name(&self) -> String {
        self.spec
            .service_account
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.name.to_string())
    }

    pub fn tls_secrets(&self) -> &[String] {
        self.spec
            .tls
            .as_ref()
            .and_then(|tls| tls.secret_names.as_deref())
            .unwrap_or_default()
    }

    pub fn tls_enabled(&self) -> bool {
        !self.tls_secrets().is_empty()
    }

    /// `certs.secrets` as distinct (Secret name, key) pairs, in spec order.
    pub fn ca_cert_selectors(&self) -> Vec<(&str, &str)> {
        let mut seen = Vec::new();
        for secret in self.spec.certs.secrets.as_deref().unwrap_or_default() {
            let pair = (secret.name.as_str(), secret.key.as_str());
            if !seen.contains(&pair) {
                seen.push(pair);
            }
        }
        seen
    }

    /// Whether `extraEnv` sets `CODER_ACCESS_URL` at all (by value or reference).
    pub fn user_sets_access_url(&self) -> bool {
        self.spec
            .extra_env
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|env| env.name == ACCESS_URL_ENV)
    }

    /// The in-cluster URL of the Service: https on 443 with TLS, else http on the Service port.
    pub fn service_url(&self) -> String {
        let host = format!("{}.{}.svc.cluster.local", self.name, self.namespace);
        if self.tls_enabled() {
            format!("https://{host}")
        } else if self.spec.service.port == 80 {
            format!("http://{host}")
        } else {
            format!("http://{host}:{}", self.spec.service.port)
        }
    }

    pub fn role_name(&self) -> String {
        format!("{}-workspace-perms", self.name)
    }
}

/// Every object one control plane should have, as of its current spec.
#[derive(Debug, Clone)]
pub struct Desired {
    pub service_account: Option<ServiceAccount>,
    pub deployment: Deployment,
    pub service: Service,
    pub ingress: Option<Ingress>,
    /// The Gateway API route of `expose.gateway`.
    pub http_route: Option<HTTPRoute>,
    /// One Role per workspace namespace (own namespace first), each with its RoleBinding.
    pub rbac: Vec<(Role, RoleBinding)>,
}

pub fn desired(ccp: &CoderControlPlane) -> Result<Desired> {
    let target = Target::new(ccp)?;
    validate(&target)?;
    let rbac = workspace_namespaces(&target)
        .into_iter()
        .map(|ns| (role(&target, &ns), role_binding(&target, &ns)))
        .collect();
    Ok(Desired {
        service_account: service_account(&target),
        deployment: deployment(&target),
        service: service(&target),
        ingress: ingress(&target),
        http_route: http_route(&target),
        rbac,
    })
}

/// Checks the schema cannot express (or that a fake API server would not enforce).
fn validate(target: &Target<'_>) -> Result<()> {
    if target.name.len() > 63 {
        return Err(Error::InvalidSpec(format!(
            "name {:?} is longer than 63 characters and cannot be used as a label value",
            target.name
        )));
    }
    if target.spec.replicas < 0 {
        return Err(Error::InvalidSpec("replicas must not be negative".into()));
    }
    if let Some(ingress) = target.spec.expose.as_ref().and_then(|e| e.ingress.as_ref())
        && ingress.host.is_empty()
    {
        return Err(Error::InvalidSpec(
            "expose.ingress.host must not be empty".into(),
        ));
    }
    let expose = target.spec.expose.as_ref();
    if let Some(gateway) = expose.and_then(|e| e.gateway.as_ref()) {
        if expose.is_some_and(|e| e.ingress.is_some()) {
            return Err(Error::InvalidSpec(
                "only one of expose.ingress or expose.gateway may be set".into(),
            ));
        }
        if gateway.host.is_empty() {
            return Err(Error::InvalidSpec(
                "expose.gateway.host must not be empty".into(),
            ));
        }
        if gateway.parent_refs.is_empty() || gateway.parent_refs.iter().any(|p| p.name.is_empty()) {
            return Err(Error::InvalidSpec(
                "expose.gateway.parentRefs needs at least one Gateway, each with a name".into(),
            ));
        }
    }
    let ours = deployment::generated_volume_names(target);
    if let Some(clash) = target
        .spec
        .volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|v| ours.contains(&v.name))
    {
        return Err(Error::InvalidSpec(format!(
            "volumes: the name {:?} is taken by a volume the controller mounts (tls.secretNames or certs.secrets); rename it",
            clash.name
        )));
    }
    Ok(())
}

/// Name of a child, for messages and Events (`Deployment/coder`).
pub fn describe<K: Resource<DynamicType = ()>>(obj: &K) -> String {
    format!("{}/{}", K::kind(&()), obj.name_any())
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::api::coder::v1alpha1::CoderControlPlane;

    /// A control plane as the API server would return it: `spec` defaulted from JSON, uid set.
    pub fn ccp(name: &str, namespace: &str, spec: serde_json::Value) -> CoderControlPlane {
        let mut ccp: CoderControlPlane = serde_json::from_value(serde_json::json!({
            "apiVersion": "coder.com/v1alpha1",
            "kind": "CoderControlPlane",
            "metadata": { "name": name, "namespace": namespace, "uid": "uid-1", "generation": 1 },
            "spec": spec,
        }))
        .expect("test spec is valid");
        ccp.metadata.generation = Some(1);
        ccp
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::ccp;
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_and_owner_reference() {
        let obj = ccp("coder", "apps", json!({}));
        let target = Target::new(&obj).unwrap();
        let meta = target.owned_meta("x");
        let labels = meta.labels.unwrap();
        assert_eq!(labels[NAME_LABEL], "coder");
        assert_eq!(labels[INSTANCE_LABEL], "coder");
        assert_eq!(labels[MANAGED_BY_LABEL], "coder-k8s");
        let owner = &meta.owner_references.unwrap()[0];
        assert_eq!(owner.kind, "CoderControlPlane");
        assert_eq!(owner.api_version, "coder.com/v1alpha1");
        assert_eq!(owner.name, "coder");
        assert_eq!(owner.uid, "uid-1");
        assert_eq!(owner.controller, Some(true));
        let foreign = target.foreign_meta("x", "other");
        assert!(foreign.owner_references.is_none());
        assert_eq!(foreign.labels.unwrap()[OWNER_NAMESPACE_LABEL], "apps");
        assert_eq!(
            target.foreign_selector(),
            "app.kubernetes.io/managed-by=coder-k8s,app.kubernetes.io/instance=coder,coder.com/owner-namespace=apps"
        );
    }

    /// The Service URL is what status reports and the operator dials; a public
    /// CODER_ACCESS_URL does not change it.
    #[test]
    fn service_url_table() {
        let cases = [
            (json!({}), "http://c.ns.svc.cluster.local"),
            (
                json!({"service": {"port": 8000}}),
                "http://c.ns.svc.cluster.local:8000",
            ),
            (
                json!({"tls": {"secretNames": ["cert"]}, "service": {"port": 8000}}),
                "https://c.ns.svc.cluster.local",
            ),
            (
                json!({"extraEnv": [{"name": "CODER_ACCESS_URL", "value": "https://coder.example.com"}]}),
                "http://c.ns.svc.cluster.local",
            ),
            (
                json!({"extraEnv": [{"name": "CODER_ACCESS_URL", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}),
                "http://c.ns.svc.cluster.local",
            ),
        ];
        for (spec, url) in cases {
            let obj = ccp("c", "ns", spec.clone());
            assert_eq!(Target::new(&obj).unwrap().service_url(), url, "{spec}");
        }
    }

    #[test]
    fn missing_uid_or_namespace_is_an_error_not_a_panic() {
        let mut obj = ccp("c", "ns", json!({}));
        obj.metadata.uid = None;
        assert!(matches!(
            desired(&obj),
            Err(Error::MissingObjectKey("metadata.uid"))
        ));
        let mut obj = ccp("c", "ns", json!({}));
        obj.metadata.namespace = None;
        assert!(matches!(
            desired(&obj),
            Err(Error::MissingObjectKey("metadata.namespace"))
        ));
    }

    #[test]
    fn invalid_specs_are_rejected() {
        let long = "a".repeat(64);
        assert!(matches!(
            desired(&ccp(&long, "ns", json!({}))),
            Err(Error::InvalidSpec(_))
        ));
        assert!(matches!(
            desired(&ccp("c", "ns", json!({"replicas": -1}))),
            Err(Error::InvalidSpec(_))
        ));
        assert!(matches!(
            desired(&ccp(
                "c",
                "ns",
                json!({"expose": {"ingress": {"host": ""}}})
            )),
            Err(Error::InvalidSpec(_))
        ));
        let gateway = json!({"host": "coder.example.com", "parentRefs": [{"name": "gw"}]});
        for bad in [
            json!({"expose": {"gateway": gateway.clone(), "ingress": {"host": "coder.example.com"}}}),
            json!({"expose": {"gateway": {"host": "", "parentRefs": [{"name": "gw"}]}}}),
            json!({"expose": {"gateway": {"host": "h", "parentRefs": []}}}),
        ] {
            assert!(
                matches!(
                    desired(&ccp("c", "ns", bad.clone())),
                    Err(Error::InvalidSpec(_))
                ),
                "{bad}"
            );
        }
        assert!(desired(&ccp("c", "ns", json!({"expose": {"gateway": gateway}}))).is_ok());
    }
}
