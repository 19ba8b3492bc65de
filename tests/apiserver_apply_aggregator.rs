//! Server-side apply through the real kube-aggregator: kubectl talks to kube-apiserver v1.36
//! (envtest harness), which proxies `aggregation.coder.com` to our server. The setup is the
//! one of `tests/e2e_aggregator.rs` (no controller manager needed here).

use std::process::{Command, Stdio};
use std::time::Duration;

use envtest::{ApiServiceRegistration, ControlPlane, GuardedChild};
use tokio::sync::OnceCell;

const GROUP: &str = "aggregation.coder.com";
const VERSION: &str = "v1alpha1";
/// kubectl calls through the aggregator; generous for a busy two-core machine.
const KUBECTL_TIMEOUT: Duration = Duration::from_secs(60);

/// Our server, started once per test binary and registered as `v1alpha1.aggregation.coder.com`.
struct AggregatedServer {
    _process: GuardedChild,
}

static SERVER: OnceCell<AggregatedServer> = OnceCell::const_new();

/// The control plane and our registered server.
async fn setup() -> &'static ControlPlane {
    let cp = envtest::shared();
    SERVER.get_or_init(|| start_and_register(cp)).await;
    cp
}

async fn start_and_register(cp: &'static ControlPlane) -> AggregatedServer {
    let serving = cp.aggregated_serving_cert(GROUP, VERSION);

    // Port 0: the server binds a free port itself (no race with other test binaries) and
    // prints its URL.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_coder-k8s"));
    cmd.arg("--app=aggregated-apiserver")
        .arg("--bind-address=127.0.0.1")
        .arg("--secure-port=0")
        .arg(format!("--tls-cert-file={}", serving.cert_file.display()))
        .arg(format!(
            "--tls-private-key-file={}",
            serving.key_file.display()
        ))
        .stdin(Stdio::null());
    let log = cp.dir().join("aggregated-apiserver.log");
    let mut process = envtest::spawn_guarded("coder-k8s aggregated-apiserver", cmd, Some(&log))
        .expect("start our aggregated apiserver");

    const LISTENING: &str = "listening on https://127.0.0.1:";
    let port: u16 = envtest::poll_until("our server to listen", Duration::from_secs(30), || {
        let exited = process.try_wait().ok().flatten();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        async move {
            if let Some(status) = exited {
                panic!("our aggregated apiserver exited ({status}):\n{text}");
            }
            text.lines()
                .find_map(|l| l.split_once(LISTENING))
                .and_then(|(_, port)| port.trim().parse().ok())
                .ok_or_else(|| format!("no `{LISTENING}PORT` line yet; log:\n{text}"))
        }
    })
    .await;
    cp.register_apiservice(ApiServiceRegistration::new(
        GROUP,
        VERSION,
        port,
        &serving.ca_pem,
    ))
    .await;
    AggregatedServer { _process: process }
}

/// Runs kubectl (admin) with a deadline; returns (success, stdout, stderr).
async fn kubectl(cp: &ControlPlane, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut cmd = cp.kubectl();
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn kubectl");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
    }
    let output = tokio::time::timeout(KUBECTL_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} hung for {KUBECTL_TIMEOUT:?}"))
        .expect("kubectl output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

async fn kubectl_ok(cp: &ControlPlane, args: &[&str], stdin: Option<&str>) -> String {
    let (ok, stdout, stderr) = kubectl(cp, args, stdin).await;
    assert!(ok, "kubectl {args:?} failed:\n{stderr}\n{stdout}");
    stdout
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
