//! A CA and the serving certificate it signs, with real validity periods (rcgen's defaults run
//! to the year 4096).

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

/// PEM text of a freshly minted CA, the serving certificate it signed and that certificate's key.
pub struct Minted {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Minted {
    // The private key must never reach a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minted").finish_non_exhaustive()
    }
}

/// Mints a CA valid ten times `validity_days` and a serving certificate for `dns_names` valid
/// `validity_days`, both from the start of yesterday (UTC), so clock skew between nodes never
/// makes a fresh certificate "not yet valid".
pub fn mint(dns_names: &[String], validity_days: u32) -> Result<Minted, rcgen::Error> {
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let start = ymd(today.yesterday().unwrap_or(today));
    let leaf_days = i32::try_from(validity_days).unwrap_or(i32::MAX);
    let until = |days: i32| {
        ymd(today
            .checked_add(jiff::Span::new().days(days))
            .unwrap_or(jiff::civil::Date::MAX))
    };

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "coder-k8s aggregated apiserver CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = rcgen::date_time_ymd(start.0, start.1, start.2);
    let (y, m, d) = until(leaf_days.saturating_mul(10));
    ca_params.not_after = rcgen::date_time_ymd(y, m, d);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

    let mut leaf_params = CertificateParams::new(dns_names.to_vec())?;
    leaf_params.distinguished_name.push(
        DnType::CommonName,
        dns_names.first().cloned().unwrap_or_default(),
    );
    leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf_params.not_before = rcgen::date_time_ymd(start.0, start.1, start.2);
    let (y, m, d) = until(leaf_days);
    leaf_params.not_after = rcgen::date_time_ymd(y, m, d);
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &ca)?;
    Ok(Minted {
        ca_pem: ca.pem(),
        cert_pem: leaf.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

/// Midnight UTC of `date`, as rcgen takes it.
fn ymd(date: jiff::civil::Date) -> (i32, u8, u8) {
    (
        i32::from(date.year()),
        u8::try_from(date.month()).unwrap_or(1),
        u8::try_from(date.day()).unwrap_or(1),
    )
}
