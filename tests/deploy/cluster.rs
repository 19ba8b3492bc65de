//! deploy/ against the real kube-apiserver of the envtest harness: the base and every overlay
//! are accepted by `kubectl apply -k` with `--dry-run=server` and for real; `coder-k8s certs`
//! makes a Secret and caBundle that TLS clients accept; and each app, run with the token of the
//! ServiceAccount deploy/ gives it, gets no 403.
//!
//! The namespace coder-system is fixed by the manifests, so the tests of this binary share it and
//! take turns (one lock). Server dry-run creates nothing, so namespaced objects can be dry-run
//! only once their namespace exists: the base is applied for real first, then every layer is
//! dry-run and applied. cert-manager's and the Prometheus Operator's kinds are applied with
//! stand-in CRDs that accept any fields (tests/fixtures/deploy/third-party-crds.yaml).

use crate::our_binary;
use crate::support as deploy_support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use deploy_support::{LAYERS, layer_path, repo};
use envtest::ControlPlane;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::Api;
use tokio::sync::{Mutex, OnceCell};

const KUBECTL_TIMEOUT: Duration = Duration::from_secs(120);
const WAIT: Duration = Duration::from_secs(60);
const API_SERVICE: &str = "v1alpha1.aggregation.coder.com";

static TURN: Mutex<()> = Mutex::const_new(());
static BASE: OnceCell<()> = OnceCell::const_new();

struct Output {
    ok: bool,
    stdout: String,
    stderr: String,
}

async fn kubectl(cp: &ControlPlane, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = cp.kubectl();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut child = cmd.spawn().expect("kubectl");
    if let Some(text) = stdin {
        use tokio::io::AsyncWriteExt;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).await.expect("write stdin");
    }
    let out = tokio::time::timeout(KUBECTL_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
        .expect("kubectl output");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn must(cp: &ControlPlane, args: &[&str]) -> String {
    let out = kubectl(cp, args, None).await;
    assert!(out.ok, "kubectl {args:?}:\n{}{}", out.stdout, out.stderr);
    out.stdout
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// The stand-in CRDs and the base, applied for real once per test binary.
async fn base_installed(cp: &ControlPlane) {
    BASE.get_or_init(|| async {
        let crds = path_arg(&repo().join("tests/fixtures/deploy/third-party-crds.yaml"));
        must(cp, &["apply", "-f", &crds]).await;
        must(
            cp,
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                "-f",
                &crds,
            ],
        )
        .await;
        must(cp, &["apply", "-k", &path_arg(&layer_path(&LAYERS[0]))]).await;
    })
    .await;
}

/// Back to the base: re-applying it reverts an overlay's changes to the same objects (the dev
/// overlay's insecureSkipTLSVerify among them).
async fn reset_to_base(cp: &ControlPlane) {
    base_installed(cp).await;
    // A caBundle from `coder-k8s certs` would make the dev overlay's insecureSkipTLSVerify invalid.
    must(
        cp,
        &[
            "patch",
            "apiservice",
            API_SERVICE,
            "--type=merge",
            "-p",
            r#"{"spec":{"caBundle":null}}"#,
        ],
    )
    .await;
    must(cp, &["apply", "-k", &path_arg(&layer_path(&LAYERS[0]))]).await;
}

#[tokio::test]
async fn base_and_every_overlay_apply_with_server_dry_run_and_for_real() {
    let cp = envtest::shared();
    let _turn = TURN.lock().await;
    reset_to_base(cp).await;
    for layer in LAYERS {
        let dir = path_arg(&layer_path(layer));
        let out = kubectl(cp, &["apply", "-k", &dir, "--dry-run=server"], None).await;
        assert!(
            out.ok,
            "{}: server dry-run rejected:\n{}{}",
            layer.dir, out.stdout, out.stderr
        );
        assert!(
            out.stdout.contains("(server dry run)"),
            "{}: {}",
            layer.dir,
            out.stdout
        );
    }
    for layer in LAYERS {
        let dir = path_arg(&layer_path(layer));
        must(cp, &["apply", "-k", &dir]).await;
        // Every object of the layer now exists, as rendered.
        let listed = must(cp, &["get", "-k", &dir, "-o", "name"]).await;
        let rendered = deploy_support::build(layer);
        assert_eq!(
            listed.lines().count(),
            rendered.len(),
            "{}:\n{listed}",
            layer.dir
        );
    }
    reset_to_base(cp).await;
    let api_service: APIService = Api::all(cp.admin_client().await)
        .get(API_SERVICE)
        .await
        .unwrap();
    assert_eq!(api_service.spec.unwrap().insecure_skip_tls_verify, None);
}

fn certs(cp: &ControlPlane, extra: &[&str]) -> std::process::Output {
    let out = our_binary::bare()
        .arg("certs")
        .arg(format!("--kubeconfig={}", cp.admin_kubeconfig().display()))
        .args(extra)
        .output()
        .expect("run coder-k8s certs");
    assert!(
        out.status.success(),
        "certs {extra:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

async fn ca_bundle(cp: &ControlPlane) -> Option<Vec<u8>> {
    let api_service: APIService = Api::all(cp.admin_client().await)
        .get(API_SERVICE)
        .await
        .unwrap();
    api_service.spec.and_then(|s| s.ca_bundle).map(|b| b.0)
}

/// `kubectl get --raw /livez` from our apiserver on `port`, trusting `ca_file` for `server_name`.
async fn livez_via_tls(cp: &ControlPlane, port: u16, ca_file: &Path, server_name: &str) -> Output {
    let mut cmd = tokio::process::Command::new(cp.kubectl_path());
    cmd.arg(format!("--server=https://127.0.0.1:{port}"))
        .arg(format!("--certificate-authority={}", ca_file.display()))
        .arg(format!("--tls-server-name={server_name}"))
        .args(["--token=unused", "get", "--raw", "/livez"]);
    let out = tokio::time::timeout(KUBECTL_TIMEOUT, cmd.output())
        .await
        .expect("timeout")
        .expect("kubectl");
    Output {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn certs_apply_makes_a_secret_the_apiserver_serves_and_the_ca_bundle_trusts() {
    let cp = envtest::shared();
    let _turn = TURN.lock().await;
    reset_to_base(cp).await;
    let secrets: Api<Secret> = Api::namespaced(cp.admin_client().await, "coder-system");

    let out = certs(cp, &["--apply", "--rotate"]);
    let secret = secrets
        .get("coder-k8s-apiserver-tls")
        .await
        .expect("Secret created");
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    let data = secret.data.expect("data");
    let ca = data["ca.crt"].0.clone();
    assert_eq!(
        ca_bundle(cp).await.as_deref(),
        Some(ca.as_slice()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Idempotent: a second run keeps the Secret and the bundle.
    let again = certs(cp, &["--apply"]);
    assert!(
        String::from_utf8_lossy(&again.stderr)
            .contains("kept Secret coder-system/coder-k8s-apiserver-tls")
    );
    assert_eq!(ca_bundle(cp).await.as_deref(), Some(ca.as_slice()));

    // The apiserver serves the Secret's certificate; a client trusting the caBundle accepts it
    // under the Service's name (as the kube-aggregator dials it), and only under that name.
    let dir = tempfile::tempdir().unwrap();
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        std::fs::write(dir.path().join(key), &data[key].0).unwrap();
    }
    let port = envtest::process::free_port();
    let mut cmd = our_binary::command("aggregated-apiserver");
    cmd.arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg(format!(
            "--tls-cert-file={}",
            dir.path().join("tls.crt").display()
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            dir.path().join("tls.key").display()
        ))
        .arg("--authentication=none");
    let mut server = our_binary::spawn(
        cp,
        "apiserver with the certs Secret",
        "certs-apiserver",
        cmd,
    );
    let ca_file = dir.path().join("ca.crt");
    let ca_path: PathBuf = ca_file.clone();
    envtest::poll_until("/livez over verified TLS", WAIT, || {
        let ca_path = ca_path.clone();
        async move {
            let out =
                livez_via_tls(cp, port, &ca_path, "coder-k8s-apiserver.coder-system.svc").await;
            if out.ok && out.stdout.trim() == "ok" {
                Ok(())
            } else {
                Err(out.stderr)
            }
        }
    })
    .await;
    let wrong = livez_via_tls(cp, port, &ca_file, "someone-else.coder-system.svc").await;
    assert!(
        !wrong.ok && wrong.stderr.contains("certificate"),
        "{}",
        wrong.stderr
    );
    server.signal("TERM").unwrap();
    assert!(
        server
            .wait_timeout(Duration::from_secs(30))
            .unwrap()
            .is_some()
    );

    // --rotate issues a new CA and moves the bundle with it.
    certs(cp, &["--apply", "--rotate"]);
    let rotated = ca_bundle(cp).await.expect("caBundle");
    assert_ne!(rotated, ca);
}

#[tokio::test]
async fn certs_prints_a_secret_and_the_ca_bundle_patch_the_server_accepts() {
    let cp = envtest::shared();
    let _turn = TURN.lock().await;
    reset_to_base(cp).await;
    let out = our_binary::bare()
        .args(["certs", "--namespace=coder-system"])
        .output()
        .expect("run certs");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let secret: Secret = serde_saphyr::from_str(&stdout).expect("a Secret manifest");
    assert_eq!(
        secret.metadata.name.as_deref(),
        Some("coder-k8s-apiserver-tls")
    );
    let dry_run = kubectl(cp, &["apply", "--dry-run=server", "-f", "-"], Some(&stdout)).await;
    assert!(dry_run.ok, "{}", dry_run.stderr);
    // The printed command, run as printed (minus the shell quoting), is accepted.
    let command = stderr
        .lines()
        .find(|l| {
            l.starts_with(&format!(
                "kubectl patch apiservice {API_SERVICE} --type=merge -p '"
            ))
        })
        .unwrap_or_else(|| panic!("no patch command in:\n{stderr}"));
    let patch = command
        .split_once(" -p '")
        .unwrap()
        .1
        .trim_end_matches('\'');
    let bundle: serde_json::Value = serde_json::from_str(patch).unwrap();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(bundle["spec"]["caBundle"].as_str().unwrap())
        .unwrap();
    assert_eq!(decoded, secret.data.unwrap()["ca.crt"].0);
    let patched = kubectl(
        cp,
        &[
            "patch",
            "apiservice",
            API_SERVICE,
            "--type=merge",
            "-p",
            patch,
            "--dry-run=server",
        ],
        None,
    )
    .await;
    assert!(patched.ok, "{}", patched.stderr);
}

/// Runs `--app=controller` as the deployed ServiceAccount: it must take the Lease, sync its
/// caches and reconcile a CoderControlPlane without a single 403.
#[tokio::test]
async fn controller_runs_with_the_deployed_service_account_without_403() {
    let cp = envtest::shared();
    let _turn = TURN.lock().await;
    reset_to_base(cp).await;
    let kubeconfig = cp
        .service_account_kubeconfig("coder-system", "coder-k8s-controller")
        .await;
    let health = envtest::process::free_port();
    let metrics = envtest::process::free_port();
    let lease = format!("deploy-test-{}", std::process::id());
    let mut cmd = our_binary::command("controller");
    cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--leader-elect")
        .arg("--leader-election-namespace=coder-system")
        .arg(format!("--leader-election-id={lease}"))
        .arg(format!("--health-probe-bind-address=127.0.0.1:{health}"))
        .arg(format!("--metrics-bind-address=127.0.0.1:{metrics}"))
        .env("RUST_LOG", "info,coder_k8s=debug");
    let mut controller =
        our_binary::spawn(cp, "controller as its ServiceAccount", "controller-sa", cmd);

    let namespace = cp.create_namespace("deploy-rbac").await;
    let manifest = format!(
        "apiVersion: coder.com/v1alpha1\nkind: CoderControlPlane\nmetadata:\n  name: rbac\n  namespace: {namespace}\nspec: {{}}\n"
    );
    let created = kubectl(cp, &["apply", "-f", "-"], Some(&manifest)).await;
    assert!(created.ok, "{}", created.stderr);
    let ns = namespace.clone();
    envtest::poll_until(
        "the controller to reconcile as its ServiceAccount",
        WAIT,
        || {
            let ns = ns.clone();
            async move {
                let out = kubectl(
                    cp,
                    &[
                        "-n",
                        &ns,
                        "get",
                        "codercontrolplane",
                        "rbac",
                        "-o",
                        "jsonpath={.status.observedGeneration}",
                    ],
                    None,
                )
                .await;
                let deployment = kubectl(
                    cp,
                    &["-n", &ns, "get", "deployment", "rbac", "-o", "name"],
                    None,
                )
                .await;
                if out.ok && out.stdout.trim() == "1" && deployment.ok {
                    Ok(())
                } else {
                    Err(format!("{}{}", out.stderr, deployment.stderr))
                }
            }
        },
    )
    .await;
    let holder = must(
        cp,
        &[
            "-n",
            "coder-system",
            "get",
            "lease",
            &lease,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    )
    .await;
    assert!(!holder.trim().is_empty(), "the Lease has no holder");
    controller.signal("TERM").unwrap();
    assert!(
        controller
            .wait_timeout(Duration::from_secs(30))
            .unwrap()
            .is_some()
    );
    let text = controller.log_tail(2000).to_lowercase();
    assert!(
        !text.contains("forbidden") && !text.contains(" 403"),
        "a call was denied:\n{text}"
    );
    must(cp, &["delete", "namespace", &namespace, "--wait=false"]).await;
}

/// Runs `--app=aggregated-apiserver` with delegated authentication and authorization as the
/// deployed ServiceAccount: it reads the front-proxy/client CA ConfigMap in kube-system
/// (extension-apiserver-authentication-reader), authenticates an x509 user and asks
/// SubjectAccessReview (system:auth-delegator). A denied review and an allowed one both prove
/// the review call itself was permitted; the server logs no 403 of its own.
#[tokio::test]
async fn apiserver_runs_with_the_deployed_service_account_without_403() {
    let cp = envtest::shared();
    let _turn = TURN.lock().await;
    reset_to_base(cp).await;
    let account = cp
        .service_account_kubeconfig("coder-system", "coder-k8s-apiserver")
        .await;
    let ca = envtest::CertificateAuthority::new("deploy test apiserver CA");
    let (cert, key) = ca.issue_serving(&["localhost", "127.0.0.1"]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), cert).unwrap();
    std::fs::write(dir.path().join("tls.key"), key).unwrap();
    let port = envtest::process::free_port();
    let mut cmd = our_binary::command("aggregated-apiserver");
    cmd.arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={port}"))
        .arg(format!(
            "--tls-cert-file={}",
            dir.path().join("tls.crt").display()
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            dir.path().join("tls.key").display()
        ))
        .arg(format!("--authentication-kubeconfig={}", account.display()))
        .arg(format!("--authorization-kubeconfig={}", account.display()))
        // As deployed: the Coder backend watches CoderControlPlanes with this account too, and
        // on etcd its sync takes a Lease in the apiserver's namespace.
        .arg("--coder-backend=enabled")
        .arg("--storage=etcd")
        .arg(format!("--etcd-servers={}", cp.etcd_url()))
        .arg(format!("--etcd-prefix=/deploy-apiserver-sa/{port}"))
        .env("POD_NAMESPACE", "coder-system")
        .env("RUST_LOG", "info");
    let mut server = our_binary::spawn(cp, "apiserver as its ServiceAccount", "apiserver-sa", cmd);

    let namespace = cp.create_namespace("deploy-apiserver-rbac").await;
    let user = format!("reader-{namespace}");
    let (user_cert, user_key) = cp.client_ca().issue_client(&user, &[]);
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kubeconfig = cp.unique_file("apiserver-sa-user", "kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: ours, cluster: {{server: 'https://127.0.0.1:{port}', certificate-authority-data: {}}}}}]\n\
             users: [{{name: u, user: {{client-certificate-data: {}, client-key-data: {}}}}}]\n\
             contexts: [{{name: x, context: {{cluster: ours, user: u, namespace: {namespace}}}}}]\ncurrent-context: x\n",
            b64(&ca.cert_pem()),
            b64(&user_cert),
            b64(&user_key)
        ),
    )
    .unwrap();
    let list = || {
        let mut cmd = tokio::process::Command::new(cp.kubectl_path());
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["get", "coderworkspaces", "-o", "name"])
            .env_remove("KUBECONFIG")
            .kill_on_drop(true);
        async move {
            tokio::time::timeout(KUBECTL_TIMEOUT, cmd.output())
                .await
                .expect("kubectl in time")
                .expect("kubectl")
        }
    };
    // Without a binding: authenticated as the x509 user (the CA came from the ConfigMap), then
    // denied by SubjectAccessReview.
    envtest::poll_until("a 403 for the unbound user", WAIT, || {
        let exited = server.try_wait().ok().flatten();
        let tail = server.log_tail(20);
        let (user, list) = (&user, &list);
        async move {
            if let Some(status) = exited {
                panic!("the apiserver exited ({status}):\n{tail}");
            }
            let out = list().await;
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if stderr.contains(&format!("User \"{user}\" cannot list")) {
                Ok(())
            } else {
                Err(stderr)
            }
        }
    })
    .await;
    // Bound to the view role deploy/ ships: allowed (the review answer is cached 10 s at most).
    must(
        cp,
        &[
            "create",
            "rolebinding",
            "reader",
            "-n",
            &namespace,
            "--clusterrole=coder-k8s-aggregated-view",
            &format!("--user={user}"),
        ],
    )
    .await;
    envtest::poll_until("the bound user to list", WAIT, || async {
        let out = list().await;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    })
    .await;
    server.signal("TERM").unwrap();
    assert!(
        server
            .wait_timeout(Duration::from_secs(40))
            .unwrap()
            .is_some()
    );
    let text = server.log_tail(2000).to_lowercase();
    let denied: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("forbidden")
                && [
                    "review",
                    "configmap",
                    "codercontrolplanes",
                    "secrets",
                    "lease",
                ]
                .iter()
                .any(|what| l.contains(what))
        })
        .collect();
    assert!(
        denied.is_empty(),
        "a call of the apiserver was denied: {denied:?}"
    );
    assert!(
        text.contains("acquired the lease"),
        "the Coder sync never took its Lease with the deployed account:\n{}",
        server.log_tail(40)
    );
    // SIGTERM hands the Lease back before the process exits, so a standby need not wait for
    // it to expire.
    assert!(
        text.contains("released the lease"),
        "the apiserver exited holding the Coder sync's Lease:\n{}",
        server.log_tail(40)
    );
    must(cp, &["delete", "namespace", &namespace, "--wait=false"]).await;
}
