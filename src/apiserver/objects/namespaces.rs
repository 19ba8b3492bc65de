//! Namespace lifecycle, as kube-apiserver's `NamespaceLifecycle` admission applies it: no
//! creates in a namespace that does not exist (404) or is being deleted (403). The object layer
//! only asks; where the answers come from (a namespace informer on the cluster the server runs
//! against) is the caller's business, and without one every namespace is accepted.

use futures::future::BoxFuture;

use super::{Cause, Error};
use crate::api::registry::ResourceDescriptor;

/// The state of a namespace, as far as creates care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespacePhase {
    Active,
    Terminating,
}

/// Where namespace states come from. `None` means the namespace does not exist.
pub trait NamespaceLookup: Send + Sync + 'static {
    fn phase<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<Option<NamespacePhase>, String>>;
}

/// Refuses a create in `namespace` unless it exists and is active.
pub async fn admit_create(
    lookup: &dyn NamespaceLookup,
    r: &ResourceDescriptor,
    namespace: &str,
    name: &str,
) -> Result<(), Error> {
    match lookup.phase(namespace).await.map_err(Error::Internal)? {
        Some(NamespacePhase::Active) => Ok(()),
        None => Err(Error::NotFound {
            group_resource: "namespaces".into(),
            name: namespace.to_string(),
        }),
        Some(NamespacePhase::Terminating) => Err(Error::Forbidden {
            group_resource: r.group_resource(),
            name: name.to_string(),
            message: format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
            causes: vec![Cause {
                field: "metadata.namespace".into(),
                reason: "NamespaceTerminating".into(),
                message: format!("namespace {namespace} is being terminated"),
            }],
        }),
    }
}
