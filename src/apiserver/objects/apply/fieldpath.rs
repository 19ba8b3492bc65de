//! Sets of field paths, and their wire form `fieldsV1` (`f:<name>`, `k:<json>`, `v:<json>`,
//! `i:<n>`, with `.` marking a node that is itself a member when it also has children).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a path. The variant order is the order Kubernetes sorts (and serializes) them:
/// fields, then list-map keys, then set values, then indexes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or a map key.
    Field(String),
    /// An item of a `list-type: map`, by its key fields: compact JSON of the key object, its
    /// fields in name order.
    Key(String),
    /// An item of a `list-type: set`: compact JSON of the value.
    Value(String),
    /// A list position (only in client-sent sets; our lists are sets, maps or atomic).
    Index(u64),
}

impl PathElement {
    /// The `fieldsV1` key of this element.
    fn wire(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(json) => format!("k:{json}"),
            PathElement::Value(json) => format!("v:{json}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn from_wire(key: &str) -> Result<Self, String> {
        let (prefix, rest) = key
            .split_at_checked(2)
            .ok_or_else(|| format!("unexpected key {key:?}"))?;
        let json = |text: &str| -> Result<Value, String> {
            serde_json::from_str(text).map_err(|e| format!("key {key:?}: {e}"))
        };
        match prefix {
            "f:" => Ok(PathElement::Field(rest.to_string())),
            "k:" => match json(rest)? {
                Value::Object(fields) => Ok(PathElement::Key(Value::Object(fields).to_string())),
                _ => Err(format!("key {key:?}: k: needs a JSON object")),
            },
            "v:" => Ok(PathElement::Value(json(rest)?.to_string())),
            "i:" => rest
                .parse()
                .map(PathElement::Index)
                .map_err(|_| format!("key {key:?}: i: needs a number")),
            _ => Err(format!("unexpected key {key:?}")),
        }
    }
}

/// Paths print like Kubernetes prints them in conflicts: `.spec.running`, `[uid="x"]`, `[="a"]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(json) => {
                let fields: Map<String, Value> = serde_json::from_str(json).unwrap_or_default();
                let parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(json) => write!(f, "[={json}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

pub type Path = Vec<PathElement>;

pub fn display(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of paths, as a tree: `members` are paths ending here, `children` hold longer ones.
/// Children are never empty sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Set {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, Set>,
}

impl Set {
    pub fn new() -> Self {
        Set::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn has(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    pub fn is_member(&self, element: &PathElement) -> bool {
        self.members.contains(element)
    }

    pub fn child(&self, element: &PathElement) -> Option<&Set> {
        self.children.get(element)
    }

    /// Whether `element` is a member or has members below it.
    pub fn touches(&self, element: &PathElement) -> bool {
        self.members.contains(element) || self.children.contains_key(element)
    }

    pub fn union(&self, other: &Set) -> Set {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// Paths of `self` that are not paths of `other` (exact paths; children stay).
    pub fn difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(pe.clone(), rest);
            }
        }
        Set { members, children }
    }

    pub fn intersection(&self, other: &Set) -> Set {
        let members = self.members.intersection(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    children.insert(pe.clone(), both);
                }
            }
        }
        Set { members, children }
    }

    /// Paths of `self` that are neither paths of `other` nor below a member of `other`.
    pub fn recursive_difference(&self, other: &Set) -> Set {
        let members = self.members.difference(&other.members).cloned().collect();
        let mut children = BTreeMap::new();
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let rest = match other.children.get(pe) {
                Some(theirs) => child.recursive_difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                children.insert(pe.clone(), rest);
            }
        }
        Set { members, children }
    }

    /// Every path, in Kubernetes' order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let keys: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in keys {
            prefix.push(pe.clone());
            if self.members.contains(pe) {
                out.push(prefix.clone());
            }
            if let Some(child) = self.children.get(pe) {
                child.collect_paths(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The `fieldsV1` JSON of the set.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.wire_contents(false))
    }

    fn wire_contents(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self {
            out.insert(".".into(), Value::Object(Map::new()));
        }
        let keys: BTreeSet<&PathElement> =
            self.members.iter().chain(self.children.keys()).collect();
        for pe in keys {
            let contents = match self.children.get(pe) {
                Some(child) => child.wire_contents(self.members.contains(pe)),
                None => Map::new(),
            };
            out.insert(pe.wire(), Value::Object(contents));
        }
        out
    }

    /// Reads `fieldsV1`.
    pub fn from_fields_v1(value: &Value) -> Result<Set, String> {
        let Value::Object(map) = value else {
            return Err("fieldsV1 must be a JSON object".into());
        };
        Ok(Self::read(map)?.0)
    }

    /// The set below one node, and whether the node itself is a member.
    fn read(map: &Map<String, Value>) -> Result<(Set, bool), String> {
        let mut set = Set::new();
        let mut is_member = false;
        for (key, value) in map {
            if key == "." {
                is_member = true;
                continue;
            }
            let pe = PathElement::from_wire(key)?;
            let Value::Object(inner) = value else {
                return Err(format!("value of {key:?} must be a JSON object"));
            };
            let (child, member) = Self::read(inner)?;
            // A leaf (`{}`) is a member; so is a node marked with `.`.
            if member || inner.is_empty() {
                set.members.insert(pe.clone());
            }
            if !child.is_empty() {
                set.children.insert(pe, child);
            }
        }
        Ok((set, is_member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str) -> PathElement {
        PathElement::Field(name.into())
    }

    #[test]
    fn wire_round_trip_with_dot_members() {
        let wire = json!({
            "f:metadata": {"f:labels": {".": {}, "f:a": {}}, "f:finalizers": {"v:\"x\"": {}}},
            "f:spec": {},
            "f:list": {"k:{\"name\":\"a\",\"port\":80}": {".": {}, "f:name": {}}, "i:3": {}}
        });
        let set = Set::from_fields_v1(&wire).unwrap();
        assert!(set.has(&[f("metadata"), f("labels")]));
        assert!(!set.has(&[f("metadata")]));
        assert!(set.has(&[f("spec")]));
        assert_eq!(set.to_fields_v1(), wire);
        let paths: Vec<String> = set.paths().iter().map(|p| display(p)).collect();
        assert_eq!(
            paths,
            vec![
                ".list[name=\"a\",port=80]",
                ".list[name=\"a\",port=80].name",
                ".list[3]",
                ".metadata.finalizers[=\"x\"]",
                ".metadata.labels",
                ".metadata.labels.a",
                ".spec",
            ]
        );
    }

    #[test]
    fn bad_wire_is_an_error() {
        for bad in [
            json!([]),
            json!({"x:a": {}}),
            json!({"f:a": 1}),
            json!({"k:[1]": {}}),
        ] {
            assert!(Set::from_fields_v1(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_algebra() {
        let mut a = Set::new();
        a.insert(&[f("spec"), f("x")]);
        a.insert(&[f("spec"), f("y")]);
        a.insert(&[f("spec")]);
        let mut b = Set::new();
        b.insert(&[f("spec"), f("x")]);
        assert_eq!(a.intersection(&b), b);
        let d = a.difference(&b);
        assert!(d.has(&[f("spec")]) && d.has(&[f("spec"), f("y")]) && !d.has(&[f("spec"), f("x")]));
        let mut spec = Set::new();
        spec.insert(&[f("spec")]);
        assert!(a.recursive_difference(&spec).is_empty());
        assert_eq!(b.union(&spec).paths().len(), 2);
    }
}
