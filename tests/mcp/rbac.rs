//! Tools run as the caller: RBAC on the caller's ServiceAccount, through impersonation, decides
//! what succeeds, and a refusal names the missing permission.

use serde_json::json;

use coder_k8s::api::aggregation::v1alpha1::CoderWorkspace;
use coder_k8s::api::coder::v1alpha1::CoderProvisioner;
use kube::api::PostParams;

use crate::support::{calls, env, grant, python_client, token};

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_lists_workspaces_and_is_refused_set_workspace_running_by_name() {
    let (cp, env) = env().await;
    let ns = cp.create_namespace("mcp-rbac").await;
    let workspaces: kube::Api<CoderWorkspace> = kube::Api::namespaced(cp.admin_client().await, &ns);
    let ws: CoderWorkspace = serde_json::from_value(json!({
        "apiVersion": "aggregation.coder.com/v1alpha1", "kind": "CoderWorkspace",
        "metadata": { "name": "dev" }, "spec": { "running": false }
    }))
    .expect("valid workspace");
    workspaces
        .create(&PostParams::default(), &ws)
        .await
        .expect("create workspace");
    grant(
        cp,
        &ns,
        "reader",
        json!([{ "apiGroups": ["aggregation.coder.com"], "resources": ["coderworkspaces"],
                 "verbs": ["get", "list", "watch"] }]),
    )
    .await;
    let reader = token(cp, &ns, "reader").await;

    let out = python_client(
        &env.mcp.url(),
        Some(&reader),
        None,
        json!([
            { "tool": "list_workspaces", "arguments": { "namespace": ns } },
            { "tool": "set_workspace_running", "arguments": { "namespace": ns, "name": "dev", "running": true } },
            { "tool": "list_workspaces", "arguments": {} },
            { "tool": "check_health", "arguments": {} },
        ]),
    )
    .await;
    let c = calls(&out);
    assert_eq!(c[0]["isError"], false, "{}", c[0]);
    assert_eq!(c[0]["structured"]["items"][0]["name"], "dev");

    assert_eq!(c[1]["isError"], true, "{}", c[1]);
    let refused = c[1]["text"].as_str().unwrap_or_default();
    let user = format!("system:serviceaccount:{ns}:reader");
    for part in [
        "is forbidden",
        user.as_str(),
        "cannot patch resource \"coderworkspaces\"",
        "aggregation.coder.com",
        "(Forbidden, 403)",
    ] {
        assert!(refused.contains(part), "{part:?} missing from: {refused}");
    }
    // Cluster-wide listing is not granted either (the Role is namespaced).
    assert_eq!(c[2]["isError"], true, "{}", c[2]);
    assert!(
        c[2]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot list"),
        "{}",
        c[2]
    );
    assert_eq!(c[3]["structured"]["user"], user);

    // Nothing changed.
    let stored = workspaces.get("dev").await.expect("dev");
    assert_eq!(stored.spec.running, Some(false));

    // The same ServiceAccount, once granted patch, may start it.
    grant(
        cp,
        &ns,
        "starter",
        json!([{ "apiGroups": ["aggregation.coder.com"], "resources": ["coderworkspaces"],
                 "verbs": ["get", "patch"] }]),
    )
    .await;
    let starter = token(cp, &ns, "starter").await;
    let out = python_client(
        &env.mcp.url(),
        Some(&starter),
        None,
        json!([{ "tool": "set_workspace_running",
                 "arguments": { "namespace": ns, "name": "dev", "running": true } }]),
    )
    .await;
    assert_eq!(calls(&out)[0]["structured"]["updated"], true, "{out}");
    assert_eq!(
        workspaces.get("dev").await.expect("dev").spec.running,
        Some(true)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_insecure_upstream_mode_serves_everyone_as_the_server_and_says_so() {
    let (cp, _) = env().await;
    let mut mcp = crate::support::start_mcp(cp, &["--mcp-insecure-server-identity"]).await;
    let out = python_client(
        &mcp.url(),
        None,
        None,
        json!([{ "tool": "check_health", "arguments": {} }]),
    )
    .await;
    let health = &calls(&out)[0]["structured"];
    assert_eq!(health["status"], "ok", "{out}");
    assert!(
        health["user"]
            .as_str()
            .unwrap_or_default()
            .contains("--mcp-insecure-server-identity"),
        "{health}"
    );
    let log = mcp.log_text();
    assert!(log.contains("NOT authenticated"), "a loud warning: {log}");

    // SIGTERM: a graceful stop, exit status 0.
    mcp.process.signal("TERM").expect("send SIGTERM");
    let status = tokio::task::block_in_place(|| {
        mcp.process
            .wait_timeout(std::time::Duration::from_secs(20))
            .expect("wait")
    });
    let status =
        status.unwrap_or_else(|| panic!("still running 20 s after SIGTERM: {}", mcp.log_text()));
    assert!(status.success(), "{status}: {}", mcp.log_text());
    assert!(
        mcp.log_text().contains("MCP server stopped"),
        "{}",
        mcp.log_text()
    );
}

/// The server running as the deployed ServiceAccount (deploy/mcp's RBAC, nothing more) reviews
/// tokens and impersonates callers: a caller allowed to start a workspace starts it, one allowed
/// to read CoderProvisioners reads them (the ClusterRole needs no rule per kind), and the
/// kind it was not granted (CoderWorkspaceProxy) is refused by name.
#[tokio::test(flavor = "multi_thread")]
async fn the_deployed_rbac_is_enough_to_serve_callers() {
    let (cp, _) = env().await;
    // deploy/mcp/rbac.yaml binds the ServiceAccount in coder-system.
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(cp.admin_client().await);
    let coder_system = serde_json::from_value(json!({ "metadata": { "name": "coder-system" } }))
        .expect("namespace");
    match namespaces
        .create(&PostParams::default(), &coder_system)
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("create coder-system: {e}"),
    }
    let rbac = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/mcp/rbac.yaml");
    let applied = cp
        .kubectl()
        .args(["apply", "-f", rbac])
        .output()
        .await
        .expect("kubectl apply");
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let server_identity = cp
        .service_account_kubeconfig("coder-system", "coder-k8s-mcp")
        .await;
    let mcp = crate::support::start_mcp_as(cp, &server_identity, &[]).await;

    let ns = cp.create_namespace("mcp-deployed").await;
    let workspaces: kube::Api<CoderWorkspace> = kube::Api::namespaced(cp.admin_client().await, &ns);
    let ws: CoderWorkspace = serde_json::from_value(json!({
        "apiVersion": "aggregation.coder.com/v1alpha1", "kind": "CoderWorkspace",
        "metadata": { "name": "dev" }, "spec": { "running": true }
    }))
    .expect("valid workspace");
    workspaces
        .create(&PostParams::default(), &ws)
        .await
        .expect("create workspace");
    let provisioners: kube::Api<CoderProvisioner> =
        kube::Api::namespaced(cp.admin_client().await, &ns);
    let provisioner: CoderProvisioner = serde_json::from_value(json!({
        "apiVersion": "coder.com/v1alpha1", "kind": "CoderProvisioner",
        "metadata": { "name": "eu" }, "spec": { "controlPlaneRef": { "name": "coder" } }
    }))
    .expect("valid provisioner");
    provisioners
        .create(&PostParams::default(), &provisioner)
        .await
        .expect("create provisioner");
    grant(
        cp,
        &ns,
        "operator",
        json!([{ "apiGroups": ["aggregation.coder.com"], "resources": ["coderworkspaces"],
                 "verbs": ["get", "list", "patch"] },
               { "apiGroups": ["coder.com"], "resources": ["coderprovisioners"],
                 "verbs": ["get", "list"] }]),
    )
    .await;
    let operator = token(cp, &ns, "operator").await;
    let out = python_client(
        &mcp.url(),
        Some(&operator),
        None,
        json!([
            { "tool": "list_workspaces", "arguments": { "namespace": ns } },
            { "tool": "set_workspace_running", "arguments": { "namespace": ns, "name": "dev", "running": false } },
            { "tool": "list_provisioners", "arguments": { "namespace": ns } },
            { "tool": "get_provisioner_status", "arguments": { "namespace": ns, "name": "eu" } },
            { "tool": "list_workspace_proxies", "arguments": { "namespace": ns } },
        ]),
    )
    .await;
    let c = calls(&out);
    assert_eq!(c[2]["structured"]["items"][0]["name"], "eu", "{out}");
    assert_eq!(c[3]["structured"]["controlPlane"], "coder", "{out}");
    assert_eq!(c[4]["isError"], true, "{}", c[4]);
    let refused = c[4]["text"].as_str().unwrap_or_default();
    let user = format!("User \"system:serviceaccount:{ns}:operator\"");
    for part in [
        "list CoderWorkspaceProxy resources: ",
        user.as_str(),
        "cannot list resource \"coderworkspaceproxies\"",
        "(Forbidden, 403)",
    ] {
        assert!(refused.contains(part), "{part:?} missing from: {refused}");
    }
    assert_eq!(
        c[0]["structured"]["items"][0]["name"],
        "dev",
        "{out}\n{}",
        mcp.log_text()
    );
    assert_eq!(c[1]["structured"]["updated"], true, "{out}");
    assert_eq!(
        workspaces.get("dev").await.expect("dev").spec.running,
        Some(false)
    );
}
