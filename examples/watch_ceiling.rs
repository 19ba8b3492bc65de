//! Watch fan-out floor for `hack/bench.sh`: a bare rustls + hyper server (the apiserver's TLS
//! setup, no apiserver code) that speaks just enough of the bench's watch protocol. Requests
//! with `watch=1` get a chunked response that stays open; a PATCH carrying
//! `{"metadata":{"labels":{"seq":"N"}}}` encodes one frame — `{"type":"MODIFIED","object":..}`
//! with the served object and that label — once and sends the same bytes to every open watch
//! through one broadcast channel. Any other request gets the object. What `apiserver_bench
//! watch` measures against it is the least delivery latency this machine allows with 1,000 TLS
//! connections: the kernel's TCP sends, TLS records and the client's own work.
//!
//! Usage: watch_ceiling <port> <object.json> <ca-out.pem> (the PEM clients should trust)

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use serde_json::Value;
use tokio::sync::broadcast;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Body = UnsyncBoxBody<Bytes, Infallible>;

/// Frames a watch may lag behind before it misses some (the bench sends one at a time).
const BACKLOG: usize = 64;

/// `object` with label `seq`, as the watch frame an apiserver would send for it.
fn frame(object: &Value, seq: &str) -> Bytes {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        let labels = meta
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(labels) = labels.as_object_mut() {
            labels.insert("seq".into(), Value::String(seq.to_string()));
        }
    }
    let mut out = serde_json::to_vec(&serde_json::json!({"type": "MODIFIED", "object": object}))
        .unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).boxed_unsync()
}

async fn handle(
    req: hyper::Request<hyper::body::Incoming>,
    object: Arc<(Value, Bytes)>,
    events: broadcast::Sender<Bytes>,
) -> Result<hyper::Response<Body>, Infallible> {
    let watch = req.uri().query().is_some_and(|q| q.contains("watch=1"));
    let body = if watch {
        let frames = futures::stream::unfold(events.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(frame) => return Some((Ok(Frame::data(frame)), rx)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        StreamBody::new(frames.boxed()).boxed_unsync()
    } else if req.method() == hyper::Method::PATCH {
        let patch = req.into_body().collect().await.map(|b| b.to_bytes());
        let seq = patch
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| {
                v.pointer("/metadata/labels/seq")?
                    .as_str()
                    .map(String::from)
            });
        match seq {
            Some(seq) => {
                let _ = events.send(frame(&object.0, &seq));
                full(object.1.clone())
            }
            None => {
                return Ok(hyper::Response::builder()
                    .status(400)
                    .body(full(Bytes::from_static(b"expected a seq label")))
                    .unwrap_or_default());
            }
        }
    } else {
        full(object.1.clone())
    };
    Ok(hyper::Response::builder()
        .header("content-type", "application/json")
        .body(body)
        .unwrap_or_default())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: watch_ceiling <port> <object.json> <ca-out.pem>";
    let port: u16 = args.next().ok_or(usage)?.parse()?;
    let bytes = Bytes::from(std::fs::read(args.next().ok_or(usage)?)?);
    let object = Arc::new((serde_json::from_slice::<Value>(&bytes)?, bytes));
    let ca_out = args.next().ok_or(usage)?;
    let cert = coder_k8s::tls::self_signed(&[])?;
    std::fs::write(ca_out, &cert.trust_pem)?;
    let tls = tokio_rustls::TlsAcceptor::from(coder_k8s::tls::server_config(&cert, None)?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on https://{}", listener.local_addr()?);
    let builder = Arc::new(Builder::new(TokioExecutor::new()));
    let (events, _) = broadcast::channel::<Bytes>(BACKLOG);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let (tls, builder, object, events) =
            (tls.clone(), builder.clone(), object.clone(), events.clone());
        tokio::spawn(async move {
            let Ok(stream) = tls.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |req| handle(req, object.clone(), events.clone()));
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
