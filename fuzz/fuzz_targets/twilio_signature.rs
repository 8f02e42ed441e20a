//! `X-Twilio-Signature` as the host's webhook routes check it: the form body is decoded, then
//! the signature checked over the URL (and its port variants) and every parameter, or over the
//! URL alone with `bodySHA256` for JSON bodies. Never panics on any URL, signature or body;
//! a signature from `compute` always validates, and is refused under another token.
//! Input: the auth token, the URL, the signature, each on its own line, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::sources::twilio::callbacks::parse_form;
use ml_connector::sources::twilio::signature::{compute, validate, validate_json_body};
use ml_connector_fuzz::lines;

fuzz_target!(|data: &[u8]| {
    let Some(([token, url, signature], body)) = lines::<3>(data) else { return };
    let params = parse_form(body);
    // The route's choice between the two schemes.
    if url.contains("bodySHA256=") {
        let _ = validate_json_body(token, url, body, signature);
    } else {
        let _ = validate(token, url, &params, signature);
    }
    let expected = compute(token, url, &params);
    assert!(validate(token, url, &params, &expected), "{url:?}");
    let other = format!("{token}x");
    assert!(!validate(&other, url, &params, &expected), "{url:?}");
});
