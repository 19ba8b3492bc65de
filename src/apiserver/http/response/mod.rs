//! Response bodies: `render` (objects and lists as JSON, YAML, Table or PartialObjectMetadata,
//! plus `Warning` headers), `table` (`meta.k8s.io` Table from the schema's printer columns) and
//! `object_status` (object-layer errors as the Status kube would answer).
//!
//! May import: `http::request` (the negotiated representation), `objects`, `storage` (stored
//! objects), `status`. Must not import `http::handlers`, `http::router` or `http::server`.

pub mod object_status;
pub mod render;
pub mod table;
