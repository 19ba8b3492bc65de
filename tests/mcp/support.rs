//! The MCP test environment: kube-apiserver (envtest) with the coder.com CRDs, our
//! aggregated apiserver behind the kube-aggregator, and the `coder-k8s --app=mcp-http` binary
//! reading that cluster; plus ServiceAccount tokens, the Python SDK client, and raw HTTP.

use std::process::Stdio;
use std::time::Duration;

use envtest::ControlPlane;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding};
use kube::api::PostParams;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::OnceCell;

use crate::aggregated_e2e::AggregatedServer;
use crate::our_binary;

/// How long one run of the Python client may take (start-up, initialize, list, calls).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A running `coder-k8s --app=mcp-http` process.
pub struct McpProcess {
    pub process: our_binary::OurProcess,
    pub address: String,
}

impl McpProcess {
    /// `http://ADDRESS/mcp`.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.address)
    }

    pub fn log_text(&self) -> String {
        self.process.log_text()
    }
}

/// Starts the binary with `--app=mcp-http` on a free loopback port, plain HTTP, reading the
/// cluster as the envtest admin, with `extra` flags; returns once it logs its address.
pub async fn start_mcp(cp: &ControlPlane, extra: &[&str]) -> McpProcess {
    start_mcp_as(cp, cp.admin_kubeconfig(), extra).await
}

/// As [`start_mcp`], with the server's own identity from `kubeconfig`.
pub async fn start_mcp_as(
    cp: &ControlPlane,
    kubeconfig: &std::path::Path,
    extra: &[&str],
) -> McpProcess {
    let mut cmd = our_binary::command("mcp-http");
    cmd.env("RUST_LOG", "info")
        .arg("--mcp-bind-address=127.0.0.1:0")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(extra);
    if !extra.iter().any(|f| f.starts_with("--mcp-tls-cert-file")) {
        cmd.arg("--mcp-plain-http");
    }
    let mut process = our_binary::spawn(cp, "coder-k8s mcp-http", "mcp-http", cmd);
    let address: String = process
        .logged_address("MCP server listening", Duration::from_secs(30))
        .await;
    McpProcess { process, address }
}

/// The shared environment of this test binary.
pub struct Env {
    pub mcp: McpProcess,
    /// Kept for the binary's lifetime: dropping it stops the process.
    pub _aggregated: AggregatedServer,
    /// Bearer token of a ServiceAccount bound to cluster-admin.
    pub admin_token: String,
}

static ENV: OnceCell<Env> = OnceCell::const_new();

/// The control plane, the CRD, our aggregated apiserver and one MCP server, started once.
pub async fn env() -> (&'static ControlPlane, &'static Env) {
    let cp = envtest::shared();
    let env = ENV
        .get_or_init(|| async {
            install_crd(cp).await;
            let aggregated = AggregatedServer::start_and_register(cp).await;
            let ns = cp.create_namespace("mcp-admin").await;
            let admin_token = token(cp, &ns, "mcp-admin").await;
            bind_cluster_role(cp, &ns, "mcp-admin", "cluster-admin").await;
            Env {
                mcp: start_mcp(cp, &[]).await,
                _aggregated: aggregated,
                admin_token,
            }
        })
        .await;
    (cp, env)
}

async fn install_crd(cp: &ControlPlane) {
    let crds = concat!(env!("CARGO_MANIFEST_DIR"), "/generated/crds");
    let apply = cp
        .kubectl()
        .args(["apply", "-f", crds])
        .output()
        .await
        .expect("run kubectl apply");
    assert!(
        apply.status.success(),
        "{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    for crd in [
        "codercontrolplanes.coder.com",
        "coderprovisioners.coder.com",
        "coderworkspaceproxies.coder.com",
    ] {
        cp.wait_crd_established(crd).await;
    }
}

/// A bound token (TokenRequest) of ServiceAccount `namespace/name`, created when absent.
pub async fn token(cp: &ControlPlane, namespace: &str, name: &str) -> String {
    let accounts: kube::Api<ServiceAccount> =
        kube::Api::namespaced(cp.admin_client().await, namespace);
    let account: ServiceAccount =
        serde_json::from_value(json!({ "metadata": { "name": name } })).expect("valid SA");
    match accounts.create(&PostParams::default(), &account).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(e) => panic!("creating ServiceAccount {namespace}/{name}: {e}"),
    }
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: Vec::new(),
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    accounts
        .create_token_request(name, &PostParams::default(), &request)
        .await
        .expect("TokenRequest")
        .status
        .expect("token status")
        .token
}

/// Binds ClusterRole `role` to ServiceAccount `namespace/name` cluster-wide.
pub async fn bind_cluster_role(cp: &ControlPlane, namespace: &str, name: &str, role: &str) {
    let bindings: kube::Api<ClusterRoleBinding> = kube::Api::all(cp.admin_client().await);
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": { "name": format!("{namespace}-{name}-{role}") },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role },
        "subjects": [{ "kind": "ServiceAccount", "name": name, "namespace": namespace }],
    }))
    .expect("valid binding");
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("create ClusterRoleBinding");
}

/// Creates Role `name` with `rules` in `namespace` and binds it to ServiceAccount `name` there.
pub async fn grant(cp: &ControlPlane, namespace: &str, name: &str, rules: Value) {
    let client = cp.admin_client().await;
    let roles: kube::Api<k8s_openapi::api::rbac::v1::Role> =
        kube::Api::namespaced(client.clone(), namespace);
    let role = serde_json::from_value(json!({ "metadata": { "name": name }, "rules": rules }))
        .expect("valid role");
    roles
        .create(&PostParams::default(), &role)
        .await
        .expect("create Role");
    let bindings: kube::Api<RoleBinding> = kube::Api::namespaced(client, namespace);
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": { "name": name },
        "roleRef": { "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name },
        "subjects": [{ "kind": "ServiceAccount", "name": name, "namespace": namespace }],
    }))
    .expect("valid binding");
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("create RoleBinding");
}

/// Runs the official Python SDK client (tests/mcp/client.py) against `url` with `token`
/// (and `ca_file` to trust for https), making `calls`; returns its JSON output.
pub async fn python_client(
    url: &str,
    token: Option<&str>,
    ca_file: Option<&std::path::Path>,
    calls: Value,
) -> Value {
    python_client_with_env(url, token, ca_file, calls, &[]).await
}

/// The Python SDK client over stdio: it starts `argv` and speaks MCP on its stdin/stdout.
pub async fn python_client_stdio(argv: &[String], calls: Value) -> Value {
    let command = serde_json::to_string(argv).expect("argv as JSON");
    python_client_with_env(
        "stdio",
        None,
        None,
        calls,
        &[("MCP_STDIO_COMMAND", command)],
    )
    .await
}

async fn python_client_with_env(
    url: &str,
    token: Option<&str>,
    ca_file: Option<&std::path::Path>,
    calls: Value,
    env: &[(&str, String)],
) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mcp/client.py");
    let mut cmd = tokio::process::Command::new("python3");
    cmd.arg(script)
        .arg(url)
        .arg(calls.to_string())
        .env_remove("MCP_TOKEN")
        .env_remove("MCP_CA_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = token {
        cmd.env("MCP_TOKEN", token);
    }
    if let Some(ca) = ca_file {
        cmd.env("MCP_CA_FILE", ca);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let child = cmd
        .spawn()
        .expect("run python3 (the MCP Python SDK is installed by hack/test.sh)");
    let output = tokio::time::timeout(CLIENT_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the Python MCP client hung for {CLIENT_TIMEOUT:?}"))
        .expect("python output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("the Python MCP client printed no JSON ({e}); stdout:\n{stdout}\nstderr:\n{stderr}")
    })
}

/// The `calls` entries of a client run, each by tool name in order.
pub fn calls(out: &Value) -> &Vec<Value> {
    out["calls"]
        .as_array()
        .unwrap_or_else(|| panic!("no calls in client output: {out}"))
}

/// Sends one raw HTTP/1.1 request to `address` and returns the status code and body.
pub async fn raw_request(address: &str, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect to the MCP server");
    stream.write_all(request).await.expect("send request");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("response in time")
        .expect("read response");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A JSON-RPC POST to /mcp with `authorization` (a full header value) when given.
pub fn mcp_post(address: &str, authorization: Option<&str>, body: &str) -> Vec<u8> {
    let auth = authorization
        .map(|a| format!("authorization: {a}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /mcp HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A JSON-RPC `initialize` request body.
pub fn initialize_body() -> String {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "raw-test", "version": "0" }
        }
    })
    .to_string()
}
