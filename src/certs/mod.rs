//! `coder-k8s certs`: the aggregated apiserver's serving certificate without cert-manager.
//!
//! Mints a CA and a serving certificate for the Service's DNS names (`<service>.<namespace>.svc`
//! and `.svc.cluster.local`) with rcgen ([`mint`]), renders them as a `kubernetes.io/tls` Secret
//! that also carries `ca.crt` ([`manifest`]), and either prints that Secret plus the command
//! that sets the APIService `caBundle`, or applies both through the API ([`apply`]).

mod apply;
pub mod manifest;
pub mod mint;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use crate::api::registry::{self, ServedBy};

/// Flags of `coder-k8s certs`.
#[derive(Debug, Clone, clap::Args)]
pub struct CertsArgs {
    /// Namespace of the apiserver's Service and of the Secret.
    #[arg(long, default_value = "coder-system")]
    pub namespace: String,

    /// Name of the Service the APIService points at; the certificate is valid for its DNS names.
    #[arg(long, default_value = "coder-k8s-apiserver")]
    pub service: String,

    /// Name of the Secret (type kubernetes.io/tls, plus ca.crt) the Deployment mounts.
    #[arg(long, default_value = "coder-k8s-apiserver-tls")]
    pub secret: String,

    /// APIServices whose caBundle to set (default: one per group/version this binary serves).
    #[arg(long = "apiservice", value_delimiter = ',')]
    pub api_services: Vec<String>,

    /// Days the serving certificate is valid (the CA: ten times as long).
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub validity_days: u32,

    /// Create the Secret (server-side apply) and patch the APIServices' caBundle in the cluster,
    /// instead of printing the Secret.
    #[arg(long, default_value_t = false)]
    pub apply: bool,

    /// With --apply: issue a new CA and certificate even if the Secret exists (restart the
    /// apiserver pods afterwards; they read the certificate at start).
    #[arg(long, default_value_t = false, requires = "apply")]
    pub rotate: bool,

    /// Kubeconfig for --apply (default: $KUBECONFIG, ~/.kube/config, else in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,

    /// Write the Secret manifest here instead of stdout (created with mode 0600).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("minting the certificate: {0}")]
    Mint(#[from] rcgen::Error),
    #[error("rendering the Secret: {0}")]
    Render(String),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("kubeconfig: {0}")]
    Config(String),
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    #[error("Secret {namespace}/{name} exists but lacks {key}; re-issue it with --rotate")]
    IncompleteSecret {
        namespace: String,
        name: String,
        key: &'static str,
    },
}

impl CertsArgs {
    /// The DNS names kube-apiserver dials for a Service reference.
    pub fn dns_names(&self) -> Vec<String> {
        vec![
            format!("{}.{}.svc", self.service, self.namespace),
            format!("{}.{}.svc.cluster.local", self.service, self.namespace),
        ]
    }

    /// The APIServices to patch: the flag's, else `<version>.<group>` of every aggregated
    /// group/version in the registry.
    pub fn api_service_names(&self) -> Vec<String> {
        if !self.api_services.is_empty() {
            return self.api_services.clone();
        }
        registry::served_by(ServedBy::AggregatedApiserver)
            .map(|r| format!("{}.{}", r.version, r.group))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }
}

/// Entry point of `coder-k8s certs`.
pub async fn run(args: CertsArgs) -> Result<(), Error> {
    if args.apply {
        let report = apply::apply(&args).await?;
        eprintln!("{report}");
        return Ok(());
    }
    let minted = mint::mint(&args.dns_names(), args.validity_days)?;
    let secret = manifest::secret(&args.namespace, &args.secret, &minted);
    let yaml = manifest::to_yaml(&secret)?;
    match &args.output {
        Some(path) => write_private(path, &yaml)?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(yaml.as_bytes())
                .map_err(|source| Error::Write {
                    path: "stdout".into(),
                    source,
                })?;
        }
    }
    // The Secret goes to stdout (pipeable into kubectl apply -f -); what to do with the CA, to
    // stderr.
    eprintln!("# Set the CA bundle of the APIService(s) that point at this Service:");
    for name in args.api_service_names() {
        eprintln!(
            "{}",
            manifest::ca_bundle_patch_command(&name, &minted.ca_pem)
        );
    }
    Ok(())
}

/// The Secret holds a private key: never world-readable.
fn write_private(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let error = |source| Error::Write {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(error)?;
    file.write_all(text.as_bytes()).map_err(error)
}
