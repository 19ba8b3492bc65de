//! Two of our servers (in-process) on one etcd prefix with the Coder backend, and a fake coderd:
//! only the Lease holder polls coderd (its round counter moves, the other's does not, and the
//! fake sees one round's requests per round of the holder), both serve what it mirrors, and when
//! the holder stops the other takes the sync over within the lease duration and a change made in
//! coderd afterwards reaches its reads.
//!
//! One test function: every server of this binary follows every namespace's CoderControlPlane,
//! so two such tests side by side would poll each other's fake.

use std::time::{Duration, Instant};

use coder_k8s::apiserver::coder::BackendMode;
use coder_k8s::apiserver::objects::Objects;
use coder_k8s::apiserver::storage::options::Backend;
use envtest::ControlPlane;
use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use kube::api::DynamicObject;
use serde_json::Value;

use crate::apiserver_support::{self, TestServer};
use crate::coder_backend_support::*;

const LEASE: Duration = Duration::from_secs(4);
const WORKSPACE: &str = "coder.admin.dev";

async fn replica(cp: &ControlPlane, prefix: &str, lease_namespace: &str) -> TestServer {
    let mut args = apiserver_support::args();
    args.auth.authentication_kubeconfig = Some(cp.admin_kubeconfig().to_path_buf());
    args.storage.backend = Backend::Etcd;
    args.storage.etcd_servers = vec![cp.etcd_url().to_string()];
    args.storage.etcd_prefix = prefix.to_string();
    args.coder.coder_backend = BackendMode::Enabled;
    args.coder.coder_sync_interval = Duration::from_millis(200);
    args.coder.coder_request_timeout = Duration::from_secs(2);
    // The Lease name is left to its default (derived from the etcd prefix): both replicas must
    // arrive at the same one by themselves.
    args.coder.coder_sync_leader_election_namespace = Some(lease_namespace.to_string());
    args.coder.coder_sync_leader_election_lease_duration = LEASE;
    let storage = args.storage.open().await.expect("etcd storage");
    TestServer::start_with(args, Objects::new(storage)).await
}

async fn metrics(server: &TestServer) -> String {
    apiserver_support::get(&server.http(), "/metrics")
        .await
        .text()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

async fn is_syncer(server: &TestServer) -> bool {
    sample(
        &metrics(server).await,
        "coder_k8s_apiserver_coder_sync_is_syncer ",
    ) == Some(1.0)
}

async fn rounds(server: &TestServer, namespace: &str) -> f64 {
    let series =
        format!("coder_k8s_apiserver_coder_sync_rounds_total{{namespace=\"{namespace}\"}} ");
    sample(&metrics(server).await, &series).unwrap_or(0.0)
}

async fn read(server: &TestServer, namespace: &str) -> Option<Value> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(server.client().await, namespace, &workspaces());
    api.get_opt(WORKSPACE)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).expect("json"))
}

async fn wait_read(
    server: &TestServer,
    namespace: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) {
    envtest::poll_until(what, WAIT, || async {
        match read(server, namespace).await {
            Some(o) if check(&o) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

/// GET /api/v2/workspaces (the list every round makes once) the fake answered.
fn workspace_lists(coder: &CoderNamespace) -> usize {
    coder
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v2/workspaces")
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_polls_coderd_and_the_other_takes_over() {
    let cp = envtest::shared();
    let coder = coder_namespace(cp, "coder-sync").await;
    let ns = coder.namespace.clone();
    let lease_namespace = cp.create_namespace("coder-sync-lease").await;
    let prefix = format!("/coder-sync/{ns}");
    let admin = coder.fake.admin();
    let template = admin
        .create_template_with_files(ORG, "docker", &[("main.tf", "terraform {}\n")])
        .expect("template");
    let workspace = admin
        .create_workspace(OWNER, "dev", template)
        .expect("workspace created in Coder");

    let mut servers = vec![
        replica(cp, &prefix, &lease_namespace).await,
        replica(cp, &prefix, &lease_namespace).await,
    ];
    for server in &servers {
        wait_read(
            server,
            &ns,
            "the workspace created in Coder, on both replicas",
            |o| o["status"]["latestBuildStatus"] == "running",
        )
        .await;
    }

    // Exactly one replica syncs.
    let holder = envtest::poll_until("exactly one syncer", WAIT, || async {
        let flags = [is_syncer(&servers[0]).await, is_syncer(&servers[1]).await];
        match flags {
            [true, false] => Ok(0),
            [false, true] => Ok(1),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let standby = 1 - holder;

    // Over a few seconds, only the holder's rounds move, and coderd sees one list per round.
    let standby_before = rounds(&servers[standby], &ns).await;
    let holder_before = rounds(&servers[holder], &ns).await;
    coder.fake.clear_requests();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lists = workspace_lists(&coder);
    let holder_rounds = rounds(&servers[holder], &ns).await - holder_before;
    let standby_rounds = rounds(&servers[standby], &ns).await - standby_before;
    assert_eq!(standby_rounds, 0.0, "the standby polled coderd");
    assert!(
        holder_rounds >= 3.0,
        "the holder synced {holder_rounds} times in 3 s"
    );
    assert!(
        (lists as f64 - holder_rounds).abs() <= 1.0,
        "coderd answered {lists} workspace lists while the holder made {holder_rounds} rounds: another poller?"
    );

    // The holder goes away; the standby syncs within the lease duration. The holder's
    // shutdown ends only after it has handed the Lease back.
    let leases: Api<Lease> = Api::namespaced(cp.admin_client().await, &lease_namespace);
    let lease_name = coder_k8s::apiserver::coder::default_lease_name(&prefix);
    let holder_identity = |lease: Option<Lease>| {
        lease
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    };
    let before = holder_identity(leases.get_opt(&lease_name).await.expect("read the Lease"));
    assert!(before.is_some(), "the Lease {lease_name} has a holder");
    let stopped = Instant::now();
    servers.remove(holder).stop().await;
    let after = holder_identity(leases.get_opt(&lease_name).await.expect("read the Lease"));
    assert_ne!(after, before, "the stopped holder still held the Lease");
    let survivor = servers.pop().expect("the standby");
    envtest::poll_until("the standby syncs", WAIT, || async {
        if is_syncer(&survivor).await {
            Ok(())
        } else {
            Err("still standing by".to_string())
        }
    })
    .await;
    let took = stopped.elapsed();
    assert!(
        took < LEASE,
        "the standby took over after {took:?}, not within the lease duration {LEASE:?}"
    );

    // A change in coderd reaches the survivor's reads.
    admin.stop_workspace(workspace).expect("stop in Coder");
    wait_read(
        &survivor,
        &ns,
        "the stop made in Coder, on the survivor",
        |o| o["status"]["latestBuildStatus"] == "stopped" && o["spec"]["running"] == false,
    )
    .await;
    survivor.stop().await;
}
