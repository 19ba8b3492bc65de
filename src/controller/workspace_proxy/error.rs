//! What a CoderWorkspaceProxy reconcile can fail with. Each variant names the object or the
//! coderd call it is about; `reason` is the condition and Event reason.

use crate::coder::CoderError;
use crate::controller::error::{KindError, api_message};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{}", api_message(.0))]
    Kube(#[source] kube::Error),

    /// A request about one child or referenced object failed; the message is the API server's.
    #[error("cannot {action} {object}: {}", api_message(.source))]
    Object {
        action: &'static str,
        /// `Kind namespace/name`.
        object: String,
        #[source]
        source: kube::Error,
    },

    /// A coderd call failed; `doing` says what the controller was about.
    #[error("{doing}: {source}")]
    Coderd {
        doing: &'static str,
        #[source]
        source: Box<CoderError>,
    },

    #[error("object has no {0}")]
    MissingObjectKey(&'static str),

    /// A request body could not be encoded (a bug, not bad input).
    #[error("cannot encode a request: {0}")]
    Encode(String),
}

pub type Result<T, E = ProxyError> = std::result::Result<T, E>;

impl From<kube::Error> for ProxyError {
    fn from(error: kube::Error) -> Self {
        ProxyError::Kube(error)
    }
}

impl KindError for ProxyError {
    fn missing_object_key(field: &'static str) -> Self {
        ProxyError::MissingObjectKey(field)
    }

    fn encode(message: String) -> Self {
        ProxyError::Encode(message)
    }
}

impl ProxyError {
    pub fn coderd(doing: &'static str) -> impl FnOnce(CoderError) -> Self {
        move |source| ProxyError::Coderd {
            doing,
            source: Box::new(source),
        }
    }

    /// PascalCase reason for conditions and Events.
    pub fn reason(&self) -> &'static str {
        self.names().0
    }

    /// snake_case of [`Self::reason`]: the `reason` label of the failure counter on /metrics.
    pub fn metric_label(&self) -> &'static str {
        self.names().1
    }

    fn names(&self) -> (&'static str, &'static str) {
        match self {
            ProxyError::Kube(_) | ProxyError::Object { .. } => {
                ("KubernetesApiError", "kubernetes_api_error")
            }
            ProxyError::Coderd { source, .. } => match source.as_ref() {
                CoderError::Unreachable { .. } | CoderError::Timeout { .. } => {
                    ("CoderdUnreachable", "coderd_unreachable")
                }
                CoderError::Api { status, .. } if status.as_u16() == 401 => {
                    ("CoderdUnauthorized", "coderd_unauthorized")
                }
                CoderError::Api { status, .. } if status.as_u16() == 403 => {
                    ("CoderdForbidden", "coderd_forbidden")
                }
                _ => ("CoderdError", "coderd_error"),
            },
            ProxyError::MissingObjectKey(_) => ("MissingObjectKey", "missing_object_key"),
            ProxyError::Encode(_) => ("EncodeError", "encode"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coder::Endpoint;

    const ENDPOINT: Endpoint = Endpoint::new("GET", "/api/v2/entitlements");

    #[test]
    fn coderd_failures_get_reasons_a_user_can_act_on_and_keep_the_endpoint() {
        let down = ProxyError::coderd("reading coderd's entitlements")(CoderError::Unreachable {
            endpoint: ENDPOINT,
            reason: "connection refused".into(),
        });
        assert_eq!(
            (down.reason(), down.metric_label()),
            ("CoderdUnreachable", "coderd_unreachable")
        );
        assert_eq!(
            down.to_string(),
            "reading coderd's entitlements: GET /api/v2/entitlements: coderd is unreachable: connection refused"
        );
        let forbidden = ProxyError::coderd("registering the proxy in coderd")(CoderError::Api {
            endpoint: ENDPOINT,
            status: http::StatusCode::FORBIDDEN,
            message: "Forbidden.".into(),
            detail: None,
            validations: Vec::new(),
        });
        assert_eq!(forbidden.reason(), "CoderdForbidden");
    }
}
