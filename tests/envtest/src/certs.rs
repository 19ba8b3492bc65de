//! Certificate authorities and key material of a test control plane, minted with rcgen
//! (ECDSA P-256 everywhere: Go's crypto and rustls both accept it, and it is fast to generate).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// A CA that signs client and serving certificates for tests.
pub struct CertificateAuthority {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl CertificateAuthority {
    /// A fresh self-signed CA with this common name.
    pub fn new(common_name: &str) -> CertificateAuthority {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .expect("envtest: CA params without SANs are valid");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("envtest: generating a P-256 key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("envtest: self-signing a CA");
        CertificateAuthority { issuer }
    }

    /// The CA certificate (PEM): what a client trusts, or a `caBundle`.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA's private key (PKCS#8 PEM), e.g. for kube-controller-manager's CSR signer.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A client certificate: Kubernetes reads the user from CN and the groups from O.
    /// Returns `(cert_pem, key_pem)`. More than two groups need the `openssl` CLI.
    pub fn issue_client(&self, common_name: &str, organizations: &[&str]) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .expect("envtest: client cert params are valid");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        // rcgen keeps one value per attribute type; the same OID (2.5.4.10) spelled as a custom
        // type is a second key, which Go reads as a second Organization (group). Beyond two,
        // openssl writes the subject.
        if organizations.len() > 2 {
            return self.issue_client_with_openssl(common_name, organizations);
        }
        let types = [
            DnType::OrganizationName,
            DnType::CustomDnType(vec![2, 5, 4, 10]),
        ];
        for (org, ty) in organizations.iter().zip(types) {
            params.distinguished_name.push(ty, *org);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.sign(params)
    }

    /// A serving certificate for `sans` (DNS names or IP addresses).
    /// Returns `(cert_pem, key_pem)`.
    pub fn issue_serving(&self, sans: &[&str]) -> (String, String) {
        let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
        let first = sans.first().cloned().unwrap_or_default();
        let mut params =
            CertificateParams::new(sans).expect("envtest: serving SANs must be DNS names or IPs");
        params.distinguished_name.push(DnType::CommonName, first);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        self.sign(params)
    }

    /// A client certificate with any number of O attributes, made by the openssl CLI.
    fn issue_client_with_openssl(
        &self,
        common_name: &str,
        organizations: &[&str],
    ) -> (String, String) {
        let escape = |value: &str| {
            let mut out = String::new();
            for c in value.chars() {
                if matches!(c, '/' | '\\' | '+' | '=') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        };
        let mut subject = format!("/CN={}", escape(common_name));
        for org in organizations {
            subject.push_str(&format!("/O={}", escape(org)));
        }
        let dir = tempfile::tempdir().expect("envtest: temp dir for openssl");
        let file = |name: &str| dir.path().join(name);
        std::fs::write(file("ca.crt"), self.cert_pem()).expect("envtest: write CA cert");
        std::fs::write(file("ca.key"), self.key_pem()).expect("envtest: write CA key");
        std::fs::write(
            file("ext"),
            "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n",
        )
        .expect("envtest: write openssl extensions");
        let run = |args: &[&str]| {
            let output = std::process::Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap_or_else(|e| {
                    panic!("envtest: x509 users with more than two groups need openssl: {e}")
                });
            assert!(
                output.status.success(),
                "envtest: openssl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        run(&[
            "req",
            "-new",
            "-utf8",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "client.key",
            "-subj",
            &subject,
            "-out",
            "client.csr",
        ]);
        let serial = format!("0x{:016x}", std::process::id() as u64 ^ nanos_now());
        run(&[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            &serial,
            "-days",
            "3650",
            "-extfile",
            "ext",
            "-out",
            "client.crt",
        ]);
        let read = |name: &str| {
            std::fs::read_to_string(file(name))
                .unwrap_or_else(|e| panic!("envtest: reading openssl's {name}: {e}"))
        };
        (read("client.crt"), read("client.key"))
    }

    fn sign(&self, params: CertificateParams) -> (String, String) {
        let key = KeyPair::generate().expect("envtest: generating a P-256 key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("envtest: signing a certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// Every file the components read, written into the control plane's directory.
pub(crate) struct ControlPlaneCerts {
    pub serving_ca: CertificateAuthority,
    pub client_ca: CertificateAuthority,
    pub front_proxy_ca: CertificateAuthority,
    pub serving_ca_file: PathBuf,
    pub serving_cert_file: PathBuf,
    pub serving_key_file: PathBuf,
    pub client_ca_file: PathBuf,
    pub client_ca_key_file: PathBuf,
    pub front_proxy_ca_file: PathBuf,
    pub proxy_client_cert_file: PathBuf,
    pub proxy_client_key_file: PathBuf,
    /// ECDSA P-256 private key (PKCS#8 PEM) that signs service-account tokens.
    pub service_account_key_file: PathBuf,
    /// Its public half (SPKI PEM): kube-apiserver's public-key reader takes no PKCS#8.
    pub service_account_public_key_file: PathBuf,
}

impl ControlPlaneCerts {
    pub fn mint(dir: &Path) -> std::io::Result<ControlPlaneCerts> {
        let serving_ca = CertificateAuthority::new("envtest serving CA");
        let client_ca = CertificateAuthority::new("envtest client CA");
        let front_proxy_ca = CertificateAuthority::new("envtest front-proxy CA");
        let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        };
        let (serving_cert, serving_key) =
            serving_ca.issue_serving(&["localhost", "127.0.0.1", "::1", "kubernetes.default.svc"]);
        let (proxy_cert, proxy_key) = front_proxy_ca.issue_client("front-proxy-client", &[]);
        let service_account_key =
            KeyPair::generate().expect("envtest: generating the service-account key");
        Ok(ControlPlaneCerts {
            serving_ca_file: write("serving-ca.crt", &serving_ca.cert_pem())?,
            serving_cert_file: write("apiserver.crt", &serving_cert)?,
            serving_key_file: write("apiserver.key", &serving_key)?,
            client_ca_file: write("client-ca.crt", &client_ca.cert_pem())?,
            client_ca_key_file: write("client-ca.key", &client_ca.key_pem())?,
            front_proxy_ca_file: write("front-proxy-ca.crt", &front_proxy_ca.cert_pem())?,
            proxy_client_cert_file: write("front-proxy-client.crt", &proxy_cert)?,
            proxy_client_key_file: write("front-proxy-client.key", &proxy_key)?,
            service_account_key_file: write(
                "service-account.key",
                &service_account_key.serialize_pem(),
            )?,
            service_account_public_key_file: write(
                "service-account.pub",
                &service_account_key.public_key_pem(),
            )?,
            serving_ca,
            client_ca,
            front_proxy_ca,
        })
    }
}

/// Nanoseconds since the epoch, to make certificate serial numbers unique.
fn nanos_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}
