//! The client against a tiny in-test HTTP server that answers with codersdk-shaped bodies
//! (written from coderd's API reference): headers sent, bodies decoded, errors parsed,
//! pagination followed, transport failures classified.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use serde_json::{Value, json};
use uuid::Uuid;

use super::*;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub(super) struct Seen {
    pub(super) method: Method,
    pub(super) uri: Uri,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Seen {
    pub(super) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    fn query(&self) -> BTreeMap<String, String> {
        serde_urlencoded::from_str(self.uri.query().unwrap_or("")).unwrap()
    }
}

type Answer = Arc<dyn Fn(&Seen) -> (StatusCode, String) + Send + Sync>;

#[derive(Clone)]
struct Server {
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Answer,
    delay: Duration,
}

async fn handle(
    State(server): State<Server>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let seen = Seen {
        method,
        uri,
        headers,
        body,
    };
    server.seen.lock().unwrap().push(seen.clone());
    tokio::time::sleep(server.delay).await;
    let (status, body) = (server.answer)(&seen);
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// Starts a server on 127.0.0.1 answering every request with `answer`; returns its URL and
/// the requests it records. The server lives as long as the test's runtime.
pub(super) async fn serve(
    delay: Duration,
    answer: impl Fn(&Seen) -> (StatusCode, String) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let state = Server {
        seen: seen.clone(),
        answer: Arc::new(answer),
        delay,
    };
    let router = Router::new().fallback(handle).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, seen)
}

pub(super) fn client(url: &str) -> CoderClient {
    CoderClient::new(
        url,
        ClientOptions {
            timeout: Duration::from_secs(5),
            tls: None,
        },
    )
    .unwrap()
}

const TOKEN: &str = "Xa1b2c3d4e-Zy9x8w7v6u5t4s3r2q1p0";
const ALICE_ID: &str = "a8f5c3e2-6f2b-4c5d-9d1e-1f2a3b4c5d6e";

fn alice() -> Value {
    json!({
        "id": ALICE_ID,
        "username": "alice",
        "name": "Alice",
        "email": "alice@example.com",
        "created_at": "2026-11-30T08:00:00.123456Z",
        "updated_at": "2026-11-30T08:00:00Z",
        "last_seen_at": "2026-11-30T08:05:00Z",
        "status": "active",
        "login_type": "password",
        "organization_ids": ["5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c"],
        "roles": [{"name": "owner", "display_name": "Owner"}],
        "theme_preference": ""
    })
}

fn job(status: &str) -> Value {
    json!({
        "id": "0a0b0c0d-1111-2222-3333-444455556666",
        "created_at": "2026-11-30T08:00:00Z",
        "started_at": null,
        "status": status,
        "error": "",
        "file_id": "9b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
        "tags": {"scope": "organization"},
        "queue_position": 0,
        "queue_size": 0,
        "organization_id": "5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c",
        "type": "workspace_build",
        "metadata": {}
    })
}

fn workspace(n: usize) -> Value {
    let id = Uuid::from_u128(n as u128 + 1);
    json!({
        "id": id,
        "created_at": "2026-11-30T08:00:00Z",
        "updated_at": "2026-11-30T08:00:00Z",
        "owner_id": ALICE_ID,
        "owner_name": "alice",
        "organization_id": "5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c",
        "organization_name": "coder",
        "template_id": "7d4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
        "template_name": "docker",
        "template_active_version_id": "6c5b4a39-2817-4f6e-8d7c-1b2a3c4d5e6f",
        "latest_build": {
            "id": Uuid::from_u128(10_000 + n as u128),
            "workspace_id": id,
            "workspace_name": format!("ws-{n}"),
            "workspace_owner_id": ALICE_ID,
            "workspace_owner_name": "alice",
            "template_version_id": "6c5b4a39-2817-4f6e-8d7c-1b2a3c4d5e6f",
            "template_version_name": "v1",
            "build_number": 1,
            "transition": "start",
            "initiator_id": ALICE_ID,
            "initiator_name": "alice",
            "job": job("succeeded"),
            "reason": "initiator",
            "resources": [],
            "deadline": "2026-11-30T16:00:00Z",
            "max_deadline": null,
            "status": "running",
            "daily_cost": 0
        },
        "outdated": false,
        "name": format!("ws-{n}"),
        "autostart_schedule": "CRON_TZ=UTC 30 9 * * 1-5",
        "ttl_ms": 28800000,
        "last_used_at": "2026-11-30T08:30:00Z",
        "deleting_at": null,
        "dormant_at": null,
        "health": {"healthy": true, "failing_agents": []},
        "automatic_updates": "never",
        "allow_renames": false,
        "favorite": false,
        "next_start_at": null
    })
}

#[tokio::test]
async fn me_sends_the_token_header_and_decodes_the_user() {
    let (url, seen) = serve(Duration::ZERO, |_| (StatusCode::OK, alice().to_string())).await;
    let me = client(&url)
        .with_token(SessionToken::new(TOKEN))
        .me()
        .await
        .unwrap();
    assert_eq!(me.username, "alice");
    assert_eq!(me.id.to_string(), ALICE_ID);
    assert!(me.is_owner());
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].uri.path(), "/api/v2/users/me");
    assert_eq!(seen[0].headers["coder-session-token"], TOKEN);
}

#[tokio::test]
async fn without_a_token_no_header_is_sent() {
    let (url, seen) = serve(Duration::ZERO, |_| (StatusCode::NOT_FOUND, String::new())).await;
    assert!(!client(&url).has_first_user().await.unwrap());
    assert!(
        !seen.lock().unwrap()[0]
            .headers
            .contains_key("coder-session-token")
    );
}

#[tokio::test]
async fn first_user_login_and_token_bodies_follow_codersdk() {
    let (url, seen) = serve(Duration::ZERO, |seen| match seen.uri.path() {
        "/api/v2/users/first" if seen.method == Method::GET => (StatusCode::OK, "{}".into()),
        "/api/v2/users/first" => (
            StatusCode::CREATED,
            json!({"user_id": ALICE_ID, "organization_id": "5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c"})
                .to_string(),
        ),
        "/api/v2/users/login" => (
            StatusCode::CREATED,
            json!({"session_token": "sess1abcde-sessionsecret"}).to_string(),
        ),
        "/api/v2/users/me/keys/tokens" => (
            StatusCode::CREATED,
            json!({"key": "tok1abcdef-tokensecret"}).to_string(),
        ),
        _ => (StatusCode::NOT_FOUND, "{}".into()),
    })
    .await;
    let coderd = client(&url);
    assert!(coderd.has_first_user().await.unwrap());
    let created = coderd
        .create_first_user(&CreateFirstUser {
            email: "admin@coder-k8s.local".into(),
            username: "coder-k8s-admin".into(),
            name: "coder-k8s".into(),
            password: Password::new("p4ssw0rd-long-enough"),
            trial: false,
        })
        .await
        .unwrap();
    assert_eq!(created.user_id.to_string(), ALICE_ID);
    let session = coderd
        .login(
            "admin@coder-k8s.local",
            &Password::new("p4ssw0rd-long-enough"),
        )
        .await
        .unwrap();
    assert_eq!(session.expose(), "sess1abcde-sessionsecret");
    let token = coderd
        .with_token(session)
        .create_api_token(ME, "coder-k8s-operator", Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(token.key.key_id(), Some("tok1abcdef"));

    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[1].json(),
        json!({"email": "admin@coder-k8s.local", "username": "coder-k8s-admin",
               "name": "coder-k8s", "password": "p4ssw0rd-long-enough", "trial": false})
    );
    assert_eq!(
        seen[2].json(),
        json!({"email": "admin@coder-k8s.local", "password": "p4ssw0rd-long-enough"})
    );
    // Go's time.Duration travels as nanoseconds.
    assert_eq!(
        seen[3].json(),
        json!({"lifetime": 3_600_000_000_000_i64, "token_name": "coder-k8s-operator"})
    );
    assert_eq!(
        seen[3].headers["coder-session-token"],
        "sess1abcde-sessionsecret"
    );
}

#[tokio::test]
async fn api_errors_carry_status_message_detail_and_endpoint() {
    let (url, _) = serve(Duration::ZERO, |seen| match seen.uri.path() {
        "/api/v2/users/nobody" => (
            StatusCode::NOT_FOUND,
            json!({"message": "Resource not found or you do not have access to this resource"})
                .to_string(),
        ),
        "/api/v2/users/me" => (
            StatusCode::UNAUTHORIZED,
            json!({"message": "API key is invalid.", "detail": "key expired"}).to_string(),
        ),
        "/api/v2/organizations" => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "upstream exploded (not json)".into(),
        ),
        _ => (StatusCode::SERVICE_UNAVAILABLE, String::new()),
    })
    .await;
    let coderd = client(&url);

    let error = coderd.user("nobody").await.unwrap_err();
    assert!(error.is_not_found(), "{error}");
    assert_eq!(
        error.to_string(),
        "GET /api/v2/users/{user}: coderd answered 404 Not Found: \
         Resource not found or you do not have access to this resource"
    );

    let error = coderd.me().await.unwrap_err();
    assert!(error.is_unauthorized());
    let CoderError::Api { detail, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(detail.as_deref(), Some("key expired"));

    let error = coderd.organizations().await.unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    assert!(error.to_string().contains("upstream exploded"), "{error}");
    assert!(!error.is_unavailable());

    let error = coderd.templates().await.unwrap_err();
    assert!(error.is_unavailable(), "{error}");
}

#[tokio::test]
async fn a_success_body_that_is_not_codersdk_is_a_decode_error() {
    let (url, _) = serve(Duration::ZERO, |_| {
        (StatusCode::OK, "<html>login</html>".into())
    })
    .await;
    let error = client(&url).organizations().await.unwrap_err();
    assert!(
        matches!(error, CoderError::Decode { endpoint, .. } if endpoint.path == "/api/v2/organizations"),
        "{error:?}"
    );
}

#[tokio::test]
async fn workspaces_follow_pagination_until_count() {
    const TOTAL: usize = 250;
    let (url, seen) = serve(Duration::ZERO, |seen| {
        let query = seen.query();
        let offset: usize = query.get("offset").map_or(0, |o| o.parse().unwrap());
        let limit: usize = query["limit"].parse().unwrap();
        let page: Vec<Value> = (offset..(offset + limit).min(TOTAL))
            .map(workspace)
            .collect();
        (
            StatusCode::OK,
            json!({"workspaces": page, "count": TOTAL}).to_string(),
        )
    })
    .await;
    let filter = WorkspaceFilter {
        owner: Some("alice".into()),
        ..Default::default()
    };
    let all = client(&url).workspaces(&filter).await.unwrap();
    assert_eq!(all.len(), TOTAL);
    let ids: std::collections::BTreeSet<Uuid> = all.iter().map(|w| w.id).collect();
    assert_eq!(ids.len(), TOTAL, "no workspace twice");
    assert_eq!(all[0].latest_build.status, WorkspaceStatus::Running);
    assert_eq!(all[0].ttl_millis, Some(28_800_000));
    assert!(all[0].latest_build.max_deadline.is_none());
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "three pages of 100");
    // Pages after the first are asked for together, so they may arrive in any order.
    let mut offsets: Vec<String> = seen.iter().map(|s| s.query()["offset"].clone()).collect();
    offsets[1..].sort();
    assert_eq!(offsets, ["0", "100", "200"]);
    assert!(seen.iter().all(|s| s.query()["q"] == "owner:\"alice\""));
}

#[tokio::test]
async fn an_empty_page_ends_pagination_even_if_count_says_more() {
    let (url, seen) = serve(Duration::ZERO, |seen| {
        let offset: usize = seen.query().get("offset").map_or(0, |o| o.parse().unwrap());
        let page: Vec<Value> = if offset == 0 {
            (0..2).map(workspace).collect()
        } else {
            Vec::new()
        };
        (
            StatusCode::OK,
            json!({"workspaces": page, "count": 5}).to_string(),
        )
    })
    .await;
    let all = client(&url)
        .workspaces(&WorkspaceFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(seen.lock().unwrap().len(), 2);
}

/// The first page's `count` tells how many pages follow: they are asked for together, so a
/// walk over many workspaces takes a few page times rather than one per page. Each later page
/// is held (bounded) until another later page has arrived too, which only a walk that has
/// several in flight at once achieves.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pages_after_the_first_are_asked_for_together() {
    const TOTAL: usize = 450;
    // Later pages being answered right now.
    let in_flight = Arc::new((Mutex::new(0usize), std::sync::Condvar::new()));
    let overlapped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (url, seen) = serve(Duration::ZERO, {
        let in_flight = in_flight.clone();
        let overlapped = overlapped.clone();
        move |seen| {
            let offset: usize = seen.query().get("offset").map_or(0, |o| o.parse().unwrap());
            if offset > 0 {
                let (in_flight, arrival) = &*in_flight;
                let mut in_flight = in_flight.lock().unwrap();
                *in_flight += 1;
                arrival.notify_all();
                let (mut in_flight, _) = arrival
                    .wait_timeout_while(in_flight, Duration::from_secs(2), |n| {
                        *n < 2 && !overlapped.load(std::sync::atomic::Ordering::SeqCst)
                    })
                    .unwrap();
                if *in_flight >= 2 {
                    overlapped.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                *in_flight -= 1;
            }
            let page: Vec<Value> = (offset..(offset + 100).min(TOTAL)).map(workspace).collect();
            (
                StatusCode::OK,
                json!({"workspaces": page, "count": TOTAL}).to_string(),
            )
        }
    })
    .await;
    let all = client(&url)
        .workspaces(&WorkspaceFilter::default())
        .await
        .unwrap();
    assert_eq!(all.len(), TOTAL);
    assert!(
        overlapped.load(std::sync::atomic::Ordering::SeqCst),
        "the pages after the first were asked for one at a time"
    );
    let mut offsets: Vec<usize> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.query()["offset"].parse().unwrap())
        .collect();
    offsets.sort();
    assert_eq!(offsets, [0, 100, 200, 300, 400], "each page once");
}

#[tokio::test]
async fn upload_sends_the_tar_and_reads_the_hash() {
    let file_id = "9b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";
    let (url, seen) = serve(Duration::ZERO, move |_| {
        (StatusCode::CREATED, json!({"hash": file_id}).to_string())
    })
    .await;
    let files = BTreeMap::from([("main.tf".to_string(), "terraform {}".to_string())]);
    let tar = pack_template_files(&files).unwrap();
    let id = client(&url).upload_tar(tar.clone()).await.unwrap();
    assert_eq!(id.to_string(), file_id);
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].uri.path(), "/api/v2/files");
    assert_eq!(seen[0].headers["content-type"], "application/x-tar");
    assert_eq!(seen[0].body.as_ref(), tar.as_slice());
}

#[tokio::test]
async fn template_version_and_template_round_trip() {
    let org = "5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c";
    let version_id = "6c5b4a39-2817-4f6e-8d7c-1b2a3c4d5e6f";
    let template_id = "7d4c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    let template = json!({
        "id": template_id, "organization_id": org, "organization_name": "coder",
        "name": "docker", "display_name": "Docker", "description": "", "icon": "",
        "active_version_id": version_id, "deprecated": false, "deprecation_message": "",
        "created_at": "2026-11-30T08:00:00Z", "updated_at": "2026-11-30T08:00:00Z",
        "default_ttl_ms": 3600000, "activity_bump_ms": 3600000,
        "autostop_requirement": {"days_of_week": [], "weeks": 1},
        "autostart_requirement": {"days_of_week": ["monday"]},
        "allow_user_autostart": true, "allow_user_autostop": true,
        "allow_user_cancel_workspace_jobs": false, "failure_ttl_ms": 0,
        "time_til_dormant_ms": 0, "time_til_dormant_autodelete_ms": 0,
        "require_active_version": false, "provisioner": "terraform",
        "build_time_stats": {}, "active_user_count": 0, "created_by_id": ALICE_ID,
        "created_by_name": "alice"
    });
    let version = json!({
        "id": version_id, "template_id": null, "organization_id": org,
        "created_at": "2026-11-30T08:00:00Z", "updated_at": "2026-11-30T08:00:00Z",
        "name": "v1", "message": "", "job": job("failed"), "readme": "",
        "created_by": {"id": ALICE_ID, "username": "alice"}, "archived": false
    });
    let (url, seen) = serve(Duration::ZERO, move |seen| {
        match (seen.method.as_str(), seen.uri.path()) {
            ("POST", p) if p.ends_with("/templateversions") => {
                (StatusCode::CREATED, version.to_string())
            }
            ("GET", p) if p.starts_with("/api/v2/templateversions/") => {
                let mut failed = version.clone();
                failed["job"]["error"] = json!("terraform init: exit status 1");
                (StatusCode::OK, failed.to_string())
            }
            ("POST", p) if p.ends_with("/templates") => (StatusCode::CREATED, template.to_string()),
            ("PATCH", p) if p.ends_with("/versions") => (
                StatusCode::OK,
                json!({"message": "Updated the active template version!"}).to_string(),
            ),
            ("PATCH", _) => (StatusCode::NOT_MODIFIED, String::new()),
            ("GET", _) => (StatusCode::OK, template.to_string()),
            _ => (StatusCode::METHOD_NOT_ALLOWED, String::new()),
        }
    })
    .await;
    let coderd = client(&url);
    let created = coderd
        .create_template_version(
            org,
            &CreateTemplateVersion {
                file_id: Uuid::from_u128(7),
                name: Some("v1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(created.template_id, None);
    assert_eq!(created.job.status, ProvisionerJobStatus::Failed);
    let polled = coderd.template_version(created.id).await.unwrap();
    assert_eq!(polled.job.error, "terraform init: exit status 1");

    let template = coderd
        .create_template(
            org,
            &CreateTemplate {
                name: "docker".into(),
                display_name: "Docker".into(),
                template_version_id: created.id,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(template.autostart_requirement.days_of_week, ["monday"]);
    coderd
        .promote_template_version(template.id, created.id)
        .await
        .unwrap();
    // 304 Not Modified: the template is read back instead of decoding an empty body.
    let unchanged = coderd
        .update_template_meta(template.id, &UpdateTemplateMeta::from_template(&template))
        .await
        .unwrap();
    assert_eq!(unchanged, template);

    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].json(),
        json!({"file_id": Uuid::from_u128(7), "name": "v1", "provisioner": "terraform",
               "tags": {}, "storage_method": "file"})
    );
    assert_eq!(
        seen[0].uri.path(),
        format!("/api/v2/organizations/{org}/templateversions")
    );
    assert_eq!(
        seen[2].json(),
        json!({"name": "docker", "display_name": "Docker", "template_version_id": created.id})
    );
    assert_eq!(seen[3].json(), json!({"id": created.id}));
    let patch = seen[4].json();
    assert_eq!(
        patch["default_ttl_ms"], 3_600_000,
        "settings are sent back unchanged"
    );
    assert_eq!(patch["autostop_requirement"]["weeks"], 1);
    assert_eq!(seen[5].method, Method::GET);
}

#[tokio::test]
async fn workspace_create_build_ttl_and_autostart_requests() {
    let (url, seen) = serve(Duration::ZERO, |seen| {
        match (seen.method.as_str(), seen.uri.path()) {
            ("POST", "/api/v2/users/alice/workspaces") => {
                (StatusCode::CREATED, workspace(0).to_string())
            }
            ("POST", p) if p.ends_with("/builds") => {
                let mut build = workspace(0)["latest_build"].clone();
                build["transition"] = json!("stop");
                build["status"] = json!("stopping");
                build["job"] = job("pending");
                (StatusCode::CREATED, build.to_string())
            }
            ("PUT", _) => (StatusCode::NO_CONTENT, String::new()),
            _ => (
                StatusCode::NOT_FOUND,
                json!({"message": "nope"}).to_string(),
            ),
        }
    })
    .await;
    let coderd = client(&url);
    let created = coderd
        .create_workspace(
            "alice",
            &CreateWorkspace {
                template_id: Some(Uuid::from_u128(9)),
                name: "ws-0".into(),
                ttl_millis: Some(3_600_000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let build = coderd
        .create_workspace_build(
            created.id,
            &CreateWorkspaceBuild {
                transition: WorkspaceTransition::Stop,
                template_version_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(build.status, WorkspaceStatus::Stopping);
    assert_eq!(build.job.status, ProvisionerJobStatus::Pending);
    coderd.update_workspace_ttl(created.id, None).await.unwrap();
    coderd
        .update_workspace_autostart(created.id, Some("CRON_TZ=UTC 0 9 * * *"))
        .await
        .unwrap();
    let error = coderd.workspace_build(Uuid::nil()).await.unwrap_err();
    assert_eq!(
        error.endpoint().unwrap().path,
        "/api/v2/workspacebuilds/{workspacebuild}"
    );

    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].json(),
        json!({"template_id": Uuid::from_u128(9), "name": "ws-0", "ttl_ms": 3_600_000})
    );
    assert_eq!(seen[1].json(), json!({"transition": "stop"}));
    assert_eq!(
        seen[2].uri.path(),
        format!("/api/v2/workspaces/{}/ttl", created.id)
    );
    assert_eq!(seen[2].json(), json!({"ttl_ms": null}));
    assert_eq!(seen[3].json(), json!({"schedule": "CRON_TZ=UTC 0 9 * * *"}));
}

#[tokio::test]
async fn a_slow_coderd_is_a_timeout() {
    let (url, _) = serve(Duration::from_secs(5), |_| (StatusCode::OK, "[]".into())).await;
    let coderd = CoderClient::new(
        &url,
        ClientOptions {
            timeout: Duration::from_millis(200),
            tls: None,
        },
    )
    .unwrap();
    let error = coderd.organizations().await.unwrap_err();
    assert!(matches!(error, CoderError::Timeout { .. }), "{error:?}");
    assert!(error.is_unavailable());
    assert!(
        error.to_string().starts_with("GET /api/v2/organizations: "),
        "{error}"
    );
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let error = client(&url).has_first_user().await.unwrap_err();
    assert!(matches!(error, CoderError::Unreachable { .. }), "{error:?}");
    assert!(error.is_unavailable());
    assert_eq!(error.status(), None);
    // The cause is spelled out, not only hyper's "client error (Connect)".
    assert!(
        error.to_string().to_lowercase().contains("refused"),
        "{error}"
    );
}

#[tokio::test]
async fn path_segments_from_callers_are_escaped() {
    let (url, seen) = serve(Duration::ZERO, |_| (StatusCode::NOT_FOUND, String::new())).await;
    let _ = client(&url).template_by_name("my org", "a/b").await;
    assert_eq!(
        seen.lock().unwrap()[0].uri.path(),
        "/api/v2/organizations/my%20org/templates/a%2Fb"
    );
}

#[tokio::test]
async fn token_config_gives_the_lifetime_cap() {
    let (url, seen) = serve(Duration::ZERO, |_| {
        (
            StatusCode::OK,
            json!({"max_token_lifetime": 604_800_000_000_000_i64}).to_string(),
        )
    })
    .await;
    let max = client(&url).max_token_lifetime(ME).await.unwrap();
    assert_eq!(max, Duration::from_secs(7 * 24 * 3600));
    assert_eq!(
        seen.lock().unwrap()[0].uri.path(),
        "/api/v2/users/me/keys/tokens/tokenconfig"
    );
}

#[tokio::test]
async fn entitlements_decode_and_tell_which_features_are_usable() {
    let body = json!({
        "features": {
            "external_provisioner_daemons": {"entitlement": "entitled", "enabled": true, "limit": 5, "actual": 1},
            "workspace_proxy": {"entitlement": "not_entitled", "enabled": false},
            "audit_log": {"entitlement": "grace_period", "enabled": true},
            "future_thing": {"entitlement": "something_new", "enabled": true}
        },
        "warnings": ["license expires soon"],
        "errors": [],
        "has_license": true,
        "trial": false,
        "require_telemetry": false,
        "refreshed_at": "2026-12-07T10:00:00Z"
    });
    let (url, seen) = serve(Duration::ZERO, move |_| (StatusCode::OK, body.to_string())).await;
    let got = client(&url)
        .with_token(SessionToken::new(TOKEN))
        .entitlements()
        .await
        .unwrap();
    assert!(got.has_license);
    assert_eq!(got.warnings, vec!["license expires soon".to_string()]);
    assert!(got.allows(crate::coder::FEATURE_EXTERNAL_PROVISIONER_DAEMONS));
    assert!(!got.allows(crate::coder::FEATURE_WORKSPACE_PROXY));
    assert!(
        got.allows("audit_log"),
        "grace period still allows the feature"
    );
    assert!(
        !got.allows("future_thing"),
        "an unknown entitlement is not trusted"
    );
    assert!(!got.allows("not_listed"));
    assert_eq!(
        got.entitlement("not_listed"),
        crate::coder::Entitlement::NotEntitled
    );
    assert_eq!(got.features["external_provisioner_daemons"].limit, Some(5));
    assert_eq!(seen.lock().unwrap()[0].uri.path(), "/api/v2/entitlements");
}

#[tokio::test]
async fn workspace_proxy_calls_use_coderds_paths_and_treat_missing_proxies_as_absent() {
    const PROXY_ID: &str = "0a0b0c0d-1111-2222-3333-444455556666";
    let proxy = json!({"id": PROXY_ID, "name": "eu", "display_name": "Europe", "icon_url": "/i.png", "deleted": false});
    let answer = proxy.clone();
    let (url, seen) = serve(Duration::ZERO, move |req| {
        let path = req.uri.path();
        match (req.method.as_str(), path) {
            ("GET", "/api/v2/workspaceproxies") => (
                StatusCode::OK,
                json!({"regions": [answer.clone()]}).to_string(),
            ),
            ("GET", "/api/v2/workspaceproxies/eu") => (StatusCode::OK, answer.to_string()),
            ("POST", "/api/v2/workspaceproxies") => (
                StatusCode::CREATED,
                json!({"proxy": answer.clone(), "proxy_token": "id:secret-created"}).to_string(),
            ),
            ("PATCH", _) => (
                StatusCode::OK,
                json!({"proxy": answer.clone(), "proxy_token": ""}).to_string(),
            ),
            ("DELETE", "/api/v2/workspaceproxies/eu") => (
                StatusCode::OK,
                json!({"message": "Proxy has been deleted!"}).to_string(),
            ),
            (_, _) => (
                StatusCode::NOT_FOUND,
                json!({"message": "Resource not found or you do not have access to this resource"})
                    .to_string(),
            ),
        }
    })
    .await;
    let coderd = client(&url).with_token(SessionToken::new(TOKEN));

    assert_eq!(coderd.workspace_proxies().await.unwrap()[0].name, "eu");
    let found = coderd.workspace_proxy("eu").await.unwrap().expect("found");
    assert_eq!(found.display_name, "Europe");
    assert_eq!(coderd.workspace_proxy("gone").await.unwrap(), None);

    let created = coderd
        .create_workspace_proxy(&CreateWorkspaceProxy {
            name: "eu".into(),
            display_name: "Europe".into(),
            icon: "/i.png".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        created.proxy_token.as_ref().map(ProxyToken::expose),
        Some("id:secret-created")
    );
    let patched = coderd
        .patch_workspace_proxy(&PatchWorkspaceProxy {
            id: PROXY_ID.parse().unwrap(),
            name: "eu".into(),
            display_name: "Frankfurt".into(),
            icon: "/i.png".into(),
            regenerate_token: false,
        })
        .await
        .unwrap();
    assert_eq!(patched.proxy_token, None, "no token unless regenerated");
    assert!(coderd.delete_workspace_proxy("eu").await.unwrap());
    assert!(!coderd.delete_workspace_proxy("gone").await.unwrap());

    let seen = seen.lock().unwrap();
    let calls: Vec<String> = seen
        .iter()
        .map(|r| format!("{} {}", r.method, r.uri.path()))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /api/v2/workspaceproxies",
            "GET /api/v2/workspaceproxies/eu",
            "GET /api/v2/workspaceproxies/gone",
            "POST /api/v2/workspaceproxies",
            &format!("PATCH /api/v2/workspaceproxies/{PROXY_ID}"),
            "DELETE /api/v2/workspaceproxies/eu",
            "DELETE /api/v2/workspaceproxies/gone",
        ]
    );
    assert_eq!(
        seen[3].json(),
        json!({"name": "eu", "display_name": "Europe", "icon": "/i.png"})
    );
    assert_eq!(seen[4].json()["display_name"], "Frankfurt");
    assert!(
        seen.iter()
            .all(|r| r.headers.get("coder-session-token").is_some())
    );
}

#[tokio::test]
async fn workspace_proxy_errors_name_the_endpoint() {
    let (url, _) = serve(Duration::ZERO, |_| {
        (
            StatusCode::FORBIDDEN,
            json!({"message": "Workspace Proxy is a Premium feature. Contact sales!"}).to_string(),
        )
    })
    .await;
    let error = client(&url).delete_workspace_proxy("eu").await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("DELETE /api/v2/workspaceproxies/{workspaceproxy}: coderd answered 403"),
        "{text}"
    );
    assert!(text.contains("Premium feature"), "{text}");
}

#[tokio::test]
async fn licenses_upload_list_delete_and_refusals_follow_codersdk() {
    const JWT: &str = "eyJhbGciOiJFZERTQSJ9.eyJsaWNlbnNlX2V4cGlyZXMiOjF9.c2lnbmF0dXJl";
    let (url, seen) = serve(Duration::ZERO, |seen| {
        match (seen.method.as_str(), seen.uri.path()) {
            ("POST", "/api/v2/licenses") if seen.json()["license"] == JWT => (
                StatusCode::CREATED,
                json!({"id": 7, "uuid": "5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c",
                       "uploaded_at": "2026-12-07T10:00:00Z", "claims": {"trial": false}})
                .to_string(),
            ),
            ("POST", "/api/v2/licenses") => (
                StatusCode::BAD_REQUEST,
                json!({"message": "Invalid license", "detail": "invalid JWT: token is malformed"})
                    .to_string(),
            ),
            ("GET", "/api/v2/licenses") => (
                StatusCode::OK,
                json!([{"id": 7, "uploaded_at": "2026-12-07T10:00:00Z", "claims": {}}]).to_string(),
            ),
            ("DELETE", "/api/v2/licenses/7") => (StatusCode::OK, "{}".into()),
            _ => (StatusCode::NOT_FOUND, "{}".into()),
        }
    })
    .await;
    let coderd = client(&url).with_token(SessionToken::new(TOKEN));
    let license = coderd.add_license(&LicenseJwt::new(JWT)).await.unwrap();
    assert_eq!(license.id, 7);
    assert_eq!(license.claims["trial"], false);
    let error = coderd
        .add_license(&LicenseJwt::new("garbage"))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    let text = error.to_string();
    assert!(
        text.contains("Invalid license") && text.contains("token is malformed"),
        "{text}"
    );
    // The refused value is not repeated in the error.
    assert!(!text.contains("garbage"), "{text}");
    assert_eq!(coderd.licenses().await.unwrap().len(), 1);
    coderd.delete_license(7).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].json(), json!({"license": JWT}));
    assert_eq!(seen[0].headers["coder-session-token"], TOKEN);
    assert_eq!(seen[3].method, Method::DELETE);
}

#[test]
fn license_hash_is_sha256_of_the_trimmed_jwt_and_debug_is_redacted() {
    let jwt = LicenseJwt::new("abc\n");
    assert_eq!(
        jwt.sha256_hex(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(format!("{jwt:?}"), "LicenseJwt(<redacted>)");
}
