//! The Coder backend's sync across replicas: with etcd storage only the holder of a Lease polls
//! coderd, the other replica serves what the holder mirrored, and takes over when the holder
//! goes. One test binary (one envtest control plane) for the area; one module per concern.

#[path = "../apiserver_support/mod.rs"]
mod apiserver_support;
#[path = "../coder_backend_support/mod.rs"]
mod coder_backend_support;

mod lease_expiry;
mod replicas;
