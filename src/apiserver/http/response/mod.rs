//! Response bodies: `render` (objects and lists as JSON, YAML, Table or PartialObjectMetadata,
//! plus `Warning` headers) and `table` (`meta.k8s.io` Table from the schema's printer columns).
//!
//! May import: `http::request` (the negotiated representation), `objects`, `storage` (stored
//! objects), `status`. Must not import `http::handlers`, `http::router` or `http::server`.

pub mod render;
pub mod table;
