//! Does a child still hold what the controller applies? Pure JSON comparisons, so unchanged
//! children cost no API request, and detection of fields other managers added to the pod spec.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
use serde_json::Value;

use super::labels::MANAGER;

/// Whether `actual` (a stored object) already has every value of `wanted` (what we apply).
///
/// Maps may hold more keys than we set (server defaults, other managers' labels and
/// annotations, `kubectl rollout restart`'s annotation); lists must match item for item, so an
/// extra container, env var or RBAC subject counts as drift. A missing field equals an empty
/// one (the API server drops empty lists and maps).
pub fn contains(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (_, Value::Null) => true,
        (Value::Object(actual), Value::Object(wanted)) => wanted.iter().all(|(key, value)| {
            actual
                .get(key)
                .map_or_else(|| is_empty(value), |found| contains(found, value))
        }),
        (Value::Array(actual), Value::Array(wanted)) => {
            actual.len() == wanted.len() && actual.iter().zip(wanted).all(|(a, w)| contains(a, w))
        }
        (Value::Null, wanted) => is_empty(wanted),
        (actual, wanted) => actual == wanted,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_empty),
        _ => false,
    }
}

/// Managers other than ours that own fields under `path` (a field-set path such as
/// `["f:spec"]`): a hand-added env var, container, volume, Service port.
///
/// Server-side apply never removes fields another manager owns (and `force` moves ownership
/// only where values conflict), so the controller moves those fields into its own entry with
/// [`take_ownership`] and then applies without them.
pub fn foreign_managers(entries: &[ManagedFieldsEntry], path: &[&str]) -> Vec<String> {
    entries
        .iter()
        .filter(|entry| entry.manager.as_deref() != Some(MANAGER))
        .filter(|entry| entry.subresource.as_deref().is_none_or(str::is_empty))
        .filter(|entry| {
            entry
                .fields_v1
                .as_ref()
                .and_then(|fields| path.iter().try_fold(&fields.0, |node, key| node.get(*key)))
                .is_some_and(|spec| spec.as_object().is_some_and(|m| !m.is_empty()))
        })
        .map(|entry| entry.manager.clone().unwrap_or_default())
        .collect()
}

/// `managedFields` with every other manager's fields under `path` moved into our `Apply`
/// entry: the next apply of ours, which does not carry those fields, makes the API server
/// remove them. `None` when there is nothing to move or no entry of ours to move it to.
pub fn take_ownership(
    entries: &[ManagedFieldsEntry],
    path: &[&str],
) -> Option<Vec<ManagedFieldsEntry>> {
    let mut entries = entries.to_vec();
    let mut taken = Value::Object(Default::default());
    for entry in entries.iter_mut().filter(|e| {
        e.manager.as_deref() != Some(MANAGER) && e.subresource.as_deref().is_none_or(str::is_empty)
    }) {
        if let Some(fields) = entry.fields_v1.as_mut()
            && let Some(subtree) = remove_path(&mut fields.0, path)
        {
            merge(&mut taken, subtree);
        }
    }
    if taken.as_object().is_none_or(|m| m.is_empty()) {
        return None;
    }
    let ours = entries.iter_mut().find(|e| {
        e.manager.as_deref() == Some(MANAGER)
            && e.operation.as_deref() == Some("Apply")
            && e.subresource.as_deref().is_none_or(str::is_empty)
    })?;
    let fields = ours.fields_v1.as_mut()?;
    let mut node = &mut fields.0;
    for key in path {
        let map = node.as_object_mut()?;
        node = map
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    merge(node, taken);
    // An entry left with no fields would be invalid; drop it.
    entries.retain(|e| {
        e.fields_v1
            .as_ref()
            .is_none_or(|f| f.0.as_object().is_none_or(|m| !m.is_empty()))
    });
    Some(entries)
}

/// Removes and returns the subtree at `path`, pruning parents left empty.
fn remove_path(node: &mut Value, path: &[&str]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    let map = node.as_object_mut()?;
    let removed = if rest.is_empty() {
        map.remove(*first)
    } else {
        let child = map.get_mut(*first)?;
        let removed = remove_path(child, rest);
        if child.as_object().is_some_and(|m| m.is_empty()) {
            map.remove(*first);
        }
        removed
    };
    removed.filter(|v| v.as_object().is_some_and(|m| !m.is_empty()))
}

/// Deep union of two field sets.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (into, from) => *into = from,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD_SPEC: [&str; 3] = ["f:spec", "f:template", "f:spec"];
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::FieldsV1;
    use serde_json::json;

    #[test]
    fn extra_map_keys_are_fine_extra_list_items_are_drift() {
        let wanted = json!({"metadata": {"labels": {"a": "1"}}, "spec": {"env": [{"name": "X", "value": "1"}]}});
        let same = json!({"metadata": {"labels": {"a": "1", "b": "2"}, "resourceVersion": "9"},
            "spec": {"env": [{"name": "X", "value": "1"}], "defaulted": true}, "status": {"x": 1}});
        assert!(contains(&same, &wanted));
        let extra_env = json!({"metadata": {"labels": {"a": "1"}},
            "spec": {"env": [{"name": "X", "value": "1"}, {"name": "HAND", "value": "2"}]}});
        assert!(!contains(&extra_env, &wanted));
        let changed = json!({"metadata": {"labels": {"a": "2"}}, "spec": {"env": [{"name": "X", "value": "1"}]}});
        assert!(!contains(&changed, &wanted));
        let missing =
            json!({"metadata": {"labels": {}}, "spec": {"env": [{"name": "X", "value": "1"}]}});
        assert!(!contains(&missing, &wanted));
    }

    #[test]
    fn empty_and_missing_are_the_same() {
        assert!(contains(&json!({}), &json!({"a": [], "b": {}, "c": null})));
        assert!(!contains(&json!({}), &json!({"a": [1]})));
        assert!(!contains(&json!({"a": false}), &json!({"a": true})));
    }

    fn entry(manager: &str, subresource: Option<&str>, fields: Value) -> ManagedFieldsEntry {
        ManagedFieldsEntry {
            manager: Some(manager.into()),
            subresource: subresource.map(str::to_string),
            fields_v1: Some(FieldsV1(fields)),
            ..ManagedFieldsEntry::default()
        }
    }

    #[test]
    fn finds_only_other_managers_of_the_pod_spec() {
        let entries = vec![
            entry(
                MANAGER,
                None,
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {}}}}}),
            ),
            entry(
                "kubectl-rollout",
                None,
                json!({"f:spec": {"f:template": {"f:metadata": {"f:annotations": {}}}}}),
            ),
            entry(
                "kube-controller-manager",
                Some("status"),
                json!({"f:status": {}}),
            ),
            entry(
                "kubectl-edit",
                None,
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"coder\"}": {"f:env": {}}}}}}}),
            ),
        ];
        assert_eq!(foreign_managers(&entries, &POD_SPEC), vec!["kubectl-edit"]);
    }

    #[test]
    fn pod_spec_ownership_moves_to_our_apply_entry() {
        let mut ours = entry(
            MANAGER,
            None,
            json!({"f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"coder\"}": {"f:image": {}}}}}}}),
        );
        ours.operation = Some("Apply".into());
        let entries = vec![
            ours,
            entry(
                "kubectl-edit",
                None,
                json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"coder\"}": {"f:env": {"k:{\"name\":\"HAND\"}": {}}}}}}}}),
            ),
            entry(
                "kubectl-rollout",
                None,
                json!({"f:spec": {"f:template": {"f:metadata": {"f:annotations": {}}, "f:spec": {"f:volumes": {}}}}}),
            ),
        ];
        let moved = take_ownership(&entries, &POD_SPEC).expect("something to move");
        assert_eq!(moved.len(), 2, "the emptied kubectl-edit entry is dropped");
        let ours = &moved[0].fields_v1.as_ref().unwrap().0;
        let coder =
            &ours["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"coder\"}"];
        assert!(coder.get("f:image").is_some());
        assert!(coder["f:env"].get("k:{\"name\":\"HAND\"}").is_some());
        assert!(
            ours["f:spec"]["f:template"]["f:spec"]
                .get("f:volumes")
                .is_some()
        );
        assert_eq!(moved[1].manager.as_deref(), Some("kubectl-rollout"));
        assert_eq!(
            moved[1].fields_v1.as_ref().unwrap().0,
            json!({"f:spec": {"f:template": {"f:metadata": {"f:annotations": {}}}}})
        );
        assert!(take_ownership(&moved, &POD_SPEC).is_none());
    }
}
