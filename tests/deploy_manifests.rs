//! The manifests in deploy/ are what platform engineers `kubectl apply`: every document must be a
//! valid Kubernetes object, every coder-k8s container's arguments must parse with this binary's
//! flags, and the references between objects (APIService → Service → container port, service
//! accounts, served group/versions) must line up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Parser;
use coder_k8s::api::registry::{self, ServedBy};
use coder_k8s::cli::Cli;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use serde_json::Value;

fn manifest_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("deploy/ is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            manifest_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && path.file_name().is_some_and(|n| n != "kustomization.yaml")
        {
            out.push(path);
        }
    }
}

/// Every YAML document under deploy/, with the file it came from.
fn documents() -> Vec<(PathBuf, Value)> {
    let mut files = Vec::new();
    manifest_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy"),
        &mut files,
    );
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("manifest is UTF-8");
        for chunk in text.split("\n---") {
            if chunk
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            let doc: Value = serde_saphyr::from_str(chunk)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
            docs.push((file.clone(), doc));
        }
    }
    docs
}

fn of_kind<T: serde::de::DeserializeOwned>(kind: &str) -> Vec<(PathBuf, T)> {
    documents()
        .into_iter()
        .filter(|(_, d)| d["kind"] == kind)
        .map(|(file, d)| {
            let typed = serde_json::from_value(d)
                .unwrap_or_else(|e| panic!("{}: invalid {kind}: {e}", file.display()));
            (file, typed)
        })
        .collect()
}

#[test]
fn every_document_is_a_kubernetes_object() {
    let docs = documents();
    assert!(!docs.is_empty(), "deploy/ has no manifests");
    for (file, doc) in &docs {
        assert!(
            doc["apiVersion"].is_string(),
            "{}: no apiVersion",
            file.display()
        );
        assert!(doc["kind"].is_string(), "{}: no kind", file.display());
        assert!(
            doc["metadata"]["name"].is_string(),
            "{}: no metadata.name",
            file.display()
        );
    }
}

#[test]
fn coder_k8s_containers_pass_flags_this_binary_accepts() {
    let mut checked = 0;
    for (file, deployment) in of_kind::<Deployment>("Deployment") {
        let pod = deployment
            .spec
            .and_then(|s| s.template.spec)
            .expect("pod spec");
        for container in pod.containers {
            let image = container.image.clone().unwrap_or_default();
            if !image.contains("coder-k8s") {
                continue;
            }
            let mut argv = vec!["coder-k8s".to_string()];
            argv.extend(
                container
                    .command
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .skip(1),
            );
            argv.extend(container.args.clone().unwrap_or_default());
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| {
                panic!("{}: container {}: {e}", file.display(), container.name)
            });
            assert!(
                cli.app.is_some(),
                "{}: container {} sets no --app",
                file.display(),
                container.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 1, "no coder-k8s container found in deploy/");
}

#[test]
fn api_services_point_at_served_group_versions_and_existing_services() {
    let services = of_kind::<Service>("Service");
    let deployments = of_kind::<Deployment>("Deployment");
    let service_accounts: BTreeSet<(String, String)> = of_kind::<ServiceAccount>("ServiceAccount")
        .into_iter()
        .map(|(_, sa)| {
            (
                sa.metadata.namespace.unwrap_or_default(),
                sa.metadata.name.unwrap_or_default(),
            )
        })
        .collect();
    let api_services = of_kind::<APIService>("APIService");
    let served: BTreeSet<(String, String)> = registry::served_by(ServedBy::AggregatedApiserver)
        .map(|r| (r.group.to_string(), r.version.to_string()))
        .collect();
    assert_eq!(
        api_services.len(),
        served.len(),
        "one APIService per aggregated group/version"
    );
    for (file, api_service) in api_services {
        let spec = api_service.spec.expect("spec");
        let gv = (
            spec.group.clone().unwrap_or_default(),
            spec.version.clone().unwrap_or_default(),
        );
        assert!(
            served.contains(&gv),
            "{}: {gv:?} is not served",
            file.display()
        );
        assert_eq!(
            api_service.metadata.name.as_deref(),
            Some(format!("{}.{}", gv.1, gv.0).as_str())
        );
        let reference = spec.service.expect("service reference");
        let (_, service) = services
            .iter()
            .find(|(_, s)| {
                s.metadata.name == reference.name && s.metadata.namespace == reference.namespace
            })
            .unwrap_or_else(|| {
                panic!("{}: APIService points at a missing Service", file.display())
            });
        let service_spec = service.spec.clone().expect("service spec");
        let port = service_spec
            .ports
            .unwrap_or_default()
            .into_iter()
            .find(|p| Some(p.port) == reference.port)
            .expect("APIService port exists on the Service");
        let selector = service_spec.selector.unwrap_or_default();
        let (_, backend) = deployments
            .iter()
            .find(|(_, d)| {
                let labels = d
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.metadata.as_ref())
                    .and_then(|m| m.labels.clone())
                    .unwrap_or_default();
                !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .expect("the Service selects a Deployment");
        let pod = backend
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.clone())
            .expect("pod spec");
        let target = port.target_port.expect("targetPort");
        let named_port_exists = pod.containers.iter().any(|c| {
            c.ports
                .clone()
                .unwrap_or_default()
                .iter()
                .any(|p| match &target {
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name) => {
                        p.name.as_deref() == Some(name)
                    }
                    k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => {
                        p.container_port == *n
                    }
                })
        });
        assert!(
            named_port_exists,
            "Service targetPort {target:?} is not a container port"
        );
        let sa = pod.service_account_name.expect("serviceAccountName");
        let namespace = backend.metadata.namespace.clone().unwrap_or_default();
        assert!(
            service_accounts.contains(&(namespace, sa.clone())),
            "ServiceAccount {sa} is not in deploy/"
        );
    }
}

/// The aggregated apiserver runs with delegated authentication and authorization, so its
/// ServiceAccount needs system:auth-delegator (TokenReview, SubjectAccessReview) and the
/// extension-apiserver-authentication-reader Role; users get the served resources through the
/// built-in view/edit/admin roles.
#[test]
fn aggregated_apiserver_delegates_auth_with_the_bindings_it_needs() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
    let mut accounts = BTreeSet::new();
    for (file, deployment) in of_kind::<Deployment>("Deployment") {
        let pod = deployment
            .spec
            .and_then(|s| s.template.spec)
            .expect("pod spec");
        for container in &pod.containers {
            let args = container.args.clone().unwrap_or_default();
            if !args.iter().any(|a| a == "--app=aggregated-apiserver") {
                continue;
            }
            assert!(
                !args.iter().any(|a| a.starts_with("--authentication=none")
                    || a.starts_with("--authorization-mode=always-allow")),
                "{}: the deployed apiserver must not run without authentication/authorization",
                file.display()
            );
            accounts.insert((
                deployment.metadata.namespace.clone().unwrap_or_default(),
                pod.service_account_name
                    .clone()
                    .expect("serviceAccountName"),
            ));
        }
    }
    assert!(!accounts.is_empty(), "no aggregated apiserver Deployment");
    let binds = |subjects: &[k8s_openapi::api::rbac::v1::Subject]| {
        accounts.iter().all(|(ns, name)| {
            subjects.iter().any(|s| {
                s.kind == "ServiceAccount"
                    && &s.name == name
                    && s.namespace.as_deref() == Some(ns.as_str())
            })
        })
    };
    assert!(
        of_kind::<ClusterRoleBinding>("ClusterRoleBinding")
            .iter()
            .any(|(_, b)| b.role_ref.kind == "ClusterRole"
                && b.role_ref.name == "system:auth-delegator"
                && binds(b.subjects.as_deref().unwrap_or_default())),
        "no system:auth-delegator ClusterRoleBinding for the apiserver's ServiceAccount"
    );
    assert!(
        of_kind::<RoleBinding>("RoleBinding").iter().any(|(_, b)| {
            b.metadata.namespace.as_deref() == Some("kube-system")
                && b.role_ref.kind == "Role"
                && b.role_ref.name == "extension-apiserver-authentication-reader"
                && binds(b.subjects.as_deref().unwrap_or_default())
        }),
        "no extension-apiserver-authentication-reader RoleBinding in kube-system"
    );
    // Every served resource is readable through aggregate-to-view and writable through
    // aggregate-to-edit (admin aggregates edit's rules too).
    let roles = of_kind::<ClusterRole>("ClusterRole");
    let grants = |label: &str, verb: &str, group: &str, resource: &str| {
        roles.iter().any(|(_, role)| {
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
    for r in registry::served_by(ServedBy::AggregatedApiserver) {
        for verb in ["get", "list", "watch"] {
            for label in [
                "rbac.authorization.k8s.io/aggregate-to-view",
                "rbac.authorization.k8s.io/aggregate-to-edit",
                "rbac.authorization.k8s.io/aggregate-to-admin",
            ] {
                assert!(
                    grants(label, verb, r.group, r.plural),
                    "{label}: {verb} {}",
                    r.plural
                );
            }
        }
        for verb in ["create", "update", "patch", "delete", "deletecollection"] {
            for label in [
                "rbac.authorization.k8s.io/aggregate-to-edit",
                "rbac.authorization.k8s.io/aggregate-to-admin",
            ] {
                assert!(
                    grants(label, verb, r.group, r.plural),
                    "{label}: {verb} {}",
                    r.plural
                );
            }
            assert!(
                !grants(
                    "rbac.authorization.k8s.io/aggregate-to-view",
                    verb,
                    r.group,
                    r.plural
                ),
                "view must not {verb} {}",
                r.plural
            );
        }
    }
}
