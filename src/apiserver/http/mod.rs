//! The HTTP side of the aggregated apiserver, read top-down in the order a request travels:
//!
//! 1. `server`: accept TCP, finish TLS (the client certificate is the first identity), serve
//!    HTTP/1.1 or HTTP/2 with per-connection bounds (streams, idle close, header timeouts).
//! 2. `router`: the pipeline: probes and metrics first, then authentication and authorization
//!    (`crate::apiserver::auth`), in-flight and deadline limits, gzip, and the dispatch by verb.
//! 3. `handlers`: one module per kind of endpoint: resources (the verbs), watch, discovery,
//!    OpenAPI, health.
//! 4. `request`: what the request asks for and carries: path → verb/kind/name, query options,
//!    DeleteOptions, content negotiation, bodies decoded within an allowance.
//! 5. `response`: object, list and Table bodies in the negotiated representation.
//!
//! Below it: `crate::apiserver::objects` (registry semantics) on `crate::apiserver::storage`;
//! errors as `metav1.Status` come from the leaf `crate::apiserver::status`.
//!
//! May import: `auth`, `objects`, `storage`, `status`, the generated registry. Must not be
//! imported by `auth`, `objects`, `storage` or `coder`: nothing below HTTP knows of it. Inside,
//! the sub-folders depend one way: server → router → handlers → response → request.

pub mod handlers;
pub mod request;
pub mod response;
pub mod router;
pub mod server;
