//! RBAC coverage: every request the controller makes in a scenario that walks every code path
//! (create, readiness, spec changes that delete, errors and repeated Events, deletion, leader
//! election and release) must be allowed by deploy/controller/20-rbac.yaml, and every rule of
//! the controller's ClusterRole must be used. A missing rule fails here, not in a cluster.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use coder_k8s::api::coder::v1alpha1::{CoderControlPlane, CoderProvisioner, CoderWorkspaceProxy};
use coder_k8s::controller::control_plane::builders::{Target, workspace_rules};
use coder_k8s::controller::{LeaderSettings, Settings};
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::fake_kube::{FakeKube, Fault, Recorded};
use support::*;

const RBAC_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/deploy/controller/20-rbac.yaml"
);
const CONTROLLER_NS: &str = "coder-system";

/// (apiGroup, resource, verb), with `resource/subresource` for subresources.
type Permission = (String, String, String);

fn documents() -> Vec<Value> {
    let text = std::fs::read_to_string(RBAC_FILE).expect("read the RBAC manifest");
    serde_saphyr::from_multiple(&text).expect("the RBAC manifest is valid YAML")
}

fn rules_of(kind: &str, name: &str) -> Vec<Value> {
    documents()
        .into_iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind} {name} in {RBAC_FILE}"))["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn expand(rules: &[Value]) -> BTreeSet<Permission> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for rule in rules {
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    out.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    out
}

/// What one recorded request needs. A server-side apply that created the object (201) is also
/// checked for `create`, as kube-apiserver does.
fn needs(r: &Recorded) -> Vec<Permission> {
    let resource = match &r.subresource {
        Some(sub) => format!("{}/{sub}", r.resource),
        None => r.resource.clone(),
    };
    let mut out = vec![(r.group.clone(), resource.clone(), r.verb.clone())];
    if r.verb == "patch" && r.status == 201 {
        out.push((r.group.clone(), resource, "create".to_string()));
    }
    out
}

fn settings() -> Settings {
    let mut leader = LeaderSettings::new(
        "coder-k8s-controller",
        CONTROLLER_NS,
        "controller",
        Duration::from_secs(60),
    );
    leader.retry_interval = Duration::from_millis(50);
    Settings {
        leader: Some(leader),
        ..test_settings()
    }
}

async fn scenario(fake: &FakeKube) {
    let controller = start(fake, "controller", settings());
    // An apply rejected as invalid makes the controller read the child (to take over fields
    // someone added by hand).
    for resource in ["deployments", "services", "ingresses"] {
        fake.inject(
            Fault::new(422, 1)
                .verb("patch")
                .resource(resource)
                .client("controller"),
        );
    }
    create_ccp(
        fake,
        "full",
        "coder",
        json!({
            "tls": {"secretNames": ["tls"]},
            "expose": {"ingress": {"host": "coder.example.com"}},
            "rbac": {"workspaceNamespaces": ["ws-a", "ws-b"]},
        }),
    )
    .await;
    eventually("status", || {
        ccp(fake, "coder", "full").filter(|o| condition(o, "Degraded").is_some())
    })
    .await;
    eventually("deployment applied after the 422", || {
        fake.get("apps", "deployments", "coder", "full")
    })
    .await;
    make_deployment_ready(fake, "coder", "full").await;
    eventually("Ready", || {
        ccp(fake, "coder", "full").filter(|o| phase(o).as_deref() == Some("Ready"))
    })
    .await;

    // Operator access against a fresh coderd: Secrets read and applied (created).
    let coderd = fake_coderd::FakeCoderd::start().await;
    create_ccp(
        fake,
        "access",
        "coder",
        json!({"operatorAccess": {"url": coderd.url()}}),
    )
    .await;
    eventually("operator access", || {
        ccp(fake, "coder", "access").filter(|o| o["status"]["operatorAccessReady"] == true)
    })
    .await;

    // A CoderProvisioner on that control plane: its finalizer, key Secret, Deployment, status.
    coderd
        .admin()
        .set_entitlement(
            "external_provisioner_daemons",
            fake_coderd::Entitlement::Entitled,
        )
        .expect("entitlement");
    let provisioner: CoderProvisioner = serde_json::from_value(json!({
        "apiVersion": "coder.com/v1alpha1",
        "kind": "CoderProvisioner",
        "metadata": {"name": "daemons", "namespace": "coder"},
        "spec": {"controlPlaneRef": {"name": "access"}, "tags": {"scope": "organization"}},
    }))
    .expect("provisioner");
    Api::<CoderProvisioner>::namespaced(fake.client("test"), "coder")
        .create(&Default::default(), &provisioner)
        .await
        .expect("create provisioner");
    eventually("provisioner Deployment applied", || {
        fake.get("apps", "deployments", "coder", "provisioner-daemons")
    })
    .await;
    eventually("provisioner status", || {
        fake.get("coder.com", "coderprovisioners", "coder", "daemons")
            .filter(|o| o["status"]["provisionerKeyName"] == "daemons")
    })
    .await;

    // A workspace proxy registered through that control plane's operator access: the
    // credentials and token Secrets, the proxy's children, its finalizer and status; then a
    // lapsed licence (its Deployment and Service deleted) and deletion (deregistration).
    coderd
        .admin()
        .set_entitlement("workspace_proxy", fake_coderd::Entitlement::Entitled)
        .expect("entitle");
    let proxies: Api<CoderWorkspaceProxy> = Api::namespaced(fake.client("test"), "coder");
    let proxy: CoderWorkspaceProxy = serde_json::from_value(json!({
        "apiVersion": "coder.com/v1alpha1",
        "kind": "CoderWorkspaceProxy",
        "metadata": {"name": "edge", "namespace": "coder"},
        "spec": {"bootstrap": {"controlPlaneRef": {"name": "access"}}},
    }))
    .expect("valid CoderWorkspaceProxy");
    proxies
        .create(&Default::default(), &proxy)
        .await
        .expect("create proxy");
    eventually("proxy registered and deployed", || {
        fake.get("coder.com", "coderworkspaceproxies", "coder", "edge")
            .filter(|o| o["status"]["registered"] == true)
            .filter(|o| condition(o, "DeploymentReady").is_some())
    })
    .await;
    coderd
        .admin()
        .set_entitlement("workspace_proxy", fake_coderd::Entitlement::NotEntitled)
        .expect("lapse");
    proxies
        .patch(
            "edge",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .expect("patch proxy");
    eventually("unlicensed proxy's Deployment and Service deleted", || {
        (fake
            .get("apps", "deployments", "coder", "wsproxy-edge")
            .is_none()
            && fake.get("", "services", "coder", "wsproxy-edge").is_none())
        .then_some(())
    })
    .await;
    proxies
        .delete("edge", &DeleteParams::default())
        .await
        .expect("delete proxy");
    eventually("proxy deregistered and deleted", || {
        fake.get("coder.com", "coderworkspaceproxies", "coder", "edge")
            .is_none()
            .then_some(())
    })
    .await;

    // Spec changes that make the controller delete things.
    let api: Api<CoderControlPlane> = Api::namespaced(fake.client("test"), "coder");

    // Gateway API: the HTTPRoute is read and created, then deleted when expose.gateway goes.
    create_ccp(
        fake,
        "route",
        "coder",
        json!({"expose": {"gateway": {"host": "coder.example.com", "parentRefs": [{"name": "gw"}]}}}),
    )
    .await;
    eventually("HTTPRoute reported applied", || {
        ccp(fake, "coder", "route")
            .filter(|o| condition(o, "HTTPRoute").is_some_and(|c| c["status"] == "True"))
    })
    .await;
    api.patch(
        "route",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"expose": null}})),
    )
    .await
    .expect("unset expose.gateway");
    eventually("HTTPRoute removed", || {
        fake.get("gateway.networking.k8s.io", "httproutes", "coder", "route")
            .is_none()
            .then_some(())
    })
    .await;
    api.patch(
        "full",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"expose": null, "rbac": {"workspaceNamespaces": ["ws-a"]}}})),
    )
    .await
    .expect("patch spec");
    eventually("ingress and ws-b RBAC removed", || {
        (fake
            .get("networking.k8s.io", "ingresses", "coder", "full")
            .is_none()
            && fake
                .get(
                    "rbac.authorization.k8s.io",
                    "roles",
                    "ws-b",
                    "full-workspace-perms",
                )
                .is_none())
        .then_some(())
    })
    .await;

    // A repeated failure: the same Warning twice becomes an Event series (a patch).
    fake.inject(
        Fault::new(403, 3)
            .verb("patch")
            .resource("services")
            .client("controller"),
    );
    api.patch(
        "full",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"service": {"port": 8080}}})),
    )
    .await
    .expect("patch spec");
    eventually("Warning Event series", || {
        fake.requests()
            .iter()
            .any(|r| r.client == "controller" && r.resource == "events" && r.verb == "patch")
            .then_some(())
    })
    .await;
    eventually("recovered", || {
        ccp(fake, "coder", "full")
            .filter(|o| condition(o, "Degraded").is_some_and(|c| c["status"] == "False"))
    })
    .await;

    api.delete("full", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("deleted", || {
        ccp(fake, "coder", "full").is_none().then_some(())
    })
    .await;
    controller.stop().await.expect("controller stops");
}

#[tokio::test]
async fn every_controller_request_is_allowed_and_every_rule_is_used() {
    let fake = FakeKube::new();
    scenario(&fake).await;

    let cluster = expand(&rules_of("ClusterRole", "coder-k8s-controller"));
    let leader = expand(&rules_of("Role", "coder-k8s-controller-leader-election"));
    let requests: Vec<Recorded> = fake
        .requests()
        .into_iter()
        .filter(|r| r.client == "controller")
        .collect();
    assert!(requests.len() > 20, "the scenario ran");

    let mut used = BTreeSet::new();
    let mut denied = Vec::new();
    for request in &requests {
        for need in needs(request) {
            let in_controller_ns = request.namespace.as_deref() == Some(CONTROLLER_NS);
            if cluster.contains(&need) || (in_controller_ns && leader.contains(&need)) {
                used.insert(need);
            } else {
                denied.push(format!("{need:?} ({request:?})"));
            }
        }
    }
    assert!(
        denied.is_empty(),
        "requests not allowed by {RBAC_FILE}:\n{}",
        denied.join("\n")
    );

    let unused: Vec<&Permission> = cluster
        .union(&leader)
        .filter(|p| !used.contains(*p))
        .collect();
    assert!(
        unused.is_empty(),
        "rules no request used (remove them or cover them): {unused:?}"
    );
}

#[test]
fn workspace_grants_match_what_the_default_role_hands_out() {
    let obj: CoderControlPlane = serde_json::from_value(json!({
        "apiVersion": "coder.com/v1alpha1",
        "kind": "CoderControlPlane",
        "metadata": {"name": "c", "namespace": "n", "uid": "u"},
        "spec": {},
    }))
    .unwrap();
    let target = Target::new(&obj).unwrap();
    let rules: Vec<Value> = workspace_rules(&target)
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(
        expand(&rules),
        expand(&rules_of(
            "ClusterRole",
            "coder-k8s-controller-workspace-grants"
        ))
    );
}
