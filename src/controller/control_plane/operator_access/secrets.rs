//! The Secrets operator access reads and writes. The ones it writes (admin credentials, the
//! minted token) are owned by the control plane (garbage-collected with it) and applied
//! server-side; the user's `tokenSecretRef` Secret is only read.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};

use crate::coder::{Password, SessionToken};
use crate::controller::control_plane::builders::{MANAGER, Target};
use crate::controller::error::{Error, Result};

/// The bootstrap admin's login, as stored in `<ccp>-admin-credentials`.
pub struct AdminCredentials {
    pub username: String,
    pub email: String,
    pub password: Password,
}

const USERNAME_KEY: &str = "username";
const EMAIL_KEY: &str = "email";
const PASSWORD_KEY: &str = "password";

pub async fn read(client: &kube::Client, namespace: &str, name: &str) -> Result<Option<Secret>> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    api.get_opt(name).await.map_err(|source| Error::Child {
        action: "read",
        child: format!("Secret {namespace}/{name}"),
        source,
    })
}

/// The UTF-8 value under `key`, trimmed (a token pasted with a trailing newline still works).
pub fn value(secret: &Secret, key: &str) -> Option<String> {
    let bytes = secret.data.as_ref()?.get(key)?;
    let text = String::from_utf8(bytes.0.clone()).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

pub fn token(secret: &Secret, key: &str) -> Option<SessionToken> {
    value(secret, key).map(SessionToken::new)
}

pub fn credentials(secret: &Secret) -> Option<AdminCredentials> {
    Some(AdminCredentials {
        username: value(secret, USERNAME_KEY)?,
        email: value(secret, EMAIL_KEY)?,
        password: Password::new(value(secret, PASSWORD_KEY)?),
    })
}

pub async fn apply_credentials(
    client: &kube::Client,
    target: &Target<'_>,
    name: &str,
    credentials: &AdminCredentials,
) -> Result<()> {
    let data = BTreeMap::from([
        (USERNAME_KEY, credentials.username.as_str()),
        (EMAIL_KEY, credentials.email.as_str()),
        (PASSWORD_KEY, credentials.password.expose()),
    ]);
    apply(client, target, name, data).await
}

pub async fn apply_token(
    client: &kube::Client,
    target: &Target<'_>,
    name: &str,
    key: &str,
    token: &SessionToken,
) -> Result<()> {
    apply(
        client,
        target,
        name,
        BTreeMap::from([(key, token.expose())]),
    )
    .await
}

async fn apply(
    client: &kube::Client,
    target: &Target<'_>,
    name: &str,
    data: BTreeMap<&str, &str>,
) -> Result<()> {
    let secret = Secret {
        metadata: target.owned_meta(name),
        type_: Some("Opaque".to_string()),
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), target.namespace);
    // The apply's body holds the secret: it goes to the API server only, never to a log (the
    // error below carries the API server's message, which does not echo the body).
    api.patch(
        name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map(|_| ())
    .map_err(|source| Error::Child {
        action: "apply",
        child: format!("Secret {}/{name}", target.namespace),
        source,
    })
}
