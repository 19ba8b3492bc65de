//! What a request asks for and carries, decoded and validated before any object is touched:
//! `info` (method, path, query → verb, kind, namespace, name, subresource, like kube's
//! `requestinfo`), `list_validation` (list/watch-only options), `delete_options` (body and
//! query of a DELETE), `negotiation` (`Accept` and `Content-Type`), `bounded_decode` (bodies
//! decoded within a memory allowance), `query_values` (integers in the query, with Go's errors).
//!
//! May import: `objects` (its option types), `status`, the generated registry. Must not import
//! `http::response`, `http::handlers`, `http::router` or `http::server`.

pub mod bounded_decode;
pub mod delete_options;
pub mod info;
pub mod list_validation;
pub mod negotiation;
pub mod query_values;
