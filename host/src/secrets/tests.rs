//! Tests of the master key, sealing and secret names.

use super::*;

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn a_sealed_secret_opens_with_the_same_key_and_name() {
    let key = MasterKey::generate();
    let sealed = key.seal("twilio.auth_token", "tok-123").unwrap();
    assert_eq!(sealed[0], SEALED_VERSION);
    assert_eq!(sealed.len(), 1 + NONCE_LEN + "tok-123".len() + TAG_LEN);
    assert_eq!(
        key.open("twilio.auth_token", &sealed).unwrap().expose(),
        "tok-123"
    );
}

#[test]
fn sealing_twice_uses_fresh_nonces() {
    let key = MasterKey::generate();
    let a = key.seal("wave.client_secret", "same").unwrap();
    let b = key.seal("wave.client_secret", "same").unwrap();
    assert_ne!(a, b);
}

#[test]
fn a_wrong_key_fails_to_open() {
    let sealed = MasterKey::generate()
        .seal("wave.client_secret", "s3cret")
        .unwrap();
    let err = MasterKey::generate()
        .open("wave.client_secret", &sealed)
        .unwrap_err();
    assert!(matches!(err, SecretsError::Decrypt { .. }));
    assert!(!err.to_string().contains("s3cret"));
}

#[test]
fn a_ciphertext_moved_to_another_name_fails_to_open() {
    let key = MasterKey::generate();
    let sealed = key.seal("twilio.api_key_secret", "s3cret").unwrap();
    let err = key.open("twilio.auth_token", &sealed).unwrap_err();
    assert!(matches!(err, SecretsError::Decrypt { .. }));
}

#[test]
fn altered_or_truncated_values_fail_to_open() {
    let key = MasterKey::generate();
    let mut sealed = key.seal("twilio.api_key_sid", "SK123").unwrap();
    let last = sealed.len() - 1;
    sealed[last] ^= 1;
    assert!(matches!(
        key.open("twilio.api_key_sid", &sealed),
        Err(SecretsError::Decrypt { .. })
    ));
    assert!(matches!(
        key.open("twilio.api_key_sid", &sealed[..10]),
        Err(SecretsError::Format { .. })
    ));
    assert!(matches!(
        key.open("twilio.api_key_sid", &[]),
        Err(SecretsError::Format { .. })
    ));
    sealed[0] = 9;
    assert!(matches!(
        key.open("twilio.api_key_sid", &sealed),
        Err(SecretsError::Format { .. })
    ));
}

#[test]
fn reseal_moves_a_secret_to_a_new_key() {
    let (old, new) = (MasterKey::generate(), MasterKey::generate());
    let sealed = old.seal("wave.webhook_secret", "whsec").unwrap();
    let resealed = old.reseal(&new, "wave.webhook_secret", &sealed).unwrap();
    assert_eq!(
        new.open("wave.webhook_secret", &resealed).unwrap().expose(),
        "whsec"
    );
    assert!(old.open("wave.webhook_secret", &resealed).is_err());
}

#[test]
fn debug_and_display_never_show_the_value() {
    let secret = SecretString::from("hunter2");
    assert_eq!(format!("{secret:?}"), "[redacted]");
    assert_eq!(format!("{secret}"), "[redacted]");
    assert_eq!(format!("{:?}", Some(&secret)), "Some([redacted])");
    let key = MasterKey::parse(&"ab".repeat(32), "test").unwrap();
    assert!(!format!("{key:?}").contains("ab"));
}

#[test]
fn the_master_key_parses_from_hex_or_base64() {
    let key = MasterKey::generate();
    let b64 = key.to_base64();
    let from_b64 = MasterKey::parse(&format!("  {}\n", b64.expose()), "test").unwrap();
    assert_eq!(from_b64.0, key.0);
    let from_hex = MasterKey::parse(&hex::encode(key.0), "test").unwrap();
    assert_eq!(from_hex.0, key.0);
    for bad in ["", "abc", &"ab".repeat(31), &"zz".repeat(32), "AAAA"] {
        let err = MasterKey::parse(bad, "key file k").unwrap_err();
        assert!(err.to_string().contains("key file k"), "{err}");
    }
}

#[test]
fn the_environment_wins_over_the_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("master.key");
    let file_key = MasterKey::generate();
    std::fs::write(&file, format!("{}\n", file_key.to_base64().expose())).unwrap();
    let env_key = MasterKey::generate();
    let env_text = hex::encode(env_key.0);
    let env = |name: &str| (name == MASTER_KEY_ENV).then(|| env_text.clone());

    assert_eq!(
        MasterKey::load(&env, Some(&file)).unwrap().unwrap().0,
        env_key.0
    );
    assert_eq!(
        MasterKey::load(&no_env, Some(&file)).unwrap().unwrap().0,
        file_key.0
    );
    assert!(MasterKey::load(&no_env, None).unwrap().is_none());
    let missing = dir.path().join("missing.key");
    assert!(matches!(
        MasterKey::load(&no_env, Some(&missing)),
        Err(SecretsError::KeyFile { .. })
    ));
    let bad_env = |_: &str| Some("nope".to_string());
    let err = MasterKey::load(&bad_env, Some(&file)).unwrap_err();
    assert!(err.to_string().contains(MASTER_KEY_ENV), "{err}");
}

#[test]
fn names_are_validated() {
    for good in [
        "wave.webhook_secret",
        "wave.oauth:biz-1",
        "a",
        &"a".repeat(64),
    ] {
        assert!(validate_name(good).is_ok(), "{good}");
    }
    for bad in ["", "Wave.secret", "a b", "a/b", &"a".repeat(65), "é"] {
        assert!(validate_name(bad).is_err(), "{bad}");
    }
    assert!(MasterKey::generate().seal("Bad Name", "x").is_err());
}
