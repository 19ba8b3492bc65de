//! Client-certificate chains checked against one CA bundle at a time, as k8s.io/apiserver's
//! `authentication/request/x509` does: the chain must lead to one of the bundle's roots, be
//! within its validity period and, when the leaf names extended key usages, allow client
//! authentication. One root store cannot say *which* CA verified a chain, and the front proxy
//! and x509 users must be told apart, so each bundle is checked on its own.

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};

/// Trust roots of one purpose (the client CA, or the requestheader CA).
#[derive(Clone, Default)]
pub struct CaBundle {
    anchors: Vec<TrustAnchor<'static>>,
    /// SHA-256 fingerprints, for logs (a CA is public, but fingerprints are shorter).
    fingerprints: Vec<String>,
}

impl std::fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(&self.fingerprints).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("reading PEM certificates: {0}")]
    Pem(#[from] rustls_pki_types::pem::Error),
    #[error("certificate {index} is not a usable CA: {source}")]
    Anchor {
        index: usize,
        #[source]
        source: webpki::Error,
    },
}

impl CaBundle {
    pub fn from_pem(pem: &str) -> Result<Self, BundleError> {
        use rustls_pki_types::pem::PemObject;
        let mut bundle = CaBundle::default();
        for (index, der) in CertificateDer::pem_slice_iter(pem.as_bytes()).enumerate() {
            let der = der?;
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|source| BundleError::Anchor { index, source })?
                .to_owned();
            bundle
                .fingerprints
                .push(crate::tls::fingerprint_sha256(&der));
            bundle.anchors.push(anchor);
        }
        Ok(bundle)
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// A chain that verified: who its leaf names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCert {
    pub common_name: String,
    pub organizations: Vec<String>,
    /// Seconds since the epoch after which the leaf is no longer valid (checked per request:
    /// a connection may outlive its certificate).
    pub not_after: u64,
}

impl VerifiedCert {
    pub fn expired_at(&self, now: UnixTime) -> bool {
        now.as_secs() > self.not_after
    }
}

/// Why a chain does not count for a bundle. Never carries certificate bytes.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Rejected {
    #[error("no CA is configured for this purpose")]
    NoCa,
    #[error("the certificate does not verify: {0}")]
    Invalid(String),
    #[error("the certificate cannot be read: {0}")]
    Unreadable(String),
    #[error("the certificate's common name {0:?} is not an allowed requestheader name")]
    NameNotAllowed(String),
    #[error("the certificate has expired")]
    Expired,
}

/// Verifies `chain` (leaf first) against `bundle` for client authentication at `now`.
pub fn verify(
    chain: &[CertificateDer<'static>],
    bundle: &CaBundle,
    now: UnixTime,
) -> Result<VerifiedCert, Rejected> {
    if bundle.is_empty() {
        return Err(Rejected::NoCa);
    }
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Err(Rejected::Unreadable("empty chain".into()));
    };
    let end_entity =
        webpki::EndEntityCert::try_from(leaf).map_err(|e| Rejected::Unreadable(e.to_string()))?;
    let algorithms = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    end_entity
        .verify_for_usage(
            algorithms,
            &bundle.anchors,
            intermediates,
            now,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| match e {
            webpki::Error::CertExpired { .. } => Rejected::Expired,
            other => Rejected::Invalid(other.to_string()),
        })?;
    subject(leaf)
}

/// CN and O of the leaf, and its end of validity.
fn subject(leaf: &CertificateDer<'_>) -> Result<VerifiedCert, Rejected> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| Rejected::Unreadable(e.to_string()))?;
    let text = |attr: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        attr.as_str().map(str::to_string).ok()
    };
    let subject = cert.subject();
    Ok(VerifiedCert {
        common_name: subject
            .iter_common_name()
            .next()
            .and_then(text)
            .unwrap_or_default(),
        organizations: subject.iter_organization().filter_map(text).collect(),
        not_after: u64::try_from(cert.validity().not_after.timestamp()).unwrap_or(0),
    })
}
