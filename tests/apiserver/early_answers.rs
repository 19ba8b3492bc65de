//! Answers given before a request's body is read (a path that names nothing, a body over the
//! limit, a refusal by authentication or the in-flight limit) reach a client that writes its
//! whole request before it reads, as most HTTP/1.1 clients do: a small unread remainder is
//! discarded and the connection stays usable, a large one ends with `Connection: close` and
//! the server reading on until the client is done, never with a reset. HTTP/2 refuses such a
//! request on its own stream and keeps the connection.

use crate::apiserver_support as support;

use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use support::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How a client sends its body: its size, and the pause after each 16 KiB chunk.
#[derive(Debug, Clone, Copy)]
pub struct Sending {
    pub bytes: usize,
    pub pause: Duration,
}

impl Sending {
    pub const NONE: Sending = Sending {
        bytes: 0,
        pause: Duration::ZERO,
    };
}

/// A body larger than the server discards (256 KiB) before it answers.
pub const LARGE: Sending = Sending {
    bytes: 1024 * 1024,
    pause: Duration::from_millis(5),
};
/// A body the server discards so the connection can carry the next request.
pub const SMALL: Sending = Sending {
    bytes: 64 * 1024,
    pause: Duration::from_millis(50),
};

/// A path under `/apis` that names no resource: refused before the body is looked at.
fn unknown_subresource() -> String {
    format!("{WS}/namespaces/default/codertemplates/example/nosuchsubresource")
}

/// One HTTP/1.1 answer read off the wire.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts a metav1.Status body with this code and reason.
    pub fn assert_status(&self, code: u16, reason: &str) {
        let text = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, code, "{text}");
        let status: Value = serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("the answer is not JSON ({e}): {text}"));
        assert_eq!(status["kind"], "Status", "{status}");
        assert_eq!(status["code"], code, "{status}");
        assert_eq!(status["reason"], reason, "{status}");
    }

    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A client that writes a request whole (the body in 16 KiB chunks, `pause` apart, as a
/// client on a loaded machine does) and only then reads the answer.
pub struct SlowWriter<S> {
    stream: S,
    /// Bytes read past the last answer.
    pending: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SlowWriter<S> {
    pub fn new(stream: S) -> Self {
        SlowWriter {
            stream,
            pending: Vec::new(),
        }
    }

    /// Writes `head` (request line and fields, without the blank line), a `Content-Length` and
    /// the body as `body` says; then reads the answer. Any write or read error (a reset, a TLS
    /// EOF without close_notify) is returned as text.
    pub async fn exchange(&mut self, head: &str, body: Sending) -> Result<Answer, String> {
        let Sending {
            bytes: body_len,
            pause,
        } = body;
        let bounded = async {
            let head = format!("{head}\r\nContent-Length: {body_len}\r\n\r\n");
            self.stream
                .write_all(head.as_bytes())
                .await
                .map_err(|e| format!("writing the head: {e}"))?;
            let chunk = [b' '; 16 * 1024];
            let mut sent = 0;
            while sent < body_len {
                let n = chunk.len().min(body_len - sent);
                self.stream
                    .write_all(&chunk[..n])
                    .await
                    .map_err(|e| format!("writing the body after {sent} bytes: {e}"))?;
                self.stream
                    .flush()
                    .await
                    .map_err(|e| format!("flushing the body after {sent} bytes: {e}"))?;
                sent += n;
                tokio::time::sleep(pause).await;
            }
            self.read_answer_unbounded().await
        };
        tokio::time::timeout(CALL_TIMEOUT, bounded)
            .await
            .map_err(|_| "no answer in time".to_string())?
    }

    /// Reads the next answer (bounded).
    pub async fn read_answer(&mut self) -> Result<Answer, String> {
        tokio::time::timeout(CALL_TIMEOUT, self.read_answer_unbounded())
            .await
            .map_err(|_| "no answer in time".to_string())?
    }

    async fn read_answer_unbounded(&mut self) -> Result<Answer, String> {
        let head_end = loop {
            if let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            self.fill().await?;
        };
        let head = String::from_utf8_lossy(&self.pending[..head_end]).to_string();
        self.pending.drain(..head_end + 4);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("not a status line: {status_line:?}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
        while self.pending.len() < length {
            self.fill().await?;
        }
        let body = self.pending.drain(..length).collect();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut buf = [0u8; 16 * 1024];
        match self.stream.read(&mut buf).await {
            Ok(0) => Err(format!(
                "the connection ended after {} unparsed bytes",
                self.pending.len()
            )),
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                Ok(())
            }
            Err(e) => Err(format!("reading the answer: {e}")),
        }
    }

    /// Reads until the server ends the connection; an error (a reset) is returned as text.
    pub async fn until_closed(&mut self) -> Result<(), String> {
        let mut rest = Vec::new();
        match tokio::time::timeout(CALL_TIMEOUT, self.stream.read_to_end(&mut rest)).await {
            Err(_) => Err("the connection is still open".into()),
            Ok(Err(e)) => Err(format!("reading to the end: {e}")),
            Ok(Ok(_)) if rest.is_empty() => Ok(()),
            Ok(Ok(_)) => Err(format!(
                "unexpected bytes after the answer: {}",
                String::from_utf8_lossy(&rest)
            )),
        }
    }
}

/// A TLS connection (HTTP/1.1) to the server, wrapped as a [`SlowWriter`].
pub async fn slow_writer(
    client: &Http,
    server: &TestServer,
) -> SlowWriter<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let addr = server.url.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    SlowWriter::new(client.connect_tls(tcp).await)
}

/// The first line of a request head, to name the request in messages.
fn request_line(head: &str) -> &str {
    head.split("\r\n").next().unwrap_or(head)
}

pub fn put_head(path: &str, content_type: &str) -> String {
    format!("PUT {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}")
}

/// Asserts that a client sending `body` on a connection of its own gets the answer, that the
/// answer closes the connection, and that the connection then ends cleanly (no reset).
pub async fn assert_answered_and_closed(
    client: &Http,
    server: &TestServer,
    head: &str,
    body: Sending,
    code: u16,
    reason: &str,
) {
    let request = request_line(head);
    let mut writer = slow_writer(client, server).await;
    let answer = writer
        .exchange(head, body)
        .await
        .unwrap_or_else(|e| panic!("{request}: the client lost the answer: {e}"));
    answer.assert_status(code, reason);
    assert!(answer.closes(), "{request}: {:?}", answer.headers);
    writer
        .until_closed()
        .await
        .unwrap_or_else(|e| panic!("{request}: the connection did not end cleanly: {e}"));
}

/// Asserts that a small unread body is discarded and the connection serves the next request.
pub async fn assert_answered_and_kept(
    client: &Http,
    server: &TestServer,
    head: &str,
    code: u16,
    reason: &str,
) {
    let request = request_line(head);
    let mut writer = slow_writer(client, server).await;
    let answer = writer
        .exchange(head, SMALL)
        .await
        .unwrap_or_else(|e| panic!("{request}: the client lost the answer: {e}"));
    answer.assert_status(code, reason);
    assert!(!answer.closes(), "{request}: {:?}", answer.headers);
    let next = writer
        .exchange("GET /healthz HTTP/1.1\r\nHost: localhost", Sending::NONE)
        .await
        .unwrap_or_else(|e| panic!("{request}: the next request on the connection failed: {e}"));
    assert_eq!(next.status, 200, "{}", String::from_utf8_lossy(&next.body));
}

/// Both: the answer with a large body still coming (connection closed cleanly), and with a
/// small one (connection kept).
pub async fn assert_answered(
    client: &Http,
    server: &TestServer,
    head: &str,
    code: u16,
    reason: &str,
) {
    assert_answered_and_closed(client, server, head, LARGE, code, reason).await;
    assert_answered_and_kept(client, server, head, code, reason).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_path_that_names_nothing_is_answered_while_the_body_is_still_coming() {
    let server = TestServer::start().await;
    let client = server.http();
    let head = put_head(&unknown_subresource(), "application/json");
    assert_answered(&client, &server, &head, 404, "NotFound").await;
    // Outside /apis (the Router's own 404).
    let head = put_head("/nothing/here", "application/json");
    assert_answered(&client, &server, &head, 404, "NotFound").await;
    server.stop().await;
}

/// A small remainder that arrives too slowly (over the server's 2 s for discarding) is not
/// waited for: the answer closes the connection, still without a reset.
#[tokio::test(flavor = "multi_thread")]
async fn a_small_remainder_that_trickles_is_not_waited_for() {
    let server = TestServer::start().await;
    let client = server.http();
    let head = put_head(&unknown_subresource(), "application/json");
    // Four 16 KiB chunks 700 ms apart: the last is written after the server gave up at 2 s.
    let trickle = Sending {
        pause: Duration::from_millis(700),
        ..SMALL
    };
    assert_answered_and_closed(&client, &server, &head, trickle, 404, "NotFound").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_over_the_limit_is_answered_while_the_rest_is_still_coming() {
    let server = TestServer::start().await;
    let client = server.http();
    let head = put_head(&ws_path("default", Some("big")), "application/json");
    // 1 MiB past the 3 MiB limit: the server stops reading at the limit.
    let over = Sending {
        bytes: 4 * 1024 * 1024,
        pause: Duration::from_millis(1),
    };
    assert_answered_and_closed(&client, &server, &head, over, 413, "RequestEntityTooLarge").await;
    server.stop().await;
}

/// A client that sends `Expect: 100-continue` and waits is answered without being asked for
/// the body (no `100 Continue` first), and told that the connection closes.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_expecting_100_continue_is_answered_without_being_asked_for_the_body() {
    let server = TestServer::start().await;
    let client = server.http();
    let mut writer = slow_writer(&client, &server).await;
    let head = put_head(&unknown_subresource(), "application/json");
    let head = format!(
        "{head}\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        LARGE.bytes
    );
    writer.stream.write_all(head.as_bytes()).await.unwrap();
    writer.stream.flush().await.unwrap();
    let answer = writer.read_answer().await.expect("an answer");
    answer.assert_status(404, "NotFound");
    assert!(answer.closes(), "{:?}", answer.headers);
    writer
        .until_closed()
        .await
        .unwrap_or_else(|e| panic!("the connection did not end cleanly: {e}"));
    server.stop().await;
}

/// Over `--max-requests-inflight`, the 429 reaches a client still writing its body.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_over_the_inflight_limit_is_answered_while_the_body_is_still_coming() {
    let mut args = support::args();
    args.max_requests_inflight = 1;
    let server = TestServer::start_with(args, coder_k8s::apiserver::memory_objects()).await;
    let client = server.http();
    // The only slot is held by a request whose body never comes.
    let addr = server.url.trim_start_matches("https://").to_string();
    let mut holder = client
        .connect_tls(tokio::net::TcpStream::connect(&addr).await.unwrap())
        .await;
    let head = put_head(&ws_path("default", Some("held")), "application/json");
    holder
        .write_all(format!("{head}\r\nContent-Length: 10\r\n\r\n").as_bytes())
        .await
        .unwrap();
    holder.flush().await.unwrap();
    // Bounded wait until the holder has the slot: a small request is then refused.
    let mut refused = false;
    for _ in 0..200 {
        let r = get(&client, &ws_path("default", None)).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "the held request never took the only slot");
    let head = put_head(&ws_path("default", Some("x")), "application/json");
    assert_answered(&client, &server, &head, 429, "TooManyRequests").await;
    drop(holder);
    server.stop().await;
}

/// HTTP/2: a request refused before its body is read gets its Status on its own stream, and
/// the connection carries the next request (the unread stream is reset alone).
#[tokio::test(flavor = "multi_thread")]
async fn http2_refuses_an_unread_body_on_its_stream_and_keeps_the_connection() {
    use http_body_util::BodyExt;
    let server = TestServer::start().await;
    let client = server.http();
    let addr = server.url.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(client.connect_tls(tcp).await);
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let exchange = async {
        // More than the stream's 256 KiB window: the server must answer without reading it.
        let refused = sender
            .send_request(
                http::Request::put(unknown_subresource())
                    .header("content-type", "application/json")
                    .body(http_body_util::Full::new(bytes::Bytes::from(vec![
                        b' ';
                        LARGE.bytes
                    ])))
                    .unwrap(),
            )
            .await
            .expect("an answer");
        let status = refused.status();
        let body = refused.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status: status.as_u16(),
            headers: Vec::new(),
            body: body.to_vec(),
        }
        .assert_status(404, "NotFound");
        sender.ready().await.expect("the connection is still open");
        let next = sender
            .send_request(
                http::Request::get("/version")
                    .body(http_body_util::Full::new(bytes::Bytes::new()))
                    .unwrap(),
            )
            .await
            .expect("the next request on the connection");
        assert_eq!(next.status(), StatusCode::OK);
    };
    tokio::time::timeout(CALL_TIMEOUT, exchange)
        .await
        .expect("answers in time");
    connection.abort();
    server.stop().await;
}

/// An answer hyper gives by itself (here 431: more header fields than allowed without a client
/// certificate) comes before the body too; the client still writing it gets the Status.
#[tokio::test(flavor = "multi_thread")]
async fn an_unparseable_request_is_answered_while_the_body_is_still_coming() {
    let server = TestServer::start().await;
    let client = server.http();
    let fields: String = (0..150).map(|i| format!("\r\nX-Field-{i}: v")).collect();
    let head = put_head(&ws_path("default", Some("x")), "application/json") + &fields;
    assert_answered_and_closed(
        &client,
        &server,
        &head,
        LARGE,
        431,
        "RequestHeaderFieldsTooLarge",
    )
    .await;
    server.stop().await;
}
