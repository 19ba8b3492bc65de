//! `--demo-data` against a real cluster (the envtest kube-apiserver, delegated authentication
//! and authorization, so namespace lifecycle is checked): the demo objects of a namespace the
//! cluster does not have are skipped and logged, the server serves, and the rest are there,
//! through the kube-aggregator and the real kubectl.

#[path = "common/aggregated_e2e.rs"]
mod aggregated_e2e;
#[path = "common/our_binary.rs"]
mod our_binary;

use aggregated_e2e::{AggregatedServer, kubectl, kubectl_ok};

#[tokio::test(flavor = "multi_thread")]
async fn demo_data_on_a_cluster_without_the_sandbox_namespace_serves_the_rest() {
    let cp = envtest::shared();
    // The premise: a fresh cluster has `default` but no `sandbox`.
    let (exists, _, stderr) = kubectl(cp, &["get", "namespace", "sandbox"], None).await;
    assert!(!exists, "the test cluster has a sandbox namespace");
    assert!(stderr.contains("not found"), "{stderr}");

    // Returns once the APIService is Available: the server did not exit over `sandbox`.
    let server = AggregatedServer::start_and_register_with(cp, &["--demo-data"]).await;

    let table = kubectl_ok(cp, &["get", "coderworkspaces", "-A"], None).await;
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        names,
        [
            ("default", "dev-workspace"),
            ("default", "staging-workspace")
        ],
        "{table}"
    );
    let templates = kubectl_ok(cp, &["get", "codertemplates", "-A", "-o", "name"], None).await;
    assert_eq!(
        templates.lines().collect::<Vec<_>>(),
        [
            "codertemplate.aggregation.coder.com/platform-template",
            "codertemplate.aggregation.coder.com/starter-template",
        ],
        "{templates}"
    );
    // The default namespace's objects carry their coderd-like status through the aggregator.
    let status = kubectl_ok(
        cp,
        &[
            "get",
            "cws",
            "dev-workspace",
            "-n",
            "default",
            "-o",
            "jsonpath={.status.ownerName} {.status.latestBuildStatus}",
        ],
        None,
    )
    .await;
    assert_eq!(status.trim(), "alice running");

    // The log names each skipped object and why.
    let log = std::fs::read_to_string(&server.log).expect("the server's log");
    for object in [
        "codertemplates/sandbox/docs-template",
        "coderworkspaces/sandbox/sandbox-workspace",
    ] {
        let line = log
            .lines()
            .find(|l| l.contains("demo object skipped") && l.contains(object))
            .unwrap_or_else(|| panic!("no skip line for {object} in the log:\n{log}"));
        assert!(line.contains(r#"namespaces "sandbox" not found"#), "{line}");
    }
    let loaded = log
        .lines()
        .find(|l| l.contains("loaded the demo objects"))
        .unwrap_or_else(|| panic!("no summary line in the log:\n{log}"));
    assert!(
        loaded.contains("coderworkspaces/default/dev-workspace") && loaded.contains("skipped=2"),
        "{loaded}"
    );
}
