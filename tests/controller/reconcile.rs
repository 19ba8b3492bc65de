//! The controller against an in-process fake API server: children with owner references and
//! status on create, drift put back, readiness reported, cleanup on delete, errors retried.

use crate::support;

use coder_k8s::api::coder::v1alpha1::CoderControlPlane;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use support::fake_kube::{FakeKube, Fault};
use support::*;

const NS: &str = "coder";

fn full_spec() -> Value {
    json!({
        "tls": {"secretNames": ["coder-tls"]},
        "expose": {"ingress": {"host": "coder.example.com", "className": "nginx"}},
        "rbac": {"workspaceNamespaces": ["workspaces"]},
        "serviceAccount": {"annotations": {"iam": "role"}},
    })
}

fn owner_uid(obj: &Value) -> Option<String> {
    let refs = obj.pointer("/metadata/ownerReferences")?.as_array()?;
    assert_eq!(refs.len(), 1, "one owner reference: {obj}");
    let r = &refs[0];
    assert_eq!(r["kind"], "CoderControlPlane");
    assert_eq!(r["apiVersion"], "coder.com/v1alpha1");
    assert_eq!(r["controller"], true);
    r["uid"].as_str().map(str::to_string)
}

async fn wait_for_status(fake: &FakeKube, name: &str) -> Value {
    eventually("status with conditions", || {
        ccp(fake, NS, name).filter(|o| condition(o, "Degraded").is_some())
    })
    .await
}

#[tokio::test]
async fn new_control_plane_gets_all_children_with_owner_references_and_status() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    let created = create_ccp(&fake, "coder", NS, full_spec()).await;
    let uid = created.metadata.uid.clone().unwrap();

    let obj = wait_for_status(&fake, "coder").await;
    assert_eq!(phase(&obj).as_deref(), Some("Pending"), "{obj:#}");
    assert_eq!(
        obj.pointer("/status/url"),
        Some(&json!("https://coder.coder.svc.cluster.local"))
    );
    assert_eq!(obj.pointer("/status/readyReplicas"), Some(&json!(0)));
    assert_eq!(obj.pointer("/status/observedGeneration"), Some(&json!(1)));
    for (type_, status) in [
        ("Available", "False"),
        ("Progressing", "True"),
        ("Degraded", "False"),
    ] {
        let c = condition(&obj, type_).unwrap();
        assert_eq!(c["status"], status, "{type_}");
        assert_eq!(c["observedGeneration"], 1, "{type_}");
    }
    assert_eq!(
        obj.pointer("/metadata/finalizers"),
        Some(&json!(["coder.com/workspace-rbac-cleanup"]))
    );

    let owned = [
        ("", "serviceaccounts", "coder"),
        ("apps", "deployments", "coder"),
        ("", "services", "coder"),
        ("networking.k8s.io", "ingresses", "coder"),
        (
            "rbac.authorization.k8s.io",
            "roles",
            "coder-workspace-perms",
        ),
        (
            "rbac.authorization.k8s.io",
            "rolebindings",
            "coder-workspace-perms",
        ),
    ];
    for (group, resource, name) in owned {
        let child = fake
            .get(group, resource, NS, name)
            .unwrap_or_else(|| panic!("{resource}/{name} exists"));
        assert_eq!(
            owner_uid(&child).as_deref(),
            Some(uid.as_str()),
            "{resource}"
        );
        let labels = &child["metadata"]["labels"];
        assert_eq!(labels["app.kubernetes.io/name"], "coder", "{resource}");
        assert_eq!(labels["app.kubernetes.io/instance"], "coder", "{resource}");
        assert_eq!(
            labels["app.kubernetes.io/managed-by"], "coder-k8s",
            "{resource}"
        );
    }
    for resource in ["roles", "rolebindings"] {
        let foreign = fake
            .get(
                "rbac.authorization.k8s.io",
                resource,
                "workspaces",
                "coder-workspace-perms",
            )
            .unwrap_or_else(|| panic!("{resource} in workspaces"));
        assert!(foreign.pointer("/metadata/ownerReferences").is_none());
        assert_eq!(
            foreign["metadata"]["labels"]["coder.com/owner-namespace"],
            NS
        );
    }
    let deployment = fake.get("apps", "deployments", NS, "coder").unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["name"], "coder");
    assert_eq!(container["ports"][1]["containerPort"], 8443);
    let service = fake.get("", "services", NS, "coder").unwrap();
    assert_eq!(service["spec"]["ports"][1]["port"], 443);
    let sa = fake.get("", "serviceaccounts", NS, "coder").unwrap();
    assert_eq!(sa["metadata"]["annotations"]["iam"], "role");

    assert_every_write_is_ours_and_server_side_apply(&fake);
    // One Event for the reconcile that created them, naming every child.
    let created = eventually("a Created event", || {
        fake.list("events.k8s.io", "events")
            .into_iter()
            .find(|e| e["reason"] == "Created")
    })
    .await;
    assert_eq!(created["regarding"]["kind"], "CoderControlPlane");
    let note = created["note"].as_str().unwrap_or_default();
    for child in [
        "ServiceAccount coder/coder",
        "Role coder/coder-workspace-perms",
        "RoleBinding coder/coder-workspace-perms",
        "Role workspaces/coder-workspace-perms",
        "RoleBinding workspaces/coder-workspace-perms",
        "Deployment coder/coder",
        "Service coder/coder",
        "Ingress coder/coder",
    ] {
        assert!(note.contains(child), "{child} in {note}");
    }
    let created_events = fake
        .list("events.k8s.io", "events")
        .into_iter()
        .filter(|e| e["reason"] == "Created")
        .count();
    assert_eq!(created_events, 1);

    controller.stop().await.unwrap();
}

#[tokio::test]
async fn hand_edited_deployment_is_put_back() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, json!({"replicas": 2})).await;
    wait_for_status(&fake, "coder").await;

    let api: Api<Deployment> = Api::namespaced(fake.client("test"), NS);
    api.patch(
        "coder",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 7, "template": {"spec": {"containers": [{"name": "coder", "image": "evil:latest"}]}}}})),
    )
    .await
    .unwrap();
    assert_eq!(
        fake.get("apps", "deployments", NS, "coder").unwrap()["spec"]["replicas"],
        7
    );

    eventually("deployment restored", || {
        let d = fake.get("apps", "deployments", NS, "coder")?;
        let image = d["spec"]["template"]["spec"]["containers"][0]["image"].clone();
        (d["spec"]["replicas"] == 2 && image == "ghcr.io/coder/coder:latest").then_some(())
    })
    .await;
    let events = fake.list("events.k8s.io", "events");
    assert!(events.iter().any(|e| {
        e["reason"] == "Updated"
            && e["note"]
                .as_str()
                .unwrap_or_default()
                .contains("Deployment coder/coder")
    }));
    controller.stop().await.unwrap();
}

/// A deleted child reconciles its owner at once (not at the next resync, minutes away): the
/// shared watches hand every loop deleted objects too, which kube-runtime's own shared streams
/// (`ReflectHandle`) would not.
#[tokio::test]
async fn hand_deleted_deployment_is_put_back() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, json!({})).await;
    wait_for_status(&fake, "coder").await;

    let api: Api<Deployment> = Api::namespaced(fake.client("test"), NS);
    api.delete("coder", &Default::default()).await.unwrap();
    eventually("deployment recreated", || {
        fake.get("apps", "deployments", NS, "coder")
    })
    .await;
    controller.stop().await.unwrap();
}

#[tokio::test]
async fn deployment_becoming_ready_moves_phase_and_conditions() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, json!({})).await;
    let before = wait_for_status(&fake, "coder").await;
    assert_eq!(phase(&before).as_deref(), Some("Pending"));

    make_deployment_ready(&fake, NS, "coder").await;
    let after = eventually("phase Ready", || {
        ccp(&fake, NS, "coder").filter(|o| phase(o).as_deref() == Some("Ready"))
    })
    .await;
    assert_eq!(after.pointer("/status/readyReplicas"), Some(&json!(1)));
    let available = condition(&after, "Available").unwrap();
    assert_eq!(available["status"], "True");
    assert_eq!(available["reason"], "MinimumReplicasAvailable");
    // What `kubectl wait --for=condition=Available` checks: status True for this generation.
    assert_eq!(
        available["observedGeneration"],
        after["metadata"]["generation"]
    );
    // As on a Deployment: a finished rollout is still Progressing=True.
    let progressing = condition(&after, "Progressing").unwrap();
    assert_eq!(progressing["status"], "True");
    assert_eq!(progressing["reason"], "NewReplicaSetAvailable");
    assert_eq!(condition(&after, "Degraded").unwrap()["status"], "False");

    let deployment_applies = fake
        .requests()
        .iter()
        .filter(|r| r.client == "controller" && r.resource == "deployments" && r.verb == "patch")
        .count();
    // One apply creates the Deployment; the reconciles that follow (its own watch event, the
    // status change) find it unchanged in the cache and write nothing.
    assert_eq!(deployment_applies, 1, "deployment applies");
    // Workspace RBAC is found through the watch caches: one LIST per cache, none per
    // reconcile. Two loops read it (CoderControlPlane, and CoderProvisioner for its daemons'
    // Role and RoleBinding) from one shared cache, listed once.
    for resource in ["roles", "rolebindings"] {
        let lists = fake
            .requests()
            .iter()
            .filter(|r| r.client == "controller" && r.resource == resource && r.verb == "list")
            .count();
        assert_eq!(lists, 1, "{resource} lists");
    }
    controller.stop().await.unwrap();
}

/// Every write of the controller is a server-side apply with field manager `coder-k8s` and
/// force, except Events (created) and the finalizer, which the controller adds and removes
/// with a JSON patch guarded by a `test` operation: an apply would recreate an object deleted
/// in the meantime.
fn assert_every_write_is_ours_and_server_side_apply(fake: &FakeKube) {
    assert_writes(fake, 8);
}

/// The same, for a control plane with fewer children (at least `min` writes besides Events).
fn assert_every_write_is_ours_and_server_side_apply_or_event(fake: &FakeKube) {
    assert_writes(fake, 6);
    let events: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.client == "controller" && r.resource == "events")
        .collect();
    for event in events {
        assert_eq!(event.verb, "create", "{event:?}");
        assert_eq!(event.content_type, "application/json", "{event:?}");
    }
}

fn assert_writes(fake: &FakeKube, min: usize) {
    let requests = fake.requests();
    let writes: Vec<_> = requests
        .iter()
        .filter(|r| r.client == "controller")
        .filter(|r| matches!(r.verb.as_str(), "create" | "update" | "patch"))
        .filter(|r| r.resource != "events")
        .collect();
    assert!(writes.len() >= min, "{writes:#?}");
    for write in writes {
        let finalizer_patch = write.resource == "codercontrolplanes"
            && write.subresource.is_none()
            && write.content_type == "application/json-patch+json";
        if finalizer_patch {
            continue;
        }
        assert_eq!(write.verb, "patch", "{write:?}");
        assert_eq!(
            write.content_type, "application/apply-patch+yaml",
            "{write:?}"
        );
        assert_eq!(
            write.field_manager.as_deref(),
            Some("coder-k8s"),
            "{write:?}"
        );
        assert!(write.force, "{write:?}");
    }
}

/// The watch passes only generation and finalizer changes: a status change (ours, or anyone's)
/// does not start a reconcile. Proven by changing status by hand: nothing puts it back and
/// the controller sends no request at all.
#[tokio::test]
async fn status_changes_do_not_trigger_reconciles() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, json!({})).await;
    wait_for_status(&fake, "coder").await;
    // Let the reconciles triggered by the children's creation finish.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let before = fake
        .requests()
        .iter()
        .filter(|r| r.client == "controller" && r.verb != "watch")
        .count();

    let api: Api<CoderControlPlane> = Api::namespaced(fake.client("test"), NS);
    api.patch_status(
        "coder",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"url": "http://hand.edited"}})),
    )
    .await
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let after = fake
        .requests()
        .iter()
        .filter(|r| r.client == "controller" && r.verb != "watch")
        .count();
    assert_eq!(after, before, "requests after a status-only change");
    assert_eq!(
        ccp(&fake, NS, "coder").unwrap().pointer("/status/url"),
        Some(&json!("http://hand.edited")),
        "no reconcile rewrote the status"
    );
    // A spec change does reconcile (the predicate passes generation changes).
    api.patch(
        "coder",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 2}})),
    )
    .await
    .unwrap();
    eventually("status rewritten after a spec change", || {
        ccp(&fake, NS, "coder")
            .filter(|o| o.pointer("/status/observedGeneration") == Some(&json!(2)))
    })
    .await;
    controller.stop().await.unwrap();
}

/// A Deployment whose status alone moved (the Deployment controller at work) is not "Updated".
#[tokio::test]
async fn no_updated_event_when_only_a_childs_status_moved() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, json!({})).await;
    wait_for_status(&fake, "coder").await;
    make_deployment_ready(&fake, NS, "coder").await;
    eventually("phase Ready", || {
        ccp(&fake, NS, "coder").filter(|o| phase(o).as_deref() == Some("Ready"))
    })
    .await;
    // Published Events are best effort and asynchronous to nothing: give stragglers a moment.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let updated: Vec<_> = fake
        .list("events.k8s.io", "events")
        .into_iter()
        .filter(|e| e["reason"] == "Updated")
        .collect();
    assert!(updated.is_empty(), "{updated:#?}");
    controller.stop().await.unwrap();
}

/// Workspace RBAC in other namespaces has no owner reference; its watch maps it back to the
/// control plane by label, so deleting or tampering with it is reverted at once (the resync is
/// minutes away).
#[tokio::test]
async fn workspace_rbac_in_other_namespaces_is_restored_promptly() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, full_spec()).await;
    wait_for_status(&fake, "coder").await;
    let rbac = "rbac.authorization.k8s.io";
    let original = fake
        .get(rbac, "roles", "workspaces", "coder-workspace-perms")
        .expect("role in workspaces");

    let roles: Api<k8s_openapi::api::rbac::v1::Role> =
        Api::namespaced(fake.client("test"), "workspaces");
    roles
        .delete("coder-workspace-perms", &DeleteParams::default())
        .await
        .unwrap();
    let restored = eventually("role recreated", || {
        fake.get(rbac, "roles", "workspaces", "coder-workspace-perms")
    })
    .await;
    assert_eq!(restored["rules"], original["rules"]);

    // Narrow the verbs.
    roles
        .patch(
            "coder-workspace-perms",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
            ),
        )
        .await
        .unwrap();
    eventually("rules restored", || {
        fake.get(rbac, "roles", "workspaces", "coder-workspace-perms")
            .filter(|r| r["rules"] == original["rules"])
    })
    .await;

    // Add a subject to the binding.
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(fake.client("test"), "workspaces");
    let binding = fake
        .get(rbac, "rolebindings", "workspaces", "coder-workspace-perms")
        .unwrap();
    let mut subjects = binding["subjects"].as_array().unwrap().clone();
    subjects
        .push(json!({"kind": "User", "name": "mallory", "apiGroup": "rbac.authorization.k8s.io"}));
    bindings
        .patch(
            "coder-workspace-perms",
            &PatchParams::default(),
            &Patch::Merge(json!({"subjects": subjects})),
        )
        .await
        .unwrap();
    eventually("subjects restored", || {
        fake.get(rbac, "rolebindings", "workspaces", "coder-workspace-perms")
            .filter(|b| b["subjects"] == binding["subjects"])
    })
    .await;
    controller.stop().await.unwrap();
}

/// When the namespace is being deleted, applies fail with NamespaceTerminating: the controller
/// stops applying there instead of retrying with backoff, and reports no failure.
#[tokio::test]
async fn a_terminating_namespace_is_not_applied_into_again_and_again() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, json!({})).await;
    wait_for_status(&fake, "coder").await;

    fake.inject(
        Fault::namespace_terminating(NS, usize::MAX)
            .verb("patch")
            .client("controller"),
    );
    // The namespace controller deletes the children first.
    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(fake.client("test"), NS);
    services
        .delete("coder", &DeleteParams::default())
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let refused = fake
        .requests()
        .iter()
        .filter(|r| r.client == "controller" && r.status == 403)
        .count();
    assert_eq!(refused, 1, "applies refused as NamespaceTerminating");
    let warnings = fake
        .list("events.k8s.io", "events")
        .into_iter()
        .filter(|e| e["type"] == "Warning")
        .count();
    assert_eq!(warnings, 0);
    controller.stop().await.unwrap();
}

/// A restarted controller finds every child unchanged in its caches and writes nothing.
#[tokio::test]
async fn restart_writes_nothing_to_unchanged_children() {
    let fake = FakeKube::new();
    let first = start(&fake, "first", test_settings());
    create_ccp(&fake, "coder", NS, full_spec()).await;
    wait_for_status(&fake, "coder").await;
    make_deployment_ready(&fake, NS, "coder").await;
    eventually("phase Ready", || {
        ccp(&fake, NS, "coder").filter(|o| phase(o).as_deref() == Some("Ready"))
    })
    .await;
    first.stop().await.unwrap();

    let second = start(&fake, "second", test_settings());
    eventually(
        "the restarted controller reconciled (watched everything)",
        || {
            fake.requests()
                .iter()
                .any(|r| {
                    r.client == "second" && r.resource == "codercontrolplanes" && r.verb == "watch"
                })
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let writes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.client == "second" && !matches!(r.verb.as_str(), "list" | "watch" | "get"))
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");
    second.stop().await.unwrap();
}

#[tokio::test]
async fn spec_changes_remove_ingress_and_stale_workspace_rbac() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, full_spec()).await;
    wait_for_status(&fake, "coder").await;
    assert!(
        fake.get("networking.k8s.io", "ingresses", NS, "coder")
            .is_some()
    );

    let api: Api<CoderControlPlane> = Api::namespaced(fake.client("test"), NS);
    api.patch(
        "coder",
        &PatchParams::default(),
        &Patch::Merge(
            json!({"spec": {"expose": null, "rbac": {"workspaceNamespaces": ["other"]}}}),
        ),
    )
    .await
    .unwrap();
    eventually("ingress removed and RBAC moved", || {
        let gone = fake
            .get("networking.k8s.io", "ingresses", NS, "coder")
            .is_none()
            && fake
                .get(
                    "rbac.authorization.k8s.io",
                    "roles",
                    "workspaces",
                    "coder-workspace-perms",
                )
                .is_none()
            && fake
                .get(
                    "rbac.authorization.k8s.io",
                    "rolebindings",
                    "workspaces",
                    "coder-workspace-perms",
                )
                .is_none();
        let added = fake
            .get(
                "rbac.authorization.k8s.io",
                "roles",
                "other",
                "coder-workspace-perms",
            )
            .is_some();
        (gone && added).then_some(())
    })
    .await;
    assert!(
        fake.get(
            "rbac.authorization.k8s.io",
            "roles",
            NS,
            "coder-workspace-perms"
        )
        .is_some()
    );
    controller.stop().await.unwrap();
}

#[tokio::test]
async fn deleting_removes_cross_namespace_rbac_then_the_finalizer() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, full_spec()).await;
    wait_for_status(&fake, "coder").await;

    let api: Api<CoderControlPlane> = Api::namespaced(fake.client("test"), NS);
    api.delete("coder", &DeleteParams::default()).await.unwrap();
    eventually("object gone", || {
        ccp(&fake, NS, "coder").is_none().then_some(())
    })
    .await;

    for resource in ["roles", "rolebindings"] {
        assert_eq!(
            fake.count("rbac.authorization.k8s.io", resource),
            0,
            "{resource}"
        );
    }
    // Children were garbage-collected through their owner references.
    for (group, resource) in [
        ("apps", "deployments"),
        ("", "services"),
        ("", "serviceaccounts"),
        ("networking.k8s.io", "ingresses"),
    ] {
        assert_eq!(fake.count(group, resource), 0, "{resource}");
    }
    // The foreign RBAC was deleted by the controller before the finalizer came off.
    let log = fake.requests();
    let rbac_delete = log
        .iter()
        .position(|r| {
            r.client == "controller"
                && r.verb == "delete"
                && r.namespace.as_deref() == Some("workspaces")
        })
        .expect("controller deleted RBAC in the workspace namespace");
    let finalizer_removed = log
        .iter()
        .rposition(|r| {
            r.client == "controller"
                && r.resource == "codercontrolplanes"
                && r.verb == "patch"
                && r.subresource.is_none()
        })
        .expect("controller removed its finalizer");
    assert!(rbac_delete < finalizer_removed);
    controller.stop().await.unwrap();
}

#[tokio::test]
async fn api_errors_are_retried_with_backoff_and_reported_as_degraded() {
    let fake = FakeKube::new();
    // Transient: a conflict and a server error, each a few times. Persistent: forbidden ingress.
    fake.inject(
        Fault::new(409, 2)
            .verb("patch")
            .resource("deployments")
            .client("controller"),
    );
    fake.inject(
        Fault::new(500, 2)
            .verb("patch")
            .resource("services")
            .client("controller"),
    );
    fake.inject(
        Fault::new(403, usize::MAX)
            .verb("patch")
            .resource("ingresses")
            .client("controller"),
    );
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, full_spec()).await;

    let degraded = eventually("Degraded=True Forbidden", || {
        ccp(&fake, NS, "coder")
            .and_then(|o| condition(&o, "Degraded"))
            .filter(|c| c["status"] == "True" && c["reason"] == "Forbidden")
    })
    .await;
    // The API server's message, not a debug dump of its response.
    let message = degraded["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("cannot apply Ingress coder/coder: injected fault"),
        "{message}"
    );
    assert!(!message.contains("Status {"), "{message}");
    assert!(!message.contains("ErrorResponse"), "{message}");
    assert_eq!(
        phase(&ccp(&fake, NS, "coder").unwrap()).as_deref(),
        Some("Failed")
    );
    // It keeps trying (more than once after the transient faults cleared)...
    eventually("ingress apply retried", || {
        let attempts = fake
            .requests()
            .iter()
            .filter(|r| r.resource == "ingresses" && r.verb == "patch" && r.status == 403)
            .count();
        (attempts >= 3).then_some(())
    })
    .await;
    assert!(
        !controller.task.is_finished(),
        "the controller must not exit on API errors"
    );
    let reasons: Vec<String> = fake
        .list("events.k8s.io", "events")
        .iter()
        .filter(|e| e["type"] == "Warning")
        .map(|e| e["reason"].as_str().unwrap_or_default().to_string())
        .collect();
    for reason in ["Conflict", "ServerError", "Forbidden"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }

    // ...and recovers once the API allows it.
    fake.clear_faults();
    let healed = eventually("Degraded=False", || {
        ccp(&fake, NS, "coder")
            .filter(|o| condition(o, "Degraded").is_some_and(|c| c["status"] == "False"))
    })
    .await;
    assert_eq!(phase(&healed).as_deref(), Some("Pending"));
    assert!(
        fake.get("networking.k8s.io", "ingresses", NS, "coder")
            .is_some()
    );
    controller.stop().await.unwrap();
}

/// A loopback address that was free a moment ago (the controller binds it right away).
fn free_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local address")
}

async fn http_get(address: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let code = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())?;
    Some((code, body))
}

#[tokio::test]
async fn probes_report_readiness_and_metrics_count_reconciles_and_errors() {
    let fake = FakeKube::new();
    fake.inject(
        Fault::new(409, 1)
            .verb("patch")
            .resource("deployments")
            .client("controller"),
    );
    let health = free_address();
    let metrics = free_address();
    let settings = coder_k8s::controller::Settings {
        health_probe_bind_address: Some(health),
        metrics_bind_address: Some(metrics),
        ..test_settings()
    };
    let controller = start(&fake, "controller", settings);
    let mut ready = None;
    for _ in 0..500 {
        if let Some((200, body)) = http_get(health, "/readyz").await {
            ready = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(ready.as_deref(), Some("ok"), "/readyz became ready");
    assert_eq!(http_get(health, "/healthz").await.map(|r| r.0), Some(200));

    create_ccp(&fake, "coder", NS, json!({})).await;
    eventually("recovered after the conflict", || {
        ccp(&fake, NS, "coder")
            .filter(|o| condition(o, "Degraded").is_some_and(|c| c["status"] == "False"))
    })
    .await;
    let (code, body) = http_get(metrics, "/metrics").await.expect("metrics answer");
    assert_eq!(code, 200);
    assert!(
        body.contains("coder_k8s_controller_reconciles_total"),
        "{body}"
    );
    assert!(
        body.contains(r#"coder_k8s_controller_reconcile_errors_total{reason="conflict"} 1"#),
        "{body}"
    );
    assert!(
        body.contains("coder_k8s_controller_reconcile_duration_seconds_bucket"),
        "{body}"
    );
    assert!(body.contains("coder_k8s_controller_leader 1"), "{body}");
    controller.stop().await.unwrap();
    // The servers stop with the controller.
    assert!(http_get(health, "/healthz").await.is_none());
}

/// `coder_k8s_controller_reconciles_total` from /metrics.
async fn reconciles(metrics: std::net::SocketAddr) -> u64 {
    let (_, body) = http_get(metrics, "/metrics").await.expect("metrics answer");
    body.lines()
        .find_map(|l| l.strip_prefix("coder_k8s_controller_reconciles_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("reconciles_total")
}

/// The requests (all but LIST and WATCH, which serve every object at once) the controller sent
/// about namespace `ns`, as `verb resource[/subresource] name`.
fn requests_in(fake: &FakeKube, ns: &str) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.client == "controller" && r.namespace.as_deref() == Some(ns))
        .filter(|r| !matches!(r.verb.as_str(), "list" | "watch"))
        .map(|r| {
            let resource = match &r.subresource {
                Some(sub) => format!("{}/{sub}", r.resource),
                None => r.resource.clone(),
            };
            format!(
                "{} {resource} {}",
                r.verb,
                r.name.as_deref().unwrap_or_default()
            )
            .trim_end()
            .to_string()
        })
        .collect()
}

/// A new control plane with the default spec costs exactly seven requests until it has
/// converged, its Event included: one server-side apply per child, one for the status, one
/// Event; no finalizer (nothing outside its namespace to clean up) and nothing sent twice,
/// even though the children's own watch events start another reconcile right after the first.
#[tokio::test]
async fn a_default_control_plane_converges_in_seven_requests_including_its_event() {
    let fake = FakeKube::new();
    let metrics = free_address();
    let settings = coder_k8s::controller::Settings {
        metrics_bind_address: Some(metrics),
        ..test_settings()
    };
    let controller = start(&fake, "controller", settings);
    create_ccp(&fake, "coder", NS, json!({})).await;
    wait_for_status(&fake, "coder").await;
    eventually("the Created event", || {
        fake.list("events.k8s.io", "events")
            .into_iter()
            .find(|e| e["reason"] == "Created")
    })
    .await;
    // The children's watch events start another reconcile: it must find nothing to do.
    for _ in 0..250 {
        if reconciles(metrics).await >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        reconciles(metrics).await >= 2,
        "the children's events started a reconcile"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let requests = requests_in(&fake, NS);
    assert_eq!(
        requests,
        [
            "patch serviceaccounts coder",
            "patch roles coder-workspace-perms",
            "patch rolebindings coder-workspace-perms",
            "patch deployments coder",
            "patch services coder",
            "patch codercontrolplanes/status coder",
            "create events",
        ],
        "requests per converged object (target: at most 7, Event included)"
    );
    assert_every_write_is_ours_and_server_side_apply_or_event(&fake);
    let obj = ccp(&fake, NS, "coder").unwrap();
    assert_eq!(obj.pointer("/metadata/finalizers"), None, "{obj:#}");
    controller.stop().await.unwrap();
}

/// A converged object reconciled again (here: someone annotates its Service, which the
/// controller keeps on purpose) costs no write at all.
#[tokio::test]
async fn a_converged_object_reconciled_again_writes_nothing() {
    let fake = FakeKube::new();
    let metrics = free_address();
    let settings = coder_k8s::controller::Settings {
        metrics_bind_address: Some(metrics),
        ..test_settings()
    };
    let controller = start(&fake, "controller", settings);
    create_ccp(&fake, "coder", NS, full_spec()).await;
    wait_for_status(&fake, "coder").await;
    make_deployment_ready(&fake, NS, "coder").await;
    eventually("phase Ready", || {
        ccp(&fake, NS, "coder").filter(|o| phase(o).as_deref() == Some("Ready"))
    })
    .await;
    // Quiet: no reconcile for a while.
    let mut before = reconciles(metrics).await;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let now = reconciles(metrics).await;
        if now == before {
            break;
        }
        before = now;
    }
    let writes_before = fake.requests().len();

    let services: Api<k8s_openapi::api::core::v1::Service> =
        Api::namespaced(fake.client("test"), NS);
    services
        .patch(
            "coder",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"team": "platform"}}})),
        )
        .await
        .unwrap();
    for _ in 0..250 {
        if reconciles(metrics).await > before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        reconciles(metrics).await > before,
        "the Service's event started a reconcile"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let writes: Vec<_> = fake.requests()[writes_before..]
        .iter()
        .filter(|r| r.client == "controller")
        .filter(|r| !matches!(r.verb.as_str(), "list" | "watch" | "get"))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "{writes:#?}");
    controller.stop().await.unwrap();
}

/// A control plane that stops naming workspace namespaces gives up its finalizer once their
/// RBAC is gone, so deleting it no longer depends on the controller.
#[tokio::test]
async fn the_finalizer_is_held_only_while_other_namespaces_have_rbac() {
    let fake = FakeKube::new();
    let controller = start(&fake, "controller", test_settings());
    create_ccp(&fake, "coder", NS, full_spec()).await;
    wait_for_status(&fake, "coder").await;
    assert_eq!(
        ccp(&fake, NS, "coder")
            .unwrap()
            .pointer("/metadata/finalizers"),
        Some(&json!([coder_k8s::controller::FINALIZER]))
    );
    // Added before the first object in another namespace was created.
    let log = fake.requests();
    let added = log
        .iter()
        .position(|r| {
            r.client == "controller"
                && r.resource == "codercontrolplanes"
                && r.content_type == "application/json-patch+json"
        })
        .expect("finalizer added");
    let foreign = log
        .iter()
        .position(|r| r.client == "controller" && r.namespace.as_deref() == Some("workspaces"))
        .expect("RBAC in workspaces");
    assert!(added < foreign);

    let api: Api<CoderControlPlane> = Api::namespaced(fake.client("test"), NS);
    api.patch(
        "coder",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"rbac": {"workspaceNamespaces": null}}})),
    )
    .await
    .unwrap();
    eventually(
        "finalizer removed after the RBAC in workspaces is gone",
        || {
            let obj = ccp(&fake, NS, "coder")?;
            let released = obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(|f| f.is_empty());
            let gone = fake
                .get(
                    "rbac.authorization.k8s.io",
                    "roles",
                    "workspaces",
                    "coder-workspace-perms",
                )
                .is_none();
            (released && gone).then_some(())
        },
    )
    .await;
    // Deleting it now goes through without the controller.
    controller.stop().await.unwrap();
    api.delete("coder", &DeleteParams::default()).await.unwrap();
    assert!(ccp(&fake, NS, "coder").is_none());
}
