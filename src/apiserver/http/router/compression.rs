//! gzip for large responses, like kube-apiserver: only when the client sends
//! `Accept-Encoding: gzip` and the body is at least 128 KiB (smaller bodies cost more CPU to
//! compress than they save on the wire). Streamed bodies (watches) have no known size and are
//! never compressed, so every event still reaches the client at once.

use std::convert::Infallible;

use axum::response::Response;
use http::HeaderValue;
use http::header::ACCEPT_ENCODING;
use http_body::Body;
use tower::{Layer, ServiceExt};
use tower_http::compression::predicate::Predicate;
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// kube-apiserver's threshold (`defaultGzipThresholdBytes`).
pub const THRESHOLD_BYTES: u64 = 128 * 1024;

/// Compress only complete bodies of at least [`THRESHOLD_BYTES`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LargeCompleteBodies;

impl Predicate for LargeCompleteBodies {
    fn should_compress<B: Body>(&self, response: &http::Response<B>) -> bool {
        !response
            .headers()
            .contains_key(http::header::CONTENT_ENCODING)
            && response
                .body()
                .size_hint()
                .exact()
                .is_some_and(|size| size >= THRESHOLD_BYTES)
    }
}

/// The layer for the API router. Level 1 (fastest), as kube's gzip writer uses
/// `gzip.BestSpeed`: a LIST is compressed on every request.
pub fn layer() -> CompressionLayer<LargeCompleteBodies> {
    // Only the gzip feature is built, so gzip is the only encoding offered.
    CompressionLayer::new()
        .quality(CompressionLevel::Fastest)
        .compress_when(LargeCompleteBodies)
}

/// A request's `Accept-Encoding` values, kept to compress its response once the handler ran.
#[derive(Debug, Default)]
pub struct AcceptEncoding(Vec<HeaderValue>);

impl AcceptEncoding {
    pub fn of(headers: &http::HeaderMap) -> Self {
        AcceptEncoding(headers.get_all(ACCEPT_ENCODING).iter().cloned().collect())
    }

    /// No parameters (no `;q=`): every coding listed, `*` and identity are acceptable, so the
    /// layer never answers 406 and leaves a response it does not compress as it is.
    fn all_acceptable(&self) -> bool {
        self.0.iter().all(|value| !value.as_bytes().contains(&b';'))
    }
}

/// What [`layer`] makes of `response` to a request that sent `accept`. A response the layer
/// would pass through untouched (below the threshold, identity acceptable) skips it: its
/// encoding negotiation and body wrapper cost more than a small GET's handler.
pub async fn compress(accept: AcceptEncoding, response: Response) -> Response {
    if accept.all_acceptable() && !LargeCompleteBodies.should_compress(&response) {
        return response;
    }
    let mut request = http::Request::new(());
    for value in accept.0 {
        request.headers_mut().append(ACCEPT_ENCODING, value);
    }
    // The layer around a service that answers with the response already made (called once).
    let mut response = Some(response);
    let ready = tower::service_fn(move |_: http::Request<()>| {
        std::future::ready(Ok::<_, Infallible>(response.take().unwrap_or_default()))
    });
    match layer().layer(ready).oneshot(request).await {
        Ok(compressed) => compressed.map(axum::body::Body::new),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// Status, headers and body bytes of a response.
    async fn parts(response: Response) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let (parts, body) = response.into_parts();
        let headers = parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        (parts.status.as_u16(), headers, bytes)
    }

    fn response(size: usize) -> Response {
        let mut response = Response::new(axum::body::Body::from(vec![b'x'; size]));
        response.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }

    /// `compress` answers exactly as the layer wrapped around the handler does.
    #[tokio::test]
    async fn compress_equals_the_layer() {
        let accepts: &[&[&str]] = &[
            &[],
            &["gzip"],
            &["gzip, deflate, br"],
            &["*"],
            &["identity"],
            &[""],
            &["br"],
            &["gzip", "identity"],
            &["gzip;q=0"],
            &["identity;q=0"],
            &["*;q=0"],
            &["gzip;q=0, identity;q=0"],
            &["gzip;q=0.5, *;q=0"],
        ];
        for &accept in accepts {
            for size in [10, THRESHOLD_BYTES as usize - 1, THRESHOLD_BYTES as usize] {
                let mut request = http::Request::new(axum::body::Body::empty());
                for value in accept {
                    request
                        .headers_mut()
                        .append(ACCEPT_ENCODING, HeaderValue::from_static(value));
                }
                let kept = AcceptEncoding::of(request.headers());
                let handler = tower::service_fn(move |_: http::Request<axum::body::Body>| {
                    std::future::ready(Ok::<_, Infallible>(response(size)))
                });
                let layered = layer().layer(handler).oneshot(request).await.unwrap();
                let expected = parts(layered.map(axum::body::Body::new)).await;
                let got = parts(compress(kept, response(size)).await).await;
                assert_eq!(got, expected, "Accept-Encoding {accept:?}, {size} bytes");
            }
        }
    }
}
