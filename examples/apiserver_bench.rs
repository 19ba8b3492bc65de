//! Load helper for `hack/bench.sh` (not a test): seeds objects into a running aggregated
//! apiserver and measures watch event delivery to many concurrent watchers, over TLS.
//!
//! Usage:
//!   apiserver_bench seed <url> <ca.pem> <count>
//!   apiserver_bench watch <url> <ca.pem> <watchers> <events>

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use serde_json::{Value, json};

type Error = Box<dyn std::error::Error + Send + Sync>;

const BASE: &str = "/apis/aggregation.coder.com/v1alpha1/namespaces";

struct Target {
    addr: String,
    tls: Arc<rustls::ClientConfig>,
}

impl Target {
    fn new(url: &str, ca_file: &str) -> Result<Self, Error> {
        use rustls_pki_types::pem::PemObject;
        coder_k8s::tls::install_crypto_provider();
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca_file)? {
            roots.add(cert?)?;
        }
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Target {
            addr: url.trim_start_matches("https://").to_string(),
            tls: Arc::new(config),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Error> {
        let tcp = tokio::net::TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls_pki_types::ServerName::try_from("localhost")?;
        let tls = tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await?;
        tokio::spawn(connection);
        Ok(sender)
    }
}

fn request(
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Result<hyper::Request<Full<Bytes>>, Error> {
    Ok(hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))?)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    req: hyper::Request<Full<Bytes>>,
) -> Result<(u16, Bytes), Error> {
    sender.ready().await?;
    let response = sender.send_request(req).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

fn workspace(namespace: &str, name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "aggregation.coder.com/v1alpha1",
        "kind": "CoderWorkspace",
        "metadata": {"name": name, "namespace": namespace, "labels": {"bench": "yes"}},
        "spec": {"running": true},
    }))
    .unwrap_or_default()
}

/// Creates `count` objects in namespace `default` over 16 keep-alive connections.
async fn seed(target: Arc<Target>, count: usize) -> Result<(), Error> {
    let started = Instant::now();
    let workers = 16;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = target.connect().await?;
            for i in (w..count).step_by(workers) {
                let body = workspace("default", &format!("bench-{i:05}"));
                let req = request(
                    "POST",
                    &format!("{BASE}/default/coderworkspaces"),
                    "application/json",
                    body,
                )?;
                let (status, bytes) = send(&mut sender, req).await?;
                if status != 201 && status != 409 {
                    return Err(format!(
                        "create failed: {status} {}",
                        String::from_utf8_lossy(&bytes)
                    )
                    .into());
                }
            }
            Ok::<(), Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {count} objects in {secs:.2}s ({:.0} creates/s)",
        count as f64 / secs
    );
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Opens `watchers` watches on namespace `watch`, then patches one object `events` times and
/// records, per watcher and event, the time from just before the PATCH to the frame's arrival.
async fn watch(target: Arc<Target>, watchers: usize, events: usize) -> Result<(), Error> {
    let mut admin = target.connect().await?;
    let created = request(
        "POST",
        &format!("{BASE}/watch/coderworkspaces"),
        "application/json",
        workspace("watch", "target"),
    )?;
    let (status, bytes) = send(&mut admin, created).await?;
    let rv = if status == 201 {
        serde_json::from_slice::<Value>(&bytes)?["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string()
    } else {
        let req = request(
            "GET",
            &format!("{BASE}/watch/coderworkspaces/target"),
            "application/json",
            Vec::new(),
        )?;
        let (_, bytes) = send(&mut admin, req).await?;
        serde_json::from_slice::<Value>(&bytes)?["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or("0")
            .to_string()
    };

    let sent_at: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; events]));
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    let mut tasks = Vec::new();
    let connect_started = Instant::now();
    for _ in 0..watchers {
        let (target, sent_at, latencies, ready) = (
            target.clone(),
            sent_at.clone(),
            latencies.clone(),
            ready_tx.clone(),
        );
        let path =
            format!("{BASE}/watch/coderworkspaces?watch=1&resourceVersion={rv}&timeoutSeconds=600");
        tasks.push(tokio::spawn(async move {
            let mut sender = target.connect().await?;
            let req = request("GET", &path, "application/json", Vec::new())?;
            sender.ready().await?;
            let response = sender.send_request(req).await?;
            let _ = ready.send(()).await;
            let mut body = response.into_body();
            let mut buffer = Vec::new();
            let mut received = 0;
            while received < events {
                let Some(frame) = body.frame().await else {
                    break;
                };
                let Ok(data) = frame?.into_data() else {
                    continue;
                };
                buffer.extend_from_slice(&data);
                while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                    let now = Instant::now();
                    let seq = seq_label(&buffer[..end]);
                    buffer.drain(..=end);
                    if let Some(seq) = seq {
                        let start = sent_at.lock().map_err(|_| "poisoned")?[seq];
                        if let Some(start) = start {
                            latencies
                                .lock()
                                .map_err(|_| "poisoned")?
                                .push((now - start).as_secs_f64() * 1e3);
                        }
                        received += 1;
                    }
                }
            }
            Ok::<(), Error>(())
        }));
    }
    drop(ready_tx);
    let mut ready = 0;
    while ready < watchers {
        if ready_rx.recv().await.is_none() {
            break;
        }
        ready += 1;
    }
    println!(
        "{ready} watches open after {:.2}s",
        connect_started.elapsed().as_secs_f64()
    );
    for seq in 0..events {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let patch = json!({"metadata": {"labels": {"seq": seq.to_string()}}});
        let req = request(
            "PATCH",
            &format!("{BASE}/watch/coderworkspaces/target"),
            "application/merge-patch+json",
            serde_json::to_vec(&patch)?,
        )?;
        sent_at.lock().map_err(|_| "poisoned")?[seq] = Some(Instant::now());
        let (status, bytes) = send(&mut admin, req).await?;
        if status != 200 {
            return Err(
                format!("patch failed: {status} {}", String::from_utf8_lossy(&bytes)).into(),
            );
        }
    }
    let deadline = tokio::time::sleep(Duration::from_secs(60));
    tokio::pin!(deadline);
    for t in tasks {
        tokio::select! {
            r = t => { r??; }
            _ = &mut deadline => { eprintln!("some watchers did not get every event within 60s"); break; }
        }
    }
    let mut all = latencies.lock().map_err(|_| "poisoned")?.clone();
    all.sort_by(|a, b| a.total_cmp(b));
    println!(
        "watch delivery: watchers={watchers} events={events} delivered={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        all.len(),
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// The `seq` label of a watch frame, found without parsing the frame: with a thousand watchers
/// on one client core, a full JSON parse per frame would make the client, not the server, the
/// bottleneck of the delivery latency being measured.
fn seq_label(frame: &[u8]) -> Option<usize> {
    const NEEDLE: &[u8] = br#""seq":""#;
    let at = frame.windows(NEEDLE.len()).position(|w| w == NEEDLE)? + NEEDLE.len();
    let digits = frame[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    std::str::from_utf8(&frame[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: apiserver_bench seed <url> <ca.pem> <count> | watch <url> <ca.pem> <watchers> <events>";
    match args.as_slice() {
        [cmd, url, ca, count] if cmd == "seed" => {
            seed(Arc::new(Target::new(url, ca)?), count.parse()?).await
        }
        [cmd, url, ca, watchers, events] if cmd == "watch" => {
            watch(
                Arc::new(Target::new(url, ca)?),
                watchers.parse()?,
                events.parse()?,
            )
            .await
        }
        _ => Err(usage.into()),
    }
}
