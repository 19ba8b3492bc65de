//! What the HTTP handlers and the `Admin` handle share: the state behind one lock, the job
//! timings, the knobs and the request log.

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::HeaderMap;
use jiff::Timestamp;
use uuid::Uuid;

use crate::auth;
use crate::model::{JobTimings, State};

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    /// Path without the query, e.g. `/api/v2/users/me`.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Username of the caller when the request carried a valid, unexpired token.
    pub user: Option<String>,
    /// Status of the answer.
    pub status: u16,
}

/// An injected failure: the next `remaining` requests matching `method` (any when None) and
/// `path_prefix` are answered `status` without reaching the handler.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Option<String>,
    pub path_prefix: String,
    pub status: u16,
    pub remaining: usize,
}

pub struct Shared {
    state: Mutex<State>,
    pub timings: JobTimings,
    pub max_file_bytes: usize,
    pub unavailable: AtomicBool,
    latency: Mutex<Duration>,
    requests: Mutex<Vec<RecordedRequest>>,
    faults: Mutex<Vec<Fault>>,
    /// Ids the list endpoints leave out (`FakeCoderd::hide_from_lists`).
    hidden: Mutex<HashSet<Uuid>>,
}

fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not wedge the fake for the others.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn new(state: State, timings: JobTimings, max_file_bytes: usize) -> Shared {
        Shared {
            state: Mutex::new(state),
            timings,
            max_file_bytes,
            unavailable: AtomicBool::new(false),
            latency: Mutex::new(Duration::ZERO),
            requests: Mutex::new(Vec::new()),
            faults: Mutex::new(Vec::new()),
            hidden: Mutex::new(HashSet::new()),
        }
    }

    /// The state, with every provisioner job advanced to now.
    pub fn state(&self) -> MutexGuard<'_, State> {
        let mut guard = relock(&self.state);
        guard.advance(Timestamp::now(), self.timings);
        guard
    }

    pub fn latency(&self) -> Duration {
        *relock(&self.latency)
    }

    pub fn set_latency(&self, d: Duration) {
        *relock(&self.latency) = d;
    }

    pub fn record(&self, r: RecordedRequest) {
        relock(&self.requests).push(r);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        relock(&self.requests).clone()
    }

    pub fn add_fault(&self, fault: Fault) {
        relock(&self.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        relock(&self.faults).clear();
    }

    /// Consumes one use of the first fault matching the request, returning its status.
    pub fn take_fault(&self, method: &str, path: &str) -> Option<u16> {
        let mut faults = relock(&self.faults);
        let fault = faults.iter_mut().find(|f| {
            f.remaining > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path.starts_with(&f.path_prefix)
        })?;
        fault.remaining -= 1;
        let status = fault.status;
        faults.retain(|f| f.remaining > 0);
        Some(status)
    }

    pub fn set_hidden(&self, ids: &[Uuid]) {
        *relock(&self.hidden) = ids.iter().copied().collect();
    }

    /// Whether the list endpoints show `id` (the `hide_from_lists` knob).
    pub fn listed(&self, id: Uuid) -> bool {
        !relock(&self.hidden).contains(&id)
    }

    pub fn clear_requests(&self) {
        relock(&self.requests).clear();
    }

    /// The username behind the request's token, if the token is valid (for the request log;
    /// does not touch last-used times).
    pub fn identify(&self, headers: &HeaderMap, query: Option<&str>) -> Option<String> {
        let token = auth::token_from_request(headers, query)?;
        let state = relock(&self.state);
        let user_id = auth::identify(&state, Timestamp::now(), &token)?;
        state.user(user_id).map(|u| u.username.clone())
    }
}
