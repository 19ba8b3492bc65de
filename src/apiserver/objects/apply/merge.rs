//! Ownership bookkeeping of one write: an `Update` (create, update, patch) takes the fields it
//! changed; an `Apply` merges a manager's configuration, removes what that manager applied
//! before and dropped (unless someone else owns it), and reports conflicts with other managers
//! unless forced.

use serde_json::{Map, Value, json};

use super::fieldpath::{Path, PathElement, Set};
use super::managed::{self, Decoded, Entry, Operation};
use super::typed::{self, TypeError};
use crate::api::registry::MergeType;

/// Where a write happens and who does it.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub ty: &'static MergeType,
    pub api_version: &'a str,
    pub kind: &'a str,
    /// `""` or `status`.
    pub subresource: &'a str,
    /// Whether the kind has a status subresource (the main resource then never owns status).
    pub status_subresource: bool,
    pub manager: &'a str,
    pub now: &'a str,
}

/// One field another manager owns that the configuration changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The owner, as kube prints it: `"mgr"` or `"mgr" using group/version`.
    pub manager: String,
    pub path: Path,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("{} conflict(s)", .0.len())]
    Conflicts(Vec<Conflict>),
    #[error(transparent)]
    Type(#[from] TypeError),
}

fn field(name: &str) -> PathElement {
    PathElement::Field(name.to_string())
}

/// Server-set fields nobody owns (kube's strip list); also never pruned.
fn server_fields() -> Set {
    let mut set = Set::new();
    for top in ["apiVersion", "kind", "metadata"] {
        set.insert(&[field(top)]);
    }
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[field("metadata"), field(name)]);
    }
    set
}

impl Context<'_> {
    /// Fields the write cannot change, with everything below them: status on the main
    /// resource of a kind with a status subresource, everything but status on /status.
    fn reset_fields(&self) -> Set {
        let mut set = Set::new();
        if self.subresource == "status" {
            set.insert(&[field("spec")]);
            set.insert(&[field("metadata")]);
        } else if self.status_subresource {
            set.insert(&[field("status")]);
        }
        set
    }

    fn filter(&self, set: &Set) -> Set {
        set.difference(&server_fields())
            .recursive_difference(&self.reset_fields())
    }

    fn entry(&self, operation: Operation) -> Entry {
        Entry {
            manager: self.manager.to_string(),
            operation,
            api_version: self.api_version.to_string(),
            time: Some(self.now.to_string()),
            subresource: self.subresource.to_string(),
            fields: Set::new(),
        }
    }

    fn comparison(&self, old: &Value, new: &Value) -> Result<typed::Comparison, TypeError> {
        let cmp = typed::compare(old, new, self.ty)?;
        let reset = self.reset_fields();
        Ok(typed::Comparison {
            added: cmp.added.recursive_difference(&reset),
            modified: cmp.modified.recursive_difference(&reset),
            removed: cmp.removed.recursive_difference(&reset),
        })
    }
}

fn without_managed_fields(object: &mut Value) -> Option<Value> {
    object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("managedFields"))
}

fn store(object: &mut Value, entries: &[Entry]) {
    let list = managed::encode(entries);
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

fn live_entries(live: Option<&Value>) -> Vec<Entry> {
    match live.map(managed::decode) {
        Some(Decoded::Entries(entries)) => entries,
        _ => Vec::new(),
    }
}

/// A non-apply write (create when `live` is None): `new` gets its managedFields. Entries the
/// client sent are used when they decode (except on /status); `[{}]` resets them. Like kube,
/// an existing object without any entries stays untracked until its first apply.
pub fn track_update(
    ctx: &Context<'_>,
    live: Option<&Value>,
    new: &mut Value,
) -> Result<(), TypeError> {
    let sent = managed::decode(new);
    without_managed_fields(new);
    let mut entries = match sent {
        Decoded::Entries(entries) if ctx.subresource.is_empty() => entries,
        Decoded::Reset if ctx.subresource.is_empty() => Vec::new(),
        _ => live_entries(live),
    };
    if entries.is_empty() && live.is_some() {
        return Ok(());
    }
    let empty = Value::Object(Map::new());
    let cmp = ctx.comparison(live.unwrap_or(&empty), new)?;
    let touched = cmp.added.union(&cmp.modified);
    // An update always wins: whoever owned what it changed or removed loses it.
    for entry in &mut entries {
        entry.fields = entry.fields.difference(&cmp.removed).difference(&touched);
    }
    let changed = ctx.filter(&touched);
    if !changed.is_empty() {
        let mine = ctx.entry(Operation::Update);
        match entries.iter_mut().find(|e| e.same_slot(&mine)) {
            Some(existing) => {
                existing.fields = existing.fields.union(&changed);
                existing.time = mine.time;
            }
            None => entries.push(Entry {
                fields: changed,
                ..mine
            }),
        }
    }
    store(new, &entries);
    Ok(())
}

/// The object before anything exists: apiVersion and kind only.
fn empty_object(ctx: &Context<'_>) -> Value {
    json!({"apiVersion": ctx.api_version, "kind": ctx.kind})
}

/// Applies `config` (already checked: an object, no managedFields) on `live` (None: the object
/// does not exist yet) and returns the object to store, managedFields included.
pub fn apply(
    ctx: &Context<'_>,
    live: Option<&Value>,
    config: &Value,
    force: bool,
) -> Result<Value, MergeError> {
    let empty = empty_object(ctx);
    let mut live_value = live.cloned().unwrap_or_else(|| empty.clone());
    let decoded = managed::decode(&live_value);
    without_managed_fields(&mut live_value);
    let mut entries = match decoded {
        Decoded::Entries(entries) => entries,
        // An object nobody tracked yet: what it holds belongs to "before-first-apply".
        _ => {
            let cmp = ctx.comparison(&Value::Object(Map::new()), &live_value)?;
            let fields = ctx.filter(&cmp.added.union(&cmp.modified));
            let mut first = ctx.entry(Operation::Update);
            first.manager = "before-first-apply".into();
            first.fields = fields;
            vec![first]
        }
    };

    let applied = ctx.filter(&typed::field_set(config, ctx.ty)?);
    let mut merged = typed::merge(&live_value, config, ctx.ty)?;
    let mine = ctx.entry(Operation::Apply);
    let position = entries.iter().position(|e| e.same_slot(&mine));
    let last = position
        .map(|i| entries[i].fields.clone())
        .unwrap_or_default();
    let index = match position {
        Some(i) => {
            entries[i].fields = applied;
            i
        }
        None => {
            entries.push(Entry {
                fields: applied,
                time: None,
                ..mine.clone()
            });
            entries.len() - 1
        }
    };
    if !last.is_empty() {
        let keep = entries
            .iter()
            .fold(server_fields(), |acc, e| acc.union(&e.fields));
        typed::prune(&mut merged, ctx.ty, &last, Some(&keep));
    }

    let cmp = ctx.comparison(&live_value, &merged)?;
    let changed = cmp.added.union(&cmp.modified);
    let mut conflicts = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        if i == index {
            continue;
        }
        let clash = entry.fields.intersection(&changed);
        if !clash.is_empty() {
            conflicts.extend(clash.paths().into_iter().map(|path| Conflict {
                manager: entry.describe(),
                path,
            }));
            entry.fields = entry.fields.difference(&clash);
        }
        entry.fields = entry.fields.difference(&cmp.removed);
    }
    if !conflicts.is_empty() && !force {
        conflicts.sort_by(|a, b| (&a.manager, &a.path).cmp(&(&b.manager, &b.path)));
        return Err(MergeError::Conflicts(conflicts));
    }
    if merged != live_value {
        entries[index].time = mine.time;
    }
    store(&mut merged, &entries);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    static TY: MergeType = MergeType::Struct(&[
        ("apiVersion", MergeType::Scalar),
        ("kind", MergeType::Scalar),
        (
            "metadata",
            MergeType::Struct(&[
                ("labels", MergeType::Map(&MergeType::Scalar)),
                ("name", MergeType::Scalar),
            ]),
        ),
        (
            "spec",
            MergeType::Struct(&[("a", MergeType::Scalar), ("b", MergeType::Scalar)]),
        ),
    ]);

    static ATOMIC_TY: MergeType = MergeType::Struct(&[
        ("apiVersion", MergeType::Scalar),
        ("kind", MergeType::Scalar),
        (
            "metadata",
            MergeType::Struct(&[("name", MergeType::Scalar)]),
        ),
        (
            "spec",
            MergeType::Struct(&[
                ("args", MergeType::Atomic),
                ("selector", MergeType::Atomic),
                ("tags", MergeType::Set(&MergeType::Scalar)),
            ]),
        ),
    ]);

    #[test]
    fn atomic_lists_and_maps_are_owned_and_replaced_whole() {
        let mut c = ctx("one", "t1");
        c.ty = &ATOMIC_TY;
        let config = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"},
            "spec": {"args": ["a", "b"], "selector": {"k": "1", "l": "2"}, "tags": ["t1"]}});
        let obj = apply(&c, None, &config, false).unwrap();
        assert_eq!(
            fields(&obj),
            vec![(
                "one".into(),
                "Apply".into(),
                json!({"f:spec": {"f:args": {}, "f:selector": {}, "f:tags": {"v:\"t1\"": {}}}})
            )]
        );
        // Another manager changing one element of an atomic list or one key of an atomic map
        // conflicts on the whole value; adding to a set does not.
        let mut c2 = ctx("two", "t2");
        c2.ty = &ATOMIC_TY;
        let other = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"},
            "spec": {"args": ["a"], "selector": {"k": "1"}, "tags": ["t2"]}});
        let MergeError::Conflicts(conflicts) = apply(&c2, Some(&obj), &other, false).unwrap_err()
        else {
            panic!("expected conflicts")
        };
        let paths: Vec<String> = conflicts
            .iter()
            .map(|c| super::super::fieldpath::display(&c.path))
            .collect();
        assert_eq!(paths, [".spec.args", ".spec.selector"]);
        let forced = apply(&c2, Some(&obj), &other, true).unwrap();
        assert_eq!(
            forced["spec"],
            json!({"args": ["a"], "selector": {"k": "1"}, "tags": ["t1", "t2"]})
        );
    }

    fn ctx<'a>(manager: &'a str, now: &'a str) -> Context<'a> {
        Context {
            ty: &TY,
            api_version: "g/v1",
            kind: "K",
            subresource: "",
            status_subresource: true,
            manager,
            now,
        }
    }

    fn fields(object: &Value) -> Vec<(String, String, Value)> {
        object["metadata"]["managedFields"]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|e| {
                        (
                            e["manager"].as_str().unwrap().to_string(),
                            e["operation"].as_str().unwrap().to_string(),
                            e["fieldsV1"].clone(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn create_update_then_apply_conflicts_and_force() {
        let mut obj =
            json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"a": 1}});
        track_update(&ctx("creator", "t1"), None, &mut obj).unwrap();
        assert_eq!(
            fields(&obj),
            vec![(
                "creator".into(),
                "Update".into(),
                json!({"f:spec": {".": {}, "f:a": {}}})
            )]
        );
        let config =
            json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"a": 2}});
        let err = apply(&ctx("me", "t2"), Some(&obj), &config, false).unwrap_err();
        assert_eq!(
            err,
            MergeError::Conflicts(vec![Conflict {
                manager: "\"creator\" using g/v1".into(),
                path: vec![field("spec"), field("a")],
            }])
        );
        let forced = apply(&ctx("me", "t2"), Some(&obj), &config, true).unwrap();
        assert_eq!(forced["spec"], json!({"a": 2}));
        assert_eq!(
            fields(&forced),
            vec![
                ("me".into(), "Apply".into(), json!({"f:spec": {"f:a": {}}})),
                ("creator".into(), "Update".into(), json!({"f:spec": {}})),
            ]
        );
    }

    #[test]
    fn apply_removes_what_it_dropped_unless_shared() {
        let config = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x", "labels": {"l": "1"}}, "spec": {"a": 1, "b": 2}});
        let obj = apply(&ctx("one", "t1"), None, &config, false).unwrap();
        let shared =
            json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}, "spec": {"b": 2}});
        let obj = apply(&ctx("two", "t2"), Some(&obj), &shared, false).unwrap();
        let smaller = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "x"}});
        let obj = apply(&ctx("one", "t3"), Some(&obj), &smaller, false).unwrap();
        assert_eq!(obj["spec"], json!({"b": 2}));
        assert_eq!(obj["metadata"]["name"], "x");
        assert!(obj["metadata"].get("labels").is_none());
        assert_eq!(
            fields(&obj),
            vec![("two".into(), "Apply".into(), json!({"f:spec": {"f:b": {}}}))]
        );
    }
}
