//! Delegated authentication and authorization against the real kube-apiserver of the envtest
//! harness (RBAC, TokenReview, SubjectAccessReview, the aggregator and its front-proxy
//! certificate, the extension-apiserver-authentication ConfigMap it publishes).
//!
//! Our server runs in-process with `--authentication=delegated`. Its SubjectAccessReviews go
//! through a counting proxy on loopback (plain HTTP → kube-apiserver with the admin's
//! credentials), so the tests see exactly which reviews were made.

#[path = "common/apiserver_support.rs"]
mod apiserver_support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apiserver_support::{TestServer, assert_status, raw, ws_path};
use coder_k8s::api::aggregation::v1alpha1::{CoderWorkspace, CoderWorkspaceSpec};
use coder_k8s::apiserver::{self, AuthArgs, AuthenticationMode};
use envtest::{ApiServiceRegistration, CertificateAuthority, ControlPlane};
use http::Method;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

const GROUP: &str = "aggregation.coder.com";
const VERSION: &str = "v1alpha1";
const WAIT: Duration = Duration::from_secs(60);

/// SubjectAccessReview specs our server sent, in order.
#[derive(Default)]
struct Reviews(Mutex<Vec<serde_json::Value>>);

impl Reviews {
    /// Reviews of `user` for `verb` (resource or non-resource).
    fn count(&self, user: &str, verb: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|spec| {
                spec["user"] == user
                    && (spec["resourceAttributes"]["verb"] == verb
                        || spec["nonResourceAttributes"]["verb"] == verb)
            })
            .count()
    }

    fn any_for_group(&self, group: &str) -> bool {
        self.0.lock().unwrap().iter().any(|spec| {
            spec["groups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g == group))
        })
    }
}

/// A plain-HTTP proxy on 127.0.0.1 forwarding to kube-apiserver as the admin and recording
/// every SubjectAccessReview; returns a kubeconfig pointing at it.
async fn review_counting_proxy(cp: &ControlPlane) -> (PathBuf, Arc<Reviews>) {
    let client = cp.admin_client().await;
    let reviews = Arc::new(Reviews::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recorded = reviews.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (client, recorded) = (client.clone(), recorded.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let (client, recorded) = (client.clone(), recorded.clone());
                        async move {
                            let (parts, body) = request.into_parts();
                            let body = body.collect().await?.to_bytes();
                            if parts.uri.path().ends_with("/subjectaccessreviews")
                                && let Ok(review) =
                                    serde_json::from_slice::<serde_json::Value>(&body)
                            {
                                recorded.0.lock().unwrap().push(review["spec"].clone());
                            }
                            let mut forward = http::Request::builder().method(parts.method).uri(
                                parts
                                    .uri
                                    .path_and_query()
                                    .map(|p| p.as_str())
                                    .unwrap_or("/"),
                            );
                            for (name, value) in &parts.headers {
                                if name != http::header::HOST && name != http::header::AUTHORIZATION
                                {
                                    forward = forward.header(name, value);
                                }
                            }
                            let forward = forward
                                .body(kube::client::Body::from(body.to_vec()))
                                .unwrap();
                            let response = match client.send(forward).await {
                                Ok(response) => response,
                                Err(error) => {
                                    return Ok::<_, hyper::Error>(
                                        hyper::Response::builder()
                                            .status(502)
                                            .body(http_body_util::Full::new(bytes::Bytes::from(
                                                error.to_string(),
                                            )))
                                            .unwrap(),
                                    );
                                }
                            };
                            let (parts, body) = response.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            Ok(hyper::Response::from_parts(
                                parts,
                                http_body_util::Full::new(body),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    let kubeconfig = cp.unique_file("review-proxy", "kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: p, cluster: {{server: 'http://{addr}'}}}}]\n\
             users: [{{name: p, user: {{}}}}]\ncontexts: [{{name: p, context: {{cluster: p, user: p}}}}]\ncurrent-context: p\n"
        ),
    )
    .unwrap();
    (kubeconfig, reviews)
}

struct Ours {
    server: TestServer,
    reviews: Arc<Reviews>,
    ca_pem: String,
    port: u16,
}

/// Our server, delegating to the control plane: TokenReview and the ConfigMap as the admin,
/// SubjectAccessReview through the counting proxy (decisions cached 60 s, so a slow machine
/// cannot expire them mid-test).
async fn start_ours(cp: &ControlPlane) -> Ours {
    let (review_kubeconfig, reviews) = review_counting_proxy(cp).await;
    let ca = CertificateAuthority::new("e2e-auth serving CA");
    let ca_pem = ca.cert_pem();
    let service_name = ApiServiceRegistration::new(GROUP, VERSION, 0, &ca_pem).service_dns_name();
    let (cert, key) = ca.issue_serving(&["localhost", "127.0.0.1", &service_name]);
    let cert_file = cp.unique_file("e2e-auth-serving", "crt");
    let key_file = cp.unique_file("e2e-auth-serving", "key");
    // Leaf then CA: the server hands out the last certificate as the one to trust.
    std::fs::write(&cert_file, format!("{cert}{ca_pem}")).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let args = apiserver::ApiserverArgs {
        tls_cert_file: Some(cert_file),
        tls_private_key_file: Some(key_file),
        auth: AuthArgs {
            authentication: AuthenticationMode::Delegated,
            authentication_kubeconfig: Some(cp.admin_kubeconfig().to_path_buf()),
            authorization_kubeconfig: Some(review_kubeconfig),
            authorization_webhook_cache_authorized_ttl: Duration::from_secs(60),
            authorization_webhook_cache_unauthorized_ttl: Duration::from_secs(60),
            ..AuthArgs::default()
        },
        ..apiserver_support::args()
    };
    let server = TestServer::start_with_authorizer(args, apiserver::memory_objects(), None).await;
    let port = server.url.rsplit(':').next().unwrap().parse().unwrap();
    Ours {
        server,
        reviews,
        ca_pem,
        port,
    }
}

fn workspace(name: &str) -> CoderWorkspace {
    CoderWorkspace::new(
        name,
        CoderWorkspaceSpec {
            running: Some(true),
            ..Default::default()
        },
    )
}

/// A Role allowing only get and list of CoderWorkspaces in `namespace`, bound to `subject`
/// (`User` or `ServiceAccount`).
async fn grant_read_only(cp: &ControlPlane, namespace: &str, kind: &str, name: &str) {
    let client = cp.admin_client().await;
    let role: Role = serde_json::from_value(serde_json::json!({
        "metadata": {"name": format!("read-{}", name.replace(':', "-")), "namespace": namespace},
        "rules": [{"apiGroups": [GROUP], "resources": ["coderworkspaces"], "verbs": ["get", "list"]}]
    }))
    .unwrap();
    let role_name = role.metadata.name.clone().unwrap();
    Api::<Role>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &role)
        .await
        .unwrap();
    let mut subject = serde_json::json!({"kind": kind, "name": name});
    if kind == "ServiceAccount" {
        subject["namespace"] = namespace.into();
    } else {
        subject["apiGroup"] = "rbac.authorization.k8s.io".into();
    }
    let binding: RoleBinding = serde_json::from_value(serde_json::json!({
        "metadata": {"name": role_name, "namespace": namespace},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
        "subjects": [subject]
    }))
    .unwrap();
    Api::<RoleBinding>::namespaced(client, namespace)
        .create(&PostParams::default(), &binding)
        .await
        .unwrap();
}

/// The forbidden message kube-apiserver (and we) give for a namespaced delete.
fn delete_forbidden(user: &str, name: &str, namespace: &str) -> String {
    format!(
        "coderworkspaces.{GROUP} \"{name}\" is forbidden: User \"{user}\" cannot delete resource \"coderworkspaces\" in API group \"{GROUP}\" in the namespace \"{namespace}\""
    )
}

/// Creates `name` in `namespace` directly on our server, as a system:masters x509 user.
async fn create_directly(cp: &ControlPlane, ours: &Ours, namespace: &str, name: &str) {
    let (cert, key) = cp
        .client_ca()
        .issue_client("e2e-admin", &["system:masters"]);
    let http = ours.server.http_with_client_cert(&cert, &key);
    let body = serde_json::to_vec(&workspace(name)).unwrap();
    let response = raw(
        &http,
        Method::POST,
        &ws_path(namespace, None),
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.text());
}

#[tokio::test]
async fn through_the_aggregator_rbac_decides_and_reviews_are_cached() {
    let cp = envtest::shared();
    let ours = start_ours(cp).await;
    cp.register_apiservice(ApiServiceRegistration::new(
        GROUP,
        VERSION,
        ours.port,
        &ours.ca_pem,
    ))
    .await;
    let namespace = cp.create_namespace("auth-aggr").await;

    // The admin (system:masters) sees and does everything; no review is ever made for masters.
    let admin: Api<CoderWorkspace> = Api::namespaced(cp.admin_client().await, &namespace);
    admin
        .create(&PostParams::default(), &workspace("w1"))
        .await
        .unwrap();
    let all: Api<CoderWorkspace> = Api::all(cp.admin_client().await);
    let listed = all.list(&ListParams::default()).await.unwrap();
    assert!(
        listed
            .items
            .iter()
            .any(|w| w.metadata.name.as_deref() == Some("w1"))
    );
    assert!(!ours.reviews.any_for_group("system:masters"));

    // A user allowed get/list lists; a delete is refused with a 403 Status.
    let reader = format!("reader-{namespace}");
    grant_read_only(cp, &namespace, "User", &reader).await;
    let reader_client = cp.client_for(&cp.user_kubeconfig(&reader, &[])).await;
    let as_reader: Api<CoderWorkspace> = Api::namespaced(reader_client, &namespace);
    let names = |list: kube::core::ObjectList<CoderWorkspace>| -> Vec<String> {
        list.items
            .into_iter()
            .filter_map(|w| w.metadata.name)
            .collect()
    };
    assert_eq!(
        names(as_reader.list(&ListParams::default()).await.unwrap()),
        ["w1"]
    );
    match as_reader.delete("w1", &DeleteParams::default()).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 403, "{status:?}");
            assert_eq!(status.reason, "Forbidden");
            assert_eq!(status.message, delete_forbidden(&reader, "w1", &namespace));
        }
        other => panic!("delete as a read-only user: {other:?}"),
    }
    assert!(admin.get_opt("w1").await.unwrap().is_some(), "w1 survived");

    // Our server asked kube-apiserver once about the reader's list; the cache answered the rest.
    assert_eq!(ours.reviews.count(&reader, "list"), 1);
    for _ in 0..5 {
        as_reader.list(&ListParams::default()).await.unwrap();
        as_reader.get("w1").await.unwrap();
    }
    assert_eq!(ours.reviews.count(&reader, "list"), 1);
    assert_eq!(ours.reviews.count(&reader, "get"), 1);
    assert!(!ours.reviews.any_for_group("system:masters"));
    ours.server.stop().await;
}

/// The token of a ServiceAccount kubeconfig written by the harness.
fn token_of(kubeconfig: &std::path::Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap();
    let config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    config["users"][0]["user"]["token"]
        .as_str()
        .expect("token in the ServiceAccount kubeconfig")
        .to_string()
}

#[tokio::test]
async fn service_account_tokens_work_directly_and_spoofed_identity_headers_do_not() {
    let cp = envtest::shared();
    let ours = start_ours(cp).await;
    let namespace = cp.create_namespace("auth-token").await;
    create_directly(cp, &ours, &namespace, "w1").await;
    let kubeconfig = cp.service_account_kubeconfig(&namespace, "reader").await;
    grant_read_only(cp, &namespace, "ServiceAccount", "reader").await;
    let sa_user = format!("system:serviceaccount:{namespace}:reader");
    let bearer = format!("Bearer {}", token_of(&kubeconfig));
    let http = ours.server.http();

    // The token works (TokenReview names the ServiceAccount, RBAC allows its list).
    let list = raw(
        &http,
        Method::GET,
        &ws_path(&namespace, None),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text());
    assert_eq!(list.json()["items"][0]["metadata"]["name"], "w1");

    // Identity headers sent straight to our port, with the token: still the ServiceAccount.
    let spoofed = [
        ("authorization", bearer.as_str()),
        ("X-Remote-User", "system:admin"),
        ("X-Remote-Group", "system:masters"),
    ];
    let delete = raw(
        &http,
        Method::DELETE,
        &ws_path(&namespace, Some("w1")),
        &spoofed,
        "",
    )
    .await;
    let status = assert_status(&delete, 403, "Forbidden");
    assert_eq!(
        status["message"],
        delete_forbidden(&sa_user, "w1", &namespace)
    );

    // Without the token: nobody.
    let delete = raw(
        &http,
        Method::DELETE,
        &ws_path(&namespace, Some("w1")),
        &spoofed[1..],
        "",
    )
    .await;
    assert_status(&delete, 401, "Unauthorized");

    // A garbage token: 401, and TokenReview said so (not a transport failure: a real token
    // on the same server works above).
    let garbage = raw(
        &http,
        Method::GET,
        &ws_path(&namespace, None),
        &[("authorization", "Bearer not-a-real-token")],
        "",
    )
    .await;
    assert_status(&garbage, 401, "Unauthorized");
    assert!(!ours.reviews.any_for_group("system:masters"));
    ours.server.stop().await;
}

#[tokio::test]
async fn kubectl_with_a_client_certificate_directly() {
    let cp = envtest::shared();
    let ours = start_ours(cp).await;
    let namespace = cp.create_namespace("auth-kubectl").await;
    create_directly(cp, &ours, &namespace, "w1").await;
    let user = format!("kubectl-{namespace}");
    grant_read_only(cp, &namespace, "User", &user).await;
    let (cert, key) = cp.client_ca().issue_client(&user, &[]);
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let kubeconfig = cp.unique_file("kubectl-ours", "kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: ours, cluster: {{server: '{}', certificate-authority-data: {}}}}}]\n\
             users: [{{name: u, user: {{client-certificate-data: {}, client-key-data: {}}}}}]\n\
             contexts: [{{name: x, context: {{cluster: ours, user: u, namespace: {namespace}}}}}]\ncurrent-context: x\n",
            ours.server.url,
            b64(&ours.ca_pem),
            b64(&cert),
            b64(&key)
        ),
    )
    .unwrap();
    let cache = tempfile::tempdir().unwrap();
    let kubectl = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(cp.kubectl_path());
        cmd.arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(args)
            .env_remove("KUBECONFIG")
            .env("KUBECACHEDIR", cache.path())
            .kill_on_drop(true);
        async move {
            tokio::time::timeout(WAIT, cmd.output())
                .await
                .expect("kubectl in time")
                .expect("kubectl runs")
        }
    };
    let get = kubectl(&["get", "coderworkspaces", "-o", "name"]).await;
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&get.stdout).trim(),
        format!("coderworkspace.{GROUP}/w1")
    );
    let delete = kubectl(&["delete", "coderworkspace", "w1"]).await;
    assert!(!delete.status.success());
    let stderr = String::from_utf8_lossy(&delete.stderr);
    assert!(
        stderr.contains(&format!(
            "Error from server (Forbidden): {}",
            delete_forbidden(&user, "w1", &namespace)
        )),
        "{stderr}"
    );
    ours.server.stop().await;
}

#[tokio::test]
async fn requestheader_ca_rotation_in_the_configmap_applies_without_restart() {
    let cp = envtest::shared();
    let ours = start_ours(cp).await;
    let rotated = CertificateAuthority::new("rotated front-proxy CA");
    let (cert, key) = rotated.issue_client("front-proxy-client", &[]);
    let http = ours.server.http_with_client_cert(&cert, &key);
    let identity = [
        ("X-Remote-User", "rotation-admin"),
        ("X-Remote-Group", "system:masters"),
    ];
    let before = raw(&http, Method::GET, &ws_path("default", None), &identity, "").await;
    assert_status(&before, 401, "Unauthorized");

    // Add the new CA to the published bundle (as a CA rotation does: old and new side by side).
    let configmaps: Api<ConfigMap> = Api::namespaced(cp.admin_client().await, "kube-system");
    envtest::poll_until("the ConfigMap update", WAIT, || {
        let configmaps = configmaps.clone();
        let ca_pem = rotated.cert_pem();
        async move {
            let mut cm = configmaps
                .get("extension-apiserver-authentication")
                .await
                .map_err(|e| e.to_string())?;
            let data = cm.data.get_or_insert_with(Default::default);
            let bundle = data
                .get("requestheader-client-ca-file")
                .cloned()
                .unwrap_or_default();
            if bundle.contains(ca_pem.trim()) {
                return Ok(());
            }
            data.insert(
                "requestheader-client-ca-file".into(),
                format!("{}\n{ca_pem}", bundle.trim_end()),
            );
            configmaps
                .replace(
                    "extension-apiserver-authentication",
                    &PostParams::default(),
                    &cm,
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    })
    .await;

    // The same connection settings, no restart: the new front proxy is trusted.
    envtest::poll_until("the rotated CA to be trusted", WAIT, || {
        let http = http.clone();
        async move {
            let response = raw(&http, Method::GET, &ws_path("default", None), &identity, "").await;
            if response.status == 200 {
                Ok(())
            } else {
                Err(format!("{} {}", response.status, response.text()))
            }
        }
    })
    .await;
    ours.server.stop().await;
}
