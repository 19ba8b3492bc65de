//! coder-k8s: a Kubernetes operator (`--app=controller`), aggregated API server
//! (`--app=aggregated-apiserver`) and MCP server (`--app=mcp-http`) for Coder, in one binary.
//!
//! The apps never import each other. They share the generated API ([`api`]) and the small
//! common modules: [`cli`], [`runners`], [`flags`], [`telemetry`], [`shutdown`], [`tls`],
//! [`client_config`], [`coder`] (the client of coderd's REST API) and [`lease`] (leader election
//! on a Lease).

pub mod all;
pub mod api;
pub mod apiserver;
pub mod certs;
pub mod cli;
pub mod client_config;
pub mod coder;
pub mod controller;
pub mod flags;
pub mod lease;
pub mod mcp;
pub mod runners;
pub mod shutdown;
pub mod telemetry;
pub mod tls;
