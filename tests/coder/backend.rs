//! The Coder backend end to end: our aggregated apiserver (`--coder-backend=enabled`) behind the
//! real kube-aggregator of the envtest harness, a fake coderd per namespace, and the real
//! kubectl and kube-rs as clients. CoderTemplate and CoderWorkspace manifests become coderd's
//! templates and workspaces; what happens in coderd comes back through the sync.

use crate::aggregated_e2e;
use crate::coder_backend_support;

use std::process::Stdio;
use std::time::Duration;

use aggregated_e2e::{AggregatedServer, kubectl, kubectl_ok};
use coder_backend_support::*;
use envtest::ControlPlane;
use kube::Api;
use kube::api::DynamicObject;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::OnceCell;

static SERVER: OnceCell<AggregatedServer> = OnceCell::const_new();

async fn setup() -> &'static ControlPlane {
    let cp = envtest::shared();
    install_control_plane_crd(cp).await;
    SERVER
        .get_or_init(|| async {
            let interval = format!("--coder-sync-interval={SYNC_INTERVAL}");
            AggregatedServer::start_and_register_with(cp, &["--coder-backend=enabled", &interval])
                .await
        })
        .await;
    cp
}

const MAIN_TF: &str = "terraform {}\nresource \"null_resource\" \"dev\" {}\n";

async fn get(
    cp: &ControlPlane,
    api: kube::api::ApiResource,
    ns: &str,
    name: &str,
) -> Option<Value> {
    let client = cp.admin_client().await;
    let api: Api<DynamicObject> = Api::namespaced_with(client, ns, &api);
    api.get_opt(name)
        .await
        .expect("get through the aggregator")
        .map(|o| serde_json::to_value(o).expect("json"))
}

/// Waits until the object's field at `pointer` is `want`.
async fn wait_field(
    cp: &ControlPlane,
    api: kube::api::ApiResource,
    ns: &str,
    name: &str,
    pointer: &str,
    want: &str,
) -> Value {
    envtest::poll_until(&format!("{name} {pointer} = {want}"), WAIT, || {
        let api = api.clone();
        async move {
            let object = get(cp, api, ns, name).await;
            match &object {
                Some(o) if o.pointer(pointer).and_then(Value::as_str) == Some(want) => {
                    Ok(o.clone())
                }
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Creates a template through kubectl and waits until coderd has it with an active version.
async fn apply_template(cp: &ControlPlane, coder: &CoderNamespace, template: &str) -> Value {
    let name = format!("{ORG}.{template}");
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&template_manifest(&coder.namespace, &name, MAIN_TF, "")),
    )
    .await;
    let admin = coder.fake.admin();
    envtest::poll_until("the template in coderd", WAIT, || {
        let found = find_named(&admin.templates(), template).cloned();
        async move { found.ok_or_else(|| "not yet".to_string()) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn manifests_become_a_coder_template_and_a_running_workspace_that_kubectl_stops() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-headline").await;
    let ns = coder.namespace.as_str();

    // The template: files uploaded as a tar, a version built, the template created.
    let template = apply_template(cp, &coder, "docker").await;
    let active = template["active_version_id"].as_str().unwrap().to_string();
    let object = wait_field(
        cp,
        templates(),
        ns,
        "coder.docker",
        "/status/activeVersionID",
        &active,
    )
    .await;
    assert_eq!(object["status"]["id"], template["id"], "{object}");
    assert_eq!(template["display_name"], "Docker");
    let files = coder.fake.admin().files();
    assert!(
        files
            .iter()
            .any(|(_, _, tar)| String::from_utf8_lossy(tar).contains("null_resource")),
        "the files reached coderd as a tar"
    );

    // The workspace: created in coderd, its status follows the builds to running.
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(ns, "coder.admin.dev", "docker")),
    )
    .await;
    let workspace = find_named(&coder.fake.admin().workspaces(), "dev")
        .cloned()
        .expect("the workspace exists in coderd once the create is answered");
    let object = wait_field(
        cp,
        workspaces(),
        ns,
        "coder.admin.dev",
        "/status/latestBuildStatus",
        "running",
    )
    .await;
    assert_eq!(object["metadata"]["uid"], workspace["id"]);
    assert_eq!(object["status"]["ownerName"], OWNER);
    assert_eq!(object["status"]["templateName"], "docker");
    assert_eq!(
        condition(&object, "Ready").unwrap()["status"],
        "True",
        "{object}"
    );
    assert_eq!(
        condition(&object, "CoderReachable").unwrap()["status"],
        "True"
    );

    // The printer columns a Coder admin reads.
    let table = kubectl_ok(cp, &["get", "coderworkspaces", "-n", ns], None).await;
    let row = table
        .lines()
        .find(|l| l.starts_with("coder.admin.dev"))
        .unwrap_or_default();
    assert!(
        row.contains(OWNER) && row.contains("docker") && row.contains("running"),
        "{table}"
    );

    // kubectl patch running=false → a stop build; status follows to stopped.
    kubectl_ok(
        cp,
        &[
            "patch",
            "coderworkspace",
            "coder.admin.dev",
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"running":false}}"#,
        ],
        None,
    )
    .await;
    let builds = coder.fake.admin().builds();
    assert!(
        builds
            .iter()
            .any(|b| b["workspace_id"] == workspace["id"] && b["transition"] == "stop"),
        "a stop build was queued: {builds:?}"
    );
    let object = wait_field(
        cp,
        workspaces(),
        ns,
        "coder.admin.dev",
        "/status/latestBuildStatus",
        "stopped",
    )
    .await;
    assert_eq!(condition(&object, "Ready").unwrap()["status"], "False");
    assert_eq!(object["spec"]["running"], false);

    // Labels and annotations live in our storage and survive many syncs.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let object = get(cp, workspaces(), ns, "coder.admin.dev").await.unwrap();
    assert_eq!(object["metadata"]["labels"]["team"], "platform", "{object}");
    assert_eq!(
        object["metadata"]["annotations"]["example.com/owner-team"],
        "platform"
    );
    let object = get(cp, templates(), ns, "coder.docker").await.unwrap();
    assert_eq!(object["metadata"]["labels"]["team"], "platform", "{object}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_created_in_coder_appears_in_a_running_kubectl_watch() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-watch").await;
    let ns = coder.namespace.as_str();
    let mut watch = cp
        .kubectl()
        .args([
            "get",
            "coderworkspaces",
            "-n",
            ns,
            "-w",
            "--output-watch-events",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("kubectl get -w");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    // The watch is established before coderd gets the workspace.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let admin = coder.fake.admin();
    let template = admin
        .create_template_with_files(ORG, "base", &[("main.tf", MAIN_TF)])
        .expect("template in coderd");
    let id = admin
        .create_workspace(OWNER, "from-ui", template)
        .expect("workspace in coderd");

    let seen = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("ADDED") && line.contains("coder.admin.from-ui") {
                return line;
            }
        }
        panic!("kubectl get -w ended");
    })
    .await
    .expect("the workspace appears in the watch");
    assert!(seen.contains("coder.admin.from-ui"), "{seen}");
    let object = get(cp, workspaces(), ns, "coder.admin.from-ui")
        .await
        .unwrap();
    assert_eq!(
        object["metadata"]["uid"],
        id.to_string(),
        "uid is coderd's id"
    );
    // The same sync round mirrors the template, but not necessarily before the workspace.
    let object = envtest::poll_until("the template appears too", WAIT, || async {
        get(cp, templates(), ns, "coder.base")
            .await
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert_eq!(object["metadata"]["uid"], template.to_string());

    // Deleted in Coder: gone here too.
    admin.delete_workspace(id).expect("delete build");
    let gone = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("DELETED") && line.contains("coder.admin.from-ui") {
                return line;
            }
        }
        panic!("kubectl get -w ended");
    })
    .await
    .expect("the deletion reaches the watch");
    assert!(gone.contains("DELETED"));
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_workspace_deletes_it_in_coder_before_the_object_goes() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-delete").await;
    let ns = coder.namespace.as_str();
    apply_template(cp, &coder, "docker").await;
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(ns, "coder.admin.gone", "docker")),
    )
    .await;
    let object = wait_field(
        cp,
        workspaces(),
        ns,
        "coder.admin.gone",
        "/status/latestBuildStatus",
        "running",
    )
    .await;
    let finalizers = object["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        finalizers.iter().any(|f| f == "coder.com/workspace"),
        "{object}"
    );

    kubectl_ok(
        cp,
        &[
            "delete",
            "coderworkspace",
            "coder.admin.gone",
            "-n",
            ns,
            "--wait=false",
        ],
        None,
    )
    .await;
    let id = object["status"]["id"].clone();
    let builds = coder.fake.admin().builds();
    assert!(
        builds
            .iter()
            .any(|b| b["workspace_id"] == id && b["transition"] == "delete"),
        "{builds:?}"
    );
    envtest::poll_until(
        "the object to go once coderd deleted the workspace",
        WAIT,
        || async {
            match get(cp, workspaces(), ns, "coder.admin.gone").await {
                None => Ok(()),
                Some(o) => Err(format!("{}", o["status"])),
            }
        },
    )
    .await;
    let left = coder.fake.admin().workspaces();
    assert!(
        find_named(&left, "gone").is_none_or(|w| w["latest_build"]["status"] == "deleted"),
        "{left:?}"
    );

    // A template still used by a workspace: coderd refuses, the object stays.
    // Server-side apply goes through coderd the same way.
    kubectl_ok(
        cp,
        &["apply", "--server-side", "-f", "-"],
        Some(&workspace_manifest(ns, "coder.admin.keep", "docker")),
    )
    .await;
    let kept = get(cp, workspaces(), ns, "coder.admin.keep").await.unwrap();
    let id = kept["status"]["id"]
        .as_str()
        .expect("a coderd id")
        .to_string();
    assert_eq!(kept["metadata"]["uid"], id.as_str());
    assert!(find_named(&coder.fake.admin().workspaces(), "keep").is_some());
    let managers: Vec<&str> = kept["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert!(managers.contains(&"kubectl"), "{managers:?}");
    let (ok, _, stderr) = kubectl(
        cp,
        &["delete", "codertemplate", "coder.docker", "-n", ns],
        None,
    )
    .await;
    assert!(!ok, "deleting a template in use must fail");
    assert!(
        stderr.contains("Conflict") || stderr.contains("409"),
        "{stderr}"
    );
    assert!(get(cp, templates(), ns, "coder.docker").await.is_some());

    // The CoderControlPlane goes first (as when the namespace is deleted): deleting the rest
    // still works, nothing waits for a coderd nobody can reach any more.
    kubectl_ok(
        cp,
        &["delete", "codercontrolplane", "coder", "-n", ns],
        None,
    )
    .await;
    kubectl_ok(
        cp,
        &[
            "delete",
            "coderworkspace",
            "coder.admin.keep",
            "-n",
            ns,
            "--wait=false",
        ],
        None,
    )
    .await;
    envtest::poll_until("the orphaned workspace to go", WAIT, || async {
        match get(cp, workspaces(), ns, "coder.admin.keep").await {
            None => Ok(()),
            Some(o) => Err(format!("{}", o["metadata"])),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_names_and_unknown_templates_are_refused_at_create() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-refuse").await;
    let ns = coder.namespace.as_str();

    let (ok, _, stderr) = kubectl(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(ns, "dev", "docker")),
    )
    .await;
    assert!(!ok);
    assert!(
        stderr.contains("BadRequest") && stderr.contains("<organization>.<user>.<workspace>"),
        "{stderr}"
    );

    let (ok, _, stderr) = kubectl(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(
            ns,
            "coder.admin.dev",
            "no-such-template",
        )),
    )
    .await;
    assert!(!ok, "an unknown template must fail the create");
    assert!(
        stderr.contains("NotFound") && stderr.contains("no-such-template"),
        "{stderr}"
    );
    assert!(
        get(cp, workspaces(), ns, "coder.admin.dev").await.is_none(),
        "nothing stored"
    );
    assert!(coder.fake.admin().workspaces().is_empty());

    let (ok, _, stderr) = kubectl(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(ns, "coder.nobody.dev", "docker")),
    )
    .await;
    assert!(
        !ok,
        "an unknown user (or template) must fail the create: {stderr}"
    );

    // A namespace without a CoderControlPlane: a clear 404.
    let plain = cp.create_namespace("coder-none").await;
    let (ok, _, stderr) = kubectl(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(&plain, "coder.admin.dev", "docker")),
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("has no CoderControlPlane"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_version_build_keeps_the_active_version_and_shows_the_failure() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-failed").await;
    let ns = coder.namespace.as_str();
    let template = apply_template(cp, &coder, "docker").await;
    let active = template["active_version_id"].as_str().unwrap().to_string();
    wait_field(
        cp,
        templates(),
        ns,
        "coder.docker",
        "/status/activeVersionID",
        &active,
    )
    .await;

    let broken = "terraform {}\n# fake-coderd: fail syntax error on line 3\n";
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&template_manifest(ns, "coder.docker", broken, "")),
    )
    .await;
    let object = envtest::poll_until("VersionFailed", WAIT, || async {
        let object = get(cp, templates(), ns, "coder.docker").await.unwrap();
        match condition(&object, "VersionFailed") {
            Some(c) if c["status"] == "True" => Ok(object),
            _ => Err(format!("{}", object["status"])),
        }
    })
    .await;
    let failed = condition(&object, "VersionFailed").unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("syntax error on line 3"),
        "{failed}"
    );
    assert_eq!(
        object["status"]["activeVersionID"],
        active.as_str(),
        "active version unchanged"
    );
    let now = find_named(&coder.fake.admin().templates(), "docker")
        .cloned()
        .unwrap();
    assert_eq!(now["active_version_id"], active.as_str());

    // Fixed files: a new version, promoted once built.
    let fixed = "terraform {}\n# fixed\n";
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&template_manifest(ns, "coder.docker", fixed, "")),
    )
    .await;
    let promoted = envtest::poll_until("the fixed version to be promoted", WAIT, || async {
        let t = find_named(&coder.fake.admin().templates(), "docker")
            .cloned()
            .unwrap();
        let id = t["active_version_id"].as_str().unwrap_or("").to_string();
        if id != active {
            Ok(id)
        } else {
            Err(format!("{t}"))
        }
    })
    .await;
    let object = wait_field(
        cp,
        templates(),
        ns,
        "coder.docker",
        "/status/activeVersionID",
        &promoted,
    )
    .await;
    assert!(condition(&object, "VersionFailed").is_none(), "{object}");

    // spec.versionID makes an earlier version active again.
    let back = format!(r#"{{"spec":{{"versionID":"{active}"}}}}"#);
    kubectl_ok(
        cp,
        &[
            "patch",
            "codertemplate",
            "coder.docker",
            "-n",
            ns,
            "--type=merge",
            "-p",
            &back,
        ],
        None,
    )
    .await;
    let now = find_named(&coder.fake.admin().templates(), "docker")
        .cloned()
        .unwrap();
    assert_eq!(now["active_version_id"], active.as_str(), "{now}");
    wait_field(
        cp,
        templates(),
        ns,
        "coder.docker",
        "/status/activeVersionID",
        &active,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_coderd_down_reads_work_writes_get_503_and_status_says_so() {
    let cp = setup().await;
    let mut coder = coder_namespace(cp, "coder-down").await;
    let ns = coder.namespace.clone();
    apply_template(cp, &coder, "docker").await;
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(&ns, "coder.admin.dev", "docker")),
    )
    .await;
    wait_field(
        cp,
        workspaces(),
        &ns,
        "coder.admin.dev",
        "/status/latestBuildStatus",
        "running",
    )
    .await;

    coder.fake.stop().await;
    let (ok, _, stderr) = kubectl(
        cp,
        &[
            "patch",
            "coderworkspace",
            "coder.admin.dev",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"running":false}}"#,
        ],
        None,
    )
    .await;
    assert!(!ok, "a write while coderd is down must fail");
    assert!(
        stderr.contains("ServiceUnavailable") || stderr.contains("unavailable"),
        "{stderr}"
    );
    let object = envtest::poll_until("CoderReachable=False", WAIT, || async {
        let object = get(cp, workspaces(), &ns, "coder.admin.dev").await.unwrap();
        match condition(&object, "CoderReachable") {
            Some(c) if c["status"] == "False" => Ok(object),
            _ => Err(format!("{}", object["status"])),
        }
    })
    .await;
    assert_eq!(
        object["spec"]["running"], true,
        "the refused write changed nothing"
    );
    assert_eq!(
        object["status"]["latestBuildStatus"], "running",
        "last known status kept"
    );
    let listed = kubectl_ok(
        cp,
        &["get", "coderworkspaces,codertemplates", "-n", &ns],
        None,
    )
    .await;
    assert!(
        listed.contains("coder.admin.dev") && listed.contains("coder.docker"),
        "{listed}"
    );

    // Back up: the same write succeeds and the condition recovers.
    coder.fake.restart().await;
    envtest::poll_until("CoderReachable=True", WAIT, || async {
        let object = get(cp, workspaces(), &ns, "coder.admin.dev").await.unwrap();
        match condition(&object, "CoderReachable") {
            Some(c) if c["status"] == "True" => Ok(()),
            _ => Err(format!("{}", object["status"])),
        }
    })
    .await;
    kubectl_ok(
        cp,
        &[
            "patch",
            "coderworkspace",
            "coder.admin.dev",
            "-n",
            &ns,
            "--type=merge",
            "-p",
            r#"{"spec":{"running":false}}"#,
        ],
        None,
    )
    .await;
    wait_field(
        cp,
        workspaces(),
        &ns,
        "coder.admin.dev",
        "/status/latestBuildStatus",
        "stopped",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workspace_created_with_running_false_ends_up_stopped() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-stopped").await;
    let ns = coder.namespace.as_str();
    apply_template(cp, &coder, "docker").await;
    let manifest = workspace_manifest(ns, "coder.admin.idle", "docker")
        .replace("running: true", "running: false");
    kubectl_ok(cp, &["apply", "-f", "-"], Some(&manifest)).await;
    let object = wait_field(
        cp,
        workspaces(),
        ns,
        "coder.admin.idle",
        "/status/latestBuildStatus",
        "stopped",
    )
    .await;
    assert_eq!(object["spec"]["running"], false, "{object}");
    let builds = coder.fake.admin().builds();
    let transitions: Vec<&str> = builds
        .iter()
        .filter(|b| b["workspace_id"] == object["status"]["id"])
        .filter_map(|b| b["transition"].as_str())
        .collect();
    assert_eq!(
        transitions,
        ["start", "stop"],
        "coderd starts it, then it is stopped"
    );
    envtest::poll_until("the stop-when-started annotation to go", WAIT, || async {
        let object = get(cp, workspaces(), ns, "coder.admin.idle").await.unwrap();
        match object.pointer("/metadata/annotations/coder.com~1stop-when-started") {
            None => Ok(()),
            Some(_) => Err(format!("{}", object["metadata"])),
        }
    })
    .await;
}

/// The uuid in a fake's JSON snapshot.
fn uuid_of(object: &Value) -> uuid::Uuid {
    uuid::Uuid::parse_str(object["id"].as_str().expect("id")).expect("uuid")
}

/// Waits until the fake has answered at least `rounds` reads of `path`: the sync asked about
/// it that often.
async fn wait_reads(coder: &CoderNamespace, path: &str, rounds: usize) {
    envtest::poll_until(&format!("{rounds} reads of {path}"), WAIT, || {
        let count = coder
            .fake
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == path)
            .count();
        async move {
            if count >= rounds {
                Ok(())
            } else {
                Err(format!("{count} so far"))
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_list_from_coderd_removes_nothing_coderd_did_not_delete() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-short").await;
    let ns = coder.namespace.clone();
    let template = apply_template(cp, &coder, "docker").await;
    kubectl_ok(
        cp,
        &["apply", "-f", "-"],
        Some(&workspace_manifest(&ns, "coder.admin.dev", "docker")),
    )
    .await;
    wait_field(
        cp,
        workspaces(),
        &ns,
        "coder.admin.dev",
        "/status/latestBuildStatus",
        "running",
    )
    .await;
    let workspace = find_named(&coder.fake.admin().workspaces(), "dev")
        .cloned()
        .expect("the workspace in coderd");
    let (template_id, workspace_id) = (uuid_of(&template), uuid_of(&workspace));

    // coderd's lists leave both out (another filter default, a lost page); both still exist.
    coder.fake.clear_requests();
    coder.fake.hide_from_lists(&[template_id, workspace_id]);
    // Several rounds asked coderd about each by id...
    wait_reads(&coder, &format!("/api/v2/templates/{template_id}"), 3).await;
    wait_reads(&coder, &format!("/api/v2/workspaces/{workspace_id}"), 3).await;
    // ...and both are still there for every client, with their labels.
    for (api, name) in [
        (templates(), "coder.docker"),
        (workspaces(), "coder.admin.dev"),
    ] {
        let object = get(cp, api, &ns, name)
            .await
            .unwrap_or_else(|| panic!("{name} was removed although coderd still has it"));
        assert_eq!(object["metadata"]["labels"]["team"], "platform", "{object}");
        let reachable = condition(&object, "CoderReachable").cloned();
        assert_eq!(
            reachable.as_ref().map(|c| c["status"].clone()),
            Some(Value::from("True")),
            "{object}"
        );
    }
    let listed = kubectl_ok(
        cp,
        &["get", "coderworkspaces,codertemplates", "-n", &ns],
        None,
    )
    .await;
    assert!(
        listed.contains("coder.admin.dev") && listed.contains("coder.docker"),
        "{listed}"
    );

    // Deleted in coderd (still hidden from the list): the read by id says so, the object goes.
    coder
        .fake
        .admin()
        .delete_workspace(workspace_id)
        .expect("delete build");
    envtest::poll_until(
        "the workspace deleted in coderd is removed",
        WAIT,
        || async {
            match get(cp, workspaces(), &ns, "coder.admin.dev").await {
                None => Ok(()),
                Some(object) => Err(format!("{}", object["status"])),
            }
        },
    )
    .await;
    assert!(get(cp, templates(), &ns, "coder.docker").await.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_round_that_would_remove_most_objects_is_refused_and_reported() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-mass").await;
    let ns = coder.namespace.clone();
    let admin = coder.fake.admin();
    let template = admin
        .create_template_with_files(ORG, "docker", &[("main.tf", MAIN_TF)])
        .expect("template");
    let ids: Vec<uuid::Uuid> = ["one", "two", "three"]
        .iter()
        .map(|name| {
            admin
                .create_workspace(OWNER, name, template)
                .expect("workspace")
        })
        .collect();
    let names = ["coder.admin.one", "coder.admin.two", "coder.admin.three"];
    for name in names {
        envtest::poll_until(&format!("{name} mirrored"), WAIT, || async {
            get(cp, workspaces(), &ns, name)
                .await
                .map(|_| ())
                .ok_or_else(|| "not yet".to_string())
        })
        .await;
    }

    // All three deleted in coderd at once: coderd confirms each, but three of three at once
    // is what a coderd that lost its data looks like.
    for id in &ids {
        envtest::poll_until("coderd takes the delete build", WAIT, || async {
            admin
                .delete_workspace(*id)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
    }
    envtest::poll_until("the workspaces gone in coderd", WAIT, || {
        let left = admin.workspaces().len();
        async move {
            if left == 0 {
                Ok(())
            } else {
                Err(format!("{left} left"))
            }
        }
    })
    .await;
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(cp.admin_client().await, &ns);
    let event = envtest::poll_until(
        "a RemovalRefused Event on the CoderControlPlane",
        WAIT,
        || {
            let events = events.clone();
            async move {
                let list = events
                    .list(&Default::default())
                    .await
                    .map_err(|e| e.to_string())?;
                list.items
                    .into_iter()
                    .find(|e| e.reason.as_deref() == Some("RemovalRefused"))
                    .ok_or_else(|| "none yet".to_string())
            }
        },
    )
    .await;
    let regarding = event.regarding.clone().expect("regarding");
    assert_eq!(regarding.kind.as_deref(), Some("CoderControlPlane"));
    assert_eq!(regarding.name.as_deref(), Some("coder"));
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    let note = event.note.clone().unwrap_or_default();
    assert!(note.contains("of 3 coderworkspaces"), "{note}");
    assert!(note.contains("kubectl"), "{note}");
    // Later rounds keep refusing: the objects stay.
    coder.fake.clear_requests();
    wait_reads(&coder, &format!("/api/v2/workspaces/{}", ids[0]), 3).await;
    for name in names {
        assert!(
            get(cp, workspaces(), &ns, name).await.is_some(),
            "{name} was removed"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_token_shows_in_coder_reachable_and_on_the_control_plane() {
    let cp = setup().await;
    let mut coder = coder_namespace(cp, "coder-401").await;
    let ns = coder.namespace.clone();
    apply_template(cp, &coder, "docker").await;
    let reachable = |reason: &'static str| {
        let ns = ns.clone();
        async move {
            envtest::poll_until(&format!("CoderReachable reason {reason}"), WAIT, || async {
                let object = get(cp, templates(), &ns, "coder.docker").await.unwrap();
                match condition(&object, "CoderReachable") {
                    Some(c) if c["reason"] == reason => Ok(c.clone()),
                    other => Err(format!("{other:?}")),
                }
            })
            .await
        }
    };

    coder.fake.stop().await;
    let down = reachable("CoderdUnreachable").await;
    assert_eq!(down["status"], "False");
    // coderd comes back no longer accepting the operator token (revoked while it was down, so
    // that no round in between succeeds): the condition follows.
    coder.fake.admin().expire_key(&coder.token).expect("expire");
    coder.fake.restart().await;
    let rejected = reachable("OperatorTokenRejected").await;
    assert_eq!(rejected["status"], "False");
    let message = rejected["message"].as_str().unwrap_or("");
    assert!(message.contains("401"), "{message}");
    assert!(!message.contains("unreachable"), "{message}");

    // The rejection is recorded on the CoderControlPlane for the controller.
    let planes: Api<DynamicObject> =
        Api::namespaced_with(cp.admin_client().await, &ns, &control_plane_resource());
    let at = envtest::poll_until("the rejection annotation", WAIT, || async {
        let plane = planes.get("coder").await.map_err(|e| e.to_string())?;
        plane
            .metadata
            .annotations
            .unwrap_or_default()
            .get("coder.com/operator-token-rejected-at")
            .cloned()
            .ok_or_else(|| "not yet".to_string())
    })
    .await;
    assert!(at.parse::<jiff::Timestamp>().is_ok(), "{at}");

    // A working token again (as the controller would store it): the sync recovers.
    let token = coder.fake.admin().api_token(OWNER).expect("API token");
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(cp.admin_client().await, &ns);
    secrets
        .patch(
            "coder-operator-token",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(serde_json::json!({"stringData": {"token": token}})),
        )
        .await
        .expect("store a working token");
    reachable("Reachable").await;

    // Many rounds (every 200 ms) failed, yet the log said so once per change of state: WARN
    // for unreachable, WARN for the rejected token, INFO for the recovery.
    let log = std::fs::read_to_string(&SERVER.get().expect("server").log).expect("server log");
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(ns.as_str())).collect();
    let failing: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("cannot sync with coderd"))
        .collect();
    assert_eq!(failing.len(), 2, "{failing:#?}");
    assert!(failing.iter().all(|l| l.contains("WARN")), "{failing:#?}");
    assert!(failing[0].contains("unreachable"), "{}", failing[0]);
    assert!(failing[1].contains("401"), "{}", failing[1]);
    let recovered: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("coderd answers the sync again"))
        .collect();
    assert_eq!(recovered.len(), 1, "{recovered:#?}");
    assert!(recovered[0].contains("INFO"), "{}", recovered[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_template_in_an_unknown_organization_uploads_nothing() {
    let cp = setup().await;
    let coder = coder_namespace(cp, "coder-org").await;
    let ns = coder.namespace.clone();
    coder.fake.clear_requests();
    let (ok, _, stderr) = kubectl(
        cp,
        &["apply", "-f", "-"],
        Some(&template_manifest(&ns, "nope.docker", MAIN_TF, "")),
    )
    .await;
    assert!(!ok, "a template in an unknown organization must be refused");
    assert!(
        stderr.contains("NotFound") || stderr.contains("not found"),
        "{stderr}"
    );
    assert!(stderr.contains("nope"), "{stderr}");
    let requests = coder.fake.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.path == "/api/v2/organizations/nope"),
        "{requests:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "POST" && r.path == "/api/v2/files"),
        "files were uploaded for a create that cannot succeed: {requests:?}"
    );
    assert!(coder.fake.admin().files().is_empty());
    assert!(get(cp, templates(), &ns, "nope.docker").await.is_none());
}
