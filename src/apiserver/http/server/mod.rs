//! Accept and connection: the HTTPS listener (`listener`: TCP accept, TLS handshake, HTTP/1.1 or
//! HTTP/2 by ALPN, header read timeout), what one connection has in flight so an idle one is
//! closed (`connection`), Status bodies for the answers hyper gives by itself
//! (`parse_error_status`), and what is left of a request body its answer did not read
//! (`unread_body`: discarded, or the connection closed without a reset by `lingering_close`).
//!
//! May import: `http::router` (the service each connection serves), `auth::client_cert` (the
//! TLS client-certificate verifier), `status`. Nothing else in `http` imports it except the
//! wiring in `apiserver/mod.rs`.

pub mod connection;
pub mod lingering_close;
pub mod listener;
pub mod parse_error_status;
pub mod unread_body;
