//! The controller in-process against the fake API server (`support/fake_kube.rs`), plus the
//! tests that need a real kube-apiserver only for the CRD (structural schema, requests per
//! converged object). One test binary (one link of the crate) for all of them.
//!
//! Sharing a process: `logs` installs the global tracing subscriber, so it runs in a child
//! process of its own (`common/own_process.rs`).

#[path = "../common/objects.rs"]
mod objects;
#[path = "../common/own_process.rs"]
mod own_process;
#[path = "../common/recording_client.rs"]
mod recording_client;
mod support;

mod concurrency;
mod crd;
mod leader;
mod logs;
mod operator_access;
mod rbac;
mod readiness;
mod reconcile;
mod requests_envtest;
