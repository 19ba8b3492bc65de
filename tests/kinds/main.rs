//! CRD kinds and their controllers against the envtest harness (a real kube-apiserver + etcd)
//! and the fake coderd: one module per kind or area, one test binary for all of them.

mod control_plane_helm;
