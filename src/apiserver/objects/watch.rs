//! Watch streams: storage changes turned into kube watch events, filtered by selectors the way
//! kube's watch cache filters them (an object that stops matching is DELETED, one that starts
//! matching is ADDED), with initial events, the initial-events-end bookmark and periodic
//! progress bookmarks.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::Value;

use super::selectors::Selector;
use super::{Error, WatchEvent};
use crate::apiserver::storage::{
    Change, ChangeKind, ProgressRequester, Revision, StorageError, StoredObject, WatchItem,
};

/// Where a watch starts.
pub enum Start {
    /// ADDED events for these objects (the state at `revision`), then changes after it;
    /// `end_bookmark` adds the `k8s.io/initial-events-end` bookmark in between.
    Initial {
        objects: Vec<Arc<StoredObject>>,
        revision: Revision,
        end_bookmark: bool,
    },
    /// Only changes after this revision; a revision the store has not reached yet waits for
    /// later changes (as kube-apiserver's watch cache does).
    After(Revision),
}

pub struct Setup {
    pub selector: Selector,
    pub allow_bookmarks: bool,
    pub bookmark_interval: Duration,
}

struct State {
    pending: VecDeque<WatchEvent>,
    items: BoxStream<'static, WatchItem>,
    request_progress: Option<ProgressRequester>,
    ticker: Option<tokio::time::Interval>,
    selector: Selector,
    allow_bookmarks: bool,
    /// Changes at or below this revision are not delivered.
    after: Revision,
    done: bool,
}

enum Next {
    Item(Option<WatchItem>),
    Tick,
}

/// A stream with only the given error: how a watch from a too-old revision answers.
pub fn failed(error: Error) -> BoxStream<'static, WatchEvent> {
    futures::stream::iter([WatchEvent::Error(error)]).boxed()
}

pub fn expired_message(requested: Revision, oldest: Revision) -> String {
    format!("too old resource version: {requested} ({oldest})")
}

pub fn stream(
    start: Start,
    storage: crate::apiserver::storage::WatchStream,
    setup: Setup,
) -> BoxStream<'static, WatchEvent> {
    let mut pending = VecDeque::new();
    let after = match start {
        Start::After(revision) => revision,
        Start::Initial { revision, .. } => revision,
    };
    if let Start::Initial {
        objects,
        revision,
        end_bookmark,
    } = start
    {
        pending.extend(
            objects
                .into_iter()
                .filter(|o| setup.selector.matches(o.attrs()))
                .map(WatchEvent::Added),
        );
        if end_bookmark {
            pending.push_back(WatchEvent::Bookmark {
                resource_version: revision.to_string(),
                initial_events_end: true,
            });
        }
    }
    // Only a bookmark-enabled watch needs a clock; the first tick is one period away.
    let ticker = setup.allow_bookmarks.then(|| {
        let period = setup.bookmark_interval.max(Duration::from_millis(1));
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker
    });
    let state = State {
        pending,
        items: storage.items,
        request_progress: storage.request_progress,
        ticker,
        selector: setup.selector,
        allow_bookmarks: setup.allow_bookmarks,
        after,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                return Some((event, s));
            }
            if s.done {
                return None;
            }
            let next = match &mut s.ticker {
                Some(ticker) => tokio::select! {
                    item = s.items.next() => Next::Item(item),
                    _ = ticker.tick() => Next::Tick,
                },
                None => Next::Item(s.items.next().await),
            };
            match next {
                // The answer arrives as WatchItem::Progress after every earlier change.
                Next::Tick => {
                    if let Some(request) = &s.request_progress {
                        request()
                    }
                }
                Next::Item(None) => return None,
                Next::Item(Some(WatchItem::Progress(revision))) => {
                    // Never report progress below the version the watch started from.
                    if s.allow_bookmarks && revision >= s.after {
                        let bookmark = WatchEvent::Bookmark {
                            resource_version: revision.to_string(),
                            initial_events_end: false,
                        };
                        return Some((bookmark, s));
                    }
                }
                Next::Item(Some(WatchItem::Error(e))) => {
                    s.done = true;
                    return Some((WatchEvent::Error(storage_error(e)), s));
                }
                Next::Item(Some(WatchItem::Change(change))) => {
                    if change.revision <= s.after {
                        continue;
                    }
                    if let Some(event) = convert(&change, &s.selector) {
                        return Some((event, s));
                    }
                }
            }
        }
    })
    .boxed()
}

fn storage_error(e: StorageError) -> Error {
    match e {
        StorageError::Expired { requested, oldest } => {
            Error::Expired(expired_message(requested, oldest))
        }
        StorageError::TooSlow => Error::Expired(
            "the watch fell too far behind the event stream and was closed; list and watch again"
                .into(),
        ),
        StorageError::Unavailable(_) => Error::Unavailable(e.to_string()),
        other => Error::Internal(other.to_string()),
    }
}

/// `value` with `metadata.resourceVersion` set, for objects that leave a filtered watch (a new
/// encoding: the stored revision's bytes carry its own resourceVersion).
fn with_revision(value: &StoredObject, revision: Revision) -> Result<Arc<StoredObject>, Error> {
    let mut value = value.to_value()?;
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(
            "resourceVersion".into(),
            Value::String(revision.to_string()),
        );
    }
    Ok(Arc::new(StoredObject::new(value)))
}

fn convert(change: &Change, selector: &Selector) -> Option<WatchEvent> {
    if selector.is_empty() {
        let value = change.value.clone();
        return Some(match change.kind {
            ChangeKind::Created => WatchEvent::Added(value),
            ChangeKind::Updated => WatchEvent::Modified(value),
            ChangeKind::Deleted => WatchEvent::Deleted(value),
        });
    }
    let now = selector.matches(change.value.attrs());
    let before = change
        .prev
        .as_ref()
        .is_some_and(|p| selector.matches(p.attrs()));
    match change.kind {
        ChangeKind::Created => now.then(|| WatchEvent::Added(change.value.clone())),
        ChangeKind::Deleted => before.then(|| WatchEvent::Deleted(change.value.clone())),
        ChangeKind::Updated => match (before, now) {
            (true, true) => Some(WatchEvent::Modified(change.value.clone())),
            (false, true) => Some(WatchEvent::Added(change.value.clone())),
            (true, false) => {
                change
                    .prev
                    .as_ref()
                    .map(|prev| match with_revision(prev, change.revision) {
                        Ok(left) => WatchEvent::Deleted(left),
                        Err(e) => WatchEvent::Error(e),
                    })
            }
            (false, false) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::storage::Key;
    use serde_json::json;
    use std::sync::Arc;

    fn change(kind: ChangeKind, prev: Option<Value>, value: Value) -> Change {
        Change {
            kind,
            key: Key::object("g", "r", Some("ns"), "a"),
            value: Arc::new(StoredObject::new(value)),
            prev: prev.map(|p| Arc::new(StoredObject::new(p))),
            revision: 9,
        }
    }

    fn labelled(env: &str, rv: &str) -> Value {
        json!({"metadata": {"name": "a", "resourceVersion": rv, "labels": {"env": env}}})
    }

    #[test]
    fn selector_transitions_become_added_and_deleted() {
        let prod = Selector::parse(Some("env=prod"), None).unwrap();
        let leaves = change(
            ChangeKind::Updated,
            Some(labelled("prod", "8")),
            labelled("dev", "9"),
        );
        match convert(&leaves, &prod) {
            Some(WatchEvent::Deleted(v)) => {
                let v = v.to_value().unwrap();
                assert_eq!(v["metadata"]["labels"]["env"], "prod");
                assert_eq!(v["metadata"]["resourceVersion"], "9");
            }
            other => panic!("expected DELETED, got {other:?}"),
        }
        let enters = change(
            ChangeKind::Updated,
            Some(labelled("dev", "8")),
            labelled("prod", "9"),
        );
        assert!(matches!(
            convert(&enters, &prod),
            Some(WatchEvent::Added(_))
        ));
        let stays_out = change(
            ChangeKind::Updated,
            Some(labelled("dev", "8")),
            labelled("test", "9"),
        );
        assert!(convert(&stays_out, &prod).is_none());
        let deleted_elsewhere = change(
            ChangeKind::Deleted,
            Some(labelled("dev", "8")),
            labelled("dev", "9"),
        );
        assert!(convert(&deleted_elsewhere, &prod).is_none());
    }
}
