//! Walks over a JSON object and its merge type: the field set of a value, the comparison of two
//! values, the merge of an applied configuration into a live object, and pruning.
//! `metadata.managedFields` is never part of any of these (it is bookkeeping, not content).

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use super::fieldpath::{Path, PathElement, Set};
use crate::api::registry::MergeType;

/// A list item that cannot be identified (a list-map item without its key fields, or a set
/// item that is not a scalar).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct TypeError {
    pub path: String,
    pub reason: String,
}

fn type_error(path: &[PathElement], reason: impl Into<String>) -> TypeError {
    TypeError {
        path: super::fieldpath::display(path),
        reason: reason.into(),
    }
}

fn is_managed_fields(path: &[PathElement], key: &str) -> bool {
    key == "managedFields" && matches!(path, [PathElement::Field(m)] if m == "metadata")
}

/// The type of a struct field or map value.
fn child_type(ty: &MergeType, key: &str) -> Option<MergeType> {
    match ty {
        MergeType::Struct(fields) => fields
            .binary_search_by(|(name, _)| (*name).cmp(key))
            .ok()
            .map(|i| fields[i].1),
        MergeType::Map(values) => Some(**values),
        MergeType::Untyped => Some(MergeType::Untyped),
        _ => None,
    }
}

/// Whether values of this type are walked as objects (granular).
fn granular_object(ty: &MergeType, value: &Value) -> bool {
    matches!(ty, MergeType::Struct(_) | MergeType::Map(_))
        || (matches!(ty, MergeType::Untyped) && value.is_object())
}

fn granular_list(ty: &MergeType) -> Option<&'static MergeType> {
    match ty {
        MergeType::Set(items) | MergeType::ListMap(items, _) => Some(items),
        _ => None,
    }
}

/// The path element of a list item.
pub fn item_element(
    ty: &MergeType,
    item: &Value,
    path: &[PathElement],
) -> Result<PathElement, TypeError> {
    match ty {
        MergeType::Set(_) => match item {
            Value::Object(_) | Value::Array(_) => Err(type_error(
                path,
                "a set (x-kubernetes-list-type: set) may hold only scalars",
            )),
            scalar => Ok(PathElement::Value(scalar.to_string())),
        },
        MergeType::ListMap(_, keys) => {
            let mut key = BTreeMap::new();
            for name in *keys {
                match item.get(*name) {
                    Some(v) if !v.is_null() => {
                        key.insert(name.to_string(), v.clone());
                    }
                    _ => {
                        return Err(type_error(
                            path,
                            format!(
                                "associative list with keys has an element that omits key field {name:?}"
                            ),
                        ));
                    }
                }
            }
            Ok(PathElement::Key(
                Value::Object(key.into_iter().collect()).to_string(),
            ))
        }
        _ => Err(type_error(path, "not an associative list")),
    }
}

/// The items of a granular list by path element; later duplicates are dropped.
fn index_items<'v>(
    ty: &MergeType,
    list: Option<&'v Value>,
    path: &[PathElement],
) -> Result<Vec<(PathElement, &'v Value)>, TypeError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    if let Some(Value::Array(items)) = list {
        for item in items {
            let pe = item_element(ty, item, path)?;
            if seen.insert(pe.clone()) {
                out.push((pe, item));
            }
        }
    }
    Ok(out)
}

/// The fields a value sets: its leaves, atomic values, list items, map entries, and empty or
/// null objects (struct fields with children are implied by them, not members).
pub fn field_set(value: &Value, ty: &MergeType) -> Result<Set, TypeError> {
    let mut set = Set::new();
    let mut path = Vec::new();
    walk_set(value, ty, &mut path, &mut set)?;
    Ok(set)
}

fn walk_set(
    value: &Value,
    ty: &MergeType,
    path: &mut Path,
    set: &mut Set,
) -> Result<(), TypeError> {
    if granular_object(ty, value) {
        let Value::Object(map) = value else {
            set.insert(path);
            return Ok(());
        };
        for (key, child) in map {
            if is_managed_fields(path, key) {
                continue;
            }
            let declared = matches!(ty, MergeType::Struct(_)) && child_type(ty, key).is_some();
            let child_ty = child_type(ty, key).unwrap_or(MergeType::Untyped);
            path.push(PathElement::Field(key.clone()));
            walk_set(child, &child_ty, path, set)?;
            let empty_object = child.as_object().is_some_and(Map::is_empty);
            if child.is_null() || empty_object || !declared {
                set.insert(path);
            }
            path.pop();
        }
        return Ok(());
    }
    if let Some(items_ty) = granular_list(ty) {
        for (pe, item) in index_items(ty, Some(value), path)? {
            path.push(pe);
            walk_set(item, items_ty, path, set)?;
            set.insert(path);
            path.pop();
        }
        return Ok(());
    }
    set.insert(path);
    Ok(())
}

/// What changed between two values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Comparison {
    pub added: Set,
    pub modified: Set,
    pub removed: Set,
}

pub fn compare(old: &Value, new: &Value, ty: &MergeType) -> Result<Comparison, TypeError> {
    let mut cmp = Comparison::default();
    walk_compare(Some(old), Some(new), ty, &mut Vec::new(), &mut cmp)?;
    Ok(cmp)
}

fn walk_compare(
    old: Option<&Value>,
    new: Option<&Value>,
    ty: &MergeType,
    path: &mut Path,
    cmp: &mut Comparison,
) -> Result<(), TypeError> {
    let either = new.or(old).unwrap_or(&Value::Null);
    let object = granular_object(ty, either)
        && old.is_none_or(Value::is_object)
        && new.is_none_or(Value::is_object);
    let list = granular_list(ty).is_some()
        && old.is_none_or(Value::is_array)
        && new.is_none_or(Value::is_array);
    if object {
        let empty = Map::new();
        let old_map = old.and_then(Value::as_object).unwrap_or(&empty);
        let new_map = new.and_then(Value::as_object).unwrap_or(&empty);
        let keys: std::collections::BTreeSet<&String> =
            old_map.keys().chain(new_map.keys()).collect();
        for key in keys {
            if is_managed_fields(path, key) {
                continue;
            }
            let child_ty = child_type(ty, key).unwrap_or(MergeType::Untyped);
            path.push(PathElement::Field(key.clone()));
            walk_compare(
                old.and(old_map.get(key)),
                new.and(new_map.get(key)),
                &child_ty,
                path,
                cmp,
            )?;
            path.pop();
        }
    } else if list {
        let items_ty = granular_list(ty).unwrap_or(&MergeType::Untyped);
        let old_items = index_items(ty, old, path)?;
        let new_items = index_items(ty, new, path)?;
        let new_index: BTreeMap<&PathElement, &Value> =
            new_items.iter().map(|(pe, v)| (pe, *v)).collect();
        let old_index: BTreeMap<&PathElement, &Value> =
            old_items.iter().map(|(pe, v)| (pe, *v)).collect();
        let mut all: Vec<&PathElement> = old_index.keys().copied().collect();
        all.extend(new_index.keys().filter(|pe| !old_index.contains_key(*pe)));
        for pe in all {
            path.push(pe.clone());
            walk_compare(
                old_index.get(pe).copied(),
                new_index.get(pe).copied(),
                items_ty,
                path,
                cmp,
            )?;
            path.pop();
        }
    } else {
        match (old, new) {
            (None, Some(_)) => cmp.added.insert(path),
            (Some(_), None) => cmp.removed.insert(path),
            (Some(a), Some(b)) if a != b => cmp.modified.insert(path),
            _ => {}
        }
        return Ok(());
    }
    match (old, new) {
        (None, Some(_)) => cmp.added.insert(path),
        (Some(_), None) => cmp.removed.insert(path),
        _ => {}
    }
    Ok(())
}

/// The live object with the configuration merged in: the configuration wins for scalars and
/// atomic values, objects merge key by key, sets and list-maps merge by item.
pub fn merge(live: &Value, config: &Value, ty: &MergeType) -> Result<Value, TypeError> {
    walk_merge(live, config, ty, &mut Vec::new())
}

fn walk_merge(
    live: &Value,
    config: &Value,
    ty: &MergeType,
    path: &mut Path,
) -> Result<Value, TypeError> {
    if granular_object(ty, config)
        && let (Value::Object(l), Value::Object(c)) = (live, config)
    {
        let mut out = l.clone();
        for (key, value) in c {
            let child_ty = child_type(ty, key).unwrap_or(MergeType::Untyped);
            let merged = match l.get(key) {
                Some(existing) => {
                    path.push(PathElement::Field(key.clone()));
                    let merged = walk_merge(existing, value, &child_ty, path)?;
                    path.pop();
                    merged
                }
                None => value.clone(),
            };
            out.insert(key.clone(), merged);
        }
        return Ok(Value::Object(out));
    }
    if let Some(items_ty) = granular_list(ty)
        && live.is_array()
        && config.is_array()
    {
        return merge_lists(live, config, ty, items_ty, path);
    }
    Ok(config.clone())
}

/// Merges two associative lists. Items of the configuration keep its order; live-only items
/// stay where they were relative to the shared ones.
fn merge_lists(
    live: &Value,
    config: &Value,
    ty: &MergeType,
    items_ty: &MergeType,
    path: &mut Path,
) -> Result<Value, TypeError> {
    let lhs = index_items(ty, Some(live), path)?;
    let rhs = index_items(ty, Some(config), path)?;
    let lhs_index: BTreeMap<&PathElement, &Value> = lhs.iter().map(|(pe, v)| (pe, *v)).collect();
    let rhs_index: BTreeMap<&PathElement, &Value> = rhs.iter().map(|(pe, v)| (pe, *v)).collect();
    // Shared items, in the configuration's order.
    let mut shared = rhs
        .iter()
        .map(|(pe, _)| pe)
        .filter(|pe| lhs_index.contains_key(pe))
        .collect::<std::collections::VecDeque<_>>();
    let mut next_shared = shared.pop_front();
    let mut done: HashSet<&PathElement> = HashSet::new();
    let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
    let (mut li, mut ri) = (0, 0);
    let merge_item = |pe: &PathElement, path: &mut Path| -> Result<Value, TypeError> {
        match (lhs_index.get(pe), rhs_index.get(pe)) {
            (Some(l), Some(r)) => {
                path.push(pe.clone());
                let merged = walk_merge(l, r, items_ty, path)?;
                path.pop();
                Ok(merged)
            }
            (Some(only), None) | (None, Some(only)) => Ok((*only).clone()),
            (None, None) => Ok(Value::Null),
        }
    };
    while li < lhs.len() || ri < rhs.len() {
        if li < lhs.len() && ri < rhs.len() {
            let pe = &lhs[li].0;
            if *pe == rhs[ri].0 {
                done.insert(pe);
                out.push(merge_item(pe, path)?);
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if rhs_index.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                li += 1;
                continue;
            }
        }
        if li < lhs.len() {
            let pe = &lhs[li].0;
            if !rhs_index.contains_key(pe) {
                out.push(merge_item(pe, path)?);
                li += 1;
                continue;
            }
            if done.contains(pe) {
                li += 1;
                continue;
            }
        }
        if ri < rhs.len() {
            let pe = &rhs[ri].0;
            done.insert(pe);
            out.push(merge_item(pe, path)?);
            ri += 1;
            if next_shared == Some(pe) {
                next_shared = shared.pop_front();
            }
        }
    }
    Ok(Value::Array(out))
}

/// Removes from `value` what `last` (a manager's previous applied set) holds and `keep` (what
/// any manager owns now) does not. A removed node takes its whole subtree with it.
pub fn prune(value: &mut Value, ty: &MergeType, last: &Set, keep: Option<&Set>) {
    if granular_object(ty, value)
        && let Value::Object(map) = value
    {
        let keys: Vec<String> = map.keys().cloned().collect();
        for key in keys {
            let pe = PathElement::Field(key.clone());
            if !last.touches(&pe) {
                continue;
            }
            if !keep.is_some_and(|k| k.touches(&pe)) {
                map.remove(&key);
                continue;
            }
            if let (Some(child_last), Some(child)) = (last.child(&pe), map.get_mut(&key)) {
                let child_ty = child_type(ty, &key).unwrap_or(MergeType::Untyped);
                prune(
                    child,
                    &child_ty,
                    child_last,
                    keep.and_then(|k| k.child(&pe)),
                );
            }
        }
        return;
    }
    if let Some(items_ty) = granular_list(ty)
        && let Value::Array(items) = value
    {
        let path: Path = Vec::new();
        items.retain_mut(|item| {
            let Ok(pe) = item_element(ty, item, &path) else {
                return true;
            };
            if !last.touches(&pe) {
                return true;
            }
            if !keep.is_some_and(|k| k.touches(&pe)) {
                return false;
            }
            if let Some(child_last) = last.child(&pe) {
                prune(item, items_ty, child_last, keep.and_then(|k| k.child(&pe)));
            }
            true
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static ITEM: MergeType =
        MergeType::Struct(&[("name", MergeType::Scalar), ("value", MergeType::Scalar)]);
    static TY: MergeType = MergeType::Struct(&[(
        "spec",
        MergeType::Struct(&[
            ("atomic", MergeType::Atomic),
            ("env", MergeType::ListMap(&ITEM, &["name"])),
            ("selector", MergeType::Atomic),
            ("tags", MergeType::Set(&MergeType::Scalar)),
            ("x", MergeType::Scalar),
        ]),
    )]);

    fn wire(set: &Set) -> Value {
        set.to_fields_v1()
    }

    #[test]
    fn field_sets_follow_list_and_map_types() {
        let v = json!({"spec": {
            "atomic": [1, 2], "selector": {"a": "b"}, "tags": ["b", "a"],
            "env": [{"name": "A", "value": "1"}], "x": 1
        }});
        assert_eq!(
            wire(&field_set(&v, &TY).unwrap()),
            json!({"f:spec": {
                "f:atomic": {}, "f:selector": {}, "f:x": {},
                "f:tags": {"v:\"a\"": {}, "v:\"b\"": {}},
                "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}
            }})
        );
        let missing_key = json!({"spec": {"env": [{"value": "1"}]}});
        assert!(field_set(&missing_key, &TY).is_err());
    }

    #[test]
    fn compare_marks_added_parents_and_modified_leaves() {
        let old = json!({"spec": {"x": 1, "tags": ["a"]}});
        let new = json!({"spec": {"x": 2, "tags": ["a", "b"], "atomic": [1]}});
        let cmp = compare(&old, &new, &TY).unwrap();
        assert_eq!(
            wire(&cmp.added),
            json!({"f:spec": {"f:atomic": {}, "f:tags": {"v:\"b\"": {}}}})
        );
        assert_eq!(wire(&cmp.modified), json!({"f:spec": {"f:x": {}}}));
        assert!(cmp.removed.is_empty());
        let cmp = compare(&json!({}), &new, &TY).unwrap();
        assert!(cmp.added.has(&[PathElement::Field("spec".into())]));
    }

    #[test]
    fn merge_lists_by_key_and_atomics_whole() {
        let live = json!({"spec": {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "tags": ["a", "c"], "atomic": [1, 2], "selector": {"a": "1", "b": "2"}}});
        let config = json!({"spec": {"env": [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}],
            "tags": ["b"], "atomic": [3], "selector": {"c": "3"}}});
        assert_eq!(
            merge(&live, &config, &TY).unwrap(),
            json!({"spec": {
                "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}, {"name": "B", "value": "2"}],
                "tags": ["a", "c", "b"], "atomic": [3], "selector": {"c": "3"}
            }})
        );
    }

    #[test]
    fn prune_removes_unowned_subtrees() {
        let mut value = json!({"spec": {"x": 1, "tags": ["a", "b"]}});
        let last = field_set(&value, &TY).unwrap();
        let mut keep = Set::new();
        keep.insert(&[
            PathElement::Field("spec".into()),
            PathElement::Field("tags".into()),
            PathElement::Value("\"b\"".into()),
        ]);
        prune(&mut value, &TY, &last, Some(&keep));
        assert_eq!(value, json!({"spec": {"tags": ["b"]}}));
        let mut value = json!({"spec": {"x": 1}});
        prune(&mut value, &TY, &last, None);
        assert_eq!(value, json!({}));
    }
}
