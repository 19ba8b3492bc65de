//! The caches of the CoderControlPlane's children, by kind, and what each child kind means to the
//! reconciler (its plural for /readyz, the part of it the control plane alone defines).

use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use serde::de::DeserializeOwned;

/// The caches of the children, by kind.
#[derive(Clone)]
pub struct Caches {
    pub deployments: Store<Deployment>,
    pub services: Store<Service>,
    pub service_accounts: Store<ServiceAccount>,
    pub ingresses: Store<Ingress>,
    pub roles: Store<Role>,
    pub role_bindings: Store<RoleBinding>,
}

/// A child kind with a cache in [`Caches`].
pub trait Cached:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Plural resource name, as reported by /readyz.
    const PLURAL: &'static str;
    /// The part of the object (a field-set path) that is defined by the CoderControlPlane
    /// alone: fields other managers add there are removed. `None`: only the fields we set
    /// are put back (labels, annotations and other additions stay).
    const EXCLUSIVE: Option<&'static [&'static str]> = None;
    fn store(caches: &Caches) -> &Store<Self>;
}

macro_rules! cached {
    ($kind:ty, $plural:literal, $field:ident $(, $exclusive:expr)?) => {
        impl Cached for $kind {
            const PLURAL: &'static str = $plural;
            $(const EXCLUSIVE: Option<&'static [&'static str]> = Some($exclusive);)?
            fn store(caches: &Caches) -> &Store<Self> {
                &caches.$field
            }
        }
    };
}
// The pod spec, not the pod template's metadata: `kubectl rollout restart` annotates that.
cached!(
    Deployment,
    "deployments",
    deployments,
    &["f:spec", "f:template", "f:spec"]
);
cached!(Service, "services", services, &["f:spec"]);
cached!(ServiceAccount, "serviceaccounts", service_accounts);
cached!(Ingress, "ingresses", ingresses, &["f:spec"]);
cached!(Role, "roles", roles);
cached!(RoleBinding, "rolebindings", role_bindings);

impl Caches {
    /// The cached copy of `namespace/name` of kind `K`.
    pub fn get<K: Cached>(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        K::store(self).get(&ObjectRef::new(name).within(namespace))
    }
}
