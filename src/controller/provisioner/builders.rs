//! Pure functions from a `CoderProvisioner` (and what the reconciler learned: the control
//! plane's URL and image, the key's record) to the names, the Secret and the Deployment the
//! controller applies. Nothing here talks to an API server.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, PodSecurityContext, PodSpec,
    Probe, Secret, SecretKeySelector, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::coder::v1alpha1::CoderProvisioner;
use crate::controller::error::Error;
use crate::controller::identity::{self, Owner, Pods};
use crate::controller::pod::{
    CODER_UID, container_security_context, empty_dir, literal, mount, pod_security_context,
};
use crate::controller::rbac::bind_role_to_service_account;

/// `app.kubernetes.io/name` of the provisioner's children (as coder/coder-k8s labels them).
pub const APP_NAME: &str = "coder-provisioner";
pub const CONTAINER_NAME: &str = "provisioner";
/// The organization a key goes to when the spec names none (coderd's first organization).
pub const DEFAULT_ORGANIZATION: &str = "default";
/// Where `coder provisioner start` serves Prometheus metrics; the probes use it too, since
/// the daemon serves nothing else over HTTP.
pub const METRICS_PORT: i32 = 2112;
pub const CODER_URL_ENV: &str = "CODER_URL";
pub const KEY_ENV: &str = "CODER_PROVISIONER_DAEMON_KEY";

/// Annotations on the key's Secret recording which key it holds. The Secret is written in the
/// same request as the key itself, so the record can never describe a different key (status
/// is written later and may lag after a crash).
pub mod record {
    pub const KEY_NAME: &str = "coder.com/provisioner-key-name";
    pub const KEY_ID: &str = "coder.com/provisioner-key-id";
    pub const ORGANIZATION_ID: &str = "coder.com/organization-id";
    pub const ORGANIZATION_NAME: &str = "coder.com/organization-name";
    pub const TAGS_HASH: &str = "coder.com/tags-hash";
    pub const CONTROL_PLANE: &str = "coder.com/control-plane";
    pub const CONTROL_PLANE_URL: &str = "coder.com/control-plane-url";
}

/// Pod template annotation naming the key the pods were started with: a new key (rotation)
/// changes the template, so the daemons restart with the new Secret value.
pub const POD_KEY_ANNOTATION: &str = "coder.com/provisioner-key-id";

/// Which key a Secret holds, as recorded in its annotations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub key_name: String,
    pub key_id: String,
    pub organization_id: String,
    pub organization_name: String,
    pub tags_hash: String,
    pub control_plane: String,
    pub control_plane_url: String,
}

impl KeyRecord {
    /// The record of `secret`, if every annotation is there.
    pub fn of(secret: &Secret) -> Option<Self> {
        let annotations = secret.metadata.annotations.as_ref()?;
        let get = |key: &str| annotations.get(key).filter(|v| !v.is_empty()).cloned();
        Some(Self {
            key_name: get(record::KEY_NAME)?,
            key_id: get(record::KEY_ID)?,
            organization_id: get(record::ORGANIZATION_ID)?,
            organization_name: get(record::ORGANIZATION_NAME)?,
            tags_hash: get(record::TAGS_HASH)?,
            control_plane: get(record::CONTROL_PLANE)?,
            control_plane_url: get(record::CONTROL_PLANE_URL)?,
        })
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        [
            (record::KEY_NAME, &self.key_name),
            (record::KEY_ID, &self.key_id),
            (record::ORGANIZATION_ID, &self.organization_id),
            (record::ORGANIZATION_NAME, &self.organization_name),
            (record::TAGS_HASH, &self.tags_hash),
            (record::CONTROL_PLANE, &self.control_plane),
            (record::CONTROL_PLANE_URL, &self.control_plane_url),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
    }
}

/// The object being reconciled, with its defaults resolved.
pub type Target<'a> = identity::Target<'a, CoderProvisioner>;

impl Owner for CoderProvisioner {
    type Error = Error;
    const APP_NAME: &'static str = APP_NAME;

    fn instance_label(name: &str) -> String {
        shorten(name, "", 63)
    }
}

impl<'a> Target<'a> {
    pub fn organization(&self) -> &'a str {
        let name = self.obj.spec.organization_name.trim();
        if name.is_empty() {
            DEFAULT_ORGANIZATION
        } else {
            name
        }
    }

    /// The key's name in coderd: `spec.key.name`, else the object's name (at most 128
    /// characters, as coder/coder-k8s shortens it), lowercased because coderd stores it so:
    /// a name compared as written would never match the listed key and rotate it forever.
    pub fn key_name(&self) -> String {
        let name = self
            .obj
            .spec
            .key
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(self.name);
        shorten(&name.to_lowercase(), "", 128)
    }

    pub fn secret_name(&self) -> String {
        match self.obj.spec.key.secret_name.as_deref() {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => shorten(self.name, "-provisioner-key", 253),
        }
    }

    pub fn secret_key(&self) -> &'a str {
        let key = self.obj.spec.key.secret_key.as_str();
        if key.is_empty() { "key" } else { key }
    }

    pub fn deployment_name(&self) -> String {
        format!(
            "provisioner-{}",
            shorten(self.name, "", 63 - "provisioner-".len())
        )
    }

    /// The daemons' ServiceAccount (coder/coder-k8s' `<name>-provisioner`).
    pub fn service_account_name(&self) -> String {
        shorten(self.name, "-provisioner", 63)
    }

    /// Name of the daemons' Role and RoleBinding (the Deployment's, as coder/coder-k8s names
    /// them).
    pub fn role_name(&self) -> String {
        self.deployment_name()
    }

    pub fn tags(&self) -> BTreeMap<String, String> {
        self.obj.spec.tags.clone().unwrap_or_default()
    }
}

/// `name` + `suffix` within `max` characters: cut and made unique with a hash of the whole name
/// when too long (the scheme coder/coder-k8s uses, so names match between the two projects).
fn shorten(name: &str, suffix: &str, max: usize) -> String {
    if name.len() + suffix.len() <= max {
        return format!("{name}{suffix}");
    }
    let hash = format!("{:08x}", fnv1a(&[name.as_bytes()]));
    let mut keep = max.saturating_sub(suffix.len() + hash.len() + 1).max(1);
    while !name.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}-{hash}{suffix}", &name[..keep])
}

/// 32-bit FNV-1a over the parts, in order.
fn fnv1a(parts: &[&[u8]]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for part in parts {
        for byte in *part {
            hash ^= u32::from(*byte);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    }
    hash
}

/// Hash of the tags, `key NUL value NUL` in key order, FNV-1a as 8 hex digits: the value
/// coder/coder-k8s writes to `status.tagsHash`, so an object moved between the two projects
/// does not rotate its key for nothing.
pub fn tags_hash(tags: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(tags.len() * 4);
    for (key, value) in tags {
        parts.extend([key.as_bytes(), &[0u8][..], value.as_bytes(), &[0u8][..]]);
    }
    format!("{:08x}", fnv1a(&parts))
}

/// The Secret holding the key, annotated with its record.
pub fn secret(target: &Target<'_>, key: &str, record: &KeyRecord) -> Secret {
    let mut metadata = target.owned_meta(target.secret_name());
    metadata.annotations = Some(record.annotations());
    Secret {
        metadata,
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            target.secret_key().to_string(),
            ByteString(key.as_bytes().to_vec()),
        )])),
        ..Secret::default()
    }
}

/// The ServiceAccount the daemons run as.
pub fn service_account(target: &Target<'_>) -> ServiceAccount {
    ServiceAccount {
        metadata: target.owned_meta(target.service_account_name()),
        ..ServiceAccount::default()
    }
}

/// What Terraform's Kubernetes provider needs in the provisioner's namespace to build
/// pod-based workspaces there (the rules coder/coder-k8s grants its daemons). The controller
/// holds these permissions itself (coder-k8s-controller-workspace-grants), as RBAC requires of
/// whoever creates a Role.
pub fn role(target: &Target<'_>) -> Role {
    Role {
        metadata: target.owned_meta(target.role_name()),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec![String::new()]),
            resources: Some(vec!["pods".into(), "persistentvolumeclaims".into()]),
            verbs: [
                "get", "list", "watch", "create", "update", "patch", "delete",
            ]
            .map(String::from)
            .to_vec(),
            ..PolicyRule::default()
        }]),
    }
}

pub fn role_binding(target: &Target<'_>) -> RoleBinding {
    bind_role_to_service_account(
        target.owned_meta(target.role_name()),
        target.role_name(),
        target.service_account_name(),
        target.namespace,
    )
}

/// What the Deployment needs besides the spec.
pub struct DeploymentInputs<'a> {
    /// coderd's URL (the control plane's status.url).
    pub coder_url: &'a str,
    /// `spec.image`, else the control plane's image.
    pub image: &'a str,
    /// Id of the key in the Secret.
    pub key_id: &'a str,
}

pub fn deployment(target: &Target<'_>, inputs: &DeploymentInputs<'_>) -> Deployment {
    let spec = &target.obj.spec;
    let mut args = vec!["provisioner".to_string(), "start".to_string()];
    args.extend(spec.extra_args.clone().unwrap_or_default());

    let mut env = vec![
        literal(CODER_URL_ENV, inputs.coder_url),
        EnvVar {
            name: KEY_ENV.into(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: target.secret_name(),
                    key: target.secret_key().to_string(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
        },
        literal("CODER_PROMETHEUS_ENABLE", "true"),
        literal(
            "CODER_PROMETHEUS_ADDRESS",
            format!("0.0.0.0:{METRICS_PORT}"),
        ),
        // The cache and Terraform's working files go to the writable volumes below.
        literal("CODER_CACHE_DIRECTORY", "/home/coder/.cache/coder"),
        literal("HOME", "/home/coder"),
    ];
    // The schema refuses user values for the two variables the controller owns.
    env.extend(spec.extra_env.clone().unwrap_or_default());

    let probe = |failure_threshold: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/".into()),
            port: IntOrString::String("metrics".into()),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    };

    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(inputs.image.to_string()),
        command: Some(vec!["coder".into()]),
        args: Some(args),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".into()),
            container_port: METRICS_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(probe(3)),
        liveness_probe: Some(probe(6)),
        resources: spec.resources.clone(),
        security_context: Some(container_security_context()),
        volume_mounts: Some(vec![mount("tmp", "/tmp"), mount("home", "/home/coder")]),
        ..Container::default()
    };

    let pods = Pods {
        labels: BTreeMap::new(),
        annotations: Some(BTreeMap::from([(
            POD_KEY_ANNOTATION.to_string(),
            inputs.key_id.to_string(),
        )])),
        spec: PodSpec {
            containers: vec![container],
            // Its token is what Terraform's in-cluster Kubernetes provider uses.
            service_account_name: Some(target.service_account_name()),
            image_pull_secrets: spec.image_pull_secrets.clone().filter(|s| !s.is_empty()),
            termination_grace_period_seconds: Some(spec.termination_grace_period_seconds),
            security_context: Some(PodSecurityContext {
                run_as_user: Some(CODER_UID),
                run_as_group: Some(CODER_UID),
                ..pod_security_context()
            }),
            volumes: Some(vec![empty_dir("tmp"), empty_dir("home")]),
            ..PodSpec::default()
        },
    };
    target.deployment(target.deployment_name(), spec.replicas, pods)
}

#[cfg(test)]
pub(crate) mod test_support {
    use crate::api::coder::v1alpha1::CoderProvisioner;

    /// A provisioner as the API server returns it: spec defaulted from JSON, uid set.
    pub fn provisioner(name: &str, spec: serde_json::Value) -> CoderProvisioner {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "coder.com/v1alpha1",
            "kind": "CoderProvisioner",
            "metadata": {"name": name, "namespace": "apps", "uid": "uid-p", "generation": 2},
            "spec": spec,
        }))
        .expect("test spec is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::provisioner;
    use super::*;
    use crate::controller::labels::{INSTANCE_LABEL, MANAGED_BY_LABEL, MANAGER};
    use serde_json::json;

    fn inputs() -> DeploymentInputs<'static> {
        DeploymentInputs {
            coder_url: "http://coder.apps.svc.cluster.local",
            image: "ghcr.io/coder/coder:v2.20.0",
            key_id: "9b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
        }
    }

    #[test]
    fn defaults_follow_coder_k8s() {
        let obj = provisioner("eu", json!({"controlPlaneRef": {"name": "coder"}}));
        let target = Target::new(&obj).unwrap();
        assert_eq!(target.organization(), "default");
        assert_eq!(target.key_name(), "eu");
        assert_eq!(target.secret_name(), "eu-provisioner-key");
        assert_eq!(target.secret_key(), "key");
        assert_eq!(target.deployment_name(), "provisioner-eu");
        assert_eq!(obj.spec.replicas, 1);
        let named = provisioner(
            "eu",
            json!({"controlPlaneRef": {"name": "coder"}, "key": {"name": "EU-West"}}),
        );
        assert_eq!(Target::new(&named).unwrap().key_name(), "eu-west");
        assert_eq!(obj.spec.termination_grace_period_seconds, 600);
    }

    #[test]
    fn long_names_are_shortened_with_a_hash() {
        let long = "a".repeat(70);
        let obj = provisioner(&long, json!({"controlPlaneRef": {"name": "c"}}));
        let target = Target::new(&obj).unwrap();
        let deployment = target.deployment_name();
        assert_eq!(deployment.len(), 63, "{deployment}");
        assert!(deployment.starts_with("provisioner-aaa"));
        // Another long name gets another hash.
        let other = provisioner(
            &format!("{long}b"),
            json!({"controlPlaneRef": {"name": "c"}}),
        );
        assert_ne!(Target::new(&other).unwrap().deployment_name(), deployment);
        assert!(target.selector_labels()[INSTANCE_LABEL].len() <= 63);
    }

    #[test]
    fn tags_hash_is_upstreams_fnv1a_and_order_independent() {
        // FNV-1a 32 of the empty input is the offset basis.
        assert_eq!(tags_hash(&BTreeMap::new()), "811c9dc5");
        let a = BTreeMap::from([("a".to_string(), "1".to_string())]);
        // FNV-1a 32 of "a\01\0", computed by hand from the algorithm's definition.
        let mut expected: u32 = 0x811c_9dc5;
        for byte in b"a\x001\x00" {
            expected ^= u32::from(*byte);
            expected = expected.wrapping_mul(0x0100_0193);
        }
        assert_eq!(tags_hash(&a), format!("{expected:08x}"));
        let one = BTreeMap::from([
            ("scope".to_string(), "organization".to_string()),
            ("region".to_string(), "eu".to_string()),
        ]);
        let moved = BTreeMap::from([
            ("scope".to_string(), "organization".to_string()),
            ("region".to_string(), "us".to_string()),
        ]);
        assert_ne!(tags_hash(&one), tags_hash(&moved));
        // The separators keep {"ab": ""} and {"a": "b"} apart.
        let ab = BTreeMap::from([("ab".to_string(), String::new())]);
        let a_b = BTreeMap::from([("a".to_string(), "b".to_string())]);
        assert_ne!(tags_hash(&ab), tags_hash(&a_b));
    }

    #[test]
    fn deployment_reads_the_key_from_the_secret_and_is_hardened() {
        let obj = provisioner(
            "eu",
            json!({
                "controlPlaneRef": {"name": "coder"},
                "key": {"secretName": "pk", "secretKey": "daemon"},
                "replicas": 3,
                "extraArgs": ["--verbose"],
                "extraEnv": [{"name": "CODER_PROVISIONER_DAEMON_NAME", "value": "eu"}],
                "imagePullSecrets": [{"name": "regcred"}],
                "terminationGracePeriodSeconds": 30,
                "resources": {"limits": {"memory": "1Gi"}},
            }),
        );
        let target = Target::new(&obj).unwrap();
        let deployment = deployment(&target, &inputs());
        let meta = &deployment.metadata;
        assert_eq!(meta.name.as_deref(), Some("provisioner-eu"));
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
            ("CoderProvisioner", "uid-p", Some(true))
        );
        assert_eq!(meta.labels.as_ref().unwrap()[MANAGED_BY_LABEL], MANAGER);
        let spec = deployment.spec.unwrap();
        assert_eq!(spec.replicas, Some(3));
        let template = spec.template;
        assert_eq!(
            template
                .metadata
                .as_ref()
                .unwrap()
                .annotations
                .as_ref()
                .unwrap()[POD_KEY_ANNOTATION],
            inputs().key_id
        );
        let pod = template.spec.unwrap();
        assert_eq!(pod.termination_grace_period_seconds, Some(30));
        assert_eq!(pod.image_pull_secrets.unwrap()[0].name, "regcred");
        assert_eq!(pod.service_account_name.as_deref(), Some("eu-provisioner"));
        let pod_security = pod.security_context.unwrap();
        assert_eq!(pod_security.run_as_non_root, Some(true));
        assert_eq!(
            pod_security.seccomp_profile.unwrap().type_,
            "RuntimeDefault"
        );
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("ghcr.io/coder/coder:v2.20.0"));
        assert_eq!(c.command.as_deref(), Some(&["coder".to_string()][..]));
        assert_eq!(
            c.args.as_deref().unwrap(),
            ["provisioner", "start", "--verbose"]
        );
        let env = c.env.as_deref().unwrap();
        let var = |name: &str| env.iter().find(|e| e.name == name).unwrap();
        assert_eq!(
            var(CODER_URL_ENV).value.as_deref(),
            Some("http://coder.apps.svc.cluster.local")
        );
        let from = var(KEY_ENV).value_from.as_ref().unwrap();
        let selector = from.secret_key_ref.as_ref().unwrap();
        assert_eq!(
            (selector.name.as_str(), selector.key.as_str()),
            ("pk", "daemon")
        );
        assert!(
            var(KEY_ENV).value.is_none(),
            "the key never sits in the pod spec"
        );
        assert_eq!(env.last().unwrap().name, "CODER_PROVISIONER_DAEMON_NAME");
        let security = c.security_context.as_ref().unwrap();
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        assert_eq!(
            security.capabilities.as_ref().unwrap().drop.as_deref(),
            Some(&["ALL".to_string()][..])
        );
        assert!(security.privileged.is_none());
        for probe in [&c.readiness_probe, &c.liveness_probe] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(get.port, IntOrString::String("metrics".into()));
        }
        assert_eq!(c.ports.as_ref().unwrap()[0].container_port, METRICS_PORT);
        // Read-only root: every path the daemon writes is a volume.
        let mounts: Vec<&str> = c
            .volume_mounts
            .as_deref()
            .unwrap()
            .iter()
            .map(|m| m.mount_path.as_str())
            .collect();
        assert_eq!(mounts, ["/tmp", "/home/coder"]);
        assert!(c.resources.as_ref().unwrap().limits.as_ref().unwrap()["memory"].0 == "1Gi");
    }

    #[test]
    fn the_daemons_may_manage_pods_and_claims_in_their_namespace() {
        let obj = provisioner("eu", json!({"controlPlaneRef": {"name": "coder"}}));
        let target = Target::new(&obj).unwrap();
        let sa = service_account(&target);
        assert_eq!(sa.metadata.name.as_deref(), Some("eu-provisioner"));
        let role = role(&target);
        assert_eq!(role.metadata.name.as_deref(), Some("provisioner-eu"));
        let rule = &role.rules.as_ref().unwrap()[0];
        assert_eq!(rule.api_groups.as_deref(), Some(&[String::new()][..]));
        assert_eq!(
            rule.resources.as_deref().unwrap(),
            ["pods", "persistentvolumeclaims"]
        );
        assert!(!rule.verbs.iter().any(|v| v == "*" || v == "escalate"));
        let binding = role_binding(&target);
        assert_eq!(binding.role_ref.name, "provisioner-eu");
        let subject = &binding.subjects.as_ref().unwrap()[0];
        assert_eq!(
            (
                subject.kind.as_str(),
                subject.name.as_str(),
                subject.namespace.as_deref()
            ),
            ("ServiceAccount", "eu-provisioner", Some("apps"))
        );
        for owners in [
            &sa.metadata.owner_references,
            &role.metadata.owner_references,
            &binding.metadata.owner_references,
        ] {
            assert_eq!(owners.as_ref().unwrap()[0].kind, "CoderProvisioner");
        }
    }

    #[test]
    fn secret_holds_the_key_and_its_record() {
        let obj = provisioner("eu", json!({"controlPlaneRef": {"name": "coder"}}));
        let target = Target::new(&obj).unwrap();
        let record = KeyRecord {
            key_name: "eu".into(),
            key_id: "id".into(),
            organization_id: "org-id".into(),
            organization_name: "default".into(),
            tags_hash: "811c9dc5".into(),
            control_plane: "coder".into(),
            control_plane_url: "http://coder".into(),
        };
        let secret = secret(&target, "the-key", &record);
        assert_eq!(secret.metadata.name.as_deref(), Some("eu-provisioner-key"));
        assert_eq!(secret.data.as_ref().unwrap()["key"].0, b"the-key");
        assert_eq!(KeyRecord::of(&secret), Some(record));
        let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(owner.kind, "CoderProvisioner");
        // A Secret without the full record (made by hand, or by coder/coder-k8s) has none.
        let mut partial = secret.clone();
        partial
            .metadata
            .annotations
            .as_mut()
            .unwrap()
            .remove(record::TAGS_HASH);
        assert_eq!(KeyRecord::of(&partial), None);
    }
}
