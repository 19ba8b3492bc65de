//! The coderd client (`coder_k8s::coder`) end to end against the fake coderd: first user,
//! login, API tokens, files, template versions and their asynchronous import jobs, templates,
//! workspaces and their builds, pagination, and how refusals and outages come back.

use std::collections::BTreeMap;
use std::time::Duration;

use coder_k8s::coder::{
    ClientOptions, CoderClient, CoderError, CreateFirstUser, CreateTemplate, CreateTemplateVersion,
    CreateWorkspace, CreateWorkspaceBuild, ME, Password, ProvisionerJobStatus, SessionToken,
    TemplateVersion, UpdateTemplateMeta, WorkspaceBuild, WorkspaceFilter, WorkspaceStatus,
    WorkspaceTransition, pack_template_files,
};
use fake_coderd::FakeCoderd;
use uuid::Uuid;

/// Upper bound of waits for the fake's asynchronous jobs (they take ~200 ms).
const WAIT: Duration = Duration::from_secs(20);

fn client(url: &str) -> CoderClient {
    CoderClient::new(
        url,
        ClientOptions {
            timeout: Duration::from_secs(5),
            tls: None,
        },
    )
    .expect("client")
}

fn files(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Bootstraps the fake as the operator does and returns a client holding an API token.
async fn owner(coder: &FakeCoderd) -> CoderClient {
    let anonymous = client(&coder.url());
    assert!(!anonymous.has_first_user().await.expect("first user?"));
    let password = Password::new("Operator-password-1!");
    anonymous
        .create_first_user(&CreateFirstUser {
            email: "admin@example.com".into(),
            username: "admin".into(),
            name: "Admin".into(),
            password: password.clone(),
            trial: false,
        })
        .await
        .expect("create first user");
    assert!(anonymous.has_first_user().await.expect("first user?"));
    let session = anonymous
        .login("admin@example.com", &password)
        .await
        .expect("login");
    let minted = anonymous
        .with_token(session)
        .create_api_token(ME, "client-test", Duration::from_secs(3600))
        .await
        .expect("mint token");
    anonymous.with_token(minted.key)
}

async fn version_finished(coderd: &CoderClient, id: Uuid) -> TemplateVersion {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let version = coderd.template_version(id).await.expect("version");
        if version.job.status.is_finished() {
            return version;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "import job still {:?}",
            version.job.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn build_finished(coderd: &CoderClient, id: Uuid) -> WorkspaceBuild {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let build = coderd.workspace_build(id).await.expect("build");
        if build.job.status.is_finished() {
            return build;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "build job still {:?}",
            build.job.status
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn import(
    coderd: &CoderClient,
    org: &str,
    content: &str,
    template: Option<Uuid>,
) -> TemplateVersion {
    let tar = pack_template_files(&files(&[("main.tf", content), ("README.md", "# docker")]))
        .expect("pack");
    let file = coderd.upload_tar(tar).await.expect("upload");
    let version = coderd
        .create_template_version(
            org,
            &CreateTemplateVersion {
                file_id: file,
                template_id: template,
                ..Default::default()
            },
        )
        .await
        .expect("create version");
    assert!(
        !version.job.status.is_finished(),
        "imports are asynchronous: {:?}",
        version.job.status
    );
    version_finished(coderd, version.id).await
}

#[tokio::test]
async fn first_user_to_running_workspace_and_back() {
    let coder = FakeCoderd::start().await;
    let coderd = owner(&coder).await;
    let me = coderd.me().await.expect("me");
    assert!(me.is_owner());
    assert_eq!(me.username, "admin");
    assert_eq!(coderd.user("admin").await.expect("user").id, me.id);

    let orgs = coderd.organizations().await.expect("organizations");
    let default = orgs.iter().find(|o| o.is_default).expect("default org");
    assert_eq!(
        coderd
            .organization(&default.name)
            .await
            .expect("by name")
            .id,
        default.id
    );
    let org = default.name.clone();

    // Version v1 imports, becomes a template.
    let v1 = import(&coderd, &org, "resource \"null_resource\" \"a\" {}", None).await;
    assert_eq!(v1.job.status, ProvisionerJobStatus::Succeeded);
    let template = coderd
        .create_template(
            &org,
            &CreateTemplate {
                name: "docker".into(),
                display_name: "Docker".into(),
                description: "containers".into(),
                template_version_id: v1.id,
                ..Default::default()
            },
        )
        .await
        .expect("create template");
    assert_eq!(template.active_version_id, v1.id);
    assert_eq!(
        coderd
            .template_by_name(&org, "docker")
            .await
            .expect("by name"),
        coderd.template(template.id).await.expect("by id")
    );
    assert!(
        coderd
            .templates()
            .await
            .expect("templates")
            .iter()
            .any(|t| t.id == template.id)
    );

    // Settings change; everything else is sent back as it was.
    let mut meta = UpdateTemplateMeta::from_template(&template);
    meta.display_name = "Docker containers".into();
    let updated = coderd
        .update_template_meta(template.id, &meta)
        .await
        .expect("update");
    assert_eq!(updated.display_name, "Docker containers");
    assert_eq!(updated.description, "containers");
    assert_eq!(updated.default_ttl_millis, template.default_ttl_millis);
    // The same settings again: coderd answers 304, the client reads the template back.
    let unchanged = coderd
        .update_template_meta(template.id, &meta)
        .await
        .expect("unchanged update");
    assert_eq!(unchanged.display_name, "Docker containers");

    // A failing import leaves the active version alone; a good one is promoted.
    let broken = import(
        &coderd,
        &org,
        "# fake-coderd: fail terraform plan: bad provider",
        Some(template.id),
    )
    .await;
    assert_eq!(broken.job.status, ProvisionerJobStatus::Failed);
    assert!(
        broken.job.error.contains("bad provider"),
        "{:?}",
        broken.job
    );
    let v2 = import(
        &coderd,
        &org,
        "resource \"null_resource\" \"b\" {}",
        Some(template.id),
    )
    .await;
    assert_eq!(v2.template_id, Some(template.id));
    coderd
        .promote_template_version(template.id, v2.id)
        .await
        .expect("promote");
    assert_eq!(
        coderd
            .template(template.id)
            .await
            .unwrap()
            .active_version_id,
        v2.id
    );

    // A workspace starts, stops, gets TTL and autostart.
    let workspace = coderd
        .create_workspace(
            ME,
            &CreateWorkspace {
                template_id: Some(template.id),
                name: "dev".into(),
                ttl_millis: Some(3_600_000),
                ..Default::default()
            },
        )
        .await
        .expect("create workspace");
    assert_eq!(
        workspace.latest_build.transition,
        WorkspaceTransition::Start
    );
    let started = build_finished(&coderd, workspace.latest_build.id).await;
    assert_eq!(started.status, WorkspaceStatus::Running);
    assert_eq!(started.template_version_id, v2.id);

    let stop = coderd
        .create_workspace_build(
            workspace.id,
            &CreateWorkspaceBuild {
                transition: WorkspaceTransition::Stop,
                template_version_id: None,
            },
        )
        .await
        .expect("stop");
    let stopped = build_finished(&coderd, stop.id).await;
    assert_eq!(stopped.status, WorkspaceStatus::Stopped);

    coderd
        .update_workspace_ttl(workspace.id, Some(7_200_000))
        .await
        .expect("ttl");
    coderd
        .update_workspace_autostart(workspace.id, Some("CRON_TZ=UTC 30 9 * * 1-5"))
        .await
        .expect("autostart");
    let read = coderd
        .workspace_by_owner_and_name("admin", "dev")
        .await
        .expect("by owner and name");
    assert_eq!(read.id, workspace.id);
    assert_eq!(read.ttl_millis, Some(7_200_000));
    assert_eq!(
        read.autostart_schedule.as_deref(),
        Some("CRON_TZ=UTC 30 9 * * 1-5")
    );
    assert_eq!(read.latest_build.status, WorkspaceStatus::Stopped);
    coderd
        .update_workspace_ttl(workspace.id, None)
        .await
        .expect("clear ttl");
    assert_eq!(
        coderd.workspace(workspace.id).await.unwrap().ttl_millis,
        None
    );

    // The template cannot go while a workspace uses it.
    let refused = coderd.delete_template(template.id).await.unwrap_err();
    assert!(
        refused.status().is_some_and(|s| s.is_client_error()),
        "{refused}"
    );
    assert!(!refused.is_unavailable());

    let delete = coderd
        .create_workspace_build(
            workspace.id,
            &CreateWorkspaceBuild {
                transition: WorkspaceTransition::Delete,
                template_version_id: None,
            },
        )
        .await
        .expect("delete build");
    assert_eq!(
        build_finished(&coderd, delete.id).await.status,
        WorkspaceStatus::Deleted
    );
    coderd
        .delete_template(template.id)
        .await
        .expect("delete template");
    assert!(
        coderd
            .template(template.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

/// Waits (bounded) until every build the fake knows of has succeeded.
async fn wait_until_every_build_succeeded(coder: &FakeCoderd) {
    for _ in 0..200 {
        let builds = coder.admin().builds();
        if builds
            .iter()
            .all(|b| b["job"]["status"].as_str() == Some("succeeded"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("builds did not finish within 10 s");
}

#[tokio::test]
async fn workspaces_are_listed_completely_while_coderds_order_shifts() {
    let coder = FakeCoderd::start().await;
    let coderd = owner(&coder).await;
    let org = coderd.organizations().await.unwrap()[0].name.clone();
    let version = import(&coderd, &org, "terraform {}", None).await;
    let template = coderd
        .create_template(
            &org,
            &CreateTemplate {
                name: "shifting".into(),
                template_version_id: version.id,
                ..Default::default()
            },
        )
        .await
        .expect("template");
    const TOTAL: usize = 230;
    for n in 0..TOTAL {
        coder
            .admin()
            .create_workspace("admin", &format!("ws-{n}"), template.id)
            .expect("workspace");
    }
    wait_until_every_build_succeeded(&coder).await;
    // The first page holds the first 100 names (all running). Stopping 50 of them right after
    // it was served moves them behind the running ones, so a single offset walk skips the 50
    // workspaces that slide into page one's place.
    let mut by_name: Vec<(String, Uuid)> = coder
        .admin()
        .workspaces()
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_lowercase(),
                w["id"].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect();
    by_name.sort();
    let to_stop: Vec<Uuid> = by_name.iter().take(50).map(|(_, id)| *id).collect();
    coder.clear_requests();
    // Each request waits this long before coderd handles it: the window in which the stops
    // land between page one and page two.
    coder.set_latency(Duration::from_millis(300));
    let listing = {
        let coderd = coderd.clone();
        tokio::spawn(async move {
            coderd
                .workspaces(&WorkspaceFilter {
                    owner: Some("admin".into()),
                    ..Default::default()
                })
                .await
        })
    };
    let mut shifted = false;
    for _ in 0..400 {
        if coder
            .requests()
            .iter()
            .any(|r| r.path == "/api/v2/workspaces")
        {
            for id in &to_stop {
                coder.admin().stop_workspace(*id).expect("stop");
            }
            shifted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(shifted, "the first page was never requested");
    let all = listing.await.unwrap().expect("list");
    let ids: std::collections::BTreeSet<Uuid> = all.iter().map(|w| w.id).collect();
    assert_eq!(ids.len(), TOTAL, "every workspace listed once");
    assert_eq!(all.len(), TOTAL, "no workspace listed twice");
    let pages = coder
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/workspaces")
        .count();
    assert!(pages > 3, "a second pass was needed, saw {pages} pages");
}

#[tokio::test]
async fn workspaces_are_listed_across_pages() {
    let coder = FakeCoderd::start().await;
    let coderd = owner(&coder).await;
    let org = coderd.organizations().await.unwrap()[0].name.clone();
    let version = import(&coderd, &org, "terraform {}", None).await;
    let template = coderd
        .create_template(
            &org,
            &CreateTemplate {
                name: "many".into(),
                template_version_id: version.id,
                ..Default::default()
            },
        )
        .await
        .expect("template");
    const TOTAL: usize = 230;
    for n in 0..TOTAL {
        coder
            .admin()
            .create_workspace("admin", &format!("ws-{n}"), template.id)
            .expect("workspace");
    }
    // coderd lists running workspaces first: let every build finish so the order is stable
    // and the page count below is exact (a shifting order is the next test's subject).
    wait_until_every_build_succeeded(&coder).await;
    coder.clear_requests();
    let all = coderd
        .workspaces(&WorkspaceFilter {
            owner: Some("admin".into()),
            ..Default::default()
        })
        .await
        .expect("list");
    assert_eq!(all.len(), TOTAL);
    let ids: std::collections::BTreeSet<Uuid> = all.iter().map(|w| w.id).collect();
    assert_eq!(ids.len(), TOTAL);
    let pages = coder
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v2/workspaces")
        .count();
    assert_eq!(pages, 3, "pages of 100");

    let none = coderd
        .workspaces(&WorkspaceFilter {
            owner: Some("nobody-here".into()),
            ..Default::default()
        })
        .await;
    // coderd answers an unknown owner with an empty list or a 400; either is not a crash.
    if let Ok(none) = none {
        assert!(none.is_empty());
    }
}

#[tokio::test]
async fn tokens_can_be_read_and_revoked() {
    let coder = FakeCoderd::start().await;
    let coderd = owner(&coder).await;
    let minted = coderd
        .create_api_token(ME, "second", Duration::from_secs(600))
        .await
        .expect("mint");
    let by_name = coderd.api_token(ME, "second").await.expect("by name");
    let id = minted.key.key_id().expect("key id").to_string();
    assert_eq!(by_name.id, id);
    let by_id = coderd.api_key(ME, &id).await.expect("by id");
    let lifetime = by_id
        .expires_at
        .duration_since(by_id.created_at.expect("created_at"));
    assert!(
        (590..=610).contains(&lifetime.as_secs()),
        "10 minutes asked, {lifetime:?} granted"
    );
    let second = client(&coder.url()).with_token(minted.key.clone());
    assert_eq!(second.me().await.expect("works").username, "admin");
    coderd.delete_api_token(ME, &id).await.expect("revoke");
    assert!(second.me().await.unwrap_err().is_unauthorized());
    assert!(
        coderd
            .api_token(ME, "second")
            .await
            .unwrap_err()
            .is_not_found()
    );

    // Wrong password and no token: 401 with coderd's message.
    let refused = client(&coder.url())
        .login("admin@example.com", &Password::new("wrong-password"))
        .await
        .unwrap_err();
    assert!(refused.is_unauthorized(), "{refused}");
    let anonymous = client(&coder.url()).me().await.unwrap_err();
    assert!(anonymous.is_unauthorized(), "{anonymous}");
    let bogus = client(&coder.url())
        .with_token(SessionToken::new("abcdefghij-notatoken0000000"))
        .me()
        .await
        .unwrap_err();
    assert!(bogus.is_unauthorized(), "{bogus}");
    let CoderError::Api { message, .. } = &bogus else {
        panic!("{bogus:?}")
    };
    assert!(!message.is_empty());
}

#[tokio::test]
async fn a_hanging_import_can_be_canceled() {
    let coder = FakeCoderd::start().await;
    let coderd = owner(&coder).await;
    let tar = pack_template_files(&files(&[("main.tf", "# fake-coderd: hang")])).unwrap();
    let file = coderd.upload_tar(tar).await.unwrap();
    let version = coderd
        .create_template_version(
            "coder",
            &CreateTemplateVersion {
                file_id: file,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    coderd
        .cancel_template_version(version.id)
        .await
        .expect("cancel");
    let done = version_finished(&coderd, version.id).await;
    assert_eq!(done.job.status, ProvisionerJobStatus::Canceled);
}

#[tokio::test]
async fn unknown_things_are_not_found_and_bad_input_is_a_400() {
    let coder = FakeCoderd::start().await;
    let coderd = owner(&coder).await;
    assert!(
        coderd
            .organization("no-such-org")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        coderd
            .template_by_name("coder", "no-such-template")
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(
        coderd
            .workspace(Uuid::from_u128(1))
            .await
            .unwrap_err()
            .is_not_found()
    );
    let error = coderd
        .create_workspace(
            ME,
            &CreateWorkspace {
                template_id: Some(Uuid::from_u128(7)),
                name: "x".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    let status = error.status().expect("an answer");
    assert!(status.is_client_error(), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("POST /api/v2/users/{user}/workspaces: "),
        "{error}"
    );
}

#[tokio::test]
async fn an_outage_is_unavailable_and_passes() {
    let mut coder = FakeCoderd::start().await;
    let coderd = owner(&coder).await;
    coder.set_unavailable(true);
    let error = coderd.me().await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    coder.set_unavailable(false);

    coder.stop().await;
    let error = coderd.me().await.unwrap_err();
    assert!(matches!(error, CoderError::Unreachable { .. }), "{error:?}");
    assert!(error.is_unavailable());

    coder.restart().await;
    // The pool reconnects; the token still works (coderd's data survived).
    assert_eq!(coderd.me().await.expect("back").username, "admin");

    coder.set_latency(Duration::from_millis(500));
    let impatient = CoderClient::new(
        &coder.url(),
        ClientOptions {
            timeout: Duration::from_millis(100),
            tls: None,
        },
    )
    .unwrap();
    let error = impatient.has_first_user().await.unwrap_err();
    assert!(matches!(error, CoderError::Timeout { .. }), "{error:?}");
}
