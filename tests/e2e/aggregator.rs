//! Our aggregated apiserver behind the real kube-aggregator (kube-apiserver v1.36 + etcd +
//! kube-controller-manager from the envtest harness), driven by the real kubectl: discovery,
//! reads, writes, merge patches, watches and `kubectl explain` through kube-apiserver, and the
//! namespace controller deleting our objects with their namespace.

use crate::aggregated_e2e;

use std::process::Stdio;
use std::time::Duration;

use aggregated_e2e::{GROUP, KUBECTL_TIMEOUT, VERSION, kubectl, kubectl_ok};
use envtest::ControlPlane;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The control plane (with kube-controller-manager) and our registered server.
async fn setup() -> &'static ControlPlane {
    crate::plain_aggregated_server().await
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
        [
            "NAMESPACE",
            "NAME",
            "OWNER",
            "TEMPLATE",
            "RUNNING",
            "STATUS",
            "LASTUSED",
            "AGE"
        ],
        "{table}"
    );
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(&format!("{ns} ")))
        .unwrap_or_else(|| panic!("no row for {ns}:\n{table}"))
        .split_whitespace()
        .collect();
    // Empty cells (no coderd behind this namespace) print as blanks.
    assert_eq!(row.len(), 4, "{table}");
    assert_eq!(row[..3], [ns.as_str(), "alpha", "true"], "{table}");

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

/// Against a cluster our server admits creates as kube-apiserver's NamespaceLifecycle does: a
/// namespace that does not exist is 404, one being terminated is 403, and both are refused
/// before anything is stored.
#[tokio::test(flavor = "multi_thread")]
async fn creates_in_missing_or_terminating_namespaces_are_refused() {
    let cp = setup().await;

    let missing = format!("absent-{}", std::process::id());
    let (ok, _, stderr) = kubectl(
        cp,
        &["create", "-f", "-"],
        Some(&workspace("orphan", &missing, true)),
    )
    .await;
    assert!(!ok, "create in a missing namespace must fail");
    assert!(
        stderr.contains(&format!("namespaces \"{missing}\" not found")),
        "{stderr}"
    );

    // A finalizer on one of our objects keeps the namespace Terminating while we try.
    let ns = cp.create_namespace("e2e-terminating").await;
    let held = format!(
        "apiVersion: {GROUP}/{VERSION}\nkind: CoderWorkspace\nmetadata:\n  name: held\n  namespace: {ns}\n  finalizers: [\"e2e.coder.com/hold\"]\nspec:\n  running: true\n"
    );
    kubectl_ok(cp, &["create", "-f", "-"], Some(&held)).await;
    kubectl_ok(cp, &["delete", "namespace", &ns, "--wait=false"], None).await;
    envtest::poll_until(
        "the namespace to be Terminating in our server's view",
        Duration::from_secs(60),
        || async {
            match kubectl(
                cp,
                &["create", "-f", "-"],
                Some(&workspace("late", &ns, true)),
            )
            .await
            {
                (false, _, stderr)
                    if stderr.contains("because it is being terminated")
                        && stderr.contains("Forbidden") =>
                {
                    Ok(())
                }
                (ok, stdout, stderr) => Err(format!("ok={ok} {stdout}{stderr}")),
            }
        },
    )
    .await;
    let listed = kubectl_ok(cp, &["get", "cws", "-n", &ns, "-o", "name"], None).await;
    assert!(
        !listed.contains("late"),
        "refused object was stored: {listed}"
    );

    // Let the namespace go.
    kubectl_ok(
        cp,
        &[
            "patch",
            "cws",
            "held",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
        None,
    )
    .await;
}
