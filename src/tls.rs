//! TLS for the servers of coder-k8s: load a serving certificate from PEM files or mint a
//! self-signed CA plus serving certificate with rcgen, and build the rustls server config
//! (TLS ≥ 1.2, ALPN h2 + http/1.1, ring as the one process-wide crypto provider).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading certificates from {path}: {source}")]
    ReadCerts {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("reading the private key from {path}: {source}")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("generating the self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("building the TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The certificate a server presents, plus the PEM a client should trust to reach it.
pub struct ServingCert {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// PEM of the certificate clients should trust: the generated CA, or the last certificate of
    /// a loaded chain (its root or the self-signed leaf).
    pub trust_pem: String,
    /// DER of that same certificate, for the fingerprint.
    pub trust_der: CertificateDer<'static>,
    pub self_signed: bool,
}

impl std::fmt::Debug for ServingCert {
    // The private key must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("chain_len", &self.chain.len())
            .field("self_signed", &self.self_signed)
            .field("fingerprint", &fingerprint_sha256(&self.trust_der))
            .finish_non_exhaustive()
    }
}

/// Installs ring as the process-wide rustls provider. Later calls (tests start many servers,
/// kube's client may have installed one already) keep whatever is there.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads a PEM certificate chain and private key.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<ServingCert, Error> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| Error::ReadCerts {
            path: cert_file.to_path_buf(),
            source,
        })?;
    let Some(trust_der) = chain.last().cloned() else {
        return Err(Error::NoCertificate {
            path: cert_file.to_path_buf(),
        });
    };
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|source| Error::ReadKey {
        path: key_file.to_path_buf(),
        source,
    })?;
    Ok(ServingCert {
        chain,
        key,
        trust_pem: pem_encode(&trust_der),
        trust_der,
        self_signed: false,
    })
}

/// Mints a throwaway CA and a serving certificate it signs, valid for localhost, 127.0.0.1, ::1
/// and `extra_sans` (DNS names or IP addresses). A separate CA (rather than one self-signed
/// leaf) is what both Go's and webpki's verifiers accept as a trust root.
pub fn self_signed(extra_sans: &[String]) -> Result<ServingCert, Error> {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "coder-k8s self-signed CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    sans.extend(extra_sans.iter().filter(|s| !s.is_empty()).cloned());
    sans.dedup();
    let mut leaf_params = CertificateParams::new(sans)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "coder-k8s aggregated apiserver");
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;

    let ca_der = ca.der().clone();
    Ok(ServingCert {
        chain: vec![leaf.der().clone(), ca_der.clone()],
        key: PrivateKeyDer::try_from(leaf_key.serialize_der())
            .map_err(|e| Error::Config(rustls::Error::General(e.to_string())))?,
        trust_pem: ca.pem(),
        trust_der: ca_der,
        self_signed: true,
    })
}

/// Uppercase colon-separated SHA-256 of a certificate, as `openssl x509 -fingerprint` prints it.
pub fn fingerprint_sha256(cert: &CertificateDer<'_>) -> String {
    ring::digest::digest(&ring::digest::SHA256, cert.as_ref())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// PEM text of one DER certificate.
pub fn pem_encode(cert: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// The rustls config of a server: TLS 1.2 and 1.3, ALPN h2 then http/1.1. With a
/// `client_certs` verifier, client certificates are requested by it (it must not require them,
/// so that kubelet probes and token clients connect either way); without, none is asked for.
pub fn server_config(
    cert: &ServingCert,
    client_certs: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
) -> Result<Arc<ServerConfig>, Error> {
    install_crypto_provider();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_certs {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(cert.chain.clone(), cert.key.clone_key())?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2's test vector: SHA-256("abc").
    const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn digests_are_sha256() {
        let fingerprint = fingerprint_sha256(&CertificateDer::from(b"abc".as_slice()));
        assert_eq!(fingerprint.replace(':', "").to_lowercase(), ABC_SHA256);
    }

    #[test]
    fn self_signed_config_builds_and_fingerprint_is_sha256() {
        let cert = self_signed(&["example.test".into()]).unwrap();
        assert!(cert.trust_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let fp = fingerprint_sha256(&cert.trust_der);
        assert_eq!(fp.split(':').count(), 32);
        let config = server_config(&cert, None).unwrap();
        assert_eq!(config.alpn_protocols[0], b"h2");
    }

    #[test]
    fn loads_pem_files_written_from_a_generated_cert() {
        let cert = self_signed(&[]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cert_path = dir.path().join("tls.crt");
        let key_path = dir.path().join("tls.key");
        let chain_pem: String = cert.chain.iter().map(|c| pem_encode(c)).collect();
        std::fs::write(&cert_path, chain_pem).unwrap();
        let key_pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(cert.key.secret_der())
            }
        );
        std::fs::write(&key_path, key_pem).unwrap();
        let loaded = load(&cert_path, &key_path).unwrap();
        assert_eq!(loaded.chain.len(), 2);
        assert_eq!(loaded.trust_der, cert.trust_der);
        assert!(server_config(&loaded, None).is_ok());
    }
}
