//! Pure functions from a `CoderWorkspaceProxy` to the objects the controller applies: the
//! proxy Deployment, its Service and the token Secret. Nothing here talks to an API server.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, PodSpec, Probe, Secret,
    SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::error::ProxyError;
use crate::api::coder::v1alpha1::CoderWorkspaceProxy;
use crate::coder::ProxyToken;
use crate::controller::identity::{self, Owner, Pods};
use crate::controller::pod::{
    container_security_context, empty_dir, literal, mount, pod_security_context,
    runtime_default_seccomp,
};

/// `app.kubernetes.io/name` of every child (the Go coder-k8s uses the same value).
pub const APP_NAME: &str = "coder-workspace-proxy";
/// The proxy's HTTP port inside the pod (`coder wsproxy server --http-address`).
pub const HTTP_PORT: i32 = 3001;
pub const CONTAINER_NAME: &str = "workspace-proxy";
/// Key of the token in the generated Secret (coder-k8s' DefaultTokenSecretKey).
pub const TOKEN_KEY: &str = "token";
/// The icon coderd requires on every PATCH when the spec names none: a globe.
pub const DEFAULT_ICON: &str = "/emojis/1f310.png";
/// `coder`'s image runs as this user; the pod pins it so `runAsNonRoot` can be verified.
/// A writable scratch directory on a read-only root filesystem.
const SCRATCH_DIR: &str = "/tmp";

/// The proxy being reconciled, with what every builder needs.
pub type Target<'a> = identity::Target<'a, CoderWorkspaceProxy>;

impl Owner for CoderWorkspaceProxy {
    type Error = ProxyError;
    const APP_NAME: &'static str = APP_NAME;

    fn instance_label(name: &str) -> String {
        bounded(name)
    }
}

impl<'a> Target<'a> {
    /// Name of the Deployment and the Service: `wsproxy-<name>`, as the Go coder-k8s names
    /// them, so a migrated proxy keeps its Service's DNS name. Over 63 characters the name is
    /// cut and a hash of the whole name appended, keeping it unique.
    pub fn child_name(&self) -> String {
        bounded(&format!("wsproxy-{}", self.name))
    }

    /// The Secret the registered proxy's token is kept in.
    pub fn token_secret_name(&self) -> String {
        self.spec
            .bootstrap
            .as_ref()
            .and_then(|b| b.generated_token_secret_name.clone())
            .unwrap_or_else(|| bounded(&format!("{}-proxy-token", self.name)))
    }
}

/// `value` if it fits a name or label value (63 characters), else its first characters and an
/// FNV-1a hash of the whole, so two long names never collide on their common prefix.
fn bounded(value: &str) -> String {
    const MAX: usize = 63;
    if value.len() <= MAX {
        return value.to_string();
    }
    let hash = value.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let suffix = format!("{hash:08x}");
    let mut end = MAX - suffix.len() - 1;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}-{suffix}", value[..end].trim_end_matches(['-', '.']))
}

/// Where the pods get their token from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRef {
    pub name: String,
    pub key: String,
}

/// The proxy Deployment: `coder wsproxy server` on port 3001 reaching coderd at `primary_url`
/// with the token from `token`, in a hardened pod.
pub fn deployment(target: &Target<'_>, primary_url: &str, token: &TokenRef) -> Deployment {
    let spec = target.spec;
    let mut args = vec![
        "wsproxy".to_string(),
        "server".to_string(),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
    ];
    if spec.derp_only {
        args.push("--derp-only".into());
    }
    args.extend(spec.extra_args.clone().unwrap_or_default());

    let mut env = vec![
        literal("CODER_PRIMARY_ACCESS_URL", primary_url),
        EnvVar {
            name: "CODER_PROXY_SESSION_TOKEN".into(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: token.name.clone(),
                    key: token.key.clone(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        },
        // The root filesystem is read-only: coder's cache goes to the scratch volume.
        literal(
            "CODER_CACHE_DIRECTORY",
            format!("{SCRATCH_DIR}/coder-cache"),
        ),
    ];
    // Later entries win in Kubernetes; extraEnv may override the computed ones by name.
    for extra in spec.extra_env.clone().unwrap_or_default() {
        env.retain(|e| e.name != extra.name);
        env.push(extra);
    }

    let probe = |failure_threshold: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String("http".into()),
            scheme: Some("HTTP".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(1),
        success_threshold: Some(1),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    };

    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(spec.image.clone()),
        args: Some(args),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: HTTP_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(probe(3)),
        // Generous: a proxy that lost coderd for a while should not be restarted for it.
        liveness_probe: Some(probe(6)),
        security_context: Some(SecurityContext {
            seccomp_profile: Some(runtime_default_seccomp()),
            ..container_security_context()
        }),
        volume_mounts: Some(vec![mount("scratch", SCRATCH_DIR)]),
        ..Container::default()
    };

    let pods = Pods {
        labels: BTreeMap::new(),
        annotations: None,
        spec: PodSpec {
            containers: vec![container],
            image_pull_secrets: spec.image_pull_secrets.clone().filter(|s| !s.is_empty()),
            // The proxy does not call the Kubernetes API.
            automount_service_account_token: Some(false),
            security_context: Some(pod_security_context()),
            volumes: Some(vec![empty_dir("scratch")]),
            ..PodSpec::default()
        },
    };
    target.deployment(target.child_name(), spec.replicas, pods)
}

/// The Service in front of the proxy pods.
pub fn service(target: &Target<'_>) -> Service {
    let spec = &target.spec.service;
    let mut metadata = target.owned_meta(target.child_name());
    metadata.annotations = spec.annotations.clone().filter(|a| !a.is_empty());
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(spec.r#type.as_str().to_string()),
            selector: Some(target.selector_labels()),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: spec.port,
                protocol: Some("TCP".into()),
                target_port: Some(IntOrString::String("http".into())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The Secret holding the token coderd issued for the registered proxy.
pub fn token_secret(target: &Target<'_>, token: &ProxyToken) -> Secret {
    Secret {
        metadata: target.owned_meta(target.token_secret_name()),
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            TOKEN_KEY.to_string(),
            ByteString(token.expose().as_bytes().to_vec()),
        )])),
        ..Secret::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::labels::{MANAGED_BY_LABEL, MANAGER};

    pub fn proxy(name: &str, spec: serde_json::Value) -> CoderWorkspaceProxy {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "coder.com/v1alpha1",
            "kind": "CoderWorkspaceProxy",
            "metadata": {"name": name, "namespace": "ns", "uid": "u-1"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn env_of(deployment: &Deployment) -> Vec<EnvVar> {
        deployment
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .env
            .clone()
            .unwrap()
    }

    #[test]
    fn deployment_runs_wsproxy_against_the_primary_with_the_token_from_the_secret() {
        let obj = proxy(
            "eu",
            serde_json::json!({"derpOnly": true, "extraArgs": ["--verbose"]}),
        );
        let target = Target::new(&obj).unwrap();
        let token = TokenRef {
            name: "eu-proxy-token".into(),
            key: "token".into(),
        };
        let d = deployment(&target, "https://coder.example.com", &token);
        assert_eq!(d.metadata.name.as_deref(), Some("wsproxy-eu"));
        let owner = &d.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!((owner.uid.as_str(), owner.controller), ("u-1", Some(true)));
        let pod = d.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(
            c.args.clone().unwrap(),
            [
                "wsproxy",
                "server",
                "--http-address=0.0.0.0:3001",
                "--derp-only",
                "--verbose"
            ]
        );
        let env = env_of(&d);
        assert_eq!(
            env[0].value.as_deref(),
            Some("https://coder.example.com"),
            "{env:?}"
        );
        let from = env[1]
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (from.name.as_str(), from.key.as_str()),
            ("eu-proxy-token", "token")
        );
        // Hardened: non-root, read-only root, nothing escalates, probes on /healthz.
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(
            sc.capabilities.as_ref().unwrap().drop.clone().unwrap(),
            ["ALL"]
        );
        assert_eq!(pod.automount_service_account_token, Some(false));
        for probe in [&c.readiness_probe, &c.liveness_probe] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(get.path.as_deref(), Some("/healthz"));
        }
        assert_eq!(
            d.metadata.labels.as_ref().unwrap().get(MANAGED_BY_LABEL),
            Some(&MANAGER.to_string())
        );
    }

    #[test]
    fn extra_env_replaces_a_computed_variable_of_the_same_name() {
        let obj = proxy(
            "eu",
            serde_json::json!({"extraEnv": [
                {"name": "CODER_CACHE_DIRECTORY", "value": "/cache"},
                {"name": "CODER_VERBOSE", "value": "true"}
            ]}),
        );
        let target = Target::new(&obj).unwrap();
        let token = TokenRef {
            name: "t".into(),
            key: "token".into(),
        };
        let env = env_of(&deployment(&target, "http://c", &token));
        let cache: Vec<_> = env
            .iter()
            .filter(|e| e.name == "CODER_CACHE_DIRECTORY")
            .collect();
        assert_eq!(cache.len(), 1);
        assert_eq!(cache[0].value.as_deref(), Some("/cache"));
        assert!(env.iter().any(|e| e.name == "CODER_VERBOSE"));
    }

    #[test]
    fn service_follows_the_spec_and_selects_the_pods() {
        let obj = proxy(
            "eu",
            serde_json::json!({"service": {"type": "LoadBalancer", "port": 8080, "annotations": {"a": "b"}}}),
        );
        let target = Target::new(&obj).unwrap();
        let s = service(&target);
        let spec = s.spec.as_ref().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
        let port = &spec.ports.as_ref().unwrap()[0];
        assert_eq!(port.port, 8080);
        assert_eq!(port.target_port, Some(IntOrString::String("http".into())));
        assert_eq!(spec.selector.clone().unwrap(), target.selector_labels());
        assert_eq!(
            s.metadata.annotations.unwrap().get("a").map(String::as_str),
            Some("b")
        );
    }

    #[test]
    fn token_secret_name_defaults_and_follows_the_spec() {
        let obj = proxy(
            "eu",
            serde_json::json!({"bootstrap": {"coderURL": "http://c"}}),
        );
        let target = Target::new(&obj).unwrap();
        assert_eq!(target.token_secret_name(), "eu-proxy-token");
        let secret = token_secret(&target, &ProxyToken::new("id:secret"));
        assert_eq!(
            secret.data.unwrap().get(TOKEN_KEY).map(|b| b.0.clone()),
            Some(b"id:secret".to_vec())
        );
        let obj = proxy(
            "eu",
            serde_json::json!({"bootstrap": {"coderURL": "http://c", "generatedTokenSecretName": "mine"}}),
        );
        assert_eq!(Target::new(&obj).unwrap().token_secret_name(), "mine");
    }

    #[test]
    fn long_names_are_cut_with_a_hash_and_stay_distinct() {
        let a = bounded(&format!("wsproxy-{}", "a".repeat(70)));
        let b = bounded(&format!("wsproxy-{}b", "a".repeat(69)));
        assert_eq!(a.len(), 63);
        assert_ne!(a, b);
        assert_eq!(bounded("wsproxy-eu"), "wsproxy-eu");
    }
}
