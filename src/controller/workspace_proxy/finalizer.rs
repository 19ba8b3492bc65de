//! The deregistration finalizer: held by a proxy the controller registers in coderd, so that
//! deleting the object removes the proxy from coderd too (garbage collection cannot reach
//! coderd). Added before the first registration, removed once coderd no longer has the proxy.
//! The guarded patches are the shared ones of `controller::finalizer`.

use super::error::ProxyError;
use crate::api::coder::v1alpha1::CoderWorkspaceProxy;
use crate::controller::finalizer::{Change, Finalized};
pub use crate::controller::finalizer::{add, deleting, holds, remove};

pub const FINALIZER: &str = "coder.com/workspace-proxy-deregistration";

impl Finalized for CoderWorkspaceProxy {
    const FINALIZER: &'static str = FINALIZER;
    type Error = ProxyError;

    fn refused(change: Change, object: String, source: kube::Error) -> Result<(), ProxyError> {
        match source {
            // Gone already: nothing left to hold or release.
            kube::Error::Api(status) if status.code == 404 => Ok(()),
            source => Err(ProxyError::Object {
                action: match change {
                    Change::Add => "add the finalizer to",
                    Change::Remove => "remove the finalizer from",
                },
                object: format!("CoderWorkspaceProxy {object}"),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            kube::core::Status::failure("boom", "Reason").with_code(code),
        ))
    }

    #[test]
    fn a_proxy_already_gone_needs_no_finalizer_change_and_other_refusals_name_it() {
        for change in [Change::Add, Change::Remove] {
            let gone = CoderWorkspaceProxy::refused(change, "ns/p".into(), refusal(404));
            assert!(gone.is_ok(), "{change:?}: {gone:?}");
        }
        let add = CoderWorkspaceProxy::refused(Change::Add, "ns/p".into(), refusal(409));
        assert_eq!(
            add.unwrap_err().to_string(),
            "cannot add the finalizer to CoderWorkspaceProxy ns/p: boom (Reason)"
        );
        let remove = CoderWorkspaceProxy::refused(Change::Remove, "ns/p".into(), refusal(403));
        assert_eq!(
            remove.unwrap_err().to_string(),
            "cannot remove the finalizer from CoderWorkspaceProxy ns/p: boom (Reason)"
        );
    }
}
