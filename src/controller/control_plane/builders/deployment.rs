//! The coderd Deployment: one `coder` container whose flags and environment follow the Helm
//! chart, with every pod-level field of the spec passed through.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector, PodSpec,
    Probe, SecretVolumeSource, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{ACCESS_URL_ENV, HTTP_PORT, HTTPS_PORT, Target};
use crate::controller::identity::Pods;
use crate::controller::pod::literal;

pub const CONTAINER_NAME: &str = "coder";
/// Where each TLS secret is mounted: `<dir>/<secret>/tls.{crt,key}` (the Helm chart's layout).
pub const TLS_MOUNT_DIR: &str = "/etc/ssl/certs/coder";

/// Probe timings shared by both probe kinds of the schema.
struct ProbeTimings {
    enabled: bool,
    initial_delay_seconds: i32,
    period_seconds: i32,
    timeout_seconds: i32,
    success_threshold: i32,
    failure_threshold: i32,
}

pub fn deployment(target: &Target<'_>) -> Deployment {
    let spec = target.spec;
    let tls = target.tls_enabled();
    let port_name = if tls { "https" } else { "http" };

    let mut ports = vec![ContainerPort {
        name: Some("http".into()),
        container_port: HTTP_PORT,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }];
    if tls {
        ports.push(ContainerPort {
            name: Some("https".into()),
            container_port: HTTPS_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        });
    }

    let mut args = vec![format!("--http-address=0.0.0.0:{HTTP_PORT}")];
    args.extend(spec.extra_args.clone().unwrap_or_default());

    let (mut volumes, mut mounts) = tls_volumes(target.tls_secrets());
    let (ca_volumes, ca_mounts) = ca_cert_volumes(target);
    volumes.extend(ca_volumes);
    mounts.extend(ca_mounts);
    // The user's own volumes come last, as in the chart; a name clash with ours is refused
    // before anything is applied (see `builders::validate`).
    volumes.extend(spec.volumes.clone().unwrap_or_default());
    mounts.extend(spec.volume_mounts.clone().unwrap_or_default());

    let readiness = ProbeTimings {
        enabled: spec.readiness_probe.enabled,
        initial_delay_seconds: spec.readiness_probe.initial_delay_seconds,
        period_seconds: spec.readiness_probe.period_seconds,
        timeout_seconds: spec.readiness_probe.timeout_seconds,
        success_threshold: spec.readiness_probe.success_threshold,
        failure_threshold: spec.readiness_probe.failure_threshold,
    };
    let liveness = ProbeTimings {
        enabled: spec.liveness_probe.enabled,
        initial_delay_seconds: spec.liveness_probe.initial_delay_seconds,
        period_seconds: spec.liveness_probe.period_seconds,
        timeout_seconds: spec.liveness_probe.timeout_seconds,
        // Kubernetes rejects a liveness successThreshold other than 1.
        success_threshold: 1,
        failure_threshold: spec.liveness_probe.failure_threshold,
    };

    let container = Container {
        name: CONTAINER_NAME.into(),
        image: Some(spec.image.clone()),
        image_pull_policy: spec
            .image_pull_policy
            .as_ref()
            .map(|p| p.as_str().to_string()),
        args: Some(args),
        env: Some(env(target)),
        env_from: spec.env_from.clone().filter(|e| !e.is_empty()),
        ports: Some(ports),
        readiness_probe: probe(&readiness, port_name, tls),
        liveness_probe: probe(&liveness, port_name, tls),
        resources: spec.resources.clone(),
        security_context: spec.security_context.clone(),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        lifecycle: spec.lifecycle.clone(),
        ..Container::default()
    };

    let pods = Pods {
        labels: spec.pod_labels.clone().unwrap_or_default(),
        annotations: spec.pod_annotations.clone().filter(|a| !a.is_empty()),
        spec: PodSpec {
            service_account_name: Some(target.service_account_name()),
            containers: vec![container],
            image_pull_secrets: spec.image_pull_secrets.clone().filter(|s| !s.is_empty()),
            node_selector: spec.node_selector.clone().filter(|s| !s.is_empty()),
            tolerations: spec.tolerations.clone().filter(|t| !t.is_empty()),
            affinity: spec.affinity.clone(),
            priority_class_name: spec.priority_class_name.clone().filter(|p| !p.is_empty()),
            topology_spread_constraints: spec
                .topology_spread_constraints
                .clone()
                .filter(|t| !t.is_empty()),
            security_context: spec.pod_security_context.clone(),
            volumes: (!volumes.is_empty()).then_some(volumes),
            ..PodSpec::default()
        },
    };
    target.deployment(target.name, spec.replicas, pods)
}

/// The computed environment first, then `extraEnv`; a user `CODER_ACCESS_URL` replaces ours.
fn env(target: &Target<'_>) -> Vec<EnvVar> {
    let mut env = vec![
        EnvVar {
            name: "KUBE_POD_IP".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: "status.podIP".into(),
                }),
                ..EnvVarSource::default()
            }),
        },
        // Replicas relay DERP traffic to each other over the pod network.
        literal(
            "CODER_DERP_SERVER_RELAY_URL",
            format!("http://$(KUBE_POD_IP):{HTTP_PORT}"),
        ),
    ];
    if target.spec.env_use_cluster_access_url && !target.user_sets_access_url() {
        env.push(literal(ACCESS_URL_ENV, target.service_url()));
    }
    let secrets = target.tls_secrets();
    if !secrets.is_empty() {
        let files = |file: &str| {
            secrets
                .iter()
                .map(|s| format!("{TLS_MOUNT_DIR}/{s}/{file}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        env.push(literal("CODER_TLS_ENABLE", "true"));
        env.push(literal(
            "CODER_TLS_ADDRESS",
            format!("0.0.0.0:{HTTPS_PORT}"),
        ));
        env.push(literal("CODER_TLS_CERT_FILE", files("tls.crt")));
        env.push(literal("CODER_TLS_KEY_FILE", files("tls.key")));
    }
    env.extend(target.spec.extra_env.clone().unwrap_or_default());
    env
}

/// One secret volume and read-only mount per TLS secret. Volume names are indexed because a
/// secret name may be longer than the 63 characters a volume name allows.
fn tls_volumes(secrets: &[String]) -> (Vec<Volume>, Vec<VolumeMount>) {
    secrets
        .iter()
        .enumerate()
        .map(|(i, secret)| {
            let name = format!("tls-{i}");
            (
                Volume {
                    name: name.clone(),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(secret.clone()),
                        ..SecretVolumeSource::default()
                    }),
                    ..Volume::default()
                },
                VolumeMount {
                    name,
                    mount_path: format!("{TLS_MOUNT_DIR}/{secret}"),
                    read_only: Some(true),
                    ..VolumeMount::default()
                },
            )
        })
        .unzip()
}

/// Names of the volumes the controller adds itself (TLS and CA certificate Secrets).
pub fn generated_volume_names(target: &Target<'_>) -> Vec<String> {
    let (mut volumes, _) = tls_volumes(target.tls_secrets());
    volumes.extend(ca_cert_volumes(target).0);
    volumes.into_iter().map(|v| v.name).collect()
}

/// Where extra CA certificates are mounted: Go's TLS (coderd) reads every file of this
/// directory beside the system bundle, so no `SSL_CERT_*` variable is needed (the chart sets
/// none either, and one would replace the system bundle rather than add to it).
pub const CA_CERT_DIR: &str = "/etc/ssl/certs";

/// One Secret volume per distinct `certs.secrets[].name` and one read-only `subPath` mount per
/// distinct (name, key): `<dir>/<name>.crt`, or `<dir>/<name>-<key>.crt` when one Secret lends
/// several keys, numbered if two selectors would still land on one file.
fn ca_cert_volumes(target: &Target<'_>) -> (Vec<Volume>, Vec<VolumeMount>) {
    let selectors = target.ca_cert_selectors();
    let mut volumes: Vec<Volume> = Vec::new();
    let mut mounts: Vec<VolumeMount> = Vec::new();
    let mut files = std::collections::BTreeSet::new();
    for (name, key) in &selectors {
        let index = match volumes
            .iter()
            .position(|v| v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) == Some(name))
        {
            Some(index) => index,
            None => {
                volumes.push(Volume {
                    name: format!("ca-cert-{}", volumes.len()),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some(name.to_string()),
                        ..SecretVolumeSource::default()
                    }),
                    ..Volume::default()
                });
                volumes.len() - 1
            }
        };
        let shared = selectors.iter().filter(|(n, _)| n == name).count() > 1;
        let base = if shared {
            format!("{name}-{key}")
        } else {
            name.to_string()
        };
        let base = base.strip_suffix(".crt").unwrap_or(&base).to_string();
        let mut file = format!("{base}.crt");
        let mut n = 2;
        while !files.insert(file.clone()) {
            file = format!("{base}-{n}.crt");
            n += 1;
        }
        mounts.push(VolumeMount {
            name: volumes[index].name.clone(),
            mount_path: format!("{CA_CERT_DIR}/{file}"),
            sub_path: Some(key.to_string()),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    (volumes, mounts)
}

/// Probe timings are plain `int32` with `omitempty` in the Kubernetes API: a 0 is stored and
/// returned as "not set", so the controller leaves a 0 out too. Otherwise the cached
/// Deployment (no `initialDelaySeconds`) would never match what is applied (`0`, the default)
/// and every reconcile would send a Deployment apply that changes nothing. Leaving it out
/// means the same value: an absent field is 0 (or the API server's default for the others).
fn probe(timings: &ProbeTimings, port: &str, tls: bool) -> Option<Probe> {
    let set = |seconds: i32| (seconds != 0).then_some(seconds);
    timings.enabled.then(|| Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/healthz".into()),
            port: IntOrString::String(port.into()),
            scheme: Some(if tls { "HTTPS" } else { "HTTP" }.into()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: set(timings.initial_delay_seconds),
        period_seconds: set(timings.period_seconds),
        timeout_seconds: set(timings.timeout_seconds),
        success_threshold: set(timings.success_threshold),
        failure_threshold: set(timings.failure_threshold),
        ..Probe::default()
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_support::ccp;
    use super::*;
    use k8s_openapi::api::core::v1::PodSpec;
    use serde_json::json;

    fn build(spec: serde_json::Value) -> Deployment {
        let obj = ccp("coder", "ns", spec);
        deployment(&Target::new(&obj).unwrap())
    }

    fn pod(d: &Deployment) -> &PodSpec {
        d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
    }

    fn container(d: &Deployment) -> &Container {
        &pod(d).containers[0]
    }

    fn env_map(c: &Container) -> Vec<(String, String)> {
        c.env
            .as_ref()
            .unwrap()
            .iter()
            .map(|e| {
                let value = match (&e.value, &e.value_from) {
                    (Some(v), _) => v.clone(),
                    (None, Some(from)) => format!("from:{}", serde_json::to_string(from).unwrap()),
                    (None, None) => String::new(),
                };
                (e.name.clone(), value)
            })
            .collect()
    }

    #[test]
    fn defaults() {
        let d = build(json!({}));
        assert_eq!(d.metadata.name.as_deref(), Some("coder"));
        assert_eq!(d.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(
            d.metadata.owner_references.as_ref().unwrap()[0].uid,
            "uid-1"
        );
        let spec = d.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(1));
        let selector = spec.selector.match_labels.as_ref().unwrap();
        assert_eq!(selector.len(), 2);
        assert_eq!(selector["app.kubernetes.io/name"], "coder");
        assert_eq!(selector["app.kubernetes.io/instance"], "coder");
        let template_labels = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .as_ref()
            .unwrap();
        assert_eq!(template_labels["app.kubernetes.io/managed-by"], "coder-k8s");
        let p = pod(&d);
        assert_eq!(p.service_account_name.as_deref(), Some("coder"));
        assert!(p.image_pull_secrets.is_none());
        assert!(p.node_selector.is_none());
        assert!(p.tolerations.is_none());
        assert!(p.affinity.is_none());
        assert!(p.security_context.is_none());
        assert!(p.volumes.is_none());
        assert_eq!(p.containers.len(), 1);
        let c = container(&d);
        assert_eq!(c.name, "coder");
        assert_eq!(c.image.as_deref(), Some("ghcr.io/coder/coder:latest"));
        assert_eq!(
            c.args.as_ref().unwrap(),
            &vec!["--http-address=0.0.0.0:8080".to_string()]
        );
        assert_eq!(
            env_map(c),
            vec![
                (
                    "KUBE_POD_IP".to_string(),
                    r#"from:{"fieldRef":{"fieldPath":"status.podIP"}}"#.to_string()
                ),
                (
                    "CODER_DERP_SERVER_RELAY_URL".to_string(),
                    "http://$(KUBE_POD_IP):8080".to_string()
                ),
                (
                    "CODER_ACCESS_URL".to_string(),
                    "http://coder.ns.svc.cluster.local".to_string()
                ),
            ]
        );
        assert!(c.env_from.is_none());
        let ports = c.ports.as_ref().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].name.as_deref(), Some("http"));
        assert_eq!(ports[0].container_port, 8080);
        let readiness = c.readiness_probe.as_ref().unwrap();
        let get = readiness.http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some("/healthz"));
        assert_eq!(get.port, IntOrString::String("http".into()));
        assert_eq!(get.scheme.as_deref(), Some("HTTP"));
        // 0 is "not set" in the API (omitempty): left out, or the cached copy never matches.
        assert_eq!(readiness.initial_delay_seconds, None);
        assert_eq!(readiness.period_seconds, Some(10));
        assert_eq!(readiness.timeout_seconds, Some(1));
        assert_eq!(readiness.success_threshold, Some(1));
        assert_eq!(readiness.failure_threshold, Some(3));
        assert!(c.liveness_probe.is_none(), "liveness is off by default");
        assert!(c.resources.is_none());
        assert!(c.security_context.is_none());
        assert!(c.volume_mounts.is_none());
    }

    #[test]
    fn every_pod_field_is_passed_through() {
        let d = build(json!({
            "image": "registry.local/coder:v2",
            "replicas": 3,
            "extraArgs": ["--verbose", "--trace"],
            "extraEnv": [{"name": "CODER_PG_CONNECTION_URL", "value": "postgres://db"}],
            "envFrom": [{"secretRef": {"name": "coder-env"}}],
            "imagePullSecrets": [{"name": "pull"}],
            "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "500m"}},
            "securityContext": {"runAsNonRoot": true, "readOnlyRootFilesystem": true},
            "podSecurityContext": {"fsGroup": 1000},
            "nodeSelector": {"pool": "coder"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "coder", "effect": "NoSchedule"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]}}},
            "serviceAccount": {"name": "coder-sa", "disableCreate": true},
            "readinessProbe": {"enabled": false},
            "livenessProbe": {"enabled": true, "initialDelaySeconds": 30, "periodSeconds": 20, "timeoutSeconds": 5, "successThreshold": 4, "failureThreshold": 6},
        }));
        assert_eq!(d.spec.as_ref().unwrap().replicas, Some(3));
        let p = pod(&d);
        assert_eq!(p.service_account_name.as_deref(), Some("coder-sa"));
        assert_eq!(p.image_pull_secrets.as_ref().unwrap()[0].name, "pull");
        assert_eq!(p.node_selector.as_ref().unwrap()["pool"], "coder");
        assert_eq!(
            p.tolerations.as_ref().unwrap()[0].key.as_deref(),
            Some("dedicated")
        );
        assert_eq!(
            p.affinity
                .as_ref()
                .unwrap()
                .node_affinity
                .as_ref()
                .unwrap()
                .required_during_scheduling_ignored_during_execution
                .as_ref()
                .unwrap()
                .node_selector_terms[0]
                .match_expressions
                .as_ref()
                .unwrap()[0]
                .key,
            "zone"
        );
        assert_eq!(p.security_context.as_ref().unwrap().fs_group, Some(1000));
        let c = container(&d);
        assert_eq!(c.image.as_deref(), Some("registry.local/coder:v2"));
        assert_eq!(
            c.args.as_ref().unwrap(),
            &vec![
                "--http-address=0.0.0.0:8080".to_string(),
                "--verbose".to_string(),
                "--trace".to_string()
            ]
        );
        let env = env_map(c);
        assert_eq!(
            env.last().unwrap(),
            &(
                "CODER_PG_CONNECTION_URL".to_string(),
                "postgres://db".to_string()
            )
        );
        assert!(
            env.iter()
                .any(|(k, v)| k == "CODER_ACCESS_URL" && v == "http://coder.ns.svc.cluster.local")
        );
        assert_eq!(
            c.env_from.as_ref().unwrap()[0]
                .secret_ref
                .as_ref()
                .unwrap()
                .name,
            "coder-env"
        );
        let resources = c.resources.as_ref().unwrap();
        assert_eq!(resources.limits.as_ref().unwrap()["memory"].0, "4Gi");
        assert_eq!(resources.requests.as_ref().unwrap()["cpu"].0, "500m");
        let sc = c.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert!(c.readiness_probe.is_none());
        let live = c.liveness_probe.as_ref().unwrap();
        assert_eq!(
            live.http_get.as_ref().unwrap().path.as_deref(),
            Some("/healthz")
        );
        assert_eq!(live.initial_delay_seconds, Some(30));
        assert_eq!(live.period_seconds, Some(20));
        assert_eq!(live.timeout_seconds, Some(5));
        assert_eq!(
            live.success_threshold,
            Some(1),
            "liveness successThreshold must be 1"
        );
        assert_eq!(live.failure_threshold, Some(6));
    }

    #[test]
    fn user_access_url_replaces_the_computed_one() {
        for extra in [
            json!({"name": "CODER_ACCESS_URL", "value": "https://coder.example.com"}),
            json!({"name": "CODER_ACCESS_URL", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "url"}}}),
        ] {
            let d = build(json!({"extraEnv": [extra.clone()]}));
            let env = container(&d).env.clone().unwrap();
            let urls: Vec<&EnvVar> = env
                .iter()
                .filter(|e| e.name == "CODER_ACCESS_URL")
                .collect();
            assert_eq!(urls.len(), 1, "{extra}");
            assert_eq!(serde_json::to_value(urls[0]).unwrap(), extra);
        }
    }

    #[test]
    fn tls_adds_volumes_env_port_and_https_probes() {
        let d = build(
            json!({"tls": {"secretNames": ["one", "two"]}, "livenessProbe": {"enabled": true}}),
        );
        let p = pod(&d);
        let volumes = p.volumes.as_ref().unwrap();
        assert_eq!(volumes.len(), 2);
        assert_eq!(volumes[0].name, "tls-0");
        assert_eq!(
            volumes[0].secret.as_ref().unwrap().secret_name.as_deref(),
            Some("one")
        );
        assert_eq!(
            volumes[1].secret.as_ref().unwrap().secret_name.as_deref(),
            Some("two")
        );
        let c = container(&d);
        let mounts = c.volume_mounts.as_ref().unwrap();
        assert_eq!(mounts[0].mount_path, "/etc/ssl/certs/coder/one");
        assert_eq!(mounts[1].name, "tls-1");
        assert_eq!(mounts[1].read_only, Some(true));
        let env = env_map(c);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("CODER_TLS_ENABLE").as_deref(), Some("true"));
        assert_eq!(get("CODER_TLS_ADDRESS").as_deref(), Some("0.0.0.0:8443"));
        assert_eq!(
            get("CODER_TLS_CERT_FILE").as_deref(),
            Some("/etc/ssl/certs/coder/one/tls.crt,/etc/ssl/certs/coder/two/tls.crt")
        );
        assert_eq!(
            get("CODER_TLS_KEY_FILE").as_deref(),
            Some("/etc/ssl/certs/coder/one/tls.key,/etc/ssl/certs/coder/two/tls.key")
        );
        assert_eq!(
            get("CODER_ACCESS_URL").as_deref(),
            Some("https://coder.ns.svc.cluster.local")
        );
        let ports = c.ports.as_ref().unwrap();
        assert_eq!(ports.len(), 2);
        assert_eq!(ports[1].name.as_deref(), Some("https"));
        assert_eq!(ports[1].container_port, 8443);
        for probe in [
            c.readiness_probe.as_ref().unwrap(),
            c.liveness_probe.as_ref().unwrap(),
        ] {
            let get = probe.http_get.as_ref().unwrap();
            assert_eq!(get.port, IntOrString::String("https".into()));
            assert_eq!(get.scheme.as_deref(), Some("HTTPS"));
        }
    }

    #[test]
    fn volumes_certs_topology_and_pod_metadata_reach_the_pod() {
        let d = build(json!({
            "tls": {"secretNames": ["tls-a"]},
            "certs": {"secrets": [
                {"name": "corp-ca", "key": "ca.crt"},
                {"name": "git-ca", "key": "root.pem"},
                {"name": "git-ca", "key": "intermediate.pem"},
                {"name": "corp-ca", "key": "ca.crt"},
            ]},
            "volumes": [{"name": "cache", "emptyDir": {}}],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule"}],
            "podAnnotations": {"prometheus.io/scrape": "true"},
            "podLabels": {"team": "dev", "app.kubernetes.io/instance": "hijack"},
            "imagePullPolicy": "Always",
            "priorityClassName": "coder-critical",
            "lifecycle": {"preStop": {"exec": {"command": ["sleep", "5"]}}},
        }));
        let p = pod(&d);
        let volumes: Vec<(String, Option<String>)> = p
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v.name.clone(),
                    v.secret.as_ref().and_then(|s| s.secret_name.clone()),
                )
            })
            .collect();
        assert_eq!(
            volumes,
            vec![
                ("tls-0".to_string(), Some("tls-a".to_string())),
                ("ca-cert-0".to_string(), Some("corp-ca".to_string())),
                ("ca-cert-1".to_string(), Some("git-ca".to_string())),
                ("cache".to_string(), None),
            ]
        );
        let c = container(&d);
        let mounts: Vec<(String, String, Option<String>)> = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| (m.name.clone(), m.mount_path.clone(), m.sub_path.clone()))
            .collect();
        assert_eq!(
            mounts,
            vec![
                ("tls-0".into(), "/etc/ssl/certs/coder/tls-a".into(), None),
                (
                    "ca-cert-0".into(),
                    "/etc/ssl/certs/corp-ca.crt".into(),
                    Some("ca.crt".into())
                ),
                (
                    "ca-cert-1".into(),
                    "/etc/ssl/certs/git-ca-root.pem.crt".into(),
                    Some("root.pem".into())
                ),
                (
                    "ca-cert-1".into(),
                    "/etc/ssl/certs/git-ca-intermediate.pem.crt".into(),
                    Some("intermediate.pem".into())
                ),
                ("cache".into(), "/cache".into(), None),
            ]
        );
        let tsc = p.topology_spread_constraints.as_ref().unwrap();
        assert_eq!(tsc[0].topology_key, "topology.kubernetes.io/zone");
        let meta = d.spec.as_ref().unwrap().template.metadata.as_ref().unwrap();
        assert_eq!(
            meta.annotations.as_ref().unwrap()["prometheus.io/scrape"],
            "true"
        );
        let labels = meta.labels.as_ref().unwrap();
        assert_eq!(labels["team"], "dev");
        // The selector label is the Deployment's, whatever podLabels say.
        assert_eq!(labels["app.kubernetes.io/instance"], "coder");
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        assert!(c.lifecycle.as_ref().unwrap().pre_stop.is_some());
        assert_eq!(p.priority_class_name.as_deref(), Some("coder-critical"));
    }

    #[test]
    fn env_use_cluster_access_url_false_leaves_the_access_url_out() {
        let d = build(json!({"envUseClusterAccessURL": false}));
        let env = env_map(container(&d));
        assert!(
            env.iter().all(|(name, _)| name != "CODER_ACCESS_URL"),
            "{env:?}"
        );
        let d = build(json!({"envUseClusterAccessURL": true}));
        assert!(
            env_map(container(&d))
                .iter()
                .any(|(n, _)| n == "CODER_ACCESS_URL")
        );
    }

    #[test]
    fn a_user_volume_named_like_ours_is_refused() {
        let obj = ccp(
            "coder",
            "ns",
            json!({"certs": {"secrets": [{"name": "ca", "key": "ca.crt"}]}, "volumes": [{"name": "ca-cert-0", "emptyDir": {}}]}),
        );
        let error = super::super::desired(&obj).unwrap_err();
        assert!(error.to_string().contains("ca-cert-0"), "{error}");
    }
}
