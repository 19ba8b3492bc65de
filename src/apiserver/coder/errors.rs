//! coderd's answers and the directory's refusals as the object layer's typed refusals: what a
//! client sees when coderd says no, or cannot be reached.

use crate::apiserver::objects::hooks::{HookError, Refusal};
use crate::coder::CoderError;

use super::directory::{DirectoryError, RETRY_AFTER_SECONDS};

impl From<DirectoryError> for HookError {
    fn from(e: DirectoryError) -> Self {
        let message = e.to_string();
        match e {
            DirectoryError::NoControlPlane { .. } => HookError::new(Refusal::NotFound, message),
            DirectoryError::Ambiguous { .. } => HookError::new(Refusal::Conflict, message),
            DirectoryError::NotReady { .. }
            | DirectoryError::Token { .. }
            | DirectoryError::NotSynced => HookError::unavailable(message, RETRY_AFTER_SECONDS),
        }
    }
}

/// A failed coderd call while doing `what` (e.g. `creating workspace "dev"`). coderd's own
/// message is kept; its status decides ours: unreachable, timeouts and 5xx are 503 with
/// Retry-After, a rejected operator token is 503 too (the controller rotates it), and 4xx keep
/// their meaning.
pub fn coderd_refusal(what: &str, e: &CoderError) -> HookError {
    let message = format!("coderd refused {what}: {e}");
    if e.is_unavailable() {
        return HookError::unavailable(
            format!("coderd is unavailable while {what}: {e}"),
            RETRY_AFTER_SECONDS,
        );
    }
    let Some(status) = e.status() else {
        return HookError::new(Refusal::Internal, message);
    };
    let refusal = match status.as_u16() {
        400 | 422 => Refusal::BadRequest,
        401 => {
            return HookError::unavailable(
                format!(
                    "coderd rejected the operator token while {what} (it may have been rotated; retrying with a fresh one): {e}"
                ),
                1,
            );
        }
        403 => Refusal::Forbidden,
        404 => Refusal::NotFound,
        409 => Refusal::Conflict,
        code if code >= 500 => {
            return HookError::unavailable(message, RETRY_AFTER_SECONDS);
        }
        _ => Refusal::BadRequest,
    };
    HookError::new(refusal, message)
}
