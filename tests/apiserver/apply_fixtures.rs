//! Our managedFields against kube-apiserver's own. The same sequences of writes (apply, create,
//! merge patch, forced apply, status apply) run against kube-apiserver v1.36 (envtest harness)
//! serving the CoderWorkspace schema as a CRD under `ssafixture.coder.com`, and against our
//! aggregated apiserver; the results (status codes, messages, objects, managedFields without
//! times) must be equal.
//!
//! kube-apiserver's results are recorded in `tests/fixtures/ssa/kube-apiserver.json`, so the
//! comparison with our server needs no kube-apiserver. `recorded_results_are_kube_apiserver_s`
//! re-checks the recording against the live kube-apiserver; run it with
//! `SSA_RECORD_FIXTURES=1` to rewrite the file (see `tests/fixtures/ssa/README.md`).

use crate::apiserver_support as support;
use crate::schema_crds;

use std::time::Duration;

use http_body_util::BodyExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};
use support::TestServer;

const OUR_GROUP: &str = "aggregation.coder.com";
const FIXTURE_GROUP: &str = "ssafixture.coder.com";
const FIXTURE_FILE: &str = "tests/fixtures/ssa/kube-apiserver.json";

/// One write: `apply:<manager>[:force][:status]`, `create:<manager>` or `merge:<manager>`.
struct Step {
    op: &'static str,
    body: Value,
}

struct Scenario {
    name: &'static str,
    steps: Vec<Step>,
}

fn step(op: &'static str, body: Value) -> Step {
    Step { op, body }
}

fn owner(uid: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "name": format!("cm-{uid}"), "uid": uid})
}

/// The scenarios; object names are the scenario names.
fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "apply-create",
            steps: vec![step(
                "apply:alice",
                json!({"metadata": {"labels": {"team": "blue"}, "finalizers": ["example.com/f"]},
                       "spec": {"running": true}}),
            )],
        },
        Scenario {
            name: "create-then-apply",
            steps: vec![
                step(
                    "create:creator",
                    json!({"metadata": {"labels": {"a": "1"}}, "spec": {"running": true}}),
                ),
                step(
                    "apply:bob",
                    json!({"metadata": {"labels": {"b": "2"}}, "spec": {"running": true}}),
                ),
            ],
        },
        Scenario {
            name: "update-takes-over-then-conflict",
            steps: vec![
                step(
                    "apply:alice",
                    json!({"metadata": {"labels": {"x": "1"}}, "spec": {"running": true}}),
                ),
                step(
                    "merge:editor",
                    json!({"metadata": {"labels": {"z": "1"}}, "spec": {"running": false}}),
                ),
                step(
                    "apply:alice",
                    json!({"metadata": {"labels": {"x": "1"}}, "spec": {"running": true}}),
                ),
                step(
                    "apply:carol",
                    json!({"metadata": {"labels": {"x": "2", "z": "2"}}, "spec": {"running": true}}),
                ),
                step(
                    "apply:alice:force",
                    json!({"metadata": {"labels": {"x": "1"}}, "spec": {"running": true}}),
                ),
            ],
        },
        Scenario {
            name: "shared-then-dropped",
            steps: vec![
                step(
                    "apply:alice",
                    json!({"metadata": {"labels": {"x": "1", "y": "1"}}, "spec": {"running": true}}),
                ),
                step("apply:bob", json!({"spec": {"running": true}})),
                step("apply:alice", json!({"metadata": {"labels": {"x": "1"}}})),
            ],
        },
        Scenario {
            name: "sets-and-list-maps",
            steps: vec![
                step(
                    "apply:alice",
                    json!({"metadata": {"finalizers": ["example.com/a"], "ownerReferences": [owner("u1")]}}),
                ),
                step(
                    "apply:bob",
                    json!({"metadata": {"finalizers": ["example.com/b"], "ownerReferences": [owner("u2")]}}),
                ),
                step("apply:alice", json!({})),
            ],
        },
        Scenario {
            name: "status-apply",
            steps: vec![
                step("apply:alice", json!({"spec": {"running": true}})),
                step(
                    "apply:ctl:status",
                    json!({"spec": {"running": false}, "status": {"autoShutdown": "2026-01-01T00:00:00Z"}}),
                ),
                step("merge:patcher", json!({"spec": {"running": false}})),
            ],
        },
    ]
}

/// Sends one request; returns the status code and the JSON body.
async fn send(
    client: &kube::Client,
    method: http::Method,
    uri: &str,
    content_type: &str,
    body: &Value,
) -> (u16, Value) {
    let request = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body.to_string().into_bytes()))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(60), client.send(request))
        .await
        .expect("answer in time")
        .expect("response");
    let code = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (code, value)
}

/// The parts of a response the comparison looks at, with the group of the fixture CRD written
/// as ours and every time replaced by `<time>`.
fn summary(code: u16, body: &Value, group: &str) -> Value {
    let out = if body["kind"] == "Status" {
        // kube lists causes in map order (random); the message has the stable order.
        let mut details = body["details"].clone();
        if let Some(causes) = details.get_mut("causes").and_then(Value::as_array_mut) {
            causes.sort_by_key(|c| (c["message"].to_string(), c["field"].to_string()));
        }
        json!({"code": code, "reason": body["reason"], "message": body["message"],
               "details": details})
    } else {
        let meta = &body["metadata"];
        let mut managed: Vec<Value> = meta["managedFields"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|mut e| {
                if let Some(m) = e.as_object_mut()
                    && m.contains_key("time")
                {
                    m.insert("time".into(), json!("<time>"));
                }
                e
            })
            .collect();
        // Entries are ordered by time first; within one second by manager. Sort so clock
        // ticks between steps do not matter.
        managed.sort_by_key(|e| {
            (
                e["operation"].as_str().unwrap_or("").to_string(),
                e["manager"].as_str().unwrap_or("").to_string(),
                e["subresource"].as_str().unwrap_or("").to_string(),
            )
        });
        json!({"code": code, "spec": body["spec"], "status": body["status"],
               "labels": meta["labels"], "finalizers": meta["finalizers"],
               "ownerReferences": meta["ownerReferences"], "generation": meta["generation"],
               "managedFields": managed})
    };
    let text = out.to_string().replace(group, OUR_GROUP);
    serde_json::from_str(&text).expect("summary is JSON")
}

/// Runs every scenario against one server: `base` is the collection path of a namespace.
async fn run(client: &kube::Client, group: &str, base: &str) -> Value {
    let mut results = serde_json::Map::new();
    for scenario in scenarios() {
        let mut steps = Vec::new();
        for s in &scenario.steps {
            let parts: Vec<&str> = s.op.split(':').collect();
            let (verb, manager) = (parts[0], parts[1]);
            let mut body = json!({
                "apiVersion": format!("{group}/v1alpha1"),
                "kind": "CoderWorkspace",
                "metadata": {"name": scenario.name},
            });
            merge_into(&mut body, s.body.clone());
            let item = format!("{base}/{}", scenario.name);
            let (code, answer) = match verb {
                "apply" => {
                    let force = if parts.contains(&"force") {
                        "&force=true"
                    } else {
                        ""
                    };
                    let sub = if parts.contains(&"status") {
                        "/status"
                    } else {
                        ""
                    };
                    let uri = format!("{item}{sub}?fieldManager={manager}{force}");
                    send(
                        client,
                        http::Method::PATCH,
                        &uri,
                        "application/apply-patch+yaml",
                        &body,
                    )
                    .await
                }
                "create" => {
                    let uri = format!("{base}?fieldManager={manager}");
                    send(client, http::Method::POST, &uri, "application/json", &body).await
                }
                "merge" => {
                    let uri = format!("{item}?fieldManager={manager}");
                    send(
                        client,
                        http::Method::PATCH,
                        &uri,
                        "application/merge-patch+json",
                        &s.body,
                    )
                    .await
                }
                other => panic!("unknown step {other}"),
            };
            steps.push(json!({"step": s.op, "result": summary(code, &answer, group)}));
        }
        results.insert(scenario.name.to_string(), Value::Array(steps));
    }
    Value::Object(results)
}

fn merge_into(target: &mut Value, extra: Value) {
    match (target, extra) {
        (Value::Object(t), Value::Object(e)) => {
            for (k, v) in e {
                merge_into(t.entry(k).or_insert(Value::Null), v);
            }
        }
        (t, e) => *t = e,
    }
}

fn recorded() -> Value {
    let text = std::fs::read_to_string(FIXTURE_FILE)
        .unwrap_or_else(|e| panic!("{FIXTURE_FILE}: {e} (record it: see the file header)"));
    let file: Value = serde_json::from_str(&text).expect("fixture is JSON");
    file["scenarios"].clone()
}

/// Differences by scenario, for a readable failure.
fn assert_same(ours: &Value, theirs: &Value) {
    for (name, steps) in theirs.as_object().expect("scenarios") {
        assert_eq!(
            &ours[name], steps,
            "scenario {name}: ours (left) differs from kube-apiserver (right)"
        );
    }
    assert_eq!(ours, theirs);
}

#[tokio::test(flavor = "multi_thread")]
async fn fields_v1_and_results_equal_kube_apiserver_s() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let ours = run(
        &client,
        OUR_GROUP,
        &format!("/apis/{OUR_GROUP}/v1alpha1/namespaces/default/coderworkspaces"),
    )
    .await;
    assert_same(&ours, &recorded());
}

/// The CoderWorkspace schema as a CRD of the fixture group, rendered by the codegen crate (the
/// schema file's `$ref`s to Kubernetes types are inlined as kube-apiserver requires).
fn fixture_crd() -> CustomResourceDefinition {
    let text = std::fs::read_to_string("schema/coderworkspace.yaml").expect("schema file");
    let crd = schema_crds::crd_of("schema/coderworkspace.yaml", &text, FIXTURE_GROUP);
    serde_json::from_value(crd).expect("CRD shape")
}

async fn install_crd(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = fixture_crd();
    let name = crd.metadata.name.clone().unwrap_or_default();
    match crds.create(&PostParams::default(), &crd).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating the fixture CRD: {e}"),
    }
    envtest::poll_until(
        "the fixture CRD to be served",
        Duration::from_secs(60),
        || {
            let crds = crds.clone();
            let name = name.clone();
            async move {
                let crd = crds.get(&name).await.map_err(|e| e.to_string())?;
                let established = crd
                    .status
                    .and_then(|s| s.conditions)
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                if established {
                    Ok(())
                } else {
                    Err("not Established yet".to_string())
                }
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recorded_results_are_kube_apiserver_s() {
    let cp = envtest::shared();
    let client = cp.admin_client().await;
    install_crd(&client).await;
    let namespace = cp.create_namespace("ssa-fixture").await;
    let base = format!("/apis/{FIXTURE_GROUP}/v1alpha1/namespaces/{namespace}/coderworkspaces");
    // Right after Established, the first requests can still miss the new resource.
    envtest::poll_until(
        "the fixture resource to answer",
        Duration::from_secs(60),
        || {
            let client = client.clone();
            let base = base.clone();
            async move {
                let (code, _) = send(
                    &client,
                    http::Method::GET,
                    &base,
                    "application/json",
                    &Value::Null,
                )
                .await;
                if code == 200 {
                    Ok(())
                } else {
                    Err(format!("GET answered {code}"))
                }
            }
        },
    )
    .await;
    let theirs = run(&client, FIXTURE_GROUP, &base).await;
    if std::env::var_os("SSA_RECORD_FIXTURES").is_some() {
        let file = json!({
            "recorded": "kube-apiserver v1.36.2 (envtest harness), CoderWorkspace schema as a CRD of ssafixture.coder.com; group renamed to aggregation.coder.com, times replaced by <time>, entries sorted by operation/manager/subresource",
            "command": "SSA_RECORD_FIXTURES=1 cargo test --test apiserver apply_fixtures::recorded_results_are_kube_apiserver_s",
            "scenarios": theirs,
        });
        let mut text = serde_json::to_string_pretty(&file).expect("JSON");
        text.push('\n');
        std::fs::create_dir_all("tests/fixtures/ssa").expect("fixture dir");
        std::fs::write(FIXTURE_FILE, text).expect("write fixture");
    }
    assert_eq!(
        theirs,
        recorded(),
        "kube-apiserver no longer matches the recording"
    );
}
