//! resourceVersion query semantics, as kube-apiserver has them for get, list and watch:
//! unset = the most recent state (consistent read); `0` = any state; `N` = not older than N;
//! `resourceVersionMatch=Exact` (or the legacy form: a limit with a non-zero resourceVersion)
//! = the state at exactly N. A version newer than the store's is waited for up to 3 s, then
//! refused with 504 `Too large resource version`.

use std::time::{Duration, Instant};

use super::{Cause, Error, Objects};
use crate::apiserver::storage::Revision;

/// How long a read waits for a resourceVersion the store has not reached (kube's blockTimeout).
const TOO_LARGE_WAIT: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(25);

/// Which state a read must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAt {
    /// No resourceVersion: the most recent state.
    Latest,
    /// At least this fresh (0: any).
    NotOlderThan(Revision),
    /// Exactly this revision.
    Exact(Revision),
}

/// A resourceVersion parameter: None for unset or empty, 400 for anything but a number.
pub fn parse(rv: Option<&str>) -> Result<Option<Revision>, Error> {
    match rv {
        None | Some("") => Ok(None),
        Some(rv) => rv
            .parse::<Revision>()
            .map(Some)
            .map_err(|_| Error::BadRequest(format!("invalid resource version: {rv:?}"))),
    }
}

fn forbidden(message: &str) -> Cause {
    Cause {
        field: "resourceVersionMatch".into(),
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {message}"),
    }
}

/// kube's ValidateListOptions for resourceVersionMatch: 422 on `ListOptions.meta.k8s.io`.
pub fn validate_list(
    rv: Option<&str>,
    rv_match: Option<&str>,
    continue_token: Option<&str>,
) -> Result<(), Error> {
    let rv_match = rv_match.unwrap_or("");
    if rv_match.is_empty() {
        return Ok(());
    }
    let rv = rv.unwrap_or("");
    let mut causes = Vec::new();
    if rv.is_empty() {
        causes.push(forbidden(
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    if continue_token.is_some_and(|c| !c.is_empty()) {
        causes.push(forbidden(
            "resourceVersionMatch is forbidden when continue is provided",
        ));
    }
    if rv_match != "Exact" && rv_match != "NotOlderThan" {
        causes.push(Cause {
            field: "resourceVersionMatch".into(),
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: \"{rv_match}\": supported values: \"Exact\", \"NotOlderThan\", \"\""
            ),
        });
    }
    if rv_match == "Exact" && rv == "0" {
        causes.push(forbidden(
            "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        ));
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid {
        group_resource: "ListOptions.meta.k8s.io".into(),
        kind: "ListOptions".into(),
        name: String::new(),
        causes,
    })
}

/// The state a list (without continue) must read; `validate_list` has passed.
pub fn list_read_at(
    rv: Option<&str>,
    rv_match: Option<&str>,
    limit: Option<usize>,
) -> Result<ReadAt, Error> {
    let Some(revision) = parse(rv)? else {
        return Ok(ReadAt::Latest);
    };
    Ok(match rv_match.unwrap_or("") {
        "Exact" => ReadAt::Exact(revision),
        "NotOlderThan" => ReadAt::NotOlderThan(revision),
        // Legacy: a paginated list at a non-zero version reads exactly that version.
        _ if limit.is_some() && revision > 0 => ReadAt::Exact(revision),
        _ => ReadAt::NotOlderThan(revision),
    })
}

/// The state a get must read: unset = latest, otherwise not older than the version.
pub fn get_read_at(rv: Option<&str>) -> Result<ReadAt, Error> {
    Ok(match parse(rv)? {
        None => ReadAt::Latest,
        Some(revision) => ReadAt::NotOlderThan(revision),
    })
}

impl Objects {
    /// Waits until the store has reached `revision`, up to 3 s; then 504 TooLarge.
    pub(super) async fn wait_for_revision(
        &self,
        r: &crate::api::registry::ResourceDescriptor,
        revision: Revision,
    ) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            let current = self
                .storage
                .current_revision()
                .await
                .map_err(|e| super::storage_error(r, "", e))?;
            if current >= revision {
                return Ok(());
            }
            if started.elapsed() >= TOO_LARGE_WAIT {
                return Err(Error::ResourceVersionTooLarge {
                    requested: revision,
                    current,
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_forms() {
        assert_eq!(list_read_at(None, None, None).unwrap(), ReadAt::Latest);
        assert_eq!(
            list_read_at(Some("0"), None, Some(5)).unwrap(),
            ReadAt::NotOlderThan(0)
        );
        assert_eq!(
            list_read_at(Some("7"), None, Some(5)).unwrap(),
            ReadAt::Exact(7)
        );
        assert_eq!(
            list_read_at(Some("7"), None, None).unwrap(),
            ReadAt::NotOlderThan(7)
        );
        assert_eq!(
            list_read_at(Some("7"), Some("Exact"), None).unwrap(),
            ReadAt::Exact(7)
        );
        assert!(matches!(
            list_read_at(Some("abc"), None, None),
            Err(Error::BadRequest(_))
        ));
    }

    #[test]
    fn invalid_matches_are_422_with_kube_wording() {
        let e = validate_list(None, Some("Exact"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        );
        let e = validate_list(Some("1"), Some("Bogus"), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Unsupported value: \"Bogus\": supported values: \"Exact\", \"NotOlderThan\", \"\""
        );
        assert!(validate_list(Some("0"), Some("Exact"), None).is_err());
        assert!(validate_list(Some("1"), Some("Exact"), Some("tok")).is_err());
        assert!(validate_list(Some("1"), Some("NotOlderThan"), None).is_ok());
    }
}
