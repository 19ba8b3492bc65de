//! The controller's one error type. `metric_label` turns each kind into a low-cardinality label
//! for metrics and the `Degraded` condition's reason.

/// Everything that can fail in the controller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[source] kube::Error),

    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<kube::Error> for Error {
    fn from(error: kube::Error) -> Self {
        Error::Kube(error)
    }
}

impl Error {
    /// Snake-case label of the error kind; API errors are split by HTTP status class.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(error) => kube_label(error),
            Error::Finalizer(error) => match error.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(inner)
                | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner.metric_label(),
                kube::runtime::finalizer::Error::AddFinalizer(e)
                | kube::runtime::finalizer::Error::RemoveFinalizer(e) => kube_label(e),
                kube::runtime::finalizer::Error::UnnamedObject => "missing_object_key",
                kube::runtime::finalizer::Error::InvalidFinalizer => "invalid_finalizer",
            },
            Error::InvalidSpec(_) => "invalid_spec",
            Error::MissingObjectKey(_) => "missing_object_key",
            Error::Config(_) => "config",
            Error::Bind { .. } => "bind",
            Error::LeadershipLost => "leadership_lost",
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
    fn finalizer_errors_keep_the_inner_label() {
        let wrapped = Error::Finalizer(Box::new(kube::runtime::finalizer::Error::ApplyFailed(
            api(403),
        )));
        assert_eq!(wrapped.metric_label(), "forbidden");
    }
}
