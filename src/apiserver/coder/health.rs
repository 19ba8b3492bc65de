//! What each namespace's sync is going through, so that the log says it once per change: a WARN
//! when syncing starts failing or fails differently (coderd unreachable, then the token
//! rejected), an INFO when it recovers, and nothing while the state stays the same (the sync
//! runs every few seconds; a line per round would bury everything else).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::coder::CoderError;

/// Why one round could not sync, in words stable across rounds (the error itself may vary).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer, a timeout, or 502/503/504.
    Unreachable,
    /// 401: the operator token is not (or no longer) accepted.
    TokenRejected,
    /// Any other refusal.
    Refused,
}

impl Failure {
    pub fn of(error: &CoderError) -> Self {
        if error.is_unauthorized() {
            Failure::TokenRejected
        } else if error.is_unavailable() {
            Failure::Unreachable
        } else {
            Failure::Refused
        }
    }

    /// The `CoderReachable` condition's reason for it.
    pub fn reason(self) -> &'static str {
        match self {
            Failure::Unreachable => "CoderdUnreachable",
            Failure::TokenRejected => "OperatorTokenRejected",
            Failure::Refused => "CoderdError",
        }
    }
}

/// A state change worth a log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Now in `state` (before: healthy, or another problem).
    Entered { previous: Option<String> },
    /// Healthy again after `previous`.
    Recovered { previous: String },
}

/// The last problem of each key (a namespace, or a namespace and kind); no entry = healthy.
#[derive(Default)]
pub struct StateLog {
    problems: Mutex<HashMap<String, String>>,
}

impl StateLog {
    /// Records `problem` (None = healthy) for `key`; returns the change, if any.
    pub fn observe(&self, key: &str, problem: Option<String>) -> Option<Change> {
        let Ok(mut problems) = self.problems.lock() else {
            return None;
        };
        match problem {
            Some(problem) => {
                let previous = problems.insert(key.to_string(), problem.clone());
                (previous.as_ref() != Some(&problem)).then_some(Change::Entered { previous })
            }
            None => problems
                .remove(key)
                .map(|previous| Change::Recovered { previous }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_reported_once_until_it_changes_or_ends() {
        let log = StateLog::default();
        assert_eq!(log.observe("team", None), None);
        assert_eq!(
            log.observe("team", Some("unreachable".into())),
            Some(Change::Entered { previous: None })
        );
        assert_eq!(log.observe("team", Some("unreachable".into())), None);
        assert_eq!(
            log.observe("team", Some("token rejected".into())),
            Some(Change::Entered {
                previous: Some("unreachable".into())
            })
        );
        assert_eq!(log.observe("other", None), None);
        assert_eq!(
            log.observe("team", None),
            Some(Change::Recovered {
                previous: "token rejected".into()
            })
        );
        assert_eq!(log.observe("team", None), None);
    }

    #[test]
    fn failures_are_classified_by_what_coderd_answered() {
        use crate::coder::Endpoint;
        let answered = |status: u16| CoderError::Api {
            endpoint: Endpoint::new("GET", "/api/v2/templates"),
            status: http::StatusCode::from_u16(status).unwrap(),
            message: "x".into(),
            detail: None,
            validations: Vec::new(),
        };
        assert_eq!(Failure::of(&answered(401)), Failure::TokenRejected);
        assert_eq!(Failure::of(&answered(503)), Failure::Unreachable);
        assert_eq!(Failure::of(&answered(500)), Failure::Refused);
        let refused = CoderError::Unreachable {
            endpoint: Endpoint::new("GET", "/api/v2/templates"),
            reason: "connection refused".into(),
        };
        assert_eq!(Failure::of(&refused), Failure::Unreachable);
        assert_eq!(Failure::TokenRejected.reason(), "OperatorTokenRejected");
    }
}
