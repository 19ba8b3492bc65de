//! Where authentication's trust comes from: flags (`--client-ca-file`,
//! `--requestheader-*`) or, for whatever the flags leave out, the
//! `kube-system/extension-apiserver-authentication` ConfigMap that kube-apiserver publishes,
//! watched so that CA rotation applies without a restart (as k8s.io/apiserver's
//! `DelegatingAuthenticationOptions` + dynamic CA controllers do).
//!
//! The current configuration is one immutable snapshot behind a lock; readers clone an `Arc`
//! (per connection and per request), writers swap the whole snapshot and bump a generation so
//! per-connection verdicts know when to recompute.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;

use super::requestheader::{HeaderNames, InvalidHeaderName};
use super::x509::{BundleError, CaBundle};

pub const CONFIGMAP_NAMESPACE: &str = "kube-system";
pub const CONFIGMAP_NAME: &str = "extension-apiserver-authentication";

/// `--authentication` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum AuthenticationMode {
    /// Front-proxy certificates + headers, client certificates and bearer tokens (TokenReview),
    /// trusting what kube-apiserver publishes.
    #[default]
    Delegated,
    /// No authentication: every request is anonymous. Implies --authorization-mode=always-allow
    /// unless that flag is given. For local development only.
    None,
}

/// `--authorization-mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthorizationMode {
    /// SubjectAccessReview against kube-apiserver (cached).
    Delegated,
    /// Every authenticated request is allowed.
    AlwaysAllow,
}

/// Flags of authentication and authorization (names and defaults of k8s.io/apiserver's
/// delegated options).
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// How callers are authenticated: `delegated` (front proxy, client certificates, tokens via
    /// TokenReview) or `none` (everyone anonymous; local development only).
    #[arg(long, value_enum, default_value_t = AuthenticationMode::Delegated)]
    pub authentication: AuthenticationMode,

    /// How requests are authorized: `delegated` (SubjectAccessReview) or `always-allow`.
    /// Default: `delegated`, or `always-allow` with --authentication=none.
    #[arg(long, value_enum)]
    pub authorization_mode: Option<AuthorizationMode>,

    /// Let requests without credentials through as system:anonymous (still authorized).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub anonymous_auth: bool,

    /// PEM CA bundle of x509 client certificates (CN = user, O = groups). Default: the
    /// `client-ca-file` key of the extension-apiserver-authentication ConfigMap.
    #[arg(long)]
    pub client_ca_file: Option<PathBuf>,

    /// PEM CA bundle of the front proxy's client certificate. When set, the --requestheader-*
    /// flags are used instead of the ConfigMap's requestheader keys.
    #[arg(long)]
    pub requestheader_client_ca_file: Option<PathBuf>,

    /// Common names the front proxy's certificate may have (empty: any from the CA).
    #[arg(long, value_delimiter = ',')]
    pub requestheader_allowed_names: Vec<String>,

    #[arg(long, value_delimiter = ',', default_value = "x-remote-user")]
    pub requestheader_username_headers: Vec<String>,

    #[arg(long, value_delimiter = ',')]
    pub requestheader_uid_headers: Vec<String>,

    #[arg(long, value_delimiter = ',', default_value = "x-remote-group")]
    pub requestheader_group_headers: Vec<String>,

    #[arg(long, value_delimiter = ',', default_value = "x-remote-extra-")]
    pub requestheader_extra_headers_prefix: Vec<String>,

    /// Kubeconfig for TokenReview and the ConfigMap (default: in-cluster, else $KUBECONFIG /
    /// ~/.kube/config).
    #[arg(long)]
    pub authentication_kubeconfig: Option<PathBuf>,

    /// Kubeconfig for SubjectAccessReview (default: in-cluster, else $KUBECONFIG / ~/.kube/config).
    #[arg(long)]
    pub authorization_kubeconfig: Option<PathBuf>,

    /// How long TokenReview answers are reused.
    #[arg(long, default_value = "10s", value_parser = crate::apiserver::duration::parse_duration)]
    pub authentication_token_webhook_cache_ttl: Duration,

    /// How long SubjectAccessReview "allowed" answers are reused.
    #[arg(long, default_value = "10s", value_parser = crate::apiserver::duration::parse_duration)]
    pub authorization_webhook_cache_authorized_ttl: Duration,

    /// How long SubjectAccessReview "denied" answers are reused.
    #[arg(long, default_value = "10s", value_parser = crate::apiserver::duration::parse_duration)]
    pub authorization_webhook_cache_unauthorized_ttl: Duration,

    /// Paths served without authorization (a trailing `*` matches a prefix).
    #[arg(long, value_delimiter = ',', default_value = "/healthz,/readyz,/livez")]
    pub authorization_always_allow_paths: Vec<String>,
}

impl Default for AuthArgs {
    fn default() -> Self {
        AuthArgs {
            authentication: AuthenticationMode::Delegated,
            authorization_mode: None,
            anonymous_auth: false,
            client_ca_file: None,
            requestheader_client_ca_file: None,
            requestheader_allowed_names: Vec::new(),
            requestheader_username_headers: vec!["x-remote-user".into()],
            requestheader_uid_headers: Vec::new(),
            requestheader_group_headers: vec!["x-remote-group".into()],
            requestheader_extra_headers_prefix: vec!["x-remote-extra-".into()],
            authentication_kubeconfig: None,
            authorization_kubeconfig: None,
            authentication_token_webhook_cache_ttl: Duration::from_secs(10),
            authorization_webhook_cache_authorized_ttl: Duration::from_secs(10),
            authorization_webhook_cache_unauthorized_ttl: Duration::from_secs(10),
            authorization_always_allow_paths: vec![
                "/healthz".into(),
                "/readyz".into(),
                "/livez".into(),
            ],
        }
    }
}

impl AuthArgs {
    /// `none` authentication means nobody to authorize, so it implies always-allow.
    pub fn effective_authorization(&self) -> AuthorizationMode {
        self.authorization_mode
            .unwrap_or(match self.authentication {
                AuthenticationMode::Delegated => AuthorizationMode::Delegated,
                AuthenticationMode::None => AuthorizationMode::AlwaysAllow,
            })
    }

    /// Whether anything must come from the ConfigMap.
    pub fn needs_configmap(&self) -> bool {
        self.client_ca_file.is_none() || self.requestheader_client_ca_file.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Bundle {
        what: String,
        #[source]
        source: BundleError,
    },
    #[error("{0}")]
    HeaderName(#[from] InvalidHeaderName),
    #[error(
        "ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} key {key}: not a JSON string array: {source}"
    )]
    Json {
        key: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "reading ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME}: {source} (the server's account needs the \
         extension-apiserver-authentication-reader Role in kube-system)"
    )]
    Lookup {
        #[source]
        source: kube::Error,
    },
}

/// The front proxy: its CA, allowed certificate names and header names.
#[derive(Debug, Clone, Default)]
pub struct RequestHeaderConfig {
    pub ca: CaBundle,
    pub allowed_names: Vec<String>,
    pub headers: HeaderNames,
}

/// One snapshot of what authentication trusts.
#[derive(Debug, Clone, Default)]
pub struct AuthenticationConfig {
    /// Bumped on every change; per-connection verdicts are recomputed when it moves.
    pub generation: u64,
    pub client_ca: CaBundle,
    pub requestheader: RequestHeaderConfig,
}

/// The parts the ConfigMap (or the flags) provide.
#[derive(Debug, Clone, Default)]
struct Parts {
    client_ca: Option<CaBundle>,
    requestheader: Option<RequestHeaderConfig>,
}

fn read_bundle(path: &PathBuf) -> Result<CaBundle, ConfigError> {
    let pem = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    CaBundle::from_pem(&pem).map_err(|source| ConfigError::Bundle {
        what: path.display().to_string(),
        source,
    })
}

fn from_flags(args: &AuthArgs) -> Result<Parts, ConfigError> {
    let client_ca = args.client_ca_file.as_ref().map(read_bundle).transpose()?;
    let requestheader = match &args.requestheader_client_ca_file {
        None => None,
        Some(path) => Some(RequestHeaderConfig {
            ca: read_bundle(path)?,
            allowed_names: args
                .requestheader_allowed_names
                .iter()
                .filter(|n| !n.is_empty())
                .cloned()
                .collect(),
            headers: HeaderNames::new(
                &args.requestheader_username_headers,
                &args.requestheader_uid_headers,
                &args.requestheader_group_headers,
                &args.requestheader_extra_headers_prefix,
            )?,
        }),
    };
    Ok(Parts {
        client_ca,
        requestheader,
    })
}

fn json_list(cm: &ConfigMap, key: &'static str) -> Result<Vec<String>, ConfigError> {
    match cm.data.as_ref().and_then(|d| d.get(key)) {
        None => Ok(Vec::new()),
        Some(text) if text.trim().is_empty() => Ok(Vec::new()),
        Some(text) => {
            serde_json::from_str(text).map_err(|source| ConfigError::Json { key, source })
        }
    }
}

/// Reads the ConfigMap's keys (each list a JSON-encoded string array).
fn from_configmap(cm: &ConfigMap) -> Result<Parts, ConfigError> {
    let data = cm.data.clone().unwrap_or_default();
    let bundle = |key: &str| -> Result<Option<CaBundle>, ConfigError> {
        match data.get(key) {
            Some(pem) if !pem.trim().is_empty() => {
                CaBundle::from_pem(pem)
                    .map(Some)
                    .map_err(|source| ConfigError::Bundle {
                        what: format!("ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} key {key}"),
                        source,
                    })
            }
            _ => Ok(None),
        }
    };
    let client_ca = bundle("client-ca-file")?;
    let requestheader = match bundle("requestheader-client-ca-file")? {
        None => None,
        Some(ca) => Some(RequestHeaderConfig {
            ca,
            allowed_names: json_list(cm, "requestheader-allowed-names")?,
            headers: HeaderNames::new(
                &json_list(cm, "requestheader-username-headers")?,
                &json_list(cm, "requestheader-uid-headers")?,
                &json_list(cm, "requestheader-group-headers")?,
                &json_list(cm, "requestheader-extra-headers-prefix")?,
            )?,
        }),
    };
    Ok(Parts {
        client_ca,
        requestheader,
    })
}

/// The live configuration: flags first, the ConfigMap for the rest.
pub struct LiveConfig {
    flags: Parts,
    current: RwLock<Arc<AuthenticationConfig>>,
    generation: AtomicU64,
    /// resourceVersion of the ConfigMap last applied: relists replay it, only a new one is news.
    last_seen: std::sync::Mutex<String>,
}

impl LiveConfig {
    pub fn from_flags(args: &AuthArgs) -> Result<Arc<Self>, ConfigError> {
        let live = Arc::new(LiveConfig {
            flags: from_flags(args)?,
            current: RwLock::new(Arc::new(AuthenticationConfig::default())),
            generation: AtomicU64::new(0),
            last_seen: std::sync::Mutex::new(String::new()),
        });
        live.apply(Parts::default());
        Ok(live)
    }

    /// The current snapshot.
    pub fn current(&self) -> Arc<AuthenticationConfig> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Combines the flags with what the ConfigMap provides and publishes a new snapshot.
    fn apply(&self, from_cluster: Parts) {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let requestheader = self
            .flags
            .requestheader
            .clone()
            .or(from_cluster.requestheader)
            .unwrap_or_default();
        let config = AuthenticationConfig {
            generation,
            client_ca: self
                .flags
                .client_ca
                .clone()
                .or(from_cluster.client_ca)
                .unwrap_or_default(),
            requestheader,
        };
        tracing::info!(
            generation,
            client_ca = ?config.client_ca,
            requestheader_ca = ?config.requestheader.ca,
            requestheader_allowed_names = ?config.requestheader.allowed_names,
            "authentication configuration loaded"
        );
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(config);
    }

    /// Applies one version of the ConfigMap; a broken one keeps the previous configuration.
    pub fn apply_configmap(&self, cm: Option<&ConfigMap>) {
        let parts = match cm.map(from_configmap).transpose() {
            Ok(parts) => parts.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(%error, "ignoring an invalid authentication ConfigMap; keeping the previous configuration");
                return;
            }
        };
        self.apply(parts);
    }

    /// Reads the ConfigMap once (so the server starts with it), then keeps following it until
    /// `stop` fires. A missing ConfigMap leaves only what the flags configure.
    pub async fn follow_configmap(
        self: &Arc<Self>,
        client: kube::Client,
        stop: tokio_util::sync::CancellationToken,
    ) -> Result<(), ConfigError> {
        let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, CONFIGMAP_NAMESPACE);
        match api.get_opt(CONFIGMAP_NAME).await {
            Ok(cm) => {
                if cm.is_none() {
                    tracing::warn!(
                        "ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} not found: no front proxy or client CA unless given by flags"
                    );
                }
                let parts = cm.as_ref().map(from_configmap).transpose()?;
                if let (Some(cm), Ok(mut last)) = (&cm, self.last_seen.lock()) {
                    *last = cm.metadata.resource_version.clone().unwrap_or_default();
                }
                self.apply(parts.unwrap_or_default());
            }
            Err(source) => return Err(ConfigError::Lookup { source }),
        }
        let live = self.clone();
        let config = kube::runtime::watcher::Config::default()
            .fields(&format!("metadata.name={CONFIGMAP_NAME}"));
        tokio::spawn(async move {
            let events = kube::runtime::watcher(api, config);
            futures::pin_mut!(events);
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => return,
                    event = events.next() => event,
                };
                match event {
                    None => return,
                    Some(Ok(kube::runtime::watcher::Event::Apply(cm)))
                    | Some(Ok(kube::runtime::watcher::Event::InitApply(cm))) => {
                        live.apply_if_changed(&cm);
                    }
                    Some(Ok(kube::runtime::watcher::Event::Delete(_))) => {
                        tracing::warn!("ConfigMap {CONFIGMAP_NAMESPACE}/{CONFIGMAP_NAME} deleted");
                        live.apply_configmap(None);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::warn!(%error, "watching the authentication ConfigMap; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }

    fn apply_if_changed(&self, cm: &ConfigMap) {
        let version = cm.metadata.resource_version.clone().unwrap_or_default();
        if let Ok(mut last) = self.last_seen.lock() {
            if *last == version && !version.is_empty() {
                return;
            }
            *last = version;
        }
        self.apply_configmap(Some(cm));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configmap_lists_are_json_arrays() {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE},
            "data": {
                "requestheader-allowed-names": "[\"front-proxy-client\"]",
                "requestheader-username-headers": "[\"X-Remote-User\"]",
                "requestheader-group-headers": "[\"X-Remote-Group\"]",
                "requestheader-extra-headers-prefix": "[\"X-Remote-Extra-\"]",
            }
        }))
        .unwrap();
        assert_eq!(
            json_list(&cm, "requestheader-allowed-names").unwrap(),
            ["front-proxy-client"]
        );
        // No requestheader CA → no front proxy, whatever the other keys say.
        assert!(from_configmap(&cm).unwrap().requestheader.is_none());
        let bad: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": CONFIGMAP_NAME},
            "data": {"requestheader-allowed-names": "front-proxy-client"}
        }))
        .unwrap();
        assert!(json_list(&bad, "requestheader-allowed-names").is_err());
    }
}
