//! `metadata` rules kube-apiserver applies to every object: name formats, label and annotation
//! formats, server-set fields (uid, creationTimestamp, generation), generated names, and
//! apiVersion/kind/namespace consistency with the request.

use serde_json::{Map, Value};

use super::validation::quote;
use super::{Cause, Error};
use crate::api::registry::ResourceDescriptor;

const DNS1123_SUBDOMAIN_MAX: usize = 253;
const DNS1123_SUBDOMAIN_MESSAGE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1123_LABEL_MESSAGE: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const QUALIFIED_NAME_MESSAGE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MESSAGE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
/// kube's limit on the total size of all annotations.
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;
/// Generated names are a prefix plus this many random characters.
const GENERATED_SUFFIX_LEN: usize = 5;
/// kube truncates generateName prefixes so the result stays a valid 63-character name.
const GENERATED_PREFIX_MAX: usize = 63 - GENERATED_SUFFIX_LEN;

/// Errors from a DNS-1123 subdomain check (empty when valid).
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > DNS1123_SUBDOMAIN_MAX {
        errors.push(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
            }
            _ => false,
        }
    };
    if !value.split('.').all(label_ok) {
        errors.push(DNS1123_SUBDOMAIN_MESSAGE.to_string());
    }
    errors
}

/// Errors from a DNS-1123 label check (namespaces), empty when valid.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    if value.contains('.') || !dns1123_subdomain(value).is_empty() {
        errors.push(DNS1123_LABEL_MESSAGE.to_string());
    }
    errors
}

fn name_part_ok(part: &str) -> bool {
    let bytes = part.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            alnum(first)
                && alnum(last)
                && bytes
                    .iter()
                    .all(|b| alnum(b) || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// Errors from a label/annotation key check (`prefix/name`).
pub fn qualified_name(key: &str) -> Vec<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let mut errors = Vec::new();
    if name.is_empty() {
        errors.push("name part must be non-empty".to_string());
    } else {
        if name.len() > 63 {
            errors.push("name part must be no more than 63 characters".to_string());
        }
        if !name_part_ok(name) {
            errors.push(QUALIFIED_NAME_MESSAGE.to_string());
        }
    }
    match prefix {
        Some("") => errors.push("prefix part must be non-empty".to_string()),
        Some(prefix) => errors.extend(
            dns1123_subdomain(prefix)
                .into_iter()
                .map(|e| format!("prefix part {e}")),
        ),
        None => {}
    }
    errors
}

pub fn label_value(value: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if value.len() > 63 {
        errors.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !name_part_ok(value) {
        errors.push(LABEL_VALUE_MESSAGE.to_string());
    }
    errors
}

fn invalid(field: &str, value: &str, detail: &str) -> Cause {
    Cause {
        field: field.to_string(),
        reason: "FieldValueInvalid".to_string(),
        message: format!("Invalid value: {}: {detail}", quote(value)),
    }
}

/// Checks the metadata rules kube's `ValidateObjectMeta` applies to custom resources.
pub fn validate(meta: &Map<String, Value>, namespaced: bool) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = str_field(meta, "name");
    let generate_name = str_field(meta, "generateName");
    match name {
        Some(name) if !name.is_empty() => {
            causes.extend(
                dns1123_subdomain(name)
                    .iter()
                    .map(|e| invalid("metadata.name", name, e)),
            );
        }
        _ => {
            if generate_name.is_none_or(str::is_empty) {
                causes.push(Cause {
                    field: "metadata.name".into(),
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                });
            }
        }
    }
    if let Some(prefix) = generate_name.filter(|g| !g.is_empty()) {
        // A prefix may end in '-' (kube masks a trailing dash before checking).
        let masked = match prefix.strip_suffix('-') {
            Some(head) => format!("{head}a"),
            None => prefix.to_string(),
        };
        causes.extend(
            dns1123_subdomain(&masked)
                .iter()
                .map(|e| invalid("metadata.generateName", prefix, e)),
        );
    }
    match str_field(meta, "namespace").filter(|ns| !ns.is_empty()) {
        None if namespaced => causes.push(Cause {
            field: "metadata.namespace".into(),
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
        }),
        Some(ns) => causes.extend(
            dns1123_label(ns)
                .iter()
                .map(|e| invalid("metadata.namespace", ns, e)),
        ),
        None => {}
    }
    if let Some(labels) = meta.get("labels").and_then(Value::as_object) {
        for (key, value) in labels {
            for e in qualified_name(key) {
                causes.push(invalid("metadata.labels", key, &e));
            }
            if let Some(value) = value.as_str() {
                for e in label_value(value) {
                    causes.push(invalid(&format!("metadata.labels[{key}]"), value, &e));
                }
            }
        }
    }
    if let Some(annotations) = meta.get("annotations").and_then(Value::as_object) {
        let mut total = 0;
        for (key, value) in annotations {
            total += key.len() + value.as_str().map_or(0, str::len);
            for e in qualified_name(&key.to_ascii_lowercase()) {
                causes.push(invalid("metadata.annotations", key, &e));
            }
        }
        if total > ANNOTATIONS_MAX_BYTES {
            causes.push(Cause {
                field: "metadata.annotations".into(),
                reason: "FieldValueTooLong".into(),
                message: format!("Too long: may not be more than {ANNOTATIONS_MAX_BYTES} bytes"),
            });
        }
    }
    if let Some(owners) = meta.get("ownerReferences").and_then(Value::as_array) {
        causes.extend(owner_references(owners));
    }
    if let Some(finalizers) = meta.get("finalizers").and_then(Value::as_array) {
        for (i, finalizer) in finalizers.iter().filter_map(Value::as_str).enumerate() {
            for e in qualified_name(finalizer) {
                causes.push(invalid(&format!("metadata.finalizers[{i}]"), finalizer, &e));
            }
        }
    }
    causes
}

/// kube's `ValidateOwnerReferences`: every reference names its owner completely (the field
/// paths carry no index, as kube's do), and at most one is the controller.
fn owner_references(owners: &[Value]) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut controllers = Vec::new();
    for owner in owners {
        let field = |name: &str| owner.get(name).and_then(Value::as_str).unwrap_or("");
        let api_version = field("apiVersion");
        // The version is what follows the group's slash (or the whole string, for core).
        let version = api_version.rsplit_once('/').map_or(api_version, |(_, v)| v);
        if version.is_empty() {
            causes.push(invalid(
                "metadata.ownerReferences.apiVersion",
                api_version,
                "version must not be empty",
            ));
        }
        for name in ["kind", "name", "uid"] {
            if field(name).is_empty() {
                causes.push(invalid(
                    &format!("metadata.ownerReferences.{name}"),
                    "",
                    "must not be empty",
                ));
            }
        }
        if owner.get("controller").and_then(Value::as_bool) == Some(true) {
            controllers.push(format!(
                "{}/{}, Kind={}, Name={}, UID={}",
                api_version.rsplit_once('/').map_or("", |(g, _)| g),
                version,
                field("kind"),
                field("name"),
                field("uid")
            ));
        }
    }
    if controllers.len() > 1 {
        causes.push(Cause {
            field: "metadata.ownerReferences".into(),
            reason: "FieldValueInvalid".into(),
            message: format!(
                "Invalid value: []v1.OwnerReference: Only one reference can have Controller set to true. Found \"true\" in references for {}",
                controllers.join(" and ")
            ),
        });
    }
    causes
}

pub fn str_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

/// The `metadata` object of `body`, created if absent. `BadRequest` if it is not an object.
pub fn meta_mut(body: &mut Value) -> Result<&mut Map<String, Value>, Error> {
    let obj = body
        .as_object_mut()
        .ok_or_else(|| Error::BadRequest("the request body must be a JSON object".into()))?;
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    meta.as_object_mut()
        .ok_or_else(|| Error::BadRequest("metadata must be a JSON object".into()))
}

pub fn meta(body: &Value) -> Option<&Map<String, Value>> {
    body.get("metadata").and_then(Value::as_object)
}

pub fn meta_str<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    meta(body).and_then(|m| str_field(m, key))
}

/// Checks (and fills when absent) apiVersion and kind, and reconciles metadata.namespace with
/// the request's namespace, like kube's create/update handlers.
pub fn check_type_and_namespace(
    r: &ResourceDescriptor,
    namespace: Option<&str>,
    body: &mut Value,
) -> Result<(), Error> {
    let expected_api_version = r.api_version();
    let obj = body
        .as_object_mut()
        .ok_or_else(|| Error::BadRequest("the request body must be a JSON object".into()))?;
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("apiVersion".into(), Value::String(expected_api_version));
        }
        Some(found) if found != expected_api_version => {
            return Err(Error::BadRequest(format!(
                "the API version in the data ({found}) does not match the expected API version ({expected_api_version})"
            )));
        }
        Some(_) => {}
    }
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            obj.insert("kind".into(), Value::String(r.kind.to_string()));
        }
        Some(found) if found != r.kind => {
            return Err(Error::BadRequest(format!(
                "the kind in the data ({found}) does not match the expected kind ({})",
                r.kind
            )));
        }
        Some(_) => {}
    }
    let meta = meta_mut(body)?;
    if r.namespaced {
        let Some(namespace) = namespace else {
            return Err(Error::BadRequest(
                "the namespace of the object is required for a namespaced resource".into(),
            ));
        };
        match str_field(meta, "namespace") {
            None | Some("") => {
                meta.insert("namespace".into(), Value::String(namespace.to_string()));
            }
            Some(found) if found != namespace => {
                return Err(Error::BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                        .into(),
                ));
            }
            Some(_) => {}
        }
    } else {
        // Cluster-scoped objects carry no namespace; kube clears whatever was sent.
        meta.remove("namespace");
    }
    Ok(())
}

/// Random bytes from the OS.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], Error> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf)
        .map_err(|e| Error::Internal(format!("no randomness available: {e}")))?;
    Ok(buf)
}

/// An RFC 4122 version 4 UUID.
pub fn new_uid() -> Result<String, Error> {
    let mut b = random_bytes::<16>()?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    ))
}

/// `generateName` + 5 random characters from kube's alphabet (no vowels, no look-alikes).
pub fn generate_name(prefix: &str) -> Result<String, Error> {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut prefix = prefix.to_string();
    if prefix.len() > GENERATED_PREFIX_MAX {
        let mut cut = GENERATED_PREFIX_MAX;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    let random = random_bytes::<GENERATED_SUFFIX_LEN>()?;
    let suffix: String = random
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    Ok(prefix + &suffix)
}

/// Now, as kube serializes `metav1.Time` (RFC 3339, whole seconds, UTC).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Finalizers of an object.
pub fn finalizers(body: &Value) -> Vec<String> {
    meta(body)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(body: &Value) -> bool {
    meta(body).is_some_and(|m| m.get("deletionTimestamp").is_some_and(|t| !t.is_null()))
}

/// kube's 400 when the object's name is not the one in the URL (update, patch, apply).
pub(super) fn name_mismatch(found: &str, url_name: &str) -> Error {
    Error::BadRequest(format!(
        "the name of the object ({found}) does not match the name on the URL ({url_name})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dns1123_subdomain_accepts_and_rejects_like_kube() {
        for good in ["a", "dev-workspace", "a.b-c.d", "0abc"] {
            assert!(dns1123_subdomain(good).is_empty(), "{good}");
        }
        for bad in ["", "Dev", "-a", "a-", "a..b", "a_b", "a/b", ".a"] {
            assert_eq!(
                dns1123_subdomain(bad),
                vec![DNS1123_SUBDOMAIN_MESSAGE],
                "{bad}"
            );
        }
        assert_eq!(dns1123_subdomain(&"a".repeat(254)).len(), 1);
    }

    #[test]
    fn namespaces_are_dns1123_labels() {
        assert!(dns1123_label("default").is_empty());
        assert_eq!(dns1123_label("a.b"), vec![DNS1123_LABEL_MESSAGE]);
        assert_eq!(dns1123_label("Default"), vec![DNS1123_LABEL_MESSAGE]);
        assert_eq!(dns1123_label(&"a".repeat(64)).len(), 1);
        let meta = json!({"name": "a", "namespace": "Bad"});
        let causes = validate(meta.as_object().unwrap(), true);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.namespace");
    }

    #[test]
    fn label_keys_and_values() {
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert!(!qualified_name("/x").is_empty());
        assert!(!qualified_name("Bad_Prefix/x").is_empty());
        assert!(!qualified_name("x-").is_empty());
        assert!(label_value("").is_empty());
        assert!(label_value("My_value.1").is_empty());
        assert!(!label_value("has space").is_empty());
        assert!(!label_value(&"a".repeat(64)).is_empty());
    }

    #[test]
    fn metadata_causes_name_the_field() {
        let meta = json!({"name": "Bad", "namespace": "default", "labels": {"ok": "bad value"}});
        let causes = validate(meta.as_object().unwrap(), true);
        let fields: Vec<&str> = causes.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["metadata.name", "metadata.labels[ok]"]);
        assert!(
            causes[0]
                .message
                .starts_with(r#"Invalid value: "Bad": a lowercase RFC 1123"#)
        );

        let meta = json!({"namespace": "default", "generateName": "Bad-", "name": "bad-x2b4c"});
        let causes = validate(meta.as_object().unwrap(), true);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.generateName");
        let ok = json!({"namespace": "default", "generateName": "ok-", "name": "ok-x2b4c"});
        assert!(validate(ok.as_object().unwrap(), true).is_empty());

        let causes = validate(json!({"namespace": "default"}).as_object().unwrap(), true);
        assert_eq!(
            causes[0].message,
            "Required value: name or generateName is required"
        );
    }

    #[test]
    fn uid_is_a_v4_uuid_and_names_are_generated_from_the_prefix() {
        let uid = new_uid().unwrap();
        assert_eq!(uid.len(), 36);
        assert_eq!(&uid[14..15], "4");
        assert!(matches!(&uid[19..20], "8" | "9" | "a" | "b"));
        assert_ne!(uid, new_uid().unwrap());

        let name = generate_name("ws-").unwrap();
        assert!(name.starts_with("ws-") && name.len() == 8);
        assert!(dns1123_subdomain(&name).is_empty());
        assert_eq!(generate_name(&"p".repeat(100)).unwrap().len(), 63);
    }

    #[test]
    fn timestamps_are_rfc3339_seconds() {
        let now = now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.parse::<jiff::Timestamp>().is_ok());
    }
}
