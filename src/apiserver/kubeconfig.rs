//! A kubeconfig for talking to this server directly: its address, its CA, and a dummy
//! token. kubectl prompts for a username when a user entry has no credentials at all, and
//! `--authentication=none` ignores the token, so a fixed one makes the file usable at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use base64::Engine;

/// The URL clients on this machine use: a wildcard bind address is reached over loopback.
pub fn server_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("https://{}", SocketAddr::new(ip, addr.port()))
}

pub fn render(server: &str, ca_pem: &str) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes());
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: coder-k8s
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: coder-k8s
  user:
    # Not a credential: --authentication=none ignores it; kubectl prompts when a user has no credentials.
    token: coder-k8s-anonymous
contexts:
- name: coder-k8s
  context:
    cluster: coder-k8s
    user: coder-k8s
    namespace: default
current-context: coder-k8s
"
    )
}

pub fn write(path: &Path, server: &str, ca_pem: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, render(server, ca_pem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_map_to_loopback() {
        assert_eq!(
            server_url("0.0.0.0:6443".parse().unwrap()),
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            server_url("[::]:6443".parse().unwrap()),
            "https://[::1]:6443"
        );
    }
}
