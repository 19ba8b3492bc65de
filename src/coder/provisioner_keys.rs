//! Organization provisioner keys (`/api/v2/organizations/{organization}/provisionerkeys`,
//! codersdk `ProvisionerKey`), an enterprise feature (`external_provisioner_daemons`).
//!
//! A key authenticates external provisioner daemons (`coder provisioner start` with
//! `CODER_PROVISIONER_DAEMON_KEY`) and carries the tags coderd routes jobs by. coderd shows the
//! key itself once, in the answer to its creation; lists carry only the metadata. A key's
//! tags cannot be changed: new tags mean a new key.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::client::{Body, CoderClient, json, segment};
use super::error::{CoderError, Endpoint};
use super::secret::ProvisionerDaemonKey;

const LIST: Endpoint = Endpoint::new(
    "GET",
    "/api/v2/organizations/{organization}/provisionerkeys",
);
const CREATE: Endpoint = Endpoint::new(
    "POST",
    "/api/v2/organizations/{organization}/provisionerkeys",
);
const DELETE: Endpoint = Endpoint::new(
    "DELETE",
    "/api/v2/organizations/{organization}/provisionerkeys/{provisionerkey}",
);

/// A provisioner key's metadata (codersdk `ProvisionerKey`); the secret is never listed.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ProvisionerKey {
    pub id: Uuid,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// The organization's id (codersdk names the field `organization`).
    #[serde(rename = "organization")]
    pub organization_id: Uuid,
    pub name: String,
    /// coderd answers `null` for a key created without tags.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tags: BTreeMap<String, String>,
}

fn null_as_empty<'de, D>(deserializer: D) -> Result<BTreeMap<String, String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::deserialize(deserializer)?.unwrap_or_default())
}

/// codersdk `CreateProvisionerKeyRequest`.
#[derive(Serialize)]
struct CreateRequest<'a> {
    name: &'a str,
    tags: &'a BTreeMap<String, String>,
}

/// codersdk `CreateProvisionerKeyResponse`.
#[derive(Deserialize)]
struct CreateResponse {
    key: ProvisionerDaemonKey,
}

impl CoderClient {
    /// The organization's provisioner keys, including coderd's built-in ones (`built-in`,
    /// `user-auth`, `psk`).
    pub async fn provisioner_keys(
        &self,
        organization: &str,
    ) -> Result<Vec<ProvisionerKey>, CoderError> {
        self.get(LIST, &keys_path(organization)).await
    }

    /// Creates a key named `name` with `tags` and returns the key itself, which coderd shows
    /// only this once. A name already taken in the organization is a 409.
    pub async fn create_provisioner_key(
        &self,
        organization: &str,
        name: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ProvisionerDaemonKey, CoderError> {
        let body = json("the provisioner key request", &CreateRequest { name, tags })?;
        let created: CreateResponse = self
            .call_json(CREATE, &keys_path(organization), body)
            .await?;
        if created.key.is_empty() {
            return Err(CoderError::Api {
                endpoint: CREATE,
                status: http::StatusCode::CREATED,
                message: "coderd created the provisioner key but returned no key".into(),
                detail: None,
                validations: Vec::new(),
            });
        }
        Ok(created.key)
    }

    /// Deletes the key named `name`; daemons using it are disconnected by coderd.
    pub async fn delete_provisioner_key(
        &self,
        organization: &str,
        name: &str,
    ) -> Result<(), CoderError> {
        let path = format!("{}/{}", keys_path(organization), segment(name));
        self.call(DELETE, &path, Body::Empty).await.map(|_| ())
    }
}

fn keys_path(organization: &str) -> String {
    format!(
        "/api/v2/organizations/{}/provisionerkeys",
        segment(organization)
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{Method, StatusCode};
    use serde_json::json;

    use super::*;
    use crate::coder::SessionToken;
    use crate::coder::tests::{client, serve};

    const ORG: &str = "5f0c8e3a-0f7c-4a3e-9c1b-2d3e4f5a6b7c";
    const KEY_SECRET: &str = "pk-0123456789abcdefghijklmnopqrstuv";

    #[tokio::test]
    async fn create_sends_name_and_tags_and_returns_the_key_redacted() {
        let (url, seen) = serve(Duration::ZERO, |_| {
            (StatusCode::CREATED, json!({"key": KEY_SECRET}).to_string())
        })
        .await;
        let tags = BTreeMap::from([("scope".to_string(), "organization".to_string())]);
        let key = client(&url)
            .with_token(SessionToken::new("a-b"))
            .create_provisioner_key(ORG, "eu-west", &tags)
            .await
            .unwrap();
        assert_eq!(key.expose(), KEY_SECRET);
        assert!(!format!("{key:?} {key}").contains(KEY_SECRET));
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].method, Method::POST);
        assert_eq!(
            seen[0].uri.path(),
            format!("/api/v2/organizations/{ORG}/provisionerkeys")
        );
        assert_eq!(
            seen[0].json(),
            json!({"name": "eu-west", "tags": {"scope": "organization"}})
        );
        assert_eq!(seen[0].headers["coder-session-token"], "a-b");
    }

    #[tokio::test]
    async fn list_decodes_codersdk_keys_with_null_tags() {
        let (url, _) = serve(Duration::ZERO, |_| {
            let body = json!([
                {"id": "00000000-0000-0000-0000-000000000001", "created_at": "2026-12-01T00:00:00Z",
                 "organization": ORG, "name": "built-in", "tags": null},
                {"id": "9b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", "created_at": "2026-12-01T00:00:00Z",
                 "organization": ORG, "name": "eu-west", "tags": {"region": "eu"}},
            ]);
            (StatusCode::OK, body.to_string())
        })
        .await;
        let keys = client(&url).provisioner_keys(ORG).await.unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].tags.is_empty());
        assert_eq!(keys[1].name, "eu-west");
        assert_eq!(keys[1].organization_id.to_string(), ORG);
        assert_eq!(keys[1].tags["region"], "eu");
    }

    #[tokio::test]
    async fn delete_escapes_the_name_and_errors_name_the_endpoint() {
        let (url, seen) = serve(Duration::ZERO, |seen| {
            if seen.uri.path().ends_with("/gone") {
                let body = json!({"message": "Resource not found or you do not have access to this resource"});
                (StatusCode::NOT_FOUND, body.to_string())
            } else {
                (StatusCode::NO_CONTENT, String::new())
            }
        })
        .await;
        let coderd = client(&url);
        coderd.delete_provisioner_key(ORG, "a b").await.unwrap();
        assert_eq!(
            seen.lock().unwrap()[0].uri.path(),
            format!("/api/v2/organizations/{ORG}/provisionerkeys/a%20b")
        );
        let error = coderd
            .delete_provisioner_key(ORG, "gone")
            .await
            .unwrap_err();
        assert!(error.is_not_found(), "{error}");
        assert!(
            error.to_string().starts_with(
                "DELETE /api/v2/organizations/{organization}/provisionerkeys/{provisionerkey}: coderd answered 404"
            ),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_created_key_without_a_secret_is_an_error() {
        let (url, _) = serve(Duration::ZERO, |_| {
            (StatusCode::CREATED, json!({"key": ""}).to_string())
        })
        .await;
        let error = client(&url)
            .create_provisioner_key(ORG, "x", &BTreeMap::new())
            .await
            .unwrap_err();
        assert!(error.to_string().contains("returned no key"), "{error}");
    }
}
