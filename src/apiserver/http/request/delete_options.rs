//! `DeleteOptions` from a DELETE request's body and query, decoded and validated like
//! kube-apiserver does before it touches the object: a body of another kind or with mistyped
//! fields is a 400, an unknown `propagationPolicy` or `dryRun` value a 422, and nothing is
//! deleted in either case.

use http::StatusCode;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::StatusDetails;
use serde::Deserialize;
use serde_json::Value;

use crate::apiserver::http::request::info::Query;
use crate::apiserver::http::request::query_values::parse_int;
use crate::apiserver::objects::{DeleteOptions, Propagation};
use crate::apiserver::status::{ApiError, cause};

/// Where kube's scheme for DeleteOptions lives; its "no kind registered" errors name it.
const META_SCHEME: &str = "pkg/apis/meta/internalversion/scheme/register.go:27";

/// The typed fields of a `meta.k8s.io/v1` DeleteOptions body. Unknown fields are ignored, as
/// kube's decoder does for this type.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Body {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    api_version: String,
    grace_period_seconds: Option<i64>,
    preconditions: Option<Preconditions>,
    orphan_dependents: Option<bool>,
    propagation_policy: Option<String>,
    dry_run: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Preconditions {
    uid: Option<String>,
    resource_version: Option<String>,
}

/// kube's query conversion of booleans in DeleteOptions: `0` and `false` (any case) are false,
/// anything else is true.
fn query_bool(value: &str) -> bool {
    !(value == "0" || value.eq_ignore_ascii_case("false"))
}

fn decode_body(bytes: &[u8]) -> Result<Body, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request(format!("couldn't get version/kind; json parse error: {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "couldn't get version/kind; json parse error: cannot decode {} into DeleteOptions",
            json_kind(&value)
        )));
    }
    let body: Body = serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("decoding DeleteOptions: {e}")))?;
    let kind_ok = body.kind.is_empty() || body.kind == "DeleteOptions";
    let version_ok = matches!(body.api_version.as_str(), "" | "v1" | "meta.k8s.io/v1");
    if !kind_ok || !version_ok {
        return Err(ApiError::bad_request(format!(
            "no kind \"{}\" is registered for version \"{}\" in scheme \"{META_SCHEME}\"",
            body.kind, body.api_version
        )));
    }
    Ok(body)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Array(_) => "an array",
        Value::String(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Object(_) => "an object",
    }
}

/// A 422 about the DeleteOptions themselves (`DeleteOptions.meta.k8s.io "" is invalid: …`).
fn invalid(field: &str, reason: &str, message: String) -> ApiError {
    invalid_options("DeleteOptions", field, reason, message)
}

/// The 422 for a `dryRun` other than `All` (the only value kube supports), quoting the values
/// as Go prints a string slice. Write and delete options word it alike.
pub fn unsupported_dry_run(kind: &str, values: &[impl AsRef<str>]) -> ApiError {
    let list = values
        .iter()
        .map(|v| crate::apiserver::objects::quote_go(v.as_ref()))
        .collect::<Vec<_>>()
        .join(" ");
    invalid_options(
        kind,
        "dryRun",
        "FieldValueNotSupported",
        format!("Unsupported value: [{list}]: supported values: \"All\""),
    )
}

/// A 422 about a request's options (`CreateOptions`, `UpdateOptions`, `PatchOptions`,
/// `DeleteOptions`), as kube words it: `<Kind>.meta.k8s.io "" is invalid: <field>: <message>`.
pub fn invalid_options(kind: &str, field: &str, reason: &str, message: String) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Invalid",
        format!("{kind}.meta.k8s.io \"\" is invalid: {field}: {message}"),
    )
    .with_details(StatusDetails {
        group: Some("meta.k8s.io".into()),
        kind: Some(kind.into()),
        causes: Some(vec![cause(field, reason, &message)]),
        ..Default::default()
    })
}

/// DeleteOptions from the body (kubectl sends one) and the query (which wins, as in kube).
pub fn parse(query: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let mut decoded = if body.iter().any(|b| !b.is_ascii_whitespace()) {
        decode_body(body)?
    } else {
        Body::default()
    };
    if let Some(v) = query.get("gracePeriodSeconds").filter(|v| !v.is_empty()) {
        decoded.grace_period_seconds = Some(parse_int(v)?);
    }
    if let Some(v) = query.get("orphanDependents").filter(|v| !v.is_empty()) {
        decoded.orphan_dependents = Some(query_bool(v));
    }
    if let Some(v) = query.get("propagationPolicy").filter(|v| !v.is_empty()) {
        decoded.propagation_policy = Some(v.to_string());
    }
    let query_dry_run: Vec<String> = query.all("dryRun").map(str::to_string).collect();
    if !query_dry_run.is_empty() {
        decoded.dry_run = Some(query_dry_run);
    }

    if let Some(policy) = &decoded.propagation_policy {
        if !matches!(policy.as_str(), "Foreground" | "Background" | "Orphan") {
            return Err(invalid(
                "propagationPolicy",
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: {}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
                    crate::apiserver::objects::quote_go(policy)
                ),
            ));
        }
        if decoded.orphan_dependents.is_some() {
            return Err(invalid(
                "propagationPolicy",
                "FieldValueInvalid",
                format!(
                    "Invalid value: {}: orphanDependents and deletionPropagation cannot be both set",
                    crate::apiserver::objects::quote_go(policy)
                ),
            ));
        }
    }
    let dry_run = decoded.dry_run.unwrap_or_default();
    let dry_run = match dry_run.as_slice() {
        [] => false,
        [all] if all == "All" => true,
        values => return Err(unsupported_dry_run("DeleteOptions", values)),
    };
    let propagation = match (
        decoded.propagation_policy.as_deref(),
        decoded.orphan_dependents,
    ) {
        (Some("Orphan"), _) | (None, Some(true)) => Some(Propagation::Orphan),
        (Some("Foreground"), _) => Some(Propagation::Foreground),
        (Some(_), _) | (None, Some(false)) => Some(Propagation::Background),
        (None, None) => None,
    };
    let preconditions = decoded.preconditions.unwrap_or_default();
    Ok(DeleteOptions {
        dry_run,
        precondition_uid: preconditions.uid,
        precondition_resource_version: preconditions.resource_version,
        propagation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(query: &str, body: &str) -> Result<DeleteOptions, ApiError> {
        parse(&Query::parse(Some(query)).unwrap(), body.as_bytes())
    }

    #[test]
    fn well_formed_options_pass() {
        let opts = parse_with(
            "",
            r#"{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":"u"},"propagationPolicy":"Background","extra":1}"#,
        )
        .unwrap();
        assert_eq!(opts.precondition_uid.as_deref(), Some("u"));
        assert!(
            parse_with("dryRun=All&gracePeriodSeconds=-5", "")
                .unwrap()
                .dry_run
        );
        assert!(parse_with("", r#"{"apiVersion":"meta.k8s.io/v1"}"#).is_ok());
    }

    #[test]
    fn malformed_options_are_refused_like_kube() {
        let e = parse_with("", r#"{"kind":"ConfigMap","apiVersion":"v1"}"#).unwrap_err();
        assert_eq!(e.code, StatusCode::BAD_REQUEST);
        assert_eq!(
            e.message,
            format!(
                "no kind \"ConfigMap\" is registered for version \"v1\" in scheme \"{META_SCHEME}\""
            )
        );
        let e = parse_with("gracePeriodSeconds=abc", "").unwrap_err();
        assert_eq!(
            e.message,
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
        let e = parse_with("propagationPolicy=Bogus", "").unwrap_err();
        assert_eq!(e.code, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            e.message,
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Bogus\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
        );
        let e = parse_with("", r#"{"preconditions":"x"}"#).unwrap_err();
        assert_eq!(e.code, StatusCode::BAD_REQUEST);
        let e = parse_with("", r#"{"dryRun":["Bogus"]}"#).unwrap_err();
        assert_eq!(
            e.message,
            "DeleteOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: [\"Bogus\"]: supported values: \"All\""
        );
        let e = parse_with("", "[]").unwrap_err();
        assert_eq!(e.code, StatusCode::BAD_REQUEST);
    }
}
