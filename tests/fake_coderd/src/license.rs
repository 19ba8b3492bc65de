//! Coder licenses: EdDSA JWTs with coderd's claims (enterprise/coderd/license/license.go
//! `Claims`, `ParseClaims`, `ParseClaimsIgnoreNbf`), checked the way coderd checks them.
//!
//! Real licenses are signed by Coder's key, which a test double cannot hold. The fake trusts one
//! test key pair instead, under the key id [`KEY_ID`]; tests mint licenses with [`sign`] (and
//! a license the fake must refuse with [`sign_untrusted`]). Everything else follows coderd:
//! golang-jwt v4 parsing (any structural, signature or time problem other than "not valid
//! yet" surfaces as coderd's catch-all "license has multiple issues; contact support"), then
//! coderd's own claim checks with their messages.
//!
//! ```text
//! license::claims(feature_set, valid_for)   version-3 claims: iat/nbf now, license_expires
//!                                           now+valid_for, exp 7 days later (grace period),
//!                                           account_type/account_id set, features {}
//! license::sign(&claims)                    the JWT the fake accepts (kid = KEY_ID)
//! license::sign_untrusted(&claims)          same header, another key: a bad signature
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// The key id (`kid` JOSE header) of the test key the fake trusts.
pub const KEY_ID: &str = "fake-coderd-test";

// Fixed seeds: licenses minted in one test run stay valid for a fake started in another, as
// Coder's licenses do across coderd restarts.
const TRUSTED_SEED: [u8; 32] = *b"fake-coderd license signing key!";
const UNTRUSTED_SEED: [u8; 32] = *b"not the key fake-coderd trusts!!";

/// coderd's grace period for the licenses minted by [`claims`] (Coder issues licenses whose
/// `exp` lies after `license_expires`).
const GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Errors minting a license.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the test signing key was rejected: {0}")]
    Key(String),
    #[error("claims are not serializable: {0}")]
    Claims(#[from] serde_json::Error),
}

/// Why coderd refuses a license; the texts are coderd's (license.go's Err* values, and
/// golang-jwt's for a license that is not valid yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// Anything golang-jwt rejects (malformed, unknown key, bad signature, expired, issued in
    /// the future): coderd's ParseClaimsIgnoreNbf folds them into one message.
    #[error("license has multiple issues; contact support")]
    MultipleIssues,
    /// `nbf` is in the future (only reported by the strict parse entitlements use).
    #[error("token is not valid yet")]
    NotValidYet,
    #[error("license must be version 3")]
    InvalidVersion,
    #[error("license has invalid or missing iat (issued at) claim")]
    MissingIssuedAt,
    #[error("license has invalid or missing nbf (not before) claim")]
    MissingNotBefore,
    #[error("license has invalid or missing license_expires claim")]
    MissingLicenseExpires,
    #[error("license has invalid or missing exp (expires at) claim")]
    MissingExp,
    #[error("license must contain valid account type")]
    MissingAccountType,
    #[error("license must contain valid account ID")]
    MissingAccountId,
}

/// The claims of a license (license.go `Claims`), times as Unix seconds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Claims {
    #[serde(default, rename = "jti")]
    pub id: Option<String>,
    #[serde(default, rename = "iat")]
    pub issued_at: Option<f64>,
    #[serde(default, rename = "nbf")]
    pub not_before: Option<f64>,
    #[serde(default, rename = "exp")]
    pub expires_at: Option<f64>,
    #[serde(default)]
    pub license_expires: Option<f64>,
    #[serde(default)]
    pub account_type: String,
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub deployment_ids: Vec<String>,
    #[serde(default)]
    pub trial: bool,
    #[serde(default)]
    pub feature_set: String,
    #[serde(default)]
    pub all_features: bool,
    #[serde(default)]
    pub version: u64,
    #[serde(default)]
    pub features: Option<BTreeMap<String, i64>>,
    #[serde(default)]
    pub addons: Vec<String>,
    #[serde(default)]
    pub require_telemetry: bool,
}

/// A parsed license: its typed claims and the payload as uploaded (what GET /licenses shows).
#[derive(Debug, Clone)]
pub struct Parsed {
    pub claims: Claims,
    pub raw: Map<String, Value>,
}

fn unix(t: f64) -> Timestamp {
    // NumericDate: fractional seconds allowed; out-of-range values saturate.
    Timestamp::from_second(t as i64).unwrap_or(if t < 0.0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

impl Claims {
    pub fn license_expires_at(&self) -> Option<Timestamp> {
        self.license_expires.map(unix)
    }
    pub fn expires_at_time(&self) -> Option<Timestamp> {
        self.expires_at.map(unix)
    }
    pub fn not_before_time(&self) -> Option<Timestamp> {
        self.not_before.map(unix)
    }
    pub fn issued_at_time(&self) -> Option<Timestamp> {
        self.issued_at.map(unix)
    }
}

fn key_pair(seed: &[u8; 32]) -> Result<Ed25519KeyPair, SignError> {
    Ed25519KeyPair::from_seed_unchecked(seed).map_err(|e| SignError::Key(e.to_string()))
}

/// The public half of the key the fake trusts (what coderd embeds as `keys/2022-08-12`).
pub fn public_key() -> Result<Vec<u8>, SignError> {
    Ok(key_pair(&TRUSTED_SEED)?.public_key().as_ref().to_vec())
}

fn sign_with(seed: &[u8; 32], claims: &Value) -> Result<String, SignError> {
    let header = json!({ "alg": "EdDSA", "kid": KEY_ID, "typ": "JWT" });
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
    );
    let signature = key_pair(seed)?.sign(signing_input.as_bytes());
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    ))
}

/// A license JWT the fake accepts: `claims` signed with the test key (EdDSA, kid [`KEY_ID`]).
pub fn sign(claims: &Value) -> Result<String, SignError> {
    sign_with(&TRUSTED_SEED, claims)
}

/// The same JWT signed by a key the fake does not trust: coderd answers it as a bad signature.
pub fn sign_untrusted(claims: &Value) -> Result<String, SignError> {
    sign_with(&UNTRUSTED_SEED, claims)
}

/// Version-3 claims of a license valid from now for `valid_for`, then in its grace period for
/// seven more days: `feature_set` is `"premium"`, `"enterprise"` or `""` (features only from
/// the `features` map, which starts empty; set e.g. `claims["features"]["workspace_proxy"] =
/// 1`).
pub fn claims(feature_set: &str, valid_for: Duration) -> Value {
    let now = Timestamp::now().as_second();
    let term = i64::try_from(valid_for.as_secs()).unwrap_or(i64::MAX / 4);
    let grace = i64::try_from(GRACE.as_secs()).unwrap_or(0);
    json!({
        "jti": uuid::Uuid::new_v4().to_string(),
        "sub": "fake-coderd@example.com",
        "iat": now,
        "nbf": now,
        "license_expires": now.saturating_add(term),
        "exp": now.saturating_add(term).saturating_add(grace),
        "account_type": "salesforce",
        "account_id": "fake-coderd",
        "trial": false,
        "feature_set": feature_set,
        "version": 3,
        "features": {},
    })
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    kid: Option<Value>,
}

/// golang-jwt v4's verdicts that coderd distinguishes.
#[derive(Debug, Default)]
struct JwtProblems {
    /// Malformed, unverifiable, bad signature, expired, issued in the future.
    fatal: bool,
    not_valid_yet: bool,
}

fn jwt_parse(raw: &str, now: Timestamp) -> Result<(Parsed, JwtProblems), LicenseError> {
    let mut problems = JwtProblems::default();
    let parts: Vec<&str> = raw.split('.').collect();
    if parts.len() != 3 {
        return Err(LicenseError::MultipleIssues);
    }
    let decode = |s: &str| {
        URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| LicenseError::MultipleIssues)
    };
    let header: Header =
        serde_json::from_slice(&decode(parts[0])?).map_err(|_| LicenseError::MultipleIssues)?;
    let payload = decode(parts[1])?;
    let raw_claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| LicenseError::MultipleIssues)?;
    let claims: Claims =
        serde_json::from_slice(&payload).map_err(|_| LicenseError::MultipleIssues)?;
    // WithValidMethods(["EdDSA"]), then the key lookup by `kid` (keyFunc).
    if header.alg.as_deref() != Some("EdDSA") {
        return Err(LicenseError::MultipleIssues);
    }
    let trusted = matches!(&header.kid, Some(Value::String(kid)) if kid == KEY_ID);
    if !trusted {
        return Err(LicenseError::MultipleIssues);
    }
    // RegisteredClaims.Valid: exp, iat, nbf (none required).
    let now_s = now.as_second() as f64;
    if claims.expires_at.is_some_and(|exp| now_s >= exp) {
        problems.fatal = true;
    }
    if claims.issued_at.is_some_and(|iat| now_s < iat) {
        problems.fatal = true;
    }
    if claims.not_before.is_some_and(|nbf| now_s < nbf) {
        problems.not_valid_yet = true;
    }
    let signature = decode(parts[2])?;
    let public = public_key().map_err(|_| LicenseError::MultipleIssues)?;
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    if signature::UnparsedPublicKey::new(&signature::ED25519, &public)
        .verify(signing_input.as_bytes(), &signature)
        .is_err()
    {
        problems.fatal = true;
    }
    Ok((
        Parsed {
            claims,
            raw: raw_claims,
        },
        problems,
    ))
}

/// license.go validateClaims: the checks after golang-jwt accepted the token.
fn validate_claims(parsed: Parsed, now: Timestamp) -> Result<Parsed, LicenseError> {
    let c = &parsed.claims;
    if c.version != 3 {
        return Err(LicenseError::InvalidVersion);
    }
    if c.issued_at.is_none() {
        return Err(LicenseError::MissingIssuedAt);
    }
    if c.not_before.is_none() {
        return Err(LicenseError::MissingNotBefore);
    }
    let hard_limit = now
        .checked_add(jiff::SignedDuration::from_hours(5 * 365 * 24))
        .unwrap_or(Timestamp::MAX);
    match c.license_expires_at() {
        Some(t) if t <= hard_limit => {}
        _ => return Err(LicenseError::MissingLicenseExpires),
    }
    if c.expires_at.is_none() {
        return Err(LicenseError::MissingExp);
    }
    if c.account_type.is_empty() {
        return Err(LicenseError::MissingAccountType);
    }
    if c.account_id.is_empty() {
        return Err(LicenseError::MissingAccountId);
    }
    Ok(parsed)
}

/// ParseClaimsIgnoreNbf: what POST /licenses accepts (a license for a term that has not
/// started yet is fine).
pub fn parse_ignore_nbf(raw: &str, now: Timestamp) -> Result<Parsed, LicenseError> {
    let (parsed, problems) = jwt_parse(raw, now)?;
    if problems.fatal {
        return Err(LicenseError::MultipleIssues);
    }
    validate_claims(parsed, now)
}

/// ParseClaims: what the entitlements computation accepts (not-yet-valid licenses are
/// skipped there).
pub fn parse(raw: &str, now: Timestamp) -> Result<Parsed, LicenseError> {
    let (parsed, problems) = jwt_parse(raw, now)?;
    if problems.fatal {
        return Err(LicenseError::MultipleIssues);
    }
    if problems.not_valid_yet {
        return Err(LicenseError::NotValidYet);
    }
    validate_claims(parsed, now)
}

/// The payload of a stored license without any check (licenses.go decodeClaims: GET /licenses
/// shows expired ones too).
pub fn decode_claims(raw: &str) -> Option<Map<String, Value>> {
    let payload = raw.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::now()
    }

    #[test]
    fn signed_claims_parse_back() {
        let c = claims("premium", Duration::from_secs(3600));
        let jwt = sign(&c).unwrap();
        let parsed = parse_ignore_nbf(&jwt, now()).unwrap();
        assert_eq!(parsed.claims.feature_set, "premium");
        assert_eq!(parsed.claims.version, 3);
        assert_eq!(parsed.raw["account_id"], "fake-coderd");
    }

    #[test]
    fn jwt_problems_are_coderds_catch_all() {
        let c = claims("premium", Duration::from_secs(3600));
        assert_eq!(
            parse_ignore_nbf("garbage", now()).unwrap_err(),
            LicenseError::MultipleIssues
        );
        assert_eq!(
            parse_ignore_nbf(&sign_untrusted(&c).unwrap(), now()).unwrap_err(),
            LicenseError::MultipleIssues
        );
        let mut expired = c.clone();
        expired["exp"] = json!(now().as_second() - 10);
        assert_eq!(
            parse_ignore_nbf(&sign(&expired).unwrap(), now()).unwrap_err(),
            LicenseError::MultipleIssues
        );
    }

    #[test]
    fn claim_checks_have_coderds_messages() {
        let base = claims("premium", Duration::from_secs(3600));
        let cases: Vec<(&str, Value, &str)> = vec![
            ("version", json!(2), "license must be version 3"),
            (
                "account_id",
                json!(""),
                "license must contain valid account ID",
            ),
            (
                "license_expires",
                json!(now().as_second() + 6 * 365 * 24 * 3600),
                "license has invalid or missing license_expires claim",
            ),
        ];
        for (field, value, message) in cases {
            let mut c = base.clone();
            c[field] = value;
            let err = parse_ignore_nbf(&sign(&c).unwrap(), now()).unwrap_err();
            assert_eq!(err.to_string(), message, "{field}");
        }
    }

    #[test]
    fn a_future_term_is_accepted_on_upload_but_not_yet_valid() {
        let mut c = claims("premium", Duration::from_secs(3600));
        c["nbf"] = json!(now().as_second() + 600);
        let jwt = sign(&c).unwrap();
        assert!(parse_ignore_nbf(&jwt, now()).is_ok());
        assert_eq!(parse(&jwt, now()).unwrap_err(), LicenseError::NotValidYet);
    }
}
