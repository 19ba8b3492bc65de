//! The fake coderd's own tests, one module per part of coderd's API it answers, in one binary
//! (a binary per file would link the fake and its HTTP client again for each).

mod common;

mod auth;
mod entitlements;
mod knobs;
mod licenses;
mod provisioner_keys;
mod shapes;
mod templates;
mod versions;
mod workspace_proxies;
mod workspaces;
