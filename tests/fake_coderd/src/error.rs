//! coderd's error body, `codersdk.Response{message, detail, validations[{field, detail}]}`, and
//! the canned responses of coderd/httpapi/httpapi.go.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer: status plus a codersdk.Response body.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub detail: Option<String>,
    pub validations: Vec<(String, String)>,
    /// A `WWW-Authenticate` challenge (coderd sends one with its 401s).
    pub www_authenticate: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            detail: None,
            validations: Vec::new(),
            www_authenticate: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> ApiError {
        self.detail = Some(detail.into());
        self
    }

    pub fn validation(mut self, field: impl Into<String>, detail: impl Into<String>) -> ApiError {
        self.validations.push((field.into(), detail.into()));
        self
    }

    /// httpapi.ResourceNotFound: deliberately identical for "missing" and "not yours".
    pub fn not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "Resource not found or you do not have access to this resource",
        )
    }

    /// httpapi.Forbidden.
    pub fn forbidden() -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden.").detail(
            "You don't have permission to view this content. If you believe this is a mistake, \
             please contact your administrator or try signing in with different credentials.",
        )
    }

    /// httpapi.Read on a body that is not JSON of the expected shape.
    pub fn invalid_json(err: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "Request body must be valid JSON.")
            .detail(err.to_string())
    }

    /// httpapi.Read when go-playground/validator rejects a field: one entry per failed tag,
    /// worded as coderd words it.
    pub fn validation_failed(failures: Vec<(String, String, String)>) -> ApiError {
        let mut err = ApiError::new(StatusCode::BAD_REQUEST, "Validation failed.");
        for (field, tag, value) in failures {
            err = err.validation(
                field,
                format!("Validation failed for tag {tag:?} with value: \"{value}\""),
            );
        }
        err
    }

    pub fn body(&self) -> Value {
        let mut body = json!({ "message": self.message });
        if let Some(detail) = &self.detail {
            body["detail"] = json!(detail);
        }
        if !self.validations.is_empty() {
            body["validations"] = self
                .validations
                .iter()
                .map(|(field, detail)| json!({ "field": field, "detail": detail }))
                .collect();
        }
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(challenge) = self.www_authenticate.as_deref()
            && let Ok(value) = axum::http::HeaderValue::from_str(challenge)
        {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// Collects go-playground/validator style failures for one request body.
#[derive(Debug, Default)]
pub struct Validator {
    failures: Vec<(String, String, String)>,
}

impl Validator {
    pub fn check(&mut self, ok: bool, field: &str, tag: &str, value: impl std::fmt::Display) {
        if !ok {
            self.failures
                .push((field.to_string(), tag.to_string(), value.to_string()));
        }
    }

    pub fn finish(self) -> ApiResult<()> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation_failed(self.failures))
        }
    }
}
