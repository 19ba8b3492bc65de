//! What users run: the binary's command line, `coder-k8s certs`, the image and the deploy/
//! manifests (offline), and deploy/ applied to the envtest control plane (`cluster`, the only
//! module of this binary that uses one). One test binary (one link of the crate) for all of them.

#[path = "../common/our_binary.rs"]
mod our_binary;
mod support;

mod certs;
mod cli;
mod cluster;
mod image;
mod manifests;
