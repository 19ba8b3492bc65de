//! kube's `ValidateListOptions` for the parameters only a list or a watch may carry:
//! `sendInitialEvents` is forbidden on a list and needs `resourceVersionMatch=NotOlderThan` on a
//! watch; `resourceVersionMatch` on a watch needs `sendInitialEvents`. Refused like kube, with
//! every problem at once: 422 Invalid on `ListOptions.meta.k8s.io`.
//!
//! kube turns a present `sendInitialEvents` into a set value whatever it says (`=false` too), so
//! presence is what counts here.

use crate::apiserver::http::request::info::Query;
use crate::apiserver::objects::{Cause, Error as ObjectError, versions};
use crate::apiserver::status::ApiError;

const NOT_OLDER_THAN: &str = "NotOlderThan";

fn forbidden(field: &str, detail: &str) -> Cause {
    Cause {
        field: field.into(),
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {detail}"),
    }
}

fn invalid(causes: Vec<Cause>) -> Result<(), ApiError> {
    if causes.is_empty() {
        return Ok(());
    }
    Err(ObjectError::Invalid {
        group_resource: "ListOptions.meta.k8s.io".into(),
        kind: "ListOptions".into(),
        name: String::new(),
        causes,
    }
    .into())
}

/// A list (or deletecollection): the resourceVersionMatch rules and no `sendInitialEvents`.
pub fn validate_list(query: &Query) -> Result<(), ApiError> {
    let mut causes = match versions::validate_list(
        query.get("resourceVersion"),
        query.get("resourceVersionMatch"),
        query.get("continue"),
    ) {
        Ok(()) => Vec::new(),
        Err(ObjectError::Invalid { causes, .. }) => causes,
        Err(other) => return Err(other.into()),
    };
    if query.get("sendInitialEvents").is_some() {
        causes.push(forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    invalid(causes)
}

/// A watch: `sendInitialEvents` and `resourceVersionMatch` only together, the latter only
/// `NotOlderThan`, and neither with `continue`.
pub fn validate_watch(query: &Query) -> Result<(), ApiError> {
    let mut causes = Vec::new();
    let send_initial_events = query.get("sendInitialEvents").is_some();
    let rv_match = query.get("resourceVersionMatch").unwrap_or("");
    if send_initial_events && rv_match != NOT_OLDER_THAN {
        causes.push(forbidden(
            "resourceVersionMatch",
            "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ));
    }
    if !rv_match.is_empty() {
        if !send_initial_events {
            causes.push(forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if rv_match != NOT_OLDER_THAN {
            causes.push(Cause {
                field: "resourceVersionMatch".into(),
                reason: "FieldValueNotSupported".into(),
                message: format!(
                    "Unsupported value: {}: supported values: \"{NOT_OLDER_THAN}\"",
                    crate::apiserver::objects::quote_go(rv_match)
                ),
            });
        }
        if query.get("continue").is_some_and(|c| !c.is_empty()) {
            causes.push(forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
    }
    invalid(causes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(query: &str) -> Result<(), ApiError> {
        validate_list(&Query::parse(Some(query)).unwrap())
    }

    fn watch(query: &str) -> Result<(), ApiError> {
        validate_watch(&Query::parse(Some(query)).unwrap())
    }

    #[test]
    fn send_initial_events_is_forbidden_on_lists_whatever_its_value() {
        for query in ["sendInitialEvents=true", "sendInitialEvents=false"] {
            let error = list(query).unwrap_err();
            assert_eq!(error.code.as_u16(), 422);
            assert_eq!(
                error.message,
                "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"
            );
        }
        let both = list("sendInitialEvents=true&resourceVersionMatch=NotOlderThan").unwrap_err();
        assert_eq!(
            both.message,
            "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided, sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list]"
        );
        assert!(list("resourceVersion=0&resourceVersionMatch=NotOlderThan").is_ok());
    }

    #[test]
    fn watch_rules() {
        assert!(watch("").is_ok());
        assert!(watch("sendInitialEvents=true&resourceVersionMatch=NotOlderThan").is_ok());
        assert_eq!(
            watch("sendInitialEvents=true").unwrap_err().message,
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
        );
        assert_eq!(
            watch("resourceVersionMatch=Exact").unwrap_err().message,
            "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided, resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"]"
        );
    }
}
