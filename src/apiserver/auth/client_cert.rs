//! Client certificates at the TLS layer. The handshake requests a certificate but never
//! requires one, and accepts any chain whose owner proves possession of the key (the
//! CertificateVerify signature): which CA, if any, vouches for it is decided right after, per
//! CA, by `x509::verify` — kube-apiserver does the same (Go's `tls.RequestClientCert`, chains
//! verified by the authenticators), so a certificate from an unknown CA, expired, or without
//! client-auth usage gets a 401 Status instead of a bare TLS alert, and CA rotation applies
//! to new and existing connections alike.
//!
//! The accept loop stores each connection's chain as a [`ClientCertificates`] request
//! extension; its verdict is computed on first use and kept for the connection until the
//! authentication configuration changes.

use std::sync::{Arc, Mutex};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::config::AuthenticationConfig;
use super::x509::{self, Rejected, VerifiedCert};

/// Requests a client certificate, checks only that the peer holds its key.
#[derive(Debug)]
pub struct RequestClientCert {
    algorithms: WebPkiSupportedAlgorithms,
}

impl RequestClientCert {
    pub fn new() -> Arc<Self> {
        Arc::new(RequestClientCert {
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        })
    }
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No CA hints: the bundles change at run time, and Go and rustls clients send their one
    /// certificate when the server names no CA.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Trust is decided per CA after the handshake (module docs); nothing trusts this chain
        // until `x509::verify` says so.
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a connection's certificate chain is worth under one configuration.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Verified by the requestheader CA with an allowed name: identity headers count.
    pub front_proxy: Result<VerifiedCert, Rejected>,
    /// Verified by the client CA: an x509 user.
    pub client: Result<VerifiedCert, Rejected>,
}

impl Verdict {
    fn compute(chain: &[CertificateDer<'static>], config: &AuthenticationConfig) -> Self {
        let now = UnixTime::now();
        let front_proxy = x509::verify(chain, &config.requestheader.ca, now).and_then(|cert| {
            let allowed = &config.requestheader.allowed_names;
            if allowed.is_empty() || allowed.contains(&cert.common_name) {
                Ok(cert)
            } else {
                Err(Rejected::NameNotAllowed(cert.common_name))
            }
        });
        Verdict {
            front_proxy,
            client: x509::verify(chain, &config.client_ca, now),
        }
    }
}

/// The peer's chain of one connection (leaf first) and its cached verdict.
#[derive(Debug)]
pub struct ClientCertificates {
    chain: Vec<CertificateDer<'static>>,
    verdict: Mutex<Option<(u64, Arc<Verdict>)>>,
}

impl ClientCertificates {
    pub fn new(chain: Vec<CertificateDer<'static>>) -> Arc<Self> {
        Arc::new(ClientCertificates {
            chain,
            verdict: Mutex::new(None),
        })
    }

    /// The verdict under `config`, computed once per connection and configuration generation.
    pub fn verdict(&self, config: &AuthenticationConfig) -> Arc<Verdict> {
        let mut slot = match self.verdict.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((generation, verdict)) = slot.as_ref()
            && *generation == config.generation
        {
            return verdict.clone();
        }
        let verdict = Arc::new(Verdict::compute(&self.chain, config));
        *slot = Some((config.generation, verdict.clone()));
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verifier plugs into the serving TLS config (moved from `tls.rs`, which knows no app).
    #[test]
    fn serving_config_builds_with_the_client_cert_verifier() {
        let cert = crate::tls::self_signed(&["example.test".into()]).unwrap();
        let config = crate::tls::server_config(&cert, Some(RequestClientCert::new())).unwrap();
        assert_eq!(config.alpn_protocols.len(), 2);
    }
}
