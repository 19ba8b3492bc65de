//! The generated API and its generator: the types as users consume them, the checked-in
//! `generated/` mirror, the codegen constructs compiled against real crates, the kopium
//! cross-check; and the crate's module structure (no import cycles between files, layers import
//! downward). One test binary (one link of the crate) for all of them.

#[path = "../common/schema_crds.rs"]
mod schema_crds;

mod api_types;
mod constructs;
mod generated;
mod kopium_crosscheck;
mod structure;
