//! JSON patches (RFC 6902) and merge patches (RFC 7386) applied to the current object, with
//! kube's error split: an unreadable patch is a 400, a patch that cannot be applied a 422.

use serde_json::Value;

use super::{Error, Patch};

/// Checks the patch is well-formed before any object is read.
pub fn parse(patch: &Patch) -> Result<(), Error> {
    match patch {
        Patch::Json(ops) => serde_json::from_value::<json_patch::Patch>(ops.clone())
            .map(|_| ())
            .map_err(|e| Error::BadRequest(format!("invalid JSON patch: {e}"))),
        Patch::Merge(_) => Ok(()),
    }
}

/// The patched copy of `current`.
pub fn apply(current: &Value, patch: &Patch) -> Result<Value, Error> {
    let mut doc = current.clone();
    match patch {
        Patch::Json(ops) => {
            let ops: json_patch::Patch = serde_json::from_value(ops.clone())
                .map_err(|e| Error::BadRequest(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut doc, &ops.0)
                .map_err(|e| Error::UnprocessableEntity(e.to_string()))?;
        }
        Patch::Merge(merge) => json_patch::merge(&mut doc, merge),
    }
    Ok(doc)
}

/// Whether the patch itself writes `metadata.resourceVersion`, which makes that value a
/// precondition (kube then reports a conflict instead of retrying on a newer object).
pub fn sets_resource_version(patch: &Patch) -> bool {
    match patch {
        Patch::Merge(merge) => merge
            .pointer("/metadata/resourceVersion")
            .is_some_and(|rv| !rv.is_null()),
        Patch::Json(ops) => ops.as_array().is_some_and(|ops| {
            ops.iter().any(|op| {
                op.get("path").and_then(Value::as_str) == Some("/metadata/resourceVersion")
                    && matches!(
                        op.get("op").and_then(Value::as_str),
                        Some("add" | "replace" | "test")
                    )
            })
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_removes() {
        let current =
            json!({"spec": {"running": true, "x": 1}, "metadata": {"labels": {"a": "b"}}});
        let patched = apply(
            &current,
            &Patch::Merge(json!({"spec": {"running": false, "x": null}})),
        )
        .unwrap();
        assert_eq!(
            patched,
            json!({"spec": {"running": false}, "metadata": {"labels": {"a": "b"}}})
        );
    }

    #[test]
    fn json_patch_applies_and_fails_like_kube() {
        let current = json!({"spec": {"running": true}});
        let ok = Patch::Json(json!([{"op": "replace", "path": "/spec/running", "value": false}]));
        assert_eq!(
            apply(&current, &ok).unwrap(),
            json!({"spec": {"running": false}})
        );

        let unappliable = Patch::Json(json!([{"op": "remove", "path": "/spec/missing"}]));
        assert!(matches!(
            apply(&current, &unappliable),
            Err(Error::UnprocessableEntity(_))
        ));

        let garbage = Patch::Json(json!({"op": "remove"}));
        assert!(matches!(parse(&garbage), Err(Error::BadRequest(_))));
    }

    #[test]
    fn resource_version_in_a_patch_is_detected() {
        assert!(sets_resource_version(&Patch::Merge(
            json!({"metadata": {"resourceVersion": "5"}})
        )));
        assert!(!sets_resource_version(&Patch::Merge(json!({"spec": {}}))));
        assert!(sets_resource_version(&Patch::Json(json!([
            {"op": "replace", "path": "/metadata/resourceVersion", "value": "5"}
        ]))));
        assert!(!sets_resource_version(&Patch::Json(json!([
            {"op": "replace", "path": "/spec/running", "value": true}
        ]))));
    }
}
