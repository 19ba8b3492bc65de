//! Organizations (`/api/v2/organizations`).

use jiff::Timestamp;
use serde::Deserialize;
use uuid::Uuid;

use super::client::{CoderClient, segment};
use super::error::{CoderError, Endpoint};

const LIST: Endpoint = Endpoint::new("GET", "/api/v2/organizations");
const GET: Endpoint = Endpoint::new("GET", "/api/v2/organizations/{organization}");

/// A coderd organization (codersdk `Organization`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Organization {
    pub id: Uuid,
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub icon: String,
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub is_default: bool,
}

impl CoderClient {
    /// Every organization the token can see (coderd does not paginate this list).
    pub async fn organizations(&self) -> Result<Vec<Organization>, CoderError> {
        self.get(LIST, LIST.path).await
    }

    /// One organization by name or id.
    pub async fn organization(&self, name_or_id: &str) -> Result<Organization, CoderError> {
        self.get(
            GET,
            &format!("/api/v2/organizations/{}", segment(name_or_id)),
        )
        .await
    }
}
