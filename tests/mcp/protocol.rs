//! The protocol as a real client sees it: initialize, `tools/list` with schemas, 401 without a
//! valid token, and bad input (unknown tool, missing or ill-typed arguments, an oversized body,
//! a client that disconnects mid-request) answered clearly while the server keeps serving.

use serde_json::{Value, json};

use crate::support::{calls, env, initialize_body, mcp_post, python_client, raw_request};

/// The upstream fourteen and the four of CoderProvisioner and CoderWorkspaceProxy, sorted.
const TOOLS: [&str; 18] = [
    "check_health",
    "get_control_plane_deployment_status",
    "get_control_plane_status",
    "get_events",
    "get_pod_logs",
    "get_provisioner_status",
    "get_service_status",
    "get_template",
    "get_workspace",
    "get_workspace_proxy_status",
    "list_control_plane_pods",
    "list_control_planes",
    "list_provisioners",
    "list_templates",
    "list_workspace_proxies",
    "list_workspaces",
    "set_template_running",
    "set_workspace_running",
];

fn required(schema: &Value) -> Vec<String> {
    let mut names: Vec<String> = schema["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn initialize_and_tools_list_show_the_upstream_tools_with_schemas() {
    let (_, env) = env().await;
    let out = python_client(&env.mcp.url(), Some(&env.admin_token), None, json!([])).await;
    assert_eq!(out["serverInfo"]["name"], "coder-k8s", "{out}");
    assert_eq!(out["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    let tools = out["tools"].as_array().expect("tools");
    let mut names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
    names.sort();
    assert_eq!(names, TOOLS);
    for tool in tools {
        let name = &tool["name"];
        assert_eq!(tool["inputSchema"]["type"], "object", "{name}");
        assert_eq!(tool["inputSchema"]["additionalProperties"], false, "{name}");
        assert_eq!(tool["outputSchema"]["type"], "object", "{name}: {tool}");
    }
    let by_name = |n: &str| tools.iter().find(|t| t["name"] == n).expect("tool");
    assert_eq!(
        required(&by_name("set_workspace_running")["inputSchema"]),
        ["name", "namespace", "running"]
    );
    assert_eq!(
        required(&by_name("get_pod_logs")["inputSchema"]),
        ["name", "namespace"]
    );
    let list = by_name("list_workspaces");
    assert!(required(&list["inputSchema"]).is_empty());
    for field in ["namespace", "limit", "continue"] {
        assert!(
            list["inputSchema"]["properties"][field].is_object(),
            "list_workspaces takes {field}: {list}"
        );
    }
    assert!(
        list["outputSchema"]["properties"]["items"].is_object(),
        "{list}"
    );
    // The status tools' summaries are flattened into one object an agent reads directly.
    for (tool, fields) in [
        (
            "get_provisioner_status",
            ["controlPlane", "keyName", "tags", "conditions"],
        ),
        (
            "get_workspace_proxy_status",
            ["proxyName", "displayName", "registered", "conditions"],
        ),
    ] {
        let schema = &by_name(tool)["outputSchema"];
        for field in fields {
            assert!(
                schema["properties"][field].is_object(),
                "{tool} returns {field}: {schema}"
            );
        }
        assert_eq!(
            required(&by_name(tool)["inputSchema"]),
            ["name", "namespace"]
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_a_valid_token_get_401_and_reach_no_tool() {
    let (_, env) = env().await;
    let address = &env.mcp.address;
    let body = initialize_body();
    let (status, text) = raw_request(address, &mcp_post(address, None, &body)).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("Authorization: Bearer"), "{text}");
    let (status, text) =
        raw_request(address, &mcp_post(address, Some("Bearer garbage"), &body)).await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("not accepted"), "{text}");
    let (status, _) = raw_request(
        address,
        &mcp_post(address, Some("Basic dXNlcjpwYXNz"), &body),
    )
    .await;
    assert_eq!(status, 401);
    // The same through the SDK: the connection fails at initialize.
    let out = python_client(&env.mcp.url(), Some("garbage"), None, json!([])).await;
    assert!(out["connectError"].is_string(), "{out}");
    assert!(out.get("tools").is_none(), "{out}");
    // A valid token still works, and the token never reaches the log.
    let (status, text) = raw_request(
        address,
        &mcp_post(address, Some(&format!("Bearer {}", env.admin_token)), &body),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let log = env.mcp.log_text();
    assert!(!log.contains(&env.admin_token), "a token was logged");
    assert!(!log.contains("garbage"), "a rejected token was logged");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_tool_calls_get_clear_errors_and_the_server_keeps_serving() {
    let (_, env) = env().await;
    let out = python_client(
        &env.mcp.url(),
        Some(&env.admin_token),
        None,
        json!([
            { "tool": "no_such_tool", "arguments": {} },
            { "tool": "get_workspace", "arguments": { "namespace": "default" } },
            { "tool": "set_workspace_running",
              "arguments": { "namespace": "default", "name": "w", "running": "yes" } },
            { "tool": "get_workspace",
              "arguments": { "namespace": "default", "name": "w", "namepsace": "x" } },
            { "tool": "get_workspace", "arguments": { "namespace": "default", "name": "" } },
            { "tool": "check_health", "arguments": {} },
        ]),
    )
    .await;
    let calls = calls(&out);
    // A JSON-RPC error, or (arguments the tool's schema refuses) a tool error: either way the
    // client gets the reason.
    let error = |i: usize| {
        let call = &calls[i];
        if call["isError"] == true {
            call["text"].as_str().unwrap_or_default().to_string()
        } else {
            call["error"].as_str().unwrap_or_default().to_string()
        }
    };
    assert!(
        error(0).contains("unknown tool \"no_such_tool\""),
        "{}",
        calls[0]
    );
    assert_eq!(
        calls[0]["code"], -32602,
        "invalid params, as the MCP spec says"
    );
    assert!(error(1).contains("missing field `name`"), "{}", calls[1]);
    assert!(error(2).contains("boolean"), "{}", calls[2]);
    assert!(error(3).contains("namepsace"), "{}", calls[3]);
    assert_eq!(calls[4]["isError"], true, "{}", calls[4]);
    assert_eq!(calls[4]["text"], "name is required");
    assert_eq!(calls[5]["isError"], false, "{}", calls[5]);
    assert_eq!(calls[5]["structured"]["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_and_abandoned_requests_leave_the_server_serving() {
    let (_, env) = env().await;
    let address = &env.mcp.address;
    let auth = format!("Bearer {}", env.admin_token);
    // Over --mcp-max-request-bytes (1 MiB): 413 before any tool runs.
    let huge = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "get_workspace",
                    "arguments": { "namespace": "x".repeat(2 << 20), "name": "w" } }
    })
    .to_string();
    let (status, text) = raw_request(address, &mcp_post(address, Some(&auth), &huge)).await;
    assert_eq!(status, 413, "{text}");
    // A client that promises a body and disconnects halfway.
    for _ in 0..5 {
        let mut stream = tokio::net::TcpStream::connect(address.as_str())
            .await
            .expect("connect");
        let head = format!(
            "POST /mcp HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\nauthorization: {auth}\r\ncontent-length: 1000\r\n\r\n{{\"jsonrpc\":"
        );
        tokio::io::AsyncWriteExt::write_all(&mut stream, head.as_bytes())
            .await
            .expect("send half a request");
        drop(stream);
    }
    // A body that is not JSON.
    let (status, text) = raw_request(address, &mcp_post(address, Some(&auth), "{not json")).await;
    assert!(
        (400..500).contains(&status) || text.contains("-32700"),
        "{status} {text}"
    );
    // Still serving.
    let out = python_client(
        &env.mcp.url(),
        Some(&env.admin_token),
        None,
        json!([{ "tool": "check_health", "arguments": {} }]),
    )
    .await;
    assert_eq!(calls(&out)[0]["structured"]["status"], "ok", "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_and_metrics_are_served_next_to_mcp() {
    let (_, env) = env().await;
    let address = &env.mcp.address;
    let get = |path: &str| {
        format!("GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n").into_bytes()
    };
    let (status, _) = raw_request(address, &get("/healthz")).await;
    assert_eq!(status, 200);
    let ready = envtest::poll_until("/readyz", std::time::Duration::from_secs(30), || {
        let request = get("/readyz");
        async move {
            let (status, body) = raw_request(address, &request).await;
            if status == 200 {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            }
        }
    });
    ready.await;
    python_client(
        &env.mcp.url(),
        Some(&env.admin_token),
        None,
        json!([{ "tool": "check_health", "arguments": {} }, { "tool": "nope", "arguments": {} }]),
    )
    .await;
    let (status, text) = raw_request(address, &get("/metrics")).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("coder_k8s_mcp_tool_calls_total{tool=\"check_health\",outcome=\"ok\"}"),
        "{text}"
    );
    assert!(
        text.contains(
            "coder_k8s_mcp_tool_calls_total{tool=\"unknown\",outcome=\"protocol_error\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("coder_k8s_mcp_tool_call_duration_seconds_bucket{"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_https_with_the_given_certificate() {
    let (cp, env) = env().await;
    let ca = cp.serving_ca();
    let (cert, key) = ca.issue_serving(&["127.0.0.1", "localhost"]);
    let cert_file = cp.unique_file("mcp-tls", "crt");
    let key_file = cp.unique_file("mcp-tls", "key");
    let ca_file = cp.unique_file("mcp-ca", "crt");
    std::fs::write(&cert_file, cert).expect("write cert");
    std::fs::write(&key_file, key).expect("write key");
    std::fs::write(&ca_file, ca.cert_pem()).expect("write CA");
    let mcp = crate::support::start_mcp(
        cp,
        &[
            &format!("--mcp-tls-cert-file={}", cert_file.display()),
            &format!("--mcp-tls-private-key-file={}", key_file.display()),
        ],
    )
    .await;
    assert!(mcp.log_text().contains("tls=true"), "{}", mcp.log_text());
    let url = format!("https://{}/mcp", mcp.address);
    let out = python_client(
        &url,
        Some(&env.admin_token),
        Some(&ca_file),
        json!([{ "tool": "check_health", "arguments": {} }]),
    )
    .await;
    assert_eq!(calls(&out)[0]["structured"]["status"], "ok", "{out}");
    // Plain HTTP to the TLS port gets no MCP answer.
    let out = python_client(
        &format!("http://{}/mcp", mcp.address),
        Some(&env.admin_token),
        None,
        json!([]),
    )
    .await;
    assert!(out["connectError"].is_string(), "{out}");
}

/// `coder-k8s mcp`: the same tools over stdio, as the kubeconfig's user, no token.
#[tokio::test(flavor = "multi_thread")]
async fn the_stdio_mode_serves_the_tools_as_the_kubeconfig_user() {
    let (cp, _) = env().await;
    let argv = vec![
        crate::our_binary::PATH.to_string(),
        "mcp".to_string(),
        format!("--kubeconfig={}", cp.admin_kubeconfig().display()),
    ];
    let out = crate::support::python_client_stdio(
        &argv,
        json!([
            { "tool": "check_health", "arguments": {} },
            { "tool": "list_workspaces", "arguments": { "namespace": "default" } },
        ]),
    )
    .await;
    assert_eq!(
        out["tools"].as_array().map(Vec::len),
        Some(TOOLS.len()),
        "{out}"
    );
    let c = calls(&out);
    assert_eq!(c[0]["structured"]["status"], "ok", "{out}");
    assert_eq!(c[0]["structured"]["user"], "(the kubeconfig's user)");
    assert_eq!(c[1]["isError"], false, "{}", c[1]);
}
