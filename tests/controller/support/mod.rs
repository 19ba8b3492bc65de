//! Shared helpers of the controller tests: the fake API server and ways to drive the controller
//! against it. Each test binary uses a subset.
#![allow(dead_code)]

pub mod fake_kube;

use crate::objects;

use std::time::Duration;

use coder_k8s::api::coder::v1alpha1::CoderControlPlane;
use coder_k8s::controller::{Settings, run_with_client};
use coder_k8s::shutdown::Shutdown;
use fake_kube::FakeKube;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

/// Upper bound of every wait: a safety net so a broken controller fails the test instead of
/// hanging it, not a statement about how fast things should be.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(20);

/// Polls `check` until it returns `Some`, for at most [`WAIT_LIMIT`].
pub async fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let rounds = WAIT_LIMIT.as_millis() / POLL.as_millis();
    for _ in 0..rounds {
        if let Some(value) = check() {
            return value;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("gave up waiting for: {what}");
}

pub fn test_settings() -> Settings {
    Settings {
        instance: Some("test".into()),
        max_backoff: Some(Duration::from_millis(200)),
        ..Settings::default()
    }
}

pub struct Running {
    pub shutdown: Shutdown,
    pub task: tokio::task::JoinHandle<coder_k8s::controller::Result<()>>,
}

impl Running {
    /// Stops the controller and returns how it ended.
    pub async fn stop(self) -> coder_k8s::controller::Result<()> {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT_LIMIT, self.task)
            .await
            .expect("controller stops after shutdown")
            .expect("controller task does not panic")
    }
}

pub fn start(fake: &FakeKube, tag: &str, settings: Settings) -> Running {
    let shutdown = Shutdown::new();
    let task = tokio::spawn(run_with_client(
        fake.client(tag),
        settings,
        shutdown.clone(),
    ));
    Running { shutdown, task }
}

pub async fn create_ccp(
    fake: &FakeKube,
    name: &str,
    namespace: &str,
    spec: Value,
) -> CoderControlPlane {
    let api: Api<CoderControlPlane> = Api::namespaced(fake.client("test"), namespace);
    let obj: CoderControlPlane =
        serde_json::from_value(objects::control_plane_in(namespace, name, spec))
            .expect("valid CoderControlPlane");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create CoderControlPlane")
}

pub fn ccp(fake: &FakeKube, namespace: &str, name: &str) -> Option<Value> {
    fake.get("coder.com", "codercontrolplanes", namespace, name)
}

pub fn condition(obj: &Value, type_: &str) -> Option<Value> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
}

pub fn phase(obj: &Value) -> Option<String> {
    obj.pointer("/status/phase")?.as_str().map(str::to_string)
}

/// Marks the Deployment rolled out and ready, as the Deployment controller would.
pub async fn make_deployment_ready(fake: &FakeKube, namespace: &str, name: &str) {
    let deployment = fake
        .get("apps", "deployments", namespace, name)
        .expect("deployment exists");
    let replicas = deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let generation = deployment
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(fake.client("test"), namespace);
    api.patch_status(
        name,
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(json!({"status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "readyReplicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
        }})),
    )
    .await
    .expect("patch deployment status");
}
