//! Decoding of a request body into the object a write stores, as kube's decoder does before
//! any strategy runs: type and namespace checks, pruning of unknown fields, and the
//! `fieldValidation` verdict (warnings, or a strict-decoding error). A leaf of `objects`'
//! writes: `write`, `apply` and `hooks` all decode through it, so none imports another for it.

use serde_json::Value;

use super::metadata;
use super::validation::KindSchema;
use super::{Cause, Error, FieldValidation, WriteOptions};
use crate::api::registry::ResourceDescriptor;

/// A body after decoding: pruned, with the fieldValidation warnings it produced.
pub(super) struct Decoded {
    pub body: Value,
    pub warnings: Vec<String>,
    /// managedFields already computed (by an apply); otherwise the write tracks an Update.
    pub tracked: bool,
}

/// Type checks, kind/namespace reconciliation and pruning of unknown fields (what kube's
/// decoder does before any strategy runs). Strict mode fails here with a 400.
pub(super) fn decode(
    r: &'static ResourceDescriptor,
    namespace: Option<&str>,
    body: Value,
    validation: FieldValidation,
    duplicates: &[String],
) -> Result<Decoded, Error> {
    decode_with(r, namespace, body, validation, duplicates, |problems| {
        Error::BadRequest(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {problems}",
            kind = r.kind,
            version = r.version,
        ))
    })
}

/// `decode` with a write's own options: its `fieldValidation` and the duplicate fields its body
/// had.
pub(super) fn decode_for_write(
    r: &'static ResourceDescriptor,
    namespace: Option<&str>,
    body: Value,
    opts: &WriteOptions,
) -> Result<Decoded, Error> {
    decode(
        r,
        namespace,
        body,
        opts.field_validation,
        &opts.duplicate_fields,
    )
}

/// `decode` for a patched object: kube reports strict-decoding problems of a patch as a 422 on
/// the field `patch`, quoting the patched object (compact JSON, keys sorted as Go writes maps).
pub(super) fn decode_patched(
    r: &'static ResourceDescriptor,
    namespace: Option<&str>,
    patched: Value,
    validation: FieldValidation,
    duplicates: &[String],
) -> Result<Decoded, Error> {
    // Only strict decoding fails, and it quotes the object as patched (before pruning): the
    // copy is kept for that mode alone, and quoted only when the error is reported.
    let as_patched = (validation == FieldValidation::Strict).then(|| patched.clone());
    decode_with(r, namespace, patched, validation, duplicates, |problems| {
        let quoted =
            super::validation::quote(&sorted_json(as_patched.as_ref().unwrap_or(&Value::Null)));
        Error::Invalid {
            group_resource: String::new(),
            kind: String::new(),
            name: String::new(),
            causes: vec![Cause {
                field: "patch".into(),
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {quoted}: strict decoding error: {problems}"),
            }],
        }
    })
}

/// Compact JSON with object keys sorted at every level.
fn sorted_json(value: &Value) -> String {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sort(&map[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

fn decode_with(
    r: &'static ResourceDescriptor,
    namespace: Option<&str>,
    mut body: Value,
    validation: FieldValidation,
    duplicates: &[String],
    strict_error: impl FnOnce(&str) -> Error,
) -> Result<Decoded, Error> {
    metadata::check_type_and_namespace(r, namespace, &mut body)?;
    let report = KindSchema::of(r)?.validate(&mut body);
    // Duplicates first, then unknown fields: the order of kube's strict decoding errors.
    let problems: Vec<String> = duplicates
        .iter()
        .map(|f| format!("duplicate field \"{f}\""))
        .chain(
            report
                .unknown_fields
                .iter()
                .map(|f| format!("unknown field \"{f}\"")),
        )
        .collect();
    let warnings = match validation {
        FieldValidation::Strict if !problems.is_empty() => {
            return Err(strict_error(&problems.join(", ")));
        }
        FieldValidation::Warn => problems,
        _ => Vec::new(),
    };
    Ok(Decoded {
        body,
        warnings,
        tracked: false,
    })
}
