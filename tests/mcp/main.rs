//! The MCP server (`--app=mcp-http`) driven by the official MCP Python SDK against a real
//! kube-apiserver (envtest) and our aggregated apiserver behind the kube-aggregator. Needs
//! `python3` with the `mcp` package (hack/test.sh installs the pinned release).

#[path = "../common/aggregated_e2e.rs"]
mod aggregated_e2e;
#[path = "../common/our_binary.rs"]
mod our_binary;

mod protocol;
mod rbac;
mod support;
mod tool_calls;
