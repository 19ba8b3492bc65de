//! Continue tokens for paginated lists: opaque base64 of `{"v","rv","start"}` like kube's,
//! carrying the snapshot revision and the last returned key (relative to the listed prefix, so
//! a token cannot be replayed against another collection).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::Error;
use crate::apiserver::storage::{Key, Prefix, Revision};

const TOKEN_VERSION: &str = "meta.k8s.io/v1";

#[derive(Debug, Serialize, Deserialize)]
struct Token {
    v: String,
    rv: Revision,
    start: String,
}

/// Where a continued list resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continue {
    pub revision: Revision,
    pub after: Key,
}

pub fn encode(prefix: &Prefix, revision: Revision, last: &Key) -> String {
    let relative = last
        .as_str()
        .strip_prefix(prefix.as_str())
        .unwrap_or(last.as_str());
    let token = Token {
        v: TOKEN_VERSION.to_string(),
        rv: revision,
        start: relative.to_string(),
    };
    // Serializing a struct of strings and integers cannot fail.
    let json = serde_json::to_vec(&token).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

pub fn decode(prefix: &Prefix, token: &str) -> Result<Continue, Error> {
    let invalid = |why: &str| Error::BadRequest(format!("continue key is not valid: {why}"));
    let bytes = URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .map_err(|_| invalid("not base64"))?;
    let token: Token =
        serde_json::from_slice(&bytes).map_err(|_| invalid("not a continue token"))?;
    if token.v != TOKEN_VERSION {
        return Err(invalid(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    if token.start.is_empty() || token.start.contains("..") || token.rv == 0 {
        return Err(invalid("the start key is malformed"));
    }
    Ok(Continue {
        revision: token.rv,
        after: Key::from_raw(format!("{}{}", prefix.as_str(), token.start)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_relative_to_the_prefix() {
        let all = Prefix::collection("g", "things", None);
        let key = Key::object("g", "things", Some("ns"), "a");
        let token = encode(&all, 7, &key);
        assert_eq!(
            decode(&all, &token).unwrap(),
            Continue {
                revision: 7,
                after: key
            }
        );
        // The same token used on another collection stays inside that collection.
        let other = Prefix::collection("g", "others", None);
        assert!(other.contains(&decode(&other, &token).unwrap().after));
    }

    #[test]
    fn garbage_is_a_bad_request() {
        let p = Prefix::collection("g", "things", None);
        for bad in ["%%%", "aGVsbG8", ""] {
            assert!(
                matches!(decode(&p, bad), Err(Error::BadRequest(_))),
                "{bad}"
            );
        }
    }
}
