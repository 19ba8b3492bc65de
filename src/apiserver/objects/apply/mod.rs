//! Server-side apply and server-maintained `metadata.managedFields`, driven by the merge
//! structure the code generator derives from each kind's schema (`ResourceDescriptor::merge`).
//!
//! - `fieldpath`: sets of field paths and their `fieldsV1` wire form;
//! - `typed`: field sets, comparison, merge and pruning of JSON objects by merge type;
//! - `managed`: `managedFields` entries, decoding what clients send, manager names;
//! - `merge`: one write's ownership changes (Update and Apply, conflicts, force).

pub mod fieldpath;
pub mod managed;
pub mod merge;
pub mod typed;

use serde_json::Value;

use super::decode::{Decoded, decode};
use super::metadata;
use super::{Cause, Error, Objects, Subresource, WriteOptions, WriteOutcome, not_found};
use crate::api::registry::ResourceDescriptor;

/// Attempts of an apply that races with a create or delete of the same object.
const APPLY_ATTEMPTS: usize = 4;

/// What an apply request asks for beyond the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Required (the HTTP layer rejects apply without it).
    pub field_manager: String,
    /// Take over fields other managers own instead of failing with a conflict.
    pub force: bool,
}

fn subresource_name(subresource: Option<Subresource>) -> &'static str {
    match subresource {
        Some(Subresource::Status) => "status",
        None => "",
    }
}

fn context<'a>(
    r: &'static ResourceDescriptor,
    api_version: &'a str,
    subresource: Option<Subresource>,
    manager: &'a str,
    now: &'a str,
) -> Result<merge::Context<'a>, Error> {
    let ty = r
        .merge
        .ok_or_else(|| Error::Internal(format!("{} has no merge structure", r.group_resource())))?;
    Ok(merge::Context {
        ty,
        api_version,
        kind: r.kind,
        subresource: subresource_name(subresource),
        status_subresource: r.status_subresource,
        manager,
        now,
    })
}

/// Maintains `new`'s managedFields for a create (`live` None), update or patch.
pub(super) fn track_write(
    r: &'static ResourceDescriptor,
    subresource: Option<Subresource>,
    live: Option<&Value>,
    new: &mut Value,
    opts: &WriteOptions,
) -> Result<(), Error> {
    let api_version = r.api_version();
    let now = metadata::now();
    let manager = opts.field_manager.as_deref().unwrap_or("");
    let ctx = context(r, &api_version, subresource, manager, &now)?;
    if merge::track_update(&ctx, live, new).is_err() {
        // Like kube: a write is never refused for bookkeeping; the object then goes untracked.
        if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
    }
    Ok(())
}

/// kube's 409 for apply conflicts: one cause per field, the message kubectl prints.
fn conflict_error(conflicts: Vec<merge::Conflict>) -> Error {
    let count = conflicts.len();
    let message = match conflicts.as_slice() {
        [one] => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            one.manager,
            fieldpath::display(&one.path)
        ),
        many => {
            let mut lines = Vec::new();
            let mut current: Option<&str> = None;
            for c in many {
                if current != Some(c.manager.as_str()) {
                    lines.push(format!("conflicts with {}:", c.manager));
                    current = Some(c.manager.as_str());
                }
                lines.push(format!("- {}", fieldpath::display(&c.path)));
            }
            format!("Apply failed with {count} conflicts: {}", lines.join("\n"))
        }
    };
    let causes = conflicts
        .into_iter()
        .map(|c| Cause {
            field: fieldpath::display(&c.path),
            reason: "FieldManagerConflict".into(),
            message: format!("conflict with {}", c.manager),
        })
        .collect();
    Error::ApplyConflict { message, causes }
}

/// Checks an apply configuration the way kube does before merging it.
fn check_config(
    r: &'static ResourceDescriptor,
    namespace: Option<&str>,
    name: &str,
    config: &mut Value,
) -> Result<(), Error> {
    let Some(obj) = config.as_object() else {
        return Err(Error::BadRequest(
            "the apply configuration must be an object".into(),
        ));
    };
    for (field, what) in [("apiVersion", "APIVersion"), ("kind", "Kind")] {
        if obj
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(Error::BadRequest(format!(
                "Object '{what}' is missing in the apply configuration"
            )));
        }
    }
    if obj
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|m| !m.is_null())
    {
        return Err(Error::BadRequest(
            "metadata.managedFields must be nil".into(),
        ));
    }
    metadata::check_type_and_namespace(r, namespace, config)?;
    let meta = metadata::meta_mut(config)?;
    match metadata::str_field(meta, "name") {
        None | Some("") => {
            meta.insert("name".into(), Value::String(name.to_string()));
        }
        Some(found) if found != name => {
            return Err(metadata::name_mismatch(found, name));
        }
        Some(_) => {}
    }
    Ok(())
}

fn merge_error(r: &ResourceDescriptor, name: &str, e: merge::MergeError) -> Error {
    match e {
        merge::MergeError::Conflicts(conflicts) => conflict_error(conflicts),
        merge::MergeError::Type(e) => Error::BadRequest(format!(
            "failed to create typed patch object ({name}; {}, Kind={}): {e}",
            r.api_version(),
            r.kind
        )),
    }
}

impl Objects {
    /// Server-side apply (`application/apply-patch+yaml`): creates the object when absent,
    /// merges the configuration when present.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply(
        &self,
        r: &'static ResourceDescriptor,
        namespace: Option<&str>,
        name: &str,
        subresource: Option<Subresource>,
        mut config: Value,
        apply: &ApplyOptions,
        opts: &WriteOptions,
    ) -> Result<WriteOutcome, Error> {
        check_config(r, namespace, name, &mut config)?;
        let api_version = r.api_version();
        let manager = apply.field_manager.clone();
        let force = apply.force;
        let namespace_owned = namespace.map(str::to_string);
        let validation = opts.field_validation;
        let url_name = name.to_string();
        // The configuration as the schema sees it: unknown fields pruned (and reported).
        let Decoded {
            body: config,
            warnings,
            ..
        } = decode(r, namespace, config, validation, &opts.duplicate_fields)?;
        let mut last_error = None;
        for _ in 0..APPLY_ATTEMPTS {
            let config_for_update = config.clone();
            let warnings_for_update = warnings.clone();
            let manager_ref = manager.clone();
            let api_version_ref = api_version.clone();
            let namespace_ref = namespace_owned.clone();
            let name_ref = url_name.clone();
            let mut mutation = move |current: &Value| {
                let now = metadata::now();
                let ctx = context(r, &api_version_ref, subresource, &manager_ref, &now)?;
                let merged = merge::apply(&ctx, Some(current), &config_for_update, force)
                    .map_err(|e| merge_error(r, &name_ref, e))?;
                // Repeated keys of the configuration were reported when it was decoded.
                let mut decoded = decode(r, namespace_ref.as_deref(), merged, validation, &[])?;
                decoded.warnings = warnings_for_update.clone();
                decoded.tracked = true;
                Ok(decoded)
            };
            match self
                .read_modify_write(
                    r,
                    namespace,
                    name,
                    subresource,
                    None,
                    false,
                    &mut mutation,
                    opts,
                )
                .await
            {
                Err(Error::NotFound { .. }) if subresource.is_none() => {}
                other => return other,
            }
            // Absent: the apply creates the object.
            let now = metadata::now();
            let ctx = context(r, &api_version, None, &manager, &now)?;
            let object =
                merge::apply(&ctx, None, &config, force).map_err(|e| merge_error(r, name, e))?;
            match self.create_tracked(r, namespace, object, opts, true).await {
                Ok(mut outcome) => {
                    outcome.warnings = warnings.clone();
                    return Ok(outcome);
                }
                // Created concurrently: merge into that object instead.
                Err(e @ Error::AlreadyExists { .. }) => last_error = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| not_found(r, name)))
    }
}
