//! Content negotiation: which representation a client accepts (`Accept`) and how its request
//! body is encoded (`Content-Type`), with kube-apiserver's answers when neither side fits.

use crate::apiserver::status::ApiError;

/// The aggregated discovery document type clients ask for on `/apis`; the response must carry
/// exactly this Content-Type or client-go and the aggregator fall back to v1 discovery.
pub const DISCOVERY_V2: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// One media range of an `Accept` header: lower-cased type and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub essence: String,
    pub params: Vec<(String, String)>,
}

impl MediaType {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn is_json_like(&self) -> bool {
        matches!(
            self.essence.as_str(),
            "application/json" | "application/*" | "*/*"
        )
    }
}

pub fn parse_media_type(s: &str) -> Option<MediaType> {
    let mut parts = s.split(';');
    let essence = parts.next()?.trim().to_ascii_lowercase();
    if essence.is_empty() {
        return None;
    }
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((
                k.trim().to_ascii_lowercase(),
                v.trim().trim_matches('"').to_string(),
            ))
        })
        .collect();
    Some(MediaType { essence, params })
}

/// The media ranges of an `Accept` header in the client's order, without those it refuses (q=0).
pub fn parse_accept(accept: &str) -> Vec<MediaType> {
    accept
        .split(',')
        .filter_map(parse_media_type)
        .filter(|m| {
            m.param("q")
                .is_none_or(|q| q.parse::<f32>().unwrap_or(1.0) > 0.0)
        })
        .collect()
}

/// How an object or list response is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    Yaml,
    /// `meta.k8s.io` Table of the given version (`v1` or `v1beta1`).
    Table(&'static str),
    /// `PartialObjectMetadata(List)`, as metadata informers (garbage collector) request.
    Metadata(&'static str),
}

fn meta_version(m: &MediaType) -> Option<&'static str> {
    if m.param("g") != Some("meta.k8s.io") {
        return None;
    }
    match m.param("v") {
        Some("v1") => Some("v1"),
        Some("v1beta1") => Some("v1beta1"),
        _ => None,
    }
}

/// Picks the first representation of `accept` this server can produce; 406 if there is none.
pub fn negotiate(accept: Option<&str>) -> Result<Output, ApiError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Output::Json);
    };
    // What most clients send (curl, kubectl's JSON requests): no need to parse.
    if matches!(accept, "*/*" | "application/json" | "application/json, */*") {
        return Ok(Output::Json);
    }
    for m in parse_accept(accept) {
        let as_ = m.param("as");
        match (m.essence.as_str(), as_) {
            (_, None) if m.is_json_like() => return Ok(Output::Json),
            ("application/yaml", None) => return Ok(Output::Yaml),
            ("application/json", Some("Table")) => {
                if let Some(v) = meta_version(&m) {
                    return Ok(Output::Table(v));
                }
            }
            ("application/json", Some("PartialObjectMetadata" | "PartialObjectMetadataList")) => {
                if let Some(v) = meta_version(&m) {
                    return Ok(Output::Metadata(v));
                }
            }
            _ => {}
        }
    }
    Err(ApiError::not_acceptable(accept))
}

/// Whether a discovery request asks for the aggregated v2 document.
pub fn wants_discovery_v2(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    for m in parse_accept(accept) {
        if m.essence == "application/json"
            && m.param("g") == Some("apidiscovery.k8s.io")
            && m.param("as") == Some("APIGroupDiscoveryList")
        {
            if m.param("v") == Some("v2") {
                return true;
            }
            // v2beta1 is being removed from clients; skip it and keep looking.
            continue;
        }
        if m.is_json_like() && m.param("as").is_none() {
            return false;
        }
    }
    false
}

/// Encoding of a create/update body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Yaml,
}

pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, ApiError> {
    let essence = content_type
        .and_then(parse_media_type)
        .map(|m| m.essence)
        .unwrap_or_else(|| "application/json".to_string());
    match essence.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" => Ok(BodyFormat::Yaml),
        other => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format ({other}) - accepted media types include: application/json, application/yaml"
        ))),
    }
}

/// The patch kinds this server applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    /// Server-side apply; the body is YAML (JSON is YAML).
    Apply,
}

pub fn patch_kind(content_type: Option<&str>) -> Result<PatchKind, ApiError> {
    let essence = content_type
        .and_then(parse_media_type)
        .map(|m| m.essence)
        .unwrap_or_default();
    match essence.as_str() {
        "application/json-patch+json" => Ok(PatchKind::Json),
        "application/merge-patch+json" => Ok(PatchKind::Merge),
        "application/apply-patch+yaml" => Ok(PatchKind::Apply),
        // Like custom resources: strategic merge needs Go struct tags no schema here has.
        _ => Err(ApiError::unsupported_media_type(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {:?})",
            if essence.is_empty() {
                "none"
            } else {
                essence.as_str()
            }
        ))),
    }
}

/// Decodes a JSON or YAML body into a JSON value, within the memory a body of its size may
/// cost (`bounded_decode`: 413 beyond it).
pub fn decode_body(format: BodyFormat, body: &[u8]) -> Result<serde_json::Value, ApiError> {
    match format {
        BodyFormat::Json => {
            crate::apiserver::http::request::bounded_decode::json(body, "request body")
        }
        BodyFormat::Yaml => crate::apiserver::http::request::bounded_decode::yaml(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_get_accept_picks_table_v1() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(negotiate(Some(accept)).unwrap(), Output::Table("v1"));
    }

    #[test]
    fn unknown_as_alone_is_not_acceptable() {
        let err = negotiate(Some("application/json;as=Foo;v=v1;g=meta.k8s.io")).unwrap_err();
        assert_eq!(err.code.as_u16(), 406);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf"))
                .unwrap_err()
                .code
                .as_u16(),
            406
        );
    }

    #[test]
    fn metadata_and_json_defaults() {
        assert_eq!(negotiate(None).unwrap(), Output::Json);
        assert_eq!(negotiate(Some("*/*")).unwrap(), Output::Json);
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json")).unwrap(),
            Output::Metadata("v1")
        );
    }

    #[test]
    fn discovery_v2_detection() {
        assert!(wants_discovery_v2(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
        assert!(!wants_discovery_v2(Some("application/json")));
        assert!(!wants_discovery_v2(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        )));
    }

    #[test]
    fn patch_types() {
        assert_eq!(
            patch_kind(Some("application/merge-patch+json")).unwrap(),
            PatchKind::Merge
        );
        assert_eq!(
            patch_kind(Some("application/strategic-merge-patch+json"))
                .unwrap_err()
                .code
                .as_u16(),
            415
        );
        assert_eq!(
            patch_kind(Some("application/apply-patch+yaml")).unwrap(),
            PatchKind::Apply
        );
        // CBOR apply bodies are not served (kube only with a feature gate).
        assert_eq!(
            patch_kind(Some("application/apply-patch+cbor"))
                .unwrap_err()
                .code
                .as_u16(),
            415
        );
    }

    #[test]
    fn yaml_bodies_decode() {
        let v = decode_body(BodyFormat::Yaml, b"a: 1\nb: [x]\n").unwrap();
        assert_eq!(v["a"], 1);
        assert_eq!(v["b"][0], "x");
    }
}
