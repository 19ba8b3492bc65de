//! The Secret manifest and the caBundle patch, as a user applies them.

use std::collections::BTreeMap;

use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::Error;
use super::mint::Minted;

/// Field manager of `coder-k8s certs --apply`.
pub const FIELD_MANAGER: &str = "coder-k8s-certs";

/// A `kubernetes.io/tls` Secret (tls.crt, tls.key) that also carries the CA as `ca.crt`, the
/// key cert-manager uses: the monitoring overlay reads it to verify the apiserver.
pub fn secret(namespace: &str, name: &str, minted: &Minted) -> Secret {
    let data = BTreeMap::from([
        (
            "tls.crt".to_string(),
            ByteString(minted.cert_pem.clone().into_bytes()),
        ),
        (
            "tls.key".to_string(),
            ByteString(minted.key_pem.clone().into_bytes()),
        ),
        (
            "ca.crt".to_string(),
            ByteString(minted.ca_pem.clone().into_bytes()),
        ),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/part-of".to_string(),
                "coder-k8s".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".to_string()),
        data: Some(data),
        ..Secret::default()
    }
}

/// The Secret as a YAML document with apiVersion and kind.
pub fn to_yaml(secret: &Secret) -> Result<String, Error> {
    let mut value = serde_json::to_value(secret).map_err(|e| Error::Render(e.to_string()))?;
    if let Some(object) = value.as_object_mut() {
        object.insert("apiVersion".into(), "v1".into());
        object.insert("kind".into(), "Secret".into());
    }
    serde_saphyr::to_string(&value).map_err(|e| Error::Render(e.to_string()))
}

/// The JSON merge patch that sets an APIService's caBundle.
pub fn ca_bundle_patch(ca_pem: &str) -> serde_json::Value {
    serde_json::json!({
        "spec": {
            "caBundle": base64::engine::general_purpose::STANDARD.encode(ca_pem),
        }
    })
}

/// The kubectl command that applies [`ca_bundle_patch`] to `api_service`.
pub fn ca_bundle_patch_command(api_service: &str, ca_pem: &str) -> String {
    format!(
        "kubectl patch apiservice {api_service} --type=merge -p '{}'",
        ca_bundle_patch(ca_pem)
    )
}
