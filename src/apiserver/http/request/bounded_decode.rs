//! Request bodies decoded into a `serde_json::Value` within a memory allowance proportional to
//! the body's size, so a small body cannot make the server allocate without bound.
//!
//! A `Value` costs far more than the text it came from: `[0,0,...]` spends 2 bytes of JSON and
//! 80 bytes of `Value` per element, and a YAML alias repeats a whole subtree for a few bytes
//! (a 347-byte "billion laughs" body grew to 74 MiB). The decoder here builds the same `Value`
//! serde_json's own would, charging as it goes what it allocates: every buffer an array grows
//! through (before growing it), every object entry (its slot and key) and every string's bytes. It stops with 413 once the charge passes
//! [`ALLOWANCE_PER_BODY_BYTE`] × the body's size + [`BASE_ALLOWANCE`], before allocating more.
//! YAML aliases are replayed through the same decoder, so their expansion is charged too, and
//! serde-saphyr's own alias and anchor limits are set from the same allowance.
//!
//! Nesting depth is bounded by the parsers (serde_json: 128 levels, serde-saphyr: 64), as
//! kube-apiserver's decoders bound it.

use std::cell::Cell;
use std::fmt;
use std::mem::size_of;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::apiserver::status::ApiError;

/// Bytes of decoded value a body may cost per byte of its text. Kubernetes objects decode to
/// about 8-15 times their JSON size (an object entry costs ~120 bytes plus its key, an array
/// element 80); 24 leaves legitimate bodies room while a body of tiny elements or aliases is
/// refused after a bounded allocation.
pub const ALLOWANCE_PER_BODY_BYTE: usize = 24;

/// What any body may cost regardless of its size (small bodies with a few aliases).
pub const BASE_ALLOWANCE: usize = 2 * 1024 * 1024;

/// Charge of one object entry besides its value's content: the `Value`, the key's `String`,
/// and the map's hash and index.
const ENTRY_COST: usize = size_of::<Value>() + size_of::<String>() + 2 * size_of::<u64>();

/// The allowance of a body of `len` bytes.
pub fn allowance_for(len: usize) -> usize {
    len.saturating_mul(ALLOWANCE_PER_BODY_BYTE)
        .saturating_add(BASE_ALLOWANCE)
}

/// How much a decode may still allocate; records when it ran out.
struct Allowance {
    left: Cell<usize>,
    exceeded: Cell<bool>,
}

impl Allowance {
    fn new(bytes: usize) -> Self {
        Allowance {
            left: Cell::new(bytes),
            exceeded: Cell::new(false),
        }
    }

    fn charge<E: serde::de::Error>(&self, bytes: usize) -> Result<(), E> {
        match self.left.get().checked_sub(bytes) {
            Some(left) => {
                self.left.set(left);
                Ok(())
            }
            None => {
                self.exceeded.set(true);
                Err(E::custom("the decoded body is larger than its allowance"))
            }
        }
    }
}

/// Builds a `Value` while charging an [`Allowance`].
#[derive(Clone, Copy)]
struct Build<'a>(&'a Allowance);

impl<'de> DeserializeSeed<'de> for Build<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Value, E> {
        if let Ok(v) = i64::try_from(v) {
            return Ok(Value::Number(v.into()));
        }
        u64::try_from(v)
            .map(|v| Value::Number(v.into()))
            .map_err(|_| E::custom("JSON number out of range"))
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(|v| Value::Number(v.into()))
            .map_err(|_| E::custom("JSON number out of range"))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json's own Value: a non-finite float becomes null.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.0.charge(v.len())?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.0.charge(v.len())?;
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items: Vec<Value> = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            if items.len() == items.capacity() {
                // Grown here rather than by `push`, so the charge comes before the allocation
                // and is all of it: growing allocates the whole new buffer (the old one is
                // freed), so an array's charge is every buffer it went through.
                let more = items.capacity().max(4);
                let new_capacity = items.capacity().saturating_add(more);
                self.0
                    .charge(new_capacity.saturating_mul(size_of::<Value>()))?;
                items.reserve_exact(more);
            }
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.0.charge(ENTRY_COST.saturating_add(key.len()))?;
            let value = map.next_value_seed(self)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// The 413 of a body whose decoded value would go over its allowance.
fn over_allowance(len: usize) -> ApiError {
    ApiError::new(
        http::StatusCode::PAYLOAD_TOO_LARGE,
        "RequestEntityTooLarge",
        format!(
            "Request entity too large: a body of {len} bytes may decode to at most {} bytes of values ({ALLOWANCE_PER_BODY_BYTE} per body byte plus {BASE_ALLOWANCE})",
            allowance_for(len)
        ),
    )
}

/// Decodes a JSON body; `what` names it in the 400 for invalid JSON ("request body", "patch body").
pub fn json(body: &[u8], what: &str) -> Result<Value, ApiError> {
    let allowance = Allowance::new(allowance_for(body.len()));
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let decoded = Build(&allowance)
        .deserialize(&mut deserializer)
        .and_then(|value| deserializer.end().map(|()| value));
    decoded.map_err(|e| {
        if allowance.exceeded.get() {
            over_allowance(body.len())
        } else {
            ApiError::bad_request(format!("the {what} is not valid JSON: {e}"))
        }
    })
}

/// Alias events serde-saphyr may replay for a body of `len` bytes: one per body byte plus
/// [`BASE_REPLAYED_EVENTS`]. Replaying allocates events of its own before the decoder sees
/// (and charges) them, so replay is capped by the body's size as well: a document without
/// aliases replays nothing, and one that uses anchors to repeat a few blocks stays far below.
pub const BASE_REPLAYED_EVENTS: usize = 1024;

/// serde-saphyr's options for a body of `len` bytes: its limits on alias replay and anchor
/// recording (its own allocations, outside the decoder's charge) derived from the body's size.
fn yaml_options(len: usize) -> serde_saphyr::Options {
    let events = len.saturating_add(BASE_REPLAYED_EVENTS);
    let mut options = serde_saphyr::Options::default();
    options.alias_limits.max_total_replayed_events = events;
    let budget = options
        .budget
        .get_or_insert_with(serde_saphyr::Budget::default);
    budget.max_recorded_anchor_events = budget.max_recorded_anchor_events.min(events);
    budget.max_recorded_anchor_bytes = budget.max_recorded_anchor_bytes.min(allowance_for(len));
    options
}

/// Decodes a YAML body (JSON is YAML).
pub fn yaml(body: &[u8]) -> Result<Value, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| ApiError::bad_request(format!("the YAML body is not UTF-8: {e}")))?;
    let allowance = Allowance::new(allowance_for(body.len()));
    let decoded = serde_saphyr::with_deserializer_from_str_with_options(
        text,
        yaml_options(body.len()),
        |deserializer| Build(&allowance).deserialize(deserializer),
    );
    decoded.map_err(|e| {
        if allowance.exceeded.get() || is_alias_limit(&e) {
            over_allowance(body.len())
        } else {
            ApiError::bad_request(format!("the request body is not valid YAML: {e}"))
        }
    })
}

/// Whether serde-saphyr stopped on one of the limits [`yaml_options`] sets from the allowance.
fn is_alias_limit(error: &serde_saphyr::Error) -> bool {
    use serde_saphyr::Error;
    use serde_saphyr::budget::BudgetBreach;
    match error {
        Error::WithSnippet { error, .. } | Error::AliasError { error, .. } => is_alias_limit(error),
        Error::AliasReplayLimitExceeded { .. } => true,
        Error::Budget { breach, .. } => matches!(
            breach,
            BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. }
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_serde_json_decodes() {
        for text in [
            r#"{"a":1,"b":[true,null,-2,3.5,"x"],"a":{"c":{}},"d":[]}"#,
            r#"[18446744073709551615, -9223372036854775808, 1e308]"#,
            r#""plain""#,
        ] {
            let ours = json(text.as_bytes(), "request body").unwrap();
            let theirs: Value = serde_json::from_str(text).unwrap();
            assert_eq!(ours, theirs, "{text}");
            // Same key order too (preserve_order).
            assert_eq!(ours.to_string(), theirs.to_string(), "{text}");
        }
        let error = json(b"{\"a\":", "request body").unwrap_err();
        assert_eq!(error.code.as_u16(), 400);
        let theirs = serde_json::from_slice::<Value>(b"{\"a\":").unwrap_err();
        assert_eq!(
            error.message,
            format!("the request body is not valid JSON: {theirs}")
        );
        let error = json(b"{} x", "request body").unwrap_err();
        assert_eq!(error.code.as_u16(), 400);
    }

    #[test]
    fn a_body_of_tiny_elements_is_refused_within_its_allowance() {
        let mut body = b"{\"a\":[".to_vec();
        for _ in 0..1_500_000 {
            body.extend_from_slice(b"0,");
        }
        body.extend_from_slice(b"0]}");
        let error = json(&body, "request body").unwrap_err();
        assert_eq!(error.code.as_u16(), 413);
        assert_eq!(error.reason, "RequestEntityTooLarge");
        // The same elements with room: a body where each is a longer text fits.
        let fits: String = format!("[{}]", vec![r#""0123456789""#; 10_000].join(","));
        assert!(json(fits.as_bytes(), "request body").is_ok());
    }

    #[test]
    fn yaml_alias_expansion_is_charged() {
        let bomb = "a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n";
        let error = yaml(bomb.as_bytes()).unwrap_err();
        assert_eq!(error.code.as_u16(), 413, "{error}");
        // A few aliases are fine.
        let small = yaml(b"a: &a {x: 1}\nb: *a\n").unwrap();
        assert_eq!(small["b"]["x"], 1);
    }
}
