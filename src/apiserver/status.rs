//! Failures as `metav1.Status` responses, worded and coded like kube-apiserver's
//! (`k8s.io/apimachinery/pkg/api/errors`): every error body a client sees is one of these.
//!
//! A leaf, like apimachinery's errors package: `auth`, `http` and the wiring build Statuses
//! here, and it imports no layer of the apiserver (only the generated registry, for details
//! naming a kind). Object-layer errors become Statuses in `http::response::object_status`.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

use crate::api::registry::ResourceDescriptor;

/// An HTTP failure carried to the client as a Status. `reason` is kube's `StatusReason`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    /// Boxed: most errors have none, and a small error keeps every `Result` small.
    pub details: Option<Box<StatusDetails>>,
    /// The `Allow` header of a 405: the methods the path does serve.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            allow: None,
        }
    }

    pub fn with_details(mut self, details: StatusDetails) -> Self {
        self.details = Some(Box::new(details));
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// The 404 kube-apiserver gives for a path no resource serves.
    pub fn path_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(StatusDetails::default())
    }

    pub fn not_found(r: &ResourceDescriptor, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", r.group_resource()),
        )
        .with_details(details(r, name))
    }

    pub fn method_not_allowed(method: &http::Method, what: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!(
                "the server does not allow this method on the requested resource ({method} {what})"
            ),
        )
    }

    /// A 405 that names the methods the path serves in `Allow` (RFC 9110 requires it).
    pub fn method_not_allowed_with(method: &http::Method, what: &str, allow: &'static str) -> Self {
        let mut error = Self::method_not_allowed(method, what);
        error.allow = Some(allow);
        error
    }

    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            format!(
                "the server was unable to respond with a content type that the client supports (accepted: {accept})"
            ),
        )
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            message,
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    pub fn too_many_requests(retry_after_seconds: i32) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Too many requests, please try again later.",
        )
        .with_details(StatusDetails {
            retry_after_seconds: Some(retry_after_seconds),
            ..Default::default()
        })
    }

    pub fn timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "Timeout",
            "Timeout: request did not complete within the allotted timeout",
        )
        .with_details(StatusDetails {
            retry_after_seconds: Some(0),
            ..Default::default()
        })
    }

    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "Expired", message)
    }

    pub fn to_status(&self) -> Status {
        Status {
            code: Some(i32::from(self.code.as_u16())),
            details: self.details.as_deref().cloned(),
            message: Some(self.message.clone()),
            metadata: Default::default(),
            reason: Some(self.reason.to_string()),
            status: Some("Failure".to_string()),
        }
    }

    /// The Status as a JSON value, as watch ERROR frames carry it.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self.to_status()).unwrap_or_else(|_| {
            serde_json::json!({"kind":"Status","apiVersion":"v1","status":"Failure","code":self.code.as_u16()})
        })
    }
}

/// `details` as kube fills them for errors about one object: group, the plural as `kind`
/// (kube's qualified-resource convention), name.
pub fn details(r: &ResourceDescriptor, name: &str) -> StatusDetails {
    StatusDetails {
        group: Some(r.group.to_string()),
        kind: Some(r.plural.to_string()),
        name: (!name.is_empty()).then(|| name.to_string()),
        ..Default::default()
    }
}

/// A field cause of an Invalid error.
pub fn cause(field: &str, reason: &str, message: &str) -> StatusCause {
    StatusCause {
        field: (!field.is_empty()).then(|| field.to_string()),
        reason: (!reason.is_empty()).then(|| reason.to_string()),
        message: (!message.is_empty()).then(|| message.to_string()),
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.code.as_u16(),
            self.reason,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        let mut response = (self.code, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        // Clients back off by Retry-After; kube mirrors details.retryAfterSeconds into it.
        if let Some(secs) = self.details.as_ref().and_then(|d| d.retry_after_seconds)
            && secs > 0
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_body_has_kind_api_version_and_failure() {
        let v = ApiError::too_many_requests(1).to_value();
        assert_eq!(v["kind"], "Status");
        assert_eq!(v["apiVersion"], "v1");
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["code"], 429);
        assert_eq!(v["details"]["retryAfterSeconds"], 1);
    }
}
