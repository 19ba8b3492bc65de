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
type TlsStream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

const BASE: &str = "/apis/aggregation.coder.com/v1alpha1/namespaces";
/// Longest a watch may take to connect and get its response head.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

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

    async fn connect_tls(&self) -> Result<TlsStream, Error> {
        let tcp = tokio::net::TcpStream::connect(&self.addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls_pki_types::ServerName::try_from("localhost")?;
        Ok(tokio_rustls::TlsConnector::from(self.tls.clone())
            .connect(name, tcp)
            .await?)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, Error> {
        let tls = self.connect_tls().await?;
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
    let latencies: Arc<Mutex<Vec<Delivery>>> = Arc::new(Mutex::new(Vec::new()));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    let (finished_tx, mut finished_rx) = tokio::sync::mpsc::channel::<()>(watchers);
    // Watches stay open until every watcher has every event: a connection closed early would
    // make the server and this client tear it down while the last event is still on its way
    // to the others, and that teardown would be counted as the last event's delivery time.
    let (release, released) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    let connect_started = Instant::now();
    for watcher in 0..watchers {
        let (target, sent_at, latencies, ready, finished, mut released) = (
            target.clone(),
            sent_at.clone(),
            latencies.clone(),
            ready_tx.clone(),
            finished_tx.clone(),
            released.clone(),
        );
        let path =
            format!("{BASE}/watch/coderworkspaces?watch=1&resourceVersion={rv}&timeoutSeconds=600");
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::time::timeout(OPEN_TIMEOUT, WatchStream::open(&target, &path))
                .await
                .map_err(|_| "opening a watch timed out")??;
            let _ = ready.send(()).await;
            let mut received = 0;
            while received < events {
                let Some((arrived, frames)) = stream.next_frames().await? else {
                    return Err("the watch ended early".into());
                };
                for frame in frames {
                    let Some(seq) = seq_label(&frame) else {
                        continue;
                    };
                    let start = sent_at.lock().map_err(|_| "poisoned")?.get(seq).copied();
                    if let Some(Some(start)) = start {
                        latencies.lock().map_err(|_| "poisoned")?.push(Delivery {
                            event: seq,
                            watcher,
                            ms: (arrived - start).as_secs_f64() * 1e3,
                        });
                    }
                    received += 1;
                }
            }
            let _ = finished.send(()).await;
            let _ = released.wait_for(|r| *r).await;
            Ok::<(), Error>(())
        }));
    }
    drop((ready_tx, finished_tx));
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
    // CPU time of the server (when its pid is given) and of this client while events flow:
    // between the events both are idle, so the difference over the run is the cost of the
    // events (the PATCH, the fan-out and the delivery).
    let server = std::env::var("WATCH_SERVER_PID").ok();
    let server_cpu_before = server.as_deref().map(cpu_ns);
    let run = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let client_cpu_before = cpu_ns("self");
    for seq in 0..events {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // The run label makes every patch a change, even against an object an earlier run
        // left with the same seq (an unchanged object would send no event).
        let patch = json!({"metadata": {"labels": {"seq": seq.to_string(), "run": run.as_str()}}});
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
    let mut finished = 0;
    while finished < ready {
        tokio::select! {
            done = finished_rx.recv() => match done {
                Some(()) => finished += 1,
                None => break,
            },
            _ = &mut deadline => {
                eprintln!("{} watchers did not get every event within 60s", ready - finished);
                break;
            }
        }
    }
    let server_cpu_after = server.as_deref().and_then(cpu_ns);
    let client_cpu_after = cpu_ns("self");
    let _ = release.send(true);
    for t in tasks {
        if t.is_finished() || finished == ready {
            t.await??;
        } else {
            t.abort();
        }
    }
    let per_event = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(b), Some(a)) => format!("{:.2}", a.saturating_sub(b) as f64 / 1e6 / events as f64),
        _ => "nan".to_string(),
    };
    let server_cpu = per_event(server_cpu_before.flatten(), server_cpu_after);
    let client_cpu = per_event(client_cpu_before, client_cpu_after);
    let deliveries = latencies.lock().map_err(|_| "poisoned")?.clone();
    report_distribution(&deliveries, events);
    let mut all: Vec<f64> = deliveries.iter().map(|d| d.ms).collect();
    all.sort_by(|a, b| a.total_cmp(b));
    println!(
        "watch delivery: watchers={watchers} events={events} delivered={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} server_cpu_ms_per_event={server_cpu} client_cpu_ms_per_event={client_cpu}",
        all.len(),
        percentile(&all, 50.0),
        percentile(&all, 99.0),
        all.last().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}

/// A watch read straight off its TLS stream: the request written by hand, the chunked
/// response decoded here. hyper's client would add a connection task and a body channel per
/// watch, doubling this one-core client's wake-ups per event; the bytes read are the same.
struct WatchStream {
    tls: TlsStream,
    /// Bytes read and not yet decoded (a partial chunk).
    wire: Vec<u8>,
    /// Decoded body bytes not yet ending in a newline (a partial frame).
    body: Vec<u8>,
}

impl WatchStream {
    async fn open(target: &Target, path: &str) -> Result<Self, Error> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tls = target.connect_tls().await?;
        let request =
            format!("GET {path} HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\n\r\n");
        tls.write_all(request.as_bytes()).await?;
        tls.flush().await?;
        let mut wire = Vec::with_capacity(16 * 1024);
        let head_end = loop {
            if let Some(at) = wire.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if tls.read_buf(&mut wire).await? == 0 {
                return Err("the server closed the watch before answering".into());
            }
        };
        let head = String::from_utf8_lossy(&wire[..head_end]).to_ascii_lowercase();
        if !head.starts_with("http/1.1 200") || !head.contains("transfer-encoding: chunked") {
            return Err(format!("unexpected watch response: {head}").into());
        }
        wire.drain(..head_end);
        Ok(WatchStream {
            tls,
            wire,
            body: Vec::new(),
        })
    }

    /// The complete frames the next read brings, with the time it returned; None at the end
    /// of the response.
    async fn next_frames(&mut self) -> Result<Option<(Instant, Vec<Vec<u8>>)>, Error> {
        use tokio::io::AsyncReadExt;
        loop {
            if self.tls.read_buf(&mut self.wire).await? == 0 {
                return Ok(None);
            }
            let arrived = Instant::now();
            let ended = dechunk(&mut self.wire, &mut self.body)?;
            let mut frames = Vec::new();
            while let Some(end) = self.body.iter().position(|b| *b == b'\n') {
                frames.push(self.body.drain(..=end).collect());
            }
            if !frames.is_empty() {
                return Ok(Some((arrived, frames)));
            }
            if ended {
                return Ok(None);
            }
        }
    }
}

/// Moves the payload of every complete chunk at the start of `wire` to `body`; true once the
/// last (empty) chunk has been read.
fn dechunk(wire: &mut Vec<u8>, body: &mut Vec<u8>) -> Result<bool, Error> {
    let mut at = 0;
    let ended = loop {
        let rest = &wire[at..];
        let Some(line) = rest.windows(2).position(|w| w == b"\r\n") else {
            break false;
        };
        let size_text = std::str::from_utf8(&rest[..line])?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|e| format!("bad chunk size {size_text:?}: {e}"))?;
        if size == 0 {
            break true;
        }
        let data = line + 2;
        if rest.len() < data + size + 2 {
            break false;
        }
        body.extend_from_slice(&rest[data..data + size]);
        at += data + size + 2;
    };
    wire.drain(..at);
    Ok(ended)
}

/// One frame's arrival: which event, at which watcher, how long after its PATCH was sent.
#[derive(Clone, Copy)]
struct Delivery {
    event: usize,
    watcher: usize,
    ms: f64,
}

/// Where the latency comes from: each event's spread across the watchers (is the first event
/// after the watches open slower?), and whether the same watchers are late every time.
fn report_distribution(deliveries: &[Delivery], events: usize) {
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    for event in 0..events {
        let ms = sorted(
            deliveries
                .iter()
                .filter(|d| d.event == event)
                .map(|d| d.ms)
                .collect(),
        );
        println!(
            "  event {event:>2}: first {:.2} p50 {:.2} p99 {:.2} last {:.2} ms",
            ms.first().copied().unwrap_or(f64::NAN),
            percentile(&ms, 50.0),
            percentile(&ms, 99.0),
            ms.last().copied().unwrap_or(f64::NAN)
        );
    }
    let warm = sorted(
        deliveries
            .iter()
            .filter(|d| d.event > 0)
            .map(|d| d.ms)
            .collect(),
    );
    println!(
        "  without event 0 (the first after the watches opened): p50 {:.2} p99 {:.2} max {:.2} ms",
        percentile(&warm, 50.0),
        percentile(&warm, 99.0),
        warm.last().copied().unwrap_or(f64::NAN)
    );
    // Rank correlation of a watcher's lateness between consecutive events: near 1 means a fixed
    // delivery order (the same watchers always last), near 0 a fresh order each time.
    let mut ranks: std::collections::HashMap<(usize, usize), f64> = Default::default();
    for event in 0..events {
        let mut of_event: Vec<&Delivery> = deliveries.iter().filter(|d| d.event == event).collect();
        of_event.sort_by(|a, b| a.ms.total_cmp(&b.ms));
        let n = of_event.len().max(1) as f64;
        for (rank, d) in of_event.iter().enumerate() {
            ranks.insert((event, d.watcher), rank as f64 / n);
        }
    }
    let mut pairs = Vec::new();
    for ((event, watcher), rank) in &ranks {
        if let Some(next) = ranks.get(&(event + 1, *watcher)) {
            pairs.push((*rank, *next));
        }
    }
    println!(
        "  delivery order, rank correlation between consecutive events: {:.2}",
        correlation(&pairs)
    );
}

fn correlation(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    let (mx, my) = pairs
        .iter()
        .fold((0.0, 0.0), |(x, y), (a, b)| (x + a / n, y + b / n));
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in pairs {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

/// CPU time of every thread of process `pid` ("self" for this one), in nanoseconds, from
/// /proc/<pid>/task/*/schedstat (exact, unlike the clock-tick counts of /proc/<pid>/stat).
fn cpu_ns(pid: &str) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
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
