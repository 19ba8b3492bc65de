//! The apiserver's view of the cluster it runs in, when it has one: `reflect` keeps a
//! kube-runtime reflector running until shutdown, `namespace_informer` holds namespace phases
//! for `NamespaceLifecycle`-style admission.
//!
//! May import: `objects::namespaces` (the lookup it implements). Imported by the wiring in
//! `apiserver/mod.rs` and by `coder` (its CoderControlPlane directory); never by `http`.

pub mod namespace_informer;
pub mod reflect;
