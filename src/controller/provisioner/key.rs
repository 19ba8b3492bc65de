//! The provisioner key in coderd and its Secret: decide whether the key the Secret holds is
//! the wanted one, and when it is not, replace it (delete the old key, create the new one, store
//! it with its record). coderd shows a key once and cannot change a key's tags, so every
//! change is a new key.

use std::collections::BTreeMap;

use kube::api::{Api, Patch, PatchParams};
use tracing::{info, warn};

use super::builders::{self, KeyRecord, Target};
use super::context::Context;
use crate::coder::{CoderClient, CoderError, SessionToken};
use crate::controller::error::Error;
use crate::controller::labels::MANAGER;

/// The key a provisioner should have, from its spec and control plane.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub organization_name: String,
    pub key_name: String,
    pub tags: BTreeMap<String, String>,
    pub tags_hash: String,
    pub control_plane: String,
    pub control_plane_url: String,
}

impl Wanted {
    pub fn of(target: &Target<'_>, control_plane_url: &str) -> Self {
        let tags = target.tags();
        Self {
            organization_name: target.organization().to_string(),
            key_name: target.key_name(),
            tags_hash: builders::tags_hash(&tags),
            tags,
            control_plane: target.obj.spec.control_plane_ref.name.clone(),
            control_plane_url: control_plane_url.to_string(),
        }
    }

    /// Why the key recorded in the Secret is not this one; `None` when it is.
    pub fn differs_from(&self, record: &KeyRecord) -> Option<&'static str> {
        if record.tags_hash != self.tags_hash {
            Some("tags changed")
        } else if record.key_name != self.key_name {
            Some("key name changed")
        } else if record.organization_name != self.organization_name {
            Some("organization changed")
        } else if record.control_plane != self.control_plane
            || record.control_plane_url != self.control_plane_url
        {
            Some("control plane changed")
        } else {
            None
        }
    }
}

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// coderd failed or refused; `reason` is the condition's reason.
    #[error("{message}")]
    Coderd {
        reason: &'static str,
        message: String,
        unavailable: bool,
    },
    /// Storing the key in its Secret failed.
    #[error(transparent)]
    Kube(#[from] Error),
}

impl KeyError {
    fn coderd(what: &str, error: CoderError) -> Self {
        let unavailable = error.is_unavailable();
        let reason = if unavailable {
            "CoderdUnreachable"
        } else if error.is_not_found() && what.starts_with("find organization") {
            "OrganizationNotFound"
        } else {
            "ProvisionerKeyFailed"
        };
        KeyError::Coderd {
            reason,
            message: format!("cannot {what}: {error}"),
            unavailable,
        }
    }
}

/// What [`replace`] did.
pub struct Replaced {
    pub record: KeyRecord,
    /// Names of older keys deleted in coderd.
    pub deleted: Vec<String>,
}

/// Creates the wanted key in coderd (after deleting the one the Secret held, and any key of
/// the same name whose value is lost to us) and stores it in the Secret. The key's value goes
/// from coderd's answer into the Secret's apply body and nowhere else.
pub async fn replace(
    ctx: &Context,
    target: &Target<'_>,
    coderd: &CoderClient,
    token: &SessionToken,
    wanted: &Wanted,
    previous: Option<&KeyRecord>,
) -> Result<Replaced, KeyError> {
    let organization = coderd
        .organization(&wanted.organization_name)
        .await
        .map_err(|e| {
            KeyError::coderd(
                &format!("find organization {:?}", wanted.organization_name),
                e,
            )
        })?;
    let org_id = organization.id.to_string();
    let mut deleted = Vec::new();

    if let Some(old) = previous
        && (old.organization_id != org_id || old.key_name != wanted.key_name)
    {
        if old.control_plane_url == wanted.control_plane_url {
            delete(coderd, &old.organization_id, &old.key_name).await?;
            deleted.push(old.key_name.clone());
        } else {
            // The old coderd may be gone for good (the provisioner moved to another control
            // plane): try once, and never let it block the new key.
            delete_elsewhere(ctx, token, old).await;
        }
    }

    let existing = coderd
        .provisioner_keys(&org_id)
        .await
        .map_err(|e| KeyError::coderd("list provisioner keys", e))?;
    // A key of this name is either the one being replaced or one whose value was lost (the
    // Secret deleted, a crash before it was written): either way it cannot serve.
    if existing.iter().any(|k| k.name == wanted.key_name) {
        delete(coderd, &org_id, &wanted.key_name).await?;
        deleted.push(wanted.key_name.clone());
    }

    let key = coderd
        .create_provisioner_key(&org_id, &wanted.key_name, &wanted.tags)
        .await
        .map_err(|e| KeyError::coderd("create the provisioner key", e))?;
    // coderd's create answer holds only the key; the id comes from the list.
    let created = coderd
        .provisioner_keys(&org_id)
        .await
        .map_err(|e| KeyError::coderd("list provisioner keys", e))?
        .into_iter()
        .find(|k| k.name == wanted.key_name)
        .ok_or_else(|| KeyError::Coderd {
            reason: "ProvisionerKeyFailed",
            message: format!(
                "coderd created provisioner key {:?} but does not list it",
                wanted.key_name
            ),
            unavailable: false,
        })?;

    let record = KeyRecord {
        key_name: created.name,
        key_id: created.id.to_string(),
        organization_id: org_id,
        organization_name: wanted.organization_name.clone(),
        tags_hash: wanted.tags_hash.clone(),
        control_plane: wanted.control_plane.clone(),
        control_plane_url: wanted.control_plane_url.clone(),
    };
    store(ctx, target, key.expose(), &record).await?;
    info!(
        key = %record.key_name,
        key_id = %record.key_id,
        organization = %record.organization_name,
        "provisioner key created"
    );
    Ok(Replaced { record, deleted })
}

/// Deletes a key; one already gone is fine.
pub async fn delete(coderd: &CoderClient, org_id: &str, name: &str) -> Result<(), KeyError> {
    match coderd.delete_provisioner_key(org_id, name).await {
        Ok(()) => Ok(()),
        Err(error) if error.is_not_found() => Ok(()),
        Err(error) => Err(KeyError::coderd(
            &format!("delete provisioner key {name:?}"),
            error,
        )),
    }
}

async fn delete_elsewhere(ctx: &Context, token: &SessionToken, old: &KeyRecord) {
    let result = match ctx.coderd(&old.control_plane_url) {
        Ok(client) => delete(
            &client.with_token(token.clone()),
            &old.organization_id,
            &old.key_name,
        )
        .await
        .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    if let Err(error) = result {
        warn!(
            key = %old.key_name,
            url = %old.control_plane_url,
            %error,
            "cannot delete the provisioner key at the previous control plane; delete it there by hand"
        );
    }
}

/// Applies the Secret with the key and its record; remembers our write (see
/// `Context::key_secret`).
async fn store(
    ctx: &Context,
    target: &Target<'_>,
    key: &str,
    record: &KeyRecord,
) -> Result<(), Error> {
    let secret = builders::secret(target, key, record);
    let name = target.secret_name();
    let api: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(ctx.client.clone(), target.namespace);
    // The apply body holds the key: it goes to the API server only. The error carries the API
    // server's message, which does not echo the body.
    let stored = api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await
        .map_err(|source| Error::Child {
            action: "apply",
            child: format!("Secret {}/{name}", target.namespace),
            source,
        })?;
    ctx.remember_secret(&stored);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::builders::test_support::provisioner;
    use super::*;
    use serde_json::json;

    #[test]
    fn every_recorded_field_that_moved_asks_for_a_new_key() {
        let obj = provisioner(
            "eu",
            json!({"controlPlaneRef": {"name": "coder"}, "tags": {"scope": "organization"}}),
        );
        let target = Target::new(&obj).unwrap();
        let wanted = Wanted::of(&target, "http://coder");
        let record = KeyRecord {
            key_name: "eu".into(),
            key_id: "id".into(),
            organization_id: "oid".into(),
            organization_name: "default".into(),
            tags_hash: wanted.tags_hash.clone(),
            control_plane: "coder".into(),
            control_plane_url: "http://coder".into(),
        };
        assert_eq!(wanted.differs_from(&record), None);
        type Change = fn(&mut KeyRecord);
        let cases: [(Change, &str); 5] = [
            (|r| r.tags_hash = "0".into(), "tags changed"),
            (|r| r.key_name = "other".into(), "key name changed"),
            (
                |r| r.organization_name = "acme".into(),
                "organization changed",
            ),
            (|r| r.control_plane = "c2".into(), "control plane changed"),
            (
                |r| r.control_plane_url = "http://c2".into(),
                "control plane changed",
            ),
        ];
        for (change, why) in cases {
            let mut moved = record.clone();
            change(&mut moved);
            assert_eq!(wanted.differs_from(&moved), Some(why));
        }
    }
}
