//! Front-proxy identity headers (`headerrequest/requestheader.go`): the kube-aggregator names
//! the user in `X-Remote-User`, one `X-Remote-Group` per group and `X-Remote-Extra-<key>`.
//! Trusted only on a connection whose certificate verified against the requestheader CA (see
//! `x509`); stripped from every request, trusted or not, so no handler ever sees them.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName};

use super::UserInfo;

/// Which headers carry the identity (from flags or the ConfigMap). Names are lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNames {
    pub username: Vec<HeaderName>,
    pub uid: Vec<HeaderName>,
    pub group: Vec<HeaderName>,
    /// Lower-case prefixes, e.g. `x-remote-extra-`.
    pub extra_prefixes: Vec<String>,
}

impl Default for HeaderNames {
    /// The names the aggregator uses; stripped even when no front proxy is configured.
    fn default() -> Self {
        HeaderNames {
            username: vec![HeaderName::from_static("x-remote-user")],
            uid: vec![HeaderName::from_static("x-remote-uid")],
            group: vec![HeaderName::from_static("x-remote-group")],
            extra_prefixes: vec!["x-remote-extra-".into()],
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid header name {name:?}: {source}")]
pub struct InvalidHeaderName {
    pub name: String,
    #[source]
    pub source: http::header::InvalidHeaderName,
}

impl HeaderNames {
    pub fn new(
        username: &[String],
        uid: &[String],
        group: &[String],
        extra_prefixes: &[String],
    ) -> Result<Self, InvalidHeaderName> {
        let parse = |names: &[String]| {
            names
                .iter()
                .map(|n| n.trim())
                .filter(|n| !n.is_empty())
                .map(|n| {
                    HeaderName::from_bytes(n.to_ascii_lowercase().as_bytes()).map_err(|source| {
                        InvalidHeaderName {
                            name: n.to_string(),
                            source,
                        }
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(HeaderNames {
            username: parse(username)?,
            uid: parse(uid)?,
            group: parse(group)?,
            extra_prefixes: extra_prefixes
                .iter()
                .map(|p| p.trim().to_ascii_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
        })
    }

    fn is_extra<'a>(&self, name: &'a HeaderName) -> Option<&'a str> {
        self.extra_prefixes
            .iter()
            .find_map(|prefix| name.as_str().strip_prefix(prefix.as_str()))
    }
}

/// First non-empty value of the first of `names` that has one.
fn first_value(headers: &HeaderMap, names: &[HeaderName]) -> Option<String> {
    names.iter().find_map(|name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    })
}

/// The user the front proxy named, or `None` when no username header is present.
pub fn user(names: &HeaderNames, headers: &HeaderMap) -> Option<UserInfo> {
    let name = first_value(headers, &names.username)?;
    let uid = first_value(headers, &names.uid).unwrap_or_default();
    let mut groups = Vec::new();
    for header in &names.group {
        for value in headers.get_all(header) {
            if let Ok(value) = value.to_str()
                && !value.is_empty()
            {
                groups.push(value.to_string());
            }
        }
    }
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (header, value) in headers {
        let Some(raw_key) = names.is_extra(header) else {
            continue;
        };
        // Keys are percent-escaped by the proxy (they may hold `/`), and header names are
        // case-insensitive, so kube lower-cases them; a key that does not unescape stays as sent.
        let key = percent_encoding::percent_decode_str(raw_key)
            .decode_utf8()
            .map(|k| k.to_lowercase())
            .unwrap_or_else(|_| raw_key.to_string());
        if let Ok(value) = value.to_str() {
            extra.entry(key).or_default().push(value.to_string());
        }
    }
    Some(UserInfo {
        name,
        uid,
        groups,
        extra,
    })
}

/// Removes every identity header so nothing later can mistake a spoofed one for the truth.
pub fn strip(names: &HeaderNames, headers: &mut HeaderMap) {
    for name in names.username.iter().chain(&names.uid).chain(&names.group) {
        headers.remove(name);
    }
    if names.extra_prefixes.is_empty() {
        return;
    }
    let extras: Vec<HeaderName> = headers
        .keys()
        .filter(|name| names.is_extra(name).is_some())
        .cloned()
        .collect();
    for name in extras {
        headers.remove(&name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn reads_user_all_groups_and_unescaped_lowercased_extra() {
        let names = HeaderNames::default();
        let h = headers(&[
            ("X-Remote-User", "alice"),
            ("X-Remote-Uid", "u-1"),
            ("X-Remote-Group", "g1"),
            ("X-Remote-Group", "g2"),
            ("X-Remote-Extra-Example.com%2FTeam", "a"),
            ("X-Remote-Extra-example.com%2fteam", "b"),
            ("X-Remote-Extra-Scopes", "s"),
        ]);
        let user = user(&names, &h).unwrap();
        assert_eq!(user.name, "alice");
        assert_eq!(user.uid, "u-1");
        assert_eq!(user.groups, ["g1", "g2"]);
        assert_eq!(user.extra["example.com/team"], ["a", "b"]);
        assert_eq!(user.extra["scopes"], ["s"]);
    }

    #[test]
    fn no_username_means_no_user_and_strip_removes_all() {
        let names = HeaderNames::default();
        let mut h = headers(&[
            ("X-Remote-Group", "g1"),
            ("X-Remote-Extra-A", "x"),
            ("Accept", "application/json"),
        ]);
        assert!(user(&names, &h).is_none());
        strip(&names, &mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn first_configured_username_header_wins() {
        let names = HeaderNames::new(
            &["X-User-A".into(), "X-User-B".into()],
            &[],
            &["X-G".into()],
            &["X-E-".into()],
        )
        .unwrap();
        let h = headers(&[("x-user-b", "bob"), ("x-user-a", "")]);
        assert_eq!(user(&names, &h).unwrap().name, "bob");
    }
}
