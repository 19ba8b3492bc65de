//! What a CoderWorkspaceProxy reconcile can fail with. Each variant names the object or the
//! coderd call it is about; `reason` is the condition and Event reason.

use crate::coder::CoderError;
use crate::controller::error::api_message;

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

impl ProxyError {
    pub fn coderd(doing: &'static str) -> impl FnOnce(CoderError) -> Self {
        move |source| ProxyError::Coderd {
            doing,
            source: Box::new(source),
        }
    }

    /// PascalCase reason for conditions and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            ProxyError::Kube(_) | ProxyError::Object { .. } => "KubernetesApiError",
            ProxyError::Coderd { source, .. } => match source.as_ref() {
                CoderError::Unreachable { .. } | CoderError::Timeout { .. } => "CoderdUnreachable",
                CoderError::Api { status, .. } if status.as_u16() == 401 => "CoderdUnauthorized",
                CoderError::Api { status, .. } if status.as_u16() == 403 => "CoderdForbidden",
                _ => "CoderdError",
            },
            ProxyError::MissingObjectKey(_) => "MissingObjectKey",
            ProxyError::Encode(_) => "EncodeError",
        }
    }
}
