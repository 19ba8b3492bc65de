//! The controller's one error type. `metric_label` turns each kind into a low-cardinality label
//! for metrics and the `Degraded` condition's reason.

/// Everything that can fail in the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", api_message(.0))]
    Kube(#[source] kube::Error),

    /// A request about one child failed; the message is the API server's own.
    #[error("cannot {action} {child}: {}", api_message(.source))]
    Child {
        action: &'static str,
        /// `Kind namespace/name`.
        child: String,
        #[source]
        source: kube::Error,
    },

    /// The control plane's namespace is being deleted; nothing can be created in it any more.
    #[error("namespace {0} is terminating")]
    NamespaceTerminating(String),

    /// Adding or removing the cleanup finalizer failed.
    #[error("cannot {action} the finalizer of {object}: {}", api_message(.source))]
    Finalizer {
        action: &'static str,
        /// `namespace/name` of the CoderControlPlane.
        object: String,
        #[source]
        source: kube::Error,
    },

    #[error("invalid spec: {0}")]
    InvalidSpec(String),

    #[error("object has no {0}")]
    MissingObjectKey(&'static str),

    #[error("cannot load Kubernetes client configuration: {0}")]
    Config(String),

    #[error("cannot serve {what} on {address}: {source}")]
    Bind {
        what: &'static str,
        address: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("leader election lease lost")]
    LeadershipLost,

    /// A request body the controller builds could not be encoded (a bug, not bad input).
    #[error("cannot encode a request: {0}")]
    Encode(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the shared controller code (finalizer patches, status writes) needs from a kind's
/// error type: its names for the two failures that are bugs rather than refusals.
pub trait KindError {
    /// The object lacks a metadata field an object from the API server always has.
    fn missing_object_key(field: &'static str) -> Self;
    /// A request body could not be encoded.
    fn encode(message: String) -> Self;
}

impl KindError for Error {
    fn missing_object_key(field: &'static str) -> Self {
        Error::MissingObjectKey(field)
    }

    fn encode(message: String) -> Self {
        Error::Encode(message)
    }
}

impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Self {
        Error::Kube(error)
    }
}

impl Error {
    /// Snake-case label of the error kind; API errors are split by HTTP status class.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(error)
            | Error::Child { source: error, .. }
            | Error::Finalizer { source: error, .. } => kube_label(error),
            Error::NamespaceTerminating(_) => "namespace_terminating",
            Error::InvalidSpec(_) => "invalid_spec",
            Error::MissingObjectKey(_) => "missing_object_key",
            Error::Config(_) => "config",
            Error::Bind { .. } => "bind",
            Error::LeadershipLost => "leadership_lost",
            Error::Encode(_) => "encode",
        }
    }

    /// PascalCase reason for conditions and Events, derived from the metric label.
    pub fn reason(&self) -> String {
        self.metric_label()
            .split('_')
            .map(|word| {
                let mut chars = word.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            })
            .collect()
    }
}

/// What the API server said (its `Status` message and reason), not a debug dump of the response.
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.reason.is_empty() => status.message.clone(),
        kube::Error::Api(status) => format!("{} ({})", status.message, status.reason),
        other => other.to_string(),
    }
}

/// The API server refused to create an object because its namespace is being deleted.
pub fn is_namespace_terminating(error: &kube::Error) -> bool {
    let kube::Error::Api(status) = error else {
        return false;
    };
    status.code == 403
        && status.details.as_ref().is_some_and(|details| {
            details
                .causes
                .iter()
                .any(|cause| cause.reason == "NamespaceTerminating")
        })
}

fn kube_label(error: &kube::Error) -> &'static str {
    match error {
        kube::Error::Api(status) => match status.code {
            403 => "forbidden",
            404 => "not_found",
            409 => "conflict",
            422 => "invalid",
            429 => "throttled",
            500..=599 => "server_error",
            _ => "api_error",
        },
        _ => "transport",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> Error {
        let status = kube::core::Status::failure("boom", "Reason").with_code(code);
        Error::Kube(kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn api_errors_are_labelled_by_status_class() {
        assert_eq!(api(409).metric_label(), "conflict");
        assert_eq!(api(403).metric_label(), "forbidden");
        assert_eq!(api(500).metric_label(), "server_error");
        assert_eq!(api(503).metric_label(), "server_error");
        assert_eq!(api(418).metric_label(), "api_error");
        assert_eq!(api(500).reason(), "ServerError");
        assert_eq!(Error::InvalidSpec("x".into()).reason(), "InvalidSpec");
    }

    #[test]
    fn messages_carry_the_api_status_message_not_a_debug_dump() {
        let error = Error::Child {
            action: "apply",
            child: "Deployment coder/coder".into(),
            source: kube::Error::Api(Box::new(
                kube::core::Status::failure(
                    "deployments.apps \"coder\" is forbidden: User \"x\" cannot patch",
                    "Forbidden",
                )
                .with_code(403),
            )),
        };
        let text = error.to_string();
        assert_eq!(
            text,
            "cannot apply Deployment coder/coder: deployments.apps \"coder\" is forbidden: User \"x\" cannot patch (Forbidden)"
        );
        assert_eq!(error.reason(), "Forbidden");
        assert!(!api(500).to_string().contains("Status {"), "{}", api(500));
    }

    #[test]
    fn namespace_termination_is_recognised_by_its_cause() {
        let mut status = kube::core::Status::failure(
            "pods \"x\" is forbidden: unable to create new content in namespace ns because it is being terminated",
            "Forbidden",
        )
        .with_code(403);
        assert!(!is_namespace_terminating(&kube::Error::Api(Box::new(
            status.clone()
        ))));
        status.details = serde_json::from_value(serde_json::json!({
            "causes": [{
                "reason": "NamespaceTerminating",
                "message": "namespace ns is being terminated",
                "field": "metadata.namespace"
            }]
        }))
        .unwrap();
        assert!(is_namespace_terminating(&kube::Error::Api(Box::new(
            status
        ))));
    }

    #[test]
    fn finalizer_errors_are_labelled_by_the_api_status() {
        let Error::Kube(source) = api(403) else {
            unreachable!()
        };
        let error = Error::Finalizer {
            action: "add",
            object: "ns/coder".into(),
            source,
        };
        assert_eq!(error.metric_label(), "forbidden");
        assert_eq!(
            error.to_string(),
            "cannot add the finalizer of ns/coder: boom (Reason)"
        );
    }
}
