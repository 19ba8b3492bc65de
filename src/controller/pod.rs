//! The hardened pod the controller runs its own workloads in (provisioner daemons, workspace
//! proxies): a non-root user, no privilege escalation, no capabilities, a read-only root
//! filesystem and the runtime's default seccomp profile, with writable scratch space on
//! emptyDir volumes. Each kind adds what it alone needs on top of these.
//! (The control plane's coderd pod takes the user's security contexts, as the Helm chart does.)

use k8s_openapi::api::core::v1::{
    Capabilities, EmptyDirVolumeSource, EnvVar, PodSecurityContext, SeccompProfile,
    SecurityContext, Volume, VolumeMount,
};

/// The coder image's user (uid and gid 1000), so the pod runs non-root without a custom image.
pub const CODER_UID: i64 = 1000;

/// The container's security context: the `coder` user, nothing it could gain, nothing to write
/// outside its volumes.
pub fn container_security_context() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        run_as_user: Some(CODER_UID),
        run_as_group: Some(CODER_UID),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        ..SecurityContext::default()
    }
}

/// The pod's security context: non-root, volumes writable by the `coder` group, the runtime's
/// default seccomp profile.
pub fn pod_security_context() -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        fs_group: Some(CODER_UID),
        seccomp_profile: Some(runtime_default_seccomp()),
        ..PodSecurityContext::default()
    }
}

pub fn runtime_default_seccomp() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".into(),
        localhost_profile: None,
    }
}

/// An environment variable with a literal value.
pub fn literal(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

/// Scratch space: an emptyDir volume named `name`.
pub fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// Volume `name` mounted at `path`.
pub fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..VolumeMount::default()
    }
}
