//! `--app=all`: controller, aggregated apiserver (and MCP server) in one process, against the real
//! kube-apiserver of the envtest harness. Both come up (both probe endpoints answer, both
//! /metrics carry what the Grafana dashboard of deploy/overlays/monitoring queries), and one
//! SIGTERM stops both; when one app cannot start, the other is stopped too.

#[path = "common/our_binary.rs"]
mod our_binary;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use envtest::ControlPlane;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(60);

/// GET over plain HTTP/1.0 on 127.0.0.1: (status code, body).
async fn http_get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .map_err(|_| "read timed out".to_string())?
    .map_err(|e| e.to_string())?;
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("no status line: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// `kubectl get --raw` against our apiserver through the kubeconfig it wrote.
async fn apiserver_get(
    cp: &ControlPlane,
    kubeconfig: &std::path::Path,
    path: &str,
) -> Result<String, String> {
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        tokio::process::Command::new(cp.kubectl_path())
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["get", "--raw", path])
            .output(),
    )
    .await
    .map_err(|_| "kubectl timed out".to_string())?
    .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

struct AllInOne {
    process: our_binary::OurProcess,
    health_port: u16,
    metrics_port: u16,
    mcp_port: u16,
    kubeconfig: std::path::PathBuf,
}

/// The CoderControlPlane CRD the controller watches, from generated/ (once per binary).
async fn crd_installed(cp: &ControlPlane) {
    static CRD: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CRD.get_or_init(|| async {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("generated/crds");
        for args in [
            vec!["apply".to_string(), "-k".into(), dir.display().to_string()],
            vec![
                "wait".into(),
                "--for=condition=Established".into(),
                "--timeout=60s".into(),
                "crd/codercontrolplanes.coder.com".into(),
            ],
        ] {
            let out =
                tokio::time::timeout(Duration::from_secs(90), cp.kubectl().args(&args).output())
                    .await
                    .expect("kubectl timed out")
                    .expect("kubectl");
            assert!(
                out.status.success(),
                "kubectl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    })
    .await;
}

fn start_all(cp: &ControlPlane, secure_port: u16) -> AllInOne {
    let health_port = envtest::process::free_port();
    let metrics_port = envtest::process::free_port();
    let mcp_port = envtest::process::free_port();
    let kubeconfig = cp.unique_file("all-in-one", "kubeconfig");
    let mut cmd = our_binary::command("all");
    // Controller: the harness's admin (tests/deploy/cluster.rs runs the apps with the
    // deployed ServiceAccounts' permissions).
    cmd.arg(format!("--kubeconfig={}", cp.admin_kubeconfig().display()))
        .arg(format!(
            "--health-probe-bind-address=127.0.0.1:{health_port}"
        ))
        .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
        // Apiserver: self-signed, anonymous (this test is about the process, not auth).
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={secure_port}"))
        .arg("--authentication=none")
        .arg(format!("--write-kubeconfig={}", kubeconfig.display()))
        // MCP server: plain HTTP on loopback.
        .arg(format!("--mcp-bind-address=127.0.0.1:{mcp_port}"))
        .arg("--mcp-plain-http")
        .env("RUST_LOG", "info,kube_runtime=debug,coder_k8s=debug");
    let process = our_binary::spawn(cp, "coder-k8s --app=all", "all-in-one", cmd);
    AllInOne {
        process,
        health_port,
        metrics_port,
        mcp_port,
        kubeconfig,
    }
}

/// Metric names a PromQL expression uses: identifiers followed by `{` or `[`, or standing
/// alone, that start with the apps' prefix.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(start) = rest.find("coder_k8s_") {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Every sample name a Prometheus scrape of `text` yields: families from `# TYPE` lines with
/// the suffixes their type adds (so a labelled family with no samples yet still counts),
/// plus every sample line's name.
fn exposed_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                continue;
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                _ => &[""],
            };
            for suffix in suffixes {
                names.insert(format!("{name}{suffix}"));
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    names
}

#[test]
fn metric_name_extraction() {
    assert_eq!(
        metric_names(r#"sum by (le) (rate(coder_k8s_a_bucket{x="y"}[5m])) / coder_k8s_b"#),
        BTreeSet::from(["coder_k8s_a_bucket".to_string(), "coder_k8s_b".to_string()])
    );
    let exposed =
        exposed_names("# TYPE coder_k8s_r counter\n# TYPE coder_k8s_h histogram\ncoder_k8s_g 1\n");
    assert!(exposed.contains("coder_k8s_r_total") && exposed.contains("coder_k8s_h_bucket"));
    assert!(exposed.contains("coder_k8s_g") && !exposed.contains("coder_k8s_r"));
}

#[tokio::test]
async fn app_all_serves_both_apps_and_stops_both_on_one_sigterm() {
    let cp = envtest::shared();
    crd_installed(cp).await;
    let secure_port = envtest::process::free_port();
    let mut app = start_all(cp, secure_port);
    let (health, metrics_port, kubeconfig) =
        (app.health_port, app.metrics_port, app.kubeconfig.clone());

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match http_get(health, "/readyz").await {
            Ok((200, _)) => break,
            other if tokio::time::Instant::now() > deadline => panic!(
                "the controller's /readyz: {other:?}\n{}",
                app.process.log_tail(60)
            ),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let kc = kubeconfig.clone();
    envtest::poll_until("the apiserver's /readyz", WAIT, || {
        let kc = kc.clone();
        async move { apiserver_get(cp, &kc, "/readyz").await.map(|_| ()) }
    })
    .await;
    assert!(
        app.process.try_wait().unwrap().is_none(),
        "{}",
        app.process.log_tail(30)
    );
    assert_eq!(http_get(health, "/healthz").await.unwrap().0, 200);
    let mcp_port = app.mcp_port;
    envtest::poll_until("the MCP server's /readyz", WAIT, || async move {
        match http_get(mcp_port, "/readyz").await {
            Ok((200, _)) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    apiserver_get(cp, &kubeconfig, "/livez")
        .await
        .expect("/livez");
    // The API itself answers (the demo-free store is empty, but the kind is served).
    apiserver_get(
        cp,
        &kubeconfig,
        "/apis/aggregation.coder.com/v1alpha1/coderworkspaces",
    )
    .await
    .expect("list coderworkspaces");

    // What the dashboard queries, the apps expose. Labelled families appear once they have a
    // sample: hold a watch open, and make one reconcile fail (a name too long for a label value).
    let _watch = tokio::process::Command::new(cp.kubectl_path())
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args([
            "get",
            "coderworkspaces",
            "-A",
            "--watch",
            "--request-timeout=60s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl watch");
    let namespace = cp.create_namespace("app-all").await;
    let long_name = "x".repeat(70);
    let manifest = format!(
        "apiVersion: coder.com/v1alpha1\nkind: CoderControlPlane\nmetadata:\n  name: {long_name}\n  namespace: {namespace}\nspec: {{}}\n"
    );
    let mut apply = cp.kubectl();
    apply
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null());
    let mut child = apply.spawn().expect("kubectl apply");
    {
        use tokio::io::AsyncWriteExt;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(manifest.as_bytes()).await.unwrap();
    }
    assert!(child.wait().await.unwrap().success());
    let kc = kubeconfig.clone();
    let (controller_metrics, apiserver_metrics) =
        envtest::poll_until("watch and reconcile-error samples", WAIT, || {
            let kc = kc.clone();
            async move {
                let (_, controller) = http_get(metrics_port, "/metrics").await?;
                let apiserver = apiserver_get(cp, &kc, "/metrics").await?;
                if controller.contains("coder_k8s_controller_reconcile_errors_total{")
                    && apiserver.contains("coder_k8s_apiserver_watches_open{")
                {
                    Ok((controller, apiserver))
                } else {
                    Err("no samples yet".to_string())
                }
            }
        })
        .await;
    let mut exposed = exposed_names(&controller_metrics);
    exposed.extend(exposed_names(&apiserver_metrics));
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("deploy/overlays/monitoring/dashboards/coder-k8s.json"),
        )
        .expect("dashboard"),
    )
    .expect("dashboard JSON");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            queried.extend(metric_names(target["expr"].as_str().unwrap_or_default()));
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        queried.extend(metric_names(
            variable["definition"].as_str().unwrap_or_default(),
        ));
    }
    assert!(queried.len() >= 8, "{queried:?}");
    let missing: Vec<_> = queried.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics no app exports: {missing:?}\nexposed: {exposed:?}"
    );

    // One SIGTERM: both apps drain and the process exits 0.
    app.process.signal("TERM").expect("SIGTERM");
    let status = app
        .process
        .wait_timeout(Duration::from_secs(30))
        .expect("wait")
        .unwrap_or_else(|| {
            panic!(
                "still running 30 s after SIGTERM:\n{}",
                app.process.log_tail(30)
            )
        });
    let log = app.process.log_tail(200);
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("controller stopped"), "{log}");
    assert!(log.contains("aggregated apiserver stopped"), "{log}");
    assert!(
        http_get(health, "/healthz").await.is_err(),
        "the probe server is gone"
    );
}

#[tokio::test]
async fn app_all_exits_when_the_apiserver_cannot_start() {
    let cp = envtest::shared();
    crd_installed(cp).await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut app = start_all(cp, taken.local_addr().unwrap().port());
    let status = app
        .process
        .wait_timeout(Duration::from_secs(75))
        .expect("wait")
        .unwrap_or_else(|| {
            panic!(
                "still running with its port taken:\n{}",
                app.process.log_tail(30)
            )
        });
    let log = app.process.log_tail(200);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("binding 127.0.0.1"), "{log}");
    // The controller was told to stop; it either drained or hit --app=all's drain deadline
    // (45 s): the process never keeps running half of itself.
    assert!(
        log.contains("controller stopped") || log.contains("did not stop in time"),
        "{log}"
    );
}
