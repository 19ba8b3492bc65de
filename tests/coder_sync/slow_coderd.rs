//! One slow coderd does not hold up the other namespaces' part of a round: a round syncs
//! several namespaces at once. Namespace `a-slow`'s coderd answers nothing for longer than this test
//! waits; namespace `b-fast`'s workspace, created in its coderd, must still be mirrored. The
//! slow namespace sorts first, so a round that took namespaces one at a time would wait for
//! every one of its requests to time out (two lists of 30 s) before reaching the fast one.
//!
//! Holds [`TURN`]: see [`crate::replica_support`].

use std::time::Duration;

use coder_k8s::apiserver::coder::BackendMode;
use coder_k8s::apiserver::objects::Objects;
use kube::Api;
use kube::api::DynamicObject;

use crate::apiserver_support::{self, TestServer};
use crate::coder_backend_support::*;
use crate::replica_support::*;

/// Longer than [`PATIENCE`]: the slow coderd's requests time out only after this.
const REQUEST_TIMEOUT_SLOW: Duration = Duration::from_secs(30);
/// How long the fast namespace may wait for its workspace: generous for a busy machine, and
/// far below the slow namespace's two timed-out lists.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_coderd_does_not_hold_up_other_namespaces() {
    let _turn = TURN.lock().await;
    let cp = envtest::shared();
    let slow = coder_namespace(cp, "coder-sync-a-slow").await;
    let fast = coder_namespace(cp, "coder-sync-b-fast").await;
    assert!(
        slow.namespace < fast.namespace,
        "the slow namespace must come first in a round's order"
    );
    let template = fast
        .fake
        .admin()
        .create_template_with_files(ORG, "docker", &[("main.tf", "terraform {}\n")])
        .expect("template");
    fast.fake
        .admin()
        .create_workspace(OWNER, "dev", template)
        .expect("workspace created in Coder");
    slow.fake
        .set_latency(REQUEST_TIMEOUT_SLOW + Duration::from_secs(30));
    // Past the sync's create grace (3 s), so the first round mirrors it: later rounds wait for
    // the slowest namespace of the one before (see docs/coder-backend.md).
    tokio::time::sleep(Duration::from_millis(3500)).await;

    // Memory storage: this replica syncs without a Lease.
    let mut args = apiserver_support::args();
    args.auth.authentication_kubeconfig = Some(cp.admin_kubeconfig().to_path_buf());
    args.coder.coder_backend = BackendMode::Enabled;
    args.coder.coder_sync_interval = INTERVAL;
    args.coder.coder_request_timeout = REQUEST_TIMEOUT_SLOW;
    let storage = args.storage.open().await.expect("memory storage");
    let server = TestServer::start_with(args, Objects::new(storage)).await;

    let api: Api<DynamicObject> =
        Api::namespaced_with(server.client().await, &fast.namespace, &workspaces());
    envtest::poll_until(
        "the fast coderd's workspace, while the slow coderd answers nothing",
        PATIENCE,
        || async {
            match api.get_opt(WORKSPACE).await {
                Ok(Some(_)) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    server.stop().await;
}
