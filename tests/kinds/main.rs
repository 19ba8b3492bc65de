//! CRD kinds beside CoderControlPlane and their controllers, end to end: the controller binary
//! as the ServiceAccount and RBAC `deploy/controller/` ships, a real kube-apiserver +
//! kube-controller-manager (envtest) and the fake coderd on loopback. One module per kind.

mod provisioner;
