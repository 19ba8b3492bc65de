//! `metadata.managedFields`: one entry per manager, operation (`Apply`/`Update`) and
//! subresource, each with the set of fields it owns, read from and written to objects.

use serde_json::{Map, Value};

use super::fieldpath::Set;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// `metav1.Time` text; absent on entries a client wrote without one.
    pub time: Option<String>,
    /// `""` for the main resource, `status` for /status.
    pub subresource: String,
    pub fields: Set,
}

impl Entry {
    /// Whether two entries are the same manager slot, as kube keys them: manager, operation,
    /// subresource, and (for updates only) apiVersion.
    pub fn same_slot(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How conflicts name the manager: `"name"`, `with subresource "status"`, and for
    /// updates `using <apiVersion>`.
    pub fn describe(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            out.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

/// What an object's `managedFields` hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Absent or `[]`: nothing sent (kube keeps the live tracking then).
    Absent,
    /// `[{}]` (only empty entries): the client asks for the tracking to be reset.
    Reset,
    Entries(Vec<Entry>),
    /// Entries that do not decode; the reason is for logs and tests only.
    Invalid(String),
}

/// Reads `metadata.managedFields` of an object.
pub fn decode(object: &Value) -> Decoded {
    let Some(field) = object.pointer("/metadata/managedFields") else {
        return Decoded::Absent;
    };
    let items = match field {
        Value::Null => return Decoded::Absent,
        Value::Array(items) if items.is_empty() => return Decoded::Absent,
        Value::Array(items) => items,
        _ => return Decoded::Invalid("managedFields must be a list".into()),
    };
    if items
        .iter()
        .all(|i| i.as_object().is_some_and(Map::is_empty))
    {
        return Decoded::Reset;
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
    for item in items {
        match decode_entry(item) {
            Ok(entry) => {
                if entries.iter().any(|e| e.same_slot(&entry)) {
                    return Decoded::Invalid(format!("duplicate entry for {}", entry.describe()));
                }
                entries.push(entry);
            }
            Err(reason) => return Decoded::Invalid(reason),
        }
    }
    Decoded::Entries(entries)
}

fn decode_entry(item: &Value) -> Result<Entry, String> {
    let text = |name: &str| item.get(name).and_then(Value::as_str);
    let operation = match text("operation") {
        Some("Apply") => Operation::Apply,
        Some("Update") => Operation::Update,
        other => {
            return Err(format!(
                "operation must be Apply or Update, found {other:?}"
            ));
        }
    };
    if text("fieldsType") != Some("FieldsV1") {
        return Err(format!(
            "fieldsType must be FieldsV1, found {:?}",
            text("fieldsType")
        ));
    }
    let fields = match item.get("fieldsV1") {
        Some(v) => Set::from_fields_v1(v)?,
        None => Set::new(),
    };
    Ok(Entry {
        manager: text("manager").unwrap_or("").to_string(),
        operation,
        api_version: text("apiVersion").unwrap_or("").to_string(),
        time: text("time").map(str::to_string),
        subresource: text("subresource").unwrap_or("").to_string(),
        fields,
    })
}

/// Seconds of a `metav1.Time`, for ordering (0 when absent or unreadable, like a nil time).
fn seconds(time: Option<&str>) -> i64 {
    time.and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map_or(0, |t| t.as_second())
}

/// The `managedFields` list: empty entries dropped, sorted as kube sorts them (Apply before
/// Update, then by time, manager, apiVersion, subresource).
pub fn encode(entries: &[Entry]) -> Vec<Value> {
    let mut kept: Vec<&Entry> = entries.iter().filter(|e| !e.fields.is_empty()).collect();
    kept.sort_by(|a, b| {
        (
            a.operation,
            seconds(a.time.as_deref()),
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                seconds(b.time.as_deref()),
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    kept.into_iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("manager".into(), Value::String(e.manager.clone()));
            m.insert(
                "operation".into(),
                Value::String(e.operation.as_str().into()),
            );
            m.insert("apiVersion".into(), Value::String(e.api_version.clone()));
            if let Some(time) = &e.time {
                m.insert("time".into(), Value::String(time.clone()));
            }
            m.insert("fieldsType".into(), Value::String("FieldsV1".into()));
            m.insert("fieldsV1".into(), e.fields.to_fields_v1());
            if !e.subresource.is_empty() {
                m.insert("subresource".into(), Value::String(e.subresource.clone()));
            }
            Value::Object(m)
        })
        .collect()
}

/// kube's default manager name for writes without `fieldManager`: the User-Agent up to the
/// first `/` (`kubectl-edit/v1.36.2 (linux/amd64) ...` → `kubectl-edit`), at most 128 bytes.
pub fn manager_from_user_agent(user_agent: &str) -> String {
    let name = user_agent.split('/').next().unwrap_or("");
    let mut end = name.len().min(128);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_accepts_kube_entries_and_flags_the_rest() {
        let ok = json!({"metadata": {"managedFields": [{
            "manager": "x", "operation": "Update", "apiVersion": "g/v1",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:a": {}}}
        }]}});
        let Decoded::Entries(entries) = decode(&ok) else {
            panic!("not decoded")
        };
        assert_eq!(entries[0].manager, "x");
        assert_eq!(entries[0].time, None);
        assert_eq!(
            encode(&entries),
            ok["metadata"]["managedFields"].as_array().unwrap().clone()
        );

        assert_eq!(decode(&json!({"metadata": {}})), Decoded::Absent);
        assert_eq!(
            decode(&json!({"metadata": {"managedFields": []}})),
            Decoded::Absent
        );
        assert_eq!(
            decode(&json!({"metadata": {"managedFields": [{}]}})),
            Decoded::Reset
        );
        for bad in [
            json!([{"manager": "x", "operation": "Bogus", "fieldsType": "FieldsV1", "fieldsV1": {}}]),
            json!([{"manager": "x"}]),
            json!([{"manager": "x", "operation": "Apply", "fieldsType": "FieldsV2"}]),
            json!({}),
        ] {
            let obj = json!({"metadata": {"managedFields": bad}});
            assert!(matches!(decode(&obj), Decoded::Invalid(_)), "{bad}");
        }
    }

    #[test]
    fn entries_sort_like_kube() {
        let e = |manager: &str, operation, time: Option<&str>, subresource: &str| Entry {
            manager: manager.into(),
            operation,
            api_version: "g/v1".into(),
            time: time.map(str::to_string),
            subresource: subresource.into(),
            fields: Set::from_fields_v1(&json!({"f:a": {}})).unwrap(),
        };
        let list = encode(&[
            e("z", Operation::Update, Some("2026-01-01T00:00:01Z"), ""),
            e("b", Operation::Apply, Some("2026-01-01T00:00:02Z"), ""),
            e(
                "a",
                Operation::Apply,
                Some("2026-01-01T00:00:02Z"),
                "status",
            ),
            e("a", Operation::Apply, Some("2026-01-01T00:00:02Z"), ""),
            e("late", Operation::Apply, None, ""),
            e("y", Operation::Update, Some("2026-01-01T00:00:00Z"), ""),
        ]);
        let order: Vec<String> = list
            .iter()
            .map(|v| {
                format!(
                    "{}/{}",
                    v["manager"].as_str().unwrap(),
                    v.get("subresource").and_then(Value::as_str).unwrap_or("")
                )
            })
            .collect();
        // Apply first; then by time (none = oldest), manager, apiVersion, subresource.
        assert_eq!(order, ["late/", "a/", "a/status", "b/", "y/", "z/"]);
    }

    #[test]
    fn user_agent_prefix() {
        assert_eq!(
            manager_from_user_agent("kubectl-edit/v1.36.2 (linux/amd64) kubernetes/abc"),
            "kubectl-edit"
        );
        assert_eq!(manager_from_user_agent("curl"), "curl");
        assert_eq!(manager_from_user_agent(""), "");
        assert_eq!(manager_from_user_agent(&"é".repeat(100)).len(), 128);
    }
}
