//! Endpoints, one module each: `resources` (get, list, create, update, patch, apply, delete,
//! deletecollection, by what the generated registry allows), `watch` (event streams),
//! `discovery` and `openapi` (documents computed once at start), `health` (`/healthz`,
//! `/livez`, `/readyz`), `metrics` (`/metrics`, and the counters the router and watches record).
//! `state` is what they all share: the object layer, the documents, metrics, limits, readiness.
//!
//! May import: `http::request`, `http::response`, `auth` (the configuration `state` holds),
//! `objects`, `storage` (its event and version types), `status`. Must not import `http::router` or
//! `http::server`: handlers do not know how requests reach them.

pub mod discovery;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod resources;
pub mod state;
pub mod watch;
