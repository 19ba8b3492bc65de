//! The aggregated apiserver in-process on loopback (HTTP, clients, kubectl, auth, apply,
//! errors, OpenAPI), its object layer and its storage (memory, etcd, the cache), and its
//! parity with kube-apiserver (the envtest control plane, shared by this binary's tests, serves
//! the same schemas as CRDs under other groups; nothing here registers an APIService). One test
//! binary (one link of the crate) for all of them.
//!
//! Sharing a process: `encode_once` reads a process-wide counter, so it runs in a child process
//! of its own (`common/own_process.rs`); `body_bounds` installs jemalloc as this binary's
//! allocator and measures per thread, which other tests do not disturb.

#[path = "../common/apiserver_support.rs"]
mod apiserver_support;
#[path = "../common/own_process.rs"]
mod own_process;
#[path = "../common/schema_crds.rs"]
mod schema_crds;

mod apply;
mod apply_clients;
mod apply_fixtures;
mod auth;
mod body_bounds;
mod concurrency;
mod early_answers;
mod encode_once;
mod errors;
mod http_server;
mod kube_client;
mod kubectl;
mod objects;
mod objects_list_watch;
mod openapi;
mod parity;
mod parity_protocol;
mod storage_budget;
mod storage_cache;
mod storage_conformance;
mod storage_etcd;
mod storage_etcd_wire;
mod storage_versions;
