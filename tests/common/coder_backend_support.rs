//! Shared by the Coder backend tests: a fake coderd with an owner and an operator token, and a
//! namespace whose CoderControlPlane points at it. The CoderControlPlane's status (URL, token
//! Secret, operatorAccessReady) is written here as the controller's operator access would write
//! it, so these tests do not depend on the controller. A test binary that includes this file
//! includes `objects.rs` as the module `objects` too.

#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use envtest::ControlPlane;
use fake_coderd::{FakeCoderd, FakeConfig};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

pub const GROUP: &str = "aggregation.coder.com";
pub const VERSION: &str = "v1alpha1";
/// The fake's owner and the organization every deployment has.
pub const OWNER: &str = "admin";
pub const ORG: &str = "coder";
/// Waits for the sync (200 ms in these tests) and the fake's jobs (under a second), generous for
/// a busy two-core machine.
pub const WAIT: Duration = Duration::from_secs(60);
pub const SYNC_INTERVAL: &str = "200ms";

static CRD: OnceCell<()> = OnceCell::const_new();

/// Installs the CoderControlPlane CRD (once per test binary) and waits until it is served.
pub async fn install_control_plane_crd(cp: &ControlPlane) {
    CRD.get_or_init(|| async {
        let crd = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/generated/crds/coder.com_codercontrolplanes.yaml"
        );
        let out = cp
            .kubectl()
            .args(["apply", "--server-side", "-f", crd])
            .output()
            .await
            .expect("kubectl apply the CRD");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        cp.wait_crd_established("codercontrolplanes.coder.com")
            .await;
    })
    .await;
}

pub use crate::objects::control_plane_resource;

pub fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
}

pub fn workspaces() -> ApiResource {
    resource("CoderWorkspace", "coderworkspaces")
}

pub fn templates() -> ApiResource {
    resource("CoderTemplate", "codertemplates")
}

/// A fake coderd served to one namespace.
pub struct CoderNamespace {
    pub fake: FakeCoderd,
    pub namespace: String,
    pub token: String,
}

/// Fast provisioner jobs so builds finish within a sync or two.
pub fn fast_jobs() -> FakeConfig {
    FakeConfig {
        job_pending: Duration::from_millis(50),
        job_running: Duration::from_millis(200),
        ..FakeConfig::default()
    }
}

/// A fresh fake coderd (with its first user and an API token) and a namespace whose
/// CoderControlPlane `coder` gives operator access to it.
pub async fn coder_namespace(cp: &ControlPlane, prefix: &str) -> CoderNamespace {
    install_control_plane_crd(cp).await;
    let fake = FakeCoderd::start_with(fast_jobs()).await;
    fake.admin()
        .create_first_user("admin@example.com", OWNER, "SomeSecurePassword1!")
        .expect("first user");
    let token = fake.admin().api_token(OWNER).expect("API token");
    let namespace = cp.create_namespace(prefix).await;
    let client = cp.admin_client().await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "coder-operator-token"},
        "stringData": {"token": token},
    }))
    .expect("secret");
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the token Secret");
    let planes: Api<DynamicObject> =
        Api::namespaced_with(client, &namespace, &control_plane_resource());
    let mut plane = DynamicObject::new("coder", &control_plane_resource());
    plane.data = json!({"spec": {}});
    planes
        .create(&PostParams::default(), &plane)
        .await
        .expect("create the CoderControlPlane");
    let status = json!({"status": {
        "url": fake.url(),
        "operatorTokenSecretRef": {"name": "coder-operator-token", "key": "token"},
        "operatorAccessReady": true,
    }});
    let patched = planes
        .patch_status("coder", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("write the CoderControlPlane status");
    assert_eq!(
        patched.data.pointer("/status/operatorAccessReady"),
        Some(&Value::Bool(true)),
        "the CRD must keep status.operatorAccessReady (schema for issue 18): {:?}",
        patched.data
    );
    CoderNamespace {
        fake,
        namespace,
        token,
    }
}

/// A CoderTemplate manifest with files.
pub fn template_manifest(namespace: &str, name: &str, main_tf: &str, extra: &str) -> String {
    let indented: String = main_tf.lines().map(|l| format!("      {l}\n")).collect();
    format!(
        "apiVersion: {GROUP}/{VERSION}
kind: CoderTemplate
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    team: platform
spec:
  displayName: Docker
{extra}  files:
    main.tf: |
{indented}"
    )
}

/// A CoderWorkspace manifest.
pub fn workspace_manifest(namespace: &str, name: &str, template: &str) -> String {
    format!(
        "apiVersion: {GROUP}/{VERSION}
kind: CoderWorkspace
metadata:
  name: {name}
  namespace: {namespace}
  labels:
    team: platform
  annotations:
    example.com/owner-team: platform
spec:
  organization: {ORG}
  templateName: {template}
  running: true
"
    )
}

/// A field of the fake's JSON snapshot of one object (`templates()`, `workspaces()`), by name.
pub fn find_named<'a>(items: &'a [Value], name: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["name"] == name)
}
