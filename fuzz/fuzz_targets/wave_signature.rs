//! Wave's `x-wave-signature` header against a raw body: `verify` never panics on any header,
//! body or clock, and a body signed with `sign` always verifies.
//! Input: the header, a newline, then the raw body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::secrets::SecretString;
use ml_connector::sources::wave::signature::{SignatureError, sign, verify};
use ml_connector_fuzz::lines;

/// The secret the seeds are signed with (`fuzz/make_seeds.py`), after an older one, as during a rotation.
const SECRETS: [&str; 2] = ["whsec_old", "whsec_fuzz"];
/// The clock the seeds are signed at.
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some(([header], body)) = lines::<1>(data) else { return };
    let secrets = SECRETS.map(SecretString::from);
    let verdict = verify(header, body, &secrets, NOW, 300);
    if header.trim().is_empty() {
        assert_eq!(verdict, Err(SignatureError::Missing));
    }
    // Hostile clocks and tolerances only ever give an answer.
    let _ = verify(header, body, &secrets, i64::MIN, i64::MIN);
    let _ = verify(header, body, &secrets, i64::MAX, 0);
    let _ = verify(header, body, &[], NOW, 300);
    // Sign → verify holds for every body, and another secret is refused.
    let signed = sign(SECRETS[1], NOW, body);
    assert_eq!(verify(&signed, body, &secrets, NOW, 300), Ok(()));
    let other = [SecretString::from("whsec_other")];
    assert_eq!(verify(&signed, body, &other, NOW, 300), Err(SignatureError::Mismatch));
});
