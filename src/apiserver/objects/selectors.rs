//! Label selectors (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`, comma = and) and field
//! selectors (`metadata.name`, `metadata.namespace` with `=`, `==`, `!=`), parsed from query
//! strings and matched against objects.

use super::Error;
use super::metadata::{label_value, qualified_name};
use crate::apiserver::storage::stored::ObjectAttrs;

#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelOp {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Namespace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    field: Field,
    value: String,
    equal: bool,
}

/// A parsed label selector plus field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    labels: Vec<LabelRequirement>,
    fields: Vec<FieldRequirement>,
}

fn bad(selector: &str, detail: impl std::fmt::Display) -> Error {
    Error::BadRequest(format!(
        "unable to parse requirement: {detail} (in selector {selector:?})"
    ))
}

/// Splits on commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn check_key(selector: &str, key: &str) -> Result<String, Error> {
    if let Some(e) = qualified_name(key).into_iter().next() {
        return Err(bad(selector, format!("invalid label key {key:?}: {e}")));
    }
    Ok(key.to_string())
}

fn check_value(selector: &str, value: &str) -> Result<String, Error> {
    if let Some(e) = label_value(value).into_iter().next() {
        return Err(bad(
            selector,
            format!("invalid label value: {value:?}: {e}"),
        ));
    }
    Ok(value.to_string())
}

/// `key in (a, b)` / `key notin (a,b)`: a key, whitespace, the operator word, then a
/// parenthesized set (whitespace before `(` optional, as kube's lexer allows).
fn parse_set(selector: &str, req: &str) -> Result<Option<LabelRequirement>, Error> {
    let Some(space) = req.find(char::is_whitespace) else {
        return Ok(None);
    };
    let (key, rest) = (&req[..space], req[space..].trim_start());
    let (negate, after_word) = if let Some(r) = rest.strip_prefix("notin") {
        (true, r)
    } else if let Some(r) = rest.strip_prefix("in") {
        (false, r)
    } else {
        return Ok(None);
    };
    let set = after_word.trim_start();
    if !set.starts_with('(') && after_word.len() == set.len() {
        // "in" was the start of a longer word, e.g. `key inside`: not a set requirement.
        return Ok(None);
    }
    let key = check_key(selector, key)?;
    let inner = set
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| bad(selector, format!("found {set:?}, expected: '('")))?;
    let values = inner
        .split(',')
        .map(|v| check_value(selector, v.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let op = if negate {
        LabelOp::NotIn(values)
    } else {
        LabelOp::In(values)
    };
    Ok(Some(LabelRequirement { key, op }))
}

fn parse_label_requirement(selector: &str, req: &str) -> Result<LabelRequirement, Error> {
    if let Some(key) = req.strip_prefix('!') {
        return Ok(LabelRequirement {
            key: check_key(selector, key.trim())?,
            op: LabelOp::DoesNotExist,
        });
    }
    if let Some(set) = parse_set(selector, req)? {
        return Ok(set);
    }
    for (token, negate) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((key, value)) = req.split_once(token) {
            let key = check_key(selector, key.trim())?;
            let value = check_value(selector, value.trim())?;
            let op = if negate {
                LabelOp::NotEquals(value)
            } else {
                LabelOp::Equals(value)
            };
            return Ok(LabelRequirement { key, op });
        }
    }
    if req.contains(['<', '>', '(', ')', ' ']) {
        return Err(bad(selector, format!("unsupported requirement {req:?}")));
    }
    Ok(LabelRequirement {
        key: check_key(selector, req)?,
        op: LabelOp::Exists,
    })
}

fn parse_field_requirement(req: &str) -> Result<FieldRequirement, Error> {
    let (key, value, equal) = [("!=", false), ("==", true), ("=", true)]
        .iter()
        .find_map(|(token, equal)| {
            req.split_once(token)
                .map(|(k, v)| (k.trim(), v.trim(), *equal))
        })
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "invalid selector: '{req}'; can't understand '{req}'"
            ))
        })?;
    let field = match key {
        "metadata.name" => Field::Name,
        "metadata.namespace" => Field::Namespace,
        other => {
            return Err(Error::BadRequest(format!(
                "field label not supported: {other}"
            )));
        }
    };
    Ok(FieldRequirement {
        field,
        value: value.to_string(),
        equal,
    })
}

impl Selector {
    pub fn parse(
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, Error> {
        let mut selector = Selector::default();
        if let Some(labels) = label_selector.map(str::trim).filter(|s| !s.is_empty()) {
            for req in split_top_level(labels) {
                let req = req.trim();
                if req.is_empty() {
                    return Err(bad(labels, "found '', expected: identifier"));
                }
                selector.labels.push(parse_label_requirement(labels, req)?);
            }
        }
        if let Some(fields) = field_selector.map(str::trim).filter(|s| !s.is_empty()) {
            for req in fields.split(',') {
                selector.fields.push(parse_field_requirement(req.trim())?);
            }
        }
        Ok(selector)
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    /// Whether an object with these attributes is selected; reads only the attributes kept
    /// beside each stored revision (labels, name, namespace), never the object itself.
    pub fn matches(&self, attrs: &ObjectAttrs) -> bool {
        let labels_ok = self.labels.iter().all(|req| {
            let label = attrs.label(&req.key);
            match &req.op {
                LabelOp::Equals(v) => label == Some(v.as_str()),
                LabelOp::NotEquals(v) => label != Some(v.as_str()),
                LabelOp::In(vs) => label.is_some_and(|l| vs.iter().any(|v| v == l)),
                LabelOp::NotIn(vs) => label.is_none_or(|l| vs.iter().all(|v| v != l)),
                LabelOp::Exists => label.is_some(),
                LabelOp::DoesNotExist => label.is_none(),
            }
        });
        labels_ok
            && self.fields.iter().all(|req| {
                let actual = match req.field {
                    Field::Name => attrs.name(),
                    Field::Namespace => attrs.namespace().unwrap_or(""),
                };
                (actual == req.value) == req.equal
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn obj(name: &str, labels: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "default", "labels": labels}})
    }

    fn matching(labels: &str, fields: &str, objects: &[Value]) -> Vec<String> {
        let selector = Selector::parse(Some(labels), Some(fields)).unwrap();
        objects
            .iter()
            .map(ObjectAttrs::of)
            .filter(|attrs| selector.matches(attrs))
            .map(|attrs| attrs.name().to_string())
            .collect()
    }

    #[test]
    fn every_label_operator() {
        let objects = [
            obj("a", json!({"env": "prod", "tier": "web"})),
            obj("b", json!({"env": "dev"})),
            obj("c", json!({})),
        ];
        assert_eq!(matching("env=prod", "", &objects), ["a"]);
        assert_eq!(matching("env==dev", "", &objects), ["b"]);
        assert_eq!(matching("env!=prod", "", &objects), ["b", "c"]);
        assert_eq!(matching("env in (prod, dev)", "", &objects), ["a", "b"]);
        assert_eq!(matching("env notin (prod)", "", &objects), ["b", "c"]);
        assert_eq!(matching("env", "", &objects), ["a", "b"]);
        assert_eq!(matching("!env", "", &objects), ["c"]);
        assert_eq!(matching("env in (prod,dev),!tier", "", &objects), ["b"]);
        assert_eq!(matching("env in(prod)", "", &objects), ["a"]);
        assert_eq!(matching("env  notin  ( prod , dev )", "", &objects), ["c"]);
        assert_eq!(matching("", "", &objects), ["a", "b", "c"]);
    }

    #[test]
    fn field_selectors() {
        let objects = [obj("a", json!({})), obj("b", json!({}))];
        assert_eq!(matching("", "metadata.name=a", &objects), ["a"]);
        assert_eq!(matching("", "metadata.name!=a", &objects), ["b"]);
        assert_eq!(
            matching("", "metadata.namespace==default,metadata.name=b", &objects),
            ["b"]
        );
        assert_eq!(
            matching("", "metadata.namespace=other", &objects),
            Vec::<String>::new()
        );
    }

    #[test]
    fn unsupported_field_and_malformed_labels_are_bad_requests() {
        assert_eq!(
            Selector::parse(None, Some("spec.running=true")),
            Err(Error::BadRequest(
                "field label not supported: spec.running".into()
            ))
        );
        for bad in ["env in prod", "a=b=c d", "Bad Key", "x,", "env=has space"] {
            assert!(
                matches!(Selector::parse(Some(bad), None), Err(Error::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
