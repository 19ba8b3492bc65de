//! The Coder backend's sync across replicas: with etcd storage only the holder of a Lease polls
//! coderd, the other replica serves what the holder mirrored, and takes over when the holder
//! goes. A binary of its own: the servers here sync every Coder-backed namespace of their
//! control plane, so in a binary shared with other Coder backend tests they would poll those
//! tests' fake coderds too (and those tests' servers this one's).

#[path = "../common/apiserver_support.rs"]
mod apiserver_support;
#[path = "../common/coder_backend_support.rs"]
mod coder_backend_support;
#[path = "../common/objects.rs"]
mod objects;

#[path = "../common/our_binary.rs"]
mod our_binary;

mod killed_holder;
mod lease_expiry;
mod replica_support;
mod replicas;
mod slow_coderd;
