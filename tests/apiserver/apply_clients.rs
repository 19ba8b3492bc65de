//! Server-side apply as real clients use it against the aggregated apiserver: kubectl
//! (`apply --server-side` with and without `--force-conflicts`, `diff --server-side`,
//! `get --show-managed-fields`) and kube-rs (`Patch::Apply`, a conflict, force).

use crate::apiserver_support as support;

use coder_k8s::api::aggregation::v1alpha1::CoderWorkspace;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use support::*;

fn manifest(running: bool, team: &str) -> String {
    format!(
        "apiVersion: aggregation.coder.com/v1alpha1
kind: CoderWorkspace
metadata:
  name: ssa
  namespace: default
  labels:
    team: {team}
spec:
  running: {running}
"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_server_side_apply_diff_conflict_and_force() {
    let server = TestServer::start().await;

    let out = server
        .kubectl_stdin_ok(
            &["apply", "--server-side", "-f", "-"],
            Some(&manifest(true, "blue")),
        )
        .await;
    assert_eq!(
        out.trim(),
        "coderworkspace.aggregation.coder.com/ssa serverside-applied"
    );

    // kubectl's field manager for server-side apply is "kubectl".
    let yaml = server
        .kubectl_ok(&["get", "cws", "ssa", "--show-managed-fields", "-o", "json"])
        .await;
    let object: serde_json::Value = serde_json::from_str(&yaml).unwrap();
    let managed = &object["metadata"]["managedFields"];
    assert_eq!(managed.as_array().map(Vec::len), Some(1), "{object:#}");
    assert_eq!(managed[0]["manager"], "kubectl");
    assert_eq!(managed[0]["operation"], "Apply");
    assert_eq!(
        managed[0]["fieldsV1"],
        json!({"f:metadata": {"f:labels": {"f:team": {}}}, "f:spec": {"f:running": {}}})
    );
    // Without the flag kubectl hides them.
    let plain = server
        .kubectl_ok(&["get", "cws", "ssa", "-o", "yaml"])
        .await;
    assert!(!plain.contains("managedFields"), "{plain}");

    // Re-applying the same manifest changes nothing.
    let before = object["metadata"]["resourceVersion"].clone();
    server
        .kubectl_stdin_ok(
            &["apply", "--server-side", "-f", "-"],
            Some(&manifest(true, "blue")),
        )
        .await;
    let again: serde_json::Value = serde_json::from_str(
        &server
            .kubectl_ok(&["get", "cws", "ssa", "-o", "json"])
            .await,
    )
    .unwrap();
    assert_eq!(again["metadata"]["resourceVersion"], before);

    // diff --server-side shows what an apply would change, and changes nothing.
    let diff = server
        .kubectl_stdin(
            &["diff", "--server-side", "-f", "-"],
            Some(&manifest(false, "blue")),
        )
        .await;
    let diff_text = String::from_utf8_lossy(&diff.stdout).to_string();
    assert_eq!(
        diff.status.code(),
        Some(1),
        "diff exits 1 on differences: {diff_text}\n{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(diff_text.contains("-  running: true"), "{diff_text}");
    assert!(diff_text.contains("+  running: false"), "{diff_text}");
    let unchanged = server
        .kubectl_stdin(
            &["diff", "--server-side", "-f", "-"],
            Some(&manifest(true, "blue")),
        )
        .await;
    assert_eq!(unchanged.status.code(), Some(0));

    // Another manager (kubectl patch → Update "kubectl-patch") takes spec.running.
    server
        .kubectl_ok(&[
            "patch",
            "cws",
            "ssa",
            "--type=merge",
            "-p",
            r#"{"spec":{"running":false}}"#,
        ])
        .await;

    // Applying the old value now conflicts; kubectl prints kube's message and its advice.
    let conflict = server
        .kubectl_stdin(
            &["apply", "--server-side", "-f", "-"],
            Some(&manifest(true, "blue")),
        )
        .await;
    assert!(!conflict.status.success());
    let stderr = String::from_utf8_lossy(&conflict.stderr);
    assert!(
        stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl-patch\" using aggregation.coder.com/v1alpha1: .spec.running"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("--force-conflicts"), "{stderr}");

    // --force-conflicts takes the field back.
    server
        .kubectl_stdin_ok(
            &["apply", "--server-side", "--force-conflicts", "-f", "-"],
            Some(&manifest(true, "blue")),
        )
        .await;
    let object: serde_json::Value = serde_json::from_str(
        &server
            .kubectl_ok(&["get", "cws", "ssa", "--show-managed-fields", "-o", "json"])
            .await,
    )
    .unwrap();
    assert_eq!(object["spec"]["running"], true);
    let managers: Vec<(String, String)> = object["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["manager"].as_str().unwrap().to_string(),
                e["operation"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // kubectl-patch lost its only field, so its entry is gone.
    assert_eq!(managers, [("kubectl".to_string(), "Apply".to_string())]);

    // Dropping the label from the manifest removes it from the object.
    let without_label = "apiVersion: aggregation.coder.com/v1alpha1
kind: CoderWorkspace
metadata:
  name: ssa
  namespace: default
spec:
  running: true
";
    server
        .kubectl_stdin_ok(&["apply", "--server-side", "-f", "-"], Some(without_label))
        .await;
    let object: serde_json::Value = serde_json::from_str(
        &server
            .kubectl_ok(&["get", "cws", "ssa", "-o", "json"])
            .await,
    )
    .unwrap();
    assert!(object["metadata"].get("labels").is_none(), "{object:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_rs_patch_apply_conflict_and_force() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let api: Api<CoderWorkspace> = Api::namespaced(client, "default");
    let config = |running: bool| {
        json!({
            "apiVersion": "aggregation.coder.com/v1alpha1",
            "kind": "CoderWorkspace",
            "metadata": {"name": "rs"},
            "spec": {"running": running}
        })
    };

    let created = api
        .patch(
            "rs",
            &PatchParams::apply("controller"),
            &Patch::Apply(config(true)),
        )
        .await
        .unwrap();
    assert_eq!(created.spec.running, Some(true));
    let managed = created.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager.as_deref(), Some("controller"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));

    // A second manager changing the field: 409 Conflict with kube's reason and message.
    let err = api
        .patch(
            "rs",
            &PatchParams::apply("other"),
            &Patch::Apply(config(false)),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(status.reason, "Conflict");
            assert_eq!(
                status.message,
                "Apply failed with 1 conflict: conflict with \"controller\": .spec.running"
            );
        }
        other => panic!("expected a 409, got {other:?}"),
    }
    let unchanged = api.get("rs").await.unwrap();
    assert_eq!(unchanged.spec.running, Some(true));

    // Forced, the field moves to the new manager.
    let forced = api
        .patch(
            "rs",
            &PatchParams::apply("other").force(),
            &Patch::Apply(config(false)),
        )
        .await
        .unwrap();
    assert_eq!(forced.spec.running, Some(false));
    let managers: Vec<Option<String>> = forced
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.manager)
        .collect();
    assert_eq!(managers, [Some("other".to_string())]);

    // Dry run through kube-rs: the answer changes, storage does not.
    let dry = api
        .patch(
            "rs",
            &PatchParams::apply("other").dry_run(),
            &Patch::Apply(config(true)),
        )
        .await
        .unwrap();
    assert_eq!(dry.spec.running, Some(true));
    assert_eq!(api.get("rs").await.unwrap().spec.running, Some(false));
}
