//! Enterprise licenses (`/api/v2/licenses`, coderd's enterprise/coderd/licenses.go): upload a
//! license JWT, list what is installed, remove one. Owner-only in coderd.
//!
//! The JWT travels as a [`LicenseJwt`], whose `Debug`/`Display` are redacted: a license is a
//! credential bought per customer, so it never reaches a log line or an error message.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::client::{Body, CoderClient, json};
use super::error::{CoderError, Endpoint};
use super::secret::LicenseJwt;

const ADD: Endpoint = Endpoint::new("POST", "/api/v2/licenses");
const LIST: Endpoint = Endpoint::new("GET", "/api/v2/licenses");
const DELETE: Endpoint = Endpoint::new("DELETE", "/api/v2/licenses/{id}");

/// codersdk `AddLicenseRequest`.
#[derive(Serialize)]
struct AddLicense<'a> {
    license: &'a LicenseJwt,
}

/// An installed license (codersdk `License`). `claims` are the JWT's decoded claims as coderd
/// reports them (features, expiry, trial); the JWT itself is never returned.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct License {
    pub id: i32,
    #[serde(default)]
    pub uuid: Option<uuid::Uuid>,
    #[serde(default)]
    pub uploaded_at: Option<Timestamp>,
    #[serde(default)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl LicenseJwt {
    /// SHA-256 (lower-case hex) of the trimmed JWT: what status records to tell whether the
    /// Secret changed since the last upload, without keeping the license itself.
    pub fn sha256_hex(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, self.expose().trim().as_bytes());
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl CoderClient {
    /// Uploads a license. coderd answers 201 with the stored license; 400 with its reason
    /// (`Invalid license`, an expired or malformed JWT) when it refuses one.
    pub async fn add_license(&self, license: &LicenseJwt) -> Result<License, CoderError> {
        self.call_json(ADD, ADD.path, json("the license", &AddLicense { license })?)
            .await
    }

    /// Every installed license. coderd answers `null`, not `[]`, when there is none.
    pub async fn licenses(&self) -> Result<Vec<License>, CoderError> {
        let found: Option<Vec<License>> = self.get(LIST, LIST.path).await?;
        Ok(found.unwrap_or_default())
    }

    /// Removes the license with coderd's numeric `id`.
    pub async fn delete_license(&self, id: i32) -> Result<(), CoderError> {
        self.call(DELETE, &format!("/api/v2/licenses/{id}"), Body::Empty)
            .await
            .map(|_| ())
    }
}
