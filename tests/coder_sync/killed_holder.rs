//! Failover when the Lease holder dies without a word (SIGKILL, an OOM kill, a lost node): our
//! binary as a process holds the Coder sync's Lease, an in-process replica on the same etcd
//! prefix stands by and serves what the holder mirrored. After the kill nobody hands the Lease
//! back, so the standby must wait until it expires (not sync earlier: two syncers would write
//! the mirror at once), then sync within the lease duration plus one sync interval, and a
//! change made in coderd while nobody synced must reach its reads.
//!
//! Holds [`TURN`]: see [`crate::replica_support`].

use std::process::Command;
use std::time::{Duration, Instant};

use envtest::ControlPlane;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::coder_backend_support::*;
use crate::our_binary;
use crate::replica_support::*;

/// How late the standby's first round may come beyond lease duration + one sync interval: the
/// standby looks at the Lease every fifth of its duration (src/lease.rs), so it notices the
/// holder's last renewal up to one look late and the expiry up to another; plus room for a
/// busy two-core machine.
fn slack() -> Duration {
    LEASE / 5 * 2 + Duration::from_millis(1500)
}

/// `coder-k8s --app=aggregated-apiserver` on `prefix` with the same sync settings as the
/// in-process replicas.
fn holder_process(cp: &ControlPlane, prefix: &str, lease_namespace: &str) -> Command {
    let mut cmd = our_binary::command("aggregated-apiserver");
    cmd.args([
        "--authentication=none",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--storage=etcd",
        "--coder-backend=enabled",
    ])
    .arg(format!(
        "--authentication-kubeconfig={}",
        cp.admin_kubeconfig().display()
    ))
    .arg(format!("--etcd-servers={}", cp.etcd_url()))
    .arg(format!("--etcd-prefix={prefix}"))
    .arg(format!("--coder-sync-interval={}ms", INTERVAL.as_millis()))
    .arg(format!(
        "--coder-request-timeout={}s",
        REQUEST_TIMEOUT.as_secs()
    ))
    .arg(format!(
        "--coder-sync-leader-election-namespace={lease_namespace}"
    ))
    .arg(format!(
        "--coder-sync-leader-election-lease-duration={}s",
        LEASE.as_secs()
    ))
    .env("RUST_LOG", "info")
    .env_remove("KUBECONFIG")
    .env_remove("POD_NAMESPACE");
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_holders_lease_expires_and_the_standby_syncs_within_its_duration() {
    let _turn = TURN.lock().await;
    let cp = envtest::shared();
    let set_up = setup(cp, "coder-sync-kill").await;
    let (coder, ns, prefix) = (&set_up.coder, &set_up.ns, &set_up.prefix);
    let lease_namespace = &set_up.lease_namespace;
    let admin = coder.fake.admin();

    // The process starts alone, so it is the one that takes the Lease.
    let mut holder = our_binary::spawn(
        cp,
        "coder-k8s aggregated-apiserver (Lease holder)",
        "coder-sync-killed-holder",
        holder_process(cp, prefix, lease_namespace),
    );
    let holder_id = envtest::poll_until("the process takes the Lease", WAIT, || {
        if let Ok(Some(status)) = holder.try_wait() {
            let text = std::fs::read_to_string(&holder.log).unwrap_or_default();
            panic!("the holder process exited ({status}):\n{text}");
        }
        let (lease_namespace, prefix) = (lease_namespace, prefix);
        async move {
            holder_identity(sync_lease(cp, lease_namespace, prefix).await.as_ref())
                .ok_or_else(|| "no holder yet".to_string())
        }
    })
    .await;

    // The standby serves what the holder mirrored, and does not poll.
    let standby = replica(cp, prefix, lease_namespace).await;
    wait_read(
        &standby,
        ns,
        "the workspace created in Coder, mirrored by the process, on the standby",
        |o| o["status"]["latestBuildStatus"] == "running",
    )
    .await;
    assert!(!is_syncer(&standby).await, "the standby says it syncs");
    assert_eq!(
        holder_identity(sync_lease(cp, lease_namespace, prefix).await.as_ref()),
        Some(holder_id.clone()),
        "the Lease changed hands while the process ran"
    );
    let polled_before = workspace_lists(coder);
    assert!(polled_before > 0, "the holder process never listed coderd");

    // SIGKILL: no shutdown, no hand-back.
    holder.signal("KILL").expect("SIGKILL the holder");
    let killed = Instant::now();
    let killed_wall = Timestamp::now();
    let status = holder
        .wait_timeout_async(Duration::from_secs(10))
        .await
        .expect("wait for the killed holder");
    assert!(status.is_some(), "the holder outlived SIGKILL");
    coder.fake.clear_requests();
    // Made while nobody syncs: the standby must pick it up once it takes over.
    admin
        .stop_workspace(set_up.workspace)
        .expect("stop in Coder");

    // Its last renewal, as the Lease says: the earliest the standby may take over is one lease
    // duration after it (the standby saw that renewal no earlier than it was written). A write
    // still in flight at the kill would only make it later, so this reading is the lenient one.
    let lease = sync_lease(cp, lease_namespace, prefix).await;
    assert_eq!(
        holder_identity(lease.as_ref()),
        Some(holder_id.clone()),
        "the killed holder's Lease changed hands at once: it must wait to expire"
    );
    let renewed: Timestamp = lease
        .and_then(|l| l.spec)
        .and_then(|s| s.renew_time)
        .map(|t| t.0)
        .expect("the Lease says when it was renewed");
    assert!(
        renewed <= killed_wall,
        "renewed {renewed} after the kill at {killed_wall}"
    );

    // The first coderd list after the kill is the standby's first round (nobody else runs).
    let limit = LEASE + INTERVAL + slack();
    let (first_list, first_list_wall) = loop {
        if workspace_lists(coder) > 0 {
            break (killed.elapsed(), Timestamp::now());
        }
        assert!(
            killed.elapsed() < limit,
            "the standby did not sync within {limit:?} of the kill (lease {LEASE:?}, interval {INTERVAL:?}); syncer: {}",
            is_syncer(&standby).await
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    };
    eprintln!("the standby's first round came {first_list:?} after the kill");
    let expired = renewed
        .checked_add(SignedDuration::try_from(LEASE).expect("lease duration"))
        .expect("expiry");
    assert!(
        first_list_wall >= expired,
        "the standby polled coderd {} ms before the killed holder's Lease expired (renewed {renewed}, {first_list:?} after the kill)",
        expired.duration_since(first_list_wall).as_millis(),
    );
    assert!(is_syncer(&standby).await, "coderd was polled by a standby");
    assert_ne!(
        holder_identity(sync_lease(cp, lease_namespace, prefix).await.as_ref()),
        Some(holder_id),
        "the standby syncs but the Lease still names the killed holder"
    );
    assert!(
        rounds(&standby, ns).await >= 1.0,
        "the standby's round counter did not move"
    );

    // What changed in coderd while nobody synced reaches the standby's reads.
    wait_read(
        &standby,
        ns,
        "the stop made in Coder after the kill, on the standby",
        |o| o["status"]["latestBuildStatus"] == "stopped" && o["spec"]["running"] == false,
    )
    .await;
    standby.stop().await;
}
