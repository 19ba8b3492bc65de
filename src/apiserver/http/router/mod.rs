//! The request pipeline as layers around the handlers (`routes`): probes and metrics (never
//! limited nor authenticated), then authentication and authorization, then `limits` (requests
//! and request-body bytes in flight, per-request deadlines), then `compression` (gzip for large
//! responses), then dispatch to `http::handlers`.
//!
//! May import: `http::handlers`, `http::request`, `http::state`, `auth`, `objects`, `status`.
//! Imported only by `http::server` and the wiring in `apiserver/mod.rs`.

pub mod compression;
pub mod limits;
pub mod routes;
