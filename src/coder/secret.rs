//! Secrets that travel to and from coderd. Their `Debug` and `Display` print a placeholder so a
//! stray `{:?}` in a log line or an error message never leaks them; [`SessionToken::expose`]
//! is the one deliberate way to read the value.

use serde::{Deserialize, Serialize};

const REDACTED: &str = "<redacted>";

macro_rules! redacted_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            /// The secret itself: for a request header, a Secret's data, never a log line.
            pub fn expose(&self) -> &str {
                &self.0
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({REDACTED})", stringify!($name))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(REDACTED)
            }
        }
    };
}

redacted_string!(
    /// A coderd session token or API token (`Coder-Session-Token` header). An API token has the
    /// form `<id>-<secret>`; [`SessionToken::key_id`] is the id coderd lists and deletes by.
    SessionToken
);

redacted_string!(
    /// A coderd user's password.
    Password
);

redacted_string!(
    /// An organization's provisioner key as coderd shows it once, at creation: what
    /// `coder provisioner start` reads from `CODER_PROVISIONER_DAEMON_KEY`.
    ProvisionerDaemonKey
);

redacted_string!(
    /// A workspace proxy's token (`CODER_PROXY_SESSION_TOKEN` of `coder wsproxy server`), shown
    /// by coderd once, when the proxy is registered or its token regenerated.
    ProxyToken
);

impl SessionToken {
    /// The API key id: the part before the first `-` (coderd's `APIKey.id`). Not secret.
    pub fn key_id(&self) -> Option<&str> {
        self.0
            .split_once('-')
            .map(|(id, _)| id)
            .filter(|id| !id.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let token = SessionToken::new("abcdefghij-supersecretvalue");
        assert_eq!(format!("{token:?}"), "SessionToken(<redacted>)");
        assert_eq!(token.to_string(), "<redacted>");
        assert!(!format!("{:?}", Some(&token)).contains("supersecret"));
        let password = Password::new("hunter2hunter2");
        assert_eq!(format!("{password:?}"), "Password(<redacted>)");
        assert_eq!(token.expose(), "abcdefghij-supersecretvalue");
    }

    #[test]
    fn key_id_is_the_prefix_before_the_dash() {
        assert_eq!(
            SessionToken::new("abcdefghij-secret").key_id(),
            Some("abcdefghij")
        );
        assert_eq!(SessionToken::new("nodash").key_id(), None);
        assert_eq!(SessionToken::new("-secret").key_id(), None);
    }

    #[test]
    fn serializes_as_the_plain_string() {
        let token: SessionToken = serde_json::from_str("\"a-b\"").unwrap();
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"a-b\"");
    }
}
