//! The real kubectl against the aggregated apiserver (TLS on 127.0.0.1, the kubeconfig the server
//! writes): discovery, reads, writes, watch, explain and wait behave as with a built-in API.

use crate::apiserver_support as support;

use std::time::Duration;

use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};

const MANIFEST: &str = "apiVersion: aggregation.coder.com/v1alpha1
kind: CoderWorkspace
metadata:
  name: alpha
  namespace: default
  labels:
    team: blue
spec:
  running: true
";

#[tokio::test(flavor = "multi_thread")]
async fn discovery_reads_and_explain() {
    let server = TestServer::start().await;

    let resources = server.kubectl_ok(&["api-resources"]).await;
    let line = resources
        .lines()
        .find(|l| l.starts_with("coderworkspaces "))
        .unwrap_or_else(|| panic!("coderworkspaces listed: {resources}"));
    assert!(line.contains("cws"), "{line}");
    assert!(line.contains("aggregation.coder.com/v1alpha1"), "{line}");
    assert!(line.contains("true"), "{line}");
    assert!(line.contains("CoderWorkspace"), "{line}");
    assert!(resources.contains("codertemplates"), "{resources}");

    let created = server
        .kubectl_stdin_ok(&["create", "-f", "-"], Some(MANIFEST))
        .await;
    assert!(
        created.contains("coderworkspace.aggregation.coder.com/alpha created"),
        "{created}"
    );

    let table = server.kubectl_ok(&["get", "coderworkspaces", "-A"]).await;
    let mut lines = table.lines();
    let header: Vec<&str> = lines
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
    let row: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    // Owner, template, status and last-used come from coderd; without the Coder backend they
    // are empty cells, which kubectl prints as blanks: name, running and age remain.
    assert_eq!(row.len(), 4, "{table}");
    assert_eq!(row[..3], ["default", "alpha", "true"], "{table}");

    // Short name, category and a single object.
    let by_short = server
        .kubectl_ok(&["get", "cws", "alpha", "-o", "name"])
        .await;
    assert_eq!(
        by_short.trim(),
        "coderworkspace.aggregation.coder.com/alpha"
    );
    let by_category = server
        .kubectl_ok(&["get", "coder", "-A", "-o", "name"])
        .await;
    assert!(by_category.contains("coderworkspace.aggregation.coder.com/alpha"));

    let yaml = server
        .kubectl_ok(&["get", "coderworkspace", "alpha", "-o", "yaml"])
        .await;
    assert!(
        yaml.contains("apiVersion: aggregation.coder.com/v1alpha1"),
        "{yaml}"
    );
    assert!(yaml.contains("kind: CoderWorkspace"), "{yaml}");
    assert!(yaml.contains("running: true"), "{yaml}");
    assert!(yaml.contains("resourceVersion:"), "{yaml}");
    assert!(yaml.contains("uid:"), "{yaml}");

    let explain = server.kubectl_ok(&["explain", "coderworkspace.spec"]).await;
    assert!(explain.contains("KIND:       CoderWorkspace"), "{explain}");
    assert!(explain.contains("running"), "{explain}");
    assert!(explain.contains("<boolean>"), "{explain}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_patch_label_delete_and_wait() {
    let server = TestServer::start().await;

    let out = server
        .kubectl_stdin_ok(&["apply", "-f", "-"], Some(MANIFEST))
        .await;
    assert!(out.contains("alpha created"), "{out}");
    let out = server
        .kubectl_stdin_ok(
            &["apply", "-f", "-"],
            Some(&MANIFEST.replace("running: true", "running: false")),
        )
        .await;
    assert!(out.contains("alpha configured"), "{out}");
    let running = server
        .kubectl_ok(&["get", "cws", "alpha", "-o", "jsonpath={.spec.running}"])
        .await;
    assert_eq!(running, "false");
    // Client-side apply keeps its last-applied annotation like on any other resource.
    let annotations = server
        .kubectl_ok(&[
            "get",
            "cws",
            "alpha",
            "-o",
            "jsonpath={.metadata.annotations}",
        ])
        .await;
    assert!(
        annotations.contains("kubectl.kubernetes.io/last-applied-configuration"),
        "{annotations}"
    );

    let out = server
        .kubectl_ok(&[
            "patch",
            "cws",
            "alpha",
            "--type=merge",
            "-p",
            r#"{"spec":{"running":true}}"#,
        ])
        .await;
    assert!(out.contains("patched"), "{out}");
    let out = server
        .kubectl_ok(&[
            "patch",
            "cws",
            "alpha",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/running","value":false}]"#,
        ])
        .await;
    assert!(out.contains("patched"), "{out}");
    let running = server
        .kubectl_ok(&["get", "cws", "alpha", "-o", "jsonpath={.spec.running}"])
        .await;
    assert_eq!(running, "false");

    let out = server
        .kubectl_ok(&["label", "cws", "alpha", "tier=gold"])
        .await;
    assert!(out.contains("labeled"), "{out}");
    let selected = server
        .kubectl_ok(&["get", "cws", "-l", "tier=gold,team=blue", "-o", "name"])
        .await;
    assert_eq!(
        selected.trim(),
        "coderworkspace.aggregation.coder.com/alpha"
    );
    let none = server
        .kubectl_ok(&["get", "cws", "-l", "tier!=gold", "-o", "name"])
        .await;
    assert!(none.trim().is_empty(), "{none}");

    // wait --for=delete blocks while a finalizer holds the object, and returns once it goes.
    server
        .kubectl_ok(&[
            "patch",
            "cws",
            "alpha",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["coder.com/hold"]}}"#,
        ])
        .await;
    let out = server
        .kubectl_ok(&["delete", "cws", "alpha", "--wait=false"])
        .await;
    assert!(out.contains("deleted"), "{out}");
    let terminating = server
        .kubectl_ok(&[
            "get",
            "cws",
            "alpha",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(!terminating.is_empty(), "deletionTimestamp set");
    let waiter = {
        let kubeconfig = server.kubeconfig.clone();
        tokio::spawn(async move {
            tokio::process::Command::new("kubectl")
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .args(["wait", "--for=delete", "cws/alpha", "--timeout=50s"])
                .kill_on_drop(true)
                .output()
                .await
        })
    };
    server
        .kubectl_ok(&[
            "patch",
            "cws",
            "alpha",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ])
        .await;
    let waited = tokio::time::timeout(CALL_TIMEOUT, waiter)
        .await
        .expect("wait returns")
        .expect("task")
        .expect("kubectl wait runs");
    assert!(
        waited.status.success(),
        "kubectl wait: {}",
        String::from_utf8_lossy(&waited.stderr)
    );
    let gone = server.kubectl(&["get", "cws", "alpha"]).await;
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("not found"),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn get_watch_sees_a_concurrent_change() {
    let server = TestServer::start().await;
    server
        .kubectl_stdin_ok(&["create", "-f", "-"], Some(MANIFEST))
        .await;

    let mut child = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&server.kubeconfig)
        .args(["get", "cws", "-n", "default", "-w"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl -w runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();

    // First the current state, under a header.
    let header = tokio::time::timeout(CALL_TIMEOUT, lines.next_line())
        .await
        .expect("header in time")
        .expect("read")
        .expect("a line");
    assert!(header.starts_with("NAME"), "{header}");
    let first = tokio::time::timeout(CALL_TIMEOUT, lines.next_line())
        .await
        .expect("row in time")
        .expect("read")
        .expect("a line");
    assert!(first.starts_with("alpha"), "{first}");

    // Then a change made by someone else arrives as a new row.
    server
        .kubectl_stdin_ok(
            &["create", "-f", "-"],
            Some(&MANIFEST.replace("name: alpha", "name: bravo")),
        )
        .await;
    let mut seen = false;
    for _ in 0..10 {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("event in time")
            .expect("read");
        match line {
            Some(l) if l.starts_with("bravo") => {
                seen = true;
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    assert!(seen, "kubectl get -w printed the new object");
    let _ = child.kill().await;
    server.stop().await;
}

/// A `kubectl get` table cut at its header's column starts: (header, cells) per row. kubectl
/// pads columns to a common start, and an empty cell is blank, so splitting on whitespace would
/// shift the cells after it.
fn table_cells(table: &str) -> Vec<Vec<(String, String)>> {
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let mut starts = Vec::new();
    let mut previous = ' ';
    for (i, c) in header.char_indices() {
        if c != ' ' && previous == ' ' {
            starts.push(i);
        }
        previous = c;
    }
    lines
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(n, &start)| {
                    let end = starts
                        .get(n + 1)
                        .copied()
                        .unwrap_or(line.len())
                        .min(line.len());
                    let name = header[start..].split(' ').next().unwrap_or_default();
                    let cell = line.get(start.min(line.len())..end).unwrap_or_default();
                    (name.to_string(), cell.trim().to_string())
                })
                .collect()
        })
        .collect()
}

#[test]
fn table_cells_keeps_blank_cells_in_place() {
    let table = "NAME   OWNER   RUNNING\nalpha           true\n";
    assert_eq!(
        table_cells(table),
        [[
            ("NAME".to_string(), "alpha".to_string()),
            ("OWNER".to_string(), String::new()),
            ("RUNNING".to_string(), "true".to_string()),
        ]]
    );
}

/// The README quick start: `--demo-data` on the in-memory store shows, in every printer column
/// of every demo object, what the kinds are for (owners, templates, statuses, organizations,
/// active versions, when last used or updated), as a coderd behind the namespace would.
#[tokio::test(flavor = "multi_thread")]
async fn demo_data_quickstart_fills_every_column() {
    let mut a = args();
    a.demo_data = true;
    let server = TestServer::start_with(a, coder_k8s::apiserver::memory_objects()).await;
    let expected = [
        (
            "coderworkspaces",
            vec![
                "NAMESPACE",
                "NAME",
                "OWNER",
                "TEMPLATE",
                "RUNNING",
                "STATUS",
                "LASTUSED",
                "AGE",
            ],
            vec!["dev-workspace", "staging-workspace", "sandbox-workspace"],
        ),
        (
            "codertemplates",
            vec![
                "NAMESPACE",
                "NAME",
                "ORGANIZATION",
                "ACTIVEVERSION",
                "DEPRECATED",
                "UPDATED",
                "AGE",
            ],
            vec!["platform-template", "starter-template", "docs-template"],
        ),
    ];
    for (resource, columns, names) in expected {
        let table = server.kubectl_ok(&["get", resource, "-A"]).await;
        let rows = table_cells(&table);
        let row_names: Vec<&str> = rows.iter().map(|r| r[1].1.as_str()).collect();
        assert_eq!(row_names, names, "{table}");
        for row in &rows {
            let headers: Vec<&str> = row.iter().map(|(h, _)| h.as_str()).collect();
            assert_eq!(headers, columns, "{table}");
            for (header, cell) in row {
                assert!(
                    !cell.is_empty() && !cell.starts_with('<'),
                    "{resource} {}: column {header} is {cell:?}\n{table}",
                    row[1].1
                );
            }
        }
        // Not just filled: the values say what each object is.
        let cell = |name: &str, header: &str| {
            rows.iter()
                .find(|r| r[1].1 == name)
                .and_then(|r| r.iter().find(|(h, _)| h == header))
                .map(|(_, c)| c.clone())
                .unwrap_or_default()
        };
        if resource == "coderworkspaces" {
            assert_eq!(cell("dev-workspace", "STATUS"), "running", "{table}");
            assert_eq!(cell("staging-workspace", "STATUS"), "stopped", "{table}");
            assert_eq!(cell("sandbox-workspace", "STATUS"), "failed", "{table}");
            assert_eq!(cell("staging-workspace", "RUNNING"), "false", "{table}");
            assert_eq!(cell("dev-workspace", "TEMPLATE"), "starter-template");
        } else {
            assert_eq!(cell("platform-template", "DEPRECATED"), "true", "{table}");
            assert_eq!(
                cell("docs-template", "ORGANIZATION"),
                "docs-team",
                "{table}"
            );
        }
    }
    server.stop().await;
}
