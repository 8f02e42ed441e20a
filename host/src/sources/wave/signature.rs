//! Wave webhook signatures: `x-wave-signature: t=<unix>,v1=<hex HMAC-SHA256("{t}." + raw body)>`.
//!
//! Wave signs the raw request body, so verification must run on the bytes exactly as received,
//! before any JSON parsing. Several secrets may be configured at once (rotation), and the header
//! may carry several `v1` entries; any secret matching any entry accepts the request.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secrets::SecretString;

type HmacSha256 = Hmac<Sha256>;

/// Length in bytes of an HMAC-SHA256 tag (64 hex digits in the header).
const TAG_LEN: usize = 32;

/// Why a webhook signature was rejected. The variants never echo header or body content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature header is absent or empty.
    #[error("missing webhook signature header")]
    Missing,
    /// The header is present but does not follow `t=<unix>,v1=<hex>`.
    #[error("malformed webhook signature header: {0}")]
    Malformed(&'static str),
    /// The signed timestamp is too far from the host's clock (replay protection, both directions).
    /// `skew_secs` is `now - t`: positive for an old signature, negative for one from the future.
    #[error("webhook signature timestamp is {skew_secs} s away from now, outside the tolerance")]
    Stale {
        /// `now - t` in seconds.
        skew_secs: i64,
    },
    /// No configured secret produces any of the header's `v1` signatures.
    #[error("webhook signature does not match")]
    Mismatch,
    /// The host has no webhook secret to check against: an operator error, not the caller's.
    #[error("no webhook secret is configured")]
    NoSecrets,
}

/// Verifies a Wave signature header against the raw body.
///
/// `now` is the host's clock in unix seconds; the request is rejected when `|now - t|` exceeds
/// `tolerance_secs`. Every secret is tried against every `v1` entry with a constant-time
/// comparison. Unknown `key=value` parts are ignored so Wave can add schemes later.
pub fn verify(
    header: &str,
    raw_body: &[u8],
    secrets: &[SecretString],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header)?;
    // `t` is digits only, so it is non-negative; saturate to stay panic-free for any `now`.
    let skew_secs = now.saturating_sub(parsed.timestamp);
    if skew_secs.unsigned_abs() > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale { skew_secs });
    }
    if secrets.is_empty() {
        return Err(SignatureError::NoSecrets);
    }
    for secret in secrets {
        let mac = keyed_mac(secret.expose(), parsed.timestamp_text, raw_body);
        for candidate in &parsed.signatures {
            // `verify_slice` compares in constant time.
            if mac.clone().verify_slice(candidate).is_ok() {
                return Ok(());
            }
        }
    }
    Err(SignatureError::Mismatch)
}

/// Computes the full `x-wave-signature` header value for `raw_body` signed at unix time `t`.
pub fn sign(secret: &str, t: i64, raw_body: &[u8]) -> String {
    let timestamp = t.to_string();
    let tag = keyed_mac(secret, &timestamp, raw_body)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// HMAC-SHA256 keyed with `secret`, fed with `"{timestamp}." + raw_body`.
fn keyed_mac(secret: &str, timestamp: &str, raw_body: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(raw_body);
    mac
}

/// The parts of a signature header that verification needs.
struct ParsedHeader<'a> {
    /// The timestamp exactly as sent: it is what Wave signed.
    timestamp_text: &'a str,
    timestamp: i64,
    signatures: Vec<[u8; TAG_LEN]>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    if header.trim().is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut timestamp_text = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (key, value) = part
            .split_once('=')
            .ok_or(SignatureError::Malformed("a part has no `=`"))?;
        let value = value.trim();
        match key.trim() {
            "t" if timestamp_text.is_some() => {
                return Err(SignatureError::Malformed("more than one `t`"));
            }
            "t" => timestamp_text = Some(value),
            "v1" => {
                let mut tag = [0u8; TAG_LEN];
                hex::decode_to_slice(value, &mut tag)
                    .map_err(|_| SignatureError::Malformed("`v1` is not 64 hex digits"))?;
                signatures.push(tag);
            }
            _ => {}
        }
    }
    let timestamp_text = timestamp_text.ok_or(SignatureError::Malformed("no `t`"))?;
    if timestamp_text.is_empty() || !timestamp_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed("`t` is not a unix timestamp"));
    }
    let timestamp = timestamp_text
        .parse::<i64>()
        .map_err(|_| SignatureError::Malformed("`t` is out of range"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no `v1`"));
    }
    Ok(ParsedHeader {
        timestamp_text,
        timestamp,
        signatures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"event_id":"evt-1","event_type":"invoice.paid"}"#;
    const T: i64 = 1_700_000_000;
    /// `python3 -c "import hmac,hashlib; print(hmac.new(b'whsec_test',
    /// b'1700000000.{\"event_id\":\"evt-1\",\"event_type\":\"invoice.paid\"}',
    /// hashlib.sha256).hexdigest())"`
    const KNOWN_TAG: &str = "5b7ddaf7b65180cc937fbce10ad4711da9f71f9c9d7b454f03c44fca4455bf68";

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values.iter().map(|s| SecretString::from(*s)).collect()
    }

    fn check(header: &str, body: &[u8], keys: &[&str], now: i64) -> Result<(), SignatureError> {
        verify(header, body, &secrets(keys), now, 300)
    }

    #[test]
    fn sign_matches_an_independently_computed_hmac() {
        assert_eq!(sign("whsec_test", T, BODY), format!("t={T},v1={KNOWN_TAG}"));
    }

    #[test]
    fn hmac_matches_the_rfc_style_test_vector() {
        // python3: hmac.new(b'key', b'The quick brown fox jumps over the lazy dog', sha256)
        let mut mac = <HmacSha256 as Mac>::new_from_slice(b"key").unwrap();
        mac.update(b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
    }

    #[test]
    fn a_known_good_header_verifies() {
        let header = format!("t={T},v1={KNOWN_TAG}");
        assert_eq!(check(&header, BODY, &["whsec_test"], T + 10), Ok(()));
    }

    #[test]
    fn spaces_order_unknown_parts_and_uppercase_hex_are_tolerated() {
        let header = format!(" v0=abc , v1={} ,t={T}, ", KNOWN_TAG.to_uppercase());
        assert_eq!(check(&header, BODY, &["whsec_test"], T), Ok(()));
    }

    #[test]
    fn any_of_several_v1_entries_may_match() {
        let header = format!("t={T},v1={},v1={KNOWN_TAG}", "00".repeat(32));
        assert_eq!(check(&header, BODY, &["whsec_test"], T), Ok(()));
    }

    #[test]
    fn a_tampered_body_is_a_mismatch() {
        let header = sign("whsec_test", T, BODY);
        let tampered = br#"{"event_id":"evt-1","event_type":"invoice.paid" }"#;
        assert_eq!(
            check(&header, tampered, &["whsec_test"], T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_wrong_secret_is_a_mismatch() {
        let header = sign("whsec_test", T, BODY);
        assert_eq!(
            check(&header, BODY, &["whsec_other"], T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_changed_timestamp_is_a_mismatch() {
        let header = format!("t={},v1={KNOWN_TAG}", T + 1);
        assert_eq!(
            check(&header, BODY, &["whsec_test"], T),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_second_secret_matches_during_rotation() {
        let header = sign("whsec_new", T, BODY);
        assert_eq!(check(&header, BODY, &["whsec_old", "whsec_new"], T), Ok(()));
    }

    #[test]
    fn an_old_signature_is_stale() {
        let header = sign("whsec_test", T, BODY);
        assert_eq!(check(&header, BODY, &["whsec_test"], T + 300), Ok(()));
        assert_eq!(
            check(&header, BODY, &["whsec_test"], T + 301),
            Err(SignatureError::Stale { skew_secs: 301 })
        );
    }

    #[test]
    fn a_signature_from_the_future_is_stale() {
        let header = sign("whsec_test", T, BODY);
        assert_eq!(check(&header, BODY, &["whsec_test"], T - 300), Ok(()));
        assert_eq!(
            check(&header, BODY, &["whsec_test"], T - 301),
            Err(SignatureError::Stale { skew_secs: -301 })
        );
    }

    #[test]
    fn no_configured_secret_is_reported_as_such() {
        let header = sign("whsec_test", T, BODY);
        assert_eq!(check(&header, BODY, &[], T), Err(SignatureError::NoSecrets));
    }

    #[test]
    fn an_empty_header_is_missing() {
        assert_eq!(check("", BODY, &["k"], T), Err(SignatureError::Missing));
        assert_eq!(check("  ", BODY, &["k"], T), Err(SignatureError::Missing));
    }

    #[test]
    fn malformed_headers_are_rejected_with_a_reason() {
        let tag = KNOWN_TAG;
        let cases = [
            format!("v1={tag}"),
            format!("t=,v1={tag}"),
            format!("t=abc,v1={tag}"),
            format!("t=-5,v1={tag}"),
            format!("t=+{T},v1={tag}"),
            format!("t=99999999999999999999999,v1={tag}"),
            format!("t={T},t={T},v1={tag}"),
            format!("t={T}"),
            format!("t={T},v1="),
            format!("t={T},v1={}", &tag[1..]),
            format!("t={T},v1={}zz", &tag[2..]),
            format!("t={T},v1={tag}00"),
            format!("t={T},garbage,v1={tag}"),
            "t=1,v1=é".to_string(),
            ",,,".to_string(),
        ];
        for header in cases {
            match check(&header, BODY, &["whsec_test"], T) {
                Err(SignatureError::Malformed(_)) => {}
                other => panic!("{header:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn hostile_timestamps_never_panic() {
        let header = format!("t={},v1={KNOWN_TAG}", i64::MAX);
        assert!(matches!(
            verify(&header, BODY, &secrets(&["k"]), i64::MIN, 300),
            Err(SignatureError::Stale { .. })
        ));
    }
}
