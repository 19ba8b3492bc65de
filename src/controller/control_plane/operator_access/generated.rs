//! Generated mode: keep a token minted for our own admin in the token Secret, bootstrapping the
//! admin (coderd's first user) on a fresh deployment, and replacing the token when a third of
//! its lifetime is left or coderd no longer accepts it. Each step either continues or ends the
//! attempt with the [`Access`] to report (`ControlFlow::Break`).

use std::ops::ControlFlow::{self, Break, Continue};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use tracing::{debug, info, warn};

use super::rotation;
use super::secrets::{self, AdminCredentials};
use super::settings::{AccessSettings, TOKEN_KEY};
use super::{Access, Retry, reason};
use crate::coder::{CoderClient, CreateFirstUser, ME, Password, SessionToken};
use crate::controller::control_plane::builders::Target;
use crate::controller::error::{Error, Result};

/// The bootstrap admin coderd gets on a fresh deployment.
const ADMIN_USERNAME: &str = "coder-k8s-admin";
const ADMIN_EMAIL: &str = "coder-k8s-admin@coder-k8s.local";
const ADMIN_NAME: &str = "coder-k8s operator";
/// Minted tokens are named `coder-k8s-<unix millis>`: unique per mint, within coderd's
/// 32-character name limit, and recognisable in `coder tokens list`.
const TOKEN_NAME_PREFIX: &str = "coder-k8s-";

type Step<T = ()> = ControlFlow<Access, T>;

/// One attempt for one control plane.
pub struct Generated<'a> {
    pub kube: &'a kube::Client,
    pub target: &'a Target<'a>,
    pub settings: &'a AccessSettings,
    pub coderd: &'a CoderClient,
    pub token_secret: &'a str,
}

/// A freshly minted token and how long it lives.
struct Minted {
    name: String,
    token: SessionToken,
    at: Timestamp,
    lifetime: Duration,
}

impl Generated<'_> {
    pub async fn run(&self) -> Result<Access> {
        // Also the reachability probe: it needs no token.
        let has_first_user = match self.coderd.has_first_user().await {
            Ok(has) => has,
            Err(error) => return Ok(Access::coderd_failed(&error)),
        };
        let current = secrets::read(self.kube, self.target.namespace, self.token_secret)
            .await?
            .and_then(|secret| secrets::token(&secret, TOKEN_KEY));
        // A fresh coderd (no first user: a new database) cannot know a token we kept.
        let rejected = match (&current, has_first_user) {
            (Some(token), true) => match self.keep(token).await {
                Break(access) => return Ok(access),
                Continue(rejected) => rejected,
            },
            (Some(_), false) => Some(format!(
                "coderd at {} has no users any more (a new database?), so the operator token in                  Secret {}/{} cannot be valid; bootstrapping again",
                self.coderd.base_url(),
                self.target.namespace,
                self.token_secret
            )),
            (None, _) => None,
        };
        // Whatever ends this attempt now, a rejected token is reported as such first.
        let with_rejection = |mut access: Access| {
            access.rejected = rejected.clone();
            access
        };

        let mut events = Vec::new();
        let credentials = match self.credentials(has_first_user).await? {
            Continue(credentials) => credentials,
            Break(access) => return Ok(with_rejection(access)),
        };
        if !has_first_user && let Break(access) = self.first_user(&credentials, &mut events).await {
            return Ok(with_rejection(access));
        }
        let session = match self.login(&credentials).await {
            Continue(session) => session,
            Break(access) => return Ok(with_rejection(access)),
        };
        let admin = self.coderd.with_token(session.clone());
        let minted = match self.mint(&admin).await {
            Continue(minted) => minted,
            Break(access) => return Ok(with_rejection(access)),
        };
        secrets::apply_token(
            self.kube,
            self.target,
            self.token_secret,
            TOKEN_KEY,
            &minted.token,
        )
        .await?;
        info!(token = %minted.name, secret = %self.token_secret, "minted the operator token");
        self.retire(&admin, current.as_ref(), &minted, &session, &mut events)
            .await;

        // Checked against the key's real expiry at the next attempt; this only schedules it.
        let lifetime = SignedDuration::try_from(minted.lifetime).unwrap_or(SignedDuration::MAX);
        let rotate_at = minted
            .at
            .checked_add(lifetime * 2 / 3)
            .unwrap_or(Timestamp::MAX);
        let mut access = Access::ready(
            reason::BOOTSTRAPPED,
            format!(
                "minted operator token {:?} into Secret {}/{} for {}",
                minted.name, self.target.namespace, self.token_secret, credentials.username
            ),
            (self.token_secret, TOKEN_KEY),
            Retry::At(rotate_at),
        );
        access.events = events;
        Ok(with_rejection(access))
    }

    /// Ends the attempt (ready) while the stored token works and is not due for rotation;
    /// continues with why when coderd no longer accepts it.
    async fn keep(&self, token: &SessionToken) -> Step<Option<String>> {
        let Some(id) = token.key_id() else {
            return Continue(None);
        };
        match self.coderd.with_token(token.clone()).api_key(ME, id).await {
            Ok(key) => {
                let now = Timestamp::now();
                let rotate_at = rotation::rotation_at(&key, self.settings.token_lifetime);
                if now < rotate_at {
                    return Break(Access::ready(
                        reason::BOOTSTRAPPED,
                        format!(
                            "operator token {:?} in Secret {}/{} is valid until {}; it is \
                             replaced after {rotate_at}",
                            key.token_name,
                            self.target.namespace,
                            self.token_secret,
                            key.expires_at
                        ),
                        (self.token_secret, TOKEN_KEY),
                        Retry::At(rotate_at),
                    ));
                }
                info!(token = %key.token_name, "operator token due for rotation");
                Continue(None)
            }
            // Expired or deleted in coderd: mint a new one.
            Err(error) if error.is_unauthorized() || error.is_not_found() => {
                info!(%error, "coderd no longer accepts the operator token; minting a new one");
                Continue(Some(format!(
                    "coderd no longer accepts the operator token in Secret {}/{} ({error});                      minting a new one",
                    self.target.namespace, self.token_secret
                )))
            }
            Err(error) => Break(Access::coderd_failed(&error)),
        }
    }

    /// Our admin's login: stored, or (fresh coderd) generated and stored before the user is
    /// created, so a crash in between cannot leave an admin nobody knows the password of.
    async fn credentials(&self, has_first_user: bool) -> Result<Step<AdminCredentials>> {
        let namespace = self.target.namespace;
        let name = &self.settings.credentials_secret;
        let stored = secrets::read(self.kube, namespace, name)
            .await?
            .as_ref()
            .and_then(secrets::credentials);
        if let Some(credentials) = stored {
            return Ok(Continue(credentials));
        }
        if has_first_user {
            return Ok(Break(Access::not_ready(
                reason::FIRST_USER_EXISTS,
                format!(
                    "coderd at {} already has users, and Secret {namespace}/{name} holds no \
                     credentials of ours; create an API token as an Owner (coder tokens create), \
                     store it in a Secret and name it in spec.operatorAccess.tokenSecretRef",
                    self.coderd.base_url()
                ),
                Retry::Backoff,
            )));
        }
        let credentials = new_credentials()?;
        secrets::apply_credentials(self.kube, self.target, name, &credentials).await?;
        Ok(Continue(credentials))
    }

    async fn first_user(
        &self,
        credentials: &AdminCredentials,
        events: &mut Vec<(&'static str, String)>,
    ) -> Step {
        let request = CreateFirstUser {
            email: credentials.email.clone(),
            username: credentials.username.clone(),
            name: ADMIN_NAME.to_string(),
            password: credentials.password.clone(),
            trial: false,
        };
        match self.coderd.create_first_user(&request).await {
            Ok(_) => {
                info!(username = %credentials.username, "created coderd's first user");
                events.push((
                    reason::BOOTSTRAPPED,
                    format!(
                        "Created coderd's first user {} (login in Secret {}/{})",
                        credentials.username,
                        self.target.namespace,
                        self.settings.credentials_secret
                    ),
                ));
                Continue(())
            }
            // Someone (or an earlier attempt whose answer was lost) created it: the login
            // tells whether it is ours.
            Err(error) if error.is_conflict() => Continue(()),
            Err(error) => Break(Access::coderd_failed(&error)),
        }
    }

    async fn login(&self, credentials: &AdminCredentials) -> Step<SessionToken> {
        match self
            .coderd
            .login(&credentials.email, &credentials.password)
            .await
        {
            Ok(session) => Continue(session),
            Err(error) if error.is_unauthorized() => Break(Access::not_ready(
                reason::TOKEN_INVALID,
                format!(
                    "coderd rejected the login of {} with the password in Secret {}/{} (was it \
                     changed in Coder?); put the current password in that Secret, or name an \
                     Owner's token in spec.operatorAccess.tokenSecretRef: {error}",
                    credentials.username, self.target.namespace, self.settings.credentials_secret
                ),
                Retry::Backoff,
            )),
            Err(error) => Break(Access::coderd_failed(&error)),
        }
    }

    /// A new token, as long-lived as the spec asks and coderd allows.
    async fn mint(&self, admin: &CoderClient) -> Step<Minted> {
        let at = Timestamp::now();
        let name = format!("{TOKEN_NAME_PREFIX}{}", at.as_millisecond());
        let mut lifetime = allowed_lifetime(admin, self.settings.token_lifetime).await;
        let minted = match admin.create_api_token(ME, &name, lifetime).await {
            Ok(minted) => minted,
            // A coderd without the token config endpoint says its maximum when refusing.
            Err(error) if error.max_token_lifetime().is_some_and(|max| max < lifetime) => {
                lifetime = error.max_token_lifetime().unwrap_or(lifetime);
                match admin.create_api_token(ME, &name, lifetime).await {
                    Ok(minted) => minted,
                    Err(error) => return Break(Access::coderd_failed(&error)),
                }
            }
            Err(error) => return Break(Access::coderd_failed(&error)),
        };
        Continue(Minted {
            name,
            token: minted.key,
            at,
            lifetime,
        })
    }

    /// Once the new token is stored: deletes the one it replaces and ends the login session.
    /// Both expire by themselves, so a failure here is logged, not reported.
    async fn retire(
        &self,
        admin: &CoderClient,
        replaced: Option<&SessionToken>,
        minted: &Minted,
        session: &SessionToken,
        events: &mut Vec<(&'static str, String)>,
    ) {
        let where_ = format!("Secret {}/{}", self.target.namespace, self.token_secret);
        match replaced.and_then(SessionToken::key_id) {
            Some(old) if minted.token.key_id() != Some(old) => {
                match admin.delete_api_token(ME, old).await {
                    Ok(()) => events.push((
                        reason::TOKEN_ROTATED,
                        format!("Replaced the operator token in {where_}"),
                    )),
                    Err(error) if error.is_not_found() || error.is_unauthorized() => {}
                    Err(error) => warn!(%error, "cannot delete the replaced operator token"),
                }
            }
            _ => events.push((
                reason::BOOTSTRAPPED,
                format!("Stored a new operator token in {where_}"),
            )),
        }
        if let Some(id) = session.key_id()
            && let Err(error) = admin.delete_api_token(ME, id).await
        {
            warn!(%error, "cannot end the login session; it expires by itself");
        }
    }
}

/// `wanted`, or less when coderd allows less for this user: Owners are capped by
/// `--max-admin-token-lifetime` (168h by default), which a longer `tokenLifetime` exceeds.
async fn allowed_lifetime(admin: &CoderClient, wanted: Duration) -> Duration {
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
    use base64::Engine as _;
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Encode(format!("cannot generate a password: {e}")))?;
    Ok(AdminCredentials {
        username: ADMIN_USERNAME.to_string(),
        email: ADMIN_EMAIL.to_string(),
        password: Password::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_random_and_differ() {
        let a = new_credentials().unwrap();
        let b = new_credentials().unwrap();
        assert_eq!(a.password.expose().len(), 32);
        assert_ne!(a.password, b.password);
        assert_eq!(a.username, ADMIN_USERNAME);
    }

    #[test]
    fn token_names_fit_coderds_name_rule() {
        let name = format!("{TOKEN_NAME_PREFIX}{}", Timestamp::now().as_millisecond());
        assert!(name.len() <= 32, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }
}
