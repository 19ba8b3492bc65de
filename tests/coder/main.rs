//! Coder: the coderd client against the fake coderd, and the Coder backend of the aggregated
//! apiserver (behind the real kube-aggregator, and in-process across restarts). One test binary
//! (one link of the crate) for all of them; `backend` is the only one that registers the
//! `v1alpha1.aggregation.coder.com` APIService on this binary's envtest control plane.

#[path = "../common/aggregated_e2e.rs"]
mod aggregated_e2e;
#[path = "../common/apiserver_support.rs"]
mod apiserver_support;
#[path = "../common/coder_backend_support.rs"]
mod coder_backend_support;
#[path = "../common/objects.rs"]
mod objects;
#[path = "../common/our_binary.rs"]
mod our_binary;

mod backend;
mod backend_restart;
mod client;
