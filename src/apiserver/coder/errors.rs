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

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;
    use crate::coder::Endpoint;

    fn answered(status: StatusCode, message: &str) -> CoderError {
        CoderError::Api {
            endpoint: Endpoint::new(
                "GET",
                "/api/v2/organizations/{organization}/templates/{templatename}",
            ),
            status,
            message: message.into(),
            detail: None,
            validations: Vec::new(),
        }
    }

    #[test]
    fn coderd_4xx_keep_their_meaning_and_message() {
        let e = coderd_refusal(
            "looking up template \"nope\"",
            &answered(
                StatusCode::NOT_FOUND,
                "Resource not found or you do not have access to this resource",
            ),
        );
        assert_eq!(e.refusal, Refusal::NotFound);
        assert!(e.message.contains("Resource not found"), "{}", e.message);
        assert!(e.message.contains("\"nope\""), "{}", e.message);
        assert_eq!(
            coderd_refusal("x", &answered(StatusCode::BAD_REQUEST, "bad")).refusal,
            Refusal::BadRequest
        );
        assert_eq!(
            coderd_refusal("x", &answered(StatusCode::FORBIDDEN, "no")).refusal,
            Refusal::Forbidden
        );
        assert_eq!(
            coderd_refusal("x", &answered(StatusCode::CONFLICT, "busy")).refusal,
            Refusal::Conflict
        );
    }

    #[test]
    fn outages_and_rejected_tokens_are_503_with_retry_after() {
        for e in [
            answered(StatusCode::SERVICE_UNAVAILABLE, "down"),
            answered(StatusCode::INTERNAL_SERVER_ERROR, "oops"),
            answered(StatusCode::UNAUTHORIZED, "expired"),
            CoderError::Timeout {
                endpoint: Endpoint::new("GET", "/api/v2/workspaces"),
                timeout: std::time::Duration::from_secs(30),
            },
        ] {
            let refused = coderd_refusal("listing workspaces", &e);
            assert_eq!(refused.refusal, Refusal::Unavailable, "{e}");
            assert!(refused.retry_after_seconds.is_some(), "{e}");
        }
    }

    #[test]
    fn directory_refusals_map_to_404_409_503() {
        let none: HookError = DirectoryError::NoControlPlane {
            namespace: "a".into(),
        }
        .into();
        assert_eq!(none.refusal, Refusal::NotFound);
        let many: HookError = DirectoryError::Ambiguous {
            namespace: "a".into(),
            names: vec!["x".into(), "y".into()],
        }
        .into();
        assert_eq!(many.refusal, Refusal::Conflict);
        let pending: HookError = DirectoryError::NotReady {
            namespace: "a".into(),
            name: "coder".into(),
            condition: "no OperatorAccessReady condition yet".into(),
        }
        .into();
        assert_eq!(pending.refusal, Refusal::Unavailable);
        assert_eq!(pending.retry_after_seconds, Some(RETRY_AFTER_SECONDS));
    }
}
