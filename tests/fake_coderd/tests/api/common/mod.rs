//! Raw-HTTP helpers for the fake's tests: plain JSON over reqwest, no typed client, so the tests
//! check the wire format coderd speaks.
use std::time::{Duration, Instant};

use fake_coderd::{FakeCoderd, FakeConfig};
use serde_json::{Value, json};

pub const OWNER_EMAIL: &str = "admin@example.com";
pub const OWNER_PASSWORD: &str = "SomeSecurePassword!123";

/// Millisecond-scale job timings so lifecycles are observable but fast.
pub fn fast() -> FakeConfig {
    FakeConfig {
        job_pending: Duration::from_millis(30),
        job_running: Duration::from_millis(80),
        job_cancel: Duration::from_millis(40),
        ..FakeConfig::default()
    }
}

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: Option<String>,
    http: reqwest::Client,
}

pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
}

impl Api {
    pub fn new(fake: &FakeCoderd) -> Api {
        Api {
            base: fake.url(),
            token: None,
            http: reqwest::Client::new(),
        }
    }

    pub fn with_token(&self, token: &str) -> Api {
        Api {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}/api/v2{}", self.base, path))
            .timeout(Duration::from_secs(10));
        if let Some(token) = &self.token {
            req = req.header("Coder-Session-Token", token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request reaches the fake");
        Answer::read(resp).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Answer {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// POST /files with a given content type.
    pub async fn upload(&self, content_type: &str, data: Vec<u8>) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/api/v2/files", self.base))
            .header("Content-Type", content_type)
            .body(data)
            .timeout(Duration::from_secs(10));
        if let Some(token) = &self.token {
            req = req.header("Coder-Session-Token", token);
        }
        Answer::read(req.send().await.expect("request reaches the fake")).await
    }
}

impl Answer {
    async fn read(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Answer {
            status,
            body,
            content_type,
        }
    }

    /// Asserts the status and returns the body.
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status, body: {}",
            self.body
        );
        self.body
    }
}

/// POST /users/first then /users/login: an owner's session.
pub async fn owner_session(fake: &FakeCoderd) -> Api {
    let api = Api::new(fake);
    api.post(
        "/users/first",
        json!({ "email": OWNER_EMAIL, "username": "admin", "name": "Admin", "password": OWNER_PASSWORD }),
    )
    .await
    .expect(201);
    let login = api
        .post(
            "/users/login",
            json!({ "email": OWNER_EMAIL, "password": OWNER_PASSWORD }),
        )
        .await
        .expect(201);
    api.with_token(login["session_token"].as_str().expect("session_token"))
}

/// Polls `path` until `done(body)` holds; panics after `timeout`.
pub async fn wait_for(
    api: &Api,
    path: &str,
    timeout: Duration,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let body = api.get(path).await.expect(200);
        if done(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting on {path}; last: {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Uploads `files`, creates a version and waits for its import to finish; returns the version.
pub async fn imported_version(
    api: &Api,
    org: &str,
    files: &[(&str, &str)],
    template_id: Option<&str>,
) -> Value {
    // The same bytes from the same user come back as the same file (200), new ones are 201.
    let upload = api
        .upload("application/x-tar", fake_coderd::tar_of(files))
        .await;
    assert!(
        matches!(upload.status, 200 | 201),
        "upload: {}",
        upload.body
    );
    let file = upload.body;
    let mut req = json!({
        "file_id": file["hash"],
        "storage_method": "file",
        "provisioner": "terraform",
    });
    if let Some(t) = template_id {
        req["template_id"] = json!(t);
    }
    let version = api
        .post(&format!("/organizations/{org}/templateversions"), req)
        .await
        .expect(201);
    let id = version["id"].as_str().expect("id").to_string();
    wait_for(
        api,
        &format!("/templateversions/{id}"),
        Duration::from_secs(5),
        |v| {
            !matches!(
                v["job"]["status"].as_str(),
                Some("pending" | "running" | "canceling")
            )
        },
    )
    .await
}

/// A template named `name` in the default org, with an imported (succeeded) version.
pub async fn template(api: &Api, name: &str) -> Value {
    let version = imported_version(
        api,
        "coder",
        &[("main.tf", "resource \"null_resource\" \"x\" {}\n")],
        None,
    )
    .await;
    assert_eq!(version["job"]["status"], "succeeded");
    api.post(
        "/organizations/coder/templates",
        json!({ "name": name, "template_version_id": version["id"] }),
    )
    .await
    .expect(201)
}

pub async fn wait_build(api: &Api, build_id: &str) -> Value {
    wait_for(
        api,
        &format!("/workspacebuilds/{build_id}"),
        Duration::from_secs(5),
        |b| {
            !matches!(
                b["job"]["status"].as_str(),
                Some("pending" | "running" | "canceling")
            )
        },
    )
    .await
}
