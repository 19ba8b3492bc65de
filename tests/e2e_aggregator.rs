//! Our aggregated apiserver behind the real kube-aggregator (kube-apiserver v1.36 + etcd +
//! kube-controller-manager from the envtest harness), driven by the real kubectl: discovery,
//! reads, writes, merge patches, watches and `kubectl explain` through kube-apiserver, and the
//! namespace controller deleting our objects with their namespace.

use std::process::{Command, Stdio};
use std::time::Duration;

use envtest::{ApiServiceRegistration, ControlPlane, GuardedChild};
use tokio::io::{AsyncBufReadExt, BufReader};
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

/// The control plane (with kube-controller-manager) and our registered server.
async fn setup() -> &'static ControlPlane {
    let cp = envtest::shared_with_controller_manager();
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

fn workspace(name: &str, namespace: &str, running: bool) -> String {
    format!(
        "apiVersion: {GROUP}/{VERSION}
kind: CoderWorkspace
metadata:
  name: {name}
  namespace: {namespace}
spec:
  running: {running}
"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_creates_lists_and_patches_through_the_aggregator() {
    let cp = setup().await;
    let ns = cp.create_namespace("e2e-crud").await;

    let created = kubectl_ok(
        cp,
        &["create", "-f", "-"],
        Some(&workspace("alpha", &ns, true)),
    )
    .await;
    assert!(
        created.contains("coderworkspace.aggregation.coder.com/alpha created"),
        "{created}"
    );

    let table = kubectl_ok(cp, &["get", "coderworkspaces", "-A"], None).await;
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        ["NAMESPACE", "NAME", "RUNNING", "AUTOSHUTDOWN", "AGE"],
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(&format!("{ns} ")))
        .unwrap_or_else(|| panic!("no row for {ns}:\n{table}"))
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], [ns.as_str(), "alpha", "true"], "{table}");

    let patched = kubectl_ok(
        cp,
        &[
            "patch",
            "coderworkspace",
            "alpha",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"running":false},"metadata":{"labels":{"team":"blue"}}}"#,
        ],
        None,
    )
    .await;
    assert!(patched.contains("patched"), "{patched}");
    let fields = kubectl_ok(
        cp,
        &[
            "get",
            "cws",
            "alpha",
            "-n",
            &ns,
            "-o",
            "jsonpath={.spec.running} {.metadata.labels.team}",
        ],
        None,
    )
    .await;
    assert_eq!(fields.trim(), "false blue");

    let (ok, _, stderr) = kubectl(
        cp,
        &["create", "-f", "-"],
        Some(&workspace("alpha", &ns, true)),
    )
    .await;
    assert!(!ok, "a second create of the same name must fail");
    assert!(
        stderr.contains("AlreadyExists") || stderr.contains("already exists"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_watch_sees_a_concurrent_change() {
    let cp = setup().await;
    let ns = cp.create_namespace("e2e-watch").await;
    kubectl_ok(
        cp,
        &["create", "-f", "-"],
        Some(&workspace("watched", &ns, true)),
    )
    .await;

    let mut watch = cp.kubectl();
    watch
        .args(["get", "coderworkspaces", "-n", &ns, "-w", "-o"])
        .arg("jsonpath={.metadata.name}={.spec.running}{\"\\n\"}")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut watch = watch.spawn().expect("spawn kubectl get -w");
    let mut lines = BufReader::new(watch.stdout.take().expect("stdout")).lines();
    let mut next_line = async || {
        tokio::time::timeout(KUBECTL_TIMEOUT, lines.next_line())
            .await
            .expect("kubectl get -w printed nothing in time")
            .expect("read kubectl output")
            .expect("kubectl get -w ended early")
    };
    assert_eq!(next_line().await, "watched=true", "the initial list");

    kubectl_ok(
        cp,
        &[
            "patch",
            "cws",
            "watched",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"running":false}}"#,
        ],
        None,
    )
    .await;
    assert_eq!(
        next_line().await,
        "watched=false",
        "the change, as a watch event"
    );
    watch.kill().await.expect("stop the watch");
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_and_explain_through_the_aggregator() {
    let cp = setup().await;

    let resources = kubectl_ok(cp, &["api-resources", "--api-group", GROUP], None).await;
    for (plural, kind) in [
        ("coderworkspaces", "CoderWorkspace"),
        ("codertemplates", "CoderTemplate"),
    ] {
        let line = resources
            .lines()
            .find(|l| l.starts_with(&format!("{plural} ")))
            .unwrap_or_else(|| panic!("{plural} missing:\n{resources}"));
        assert!(line.contains(&format!("{GROUP}/{VERSION}")), "{line}");
        assert!(line.contains(kind), "{line}");
    }

    // The aggregator merges our OpenAPI into /openapi/v3 a second or two after Available.
    let explained = envtest::poll_until(
        "kubectl explain coderworkspace.spec",
        Duration::from_secs(60),
        || async {
            match kubectl(cp, &["explain", "coderworkspace.spec"], None).await {
                (true, stdout, _) => Ok(stdout),
                (false, _, stderr) => Err(stderr),
            }
        },
    )
    .await;
    assert!(explained.contains("CoderWorkspace"), "{explained}");
    assert!(explained.contains("running"), "{explained}");
    assert!(explained.contains("<boolean>"), "{explained}");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_namespace_removes_our_objects_in_it() {
    let cp = setup().await;
    let doomed = cp.create_namespace("e2e-doomed").await;
    let kept = cp.create_namespace("e2e-kept").await;
    let manifests = [
        workspace("one", &doomed, true),
        workspace("two", &doomed, false),
        workspace("survivor", &kept, true),
    ]
    .join("---\n");
    kubectl_ok(cp, &["create", "-f", "-"], Some(&manifests)).await;

    kubectl_ok(cp, &["delete", "namespace", &doomed, "--wait=false"], None).await;
    // kube-controller-manager's namespace controller finds our kinds through discovery and
    // deletes them (deletecollection) before it removes the namespace.
    envtest::poll_until(
        "the namespace to be finalized",
        Duration::from_secs(120),
        || async {
            match kubectl(cp, &["get", "namespace", &doomed, "-o", "name"], None).await {
                (false, _, stderr) if stderr.contains("NotFound") => Ok(()),
                (_, stdout, stderr) => Err(format!(
                    "{stdout}{stderr}{}",
                    kubectl(cp, &["get", "namespace", &doomed, "-o", "yaml"], None)
                        .await
                        .1
                )),
            }
        },
    )
    .await;

    let all = kubectl_ok(
        cp,
        &[
            "get",
            "cws",
            "-A",
            "-o",
            "jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{\"\\n\"}{end}",
        ],
        None,
    )
    .await;
    assert!(
        !all.lines().any(|l| l.starts_with(&format!("{doomed}/"))),
        "objects of the deleted namespace remain:\n{all}"
    );
    assert!(
        all.lines().any(|l| l == format!("{kept}/survivor")),
        "objects of other namespaces stay:\n{all}"
    );
}
