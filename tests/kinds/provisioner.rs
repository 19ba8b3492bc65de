//! CoderProvisioner end to end: the controller (as its deployed ServiceAccount) against a real
//! kube-apiserver + kube-controller-manager and the fake coderd. A provisioner goes Ready with
//! a key in coderd carrying its tags and a Deployment whose pods read that key from the
//! Secret; new tags replace the key; deletion deletes it in coderd and garbage collection takes
//! the children; without the entitlement there is a condition and no Deployment; coderd failing
//! is retried with backoff under one Warning Event; a restarted controller writes nothing; a
//! manifest in coder/coder-k8s' field names applies unchanged.
//!
//! Tests run one at a time (each takes [`exclusive`]): each starts its own controller.

use crate::{objects, our_binary};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use coder_k8s::api::coder::v1alpha1::CoderProvisioner;
use envtest::ControlPlane;
use fake_coderd::{Entitlement, FakeCoderd};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

/// Upper bound of waits (generous for a busy two-core machine; they usually take a second).
const WAIT: Duration = Duration::from_secs(90);
const FEATURE: &str = "external_provisioner_daemons";

static SERIAL: Mutex<()> = Mutex::const_new(());
static INSTALLED: OnceCell<PathBuf> = OnceCell::const_new();

async fn exclusive() -> (MutexGuard<'static, ()>, &'static ControlPlane, PathBuf) {
    let guard = SERIAL.lock().await;
    let cp = envtest::shared_with_controller_manager();
    let kubeconfig = INSTALLED.get_or_init(|| install(cp)).await.clone();
    (guard, cp, kubeconfig)
}

/// The CRDs and the controller's namespace, ServiceAccount and RBAC exactly as shipped
/// (installed once for every module of this binary, see `main.rs`).
async fn install(cp: &'static ControlPlane) -> PathBuf {
    crate::install_crds(
        cp,
        &[
            "codercontrolplanes.coder.com",
            "coderprovisioners.coder.com",
        ],
    )
    .await;
    crate::deployed_service_account(cp).await
}

async fn kubectl_output(cp: &ControlPlane, args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut cmd = cp.kubectl();
    cmd.args(args);
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run kubectl");
    if let Some(text) = stdin {
        use tokio::io::AsyncWriteExt;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let output = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
        .expect("kubectl output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `coder-k8s --app=controller` as the controller's ServiceAccount, logging to a file.
struct Controller {
    process: our_binary::OurProcess,
}

impl Controller {
    /// Scoped to `namespace`: the modules of this binary share one kube-apiserver, and a
    /// cluster-wide controller would also reconcile the other modules' objects.
    fn start(cp: &ControlPlane, kubeconfig: &Path, namespace: &str) -> Self {
        let mut cmd = our_binary::controller(kubeconfig, "info,coder_k8s=debug");
        cmd.arg(format!("--namespace={namespace}"));
        let process = our_binary::spawn(cp, "coder-k8s controller", "controller-provisioner", cmd);
        Self { process }
    }

    fn log_text(&self) -> String {
        self.process.log_text()
    }

    /// Waits until the controller logged a finished reconcile of `namespace/name`.
    async fn wait_reconciled(&self, namespace: &str, name: &str) {
        let needle = format!("object={namespace}/{name}");
        envtest::poll_until("the restarted controller reconciled", WAIT, || {
            let text = self.log_text();
            let needle = needle.clone();
            async move {
                text.lines()
                    .any(|l| l.contains("reconciled CoderProvisioner") && l.contains(&needle))
                    .then_some(())
                    .ok_or_else(|| "not yet".to_string())
            }
        })
        .await;
    }

    /// SIGTERM and a clean exit; the real authorizer refused nothing, and no secret reached
    /// the log.
    async fn stop(mut self, secrets: &[&str]) {
        let text = self
            .process
            .terminate_cleanly(Duration::from_secs(30))
            .await;
        let refused = our_binary::refusals(&text);
        assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
        for secret in secrets {
            assert!(
                !text.contains(secret),
                "a secret value is in the controller's log"
            );
        }
    }
}

/// A fake coderd with an owner, the external provisioner entitlement as given, and a
/// CoderControlPlane in `namespace` whose operator access uses the owner's token. Returns the
/// fake and the token.
async fn coderd_and_control_plane(
    client: &kube::Client,
    namespace: &str,
    entitlement: Entitlement,
) -> (FakeCoderd, String) {
    let coder = FakeCoderd::start().await;
    coder
        .admin()
        .create_first_user("owner@example.com", "owner", "Owner-password-1!")
        .expect("first user");
    coder
        .admin()
        .set_entitlement(FEATURE, entitlement)
        .expect("entitlement");
    let token = coder.admin().api_token("owner").expect("token");
    let secret: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "owner-token", "namespace": namespace},
        "stringData": {"token": token},
    }))
    .expect("secret");
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");
    objects::create_control_plane(
        client,
        namespace,
        "coder",
        json!({
            "image": "ghcr.io/coder/coder:v2.99.0",
            "operatorAccess": {"url": coder.url(), "tokenSecretRef": {"name": "owner-token"}},
        }),
    )
    .await;
    (coder, token)
}

async fn wait_operator_access(client: &kube::Client, namespace: &str) {
    let api = objects::control_planes(client, namespace);
    envtest::poll_until("the control plane's operator access", WAIT, || {
        let api = api.clone();
        async move {
            let obj = api.get("coder").await.map_err(|e| e.to_string())?;
            let ready = obj.data.pointer("/status/operatorAccessReady") == Some(&json!(true));
            ready
                .then_some(())
                .ok_or(format!("{:?}", obj.data.get("status")))
        }
    })
    .await;
}

async fn create_provisioner(client: &kube::Client, namespace: &str, name: &str, spec: Value) {
    let obj: CoderProvisioner = serde_json::from_value(json!({
        "apiVersion": "coder.com/v1alpha1",
        "kind": "CoderProvisioner",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }))
    .expect("object");
    Api::<CoderProvisioner>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &obj)
        .await
        .expect("create CoderProvisioner");
}

/// Waits until condition `type_` has `status` and `reason`; returns the object's JSON.
async fn wait_condition(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    type_: &str,
    status: &str,
    reason: &str,
) -> Value {
    let api: Api<CoderProvisioner> = Api::namespaced(client.clone(), namespace);
    envtest::poll_until(
        &format!("{name}: {type_}={status} ({reason})"),
        WAIT,
        || {
            let api = api.clone();
            async move {
                let obj = api.get(name).await.map_err(|e| e.to_string())?;
                let obj = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
                let condition = obj
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
                    .cloned();
                match condition {
                    Some(c) if c["status"] == status && c["reason"] == reason => Ok(obj),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await
}

async fn key_in_secret(client: &kube::Client, namespace: &str, name: &str) -> String {
    let secret = Api::<Secret>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .expect("the key Secret exists");
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get("key"))
        .expect("the Secret holds the key under `key`");
    String::from_utf8(bytes.0.clone()).expect("utf-8")
}

/// The fake's keys by name → tags.
fn keys_in_coderd(coder: &FakeCoderd) -> BTreeMap<String, Value> {
    coder
        .admin()
        .provisioner_keys()
        .into_iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap_or_default().to_string(),
                k["tags"].clone(),
            )
        })
        .collect()
}

fn resource_version<K: kube::Resource>(obj: &K) -> String {
    obj.meta().resource_version.clone().unwrap_or_default()
}

/// resourceVersions of the daemons' ServiceAccount, Role and RoleBinding, which must exist and
/// be owned by the provisioner.
async fn rbac_versions(client: &kube::Client, namespace: &str) -> [String; 3] {
    let sa = Api::<ServiceAccount>::namespaced(client.clone(), namespace)
        .get("eu-provisioner")
        .await
        .expect("ServiceAccount");
    let role = Api::<Role>::namespaced(client.clone(), namespace)
        .get("provisioner-eu")
        .await
        .expect("Role");
    let binding = Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .get("provisioner-eu")
        .await
        .expect("RoleBinding");
    for owners in [
        &sa.metadata.owner_references,
        &role.metadata.owner_references,
        &binding.metadata.owner_references,
    ] {
        assert_eq!(
            owners.as_deref().unwrap_or_default()[0].kind,
            "CoderProvisioner"
        );
    }
    [
        resource_version(&sa),
        resource_version(&role),
        resource_version(&binding),
    ]
}

#[tokio::test]
async fn ready_with_a_tagged_key_rotation_restart_and_deletion() {
    let (_guard, cp, kubeconfig) = exclusive().await;
    let client = cp.admin_client().await;
    let namespace = cp.create_namespace("provisioner").await;
    let (coder, token) = coderd_and_control_plane(&client, &namespace, Entitlement::Entitled).await;
    let controller = Controller::start(cp, &kubeconfig, &namespace);
    wait_operator_access(&client, &namespace).await;

    create_provisioner(
        &client,
        &namespace,
        "eu",
        json!({
            "controlPlaneRef": {"name": "coder"},
            "tags": {"scope": "organization", "region": "eu"},
            "replicas": 2,
        }),
    )
    .await;
    let obj = wait_condition(
        &client,
        &namespace,
        "eu",
        "DeploymentReady",
        "False",
        "NoReplicasReady",
    )
    .await;
    for type_ in [
        "ControlPlaneReady",
        "OperatorAccessReady",
        "ExternalProvisionersEntitled",
        "ProvisionerKeyReady",
        "ProvisionerKeySecretReady",
    ] {
        let condition = obj["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
            .unwrap_or_else(|| panic!("{type_}: {obj}"));
        assert_eq!(condition["status"], "True", "{type_}: {obj}");
    }
    assert_eq!(obj["status"]["phase"], "Pending");
    assert_eq!(obj["status"]["provisionerKeyName"], "eu");
    assert_eq!(obj["status"]["controlPlaneURL"], coder.url());
    assert_eq!(
        obj["status"]["secretRef"],
        json!({"name": "eu-provisioner-key", "key": "key"})
    );
    assert_eq!(
        obj["metadata"]["finalizers"],
        json!(["coder.com/provisioner-key-cleanup"])
    );

    // The key in coderd carries the tags, and the Secret holds a key coderd accepts.
    let keys = keys_in_coderd(&coder);
    assert_eq!(
        keys.get("eu"),
        Some(&json!({"scope": "organization", "region": "eu"})),
        "{keys:?}"
    );
    let first_key = key_in_secret(&client, &namespace, "eu-provisioner-key").await;
    assert!(coder.admin().provisioner_key_valid(&first_key));
    let key_id = obj["status"]["provisionerKeyID"]
        .as_str()
        .expect("key id")
        .to_string();
    assert_eq!(
        coder
            .admin()
            .provisioner_keys()
            .iter()
            .find(|k| k["name"] == "eu")
            .map(|k| k["id"].clone()),
        Some(json!(key_id))
    );

    // The Deployment's pods get coderd's URL and the key from the Secret, never the value.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let deployment = deployments.get("provisioner-eu").await.expect("Deployment");
    let owner = &deployment
        .metadata
        .owner_references
        .as_ref()
        .expect("owner")[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("CoderProvisioner", Some(true))
    );
    let pod = deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("ghcr.io/coder/coder:v2.99.0")
    );
    let env = container.env.as_deref().unwrap_or_default();
    let var = |name: &str| {
        env.iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    assert_eq!(
        var("CODER_URL").value.as_deref(),
        Some(coder.url().as_str())
    );
    let from = var("CODER_PROVISIONER_DAEMON_KEY")
        .value_from
        .as_ref()
        .and_then(|f| f.secret_key_ref.as_ref())
        .expect("the key comes from a Secret");
    assert_eq!(
        (from.name.as_str(), from.key.as_str()),
        ("eu-provisioner-key", "key")
    );
    assert_eq!(deployment.spec.as_ref().unwrap().replicas, Some(2));
    let pod_text = serde_json::to_string(&deployment).unwrap();
    assert!(
        !pod_text.contains(&first_key),
        "the key is not in the Deployment"
    );

    // The Deployment controller made the pods; they read the key from the Secret. No kubelet
    // or scheduler runs here: report one pod ready as a kubelet would.
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let pod = envtest::poll_until("the provisioner pods", WAIT, || {
        let pods = pods.clone();
        async move {
            let list = pods
                .list(&ListParams::default().labels("app.kubernetes.io/instance=eu"))
                .await
                .map_err(|e| e.to_string())?;
            list.items
                .into_iter()
                .next()
                .ok_or("no pod yet".to_string())
        }
    })
    .await;
    let pod_env = pod.spec.as_ref().unwrap().containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let pod_key = pod_env
        .iter()
        .find(|e| e.name == "CODER_PROVISIONER_DAEMON_KEY")
        .and_then(|e| e.value_from.as_ref()?.secret_key_ref.as_ref())
        .expect("the pod reads the key from a Secret");
    assert_eq!(pod_key.name, "eu-provisioner-key");
    assert_eq!(
        pod.spec.as_ref().unwrap().service_account_name.as_deref(),
        Some("eu-provisioner")
    );
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    pods.patch_status(
        pod.metadata.name.as_deref().unwrap(),
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "lastTransitionTime": now},
            ],
        }})),
    )
    .await
    .expect("patch the pod's status");
    let obj = wait_condition(
        &client,
        &namespace,
        "eu",
        "DeploymentReady",
        "True",
        "MinimumReplicasReady",
    )
    .await;
    assert_eq!(obj["status"]["phase"], "Ready");
    assert_eq!(obj["status"]["readyReplicas"], 1);

    // A restarted controller writes nothing to the converged objects and asks coderd for no key.
    controller.stop(&[&token, &first_key]).await;
    let provisioners: Api<CoderProvisioner> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let before = (
        resource_version(&provisioners.get("eu").await.unwrap()),
        resource_version(&secrets.get("eu-provisioner-key").await.unwrap()),
        resource_version(&deployments.get("provisioner-eu").await.unwrap()),
        rbac_versions(&client, &namespace).await,
    );
    coder.clear_requests();
    let controller = Controller::start(cp, &kubeconfig, &namespace);
    controller.wait_reconciled(&namespace, "eu").await;
    // Room for anything a second, event-driven reconcile would write.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = (
        resource_version(&provisioners.get("eu").await.unwrap()),
        resource_version(&secrets.get("eu-provisioner-key").await.unwrap()),
        resource_version(&deployments.get("provisioner-eu").await.unwrap()),
        rbac_versions(&client, &namespace).await,
    );
    assert_eq!(before, after, "a restart wrote to a converged object");
    let key_calls: Vec<String> = coder
        .requests()
        .iter()
        .filter(|r| r.path.contains("/provisionerkeys"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(key_calls.is_empty(), "{key_calls:?}");

    // New tags: a new key with them, the old one deleted in coderd, the pods roll.
    provisioners
        .patch(
            "eu",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"tags": {"scope": "organization", "region": "eu-west"}}}),
            ),
        )
        .await
        .expect("patch tags");
    let second_key = envtest::poll_until("a rotated key", WAIT, || {
        let client = client.clone();
        let namespace = namespace.clone();
        let first = first_key.clone();
        async move {
            let key = key_in_secret(&client, &namespace, "eu-provisioner-key").await;
            (key != first)
                .then_some(key)
                .ok_or("still the first key".to_string())
        }
    })
    .await;
    assert!(
        !coder.admin().provisioner_key_valid(&first_key),
        "the old key is gone"
    );
    assert!(coder.admin().provisioner_key_valid(&second_key));
    assert_eq!(
        keys_in_coderd(&coder).get("eu"),
        Some(&json!({"scope": "organization", "region": "eu-west"}))
    );
    // Status reports the new key once the reconcile that made it is through.
    let api: Api<CoderProvisioner> = Api::namespaced(client.clone(), &namespace);
    let new_id = envtest::poll_until("status names the new key", WAIT, || {
        let api = api.clone();
        let key_id = key_id.clone();
        async move {
            let obj = api.get("eu").await.map_err(|e| e.to_string())?;
            let id = obj
                .status
                .and_then(|s| s.provisioner_key_id)
                .unwrap_or_default();
            (!id.is_empty() && id != key_id)
                .then_some(id)
                .ok_or("old key id".to_string())
        }
    })
    .await;
    assert_ne!(new_id, key_id);
    envtest::poll_until("the pod template names the new key", WAIT, || {
        let deployments = deployments.clone();
        let new_id = new_id.clone();
        async move {
            let d = deployments
                .get("provisioner-eu")
                .await
                .map_err(|e| e.to_string())?;
            let annotation = d
                .spec
                .and_then(|s| s.template.metadata)
                .and_then(|m| m.annotations)
                .and_then(|a| a.get("coder.com/provisioner-key-id").cloned());
            (annotation.as_deref() == Some(new_id.as_str()))
                .then_some(())
                .ok_or(format!("{annotation:?}"))
        }
    })
    .await;

    // Key and Secret renamed together: the key under the old name goes too.
    provisioners
        .patch(
            "eu",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"key": {"name": "eu-renamed", "secretName": "eu-renamed-key"}}}),
            ),
        )
        .await
        .expect("patch key names");
    wait_status_field(
        &client,
        &namespace,
        "eu",
        "provisionerKeyName",
        "eu-renamed",
    )
    .await;
    let third_key = key_in_secret(&client, &namespace, "eu-renamed-key").await;
    assert!(coder.admin().provisioner_key_valid(&third_key));
    assert!(!coder.admin().provisioner_key_valid(&second_key));
    let names: Vec<String> = keys_in_coderd(&coder).into_keys().collect();
    assert_eq!(names, ["eu-renamed"], "the old key is deleted in coderd");

    // Deletion: the key goes in coderd, the children with the object.
    provisioners
        .delete("eu", &DeleteParams::default())
        .await
        .expect("delete");
    envtest::poll_until("the CoderProvisioner is gone", WAIT, || {
        let provisioners = provisioners.clone();
        async move {
            match provisioners
                .get_opt("eu")
                .await
                .map_err(|e| e.to_string())?
            {
                None => Ok(()),
                Some(p) => Err(format!("still there: {:?}", p.metadata.finalizers)),
            }
        }
    })
    .await;
    assert!(
        keys_in_coderd(&coder).is_empty(),
        "the key is deleted in coderd"
    );
    assert!(!coder.admin().provisioner_key_valid(&third_key));
    envtest::poll_until("children garbage-collected", WAIT, || {
        let deployments = deployments.clone();
        let secrets = secrets.clone();
        async move {
            let d = deployments
                .get_opt("provisioner-eu")
                .await
                .map_err(|e| e.to_string())?;
            let mut left = Vec::new();
            for name in ["eu-provisioner-key", "eu-renamed-key"] {
                if secrets
                    .get_opt(name)
                    .await
                    .map_err(|e| e.to_string())?
                    .is_some()
                {
                    left.push(name);
                }
            }
            (d.is_none() && left.is_empty())
                .then_some(())
                .ok_or(format!("deployment {}, secrets {left:?}", d.is_some(),))
        }
    })
    .await;
    controller
        .stop(&[&token, &first_key, &second_key, &third_key])
        .await;
}

/// Waits until `status.<field>` is `value`.
async fn wait_status_field(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    field: &str,
    value: &str,
) -> Value {
    let api: Api<CoderProvisioner> = Api::namespaced(client.clone(), namespace);
    envtest::poll_until(&format!("{name}: status.{field}={value}"), WAIT, || {
        let api = api.clone();
        async move {
            let obj = api.get(name).await.map_err(|e| e.to_string())?;
            let obj = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
            (obj["status"][field] == value)
                .then_some(obj.clone())
                .ok_or(format!("{}", obj["status"][field]))
        }
    })
    .await
}

#[tokio::test]
async fn without_the_entitlement_a_condition_and_no_deployment() {
    let (_guard, cp, kubeconfig) = exclusive().await;
    let client = cp.admin_client().await;
    let namespace = cp.create_namespace("provisioner").await;
    let (coder, token) =
        coderd_and_control_plane(&client, &namespace, Entitlement::NotEntitled).await;
    let controller = Controller::start(cp, &kubeconfig, &namespace);
    wait_operator_access(&client, &namespace).await;

    create_provisioner(
        &client,
        &namespace,
        "unlicensed",
        json!({"controlPlaneRef": {"name": "coder"}}),
    )
    .await;
    let obj = wait_condition(
        &client,
        &namespace,
        "unlicensed",
        "ExternalProvisionersEntitled",
        "False",
        "NotEntitled",
    )
    .await;
    let message = obj["status"]["conditions"]
        .as_array()
        .and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == "ExternalProvisionersEntitled")
        })
        .map(|c| c["message"].to_string())
        .unwrap_or_default();
    assert!(message.contains("not entitled"), "{message}");
    assert_eq!(obj["status"]["phase"], "Pending");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    assert!(
        deployments
            .get_opt("provisioner-unlicensed")
            .await
            .unwrap()
            .is_none(),
        "no Deployment without the entitlement"
    );
    assert!(keys_in_coderd(&coder).is_empty(), "no key asked for");

    // Deleting it: no key was made, so none is waited for or warned about.
    let provisioners: Api<CoderProvisioner> = Api::namespaced(client.clone(), &namespace);
    provisioners
        .delete("unlicensed", &DeleteParams::default())
        .await
        .expect("delete");
    envtest::poll_until("the CoderProvisioner is gone", WAIT, || {
        let provisioners = provisioners.clone();
        async move {
            match provisioners
                .get_opt("unlicensed")
                .await
                .map_err(|e| e.to_string())?
            {
                None => Ok(()),
                Some(_) => Err("still there".to_string()),
            }
        }
    })
    .await;
    let warnings: Vec<String> = Api::<Event>::namespaced(client.clone(), &namespace)
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .map(|e| format!("{:?}: {:?}", e.reason, e.note))
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");
    controller.stop(&[&token]).await;
}

#[tokio::test]
async fn coderd_failing_is_retried_with_backoff_under_one_warning() {
    let (_guard, cp, kubeconfig) = exclusive().await;
    let client = cp.admin_client().await;
    let namespace = cp.create_namespace("provisioner").await;
    let (coder, token) = coderd_and_control_plane(&client, &namespace, Entitlement::Entitled).await;
    let controller = Controller::start(cp, &kubeconfig, &namespace);
    wait_operator_access(&client, &namespace).await;

    // coderd's load balancer answers 503 to the next four organization lookups.
    const FAILURES: usize = 4;
    coder.inject_fault(Some("GET"), "/api/v2/organizations/", 503, FAILURES);
    create_provisioner(
        &client,
        &namespace,
        "flaky",
        json!({"controlPlaneRef": {"name": "coder"}}),
    )
    .await;
    wait_condition(
        &client,
        &namespace,
        "flaky",
        "ProvisionerKeyReady",
        "False",
        "CoderdUnreachable",
    )
    .await;

    // Watch the failed attempts arrive: each waits longer than the one before.
    let mut seen_at: Vec<Instant> = Vec::new();
    let deadline = Instant::now() + WAIT;
    while seen_at.len() < FAILURES && Instant::now() < deadline {
        let failed = coder
            .requests()
            .iter()
            .filter(|r| r.status == 503 && r.path.starts_with("/api/v2/organizations/"))
            .count();
        while seen_at.len() < failed {
            seen_at.push(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen_at.len(), FAILURES, "every injected failure was met");
    let first_gap = seen_at[1] - seen_at[0];
    let last_gap = seen_at[3] - seen_at[2];
    assert!(
        last_gap > first_gap && last_gap >= Duration::from_millis(1500),
        "backoff grows: {first_gap:?} then {last_gap:?}"
    );

    // Then the key is made, and the failure left exactly one Warning behind.
    wait_condition(
        &client,
        &namespace,
        "flaky",
        "ProvisionerKeyReady",
        "True",
        "ProvisionerKeyReady",
    )
    .await;
    let failed = coder.requests().iter().filter(|r| r.status == 503).count();
    assert_eq!(failed, FAILURES, "no attempt beyond the injected failures");
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let warnings: Vec<Event> = events
        .list(&ListParams::default())
        .await
        .expect("list events")
        .items
        .into_iter()
        .filter(|e| {
            e.type_.as_deref() == Some("Warning")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("flaky")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert_eq!(warnings[0].reason.as_deref(), Some("CoderdUnreachable"));
    assert!(
        warnings[0].series.is_none(),
        "published once, not as a repeating series: {:?}",
        warnings[0].series
    );
    controller.stop(&[&token]).await;
}

/// Every field of coder/coder-k8s' CoderProvisioner spec, as a manifest written for that
/// project would set them.
const UPSTREAM_MANIFEST: &str = r#"
apiVersion: coder.com/v1alpha1
kind: CoderProvisioner
metadata:
  name: coderprovisioner-sample
spec:
  controlPlaneRef:
    name: codercontrolplane-sample
  organizationName: default
  key:
    name: my-provisioner-key
    secretName: my-key-secret
    secretKey: key
  image: ghcr.io/coder/coder:latest
  replicas: 1
  extraArgs:
    - --verbose
  extraEnv:
    - name: CODER_VERBOSE
      value: "true"
  resources:
    requests:
      cpu: 250m
      memory: 512Mi
  imagePullSecrets:
    - name: regcred
  terminationGracePeriodSeconds: 600
  tags:
    scope: organization
"#;

#[tokio::test]
async fn a_manifest_in_coder_k8s_field_names_applies_unchanged() {
    let (_guard, cp, _) = exclusive().await;
    let namespace = cp.create_namespace("provisioner").await;
    let (ok, text) = kubectl_output(
        cp,
        &[
            "apply",
            "--dry-run=server",
            "-n",
            &namespace,
            "-f",
            "-",
            "-o",
            "json",
        ],
        Some(UPSTREAM_MANIFEST),
    )
    .await;
    assert!(ok, "{text}");
    let applied: Value = serde_json::from_str(&text).expect("kubectl's JSON");
    // Nothing pruned: a field the CRD does not know would be dropped (or refused).
    let sent: Value = serde_saphyr::from_str(UPSTREAM_MANIFEST).expect("manifest");
    for (field, value) in sent["spec"].as_object().expect("spec") {
        assert_eq!(&applied["spec"][field], value, "spec.{field}");
    }
    // The CRD refuses what the controller owns.
    let bad = UPSTREAM_MANIFEST.replace("CODER_VERBOSE", "CODER_URL");
    let (ok, text) = kubectl_output(
        cp,
        &["apply", "--dry-run=server", "-n", &namespace, "-f", "-"],
        Some(&bad),
    )
    .await;
    assert!(!ok && text.contains("set by the controller"), "{text}");
}
