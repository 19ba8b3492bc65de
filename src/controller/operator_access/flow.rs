//! The two ways to operator access, as calls to coderd and reads/writes of Secrets. coderd's
//! answers become an [`Access`] (condition, status reference, when to look again); only
//! Kubernetes API failures are errors.

use jiff::Timestamp;
use tracing::{debug, info, warn};

use super::rotation;
use super::secrets::{self, AdminCredentials};
use super::settings::{AccessSettings, TOKEN_KEY};
use super::{Access, Retry, reason};
use crate::coder::{CoderClient, CoderError, CreateFirstUser, ME, Password};
use crate::controller::builders::Target;
use crate::controller::error::Result;

/// The bootstrap admin coderd gets on a fresh deployment.
const ADMIN_USERNAME: &str = "coder-k8s-admin";
const ADMIN_EMAIL: &str = "coder-k8s-admin@coder-k8s.local";
const ADMIN_NAME: &str = "coder-k8s operator";
/// Minted tokens are named `coder-k8s-<unix millis>`: unique per mint, within coderd's
/// 32-character name limit, and recognisable in `coder tokens list`.
const TOKEN_NAME_PREFIX: &str = "coder-k8s-";

/// `tokenSecretRef`: check the user's token (it must belong to an Owner) and point status at
/// their Secret. The token is never copied.
pub async fn provided(
    kube: &kube::Client,
    target: &Target<'_>,
    coderd: &CoderClient,
    secret: &str,
    key: &str,
) -> Result<Access> {
    let namespace = target.namespace;
    let where_ = format!("Secret {namespace}/{secret} (spec.operatorAccess.tokenSecretRef)");
    let Some(stored) = secrets::read(kube, namespace, secret).await? else {
        return Ok(Access::not_ready(
            reason::TOKEN_INVALID,
            format!("{where_} does not exist"),
            Retry::Backoff,
        ));
    };
    let Some(token) = secrets::token(&stored, key) else {
        return Ok(Access::not_ready(
            reason::TOKEN_INVALID,
            format!("{where_} has no value under key {key:?}"),
            Retry::Backoff,
        ));
    };
    match coderd.with_token(token).me().await {
        Ok(user) if user.is_owner() => Ok(Access::ready(
            reason::TOKEN_PROVIDED,
            format!(
                "the token in {where_} belongs to {}, an Owner of coderd at {}",
                user.username,
                coderd.base_url()
            ),
            (secret, key),
            Retry::Resync,
        )),
        Ok(user) => Ok(Access::not_ready(
            reason::TOKEN_INVALID,
            format!(
                "the token in {where_} belongs to {}, who is not an Owner; the operator needs \
                 an Owner's token (coder tokens create, as an Owner)",
                user.username
            ),
            Retry::Backoff,
        )),
        Err(error) if error.is_unauthorized() => Ok(Access::not_ready(
            reason::TOKEN_INVALID,
            format!("coderd rejected the token in {where_}: {error}"),
            Retry::Backoff,
        )),
        Err(error) => Ok(Access::coderd_failed(&error)),
    }
}

/// No token given: keep a token minted for our own admin in `token_secret`, bootstrapping
/// the admin (coderd's first user) on a fresh deployment, and rotating the token when a third
/// of its lifetime is left or coderd no longer accepts it.
pub async fn generated(
    kube: &kube::Client,
    target: &Target<'_>,
    settings: &AccessSettings,
    coderd: &CoderClient,
    token_secret: &str,
) -> Result<Access> {
    let namespace = target.namespace;
    // Also the reachability probe: it needs no token.
    let has_first_user = match coderd.has_first_user().await {
        Ok(has) => has,
        Err(error) => return Ok(Access::coderd_failed(&error)),
    };

    let current = secrets::read(kube, namespace, token_secret)
        .await?
        .and_then(|secret| secrets::token(&secret, TOKEN_KEY));
    let replaced = current
        .as_ref()
        .and_then(|token| token.key_id())
        .map(str::to_string);
    // A fresh coderd (first user missing: a new database) cannot know a token we kept.
    if let (Some(token), Some(id), true) = (&current, &replaced, has_first_user) {
        match coderd.with_token(token.clone()).api_key(ME, id).await {
            Ok(key) => {
                let now = Timestamp::now();
                let rotate_at = rotation::rotation_at(&key, settings.token_lifetime);
                if now < rotate_at {
                    return Ok(Access::ready(
                        reason::BOOTSTRAPPED,
                        format!(
                            "operator token {:?} in Secret {namespace}/{token_secret} is valid \
                             until {}; it is replaced after {rotate_at}",
                            key.token_name, key.expires_at
                        ),
                        (token_secret, TOKEN_KEY),
                        Retry::At(rotate_at),
                    ));
                }
                info!(token = %key.token_name, "operator token due for rotation");
            }
            // Expired or deleted in coderd: mint a new one.
            Err(error) if error.is_unauthorized() || error.is_not_found() => {
                info!(%error, "coderd no longer accepts the operator token; minting a new one");
            }
            Err(error) => return Ok(Access::coderd_failed(&error)),
        }
    }

    let mut events = Vec::new();
    let credentials_secret = &settings.credentials_secret;
    let stored = secrets::read(kube, namespace, credentials_secret)
        .await?
        .as_ref()
        .and_then(secrets::credentials);
    let credentials = match stored {
        Some(credentials) => credentials,
        None if !has_first_user => {
            // Stored before the user is created: a crash in between must not leave an admin
            // nobody knows the password of.
            let credentials = new_credentials()?;
            secrets::apply_credentials(kube, target, credentials_secret, &credentials).await?;
            credentials
        }
        None => {
            return Ok(Access::not_ready(
                reason::FIRST_USER_EXISTS,
                format!(
                    "coderd at {} already has users, and Secret {namespace}/{credentials_secret} \
                     holds no credentials of ours; create an API token as an Owner \
                     (coder tokens create --lifetime 720h), store it in a Secret and name it in \
                     spec.operatorAccess.tokenSecretRef",
                    coderd.base_url()
                ),
                Retry::Backoff,
            ));
        }
    };

    if !has_first_user {
        let request = CreateFirstUser {
            email: credentials.email.clone(),
            username: credentials.username.clone(),
            name: ADMIN_NAME.to_string(),
            password: credentials.password.clone(),
            trial: false,
        };
        match coderd.create_first_user(&request).await {
            Ok(_) => {
                info!(username = %credentials.username, "created coderd's first user");
                events.push((
                    reason::BOOTSTRAPPED,
                    format!(
                        "Created coderd's first user {} (login in Secret \
                         {namespace}/{credentials_secret})",
                        credentials.username
                    ),
                ));
            }
            // Someone (or an earlier attempt whose answer was lost) created it: the login
            // below tells whether it is ours.
            Err(error) if error.is_conflict() => {}
            Err(error) => return Ok(Access::coderd_failed(&error)),
        }
    }

    let session = match coderd
        .login(&credentials.email, &credentials.password)
        .await
    {
        Ok(session) => session,
        Err(error) if error.is_unauthorized() => {
            return Ok(Access::not_ready(
                reason::TOKEN_INVALID,
                format!(
                    "coderd rejected the login of {} with the password in Secret \
                     {namespace}/{credentials_secret} (was it changed in Coder?); put the current \
                     password in that Secret, or name an Owner's token in \
                     spec.operatorAccess.tokenSecretRef: {error}",
                    credentials.username
                ),
                Retry::Backoff,
            ));
        }
        Err(error) => return Ok(Access::coderd_failed(&error)),
    };
    let admin = coderd.with_token(session.clone());
    let minted_at = Timestamp::now();
    let name = format!("{TOKEN_NAME_PREFIX}{}", minted_at.as_millisecond());
    let mut lifetime = allowed_lifetime(&admin, settings.token_lifetime).await;
    let minted = match admin.create_api_token(ME, &name, lifetime).await {
        Ok(minted) => minted,
        // A coderd without the token config endpoint still says its maximum when refusing.
        Err(error) if error.max_token_lifetime().is_some_and(|max| max < lifetime) => {
            lifetime = error.max_token_lifetime().unwrap_or(lifetime);
            match admin.create_api_token(ME, &name, lifetime).await {
                Ok(minted) => minted,
                Err(error) => return Ok(Access::coderd_failed(&error)),
            }
        }
        Err(error) => return Ok(Access::coderd_failed(&error)),
    };
    secrets::apply_token(kube, target, token_secret, TOKEN_KEY, &minted.key).await?;
    info!(token = %name, secret = %token_secret, "minted the operator token");

    // Only now that the new token is stored does the old one go.
    if let Some(old) = replaced.as_deref()
        && minted.key.key_id() != Some(old)
    {
        match admin.delete_api_token(ME, old).await {
            Ok(()) => events.push((
                reason::TOKEN_ROTATED,
                format!("Replaced the operator token in Secret {namespace}/{token_secret}"),
            )),
            Err(error) if error.is_not_found() || error.is_unauthorized() => {}
            // It expires by itself; not worth failing the rotation for.
            Err(error) => warn!(%error, "cannot delete the replaced operator token"),
        }
    } else {
        events.push((
            reason::BOOTSTRAPPED,
            format!("Stored a new operator token in Secret {namespace}/{token_secret}"),
        ));
    }
    // The password login's session is not needed any more (deleting it logs it out).
    if let Some(id) = session.key_id()
        && let Err(error) = admin.delete_api_token(ME, id).await
    {
        warn!(%error, "cannot end the login session; it expires by itself");
    }

    // Checked against the key's real expiry at the next attempt; this only schedules it.
    let lifetime = jiff::SignedDuration::try_from(lifetime).unwrap_or(jiff::SignedDuration::MAX);
    let rotate_at = minted_at
        .checked_add(lifetime * 2 / 3)
        .unwrap_or(Timestamp::MAX);
    let mut access = Access::ready(
        reason::BOOTSTRAPPED,
        format!(
            "minted operator token {name:?} into Secret {namespace}/{token_secret} for {}",
            credentials.username
        ),
        (token_secret, TOKEN_KEY),
        Retry::At(rotate_at),
    );
    access.events = events;
    Ok(access)
}

/// `wanted`, or less when coderd allows less for this user: Owners are capped by
/// `--max-admin-token-lifetime` (168h by default), below the spec's default of 720h.
async fn allowed_lifetime(admin: &CoderClient, wanted: std::time::Duration) -> std::time::Duration {
    match admin.max_token_lifetime(ME).await {
        Ok(max) if !max.is_zero() && max < wanted => {
            info!(?wanted, ?max, "coderd caps the operator token's lifetime");
            max
        }
        Ok(_) => wanted,
        // Older coderd without the endpoint: the mint's refusal says the maximum instead.
        Err(error) => {
            debug!(%error, "no token config; minting with the configured lifetime");
            wanted
        }
    }
}

fn new_credentials() -> Result<AdminCredentials> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| {
        crate::controller::error::Error::Encode(format!("cannot generate a password: {e}"))
    })?;
    use base64::Engine as _;
    Ok(AdminCredentials {
        username: ADMIN_USERNAME.to_string(),
        email: ADMIN_EMAIL.to_string(),
        password: Password::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)),
    })
}

impl Access {
    /// coderd could not be asked, or answered something unexpected.
    pub(super) fn coderd_failed(error: &CoderError) -> Self {
        if error.is_unavailable() {
            Access::not_ready(
                reason::CODERD_UNREACHABLE,
                format!("cannot reach coderd: {error}"),
                Retry::Backoff,
            )
        } else {
            Access::not_ready(
                reason::CODERD_ERROR,
                format!("coderd refused: {error}"),
                Retry::Backoff,
            )
        }
    }
}
