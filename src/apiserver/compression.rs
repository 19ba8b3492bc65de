//! gzip for large responses, like kube-apiserver: only when the client sends
//! `Accept-Encoding: gzip` and the body is at least 128 KiB (smaller bodies cost more CPU to
//! compress than they save on the wire). Streamed bodies (watches) have no known size and are
//! never compressed, so every event still reaches the client at once.

use http_body::Body;
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
