//! Parity with kube-apiserver: the same requests go to our aggregated apiserver and to the real
//! kube-apiserver of the envtest harness, which serves our `CoderWorkspace` schema as a CRD under
//! `parity.coder.com` (the CRD is generated from `schema/coderworkspace.yaml` by the codegen
//! crate here, not copied). Status code, reason and causes (field, reason, message) must match,
//! with the group name as the only substitution.
//!
//! Validation keywords our kinds do not use are compared on a fixture schema
//! (`tests/fixtures/parity/validation.yaml`): kube-apiserver validates it as a CRD, our validator
//! checks the same generated schema.
//!
//! Known, deliberate differences (also in docs/apiserver.md) are asserted as such, not skipped.

use crate::apiserver_support;
use crate::schema_crds;

use std::time::Duration;

use apiserver_support::{CALL_TIMEOUT, TestServer};
use coder_k8s::apiserver::objects::KindSchema;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};

const OUR_GROUP: &str = "aggregation.coder.com";
const KUBE_GROUP: &str = "parity.coder.com";

/// One server under test: a client and the group its CoderWorkspaces live in.
struct Side {
    client: kube::Client,
    group: &'static str,
}

/// A response, reduced to what is compared.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Value,
    warnings: Vec<String>,
    location: Option<String>,
}

impl Answer {
    fn reason(&self) -> &str {
        self.body["reason"].as_str().unwrap_or("")
    }
    fn message(&self) -> String {
        self.body["message"].as_str().unwrap_or("").to_string()
    }
    /// Causes as sorted (field, reason, message): kube's order follows Go map iteration.
    fn causes(&self) -> Vec<(String, String, String)> {
        let mut causes: Vec<_> = self.body["details"]["causes"]
            .as_array()
            .map(|causes| {
                causes
                    .iter()
                    .map(|c| {
                        let s = |k: &str| c[k].as_str().unwrap_or("").to_string();
                        (s("field"), s("reason"), s("message"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        causes.sort();
        causes
    }
}

impl Side {
    fn workspaces(&self, namespace: &str) -> String {
        format!(
            "/apis/{}/v1alpha1/namespaces/{namespace}/coderworkspaces",
            self.group
        )
    }

    fn workspace(&self, namespace: &str, name: &str) -> String {
        format!("{}/{name}", self.workspaces(namespace))
    }

    fn body(&self, metadata: Value, spec: Value) -> Value {
        json!({
            "apiVersion": format!("{}/v1alpha1", self.group),
            "kind": "CoderWorkspace",
            "metadata": metadata,
            "spec": spec,
        })
    }

    async fn send(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Answer {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", content_type)
            .header("accept", "application/json")
            .body(kube::client::Body::from(body))
            .expect("request");
        let exchange = async {
            let response = self.client.send(request).await.expect("response");
            let status = response.status();
            let warnings = response
                .headers()
                .get_all("warning")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_string))
                .collect();
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            // One vocabulary for both sides: kube names its group where we name ours.
            let body = serde_json::from_str(&body.to_string().replace(KUBE_GROUP, OUR_GROUP))
                .unwrap_or(Value::Null);
            Answer {
                status,
                body,
                warnings,
                location,
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, exchange)
            .await
            .expect("answer in time")
    }

    async fn json(&self, method: Method, path: &str, body: &Value) -> Answer {
        self.send(
            method,
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
        .await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, "application/json", Vec::new())
            .await
    }

    async fn create(&self, namespace: &str, metadata: Value) -> Answer {
        let answer = self
            .json(
                Method::POST,
                &self.workspaces(namespace),
                &self.body(metadata, json!({"running": true})),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer
    }
}

/// Both servers, and a namespace that exists in the cluster (ours accepts any).
struct Pair {
    ours: Side,
    kube: Side,
    namespace: String,
    _server: TestServer,
}

impl Pair {
    fn sides(&self) -> [&Side; 2] {
        [&self.ours, &self.kube]
    }
}

async fn pair() -> Pair {
    let plane = envtest::shared();
    install_crds(plane).await;
    let server = TestServer::start().await;
    let namespace = plane.create_namespace("parity").await;
    Pair {
        ours: Side {
            client: server.client().await,
            group: OUR_GROUP,
        },
        kube: Side {
            client: plane.admin_client().await,
            group: KUBE_GROUP,
        },
        namespace,
        _server: server,
    }
}

fn workspace_schema_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/coderworkspace.yaml"
    ))
    .expect("schema file")
}

fn validation_fixture_text() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/parity/validation.yaml"
    ))
    .expect("fixture")
}

/// Installs both CRDs once per test binary and waits until kube-apiserver serves them.
async fn install_crds(plane: &envtest::ControlPlane) {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
            let client = plane.admin_client().await;
            let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client.clone());
            for crd in [
                schema_crds::crd_of(
                    "schema/coderworkspace.yaml",
                    &workspace_schema_text(),
                    KUBE_GROUP,
                ),
                schema_crds::crd_of(
                    "tests/fixtures/parity/validation.yaml",
                    &validation_fixture_text(),
                    KUBE_GROUP,
                ),
            ] {
                let crd: CustomResourceDefinition =
                    serde_json::from_value(crd).expect("CRD shape");
                let name = crd.metadata.name.clone().expect("CRD name");
                crds.create(&Default::default(), &crd)
                    .await
                    .expect("CRD created");
                let established = kube::runtime::wait::await_condition(
                    crds.clone(),
                    &name,
                    kube::runtime::wait::conditions::is_crd_established(),
                );
                tokio::time::timeout(Duration::from_secs(30), established)
                    .await
                    .expect("CRD established in time")
                    .expect("CRD watch");
            }
            // Established comes slightly before discovery and the handler serve the resource.
            let side = Side {
                client,
                group: KUBE_GROUP,
            };
            for _ in 0..100 {
                let answer = side.get(&side.workspaces("default")).await;
                if answer.status == StatusCode::OK {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("kube-apiserver never served the parity CRD");
        })
        .await;
}

/// Asserts both answers agree on code, reason, message and causes.
fn assert_same(case: &str, ours: &Answer, kube: &Answer) {
    assert_eq!(
        ours.status, kube.status,
        "{case}: status\nours: {:#}\nkube: {:#}",
        ours.body, kube.body
    );
    assert_eq!(ours.reason(), kube.reason(), "{case}: reason");
    assert_eq!(ours.message(), kube.message(), "{case}: message");
    assert_eq!(ours.causes(), kube.causes(), "{case}: causes");
}

#[tokio::test]
async fn updates_need_a_resource_version_and_a_name() {
    let p = pair().await;
    let ns = &p.namespace;
    let mut answers = Vec::new();
    for side in p.sides() {
        side.create(ns, json!({"name": "upd"})).await;
        let path = side.workspace(ns, "upd");
        let without_rv = side
            .json(
                Method::PUT,
                &path,
                &side.body(json!({"name": "upd"}), json!({})),
            )
            .await;
        let without_name = side
            .json(Method::PUT, &path, &side.body(json!({}), json!({})))
            .await;
        answers.push((without_rv, without_name));
    }
    let (ours, kube) = (&answers[0], &answers[1]);
    assert_eq!(kube.0.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_same("PUT without resourceVersion", &ours.0, &kube.0);
    assert_eq!(kube.1.status, StatusCode::BAD_REQUEST);
    assert_same("PUT without metadata.name", &ours.1, &kube.1);
}

#[tokio::test]
async fn deletion_with_finalizers_bumps_generation_and_ends_with_the_last_one() {
    let p = pair().await;
    let ns = &p.namespace;
    let mut seen = Vec::new();
    for side in p.sides() {
        let created = side
            .create(ns, json!({"name": "fin", "finalizers": ["coder.com/hold"]}))
            .await;
        let path = side.workspace(ns, "fin");
        // Watch from the creation on, to see the DELETED event.
        let rv = created.body["metadata"]["resourceVersion"]
            .as_str()
            .expect("rv")
            .to_string();
        let watch = Request::builder()
            .uri(format!(
                "{}?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dfin&timeoutSeconds=20",
                side.workspaces(ns)
            ))
            .body(kube::client::Body::empty())
            .expect("watch request");
        let watch = side.client.send(watch).await.expect("watch");

        let deleted = side
            .send(Method::DELETE, &path, "application/json", Vec::new())
            .await;
        assert_eq!(deleted.status, StatusCode::OK);
        let removed = side
            .send(
                Method::PATCH,
                &path,
                "application/merge-patch+json",
                br#"{"metadata":{"finalizers":null}}"#.to_vec(),
            )
            .await;
        assert_eq!(removed.status, StatusCode::OK, "{:?}", removed.body);
        let gone = side.get(&path).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);

        let mut body = watch.into_body();
        let mut text = String::new();
        let deleted_event = tokio::time::timeout(CALL_TIMEOUT, async {
            loop {
                let frame = body.frame().await.expect("watch open").expect("frame");
                if let Ok(data) = frame.into_data() {
                    text.push_str(&String::from_utf8_lossy(&data));
                }
                if let Some(line) = text
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .find(|e| e["type"] == "DELETED")
                {
                    return line;
                }
            }
        })
        .await
        .expect("DELETED event in time");
        seen.push((created.body, deleted.body, removed.body, deleted_event));
    }
    for (side, (created, deleted, removed, event)) in ["ours", "kube"].iter().zip(&seen) {
        let generation = |v: &Value| v["metadata"]["generation"].as_i64();
        assert_eq!(generation(created), Some(1), "{side}");
        assert_eq!(
            generation(deleted),
            Some(2),
            "{side}: deletion bumps generation"
        );
        assert!(
            deleted["metadata"]["deletionTimestamp"].is_string(),
            "{side}"
        );
        assert!(
            removed["metadata"].get("finalizers").is_none(),
            "{side}: the response shows the finalizers gone: {removed}"
        );
        assert_eq!(
            removed["metadata"]["resourceVersion"], deleted["metadata"]["resourceVersion"],
            "{side}: the response is the object as last stored"
        );
        assert_eq!(
            event["object"]["metadata"]["finalizers"],
            json!(["coder.com/hold"]),
            "{side}: the DELETED event carries the stored object"
        );
    }
}

#[tokio::test]
async fn an_immediate_delete_answers_a_success_status() {
    let p = pair().await;
    let mut answers = Vec::new();
    for side in p.sides() {
        let created = side.create(&p.namespace, json!({"name": "gone"})).await;
        let deleted = side
            .send(
                Method::DELETE,
                &side.workspace(&p.namespace, "gone"),
                "application/json",
                Vec::new(),
            )
            .await;
        assert_eq!(deleted.status, StatusCode::OK);
        assert_eq!(
            deleted.body["details"]["uid"],
            created.body["metadata"]["uid"]
        );
        answers.push(deleted.body);
    }
    let strip_uid = |mut v: Value| {
        v["details"]["uid"] = Value::Null;
        v
    };
    assert_eq!(strip_uid(answers[0].clone()), strip_uid(answers[1].clone()));
    assert_eq!(answers[0]["status"], "Success");
}

#[tokio::test]
async fn propagation_policies_set_the_garbage_collector_finalizers() {
    // No kube-controller-manager runs here, so the GC finalizers stay and can be compared.
    let p = pair().await;
    let cases = [
        ("orphan", "propagationPolicy=Orphan"),
        ("orphan-q", "orphanDependents=maybe"),
        ("fg", "propagationPolicy=Foreground"),
        ("bg", "propagationPolicy=Background"),
    ];
    let mut answers = Vec::new();
    for side in p.sides() {
        let mut per_side = Vec::new();
        for (name, query) in cases {
            side.create(&p.namespace, json!({"name": name})).await;
            let path = format!("{}?{query}", side.workspace(&p.namespace, name));
            per_side.push(
                side.send(Method::DELETE, &path, "application/json", Vec::new())
                    .await,
            );
        }
        answers.push(per_side);
    }
    for ((name, query), (ours, kube)) in cases.iter().zip(answers[0].iter().zip(&answers[1])) {
        assert_eq!(ours.status, kube.status, "{name} {query}");
        assert_eq!(ours.body["kind"], kube.body["kind"], "{name} {query}");
        assert_eq!(
            ours.body["metadata"]["finalizers"], kube.body["metadata"]["finalizers"],
            "{name} {query}"
        );
        assert_eq!(
            ours.body["metadata"]["deletionTimestamp"].is_string(),
            kube.body["metadata"]["deletionTimestamp"].is_string(),
            "{name} {query}"
        );
    }
    assert_eq!(
        answers[1][0].body["metadata"]["finalizers"],
        json!(["orphan"])
    );
    assert_eq!(answers[1][3].body["kind"], "Status");
}

#[tokio::test]
async fn incomplete_owner_references_are_invalid() {
    let p = pair().await;
    let mut answers = Vec::new();
    for side in p.sides() {
        let mut per_side = Vec::new();
        for (name, owners) in [
            (
                "own-empty",
                json!([{"apiVersion": "", "kind": "", "name": "", "uid": ""}]),
            ),
            ("own-name-only", json!([{"name": "x"}])),
            (
                "own-no-version",
                json!([{"apiVersion": "apps/", "kind": "K", "name": "n", "uid": "u"}]),
            ),
        ] {
            let body = side.body(json!({"name": name, "ownerReferences": owners}), json!({}));
            per_side.push(
                side.json(Method::POST, &side.workspaces(&p.namespace), &body)
                    .await,
            );
        }
        answers.push(per_side);
    }
    for (ours, kube) in answers[0].iter().zip(&answers[1]) {
        assert_eq!(kube.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_same("ownerReferences", ours, kube);
    }
}

#[tokio::test]
async fn client_set_deletion_timestamp_is_dropped_on_create() {
    // kube-apiserver 1.36 clears it (BeforeCreate) and answers 201; so do we.
    let p = pair().await;
    for side in p.sides() {
        let created = side
            .create(
                &p.namespace,
                json!({"name": "dts", "deletionTimestamp": "2026-01-01T00:00:00Z",
                       "deletionGracePeriodSeconds": 5}),
            )
            .await;
        assert!(created.body["metadata"].get("deletionTimestamp").is_none());
        assert!(
            created.body["metadata"]
                .get("deletionGracePeriodSeconds")
                .is_none()
        );
    }
}

#[tokio::test]
async fn duplicate_keys_follow_field_validation() {
    let p = pair().await;
    let mut answers = Vec::new();
    for side in p.sides() {
        let body = |name: &str| {
            format!(
                r#"{{"apiVersion":"{}/v1alpha1","kind":"CoderWorkspace","metadata":{{"name":"{name}"}},"spec":{{"running":true,"running":false,"bogus":1}}}}"#,
                side.group
            )
            .into_bytes()
        };
        let collection = side.workspaces(&p.namespace);
        let strict = side
            .send(
                Method::POST,
                &format!("{collection}?fieldValidation=Strict"),
                "application/json",
                body("dup-strict"),
            )
            .await;
        let warn = side
            .send(
                Method::POST,
                &format!("{collection}?fieldValidation=Warn"),
                "application/json",
                body("dup-warn"),
            )
            .await;
        answers.push((strict, warn));
    }
    let (ours, kube) = (&answers[0], &answers[1]);
    assert_eq!(kube.0.status, StatusCode::BAD_REQUEST);
    assert_same("duplicate keys, Strict", &ours.0, &kube.0);
    assert_eq!(kube.1.status, StatusCode::CREATED);
    assert_eq!(ours.1.status, StatusCode::CREATED);
    assert_eq!(
        ours.1.warnings, kube.1.warnings,
        "Warn: one warning per problem"
    );
    assert_eq!(ours.1.body["spec"]["running"], false, "last key wins");
    assert_eq!(kube.1.body["spec"]["running"], false);
}

#[tokio::test]
async fn strict_patches_fail_on_the_patch_field() {
    let p = pair().await;
    let mut answers = Vec::new();
    for side in p.sides() {
        side.create(&p.namespace, json!({"name": "patched"})).await;
        let path = side.workspace(&p.namespace, "patched");
        let strict = side
            .send(
                Method::PATCH,
                &format!("{path}?fieldValidation=Strict"),
                "application/merge-patch+json",
                br#"{"spec":{"bogus":1,"running":true,"running":false}}"#.to_vec(),
            )
            .await;
        let warned = side
            .send(
                Method::PATCH,
                &path,
                "application/merge-patch+json",
                br#"{"spec":{"bogus":1}}"#.to_vec(),
            )
            .await;
        answers.push((strict, warned));
    }
    let (ours, kube) = (&answers[0], &answers[1]);
    assert_eq!(kube.0.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ours.0.status, kube.0.status, "{:?}", ours.0.body);
    assert_eq!(ours.0.reason(), kube.0.reason());
    assert_eq!(
        ours.0.body["details"].get("kind"),
        kube.0.body["details"].get("kind")
    );
    let tail = |a: &Answer| {
        let causes = a.causes();
        assert_eq!(causes.len(), 1, "{:?}", a.body);
        assert_eq!(causes[0].0, "patch");
        assert!(
            a.message()
                .starts_with(" \"\" is invalid: patch: Invalid value: \"{")
        );
        // The quoted object carries server-set metadata (managedFields, timestamps) that
        // differ between servers; the verdict after it must not.
        causes[0].2.rsplit_once("}\": ").map(|(_, t)| t.to_string())
    };
    assert_eq!(tail(&ours.0), tail(&kube.0));
    assert_eq!(
        tail(&kube.0).as_deref(),
        Some(
            r#"strict decoding error: duplicate field "spec.running", unknown field "spec.bogus""#
        )
    );
    assert_eq!(ours.1.status, StatusCode::OK);
    assert_eq!(ours.1.warnings, kube.1.warnings);
}

#[tokio::test]
async fn malformed_delete_options_delete_nothing() {
    let p = pair().await;
    let cases: &[(&str, &str)] = &[
        ("", r#"{"kind":"ConfigMap","apiVersion":"v1"}"#),
        ("", r#"{"kind":"CoderWorkspace","apiVersion":"v1"}"#),
        ("", r#"{"propagationPolicy":"Bogus"}"#),
        ("propagationPolicy=Bogus", ""),
        ("gracePeriodSeconds=abc", ""),
        ("", r#"{"gracePeriodSeconds":"x"}"#),
        ("", r#"{"preconditions":"x"}"#),
        ("", r#"{"preconditions":{"uid":5}}"#),
        (
            "",
            r#"{"orphanDependents":true,"propagationPolicy":"Background"}"#,
        ),
        ("", r#"{"dryRun":["Bogus"]}"#),
        ("dryRun=Bogus", ""),
        ("", "[]"),
        ("", "notjson"),
        ("", r#"{"preconditions":{"uid":"not-the-uid"}}"#),
        ("", r#"{"preconditions":{"resourceVersion":"999999999"}}"#),
    ];
    let mut answers = Vec::new();
    for side in p.sides() {
        side.create(&p.namespace, json!({"name": "keep"})).await;
        let path = side.workspace(&p.namespace, "keep");
        let mut per_side = Vec::new();
        for (query, body) in cases {
            let target = if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            };
            per_side.push(
                side.send(
                    Method::DELETE,
                    &target,
                    "application/json",
                    body.as_bytes().to_vec(),
                )
                .await,
            );
            let still = side.get(&path).await;
            assert_eq!(
                still.status,
                StatusCode::OK,
                "{query} {body}: nothing deleted"
            );
        }
        answers.push(per_side);
    }
    for ((query, body), (ours, kube)) in cases.iter().zip(answers[0].iter().zip(&answers[1])) {
        let case = format!("DELETE ?{query} {body}");
        assert!(kube.status.is_client_error(), "{case}: {:?}", kube.body);
        assert_eq!(
            ours.status, kube.status,
            "{case}: {:#}\nkube: {:#}",
            ours.body, kube.body
        );
        assert_eq!(ours.reason(), kube.reason(), "{case}");
        assert_eq!(ours.causes(), kube.causes(), "{case}");
        // Go's JSON decoder words type errors its own way; the rest is kube's exact text.
        if !body.contains("preconditions\":")
            && !body.contains("\"x\"")
            && *body != "notjson"
            && *body != "[]"
        {
            assert_eq!(ours.message(), kube.message(), "{case}");
        }
    }
}

#[tokio::test]
async fn list_query_parameters() {
    let p = pair().await;
    let mut answers = Vec::new();
    for side in p.sides() {
        side.create(&p.namespace, json!({"name": "listed"})).await;
        let collection = side.workspaces(&p.namespace);
        let mut per_side = Vec::new();
        for query in [
            "limit=-1",
            "limit=abc",
            "timeoutSeconds=abc",
            "timeoutSeconds=-1",
        ] {
            per_side.push(side.get(&format!("{collection}?{query}")).await);
        }
        answers.push(per_side);
    }
    for (i, (ours, kube)) in answers[0].iter().zip(&answers[1]).enumerate() {
        assert_eq!(ours.status, kube.status, "case {i}: {:?}", ours.body);
        if kube.status == StatusCode::OK {
            assert_eq!(
                ours.body["items"].as_array().map(Vec::len),
                kube.body["items"].as_array().map(Vec::len),
                "case {i}"
            );
        } else {
            assert_same(&format!("list case {i}"), ours, kube);
        }
    }
}

#[tokio::test]
async fn write_options_and_workspace_schema_errors() {
    let p = pair().await;
    let long_manager = format!("fieldManager={}", "m".repeat(129));
    let queries = [
        "dryRun=Bogus",
        "fieldValidation=Bogus",
        long_manager.as_str(),
        "fieldValidation=Strict",
    ];
    let specs = [
        json!({"running": "yes"}),
        json!({"running": true, "bogus": 1}),
        json!({"running": 3}),
    ];
    let mut answers = Vec::new();
    for side in p.sides() {
        let mut per_side = Vec::new();
        let collection = side.workspaces(&p.namespace);
        for (i, query) in queries.iter().enumerate() {
            let body = side.body(
                json!({"name": format!("opt-{i}")}),
                json!({"running": "no"}),
            );
            per_side.push(
                side.json(Method::POST, &format!("{collection}?{query}"), &body)
                    .await,
            );
        }
        for (i, spec) in specs.iter().enumerate() {
            let body = side.body(json!({"name": format!("schema-{i}")}), spec.clone());
            per_side.push(
                side.json(
                    Method::POST,
                    &format!("{collection}?fieldValidation=Strict"),
                    &body,
                )
                .await,
            );
        }
        // Status is checked on the status subresource: a bad timestamp there.
        side.create(&p.namespace, json!({"name": "st"})).await;
        per_side.push(
            side.send(
                Method::PATCH,
                &format!("{}/status", side.workspace(&p.namespace, "st")),
                "application/merge-patch+json",
                br#"{"status":{"autoShutdown":"tomorrow"}}"#.to_vec(),
            )
            .await,
        );
        answers.push(per_side);
    }
    for (i, (ours, kube)) in answers[0].iter().zip(&answers[1]).enumerate() {
        assert!(kube.status.is_client_error(), "case {i}: {:?}", kube.body);
        assert_same(&format!("write case {i}"), ours, kube);
    }
}

#[tokio::test]
async fn namespace_lifecycle_against_a_cluster_matches_kube() {
    let plane = envtest::shared();
    install_crds(plane).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let informer = coder_k8s::apiserver::cluster::namespace_informer::NamespaceInformer::start(
        plane.admin_client().await,
        stop.clone(),
    );
    let objects = coder_k8s::apiserver::memory_objects().with_namespace_lifecycle(informer);
    let server = TestServer::start_with(apiserver_support::args(), objects).await;
    let ours = Side {
        client: server.client().await,
        group: OUR_GROUP,
    };
    let kube = Side {
        client: plane.admin_client().await,
        group: KUBE_GROUP,
    };
    // Without kube-controller-manager a deleted namespace stays Terminating.
    let terminating = plane.create_namespace("parity-term").await;
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(kube.client.clone());
    namespaces
        .delete(&terminating, &Default::default())
        .await
        .expect("namespace deleted");
    let fresh = plane.create_namespace("parity-fresh").await;
    let missing = format!("{fresh}-missing");
    for (case, namespace, expected) in [
        ("missing", &missing, StatusCode::NOT_FOUND),
        ("terminating", &terminating, StatusCode::FORBIDDEN),
        // Created a moment ago: found by the live lookup even before the informer sees it.
        ("just created", &fresh, StatusCode::CREATED),
    ] {
        let mut answers = Vec::new();
        for side in [&ours, &kube] {
            let body = side.body(json!({"name": "ns-case"}), json!({}));
            answers.push(
                side.json(Method::POST, &side.workspaces(namespace), &body)
                    .await,
            );
        }
        assert_eq!(answers[1].status, expected, "{case}: {:?}", answers[1].body);
        if expected == StatusCode::CREATED {
            assert_eq!(answers[0].status, expected, "{case}: {:?}", answers[0].body);
        } else {
            assert_same(case, &answers[0], &answers[1]);
            assert_eq!(
                answers[0].body["details"], answers[1].body["details"],
                "{case}"
            );
        }
    }
    stop.cancel();
    server.stop().await;
}

#[tokio::test]
async fn standalone_servers_accept_any_namespace() {
    // Without a cluster there is no namespace to check against (docs/apiserver.md).
    let p = pair().await;
    let ghost = format!("{}-ghost", p.namespace);
    let answer = p
        .ours
        .json(
            Method::POST,
            &p.ours.workspaces(&ghost),
            &p.ours.body(json!({"name": "n"}), json!({})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
}

#[tokio::test]
async fn schema_validation_and_defaults_match_a_crd() {
    let p = pair().await;
    let kube = &p.kube;
    let crd = schema_crds::crd_of(
        "tests/fixtures/parity/validation.yaml",
        &validation_fixture_text(),
        KUBE_GROUP,
    );
    let schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone();
    let document: &'static Value = Box::leak(Box::new(
        json!({"components": {"schemas": {"Validation": schema}}}),
    ));
    let ours = KindSchema::from_document(document, "Validation").expect("schema");
    let collection = format!(
        "/apis/{KUBE_GROUP}/v1alpha1/namespaces/{}/validations",
        p.namespace
    );
    let specs = [
        json!({"name": "A1", "size": 11, "ratio": 1, "tags": [], "labels": {}, "mode": "c",
               "when": "yesterday", "port": true}),
        json!({"name": "abcdefg", "size": 0, "ratio": 0, "tags": ["a", "b", "c"],
               "labels": {"a": "1", "b": "2", "c": "3"}}),
        json!({"name": "a", "ratio": 1.5, "size": 3}),
        json!({"running": "yes", "nested": {"items": [{"weight": "heavy"}]}}),
        json!({"name": "ok", "size": 4, "ratio": 0.5, "tags": ["x"], "labels": {"k": "v"},
               "mode": "a", "when": "2026-01-01T00:00:00Z", "port": "http",
               "nested": {"items": [{}]}}),
        json!({}),
    ];
    for (i, spec) in specs.iter().enumerate() {
        let name = format!("v{i}");
        let body = json!({
            "apiVersion": format!("{KUBE_GROUP}/v1alpha1"),
            "kind": "Validation",
            "metadata": {"name": name},
            "spec": spec,
        });
        let answer = kube.json(Method::POST, &collection, &body).await;
        let mut checked = json!({"spec": spec});
        let report = ours.validate(&mut checked);
        let mut ours_causes: Vec<_> = report
            .causes
            .iter()
            .map(|c| (c.field.clone(), c.reason.clone(), c.message.clone()))
            .collect();
        ours_causes.sort();
        if answer.status == StatusCode::CREATED {
            assert!(
                ours_causes.is_empty(),
                "case {i}: kube accepted, we said {ours_causes:?}"
            );
            assert_eq!(checked["spec"], answer.body["spec"], "case {i}: defaults");
        } else {
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "case {i}");
            // kube adds a `<nil>` cause for integers sent as floats; the field causes match.
            let kube_causes: Vec<_> = answer
                .causes()
                .into_iter()
                .filter(|(field, _, _)| field != "<nil>")
                .collect();
            assert_eq!(ours_causes, kube_causes, "case {i}");
        }
    }
}

#[tokio::test]
async fn stale_openapi_hash_redirects_to_the_current_one() {
    let p = pair().await;
    for side in p.sides() {
        let index = side.get("/openapi/v3").await;
        // Bodies are compared with our group name in both.
        let current =
            index.body["paths"][format!("apis/{OUR_GROUP}/v1alpha1").as_str()]["serverRelativeURL"]
                .as_str()
                .expect("the index lists the group")
                .replace(OUR_GROUP, side.group);
        let stale = side
            .get(&format!(
                "/openapi/v3/apis/{}/v1alpha1?hash=0123456789ABCDEF",
                side.group
            ))
            .await;
        assert_eq!(
            stale.status,
            StatusCode::MOVED_PERMANENTLY,
            "{}",
            side.group
        );
        assert_eq!(
            stale.location.as_deref(),
            Some(current.as_str()),
            "{}",
            side.group
        );
        let fresh = side.get(&current).await;
        assert_eq!(fresh.status, StatusCode::OK, "{}", side.group);
    }
}

/// kube's ListOptions validation of the watch-list parameters: `sendInitialEvents` on a list,
/// and `sendInitialEvents` / `resourceVersionMatch` on a watch without the other.
#[tokio::test]
async fn watch_list_parameters_outside_a_watch_list() {
    let p = pair().await;
    for query in [
        "sendInitialEvents=true",
        "sendInitialEvents=false",
        "sendInitialEvents=true&resourceVersionMatch=NotOlderThan",
        "watch=1&sendInitialEvents=true",
        "watch=1&sendInitialEvents=false&resourceVersionMatch=Exact",
        "watch=1&resourceVersionMatch=NotOlderThan",
    ] {
        let mut answers = Vec::new();
        for side in p.sides() {
            let collection = side.workspaces(&p.namespace);
            answers.push(side.get(&format!("{collection}?{query}")).await);
        }
        assert_eq!(
            answers[1].status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        assert_same(query, &answers[0], &answers[1]);
    }
}
