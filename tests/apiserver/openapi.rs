//! Our served OpenAPI tells the truth, checked two ways:
//!
//! - [`kube_parity`]: every operation of our served v2 and v3 documents has the path, method,
//!   operationId, action, parameters, request content types, response codes and response
//!   content types that kube-apiserver publishes for the same schemas installed as CRDs (under
//!   another group, in the envtest control plane), except for the explicit list of differences
//!   in [`kube_parity::expected_from_kube`], each with its reason.
//! - [`fuzzing`]: schemathesis sends generated requests (fixed seed, bounded count) to a
//!   running server and checks that every answer's status code, content type and body are the
//!   ones the served v3 document describes.

use crate::apiserver_support;
use crate::schema_crds;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const OUR_GROUP: &str = "aggregation.coder.com";
const V3_PATH: &str = "/openapi/v3/apis/aggregation.coder.com/v1alpha1";

/// What is compared of one operation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Shape {
    operation_id: String,
    action: String,
    /// Path-item parameters included.
    parameters: BTreeSet<Param>,
    /// v3: the request body's content types; v2: `consumes` where a body parameter exists.
    request_types: BTreeSet<String>,
    /// Status code → content types (v3; empty in v2, where `produces` says it).
    responses: BTreeMap<String, BTreeSet<String>>,
    /// v2 only.
    produces: BTreeSet<String>,
}

/// `(in, name, type, uniqueItems)` of a parameter (`type` is empty for a v2 body).
type Param = (String, String, String, bool);

/// `(path, method)` → shape, for every operation of `doc` whose path starts with `prefix`.
type Shapes = BTreeMap<(String, String), Shape>;

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// A parameter, following a v2 `#/parameters/…` reference.
fn resolve<'a>(doc: &'a Value, parameter: &'a Value) -> &'a Value {
    match parameter["$ref"].as_str() {
        Some(r) => {
            let name = r.trim_start_matches("#/parameters/");
            &doc["parameters"][name]
        }
        None => parameter,
    }
}

fn shapes(doc: &Value, prefix: &str) -> Shapes {
    let v2 = doc.get("swagger").is_some();
    let mut out = Shapes::new();
    let Some(paths) = doc["paths"].as_object() else {
        return out;
    };
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with(prefix)) {
        let shared = item["parameters"].as_array().cloned().unwrap_or_default();
        for method in METHODS {
            let op = &item[*method];
            if !op.is_object() {
                continue;
            }
            let mut shape = Shape {
                operation_id: op["operationId"].as_str().unwrap_or("").to_string(),
                action: op["x-kubernetes-action"].as_str().unwrap_or("").to_string(),
                ..Shape::default()
            };
            let own = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut has_body = false;
            for parameter in shared.iter().chain(own.iter()) {
                let p = resolve(doc, parameter);
                let location = p["in"].as_str().unwrap_or("").to_string();
                has_body |= location == "body";
                // v2 gives a non-body parameter's type and uniqueItems on it, v3 in its schema.
                let typed = if v2 { p } else { &p["schema"] };
                shape.parameters.insert((
                    location,
                    p["name"].as_str().unwrap_or("").to_string(),
                    typed["type"].as_str().unwrap_or("").to_string(),
                    typed["uniqueItems"].as_bool().unwrap_or(false),
                ));
            }
            if v2 {
                if has_body {
                    shape.request_types = strings(&op["consumes"]);
                }
                shape.produces = strings(&op["produces"]);
                for code in keys(&op["responses"]) {
                    shape.responses.insert(code, BTreeSet::new());
                }
            } else {
                shape.request_types = keys(&op["requestBody"]["content"]);
                if let Some(responses) = op["responses"].as_object() {
                    for (code, response) in responses {
                        shape
                            .responses
                            .insert(code.clone(), keys(&response["content"]));
                    }
                }
            }
            out.insert((path.clone(), method.to_string()), shape);
        }
    }
    out
}

/// Lists every difference between two sets of shapes, one line each.
fn differences(ours: &Shapes, expected: &Shapes) -> Vec<String> {
    let mut lines = Vec::new();
    for key in ours.keys().chain(expected.keys()).collect::<BTreeSet<_>>() {
        match (ours.get(key), expected.get(key)) {
            (Some(_), None) => lines.push(format!("{key:?}: only in ours")),
            (None, Some(_)) => lines.push(format!("{key:?}: missing from ours")),
            (Some(a), Some(b)) if a != b => {
                lines.push(format!("{key:?}:\n  ours:     {a:?}\n  expected: {b:?}"))
            }
            _ => {}
        }
    }
    lines
}

mod kube_parity {
    use std::time::Duration;

    use super::*;
    use apiserver_support::TestServer;

    /// The group our schemas are installed under as CRDs, and its spellings in operationIds,
    /// tags and definition names, mapped back to ours before comparing.
    const KUBE_GROUP: &str = "kubeparity.coder.com";
    const SPELLINGS: &[(&str, &str)] = &[
        ("kubeparity.coder.com", "aggregation.coder.com"),
        ("KubeparityCoderCom", "AggregationCoderCom"),
        ("kubeparityCoderCom", "aggregationCoderCom"),
        ("com.coder.kubeparity.", "com.coder.aggregation."),
    ];

    const SCHEMAS: &[&str] = &["schema/coderworkspace.yaml", "schema/codertemplate.yaml"];
    const PLURALS: &[&str] = &["coderworkspaces", "codertemplates"];

    fn in_our_group(doc: &Value) -> Value {
        let mut text = doc.to_string();
        for (theirs, ours) in SPELLINGS {
            text = text.replace(theirs, ours);
        }
        serde_json::from_str(&text).expect("JSON stays JSON")
    }

    async fn install_crds(plane: &envtest::ControlPlane) {
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
        let client = plane.admin_client().await;
        let crds: kube::Api<CustomResourceDefinition> = kube::Api::all(client);
        for file in SCHEMAS {
            let text = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR")))
                .expect("schema file");
            let crd: CustomResourceDefinition =
                serde_json::from_value(schema_crds::crd_of(file, &text, KUBE_GROUP))
                    .expect("CRD shape");
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
    }

    /// kube-apiserver's document at `path` once it lists both kinds' paths (it rebuilds its
    /// OpenAPI a moment after a CRD is established).
    async fn kube_document(client: &kube::Client, path: &str) -> Value {
        let wanted = |doc: &Value| {
            PLURALS.iter().all(|plural| {
                doc["paths"]
                    .as_object()
                    .is_some_and(|p| p.keys().any(|k| k.ends_with(&format!("/{plural}"))))
            })
        };
        let mut last = String::new();
        for _ in 0..300 {
            let request = http::Request::get(path)
                .header("accept", "application/json")
                .body(Vec::new())
                .expect("request");
            match client.request_text(request).await {
                Ok(text) => match serde_json::from_str::<Value>(&text) {
                    Ok(doc) if wanted(&doc) => return doc,
                    Ok(_) => last = "document without both kinds yet".into(),
                    Err(e) => last = format!("not JSON: {e}"),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("kube-apiserver never published both CRDs at {path}: {last}");
    }

    async fn our_document(server: &TestServer, path: &str) -> Value {
        let raw = apiserver_support::get(&server.http(), path).await;
        assert_eq!(raw.status.as_u16(), 200, "{path}: {}", raw.text());
        raw.json()
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// What our document must say, given what kube-apiserver publishes for the same schemas as
    /// CRDs. Every change made here is a deliberate difference, with its reason; anything else
    /// must be equal.
    fn expected_from_kube(kube: &Shapes, v2: bool) -> Shapes {
        let mut expected = Shapes::new();
        for ((path, method), shape) in kube {
            let mut shape = shape.clone();
            let action = shape.action.clone();
            let subresource = path.ends_with("/status");
            for name in [
                // We always write compact JSON; a parameter we would ignore is not declared.
                "pretty",
                // Alpha in Kubernetes 1.36 (ShardedListAndWatch feature gate, off by default);
                // not implemented here.
                "shardSelector",
                // An escape hatch for objects kube cannot decode from etcd; our store has no
                // such unsafe-delete path.
                "ignoreStoreReadErrorWithClusterBreakingPotential",
            ] {
                shape
                    .parameters
                    .retain(|(place, n, ..)| !(place == "query" && n == name));
            }
            if v2 && !shape.parameters.iter().any(|(place, ..)| place == "body") {
                // `consumes` is only said where a body is read (kube says it everywhere).
                shape.request_types.clear();
            }
            // Failures: kube-apiserver declares only 401, without a body; ours declares every
            // failure the operation can answer, each a JSON Status, so clients and schemathesis
            // know the codes and the body.
            shape.responses.remove("401");
            let mut failures = vec![
                "400", "401", "403", "404", "406", "429", "500", "503", "504",
            ];
            match action.as_str() {
                "list" => failures.extend(["410", "422"]),
                "get" => failures.push("410"),
                "post" | "put" | "patch" => failures.extend(["409", "413", "415", "422"]),
                "delete" => failures.extend(["409", "413", "422"]),
                "deletecollection" => failures.extend(["409", "410", "413", "422"]),
                other => panic!("unexpected action {other}"),
            }
            let failure_types = if v2 {
                set(&[])
            } else {
                set(&["application/json"])
            };
            let object_types = if v2 {
                set(&[])
            } else {
                set(&["application/json", "application/yaml"])
            };
            for code in failures {
                shape
                    .responses
                    .insert(code.to_string(), failure_types.clone());
            }
            match action.as_str() {
                // kube also lists 200 and 202, which neither it (for a CRD) nor we answer to a
                // create: a create answers 201, dry run included.
                "post" => {
                    shape.responses.remove("200");
                    shape.responses.remove("202");
                }
                // kube lists 201, but neither a CRD nor our kinds create on update: a PUT of a
                // missing object is a 404.
                "put" => {
                    shape.responses.remove("201");
                }
                // An apply patch of a missing object creates it and answers 201, in kube too
                // (its document leaves that out); a subresource has nothing to create.
                "patch" if !subresource => {
                    shape.responses.insert("201".into(), object_types.clone());
                }
                // kube answers 202 when orphanDependents=false leaves the object held by
                // finalizers; this server answers 200 there (noted in docs/apiserver.md).
                // Our DeleteOptions bodies are JSON only.
                "delete" => {
                    shape.responses.remove("202");
                    shape.request_types = set(&["application/json"]);
                }
                // kube's handler reads DeleteOptions (query and body) on a collection DELETE
                // too, but its CRD document omits them; ours declares them.
                "deletecollection" => {
                    for (name, type_) in [
                        ("dryRun", "string"),
                        ("gracePeriodSeconds", "integer"),
                        ("orphanDependents", "boolean"),
                        ("propagationPolicy", "string"),
                    ] {
                        shape
                            .parameters
                            .insert(("query".into(), name.into(), type_.into(), true));
                    }
                    if v2 {
                        shape.parameters.insert((
                            "body".into(),
                            "body".into(),
                            String::new(),
                            false,
                        ));
                    }
                    shape.request_types = set(&["application/json"]);
                }
                _ => {}
            }
            expected.insert((path.clone(), method.clone()), shape);
        }
        expected
    }

    #[tokio::test]
    async fn served_operations_match_kube_apiserver_for_the_same_schemas() {
        let plane = envtest::shared();
        install_crds(plane).await;
        let client = plane.admin_client().await;
        let server = TestServer::start().await;
        let prefix = format!("/apis/{OUR_GROUP}/");
        let mut report = Vec::new();
        for (ours_path, kube_path, v2) in [
            (
                V3_PATH.to_string(),
                format!("/openapi/v3/apis/{KUBE_GROUP}/v1alpha1"),
                false,
            ),
            ("/openapi/v2".to_string(), "/openapi/v2".to_string(), true),
        ] {
            let kube = in_our_group(&kube_document(&client, &kube_path).await);
            let ours = our_document(&server, &ours_path).await;
            let kube_shapes = shapes(&kube, &prefix);
            let our_shapes = shapes(&ours, &prefix);
            // A comparison of two empty sets proves nothing.
            assert_eq!(
                kube_shapes.len(),
                22,
                "kube-apiserver's {kube_path}: 11 operations per kind expected"
            );
            let expected = expected_from_kube(&kube_shapes, v2);
            for line in differences(&our_shapes, &expected) {
                report.push(format!("{ours_path}: {line}"));
            }
        }
        assert!(
            report.is_empty(),
            "our OpenAPI differs from kube-apiserver's beyond the listed differences:\n{}",
            report.join("\n")
        );
        server.stop().await;
    }

    /// The comparison itself: a difference the list does not excuse is reported.
    #[test]
    fn an_unlisted_difference_is_reported() {
        let kube = Shapes::from([(
            ("/p".to_string(), "get".to_string()),
            Shape {
                operation_id: "readX".into(),
                action: "get".into(),
                parameters: [(
                    "query".to_string(),
                    "resourceVersion".to_string(),
                    "string".to_string(),
                    true,
                )]
                .into(),
                responses: [("200".to_string(), set(&["application/json"]))].into(),
                ..Shape::default()
            },
        )]);
        let expected = expected_from_kube(&kube, false);
        assert!(differences(&expected, &expected).is_empty());
        let mut ours = expected.clone();
        ours.get_mut(&("/p".to_string(), "get".to_string()))
            .expect("op")
            .parameters
            .insert(("query".into(), "limit".into(), "integer".into(), true));
        assert_eq!(differences(&ours, &expected).len(), 1);
        let mut ours = expected.clone();
        ours.get_mut(&("/p".to_string(), "get".to_string()))
            .expect("op")
            .responses
            .remove("410");
        assert_eq!(differences(&ours, &expected).len(), 1);
    }
}

mod fuzzing {
    use std::process::Stdio;
    use std::time::Duration;

    use super::*;
    use apiserver_support::TestServer;

    /// The schemathesis release hack/test.sh installs.
    const SCHEMATHESIS_VERSION: &str = "4.32.5";
    const SEED: &str = "20261207";
    /// Cases per operation and phase: with 22 operations the run takes about a minute and a
    /// half on two busy cores (about 7,000 requests).
    const MAX_EXAMPLES: &str = "25";
    /// Bound on the whole run; a run that needs more is a failure, not a hang.
    const RUN_LIMIT: Duration = Duration::from_secs(300);

    /// Hooks schemathesis loads (SCHEMATHESIS_HOOKS). A watch is a stream that stays open
    /// until its timeout, and its body is a sequence of events, not the list the operation
    /// describes; OpenAPI cannot describe an answer whose form depends on a query parameter,
    /// so generated watches are turned into plain lists. Path parameters point at the objects
    /// the test created for a share of the cases, so reads, updates and deletes of existing
    /// objects are exercised, not only 404s.
    const HOOKS: &str = r#"
import schemathesis

TRUE = {"1", "t", "T", "true", "TRUE", "True", True}
NAMES = ["seed-0", "seed-1", "held"]

# before_call sees every case of every phase, just before it is sent.
@schemathesis.hook
def before_call(ctx, case, kwargs):
    if case.query and "watch" in case.query:
        watch = case.query["watch"]
        # A repeated parameter is a list; the server reads its first value.
        first = watch[0] if isinstance(watch, list) and watch else watch
        if isinstance(first, (str, bool)) and first in TRUE:
            del case.query["watch"]
    params = case.path_parameters
    if not params:
        return
    name = params.get("name")
    if isinstance(name, str) and len(name) % 4 != 3:
        params["name"] = NAMES[len(name) % len(NAMES)]
        params["namespace"] = "default"
    elif isinstance(params.get("namespace"), str) and len(params["namespace"]) % 2 == 0:
        params["namespace"] = "default"
"#;

    fn install_hint() -> String {
        format!(
            "schemathesis is not installed; install it with: python3 -m pip install schemathesis=={SCHEMATHESIS_VERSION}"
        )
    }

    /// schemathesis as the `python3` that `python3 -m pip install` installed it into: no
    /// dependence on where pip put its console script or whether that is on PATH.
    fn schemathesis() -> tokio::process::Command {
        let mut command = tokio::process::Command::new("python3");
        command.args(["-m", "schemathesis.cli"]);
        command
    }

    async fn schemathesis_version() -> String {
        let output = schemathesis()
            .arg("--version")
            .output()
            .await
            .unwrap_or_else(|e| panic!("{} ({e})", install_hint()));
        assert!(output.status.success(), "{}", install_hint());
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Objects for the hooks' names: two plain ones and one a finalizer holds, so a DELETE
    /// answers the object itself.
    async fn seed(server: &TestServer) {
        let http = server.http();
        for (path, name, finalizers) in [
            ("coderworkspaces", "seed-0", false),
            ("coderworkspaces", "seed-1", false),
            ("coderworkspaces", "held", true),
            ("codertemplates", "seed-0", false),
            ("codertemplates", "seed-1", false),
            ("codertemplates", "held", true),
        ] {
            let kind = if path == "coderworkspaces" {
                "CoderWorkspace"
            } else {
                "CoderTemplate"
            };
            let mut body = serde_json::json!({
                "apiVersion": format!("{OUR_GROUP}/v1alpha1"),
                "kind": kind,
                "metadata": {"name": name},
                "spec": {},
            });
            if finalizers {
                body["metadata"]["finalizers"] = serde_json::json!(["coder.com/test-hold"]);
            }
            let raw = apiserver_support::raw(
                &http,
                http::Method::POST,
                &format!("/apis/{OUR_GROUP}/v1alpha1/namespaces/default/{path}"),
                &[("content-type", "application/json")],
                body.to_string(),
            )
            .await;
            assert_eq!(
                raw.status.as_u16(),
                201,
                "seeding {path}/{name}: {}",
                raw.text()
            );
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn every_answer_to_generated_requests_is_described_by_the_served_document() {
        let version = schemathesis_version().await;
        assert!(
            version.ends_with(SCHEMATHESIS_VERSION),
            "{version} found; the suite pins schemathesis {SCHEMATHESIS_VERSION}: python3 -m pip install schemathesis=={SCHEMATHESIS_VERSION}"
        );
        let server = TestServer::start().await;
        seed(&server).await;
        let dir = tempfile::tempdir().expect("tempdir");
        let document = apiserver_support::get(&server.http(), V3_PATH).await;
        assert_eq!(document.status.as_u16(), 200);
        let schema = dir.path().join("openapi-v3.json");
        std::fs::write(&schema, &document.body).expect("write document");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, &server.ca_pem).expect("write CA");
        std::fs::write(dir.path().join("openapi_hooks.py"), HOOKS).expect("write hooks");

        let mut command = schemathesis();
        command
            .arg("run")
            .arg(&schema)
            .args(["--url", &server.url])
            .arg("--tls-verify")
            .arg(&ca)
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--mode",
                "all",
                "--seed",
                SEED,
                "--max-examples",
                MAX_EXAMPLES,
                // One worker: with threads, hypothesis on CPython 3.11 can fail in its
                // lambda-source parsing (an `ast` recursion-depth SystemError).
                "--workers",
                "1",
                "--request-timeout",
                "20",
                "--no-color",
            ])
            .current_dir(dir.path())
            .env("PYTHONPATH", dir.path())
            .env("SCHEMATHESIS_HOOKS", "openapi_hooks")
            .env("HYPOTHESIS_STORAGE_DIRECTORY", dir.path().join("hypothesis"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(RUN_LIMIT, command.output())
            .await
            .unwrap_or_else(|_| panic!("schemathesis ran longer than {RUN_LIMIT:?}"))
            .expect("schemathesis runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "schemathesis found answers the served OpenAPI does not describe \
             (exit {:?}):\n{stdout}\n{stderr}",
            output.status.code()
        );
        // A run that tested nothing also exits 0: its summary says how many cases it sent
        // ("7039 generated, 7039 passed").
        let generated: u64 = stdout
            .lines()
            .find_map(|line| {
                let (count, _) = line.trim().split_once(" generated, ")?;
                count.parse().ok()
            })
            .unwrap_or(0);
        assert!(
            generated >= 1000,
            "schemathesis sent {generated} cases, expected thousands:\n{stdout}\n{stderr}"
        );
        server.stop().await;
    }
}
