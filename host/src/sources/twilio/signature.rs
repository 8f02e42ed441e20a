//! Twilio webhook signatures: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + params)).
//!
//! The signed string is the full URL Twilio requested (`{server.public_url}` + the path and
//! query as received; never the `Host` header, which a proxy rewrites) followed by every POST
//! parameter as name + value, names sorted by code point. A name sent several times contributes
//! name + value once per distinct value, values sorted (as twilio-python and twilio-node do).
//! Like the official libraries, a signature is accepted when it matches the URL as given, the URL
//! without its port, or the URL with its port (the scheme's default added when absent).
//! JSON-bodied webhooks sign the URL only and carry `bodySHA256` (hex) in its query.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

type HmacSha1 = Hmac<Sha1>;

/// The header Twilio signs its webhooks with (lower case, as axum stores header names).
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

/// The string Twilio signs for a form POST: `url` then, names sorted, each name + value, repeated
/// names once per distinct value with values sorted.
pub fn string_to_sign(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (name, value) in params {
        sorted.entry(name).or_default().insert(value);
    }
    let mut out = String::from(url);
    for (name, values) in sorted {
        for value in values {
            out.push_str(name);
            out.push_str(value);
        }
    }
    out
}

/// The base64 signature of `url` and `params` with `auth_token`.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).expect("HMAC takes any key length");
    mac.update(string_to_sign(url, params).as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is valid for a form POST to `url` with `params`, trying the URL as given,
/// without its port and with its port, comparing in constant time.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let mut ok = false;
    for candidate in url_variants(url) {
        // Evaluate every candidate (no early exit) so timing does not reveal which matched.
        let expected = compute(auth_token, &candidate, params);
        ok |= bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes()));
    }
    ok
}

/// Whether `signature` is valid for a JSON-bodied webhook: the URL (with its `bodySHA256` query
/// parameter) is signed without params, and the parameter must equal hex(SHA-256(body)).
pub fn validate_json_body(auth_token: &str, url: &str, raw_body: &[u8], signature: &str) -> bool {
    let Some(claimed) = query_param(url, "bodySHA256") else { return false };
    let actual = hex::encode(Sha256::digest(raw_body));
    let body_ok = bool::from(actual.as_bytes().ct_eq(claimed.as_bytes()));
    validate(auth_token, url, &[], signature) && body_ok
}

fn query_param<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query.split('&').find_map(|pair| pair.split_once('=').filter(|(n, _)| *n == name).map(|(_, v)| v))
}

/// The URL as given, without its port, and with its port (the scheme default when absent).
fn url_variants(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    let Some((scheme, rest)) = url.split_once("://") else { return out };
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    // A port is the digits after the last ':' that is not inside an IPv6 literal.
    let (host, port) = match hostport.rfind(':') {
        Some(colon) if !hostport[colon..].contains(']') && hostport[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            (&hostport[..colon], Some(&hostport[colon + 1..]))
        }
        _ => (hostport, None),
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    };
    let without = format!("{scheme}://{userinfo}{host}{tail}");
    let with = port.or(default_port).map(|p| format!("{scheme}://{userinfo}{host}:{p}{tail}"));
    for variant in [Some(without), with].into_iter().flatten() {
        if !out.contains(&variant) {
            out.push(variant);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn params_of(value: &Value) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, v) in value.as_object().expect("params object") {
            match v {
                Value::Array(values) => {
                    out.extend(values.iter().map(|x| (name.clone(), x.as_str().unwrap().to_owned())));
                }
                other => out.push((name.clone(), other.as_str().unwrap().to_owned())),
            }
        }
        out
    }

    #[test]
    fn every_signature_vector_in_the_fixtures_passes() {
        let text = include_str!("../../../../tests/fixtures/twilio/signature_vectors.json");
        let vectors: Vec<Value> = serde_json::from_str(text).unwrap();
        assert!(!vectors.is_empty());
        for v in &vectors {
            let name = v["name"].as_str().unwrap();
            let token = v["auth_token"].as_str().unwrap();
            let url = v["url"].as_str().unwrap();
            let sig = v["signature"].as_str().unwrap();
            if let Some(body) = v.get("raw_body").and_then(Value::as_str) {
                assert_eq!(hex::encode(Sha256::digest(body.as_bytes())), v["bodySHA256_hex"].as_str().unwrap(), "{name}");
                assert_eq!(compute(token, url, &[]), sig, "{name}");
                assert_eq!(validate_json_body(token, url, body.as_bytes(), sig), v["validate"].as_bool().unwrap(), "{name}");
                let tampered = format!("{body} ");
                assert_eq!(
                    validate_json_body(token, url, tampered.as_bytes(), sig),
                    v["validate_tampered_body"].as_bool().unwrap(),
                    "{name}"
                );
                continue;
            }
            let params = params_of(&v["params"]);
            assert_eq!(string_to_sign(url, &params), v["string_to_sign"].as_str().unwrap(), "{name}");
            assert_eq!(compute(token, url, &params), sig, "{name}");
            for (u, s) in [("url_with_port", "signature_url_with_port"), ("url_without_port", "signature_url_without_port")] {
                assert_eq!(compute(token, v[u].as_str().unwrap(), &params), v[s].as_str().unwrap(), "{name} {u}");
            }
            assert_eq!(validate(token, url, &params, sig), v["validate_sig_as_is"].as_bool().unwrap(), "{name}");
            // The request reached us at the URL as given, signed over either port form.
            let with = v["signature_url_with_port"].as_str().unwrap();
            let without = v["signature_url_without_port"].as_str().unwrap();
            assert_eq!(validate(token, url, &params, with), v["validate_sig_with_port"].as_bool().unwrap(), "{name}");
            assert_eq!(validate(token, url, &params, without), v["validate_sig_without_port"].as_bool().unwrap(), "{name}");
        }
    }

    #[test]
    fn a_signature_for_another_url_or_token_is_refused() {
        let params = vec![("MessageSid".to_owned(), "SM1".to_owned()), ("MessageStatus".to_owned(), "sent".to_owned())];
        let sig = compute("tok", "https://a.example/webhooks/twilio/status", &params);
        assert!(validate("tok", "https://a.example/webhooks/twilio/status", &params, &sig));
        assert!(validate("tok", "https://a.example:443/webhooks/twilio/status", &params, &sig));
        assert!(!validate("tok", "https://a.example/webhooks/twilio/inbound", &params, &sig));
        assert!(!validate("other", "https://a.example/webhooks/twilio/status", &params, &sig));
        assert!(!validate("tok", "https://a.example/webhooks/twilio/status", &params[..1], &sig));
        assert!(!validate("tok", "https://a.example/webhooks/twilio/status", &params, ""));
    }
}
