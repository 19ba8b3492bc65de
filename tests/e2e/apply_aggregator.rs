//! Server-side apply through the real kube-aggregator: kubectl talks to kube-apiserver v1.36
//! (envtest harness), which proxies `aggregation.coder.com` to our server. The setup is the
//! server this binary's `aggregator` tests use too (`plain_aggregated_server` in main.rs).

use crate::aggregated_e2e;

use aggregated_e2e::{GROUP, VERSION, kubectl, kubectl_ok};
use envtest::ControlPlane;

/// The control plane and our registered server (shared with `aggregator`, one APIService).
async fn setup() -> &'static ControlPlane {
    crate::plain_aggregated_server().await
}

fn manifest(namespace: &str, running: bool) -> String {
    format!(
        "apiVersion: {GROUP}/{VERSION}
kind: CoderWorkspace
metadata:
  name: applied
  namespace: {namespace}
  labels:
    team: blue
spec:
  running: {running}
"
    )
}

fn managers(json: &str) -> Vec<(String, String)> {
    let object: serde_json::Value = serde_json::from_str(json).expect("JSON");
    object["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap_or_default().to_string(),
                e["operation"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_server_side_apply_through_the_aggregator() {
    let cp = setup().await;
    let ns = cp.create_namespace("ssa-agg").await;
    let apply = ["apply", "--server-side", "-f", "-"];

    let out = kubectl_ok(cp, &apply, Some(&manifest(&ns, true))).await;
    assert!(
        out.contains("coderworkspace.aggregation.coder.com/applied serverside-applied"),
        "{out}"
    );
    let get = [
        "get",
        "cws",
        "applied",
        "-n",
        &ns,
        "--show-managed-fields",
        "-o",
        "json",
    ];
    let json = kubectl_ok(cp, &get, None).await;
    assert_eq!(
        managers(&json),
        [("kubectl".to_string(), "Apply".to_string())]
    );
    let object: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        object["metadata"]["managedFields"][0]["fieldsV1"],
        serde_json::json!({"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:running": {}}})
    );

    // diff --server-side through the aggregator: 1 with a change, 0 without.
    let diff = ["diff", "--server-side", "-f", "-"];
    let (same, _, _) = kubectl(cp, &diff, Some(&manifest(&ns, true))).await;
    assert!(same, "no difference expected");
    let (differs, stdout, _) = kubectl(cp, &diff, Some(&manifest(&ns, false))).await;
    assert!(!differs && stdout.contains("+  running: false"), "{stdout}");

    // Another manager takes spec.running; applying the old value conflicts, force wins.
    kubectl_ok(
        cp,
        &[
            "patch",
            "cws",
            "applied",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"running":false}}"#,
        ],
        None,
    )
    .await;
    let (ok, _, stderr) = kubectl(cp, &apply, Some(&manifest(&ns, true))).await;
    assert!(!ok);
    assert!(
        stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl-patch\" using aggregation.coder.com/v1alpha1: .spec.running"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("--force-conflicts"), "{stderr}");
    kubectl_ok(
        cp,
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&manifest(&ns, true)),
    )
    .await;
    let json = kubectl_ok(cp, &get, None).await;
    assert_eq!(
        managers(&json),
        [("kubectl".to_string(), "Apply".to_string())]
    );
    let object: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(object["spec"]["running"], true);
}
