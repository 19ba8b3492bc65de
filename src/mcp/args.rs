//! Flags of `--app=mcp-http` and of the `coder-k8s mcp` stdio subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::flags::BoolishFlag;

/// Flags of the MCP server (`--app=mcp-http`, and part of `--app=all`).
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "MCP server (--app=mcp-http)")]
pub struct McpArgs {
    /// Address of the MCP listener: `/mcp` (Streamable HTTP), `/healthz`, `/readyz`, `/metrics`.
    #[arg(long, default_value = "0.0.0.0:8090")]
    pub mcp_bind_address: SocketAddr,

    /// PEM serving certificate (chain) of the MCP listener. Without it, and without
    /// --mcp-plain-http, a self-signed CA and certificate are minted at start.
    #[arg(long, requires = "mcp_tls_private_key_file")]
    pub mcp_tls_cert_file: Option<PathBuf>,

    /// PEM private key of --mcp-tls-cert-file.
    #[arg(long, requires = "mcp_tls_cert_file")]
    pub mcp_tls_private_key_file: Option<PathBuf>,

    /// Serve plain HTTP instead of HTTPS: only behind a TLS-terminating proxy or mesh, or on
    /// loopback (kubectl port-forward), since callers send bearer tokens.
    #[arg(long, conflicts_with = "mcp_tls_cert_file", boolish = false)]
    pub mcp_plain_http: bool,

    /// INSECURE: skip caller authentication and run every tool with the server's own
    /// Kubernetes identity, as the upstream Go project does. Anyone who reaches the port can
    /// then do whatever the server's ServiceAccount may (stop any workspace). Only for a
    /// trusted local setup; the listener then accepts only the hosts of --mcp-allowed-host.
    #[arg(long, boolish = false)]
    pub mcp_insecure_server_identity: bool,

    /// Host header values accepted on /mcp (DNS-rebinding protection for browsers on the same
    /// machine). Default: any host when callers authenticate with tokens (a browser never
    /// attaches one on its own), else localhost, 127.0.0.1 and ::1. Repeat or separate with
    /// commas.
    #[arg(long, value_delimiter = ',')]
    pub mcp_allowed_host: Vec<String>,

    /// How long an authenticated token (and the impersonating client made for it) is reused
    /// before TokenReview is asked again, e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub mcp_token_cache_ttl: Duration,

    /// Largest MCP request body in bytes; larger ones get 413.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub mcp_max_request_bytes: usize,

    /// On shutdown, how long open MCP requests may take to finish before their connections are
    /// closed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub mcp_shutdown_grace_period: Duration,
}

impl Default for McpArgs {
    fn default() -> Self {
        McpArgs {
            mcp_bind_address: SocketAddr::from(([0, 0, 0, 0], 8090)),
            mcp_tls_cert_file: None,
            mcp_tls_private_key_file: None,
            mcp_plain_http: false,
            mcp_insecure_server_identity: false,
            mcp_allowed_host: Vec::new(),
            mcp_token_cache_ttl: Duration::from_secs(10),
            mcp_max_request_bytes: 1024 * 1024,
            mcp_shutdown_grace_period: Duration::from_secs(10),
        }
    }
}

/// Flags of `coder-k8s mcp`: MCP over stdin/stdout for a laptop, acting as the kubeconfig's user.
#[derive(Debug, Clone, clap::Args)]
pub struct McpStdioArgs {
    /// Path to a kubeconfig file (default: $KUBECONFIG or ~/.kube/config, else in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

/// `10s`, `2m`, `500ms`, `1h`: a number and a unit.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit (ms, s, m or h)"))?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a whole number"))?;
    let millis = match unit {
        "ms" => Some(number),
        "s" => number.checked_mul(1_000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (ms, s, m or h)")),
    };
    millis
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(parse_duration("5d").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("s").is_err());
    }
}
