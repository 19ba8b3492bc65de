//! [`CoderError`]: what a call to coderd can end in, each naming the endpoint it came from.

use std::time::Duration;

use http::StatusCode;
use serde::Deserialize;

/// One coderd endpoint: method and path template (`GET /api/v2/users/{user}`), as coderd's
/// API reference names it. Errors carry it so a log line says which call failed without
/// repeating ids or names from the path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub method: &'static str,
    pub path: &'static str,
}

impl Endpoint {
    pub const fn new(method: &'static str, path: &'static str) -> Self {
        Self { method, path }
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// A form field coderd rejected (codersdk `ValidationError`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ValidationError {
    pub field: String,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CoderError {
    /// coderd answered with a non-success status; `message`/`detail`/`validations` come from
    /// its `codersdk.Response` body (or the raw body, truncated, when it was not one).
    #[error("{endpoint}: coderd answered {status}: {message}{}{}", detail_suffix(.detail), validations_suffix(.validations))]
    Api {
        endpoint: Endpoint,
        status: StatusCode,
        message: String,
        detail: Option<String>,
        validations: Vec<ValidationError>,
    },

    /// No answer: connection refused or reset, DNS failure, TLS failure. `reason` is the
    /// transport error with its causes (hyper's own message alone says only "client error").
    #[error("{endpoint}: coderd is unreachable: {reason}")]
    Unreachable { endpoint: Endpoint, reason: String },

    /// coderd took longer than the client's timeout for the whole exchange.
    #[error("{endpoint}: coderd did not answer within {timeout:?}")]
    Timeout {
        endpoint: Endpoint,
        timeout: Duration,
    },

    /// A success answer whose body is not what codersdk defines.
    #[error("{endpoint}: cannot decode coderd's answer: {source}")]
    Decode {
        endpoint: Endpoint,
        #[source]
        source: serde_json::Error,
    },

    /// The base URL (or a URL built from it) is not an absolute http(s) URL.
    #[error("invalid coderd URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    /// A template file that cannot go into a tar archive (absolute path, `..`, empty name).
    #[error("template file {path:?}: {reason}")]
    InvalidTemplateFile { path: String, reason: String },

    /// Building the archive or a request body failed (a bug, not bad input).
    #[error("cannot encode {what}: {reason}")]
    Encode { what: &'static str, reason: String },
}

fn detail_suffix(detail: &Option<String>) -> String {
    match detail {
        Some(detail) if !detail.is_empty() => format!(" ({detail})"),
        _ => String::new(),
    }
}

fn validations_suffix(validations: &[ValidationError]) -> String {
    if validations.is_empty() {
        return String::new();
    }
    let fields: Vec<String> = validations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.detail))
        .collect();
    format!(" [{}]", fields.join("; "))
}

/// The longest raw (non-codersdk) body quoted in an error message.
const RAW_BODY_LIMIT: usize = 512;

/// codersdk's error body (`codersdk.Response`).
#[derive(Deserialize)]
struct ResponseBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    validations: Vec<ValidationError>,
}

impl CoderError {
    /// The error coderd's non-success answer means: its codersdk body when it has one, else
    /// the raw body cut to a readable length, else the status's reason phrase.
    pub(crate) fn from_response(endpoint: Endpoint, status: StatusCode, body: &[u8]) -> Self {
        if let Ok(parsed) = serde_json::from_slice::<ResponseBody>(body)
            && !parsed.message.is_empty()
        {
            return CoderError::Api {
                endpoint,
                status,
                message: parsed.message,
                detail: Some(parsed.detail).filter(|d| !d.is_empty()),
                validations: parsed.validations,
            };
        }
        let raw = String::from_utf8_lossy(body);
        let raw = raw.trim();
        let message = if raw.is_empty() {
            status.canonical_reason().unwrap_or("no body").to_string()
        } else {
            truncate(raw, RAW_BODY_LIMIT)
        };
        CoderError::Api {
            endpoint,
            status,
            message,
            detail: None,
            validations: Vec::new(),
        }
    }

    /// The endpoint the failed call went to (None for URL and template-file errors).
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            CoderError::Api { endpoint, .. }
            | CoderError::Unreachable { endpoint, .. }
            | CoderError::Timeout { endpoint, .. }
            | CoderError::Decode { endpoint, .. } => Some(*endpoint),
            _ => None,
        }
    }

    /// coderd's HTTP status, when it answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            CoderError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(StatusCode::UNAUTHORIZED)
    }

    pub fn is_conflict(&self) -> bool {
        self.status() == Some(StatusCode::CONFLICT)
    }

    /// The longest token lifetime coderd allows, when this is its refusal of a longer one
    /// (400, detail `lifetime must be less than 168h0m0s`, as coderd's key validation says it).
    pub fn max_token_lifetime(&self) -> Option<Duration> {
        let CoderError::Api {
            status: StatusCode::BAD_REQUEST,
            detail: Some(detail),
            ..
        } = self
        else {
            return None;
        };
        let (_, max) = detail.split_once("lifetime must be less than ")?;
        let max: jiff::SignedDuration = max.trim().trim_end_matches('.').parse().ok()?;
        Duration::try_from(max).ok().filter(|d| !d.is_zero())
    }

    /// coderd cannot be reached or is not serving: no answer, a timeout, or 502/503/504
    /// (a proxy or load balancer in front of a coderd that is down). Callers map this to 503
    /// and retry later; everything else is an answer about the request itself.
    pub fn is_unavailable(&self) -> bool {
        match self {
            CoderError::Unreachable { .. } | CoderError::Timeout { .. } => true,
            CoderError::Api { status, .. } => matches!(
                *status,
                StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ),
            _ => false,
        }
    }
}

/// An error and its causes, `outer: inner: innermost`, each said once.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENDPOINT: Endpoint = Endpoint::new("GET", "/api/v2/users/{user}");

    #[test]
    fn codersdk_body_gives_message_detail_and_validations() {
        let body = br#"{"message":"Validation failed.","detail":"name taken","validations":[{"field":"name","detail":"must be unique"}]}"#;
        let error = CoderError::from_response(ENDPOINT, StatusCode::BAD_REQUEST, body);
        assert_eq!(
            error.to_string(),
            "GET /api/v2/users/{user}: coderd answered 400 Bad Request: Validation failed. \
             (name taken) [name: must be unique]"
        );
        let CoderError::Api { validations, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(validations[0].field, "name");
    }

    #[test]
    fn non_codersdk_body_is_quoted_truncated() {
        let body = "x".repeat(2000);
        let error = CoderError::from_response(ENDPOINT, StatusCode::BAD_GATEWAY, body.as_bytes());
        let CoderError::Api { message, .. } = &error else {
            panic!("{error:?}")
        };
        assert!(message.len() < 600, "{}", message.len());
        assert!(error.is_unavailable());
    }

    #[test]
    fn empty_body_falls_back_to_the_reason_phrase() {
        let error = CoderError::from_response(ENDPOINT, StatusCode::NOT_FOUND, b"");
        assert!(error.to_string().ends_with("404 Not Found: Not Found"));
        assert!(error.is_not_found());
        assert!(!error.is_unavailable());
    }

    #[test]
    fn a_lifetime_refusal_names_the_maximum() {
        let body = br#"{"message":"Failed to validate create API key request.","detail":"lifetime must be less than 168h0m0s"}"#;
        let error = CoderError::from_response(ENDPOINT, StatusCode::BAD_REQUEST, body);
        assert_eq!(
            error.max_token_lifetime(),
            Some(Duration::from_secs(168 * 3600))
        );
        let other =
            CoderError::from_response(ENDPOINT, StatusCode::BAD_REQUEST, br#"{"message":"x"}"#);
        assert_eq!(other.max_token_lifetime(), None);
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let text = "é".repeat(400);
        let cut = truncate(&text, RAW_BODY_LIMIT);
        assert!(cut.ends_with('…'));
    }
}
