//! What `kubectl apply -k deploy/` (and each overlay) sends to a cluster, checked offline: the
//! output of `kubectl kustomize` for the base and every overlay must parse strictly into the
//! Kubernetes types (a field the type does not know fails: it would be dropped or rejected by
//! the API server), every coder-k8s container must pass only flags its app accepts, every pod
//! must be locked down, and the references between objects must line up.
//!
//! Kinds k8s-openapi has no type for (cert-manager's Issuer/Certificate, the Prometheus
//! Operator's ServiceMonitor) are checked only for apiVersion/kind/name here; tests/deploy/cluster.rs
//! sends them to a real kube-apiserver.

use crate::support as deploy_support;

use std::collections::{BTreeMap, BTreeSet};

use clap::{Args, CommandFactory, Parser};
use coder_k8s::api::registry::{self, ServedBy};
use coder_k8s::cli::Cli;
use deploy_support::{LAYERS, build, of_kind};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PodSpec, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleBinding, Subject};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use serde_json::Value;

/// Fields of `input` that `output` (the typed round trip) lost, as JSON paths.
fn dropped_fields(input: &Value, output: &Value, path: &str, out: &mut Vec<String>) {
    match (input, output) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, value) in a {
                let child = format!("{path}.{key}");
                match b.get(key) {
                    None if !value.is_null() => out.push(child),
                    None => {}
                    Some(other) => dropped_fields(value, other, &child, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{path} (length {} != {})", a.len(), b.len()));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                dropped_fields(x, y, &format!("{path}[{i}]"), out);
            }
        }
        // JSONSchemaProps keeps numbers as f64: 1 and 1.0 are the same value.
        (Value::Number(a), Value::Number(b)) if a.as_f64() == b.as_f64() => {}
        (a, b) if a != b => out.push(format!("{path} ({a} became {b})")),
        _ => {}
    }
}

fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(
    doc: &Value,
) -> Result<Vec<String>, String> {
    let typed: T = serde_json::from_value(doc.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut dropped = Vec::new();
    dropped_fields(doc, &back, "", &mut dropped);
    Ok(dropped)
}

/// Kinds without a k8s-openapi type (see the module comment).
const CUSTOM_KINDS: &[(&str, &str)] = &[
    ("cert-manager.io/v1", "Issuer"),
    ("cert-manager.io/v1", "Certificate"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
];

fn strict_check(doc: &Value) -> Result<Vec<String>, String> {
    use k8s_openapi::api::rbac::v1 as rbac;
    use k8s_openapi::api::{core::v1 as core, networking::v1 as net, policy::v1 as policy};
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let kind = doc["kind"].as_str().unwrap_or_default();
    match (api_version, kind) {
        ("v1", "Namespace") => round_trip::<core::Namespace>(doc),
        ("v1", "ServiceAccount") => round_trip::<core::ServiceAccount>(doc),
        ("v1", "Service") => round_trip::<core::Service>(doc),
        ("v1", "ConfigMap") => round_trip::<core::ConfigMap>(doc),
        ("v1", "Secret") => round_trip::<core::Secret>(doc),
        ("apps/v1", "Deployment") => round_trip::<Deployment>(doc),
        ("apps/v1", "StatefulSet") => round_trip::<StatefulSet>(doc),
        ("policy/v1", "PodDisruptionBudget") => round_trip::<policy::PodDisruptionBudget>(doc),
        ("networking.k8s.io/v1", "NetworkPolicy") => round_trip::<net::NetworkPolicy>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => round_trip::<rbac::ClusterRole>(doc),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            round_trip::<rbac::ClusterRoleBinding>(doc)
        }
        ("rbac.authorization.k8s.io/v1", "Role") => round_trip::<rbac::Role>(doc),
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => round_trip::<rbac::RoleBinding>(doc),
        ("apiregistration.k8s.io/v1", "APIService") => round_trip::<APIService>(doc),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition") => {
            round_trip::<CustomResourceDefinition>(doc)
        }
        (v, k) if CUSTOM_KINDS.contains(&(v, k)) => Ok(Vec::new()),
        (v, k) => Err(format!(
            "{v} {k}: no strict check for this kind; add it to strict_check"
        )),
    }
}

#[test]
fn the_checker_finds_unknown_and_misplaced_fields() {
    // The check itself must fail on what it is for: a typo'd field and a field at the wrong level.
    let typo = serde_json::json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "s"}, "spec": {"selectr": {"a": "b"}}});
    assert_eq!(strict_check(&typo).unwrap(), vec![".spec.selectr"]);
    let misplaced = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d"}, "spec": {"selector": {}, "template": {"spec": {
            "containers": [{"name": "c", "readOnlyRootFilesystem": true}]}}}});
    assert_eq!(
        strict_check(&misplaced).unwrap(),
        vec![".spec.template.spec.containers[0].readOnlyRootFilesystem"]
    );
    assert!(strict_check(&serde_json::json!({"apiVersion": "x/v1", "kind": "Y"})).is_err());
}

#[test]
fn every_manifest_of_every_layer_parses_strictly() {
    for layer in LAYERS {
        let docs = build(layer);
        assert!(
            docs.len() > 10,
            "{}: only {} objects",
            layer.dir,
            docs.len()
        );
        for doc in &docs {
            let id = format!("{}: {} {}", layer.dir, doc["kind"], doc["metadata"]["name"]);
            assert!(doc["metadata"]["name"].is_string(), "{id}: no name");
            let dropped = strict_check(doc).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(
                dropped.is_empty(),
                "{id}: unknown or invalid fields {dropped:?}"
            );
        }
    }
}

/// The long flag names an app's clap parser knows, plus the global ones.
fn flags_of<A: Args>() -> BTreeSet<String> {
    A::augment_args(clap::Command::new("x"))
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

fn global_flags() -> BTreeSet<String> {
    Cli::command()
        .get_arguments()
        .filter(|a| a.get_id() != "apiserver" && a.get_id() != "controller" && a.get_id() != "mcp")
        .filter_map(|a| a.get_long().map(str::to_string))
        .filter(|l| l == "app" || l == "log-format")
        .collect()
}

fn pod_specs(docs: &[Value]) -> Vec<(String, PodSpec)> {
    let mut pods: Vec<(String, PodSpec)> = of_kind::<Deployment>(docs, "Deployment")
        .into_iter()
        .map(|d| {
            (
                format!("Deployment {}", d.metadata.name.unwrap_or_default()),
                d.spec.and_then(|s| s.template.spec).expect("pod spec"),
            )
        })
        .collect();
    pods.extend(
        of_kind::<StatefulSet>(docs, "StatefulSet")
            .into_iter()
            .map(|s| {
                (
                    format!("StatefulSet {}", s.metadata.name.unwrap_or_default()),
                    s.spec.and_then(|s| s.template.spec).expect("pod spec"),
                )
            }),
    );
    pods
}

#[test]
fn coder_k8s_containers_pass_only_flags_of_their_app() {
    let controller = flags_of::<coder_k8s::controller::ControllerArgs>();
    let apiserver = flags_of::<coder_k8s::apiserver::ApiserverArgs>();
    let mcp = flags_of::<coder_k8s::mcp::McpArgs>();
    let global = global_flags();
    assert!(global.contains("app"), "{global:?}");
    let mut apps_seen = BTreeSet::new();
    for layer in LAYERS {
        for (pod_name, pod) in pod_specs(&build(layer)) {
            for container in pod.containers {
                // Third-party containers (etcd) are not ours; tests/deploy/image.rs checks
                // that every other one runs the configured coder-k8s image.
                let image = container.image.as_deref().unwrap_or_default();
                if deploy_support::THIRD_PARTY_IMAGES
                    .iter()
                    .any(|repo| image.starts_with(&format!("{repo}:")))
                {
                    continue;
                }
                let id = format!("{}: {pod_name} container {}", layer.dir, container.name);
                assert!(
                    container.command.is_none(),
                    "{id}: the image's entrypoint is the binary"
                );
                let args = container.args.clone().unwrap_or_default();
                let argv = std::iter::once("coder-k8s".to_string()).chain(args.iter().cloned());
                let cli = Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{id}: {e}"));
                let app = cli.app.unwrap_or_else(|| panic!("{id}: no --app"));
                apps_seen.insert(format!("{app:?}"));
                let allowed: BTreeSet<String> = match app {
                    coder_k8s::cli::App::Controller => &global | &controller,
                    coder_k8s::cli::App::AggregatedApiserver => &global | &apiserver,
                    // --kubeconfig is a controller flag the MCP server shares.
                    coder_k8s::cli::App::McpHttp => {
                        &(&global | &mcp) | &BTreeSet::from(["kubeconfig".to_string()])
                    }
                    coder_k8s::cli::App::All => &(&(&global | &controller) | &apiserver) | &mcp,
                };
                for arg in &args {
                    let name = arg
                        .strip_prefix("--")
                        .unwrap_or_else(|| panic!("{id}: {arg:?} is not --flag[=value]"))
                        .split('=')
                        .next()
                        .unwrap_or_default();
                    assert!(
                        allowed.contains(name),
                        "{id}: --{name} is not a flag of --app={app:?}"
                    );
                }
            }
        }
    }
    assert_eq!(
        apps_seen,
        BTreeSet::from([
            "All".into(),
            "AggregatedApiserver".into(),
            "Controller".into(),
            "McpHttp".into()
        ])
    );
}

#[test]
fn every_pod_is_locked_down_with_resources_and_probes() {
    for layer in LAYERS {
        for (pod_name, pod) in pod_specs(&build(layer)) {
            let pod_security = pod.security_context.clone().unwrap_or_default();
            assert_eq!(
                pod_security.run_as_non_root,
                Some(true),
                "{}: {pod_name}",
                layer.dir
            );
            assert_eq!(
                pod_security.seccomp_profile.map(|p| p.type_).as_deref(),
                Some("RuntimeDefault"),
                "{}: {pod_name}",
                layer.dir
            );
            for c in pod
                .containers
                .iter()
                .chain(pod.init_containers.iter().flatten())
            {
                let id = format!("{}: {pod_name} container {}", layer.dir, c.name);
                let sc = c.security_context.clone().unwrap_or_default();
                assert_eq!(sc.allow_privilege_escalation, Some(false), "{id}");
                assert_eq!(sc.read_only_root_filesystem, Some(true), "{id}");
                assert_ne!(sc.privileged, Some(true), "{id}");
                assert_eq!(
                    sc.capabilities.and_then(|c| c.drop),
                    Some(vec!["ALL".to_string()]),
                    "{id}"
                );
                let resources = c.resources.clone().unwrap_or_default();
                let requests = resources.requests.unwrap_or_default();
                let limits = resources.limits.unwrap_or_default();
                assert!(
                    requests.contains_key("cpu") && requests.contains_key("memory"),
                    "{id}"
                );
                assert!(limits.contains_key("memory"), "{id}: no memory limit");
                assert!(c.liveness_probe.is_some(), "{id}: no liveness probe");
                assert!(c.readiness_probe.is_some(), "{id}: no readiness probe");
            }
        }
    }
}

/// Containers running the aggregated apiserver (alone or in --app=all), with their pod.
fn apiserver_pods(docs: &[Value]) -> Vec<(Deployment, Vec<String>)> {
    of_kind::<Deployment>(docs, "Deployment")
        .into_iter()
        .filter_map(|d| {
            let pod = d.spec.as_ref()?.template.spec.clone()?;
            let args = pod.containers.iter().find_map(|c| {
                let args = c.args.clone().unwrap_or_default();
                args.iter()
                    .any(|a| a == "--app=aggregated-apiserver" || a == "--app=all")
                    .then_some(args)
            })?;
            Some((d, args))
        })
        .collect()
}

#[test]
fn api_services_verify_tls_and_reach_a_served_backend() {
    let served: BTreeSet<(String, String)> = registry::served_by(ServedBy::AggregatedApiserver)
        .map(|r| (r.group.to_string(), r.version.to_string()))
        .collect();
    for layer in LAYERS {
        let docs = build(layer);
        let services = of_kind::<Service>(&docs, "Service");
        let accounts: BTreeSet<(String, String)> =
            of_kind::<ServiceAccount>(&docs, "ServiceAccount")
                .into_iter()
                .map(|sa| {
                    (
                        sa.metadata.namespace.unwrap_or_default(),
                        sa.metadata.name.unwrap_or_default(),
                    )
                })
                .collect();
        let api_services = of_kind::<APIService>(&docs, "APIService");
        assert_eq!(
            api_services.len(),
            served.len(),
            "{}: one APIService per group/version",
            layer.dir
        );
        for api_service in api_services {
            let name = api_service.metadata.name.clone().unwrap_or_default();
            let spec = api_service.spec.clone().expect("spec");
            let gv = (
                spec.group.clone().unwrap_or_default(),
                spec.version.clone().unwrap_or_default(),
            );
            assert!(served.contains(&gv), "{}: {gv:?} is not served", layer.dir);
            assert_eq!(name, format!("{}.{}", gv.1, gv.0));
            assert_eq!(spec.group_priority_minimum, 1000);
            assert_eq!(spec.version_priority, 100);
            // Only the dev overlay, which says so loudly, skips verification.
            assert_eq!(
                spec.insecure_skip_tls_verify.unwrap_or(false),
                layer.insecure,
                "{}: insecureSkipTLSVerify",
                layer.dir
            );
            // The CA comes from `coder-k8s certs` or cert-manager, never from the repository.
            assert!(
                spec.ca_bundle.is_none(),
                "{}: caBundle checked in",
                layer.dir
            );
            let inject = api_service
                .metadata
                .annotations
                .clone()
                .unwrap_or_default()
                .get("cert-manager.io/inject-ca-from")
                .cloned();
            assert_eq!(
                inject.is_some(),
                layer.cert_manager,
                "{}: inject-ca-from",
                layer.dir
            );
            let reference = spec.service.expect("service reference");
            let service = services
                .iter()
                .find(|s| {
                    s.metadata.name == reference.name && s.metadata.namespace == reference.namespace
                })
                .unwrap_or_else(|| panic!("{}: APIService points at a missing Service", layer.dir));
            let service_spec = service.spec.clone().expect("service spec");
            let port = service_spec
                .ports
                .unwrap_or_default()
                .into_iter()
                .find(|p| Some(p.port) == reference.port)
                .expect("APIService port exists on the Service");
            assert_eq!(port.port, 443);
            let selector = service_spec.selector.unwrap_or_default();
            let backends: Vec<_> = apiserver_pods(&docs)
                .into_iter()
                .filter(|(d, _)| {
                    let labels = d
                        .spec
                        .as_ref()
                        .and_then(|s| s.template.metadata.as_ref())
                        .and_then(|m| m.labels.clone())
                        .unwrap_or_default();
                    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                })
                .collect();
            assert_eq!(
                backends.len(),
                1,
                "{}: the Service selects one apiserver Deployment",
                layer.dir
            );
            let (backend, _) = &backends[0];
            let pod = backend
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.clone())
                .expect("pod");
            let target = port.target_port.expect("targetPort");
            let container_port = pod
                .containers
                .iter()
                .flat_map(|c| c.ports.clone().unwrap_or_default())
                .find(|p| match &target {
                    IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
                    IntOrString::Int(n) => p.container_port == *n,
                })
                .unwrap_or_else(|| {
                    panic!("{}: targetPort {target:?} is no container port", layer.dir)
                });
            assert_eq!(container_port.container_port, 6443);
            let sa = pod.service_account_name.expect("serviceAccountName");
            let namespace = backend.metadata.namespace.clone().unwrap_or_default();
            assert!(
                accounts.contains(&(namespace, sa.clone())),
                "{}: ServiceAccount {sa} missing",
                layer.dir
            );
        }
        if layer.cert_manager {
            // The injected CA is the one that signs a certificate for the Service's name, into
            // the Secret the pods mount.
            let certificate = docs
                .iter()
                .find(|d| {
                    d["kind"] == "Certificate" && d["metadata"]["name"] == "coder-k8s-apiserver"
                })
                .expect("serving Certificate");
            assert_eq!(certificate["spec"]["secretName"], "coder-k8s-apiserver-tls");
            let names: Vec<&str> = certificate["spec"]["dnsNames"]
                .as_array()
                .expect("dnsNames")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert!(
                names.contains(&"coder-k8s-apiserver.coder-system.svc"),
                "{names:?}"
            );
        }
    }
}

#[test]
fn base_apiserver_is_highly_available_on_etcd_with_a_mounted_certificate() {
    let docs = build(&LAYERS[0]);
    let pods = apiserver_pods(&docs);
    assert_eq!(pods.len(), 1);
    let (deployment, args) = &pods[0];
    let spec = deployment.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(2));
    assert!(args.contains(&"--storage=etcd".to_string()), "{args:?}");
    assert!(
        !args
            .iter()
            .any(|a| a.starts_with("--demo-data") || a.starts_with("--tls-san")),
        "{args:?}"
    );
    let etcd_url = args
        .iter()
        .find_map(|a| a.strip_prefix("--etcd-servers="))
        .expect("--etcd-servers");
    let etcd = of_kind::<StatefulSet>(&docs, "StatefulSet");
    assert_eq!(etcd.len(), 1);
    let etcd_service = etcd[0]
        .spec
        .as_ref()
        .expect("spec")
        .service_name
        .clone()
        .expect("serviceName");
    assert_eq!(
        etcd_url,
        format!("http://{etcd_service}.coder-system.svc:2379")
    );
    assert!(
        etcd[0]
            .spec
            .as_ref()
            .and_then(|s| s.volume_claim_templates.as_ref())
            .is_some_and(|v| !v.is_empty())
    );
    let pod = spec.template.spec.clone().expect("pod");
    assert!(
        pod.topology_spread_constraints
            .is_some_and(|t| !t.is_empty())
    );
    // The certificate flags point into the volume of the Secret.
    let container = &pod.containers[0];
    let mount = container
        .volume_mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.name == "serving-cert")
        .expect("serving-cert mount");
    assert!(
        args.contains(&format!("--tls-cert-file={}/tls.crt", mount.mount_path)),
        "{args:?}"
    );
    assert!(
        args.contains(&format!(
            "--tls-private-key-file={}/tls.key",
            mount.mount_path
        )),
        "{args:?}"
    );
    let secret = pod
        .volumes
        .unwrap_or_default()
        .into_iter()
        .find(|v| v.name == "serving-cert")
        .and_then(|v| v.secret)
        .and_then(|s| s.secret_name);
    assert_eq!(secret.as_deref(), Some("coder-k8s-apiserver-tls"));
    // A disruption budget for exactly these pods.
    let pdbs: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "PodDisruptionBudget")
        .collect();
    assert_eq!(pdbs.len(), 1);
    let labels = spec
        .template
        .metadata
        .and_then(|m| m.labels)
        .unwrap_or_default();
    let selector: BTreeMap<String, String> =
        serde_json::from_value(pdbs[0]["spec"]["selector"]["matchLabels"].clone())
            .expect("matchLabels");
    assert!(
        selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
        "{selector:?}"
    );
}

#[test]
fn base_crd_is_the_generated_one() {
    let docs = build(&LAYERS[0]);
    for (name, text) in coder_k8s::api::CRDS {
        let generated: Value = serde_saphyr::from_str(text).expect("generated CRD");
        let deployed = docs
            .iter()
            .find(|d| d["kind"] == "CustomResourceDefinition" && d["metadata"]["name"] == *name)
            .unwrap_or_else(|| panic!("CRD {name} is not in deploy/"));
        // The base adds its part-of label; everything else is the generated manifest.
        let without_part_of = |mut doc: Value| {
            if let Some(labels) = doc["metadata"]["labels"].as_object_mut() {
                labels.remove("app.kubernetes.io/part-of");
            }
            doc
        };
        let (generated, deployed) = (
            without_part_of(generated),
            without_part_of(deployed.clone()),
        );
        let (mut missing, mut added) = (Vec::new(), Vec::new());
        dropped_fields(&generated, &deployed, "", &mut missing);
        dropped_fields(&deployed, &generated, "", &mut added);
        assert!(
            missing.is_empty() && added.is_empty(),
            "{name}: deploy/ differs from generated/: missing {missing:?}, added {added:?}"
        );
    }
}

fn subjects_bind(subjects: &[Subject], namespace: &str, name: &str) -> bool {
    subjects.iter().any(|s| {
        s.kind == "ServiceAccount" && s.name == name && s.namespace.as_deref() == Some(namespace)
    })
}

/// The roles bound to a ServiceAccount, as (binding kind, binding namespace, role kind, role).
fn roles_of(
    docs: &[Value],
    namespace: &str,
    name: &str,
) -> BTreeSet<(String, String, String, String)> {
    let mut roles = BTreeSet::new();
    for b in of_kind::<ClusterRoleBinding>(docs, "ClusterRoleBinding") {
        if subjects_bind(b.subjects.as_deref().unwrap_or_default(), namespace, name) {
            roles.insert((
                "ClusterRoleBinding".into(),
                String::new(),
                b.role_ref.kind,
                b.role_ref.name,
            ));
        }
    }
    for b in of_kind::<RoleBinding>(docs, "RoleBinding") {
        if subjects_bind(b.subjects.as_deref().unwrap_or_default(), namespace, name) {
            roles.insert((
                "RoleBinding".into(),
                b.metadata.namespace.unwrap_or_default(),
                b.role_ref.kind,
                b.role_ref.name,
            ));
        }
    }
    roles
}

#[test]
fn aggregated_apiserver_delegates_auth_with_the_bindings_it_needs() {
    for layer in LAYERS.iter().filter(|l| !l.insecure) {
        let docs = build(layer);
        for (deployment, args) in apiserver_pods(&docs) {
            assert!(
                !args.iter().any(|a| a.starts_with("--authentication=none")
                    || a.starts_with("--authorization-mode=always-allow")),
                "{}: the deployed apiserver must not run without authentication/authorization",
                layer.dir
            );
            let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
            let sa = deployment
                .spec
                .and_then(|s| s.template.spec)
                .and_then(|p| p.service_account_name)
                .expect("SA");
            let roles = roles_of(&docs, &namespace, &sa);
            assert!(
                roles.contains(&(
                    "ClusterRoleBinding".into(),
                    String::new(),
                    "ClusterRole".into(),
                    "system:auth-delegator".into()
                )),
                "{}: {roles:?}",
                layer.dir
            );
            assert!(
                roles.contains(&(
                    "RoleBinding".into(),
                    "kube-system".into(),
                    "Role".into(),
                    "extension-apiserver-authentication-reader".into()
                )),
                "{}: {roles:?}",
                layer.dir
            );
        }
    }
}

/// Every served resource is readable through aggregate-to-view and writable through
/// aggregate-to-edit (admin aggregates edit's rules too); view never writes.
#[test]
fn users_get_the_aggregated_resources_through_the_built_in_roles() {
    use k8s_openapi::api::rbac::v1::ClusterRole;
    for layer in LAYERS {
        let docs = build(layer);
        let roles = of_kind::<ClusterRole>(&docs, "ClusterRole");
        let grants = |label: &str, verb: &str, group: &str, resource: &str| {
            roles.iter().any(|role| {
                role.metadata
                    .labels
                    .as_ref()
                    .is_some_and(|l| l.get(label).map(String::as_str) == Some("true"))
                    && role.rules.iter().flatten().any(|rule| {
                        rule.verbs.iter().any(|v| v == verb)
                            && rule.api_groups.iter().flatten().any(|g| g == group)
                            && rule.resources.iter().flatten().any(|r| r == resource)
                    })
            })
        };
        let view = "rbac.authorization.k8s.io/aggregate-to-view";
        let edit = "rbac.authorization.k8s.io/aggregate-to-edit";
        let admin = "rbac.authorization.k8s.io/aggregate-to-admin";
        for r in registry::served_by(ServedBy::AggregatedApiserver) {
            for verb in ["get", "list", "watch"] {
                for label in [view, edit, admin] {
                    assert!(
                        grants(label, verb, r.group, r.plural),
                        "{}: {label}: {verb} {}",
                        layer.dir,
                        r.plural
                    );
                }
            }
            for verb in ["create", "update", "patch", "delete", "deletecollection"] {
                for label in [edit, admin] {
                    assert!(
                        grants(label, verb, r.group, r.plural),
                        "{}: {label}: {verb} {}",
                        layer.dir,
                        r.plural
                    );
                }
                assert!(
                    !grants(view, verb, r.group, r.plural),
                    "{}: view must not {verb} {}",
                    layer.dir,
                    r.plural
                );
            }
        }
    }
}

#[test]
fn all_in_one_runs_one_process_with_both_apps_permissions() {
    let base = build(&LAYERS[0]);
    let layer = LAYERS
        .iter()
        .find(|l| l.dir.ends_with("all-in-one"))
        .expect("all-in-one");
    let docs = build(layer);
    let deployments = of_kind::<Deployment>(&docs, "Deployment");
    assert_eq!(deployments.len(), 1, "only the --app=all Deployment");
    let pod = deployments[0]
        .spec
        .clone()
        .and_then(|s| s.template.spec)
        .expect("pod");
    assert!(
        pod.containers[0]
            .args
            .clone()
            .unwrap_or_default()
            .contains(&"--app=all".to_string())
    );
    let sa = pod.service_account_name.expect("SA");
    let mut wanted = roles_of(&base, "coder-system", "coder-k8s-controller");
    wanted.extend(roles_of(&base, "coder-system", "coder-k8s-apiserver"));
    wanted.extend(roles_of(&base, "coder-system", "coder-k8s-mcp"));
    assert!(!wanted.is_empty());
    assert_eq!(roles_of(&docs, "coder-system", &sa), wanted);
}

/// The MCP server's own identity may review tokens and impersonate, nothing else: every tool
/// call is authorized as the caller. Its port is reachable only from labelled client pods.
#[test]
fn mcp_server_may_only_review_tokens_and_impersonate() {
    use k8s_openapi::api::networking::v1::NetworkPolicy;
    use k8s_openapi::api::rbac::v1::ClusterRole;
    let docs = build(&LAYERS[0]);
    let roles = roles_of(&docs, "coder-system", "coder-k8s-mcp");
    assert_eq!(
        roles,
        BTreeSet::from([(
            "ClusterRoleBinding".to_string(),
            String::new(),
            "ClusterRole".to_string(),
            "coder-k8s-mcp".to_string()
        )])
    );
    let role = of_kind::<ClusterRole>(&docs, "ClusterRole")
        .into_iter()
        .find(|r| r.metadata.name.as_deref() == Some("coder-k8s-mcp"))
        .expect("ClusterRole coder-k8s-mcp");
    let mut granted: Vec<(String, String)> = Vec::new();
    for rule in role.rules.unwrap_or_default() {
        for resource in rule.resources.unwrap_or_default() {
            for verb in &rule.verbs {
                granted.push((resource.clone(), verb.clone()));
            }
        }
    }
    granted.sort();
    let expected: Vec<(String, String)> = [
        ("groups", "impersonate"),
        ("serviceaccounts", "impersonate"),
        ("tokenreviews", "create"),
        ("users", "impersonate"),
    ]
    .iter()
    .map(|(r, v)| (r.to_string(), v.to_string()))
    .collect();
    assert_eq!(granted, expected);
    let policy = of_kind::<NetworkPolicy>(&docs, "NetworkPolicy")
        .into_iter()
        .find(|p| p.metadata.name.as_deref() == Some("coder-k8s-mcp"))
        .expect("NetworkPolicy coder-k8s-mcp");
    let ingress = policy.spec.and_then(|s| s.ingress).unwrap_or_default();
    assert_eq!(ingress.len(), 1, "only MCP clients may connect");
    let from = ingress[0].from.clone().unwrap_or_default();
    assert_eq!(
        from[0]
            .pod_selector
            .as_ref()
            .and_then(|s| s.match_labels.as_ref())
            .and_then(|l| l.get("coder.com/mcp-client"))
            .map(String::as_str),
        Some("true")
    );
}

#[test]
fn gitops_examples_point_at_layers_of_this_repository() {
    let dir = deploy_support::repo().join("examples/gitops");
    let mut paths = Vec::new();
    for file in ["argocd-application.yaml", "flux-kustomization.yaml"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("example");
        for chunk in text.split("\n---\n") {
            let doc: Value = serde_saphyr::from_str(chunk).expect("YAML");
            let path = match doc["kind"].as_str() {
                Some("Application") => doc["spec"]["source"]["path"].as_str(),
                Some("Kustomization") => doc["spec"]["path"].as_str(),
                _ => None,
            };
            if let Some(path) = path {
                paths.push((file, path.trim_start_matches("./").to_string()));
            }
        }
    }
    assert_eq!(paths.len(), 2, "{paths:?}");
    for (file, path) in paths {
        assert!(
            LAYERS.iter().any(|l| l.dir == path),
            "{file}: {path} is not a tested layer of deploy/"
        );
    }
}
