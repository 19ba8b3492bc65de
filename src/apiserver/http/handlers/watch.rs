//! Watch responses: a chunked stream of `{"type":..,"object":..}` JSON frames, one chunk per
//! event so each reaches the client at once; ends at `timeoutSeconds` (or a random 30-60 min),
//! at shutdown, or after an ERROR frame.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use http::{HeaderValue, header};
use http_body::Frame;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::api::registry::ResourceDescriptor;
use crate::apiserver::http::handlers::metrics::WatchGuard;
use crate::apiserver::http::handlers::state::SharedState;
use crate::apiserver::http::request::info::{Query, RequestInfo};
use crate::apiserver::http::request::negotiation::Output;
use crate::apiserver::http::response::table::{self, IncludeObject, TableInput};
use crate::apiserver::objects::{Error as ObjectError, WatchEvent, WatchOptions};
use crate::apiserver::status::ApiError;
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

/// A watch response's body: one data frame per event until the watch times out, the server
/// stops, the events end, or an ERROR frame has been sent. One type rather than a chain of
/// stream adapters: every open watch polls it for every change, so with 1,000 watchers its
/// per-poll cost is paid 1,000 times per event (hack/bench-watch.sh).
struct WatchBody {
    events: BoxStream<'static, WatchEvent>,
    renderer: Renderer,
    allow_bookmarks: bool,
    /// When `timeoutSeconds` (or the default) is up.
    deadline: tokio::time::Instant,
    stop: CancellationToken,
    /// Wakes an idle watch at its deadline or at shutdown; made the first time the watch waits.
    end: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
    done: bool,
    /// Counts the watch as open in /metrics while the body lives.
    _open: WatchGuard,
}

impl WatchBody {
    /// Past the deadline or shutting down: checked without a timer before each event, so a
    /// watch that always has events ready still ends on time.
    fn ended(&self) -> bool {
        self.stop.is_cancelled() || tokio::time::Instant::now() >= self.deadline
    }

    /// Registers the wake-up at the deadline or shutdown; true once either has come.
    fn poll_end(&mut self, cx: &mut Context<'_>) -> bool {
        let end = match &mut self.end {
            Some(end) => end,
            None => {
                let (deadline, stop) = (self.deadline, self.stop.clone());
                self.end.insert(Box::pin(async move {
                    tokio::select! {
                        _ = tokio::time::sleep_until(deadline) => {}
                        _ = stop.cancelled_owned() => {}
                    }
                }))
            }
        };
        end.as_mut().poll(cx).is_ready()
    }
}

impl http_body::Body for WatchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let event = match this.events.poll_next_unpin(cx) {
                Poll::Ready(Some(event)) => event,
                Poll::Ready(None) => {
                    this.done = true;
                    continue;
                }
                Poll::Pending => {
                    if this.poll_end(cx) {
                        this.done = true;
                        continue;
                    }
                    return Poll::Pending;
                }
            };
            if this.ended() {
                this.done = true;
                continue;
            }
            // The stream ends after its first ERROR frame.
            this.done = matches!(event, WatchEvent::Error(_));
            if let Some(frame) = this.renderer.event(event, this.allow_bookmarks) {
                return Poll::Ready(Some(Ok(Frame::data(frame))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
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
    let renderer = Renderer {
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
    let body = WatchBody {
        events,
        renderer,
        allow_bookmarks,
        deadline: tokio::time::Instant::now() + timeout,
        stop: state.stop.clone(),
        end: None,
        done: false,
        _open: state.metrics.watch_opened(r.plural),
    };
    let mut response = Body::new(body).into_response();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apiserver::http::handlers::metrics::Metrics;
    use http_body_util::BodyExt;
    use std::sync::Arc;

    /// Every wait in these tests is bounded.
    const PATIENCE: Duration = Duration::from_secs(5);

    fn workspaces() -> &'static ResourceDescriptor {
        crate::api::registry::find("aggregation.coder.com", "v1alpha1", "coderworkspaces")
            .expect("the registry serves coderworkspaces")
    }

    fn object(name: &str, rv: u64) -> Arc<StoredObject> {
        StoredObject::shared(json!({
            "apiVersion": "aggregation.coder.com/v1alpha1",
            "kind": "CoderWorkspace",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv.to_string()},
            "spec": {"running": true},
        }))
    }

    fn body(
        events: BoxStream<'static, WatchEvent>,
        allow_bookmarks: bool,
        timeout: Duration,
        stop: CancellationToken,
    ) -> WatchBody {
        WatchBody {
            events,
            renderer: Renderer {
                r: workspaces(),
                output: Output::Json,
                include: IncludeObject::Object,
                columns_sent: false,
            },
            allow_bookmarks,
            deadline: tokio::time::Instant::now() + timeout,
            stop,
            end: None,
            done: false,
            _open: Metrics::new().watch_opened("coderworkspaces"),
        }
    }

    /// The data frames of `body` until it ends.
    async fn frames(mut body: WatchBody) -> Vec<Bytes> {
        let mut out = Vec::new();
        loop {
            let frame = tokio::time::timeout(PATIENCE, body.frame())
                .await
                .expect("the watch body ended in time");
            match frame {
                Some(Ok(frame)) => out.push(frame.into_data().expect("a data frame")),
                None => return out,
            }
        }
    }

    fn expected_frame(kind: &str, object: &StoredObject) -> Vec<u8> {
        let mut frame = format!(r#"{{"type":"{kind}","object":"#).into_bytes();
        frame.extend_from_slice(object.json());
        frame.extend_from_slice(b"}\n");
        frame
    }

    #[tokio::test]
    async fn frames_are_the_events_in_order_and_the_watch_ends_after_an_error() {
        let (a, b, c) = (object("a", 1), object("b", 2), object("c", 3));
        let events = futures::stream::iter([
            WatchEvent::Added(a.clone()),
            WatchEvent::Modified(b.clone()),
            WatchEvent::Deleted(a.clone()),
            WatchEvent::Error(ObjectError::Expired(
                "too old resource version: 1 (2)".into(),
            )),
            WatchEvent::Modified(c),
        ])
        .boxed();
        let got = frames(body(
            events,
            false,
            Duration::from_secs(60),
            CancellationToken::new(),
        ))
        .await;
        assert_eq!(got.len(), 4, "nothing after the ERROR frame: {got:?}");
        assert_eq!(got[0], expected_frame("ADDED", &a));
        assert_eq!(got[1], expected_frame("MODIFIED", &b));
        assert_eq!(got[2], expected_frame("DELETED", &a));
        assert!(got[3].ends_with(b"\n"));
        let error: Value = serde_json::from_slice(&got[3]).unwrap();
        assert_eq!(error["type"], "ERROR");
        assert_eq!(error["object"]["kind"], "Status");
        assert_eq!(error["object"]["code"], 410);
        // Each frame parses on its own as the JSON the object's bytes hold.
        let added: Value = serde_json::from_slice(&got[0]).unwrap();
        assert_eq!(added["object"], a.to_value().unwrap());
    }

    #[tokio::test]
    async fn bookmarks_are_sent_only_to_watches_that_allow_them() {
        let events = || {
            futures::stream::iter([
                WatchEvent::Bookmark {
                    resource_version: "7".into(),
                    initial_events_end: true,
                },
                WatchEvent::Modified(object("a", 8)),
            ])
            .boxed()
        };
        let long = Duration::from_secs(60);
        let without = frames(body(events(), false, long, CancellationToken::new())).await;
        assert_eq!(without.len(), 1);
        assert!(without[0].starts_with(br#"{"type":"MODIFIED""#));
        let with = frames(body(events(), true, long, CancellationToken::new())).await;
        assert_eq!(with.len(), 2);
        let bookmark: Value = serde_json::from_slice(&with[0]).unwrap();
        assert_eq!(bookmark["type"], "BOOKMARK");
        assert_eq!(bookmark["object"]["kind"], "CoderWorkspace");
        assert_eq!(bookmark["object"]["metadata"]["resourceVersion"], "7");
        assert_eq!(
            bookmark["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
            "true"
        );
    }

    #[tokio::test]
    async fn an_idle_watch_ends_at_its_timeout() {
        let started = std::time::Instant::now();
        let idle = futures::stream::pending().boxed();
        let got = frames(body(
            idle,
            true,
            Duration::from_millis(50),
            CancellationToken::new(),
        ))
        .await;
        assert!(got.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_watch_that_always_has_events_ready_still_ends_at_its_timeout() {
        let busy = futures::stream::repeat_with(|| WatchEvent::Modified(object("a", 1))).boxed();
        let mut watch = body(
            busy,
            false,
            Duration::from_millis(50),
            CancellationToken::new(),
        );
        let started = std::time::Instant::now();
        let mut sent = 0;
        while let Some(frame) = watch.frame().await {
            frame.unwrap();
            sent += 1;
            assert!(
                started.elapsed() < PATIENCE,
                "still sending after {sent} frames"
            );
        }
        assert!(sent > 0);
    }

    #[tokio::test]
    async fn shutdown_ends_an_idle_watch() {
        let stop = CancellationToken::new();
        let idle = futures::stream::pending().boxed();
        let watch = body(idle, true, Duration::from_secs(60), stop.clone());
        let ended = tokio::spawn(frames(watch));
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.cancel();
        let got = tokio::time::timeout(PATIENCE, ended)
            .await
            .expect("the watch ended after shutdown")
            .unwrap();
        assert!(got.is_empty());
    }

    #[tokio::test]
    async fn an_open_watch_counts_in_metrics_until_its_body_is_dropped() {
        let metrics = Metrics::new();
        let mut watch = body(
            futures::stream::pending().boxed(),
            false,
            Duration::from_secs(60),
            CancellationToken::new(),
        );
        watch._open = metrics.watch_opened("coderworkspaces");
        let open = r#"coder_k8s_apiserver_watches_open{resource="coderworkspaces"}"#;
        assert!(metrics.encode(0, 0).unwrap().contains(&format!("{open} 1")));
        drop(watch);
        assert!(metrics.encode(0, 0).unwrap().contains(&format!("{open} 0")));
    }
}
