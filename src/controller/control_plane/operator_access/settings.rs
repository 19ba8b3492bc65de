//! `spec.operatorAccess` resolved into what the controller does: which mode, which coderd URL,
//! which Secrets, how long tokens live. Pure; defaults live here.

use std::time::Duration;

/// Key of the token in the generated token Secret (and the default key of `tokenSecretRef`).
pub const TOKEN_KEY: &str = "token";
/// Token lifetime when `tokenLifetime` is empty: the schema's default, coderd's default cap on
/// an Owner's token (`--max-admin-token-lifetime`).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(168 * 3600);

/// `spec.operatorAccess` as written (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorAccessSpec {
    pub disabled: bool,
    /// `tokenSecretRef`: Secret name and key (None = the default key).
    pub token_secret_ref: Option<(String, Option<String>)>,
    pub generated_token_secret_name: Option<String>,
    pub url: Option<String>,
    pub token_lifetime: Option<String>,
}

/// Where the operator's token comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `disabled: true`: no token, no status reference.
    Disabled,
    /// The user's Owner token in their Secret (never copied).
    Provided { secret: String, key: String },
    /// Bootstrapped by the controller: first user, password login, minted API token.
    Generated { token_secret: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessSettings {
    pub mode: Mode,
    /// coderd's URL as the operator reaches it.
    pub url: String,
    /// The URL came from the spec (tests, out-of-cluster coderd). Otherwise it is the
    /// Service's in-cluster URL, which answers only once a coderd replica is available.
    pub explicit_url: bool,
    pub token_lifetime: Duration,
    /// The Secret with the bootstrap admin's username, email and password.
    pub credentials_secret: String,
}

/// Resolves the spec of control plane `name`, whose Service URL is `service_url`.
pub fn resolve(
    name: &str,
    spec: &OperatorAccessSpec,
    service_url: &str,
) -> Result<AccessSettings, String> {
    let mode = if spec.disabled {
        Mode::Disabled
    } else if let Some((secret, key)) = &spec.token_secret_ref {
        if secret.is_empty() {
            return Err("operatorAccess.tokenSecretRef.name must not be empty".into());
        }
        Mode::Provided {
            secret: secret.clone(),
            key: key
                .clone()
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| TOKEN_KEY.to_string()),
        }
    } else {
        Mode::Generated {
            token_secret: spec
                .generated_token_secret_name
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("{name}-operator-token")),
        }
    };
    let explicit = spec.url.as_deref().filter(|u| !u.is_empty());
    let token_lifetime = match spec.token_lifetime.as_deref().filter(|l| !l.is_empty()) {
        None => DEFAULT_TOKEN_LIFETIME,
        Some(text) => parse_lifetime(text)?,
    };
    Ok(AccessSettings {
        mode,
        url: explicit.unwrap_or(service_url).to_string(),
        explicit_url: explicit.is_some(),
        token_lifetime,
        credentials_secret: format!("{name}-admin-credentials"),
    })
}

/// A Go-style duration (`720h`, `1h30m`, `90s`, `500ms`), the format coderd's own flags use.
fn parse_lifetime(text: &str) -> Result<Duration, String> {
    let invalid = |why: String| {
        format!(
            "operatorAccess.tokenLifetime {text:?} is not a positive duration like \"720h\" or \"1h30m\": {why}"
        )
    };
    let parsed: jiff::SignedDuration = text
        .parse()
        .map_err(|e: jiff::Error| invalid(e.to_string()))?;
    if !parsed.is_positive() {
        return Err(invalid("it must be longer than zero".into()));
    }
    Duration::try_from(parsed).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "http://coder.ns.svc.cluster.local";

    #[test]
    fn defaults_generate_a_token_against_the_service() {
        let settings = resolve("coder", &OperatorAccessSpec::default(), SERVICE).unwrap();
        assert_eq!(
            settings.mode,
            Mode::Generated {
                token_secret: "coder-operator-token".into()
            }
        );
        assert_eq!(settings.url, SERVICE);
        assert!(!settings.explicit_url);
        assert_eq!(settings.token_lifetime, DEFAULT_TOKEN_LIFETIME);
        assert_eq!(settings.credentials_secret, "coder-admin-credentials");
    }

    #[test]
    fn provided_token_defaults_its_key() {
        let spec = OperatorAccessSpec {
            token_secret_ref: Some(("mine".into(), None)),
            url: Some("http://127.0.0.1:3000".into()),
            ..Default::default()
        };
        let settings = resolve("coder", &spec, SERVICE).unwrap();
        assert_eq!(
            settings.mode,
            Mode::Provided {
                secret: "mine".into(),
                key: "token".into()
            }
        );
        assert!(settings.explicit_url);
        assert_eq!(settings.url, "http://127.0.0.1:3000");
    }

    #[test]
    fn disabled_wins() {
        let spec = OperatorAccessSpec {
            disabled: true,
            token_secret_ref: Some(("mine".into(), Some("k".into()))),
            ..Default::default()
        };
        assert_eq!(resolve("c", &spec, SERVICE).unwrap().mode, Mode::Disabled);
    }

    #[test]
    fn lifetimes_parse_like_go_durations() {
        for (text, secs) in [
            ("720h", 720 * 3600),
            ("1h30m", 5400),
            ("90s", 90),
            ("6s", 6),
        ] {
            assert_eq!(
                parse_lifetime(text).unwrap(),
                Duration::from_secs(secs),
                "{text}"
            );
        }
        assert_eq!(parse_lifetime("500ms").unwrap(), Duration::from_millis(500));
        for bad in ["0s", "-5m", "soon", "5"] {
            let error = parse_lifetime(bad).unwrap_err();
            assert!(error.contains("tokenLifetime"), "{bad}: {error}");
        }
    }
}
