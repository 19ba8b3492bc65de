//! The objects of our API groups as the tests write them, and the kube resource that reaches
//! them: one place for the manifests many test modules build by hand. The group, version, kind
//! and plural are literals on purpose, not taken from the crate's generated types, so a test
//! still notices when the generated API drifts from what users write.
#![allow(dead_code)] // each test binary uses its own subset

use kube::Api;
use kube::api::{ApiResource, DynamicObject};
use serde_json::{Value, json};

/// `coder.com/v1alpha1`, the group of the CRDs the controller serves.
pub const CRD_API_VERSION: &str = "coder.com/v1alpha1";

/// `coder.com/v1alpha1` CoderControlPlane, for dynamic clients.
pub fn control_plane_resource() -> ApiResource {
    ApiResource {
        group: "coder.com".into(),
        version: "v1alpha1".into(),
        api_version: CRD_API_VERSION.into(),
        kind: "CoderControlPlane".into(),
        plural: "codercontrolplanes".into(),
    }
}

/// The CoderControlPlanes of `namespace`.
pub fn control_planes(client: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &control_plane_resource())
}

/// A CoderControlPlane manifest without a namespace (the API it is created through sets it).
pub fn control_plane(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": CRD_API_VERSION,
        "kind": "CoderControlPlane",
        "metadata": {"name": name},
        "spec": spec,
    })
}

/// A CoderControlPlane manifest in `namespace`.
pub fn control_plane_in(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": CRD_API_VERSION,
        "kind": "CoderControlPlane",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

/// [`control_plane`] as the dynamic object a kube client sends.
pub fn control_plane_object(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(control_plane(name, spec)).expect("a CoderControlPlane object")
}

/// [`control_plane_in`] as the dynamic object a kube client sends.
pub fn control_plane_object_in(namespace: &str, name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(control_plane_in(namespace, name, spec))
        .expect("a CoderControlPlane object")
}

/// Creates the CoderControlPlane `namespace/name` with `spec`; returns its uid.
pub async fn create_control_plane(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    spec: Value,
) -> String {
    let created = control_planes(client, namespace)
        .create(
            &kube::api::PostParams::default(),
            &control_plane_object_in(namespace, name, spec),
        )
        .await
        .expect("create CoderControlPlane");
    created.metadata.uid.expect("uid")
}
