//! CoderControlPlane parity with Coder's Helm chart and the Go coder-k8s project, against a
//! real kube-apiserver v1.36 (envtest) and the fake coderd: the license of `licenseSecretRef`
//! uploaded once and again when the Secret changes, a refused license reported with coderd's
//! message and not resent, entitlements in status, the Gateway API HTTPRoute with and without
//! the Gateway API CRDs, volumes / CA certificates / topology spread in the Deployment with hand
//! edits reverted, and coder-k8s' own sample manifests accepted unchanged.
//!
//! Each test runs its own controller, scoped to its own namespace.

use crate::objects;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use coder_k8s::controller::{Settings, run_with_client};
use coder_k8s::shutdown::Shutdown;
use envtest::ControlPlane;
use fake_coderd::FakeCoderd;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn route_resource() -> ApiResource {
    ApiResource {
        group: "gateway.networking.k8s.io".into(),
        version: "v1".into(),
        api_version: "gateway.networking.k8s.io/v1".into(),
        kind: "HTTPRoute".into(),
        plural: "httproutes".into(),
    }
}

async fn kubectl(cp: &ControlPlane, args: &[&str]) -> (bool, String) {
    let output = tokio::time::timeout(WAIT, cp.kubectl().args(args).output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
        .expect("run kubectl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Our CRDs, as `kubectl apply -f generated/crds/` installs them (client-side: the
/// last-applied annotation must fit), once for every module of this binary.
async fn install_crd(cp: &ControlPlane) {
    crate::install_crds(cp, &["codercontrolplanes.coder.com"]).await;
}

/// A namespace, a controller scoped to it, and the admin's CoderControlPlane API there.
struct Harness {
    cp: &'static ControlPlane,
    namespace: String,
    client: kube::Client,
    shutdown: Shutdown,
    controller: tokio::task::JoinHandle<coder_k8s::controller::Result<()>>,
}

impl Harness {
    async fn start(prefix: &str) -> Self {
        let cp = envtest::shared();
        install_crd(cp).await;
        let namespace = cp.create_namespace(prefix).await;
        let client = cp.admin_client().await;
        let shutdown = Shutdown::new();
        let settings = Settings {
            namespace: Some(namespace.clone()),
            instance: Some(prefix.into()),
            ..Settings::default()
        };
        let controller = tokio::spawn(run_with_client(client.clone(), settings, shutdown.clone()));
        Self {
            cp,
            namespace,
            client,
            shutdown,
            controller,
        }
    }

    fn ccps(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &objects::control_plane_resource(),
        )
    }

    async fn create(&self, name: &str, spec: Value) {
        self.ccps()
            .create(
                &PostParams::default(),
                &objects::control_plane_object(name, spec),
            )
            .await
            .expect("create CoderControlPlane");
    }

    /// The whole object (metadata included).
    async fn get(&self, name: &str) -> Value {
        serde_json::to_value(self.ccps().get(name).await.expect("get")).expect("JSON")
    }

    /// Waits until `check` holds on the object; the failure shows its last status.
    async fn wait_for(&self, name: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let api = self.ccps();
        envtest::poll_until(what, WAIT, || {
            let api = api.clone();
            let check = &check;
            async move {
                let obj = api.get(name).await.map_err(|e| e.to_string())?;
                let full = serde_json::to_value(&obj).map_err(|e| e.to_string())?;
                if check(&full) {
                    Ok(full)
                } else {
                    Err(format!("status: {}", full["status"]))
                }
            }
        })
        .await
    }

    /// The object once its resourceVersion has stayed the same for two seconds.
    async fn settled(&self, name: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = self.get(name).await;
        let mut quiet = 0;
        while quiet < 4 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} keeps changing: {}",
                last["status"]
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = self.get(name).await;
            if now["metadata"]["resourceVersion"] == last["metadata"]["resourceVersion"] {
                quiet += 1;
            } else {
                quiet = 0;
            }
            last = now;
        }
        last
    }

    async fn put_secret(&self, name: &str, key: &str, value: &str) {
        let secrets: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name},
            "data": {key: base64::engine::general_purpose::STANDARD.encode(value)},
        });
        secrets
            .patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&secret),
            )
            .await
            .expect("apply Secret");
    }

    /// Starts a reconcile without changing the spec: a child's change is an event the
    /// controller watches.
    async fn nudge(&self, name: &str, value: &str) {
        let services: Api<k8s_openapi::api::core::v1::Service> =
            Api::namespaced(self.client.clone(), &self.namespace);
        services
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"annotations": {"test/nudge": value}}})),
            )
            .await
            .expect("annotate the Service");
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.controller)
            .await
            .expect("controller stops")
            .expect("no panic")
            .expect("controller ran cleanly");
    }
}

fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

fn has_condition(obj: &Value, type_: &str, status: &str, reason: &str) -> bool {
    condition(obj, type_).is_some_and(|c| c["status"] == status && c["reason"] == reason)
}

fn license_uploads(coder: &FakeCoderd) -> usize {
    coder
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v2/licenses")
        .count()
}

fn sha256_hex(text: &str) -> String {
    coder_k8s::coder::LicenseJwt::new(text).sha256_hex()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_license_is_uploaded_once_again_on_change_and_a_refused_one_is_not_resent() {
    let h = Harness::start("license").await;
    let coder = FakeCoderd::start().await;
    let enterprise = fake_coderd::license::sign(&fake_coderd::license::claims(
        "enterprise",
        Duration::from_secs(30 * 86400),
    ))
    .expect("sign");
    h.put_secret("coder-license", "license", &format!("{enterprise}\n"))
        .await;
    h.create(
        "licensed",
        json!({
            "operatorAccess": {"url": coder.url()},
            "licenseSecretRef": {"name": "coder-license"},
        }),
    )
    .await;

    let obj = h
        .wait_for("licensed", "the license applied", |o| {
            has_condition(o, "LicenseApplied", "True", "Applied")
                && o["status"]["licenseTier"] == "enterprise"
        })
        .await;
    let status = &obj["status"];
    assert_eq!(status["licenseLastAppliedHash"], sha256_hex(&enterprise));
    assert!(status["licenseLastApplied"].is_string(), "{status}");
    assert!(status["entitlementsLastChecked"].is_string(), "{status}");
    assert_eq!(status["externalProvisionerDaemonsEntitlement"], "entitled");
    assert!(
        has_condition(&obj, "Entitlements", "True", "Checked"),
        "{status}"
    );
    assert_eq!(coder.admin().licenses().len(), 1);
    assert_eq!(license_uploads(&coder), 1);

    // Re-reconciles write nothing: no upload, no status write. (Operator access may still
    // settle its own condition right after bootstrap: start from a quiet object.)
    let obj = h.settled("licensed").await;
    let version = obj["metadata"]["resourceVersion"].clone();
    for round in 0..3 {
        h.nudge("licensed", &round.to_string()).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(license_uploads(&coder), 1);
    let after = h.get("licensed").await;
    assert_eq!(
        after["metadata"]["resourceVersion"], version,
        "before: {}\nafter: {}",
        obj["status"], after["status"]
    );

    // A new license in the Secret is uploaded (the Secret watch starts the reconcile).
    let premium = fake_coderd::license::sign(&fake_coderd::license::claims(
        "premium",
        Duration::from_secs(30 * 86400),
    ))
    .expect("sign");
    h.put_secret("coder-license", "license", &premium).await;
    let obj = h
        .wait_for("licensed", "the new license applied", |o| {
            o["status"]["licenseLastAppliedHash"] == sha256_hex(&premium)
        })
        .await;
    assert_eq!(obj["status"]["licenseTier"], "premium");
    assert!(has_condition(&obj, "LicenseApplied", "True", "Applied"));
    assert_eq!(license_uploads(&coder), 2);

    // Garbage: coderd's refusal is the condition, and it is not sent again.
    h.put_secret("coder-license", "license", "not-a-license")
        .await;
    let obj = h
        .wait_for("licensed", "the refusal reported", |o| {
            has_condition(o, "LicenseApplied", "False", "Rejected")
        })
        .await;
    let message = condition(&obj, "LicenseApplied").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("Invalid license"), "{message}");
    assert!(
        !message.contains("not-a-license"),
        "the JWT is not echoed: {message}"
    );
    // The last license that worked stays recorded.
    assert_eq!(
        obj["status"]["licenseLastAppliedHash"],
        sha256_hex(&premium)
    );
    assert_eq!(license_uploads(&coder), 3);
    for round in 3..6 {
        h.nudge("licensed", &round.to_string()).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    assert_eq!(
        license_uploads(&coder),
        3,
        "a refused license is not retried"
    );
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_license_secret_is_a_condition_and_its_creation_uploads() {
    let h = Harness::start("license-missing").await;
    let coder = FakeCoderd::start().await;
    h.create(
        "waiting",
        json!({
            "operatorAccess": {"url": coder.url()},
            "licenseSecretRef": {"name": "later", "key": "jwt"},
        }),
    )
    .await;
    let obj = h
        .wait_for("waiting", "SecretMissing", |o| {
            has_condition(o, "LicenseApplied", "False", "SecretMissing")
        })
        .await;
    // Unlicensed coderd: tier none, the provisioner feature not entitled.
    let obj = if obj["status"]["licenseTier"].is_null() {
        h.wait_for("waiting", "entitlements", |o| {
            o["status"]["licenseTier"].is_string()
        })
        .await
    } else {
        obj
    };
    assert_eq!(obj["status"]["licenseTier"], "none");
    assert_eq!(
        obj["status"]["externalProvisionerDaemonsEntitlement"],
        "not_entitled"
    );

    let jwt = fake_coderd::license::sign(&fake_coderd::license::claims(
        "enterprise",
        Duration::from_secs(86400),
    ))
    .expect("sign");
    h.put_secret("later", "jwt", &jwt).await;
    h.wait_for("waiting", "applied once the Secret exists", |o| {
        has_condition(o, "LicenseApplied", "True", "Applied")
            && o["status"]["licenseTier"] == "enterprise"
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_certs_and_topology_reach_the_deployment_and_hand_edits_are_reverted() {
    let h = Harness::start("pod-fields").await;
    h.create(
        "pods",
        json!({
            "envUseClusterAccessURL": false,
            "certs": {"secrets": [{"name": "corp-ca", "key": "ca.crt"}]},
            "volumes": [{"name": "cache", "emptyDir": {}}],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "pods"}}
            }],
            "podAnnotations": {"prometheus.io/scrape": "true"},
        }),
    )
    .await;
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), &h.namespace);
    let pod_spec = |d: &Deployment| {
        serde_json::to_value(d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()).unwrap()
    };
    let deployment = envtest::poll_until("the Deployment", WAIT, || {
        let deployments = deployments.clone();
        async move {
            deployments
                .get_opt("pods")
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "not yet".to_string())
        }
    })
    .await;
    let pod = pod_spec(&deployment);
    let volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(volumes, vec!["ca-cert-0", "cache"]);
    assert_eq!(pod["volumes"][0]["secret"]["secretName"], "corp-ca");
    let mounts = &pod["containers"][0]["volumeMounts"];
    assert_eq!(
        mounts[0],
        json!({"name": "ca-cert-0", "mountPath": "/etc/ssl/certs/corp-ca.crt", "subPath": "ca.crt", "readOnly": true})
    );
    assert_eq!(mounts[1]["mountPath"], "/cache");
    assert_eq!(
        pod["topologySpreadConstraints"][0]["topologyKey"],
        "topology.kubernetes.io/zone"
    );
    let env = pod["containers"][0]["env"].as_array().unwrap();
    assert!(
        env.iter().all(|e| e["name"] != "CODER_ACCESS_URL"),
        "envUseClusterAccessURL: false: {env:?}"
    );
    let template_meta = &serde_json::to_value(&deployment).unwrap()["spec"]["template"]["metadata"];
    assert_eq!(template_meta["annotations"]["prometheus.io/scrape"], "true");

    // Hand edits: a volume added and the spread constraint removed, by another manager.
    let (ok, text) = kubectl(
        h.cp,
        &[
            "-n", &h.namespace, "patch", "deployment", "pods", "--type=json",
            "-p", r#"[{"op":"add","path":"/spec/template/spec/volumes/-","value":{"name":"extra","emptyDir":{}}},{"op":"remove","path":"/spec/template/spec/topologySpreadConstraints"}]"#,
        ],
    )
    .await;
    assert!(ok, "{text}");
    envtest::poll_until("the hand edits reverted", WAIT, || {
        let deployments = deployments.clone();
        async move {
            let d = deployments.get("pods").await.map_err(|e| e.to_string())?;
            let pod = pod_spec(&d);
            let names: Vec<String> = pod["volumes"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .filter_map(|v| v["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let spread = pod["topologySpreadConstraints"]
                .as_array()
                .map_or(0, Vec::len);
            (names == ["ca-cert-0", "cache"] && spread == 1)
                .then_some(())
                .ok_or_else(|| format!("volumes {names:?}, {spread} spread constraints"))
        }
    })
    .await;
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_httproute_is_reported_absent_without_gateway_api_and_created_with_it() {
    let h = Harness::start("gateway").await;
    let gateway = json!({
        "host": "coder.example.com",
        "wildcardHost": "*.apps.example.com",
        "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
    });
    // Ingress and Gateway exposure are exclusive (CEL in the CRD).
    let both: DynamicObject = objects::control_plane_object(
        "both",
        json!({"expose": {"gateway": gateway.clone(), "ingress": {"host": "coder.example.com"}}}),
    );
    let refused = h
        .ccps()
        .create(&PostParams::default(), &both)
        .await
        .expect_err("both exposures refused");
    assert!(
        refused
            .to_string()
            .contains("only one of ingress or gateway"),
        "{refused}"
    );
    // Load balancer settings on a ClusterIP Service are refused too (CEL), not ignored.
    let cluster_ip: DynamicObject =
        objects::control_plane_object("lb", json!({"service": {"loadBalancerIP": "10.0.0.9"}}));
    let refused = h
        .ccps()
        .create(&PostParams::default(), &cluster_ip)
        .await
        .expect_err("loadBalancerIP on ClusterIP refused");
    assert!(
        refused.to_string().contains("need type LoadBalancer"),
        "{refused}"
    );
    // As in coder-k8s: one envFrom entry names one source.
    let two_sources: DynamicObject = objects::control_plane_object(
        "envfrom",
        json!({"envFrom": [{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]}),
    );
    let refused = h
        .ccps()
        .create(&PostParams::default(), &two_sources)
        .await
        .expect_err("an envFrom entry with two sources refused");
    assert!(
        refused
            .to_string()
            .contains("at most one of configMapRef or secretRef"),
        "{refused}"
    );

    // This test installs the Gateway API CRDs itself, after the first check: they must not
    // be in the cluster yet (no other test of this binary installs them).
    h.create("routed", json!({"expose": {"gateway": gateway.clone()}}))
        .await;
    let obj = h
        .wait_for("routed", "GatewayAPINotInstalled", |o| {
            has_condition(o, "HTTPRoute", "False", "GatewayAPINotInstalled")
        })
        .await;
    // Nothing else broke: every other child exists and nothing is Degraded.
    assert!(
        has_condition(&obj, "Degraded", "False", "ReconcileSucceeded"),
        "{}",
        obj["status"]
    );
    let deployments: Api<Deployment> = Api::namespaced(h.client.clone(), &h.namespace);
    assert!(deployments.get_opt("routed").await.unwrap().is_some());

    let fixture =
        format!("{ROOT}/tests/fixtures/gateway-api/gateway.networking.k8s.io_httproutes.yaml");
    // Server-side: the CRD is larger than the last-applied annotation allows.
    let (ok, text) = kubectl(h.cp, &["apply", "--server-side", "-f", &fixture]).await;
    assert!(ok, "{text}");
    h.cp.wait_crd_established("httproutes.gateway.networking.k8s.io")
        .await;
    // The controller looks again within two minutes; a spec change makes it look now.
    h.ccps()
        .patch(
            "routed",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"expose": {"gateway": {"wildcardHost": "*-apps.example.com"}}}}),
            ),
        )
        .await
        .expect("patch");
    let obj = h
        .wait_for("routed", "HTTPRoute applied", |o| {
            has_condition(o, "HTTPRoute", "True", "Applied")
        })
        .await;
    let routes: Api<DynamicObject> =
        Api::namespaced_with(h.client.clone(), &h.namespace, &route_resource());
    let route = routes.get("routed").await.expect("HTTPRoute").data;
    assert_eq!(
        route["spec"]["hostnames"],
        json!(["coder.example.com", "*.example.com"])
    );
    assert_eq!(route["spec"]["parentRefs"][0]["name"], "public");
    assert_eq!(route["spec"]["parentRefs"][0]["namespace"], "gateways");
    assert_eq!(route["spec"]["parentRefs"][0]["sectionName"], "https");
    let backend = &route["spec"]["rules"][0]["backendRefs"][0];
    assert_eq!(backend["name"], "routed");
    assert_eq!(backend["port"], 80);
    let uid = obj["metadata"]["uid"].clone();
    let routed = serde_json::to_value(routes.get("routed").await.unwrap()).unwrap();
    assert_eq!(routed["metadata"]["ownerReferences"][0]["uid"], uid);

    // A hand edit of the route is put back on the next reconcile (routes are not watched:
    // a child's event starts one here; otherwise the 5-minute resync).
    routes
        .patch(
            "routed",
            &PatchParams::apply("someone").force(),
            &Patch::Apply(json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "spec": {"hostnames": ["evil.example.com"]},
            })),
        )
        .await
        .expect("hand edit");
    h.nudge("routed", "edit").await;
    envtest::poll_until("the route's hosts put back", WAIT, || {
        let routes = routes.clone();
        async move {
            let route = routes.get("routed").await.map_err(|e| e.to_string())?.data;
            (route["spec"]["hostnames"] == json!(["coder.example.com", "*.example.com"]))
                .then_some(())
                .ok_or_else(|| format!("{}", route["spec"]["hostnames"]))
        }
    })
    .await;

    // Unset: the route goes, and so does the condition.
    h.ccps()
        .patch(
            "routed",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"expose": null}})),
        )
        .await
        .expect("patch");
    h.wait_for("routed", "the HTTPRoute condition removed", |o| {
        condition(o, "HTTPRoute").is_none()
    })
    .await;
    assert!(routes.get_opt("routed").await.unwrap().is_none());
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coder_k8s_sample_manifests_apply_unchanged() {
    let cp = envtest::shared();
    install_crd(cp).await;
    let dir = Path::new(ROOT).join("tests/fixtures/coder-k8s-samples");
    let mut applied = 0;
    for entry in std::fs::read_dir(&dir).expect("samples") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read sample");
        // The samples name their namespace; it has to exist for a dry run.
        for namespace in text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("namespace: "))
        {
            let _ = kubectl(cp, &["create", "namespace", namespace.trim()]).await;
        }
        let file = path.display().to_string();
        let (ok, text) = kubectl(cp, &["apply", "--dry-run=server", "-f", &file]).await;
        assert!(ok, "{file}: {text}");
        assert!(text.contains("(server dry run)"), "{file}: {text}");
        applied += 1;
    }
    assert!(applied >= 3, "samples found: {applied}");
}
