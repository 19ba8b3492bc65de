//! Every tool through the Python SDK against kube-apiserver with objects in it: a
//! CoderControlPlane with its Deployment, Service, pod and events, CoderProvisioners and
//! CoderWorkspaceProxies next to the Secrets holding their key and token, and workspaces and
//! templates served by our aggregated apiserver behind the kube-aggregator.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Pod, Service};
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use coder_k8s::api::aggregation::v1alpha1::{CoderTemplate, CoderWorkspace};
use coder_k8s::api::coder::v1alpha1::{CoderControlPlane, CoderProvisioner, CoderWorkspaceProxy};

use crate::support::{calls, env, python_client};

async fn create<K>(client: &kube::Client, namespace: &str, object: Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let api: kube::Api<K> = kube::Api::namespaced(client.clone(), namespace);
    let object: K = serde_json::from_value(object).expect("valid object");
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("create {}: {e}", K::kind(&Default::default())))
}

async fn set_status<K>(client: &kube::Client, namespace: &str, name: &str, status: Value)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned,
    K::DynamicType: Default,
{
    let api: kube::Api<K> = kube::Api::namespaced(client.clone(), namespace);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await
    .unwrap_or_else(|e| panic!("status of {name}: {e}"));
}

/// The objects the tools read, in a fresh namespace; returns it.
async fn fixtures(cp: &envtest::ControlPlane) -> String {
    let ns = cp.create_namespace("mcp-tools").await;
    let client = cp.admin_client().await;
    // Pods need their ServiceAccount; without kube-controller-manager nobody makes `default`.
    create::<k8s_openapi::api::core::v1::ServiceAccount>(
        &client,
        &ns,
        json!({ "metadata": { "name": "default" } }),
    )
    .await;
    create::<CoderControlPlane>(
        &client,
        &ns,
        json!({ "apiVersion": "coder.com/v1alpha1", "kind": "CoderControlPlane",
                "metadata": { "name": "coder" }, "spec": {} }),
    )
    .await;
    set_status::<CoderControlPlane>(
        &client,
        &ns,
        "coder",
        json!({ "phase": "Ready", "readyReplicas": 1, "url": "http://coder.example:80",
                "observedGeneration": 1,
                "conditions": [{ "type": "Available", "status": "True", "reason": "Ready",
                                 "message": "1 ready", "lastTransitionTime": "2026-01-01T00:00:00Z" }] }),
    )
    .await;
    let labels =
        json!({ "app.kubernetes.io/name": "coder", "app.kubernetes.io/instance": "coder" });
    create::<Deployment>(
        &client,
        &ns,
        json!({ "metadata": { "name": "coder" },
                "spec": { "replicas": 2, "selector": { "matchLabels": labels },
                          "template": { "metadata": { "labels": labels },
                                        "spec": { "containers": [{ "name": "coder", "image": "coder:x" }] } } } }),
    )
    .await;
    set_status::<Deployment>(
        &client,
        &ns,
        "coder",
        json!({ "replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1,
                "unavailableReplicas": 1, "observedGeneration": 1 }),
    )
    .await;
    create::<Service>(
        &client,
        &ns,
        json!({ "metadata": { "name": "coder", "annotations": { "team": "platform" } },
                "spec": { "selector": labels,
                          "ports": [{ "name": "http", "port": 80, "targetPort": 8080 }] } }),
    )
    .await;
    for pod in ["coder-b", "coder-a"] {
        create::<Pod>(
            &client,
            &ns,
            json!({ "metadata": { "name": pod, "labels": labels },
                    "spec": { "containers": [{ "name": "coder", "image": "coder:x" }] } }),
        )
        .await;
    }
    create::<Pod>(
        &client,
        &ns,
        json!({ "metadata": { "name": "unrelated", "labels": { "app": "other" } },
                "spec": { "containers": [{ "name": "x", "image": "x" }] } }),
    )
    .await;
    create::<Event>(
        &client,
        &ns,
        json!({ "metadata": { "name": "coder-a.1" },
                "involvedObject": { "kind": "Pod", "name": "coder-a", "namespace": ns },
                "type": "Warning", "reason": "BackOff", "message": "Back-off pulling image",
                "count": 3, "lastTimestamp": "2026-01-01T00:00:00Z" }),
    )
    .await;
    for (name, running) in [("ws-a", false), ("ws-b", true), ("ws-c", false)] {
        create::<CoderWorkspace>(
            &client,
            &ns,
            json!({ "apiVersion": "aggregation.coder.com/v1alpha1", "kind": "CoderWorkspace",
                    "metadata": { "name": name },
                    "spec": { "running": running, "templateName": "docker" } }),
        )
        .await;
    }
    create::<CoderTemplate>(
        &client,
        &ns,
        json!({ "apiVersion": "aggregation.coder.com/v1alpha1", "kind": "CoderTemplate",
                "metadata": { "name": "docker" }, "spec": { "running": false } }),
    )
    .await;
    ns
}

fn structured(call: &Value) -> &Value {
    assert_eq!(call["isError"], false, "{call}");
    &call["structured"]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tool_answers_from_the_cluster() {
    let (cp, env) = env().await;
    let ns = fixtures(cp).await;
    let object = json!({ "namespace": ns, "name": "coder" });
    let out = python_client(
        &env.mcp.url(),
        Some(&env.admin_token),
        None,
        json!([
            { "tool": "list_control_planes", "arguments": { "namespace": ns } },
            { "tool": "get_control_plane_status", "arguments": object },
            { "tool": "list_control_plane_pods", "arguments": object },
            { "tool": "list_control_plane_pods", "arguments": { "namespace": ns, "name": "coder", "limit": 1 } },
            { "tool": "get_control_plane_deployment_status", "arguments": object },
            { "tool": "get_service_status", "arguments": object },
            { "tool": "list_workspaces", "arguments": { "namespace": ns, "limit": 2 } },
            { "tool": "get_workspace", "arguments": { "namespace": ns, "name": "ws-b" } },
            { "tool": "set_workspace_running", "arguments": { "namespace": ns, "name": "ws-a", "running": true } },
            { "tool": "set_workspace_running", "arguments": { "namespace": ns, "name": "ws-a", "running": true } },
            { "tool": "list_templates", "arguments": { "namespace": ns } },
            { "tool": "get_template", "arguments": { "namespace": ns, "name": "docker" } },
            { "tool": "set_template_running", "arguments": { "namespace": ns, "name": "docker", "running": true } },
            { "tool": "get_events", "arguments": { "namespace": ns, "name": "coder-a", "kind": "Pod" } },
            { "tool": "get_pod_logs", "arguments": { "namespace": ns, "name": "coder-a" } },
            { "tool": "check_health", "arguments": {} },
            { "tool": "get_workspace", "arguments": { "namespace": ns, "name": "missing" } },
            { "tool": "get_pod_logs", "arguments": { "namespace": ns, "name": "missing", "tailLines": 5 } },
        ]),
    )
    .await;
    let c = calls(&out);

    let cps = structured(&c[0]);
    assert_eq!(
        cps["items"],
        json!([{ "name": "coder", "namespace": ns, "phase": "Ready", "readyReplicas": 1,
                 "url": "http://coder.example:80" }])
    );
    let status = structured(&c[1]);
    assert_eq!(status["phase"], "Ready");
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["conditions"][0]["type"], "Available");
    assert_eq!(status["conditions"][0]["message"], "1 ready");

    let pods = structured(&c[2]);
    let names: Vec<&str> = pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["coder-a", "coder-b"],
        "only the control plane's pods, by name"
    );
    assert_eq!(pods["items"][0]["totalContainers"], 1);
    assert_eq!(pods["truncated"], false);
    let one = structured(&c[3]);
    assert_eq!(one["items"].as_array().unwrap().len(), 1);
    assert_eq!(one["truncated"], true);

    let deployment = structured(&c[4]);
    assert_eq!(
        (
            &deployment["replicas"],
            &deployment["readyReplicas"],
            &deployment["unavailableReplicas"]
        ),
        (&json!(2), &json!(1), &json!(1))
    );
    let service = structured(&c[5]);
    assert_eq!(service["type"], "ClusterIP");
    assert_eq!(
        service["ports"],
        json!([{ "name": "http", "port": 80, "targetPort": "8080", "protocol": "TCP" }])
    );
    assert_eq!(service["annotations"]["team"], "platform");

    let page = structured(&c[6]);
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    let token = page["continue"]
        .as_str()
        .expect("a continue token")
        .to_string();
    let ws = structured(&c[7]);
    assert_eq!(ws["workspace"]["name"], "ws-b");
    assert_eq!(ws["workspace"]["running"], true);
    assert_eq!(ws["workspace"]["templateName"], "docker");
    let set = structured(&c[8]);
    assert_eq!(set["updated"], true);
    assert_eq!(set["workspace"]["running"], true);
    assert_eq!(structured(&c[9])["updated"], false, "already running");

    let templates = structured(&c[10]);
    assert_eq!(templates["items"][0]["name"], "docker");
    assert_eq!(structured(&c[11])["template"]["running"], false);
    assert_eq!(structured(&c[12])["updated"], true);

    let events = structured(&c[13]);
    assert_eq!(
        events["items"],
        json!([{ "type": "Warning", "reason": "BackOff", "message": "Back-off pulling image",
                 "count": 3, "involvedObject": "Pod/coder-a",
                 "lastTimestamp": "2026-01-01T00:00:00Z" }])
    );
    // No kubelet in envtest: an unscheduled pod has no log yet (cutting is unit-tested).
    assert_eq!(
        structured(&c[14]),
        &json!({ "logs": "", "truncated": false })
    );

    let health = structured(&c[15]);
    assert_eq!(health["status"], "ok");
    assert!(
        health["kubernetesVersion"]
            .as_str()
            .unwrap()
            .starts_with("v1."),
        "{health}"
    );
    assert!(
        health["user"].as_str().unwrap().ends_with(":mcp-admin"),
        "tools run as the caller: {health}"
    );
    assert_eq!(c[16]["isError"], true);
    let missing = c[16]["text"].as_str().unwrap_or_default();
    assert!(
        missing.contains(&format!("get CoderWorkspace {ns}/missing: "))
            && missing.contains("not found")
            && missing.contains("(NotFound, 404)"),
        "{missing}"
    );
    assert_eq!(c[17]["isError"], true);
    let no_pod = c[17]["text"].as_str().unwrap_or_default();
    assert!(
        no_pod.starts_with(&format!("read logs of pod {ns}/missing: "))
            && no_pod.contains("(NotFound, 404)"),
        "{no_pod}"
    );

    // The writes reached the aggregated apiserver.
    let client = cp.admin_client().await;
    let stored: CoderWorkspace = kube::Api::namespaced(client.clone(), &ns)
        .get("ws-a")
        .await
        .expect("ws-a");
    assert_eq!(stored.spec.running, Some(true));
    let stored: CoderTemplate = kube::Api::namespaced(client, &ns)
        .get("docker")
        .await
        .expect("template");
    assert_eq!(stored.spec.running, Some(true));

    // The next page through `continue`.
    let out = python_client(
        &env.mcp.url(),
        Some(&env.admin_token),
        None,
        json!([{ "tool": "list_workspaces",
                 "arguments": { "namespace": ns, "limit": 2, "continue": token } }]),
    )
    .await;
    let rest = structured(&calls(&out)[0]);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest.get("continue").is_none(), "last page: {rest}");
}

/// A provisioner key and a proxy token, stored where the controller keeps them; the tools must
/// never return them.
const PROVISIONER_KEY: &str = "provisioner-key-value-3f9a1c";
const PROXY_TOKEN: &str = "proxy-token-value-8b2e7d";

/// Two provisioners (one reconciled, one not yet) and two workspace proxies (one registered by
/// the controller, one registered elsewhere), with the Secrets of the key and the token.
async fn kind_fixtures(cp: &envtest::ControlPlane) -> String {
    let ns = cp.create_namespace("mcp-kinds").await;
    let client = cp.admin_client().await;
    let when = "2026-01-01T00:00:00Z";
    create::<k8s_openapi::api::core::v1::Secret>(
        &client,
        &ns,
        json!({ "metadata": { "name": "eu-provisioner-key" },
                "stringData": { "key": PROVISIONER_KEY } }),
    )
    .await;
    create::<CoderProvisioner>(
        &client,
        &ns,
        json!({ "apiVersion": "coder.com/v1alpha1", "kind": "CoderProvisioner",
                "metadata": { "name": "eu" },
                "spec": { "controlPlaneRef": { "name": "coder" }, "organizationName": "acme",
                          "replicas": 2, "tags": { "region": "eu", "scope": "organization" } } }),
    )
    .await;
    set_status::<CoderProvisioner>(
        &client,
        &ns,
        "eu",
        json!({ "phase": "Ready", "readyReplicas": 1, "observedGeneration": 1,
                "organizationName": "acme", "organizationID": "0b8e4a3c-0000-4000-8000-000000000001",
                "provisionerKeyName": "eu", "provisionerKeyID": "0b8e4a3c-0000-4000-8000-000000000002",
                "secretRef": { "name": "eu-provisioner-key", "key": "key" },
                "conditions": [
                    { "type": "ProvisionerKeyReady", "status": "True", "reason": "Created",
                      "message": "key eu in acme", "lastTransitionTime": when },
                    { "type": "DeploymentReady", "status": "False", "reason": "Progressing",
                      "message": "1 of 2 pods ready", "lastTransitionTime": when }] }),
    )
    .await;
    create::<CoderProvisioner>(
        &client,
        &ns,
        json!({ "apiVersion": "coder.com/v1alpha1", "kind": "CoderProvisioner",
                "metadata": { "name": "us" },
                "spec": { "controlPlaneRef": { "name": "coder" } } }),
    )
    .await;
    create::<k8s_openapi::api::core::v1::Secret>(
        &client,
        &ns,
        json!({ "metadata": { "name": "sydney-proxy-token" },
                "stringData": { "token": PROXY_TOKEN } }),
    )
    .await;
    create::<CoderWorkspaceProxy>(
        &client,
        &ns,
        json!({ "apiVersion": "coder.com/v1alpha1", "kind": "CoderWorkspaceProxy",
                "metadata": { "name": "sydney" },
                "spec": { "replicas": 2,
                          "bootstrap": { "coderURL": "https://coder.example.com",
                                         "credentialsSecretRef": { "name": "owner" },
                                         "proxyName": "syd", "displayName": "Sydney" } } }),
    )
    .await;
    set_status::<CoderWorkspaceProxy>(
        &client,
        &ns,
        "sydney",
        json!({ "phase": "Ready", "readyReplicas": 2, "observedGeneration": 1,
                "registered": true, "proxyName": "syd",
                "proxyID": "0b8e4a3c-0000-4000-8000-000000000003",
                "proxyTokenSecretRef": { "name": "sydney-proxy-token", "key": "token" },
                "conditions": [
                    { "type": "ProxyRegistered", "status": "True", "reason": "Registered",
                      "message": "proxy syd registered", "lastTransitionTime": when }] }),
    )
    .await;
    create::<CoderWorkspaceProxy>(
        &client,
        &ns,
        json!({ "apiVersion": "coder.com/v1alpha1", "kind": "CoderWorkspaceProxy",
                "metadata": { "name": "tokyo" },
                "spec": { "primaryAccessURL": "https://coder.example.com",
                          "proxySessionTokenSecretRef": { "name": "tokyo-token" } } }),
    )
    .await;
    ns
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioner_and_proxy_tools_answer_from_the_cluster_without_secrets() {
    let (cp, env) = env().await;
    let ns = kind_fixtures(cp).await;
    let out = python_client(
        &env.mcp.url(),
        Some(&env.admin_token),
        None,
        json!([
            { "tool": "list_provisioners", "arguments": { "namespace": ns } },
            { "tool": "list_provisioners", "arguments": { "namespace": ns, "limit": 1 } },
            { "tool": "list_provisioners", "arguments": {} },
            { "tool": "get_provisioner_status", "arguments": { "namespace": ns, "name": "eu" } },
            { "tool": "get_provisioner_status", "arguments": { "namespace": ns, "name": "missing" } },
            { "tool": "list_workspace_proxies", "arguments": { "namespace": ns } },
            { "tool": "list_workspace_proxies", "arguments": { "namespace": ns, "limit": 1 } },
            { "tool": "get_workspace_proxy_status", "arguments": { "namespace": ns, "name": "sydney" } },
            { "tool": "get_workspace_proxy_status", "arguments": { "namespace": ns, "name": "tokyo" } },
            { "tool": "get_workspace_proxy_status", "arguments": { "namespace": ns, "name": "missing" } },
        ]),
    )
    .await;
    // Nothing the tools return, structured or as text, carries the key or the token.
    let everything = out.to_string();
    assert!(!everything.contains(PROVISIONER_KEY), "{everything}");
    assert!(!everything.contains(PROXY_TOKEN), "{everything}");
    let c = calls(&out);

    let eu = json!({ "name": "eu", "namespace": ns, "controlPlane": "coder",
                     "organizationName": "acme", "replicas": 2, "readyReplicas": 1,
                     "phase": "Ready", "keyName": "eu",
                     "tags": { "region": "eu", "scope": "organization" } });
    let us = json!({ "name": "us", "namespace": ns, "controlPlane": "coder",
                     "organizationName": "default", "replicas": 1, "readyReplicas": 0,
                     "phase": "", "tags": {} });
    assert_eq!(
        structured(&c[0]),
        &json!({ "items": [eu.clone(), us.clone()] })
    );
    let first = structured(&c[1]);
    assert_eq!(first["items"], json!([eu.clone()]));
    let provisioners_next = first["continue"]
        .as_str()
        .expect("a continue token")
        .to_string();
    let everywhere = structured(&c[2])["items"]
        .as_array()
        .expect("items")
        .clone();
    assert!(everywhere.contains(&eu), "all namespaces: {everywhere:?}");

    let status = structured(&c[3]);
    assert_eq!(status["keyName"], "eu");
    assert_eq!(status["observedGeneration"], 1);
    assert_eq!(status["tags"]["region"], "eu");
    let conditions: Vec<(&str, &str, &str)> = status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .map(|c| {
            (
                c["type"].as_str().unwrap_or_default(),
                c["status"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        conditions,
        [
            ("DeploymentReady", "False", "1 of 2 pods ready"),
            ("ProvisionerKeyReady", "True", "key eu in acme"),
        ]
    );
    assert_eq!(c[4]["isError"], true, "{}", c[4]);
    let missing = c[4]["text"].as_str().unwrap_or_default();
    assert!(
        missing.starts_with(&format!("get CoderProvisioner {ns}/missing: "))
            && missing.contains("not found")
            && missing.contains("(NotFound, 404)"),
        "{missing}"
    );

    let sydney = json!({ "name": "sydney", "namespace": ns, "proxyName": "syd",
                         "displayName": "Sydney", "registered": true, "replicas": 2,
                         "readyReplicas": 2, "phase": "Ready" });
    let tokyo = json!({ "name": "tokyo", "namespace": ns, "registered": false, "replicas": 1,
                        "readyReplicas": 0, "phase": "" });
    assert_eq!(
        structured(&c[5]),
        &json!({ "items": [sydney.clone(), tokyo.clone()] })
    );
    let first = structured(&c[6]);
    assert_eq!(first["items"], json!([sydney]));
    let proxies_next = first["continue"]
        .as_str()
        .expect("a continue token")
        .to_string();
    let status = structured(&c[7]);
    assert_eq!(
        (
            &status["proxyName"],
            &status["displayName"],
            &status["registered"]
        ),
        (&json!("syd"), &json!("Sydney"), &json!(true))
    );
    assert_eq!(status["conditions"][0]["type"], "ProxyRegistered");
    assert_eq!(status["conditions"][0]["reason"], "Registered");
    let elsewhere = structured(&c[8]);
    assert_eq!(elsewhere["conditions"], json!([]));
    assert!(elsewhere.get("proxyName").is_none(), "{elsewhere}");
    assert_eq!(c[9]["isError"], true, "{}", c[9]);
    let missing = c[9]["text"].as_str().unwrap_or_default();
    assert!(
        missing.starts_with(&format!("get CoderWorkspaceProxy {ns}/missing: "))
            && missing.contains("(NotFound, 404)"),
        "{missing}"
    );

    // The second pages through `continue`.
    let out = python_client(
        &env.mcp.url(),
        Some(&env.admin_token),
        None,
        json!([
            { "tool": "list_provisioners",
              "arguments": { "namespace": ns, "limit": 1, "continue": provisioners_next } },
            { "tool": "list_workspace_proxies",
              "arguments": { "namespace": ns, "limit": 1, "continue": proxies_next } },
        ]),
    )
    .await;
    let c = calls(&out);
    assert_eq!(structured(&c[0]), &json!({ "items": [us] }), "last page");
    assert_eq!(structured(&c[1]), &json!({ "items": [tokyo] }), "last page");
}
