//! Storage flags (`--storage`, `--etcd-*`) and opening the chosen backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::etcd::{self, EtcdConfig, EtcdStorage, EtcdTls};
use super::memory::{self, MemoryConfig};
use super::{CachedStorage, MemoryStorage, Storage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Backend {
    /// In-process, lost on restart, one replica only (the default).
    #[default]
    Memory,
    /// An etcd v3 cluster (--etcd-servers): shared by every replica, survives restarts.
    Etcd,
}

/// Where objects are stored.
#[derive(Debug, Clone, clap::Args)]
pub struct StorageArgs {
    /// Storage backend.
    #[arg(long = "storage", value_enum, default_value_t = Backend::Memory)]
    pub backend: Backend,

    /// etcd endpoints for --storage=etcd (http:// or https://); repeat or separate with commas.
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    pub etcd_servers: Vec<String>,

    /// Prefix of every key this server writes in etcd.
    #[arg(long, default_value = "/registry/aggregation.coder.com")]
    pub etcd_prefix: String,

    /// PEM CA bundle that signed etcd's serving certificates.
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,

    /// PEM client certificate for etcd (with --etcd-keyfile).
    #[arg(long, requires = "etcd_keyfile")]
    pub etcd_certfile: Option<PathBuf>,

    /// PEM private key of --etcd-certfile.
    #[arg(long, requires = "etcd_certfile")]
    pub etcd_keyfile: Option<PathBuf>,

    /// Time to establish a connection to etcd, e.g. 5s.
    #[arg(long, default_value = "5s", value_parser = crate::apiserver::duration::parse_duration)]
    pub etcd_dial_timeout: Duration,

    /// Deadline of one etcd request; beyond it the API request fails with 503.
    #[arg(long, default_value = "5s", value_parser = crate::apiserver::duration::parse_duration)]
    pub etcd_request_timeout: Duration,

    /// Largest object stored, in bytes of JSON (larger writes get 413). Default: etcd's 1.5 MiB
    /// request limit less 2 KiB for the key and the transaction around the value.
    #[arg(long, default_value_t = memory::DEFAULT_MAX_OBJECT_BYTES)]
    pub max_object_bytes: u64,

    /// Changes the in-memory store keeps for watch resumption and paginated lists.
    #[arg(long, default_value_t = memory::DEFAULT_HISTORY)]
    pub watch_history_events: usize,

    /// JSON bytes the in-memory store's (or watch cache's) change history may hold; the
    /// oldest changes go first.
    #[arg(long, default_value_t = memory::DEFAULT_HISTORY_BYTES)]
    pub watch_history_bytes: u64,

    /// Serve lists and watches of --storage=etcd from a watch cache (one etcd watch per
    /// resource). The memory backend is its own cache.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_cache: bool,
}

impl Default for StorageArgs {
    fn default() -> Self {
        StorageArgs {
            backend: Backend::Memory,
            etcd_servers: vec!["http://127.0.0.1:2379".into()],
            etcd_prefix: "/registry/aggregation.coder.com".into(),
            etcd_cafile: None,
            etcd_certfile: None,
            etcd_keyfile: None,
            etcd_dial_timeout: Duration::from_secs(5),
            etcd_request_timeout: Duration::from_secs(5),
            max_object_bytes: memory::DEFAULT_MAX_OBJECT_BYTES,
            watch_history_events: memory::DEFAULT_HISTORY,
            watch_history_bytes: memory::DEFAULT_HISTORY_BYTES,
            watch_cache: true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Etcd(#[from] etcd::ConnectError),
}

fn read(path: &Path) -> Result<Vec<u8>, OpenError> {
    std::fs::read(path).map_err(|source| OpenError::Read {
        path: path.to_path_buf(),
        source,
    })
}

impl StorageArgs {
    pub fn etcd_config(&self) -> Result<EtcdConfig, OpenError> {
        let ca_pem = self.etcd_cafile.as_deref().map(read).transpose()?;
        let client_cert_pem = match (&self.etcd_certfile, &self.etcd_keyfile) {
            (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
            _ => None,
        };
        let tls = (ca_pem.is_some() || client_cert_pem.is_some()).then_some(EtcdTls {
            ca_pem,
            client_cert_pem,
        });
        Ok(EtcdConfig {
            endpoints: self.etcd_servers.clone(),
            prefix: self.etcd_prefix.clone(),
            tls,
            dial_timeout: self.etcd_dial_timeout,
            request_timeout: self.etcd_request_timeout,
            max_object_bytes: self.max_object_bytes,
        })
    }

    /// Opens the configured backend.
    pub async fn open(&self) -> Result<Arc<dyn Storage>, OpenError> {
        let memory = MemoryConfig {
            history_events: self.watch_history_events,
            history_bytes: self.watch_history_bytes,
            max_object_bytes: self.max_object_bytes,
            ..MemoryConfig::default()
        };
        Ok(match self.backend {
            Backend::Memory => Arc::new(MemoryStorage::with_config(memory)),
            Backend::Etcd => {
                let etcd = Arc::new(EtcdStorage::connect(self.etcd_config()?).await?);
                if self.watch_cache {
                    Arc::new(CachedStorage::new(etcd, memory))
                } else {
                    etcd
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        storage: StorageArgs,
    }

    #[test]
    fn defaults_and_flags() {
        let d = Cli::parse_from(["x"]).storage;
        assert_eq!(d.backend, Backend::Memory);
        assert_eq!(d.etcd_prefix, "/registry/aggregation.coder.com");
        assert_eq!(d.max_object_bytes, 1_570_816);
        assert!(d.watch_cache);
        let e = Cli::parse_from([
            "x",
            "--storage=etcd",
            "--etcd-servers=https://a:2379,https://b:2379",
            "--etcd-prefix=/p",
            "--etcd-request-timeout=2s",
            "--watch-cache=false",
            "--watch-history-bytes=1048576",
        ])
        .storage;
        assert_eq!(e.backend, Backend::Etcd);
        assert_eq!(e.etcd_servers, ["https://a:2379", "https://b:2379"]);
        assert_eq!(e.etcd_request_timeout, Duration::from_secs(2));
        assert!(!e.watch_cache);
        assert_eq!(e.watch_history_bytes, 1_048_576);
        // A client certificate needs its key.
        assert!(Cli::try_parse_from(["x", "--etcd-certfile=c.pem"]).is_err());
    }
}
