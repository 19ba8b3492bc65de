//! Watch responses: a chunked stream of `{"type":..,"object":..}` JSON frames, one chunk per
//! event so each reaches the client at once; ends at `timeoutSeconds` (or a random 30-60 min),
//! at shutdown, or after an ERROR frame.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderValue, header};
use serde_json::{Value, json};

use super::negotiation::Output;
use super::request::{Query, RequestInfo};
use super::state::SharedState;
use super::status::ApiError;
use super::table::{self, IncludeObject, TableInput};
use crate::api::registry::ResourceDescriptor;
use crate::apiserver::objects::{Error as ObjectError, WatchEvent, WatchOptions};
use crate::apiserver::storage::StoredObject;

/// A watch frame's bytes, newline-terminated like kube's JSON stream encoder.
fn frame(kind: &str, object: &Value) -> Bytes {
    let mut out = serde_json::to_vec(&json!({"type": kind, "object": object}))
        .unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    Bytes::from(out)
}

fn bookmark(r: &ResourceDescriptor, resource_version: &str, initial_events_end: bool) -> Value {
    let mut metadata = json!({ "resourceVersion": resource_version });
    if initial_events_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": r.kind, "apiVersion": r.api_version(), "metadata": metadata})
}

/// An object event's frame: JSON objects splice the revision's shared encoding in, so every
/// watcher of a revision sends the same bytes without serializing them again.
fn object_frame(kind: &str, object: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(object.len() + kind.len() + 24);
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(br#"","object":"#);
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

/// Random duration in [min, 2*min) without a rand dependency: the std hasher is seeded
/// randomly per process and per `RandomState`.
fn default_timeout(min: Duration) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(min.as_nanos() as u64);
    let fraction = (h.finish() % 10_000) as f64 / 10_000.0;
    min.mul_f64(1.0 + fraction)
}

/// Renders watch objects for the negotiated output; Table frames carry column definitions only
/// on the first frame, as kube-apiserver sends them.
struct Renderer {
    r: &'static ResourceDescriptor,
    output: Output,
    include: IncludeObject,
    columns_sent: bool,
}

impl Renderer {
    fn object_event(&mut self, kind: &str, object: &StoredObject) -> Bytes {
        match self.output {
            Output::Json | Output::Yaml => object_frame(kind, object.json()),
            _ => match object.to_value() {
                Ok(value) => frame(kind, &self.object(value)),
                Err(e) => frame("ERROR", &ApiError::internal(e.to_string()).to_value()),
            },
        }
    }

    fn object(&mut self, object: Value) -> Value {
        match self.output {
            Output::Table(v) => {
                let with_columns = !self.columns_sent;
                self.columns_sent = true;
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(Value::Null);
                table::table(
                    self.r,
                    &TableInput {
                        meta_version: v,
                        objects: &[&object],
                        list_metadata: &json!({"resourceVersion": rv}),
                        include: self.include,
                        with_columns,
                    },
                )
            }
            Output::Metadata(v) => table::partial_metadata(&object, v),
            Output::Json | Output::Yaml => object,
        }
    }

    fn event(&mut self, event: WatchEvent, allow_bookmarks: bool) -> Option<Bytes> {
        Some(match event {
            WatchEvent::Added(o) => self.object_event("ADDED", &o),
            WatchEvent::Modified(o) => self.object_event("MODIFIED", &o),
            WatchEvent::Deleted(o) => self.object_event("DELETED", &o),
            WatchEvent::Bookmark {
                resource_version,
                initial_events_end,
            } => {
                if !allow_bookmarks {
                    return None;
                }
                frame(
                    "BOOKMARK",
                    &bookmark(self.r, &resource_version, initial_events_end),
                )
            }
            WatchEvent::Error(e) => frame("ERROR", &ApiError::from(e).to_value()),
        })
    }
}

pub async fn serve(
    state: &SharedState,
    info: &RequestInfo,
    query: &Query,
    output: Output,
    include: IncludeObject,
) -> Result<Response, ApiError> {
    let r = info.resource;
    // A watch on one object (`.../name?watch=1`) is a watch on the collection by name.
    let mut field_selector = query.string("fieldSelector");
    if let Some(name) = &info.name {
        let by_name = format!("metadata.name={name}");
        field_selector = Some(match field_selector {
            Some(f) => format!("{f},{by_name}"),
            None => by_name,
        });
    }
    let allow_bookmarks = query.flag("allowWatchBookmarks")?;
    let opts = WatchOptions {
        label_selector: query.string("labelSelector"),
        field_selector,
        resource_version: query.string("resourceVersion"),
        allow_bookmarks,
        send_initial_events: query.flag("sendInitialEvents")?,
    };
    let timeout = match query.number("timeoutSeconds")? {
        Some(secs) if secs > 0 => Duration::from_secs(secs as u64),
        _ => default_timeout(state.limits.min_watch_timeout),
    };
    let mut renderer = Renderer {
        r,
        output,
        include,
        columns_sent: false,
    };
    let events = match state
        .objects
        .watch(r, info.namespace.as_deref(), &opts)
        .await
    {
        Ok(events) => events,
        // Too old a resourceVersion: kube answers 200 and an ERROR frame with a 410 Status,
        // which is what makes reflectors and kube-runtime relist.
        Err(e @ ObjectError::Expired(_)) => futures::stream::iter([WatchEvent::Error(e)]).boxed(),
        Err(e) => return Err(e.into()),
    };
    let guard = state.metrics.watch_opened(r.plural);
    let stop = state.stop.clone();
    let end = async move {
        tokio::select! {
            _ = tokio::time::sleep(timeout) => {}
            _ = stop.cancelled_owned() => {}
        }
    };
    let mut errored = false;
    let frames = events
        .take_until(end)
        .take_while(move |event| {
            // The stream ends after its first ERROR frame has been sent.
            let keep = !errored;
            errored |= matches!(event, WatchEvent::Error(_));
            futures::future::ready(keep)
        })
        .filter_map(move |event| {
            let _open = &guard;
            futures::future::ready(renderer.event(event, allow_bookmarks))
        })
        .map(Ok::<Bytes, Infallible>);
    let mut response = Body::from_stream(frames).into_response();
    // Frames are JSON whatever representation the objects use (YAML watches are JSON lines).
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // Proxies must not buffer a watch.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
