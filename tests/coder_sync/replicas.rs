//! Two of our servers (in-process) on one etcd prefix with the Coder backend, and a fake coderd:
//! only the Lease holder polls coderd (its round counter moves, the other's does not, and the
//! fake sees one round's requests per round of the holder), both serve what it mirrors, and when
//! the holder stops the other takes the sync over within the lease duration and a change made in
//! coderd afterwards reaches its reads.
//!
//! It holds [`TURN`]: every server of this binary follows every namespace's CoderControlPlane,
//! so two replica tests side by side would poll each other's fake.

use std::time::{Duration, Instant};

use crate::coder_backend_support::*;
use crate::replica_support::*;

#[tokio::test(flavor = "multi_thread")]
async fn one_replica_polls_coderd_and_the_other_takes_over() {
    let _turn = TURN.lock().await;
    let cp = envtest::shared();
    let Setup {
        coder,
        ns,
        lease_namespace,
        prefix,
        workspace,
    } = setup(cp, "coder-sync").await;
    let admin = coder.fake.admin();

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
    let before = holder_identity(sync_lease(cp, &lease_namespace, &prefix).await.as_ref());
    assert!(before.is_some(), "the sync's Lease has a holder");
    let stopped = Instant::now();
    servers.remove(holder).stop().await;
    let after = holder_identity(sync_lease(cp, &lease_namespace, &prefix).await.as_ref());
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
