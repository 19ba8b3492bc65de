//! Delegated authentication at the TLS + HTTP level, with certificates minted here and a
//! recording authorizer: what reaches authorization is exactly what a trusted front proxy said,
//! and nothing else. (Through the real kube-apiserver and kube-aggregator: tests/e2e_auth.rs.)

use crate::apiserver_support;

use std::sync::{Arc, Mutex};

use apiserver_support::{TestServer, assert_status, raw, ws_path};
use coder_k8s::apiserver::auth::attributes::{ResourceAttributes, Target};
use coder_k8s::apiserver::auth::authorizer::AuthorizeError;
use coder_k8s::apiserver::auth::{Attributes, Authorizer, Decision};
use coder_k8s::apiserver::{self, AuthArgs, AuthenticationMode};
use futures::future::BoxFuture;
use http::Method;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// Remembers every decision it is asked for; denies user "eve", allows everyone else.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Attributes>>,
}

impl Recorder {
    fn take(&self) -> Vec<Attributes> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

impl Authorizer for Recorder {
    fn authorize<'a>(
        &'a self,
        attributes: &'a Attributes,
    ) -> BoxFuture<'a, Result<Decision, AuthorizeError>> {
        self.seen.lock().unwrap().push(attributes.clone());
        let decision = if attributes.user.name == "eve" {
            Decision::Deny {
                reason: String::new(),
            }
        } else {
            Decision::Allow
        };
        Box::pin(async move { Ok(decision) })
    }
}

struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// How a client certificate is made.
struct Leaf<'a> {
    cn: &'a str,
    orgs: &'a [&'a str],
    expired: bool,
    eku: ExtendedKeyUsagePurpose,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// (certificate PEM, key PEM)
    fn issue(&self, leaf: Leaf<'_>) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, leaf.cn);
        for org in leaf.orgs {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *org);
        }
        params.extended_key_usages = vec![leaf.eku];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        if leaf.expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn client(&self, cn: &str, orgs: &[&str]) -> (String, String) {
        self.issue(Leaf {
            cn,
            orgs,
            expired: false,
            eku: ExtendedKeyUsagePurpose::ClientAuth,
        })
    }
}

struct Fixture {
    server: TestServer,
    recorder: Arc<Recorder>,
    front_proxy_ca: Ca,
    client_ca: Ca,
    _dir: tempfile::TempDir,
}

async fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let front_proxy_ca = Ca::new("front-proxy-ca");
    let client_ca = Ca::new("client-ca");
    let front_path = dir.path().join("front-proxy-ca.crt");
    let client_path = dir.path().join("client-ca.crt");
    std::fs::write(&front_path, front_proxy_ca.pem()).unwrap();
    std::fs::write(&client_path, client_ca.pem()).unwrap();
    // TokenReview goes nowhere: a port nothing listens on (tokens are covered end to end).
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n\
         users: [{name: u, user: {}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let args = apiserver::ApiserverArgs {
        auth: AuthArgs {
            authentication: AuthenticationMode::Delegated,
            client_ca_file: Some(client_path),
            requestheader_client_ca_file: Some(front_path),
            requestheader_allowed_names: vec!["front-proxy-client".into()],
            requestheader_extra_headers_prefix: vec!["X-Remote-Extra-".into()],
            authentication_kubeconfig: Some(kubeconfig),
            ..AuthArgs::default()
        },
        ..apiserver_support::args()
    };
    let recorder = Arc::new(Recorder::default());
    let server = TestServer::start_with_authorizer(
        args,
        apiserver::memory_objects(),
        Some(recorder.clone() as Arc<dyn Authorizer>),
    )
    .await;
    Fixture {
        server,
        recorder,
        front_proxy_ca,
        client_ca,
        _dir: dir,
    }
}

/// The identity a front proxy would send.
const IDENTITY: [(&str, &str); 6] = [
    ("X-Remote-User", "alice"),
    ("X-Remote-Group", "team-a"),
    ("X-Remote-Group", "team-b"),
    ("X-Remote-Extra-Example.com%2FTeam", "blue"),
    ("X-Remote-Extra-Scopes", "read"),
    ("X-Remote-Extra-Scopes", "write"),
];

fn resource(attributes: &Attributes) -> &ResourceAttributes {
    match &attributes.target {
        Target::Resource(r) => r,
        other => panic!("not a resource request: {other:?}"),
    }
}

#[tokio::test]
async fn front_proxy_identity_reaches_authorization_exactly() {
    let f = start().await;
    let (cert, key) = f.front_proxy_ca.client("front-proxy-client", &[]);
    let http = f.server.http_with_client_cert(&cert, &key);
    let response = raw(&http, Method::GET, &ws_path("default", None), &IDENTITY, "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = f.recorder.take();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let user = &seen[0].user;
    assert_eq!(user.name, "alice");
    assert_eq!(user.groups, ["team-a", "team-b", "system:authenticated"]);
    assert_eq!(user.extra.len(), 2, "{:?}", user.extra);
    assert_eq!(user.extra["example.com/team"], ["blue"]);
    assert_eq!(user.extra["scopes"], ["read", "write"]);
    assert_eq!(seen[0].verb, "list");
    let r = resource(&seen[0]);
    assert_eq!(
        (r.namespace.as_str(), r.group.as_str(), r.version.as_str()),
        ("default", "aggregation.coder.com", "v1alpha1")
    );
    assert_eq!(
        (r.resource.as_str(), r.name.as_str()),
        ("coderworkspaces", "")
    );

    // Discovery is a non-resource request.
    let response = raw(&http, Method::GET, "/apis", &IDENTITY, "").await;
    assert_eq!(response.status, 200);
    let seen = f.recorder.take();
    assert_eq!(seen[0].target, Target::NonResource("/apis".into()));
    assert_eq!(seen[0].verb, "get");
    f.server.stop().await;
}

#[tokio::test]
async fn identity_headers_without_a_trusted_front_proxy_are_401_and_never_authorized() {
    let f = start().await;
    let other_ca = Ca::new("other-ca");
    let cases: Vec<(&str, Option<(String, String)>)> = vec![
        ("no certificate", None),
        (
            "certificate from another CA",
            Some(other_ca.client("front-proxy-client", &[])),
        ),
        (
            "common name not allowed",
            Some(f.front_proxy_ca.client("not-the-proxy", &[])),
        ),
        (
            "expired",
            Some(f.front_proxy_ca.issue(Leaf {
                cn: "front-proxy-client",
                orgs: &[],
                expired: true,
                eku: ExtendedKeyUsagePurpose::ClientAuth,
            })),
        ),
        (
            "no client-auth usage",
            Some(f.front_proxy_ca.issue(Leaf {
                cn: "front-proxy-client",
                orgs: &[],
                expired: false,
                eku: ExtendedKeyUsagePurpose::ServerAuth,
            })),
        ),
    ];
    for (case, cert) in cases {
        let http = match &cert {
            None => f.server.http(),
            Some((cert, key)) => f.server.http_with_client_cert(cert, key),
        };
        let response = raw(&http, Method::GET, &ws_path("default", None), &IDENTITY, "").await;
        let status = assert_status(&response, 401, "Unauthorized");
        assert_eq!(status["message"], "Unauthorized", "{case}");
        assert!(
            f.recorder.take().is_empty(),
            "{case}: the request reached authorization"
        );
    }
    f.server.stop().await;
}

#[tokio::test]
async fn client_ca_certificate_is_its_own_user_and_identity_headers_are_dropped() {
    // kube-apiserver's behaviour: a certificate from the client CA (not the requestheader CA)
    // authenticates as its CN/O; the identity headers it carries are ignored.
    let f = start().await;
    // (rcgen keeps one value per attribute type, so one O: one group.)
    let (cert, key) = f.client_ca.client("bob", &["devs"]);
    let http = f.server.http_with_client_cert(&cert, &key);
    let response = raw(&http, Method::GET, &ws_path("default", None), &IDENTITY, "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = f.recorder.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].user.name, "bob");
    assert_eq!(seen[0].user.groups, ["devs", "system:authenticated"]);
    assert!(seen[0].user.extra.is_empty());

    // An expired client-CA certificate proves nothing.
    let (cert, key) = f.client_ca.issue(Leaf {
        cn: "bob",
        orgs: &[],
        expired: true,
        eku: ExtendedKeyUsagePurpose::ClientAuth,
    });
    let http = f.server.http_with_client_cert(&cert, &key);
    let response = raw(&http, Method::GET, &ws_path("default", None), &[], "").await;
    assert_status(&response, 401, "Unauthorized");
    assert!(f.recorder.take().is_empty());
    f.server.stop().await;
}

#[tokio::test]
async fn denial_is_a_403_status_worded_like_kube_apiserver() {
    let f = start().await;
    let (cert, key) = f.front_proxy_ca.client("front-proxy-client", &[]);
    let http = f.server.http_with_client_cert(&cert, &key);
    let eve = [
        ("X-Remote-User", "eve"),
        ("X-Remote-Group", "system:authenticated"),
    ];
    let response = raw(
        &http,
        Method::DELETE,
        &ws_path("default", Some("w1")),
        &eve,
        "",
    )
    .await;
    let status = assert_status(&response, 403, "Forbidden");
    assert_eq!(
        status["message"],
        "coderworkspaces.aggregation.coder.com \"w1\" is forbidden: User \"eve\" cannot delete resource \"coderworkspaces\" in API group \"aggregation.coder.com\" in the namespace \"default\""
    );
    assert_eq!(status["details"]["name"], "w1");
    assert_eq!(status["details"]["group"], "aggregation.coder.com");
    assert_eq!(status["details"]["kind"], "coderworkspaces");
    // system:authenticated is not added twice.
    assert_eq!(f.recorder.take()[0].user.groups, ["system:authenticated"]);
    f.server.stop().await;
}

#[tokio::test]
async fn system_masters_and_probes_skip_the_authorizer() {
    let f = start().await;
    let (cert, key) = f.front_proxy_ca.client("front-proxy-client", &[]);
    let http = f.server.http_with_client_cert(&cert, &key);
    let admin = [
        ("X-Remote-User", "admin"),
        ("X-Remote-Group", "system:masters"),
    ];
    let response = raw(&http, Method::GET, &ws_path("default", None), &admin, "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let probe = raw(&f.server.http(), Method::GET, "/readyz", &[], "").await;
    assert_eq!(probe.status, 200);
    assert!(f.recorder.take().is_empty());
    f.server.stop().await;
}

#[tokio::test]
async fn hundreds_of_group_headers_and_a_megabyte_of_headers_work() {
    let f = start().await;
    let (cert, key) = f.front_proxy_ca.client("front-proxy-client", &[]);
    let http = f.server.http_with_client_cert(&cert, &key);
    let groups: Vec<String> = (0..600)
        .map(|i| format!("group-{i:04}-{}", "g".repeat(1400)))
        .collect();
    let mut headers: Vec<(&str, &str)> = vec![("X-Remote-User", "alice")];
    headers.extend(groups.iter().map(|g| ("X-Remote-Group", g.as_str())));
    let total: usize = headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    assert!(total > 800 * 1024 && total < 1024 * 1024, "{total} bytes");
    let response = raw(&http, Method::GET, &ws_path("default", None), &headers, "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    let seen = f.recorder.take();
    assert_eq!(seen[0].user.groups.len(), 601);
    assert_eq!(seen[0].user.groups[..600], groups[..]);
    f.server.stop().await;
}

/// Room for more than hyper's 100 header fields per HTTP/1 request costs on every request, so
/// only connections with a client certificate (the front proxy's, whose identity headers are
/// one per group) get it; others are answered 431 past 100 fields.
#[tokio::test]
async fn over_a_hundred_header_fields_need_a_client_certificate_over_http1() {
    let f = start().await;
    let extra: Vec<(String, String)> = (0..150)
        .map(|i| (format!("X-Extra-{i:03}"), "v".to_string()))
        .collect();
    let mut headers: Vec<(&str, &str)> = vec![("X-Remote-User", "alice")];
    headers.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let plain = raw(
        &f.server.http(),
        Method::GET,
        &ws_path("default", None),
        &headers,
        "",
    )
    .await;
    assert_eq!(plain.status, 431, "{}", plain.text());
    let few = raw(
        &f.server.http(),
        Method::GET,
        &ws_path("default", None),
        &headers[..90],
        "",
    )
    .await;
    assert_ne!(few.status, 431, "{}", few.text());
    let (cert, key) = f.front_proxy_ca.client("front-proxy-client", &[]);
    let http = f.server.http_with_client_cert(&cert, &key);
    let response = raw(&http, Method::GET, &ws_path("default", None), &headers, "").await;
    assert_eq!(response.status, 200, "{}", response.text());
    f.server.stop().await;
}

#[tokio::test]
async fn unreadable_and_unverifiable_bearer_tokens_get_401() {
    let f = start().await;
    for value in ["Bearer garbage", "Basic dXNlcjpwYXNz", "Token x"] {
        let response = raw(
            &f.server.http(),
            Method::GET,
            &ws_path("default", None),
            &[("Authorization", value)],
            "",
        )
        .await;
        assert_status(&response, 401, "Unauthorized");
    }
    assert!(f.recorder.take().is_empty());
    f.server.stop().await;
}

/// 401 and 403 come before the body is read; a client still writing its body gets them whole
/// (and keeps its connection when the rest was small).
#[tokio::test(flavor = "multi_thread")]
async fn refusals_reach_a_client_still_writing_its_body() {
    use crate::early_answers::{assert_answered, put_head};
    let f = start().await;
    let head = put_head(&ws_path("default", Some("w1")), "application/json");
    let unauthenticated = format!("{head}\r\nX-Remote-User: alice");
    let anonymous = f.server.http();
    assert_answered(&anonymous, &f.server, &unauthenticated, 401, "Unauthorized").await;
    let (cert, key) = f.front_proxy_ca.client("front-proxy-client", &[]);
    let proxy = f.server.http_with_client_cert(&cert, &key);
    let eve = format!("{head}\r\nX-Remote-User: eve\r\nX-Remote-Group: system:authenticated");
    assert_answered(&proxy, &f.server, &eve, 403, "Forbidden").await;
    f.server.stop().await;
}
