//! Property tests (proptest) of the host's round trips: Wave and Twilio signatures (sign →
//! verify, tamper → refuse), the text forms of recipients, actions, sealed secrets and the
//! quiet hours and time zone of the configuration (parse → write → parse).

use ml_connector::config::{QuietHours, Timezone};
use ml_connector::model::{Action, Message, Recipient};
use ml_connector::runtime::limits::check_actions;
use ml_connector::secrets::{MasterKey, SecretString, SecretsError};
use ml_connector::sources::twilio::signature as twilio;
use ml_connector::sources::wave::signature::{self as wave, SignatureError};
use proptest::prelude::*;

/// Wave's tolerance, as configured by default.
const TOLERANCE: i64 = 300;

fn form_params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[A-Za-z]{1,12}", ".{0,24}"), 0..8)
}

fn twilio_url() -> impl Strategy<Value = String> {
    "https?://[a-z]{1,10}\\.example(:[0-9]{1,5})?/[a-z/]{0,16}(\\?[a-z]{1,4}=[0-9]{1,4})?"
}

/// Texts that look like recipients, near misses included.
fn recipient_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("customer".to_owned()),
        "team:[a-z]{0,8}",
        "\\+[0-9]{8,15}",
        "(customer|team:)?.{0,12}",
    ]
}

fn message() -> impl Strategy<Value = Message> {
    let to = prop_oneof![
        Just(Recipient::Customer),
        "[a-z]{0,8}".prop_map(Recipient::Team),
        recipient_text().prop_map(Recipient::Number),
    ];
    let not_before = prop::option::of(prop_oneof![
        Just("2026-05-01T09:00:00-05:00".to_owned()),
        ".{0,12}"
    ]);
    (to, ".{0,40}", "[a-z:0-9]{0,12}", not_before).prop_map(|(to, body, key, not_before)| Message { to, body, key, not_before })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        message().prop_map(Action::Sms),
        message().prop_map(Action::Call),
        "[a-z:0-9]{0,12}".prop_map(|prefix| Action::Cancel { prefix }),
    ]
}

/// Texts shaped like `HH:MM` and near misses: signs, spaces, one or three digits.
fn hh_mm_like() -> impl Strategy<Value = String> {
    let part = || prop_oneof!["[0-9]{2}", "[+ -][0-9]", "[0-9]{1,3}", "[+0-9]{2}"];
    (part(), part()).prop_map(|(h, m)| format!("{h}:{m}"))
}

/// `HH:MM` of minutes since midnight.
fn hh_mm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

proptest! {
    #[test]
    fn a_wave_body_signed_with_a_stored_secret_verifies_within_the_tolerance(
        secret in "[ -~]{1,40}",
        body in prop::collection::vec(any::<u8>(), 0..512),
        t in 0i64..4_000_000_000,
        skew in -TOLERANCE..=TOLERANCE,
    ) {
        let header = wave::sign(&secret, t, &body);
        let stored = [SecretString::from("whsec_older"), SecretString::from(secret.as_str())];
        prop_assert_eq!(wave::verify(&header, &body, &stored, t + skew, TOLERANCE), Ok(()));
    }

    #[test]
    fn a_tampered_wave_body_timestamp_or_secret_is_refused(
        secret in "[ -~]{1,40}",
        body in prop::collection::vec(any::<u8>(), 1..512),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        t in 0i64..4_000_000_000,
    ) {
        let header = wave::sign(&secret, t, &body);
        let stored = [SecretString::from(secret.as_str())];
        let mut tampered = body.clone();
        tampered[index.index(body.len())] ^= flip;
        prop_assert_eq!(wave::verify(&header, &tampered, &stored, t, TOLERANCE), Err(SignatureError::Mismatch));
        let other = [SecretString::from(format!("{secret}x"))];
        prop_assert_eq!(wave::verify(&header, &body, &other, t, TOLERANCE), Err(SignatureError::Mismatch));
        let moved = header.replacen(&format!("t={t},"), &format!("t={},", t + 1), 1);
        prop_assert_eq!(wave::verify(&moved, &body, &stored, t, TOLERANCE), Err(SignatureError::Mismatch));
        let late = wave::verify(&header, &body, &stored, t + TOLERANCE + 1, TOLERANCE);
        prop_assert_eq!(late, Err(SignatureError::Stale { skew_secs: TOLERANCE + 1 }));
    }

    #[test]
    fn a_twilio_request_signed_with_the_auth_token_validates_with_or_without_the_port(
        token in "[0-9a-f]{32}",
        host in "[a-z]{1,10}\\.example",
        path in "/[a-z/]{0,16}",
        params in form_params(),
    ) {
        let url = format!("https://{host}{path}");
        let signature = twilio::compute(&token, &url, &params);
        prop_assert!(twilio::validate(&token, &url, &params, &signature));
        // Twilio may have signed the explicit-port form of the URL it called.
        let with_port = twilio::compute(&token, &format!("https://{host}:443{path}"), &params);
        prop_assert!(twilio::validate(&token, &url, &params, &with_port));
    }

    #[test]
    fn a_tampered_twilio_url_parameter_signature_or_token_is_refused(
        token in "[0-9a-f]{32}",
        url in twilio_url(),
        params in form_params(),
        extra in ".{1,8}",
    ) {
        let signature = twilio::compute(&token, &url, &params);
        prop_assert!(twilio::validate(&token, &url, &params, &signature));
        // `~` sorts after every generated name, so the parameter adds to the signed string.
        let mut added = params.clone();
        added.push(("~".to_owned(), extra));
        prop_assert!(!twilio::validate(&token, &url, &added, &signature));
        let moved = match url.split_once('?') {
            Some((base, query)) => format!("{base}x?{query}"),
            None => format!("{url}x"),
        };
        prop_assert!(!twilio::validate(&token, &moved, &params, &signature));
        let other_token = format!("{token}x");
        prop_assert!(!twilio::validate(&other_token, &url, &params, &signature));
        let mut wrong = signature.into_bytes();
        wrong[0] = if wrong[0] == b'A' { b'B' } else { b'A' };
        prop_assert!(!twilio::validate(&token, &url, &params, &String::from_utf8(wrong).unwrap()));
    }

    #[test]
    fn a_recipient_reads_back_from_its_text_and_json_forms(text in recipient_text()) {
        let recipient = Recipient::parse(&text);
        prop_assert_eq!(recipient.to_string(), text.clone());
        prop_assert_eq!(Recipient::parse(&recipient.to_string()), recipient.clone());
        let json = serde_json::to_string(&recipient).unwrap();
        prop_assert_eq!(serde_json::from_str::<Recipient>(&json).unwrap(), recipient);
    }

    #[test]
    fn actions_the_host_accepts_read_back_from_their_json_form(actions in prop::collection::vec(action(), 0..6)) {
        if check_actions(&actions).is_ok() {
            let json = serde_json::to_string(&actions).unwrap();
            prop_assert_eq!(serde_json::from_str::<Vec<Action>>(&json).unwrap(), actions, "{}", json);
        }
    }

    #[test]
    fn a_sealed_secret_opens_under_its_name_only(
        name in "[a-z0-9_.:-]{1,64}",
        other in "[a-z0-9_.:-]{1,64}",
        plaintext in ".{0,64}",
        index in any::<prop::sample::Index>(),
    ) {
        let key = MasterKey::generate();
        let sealed = key.seal(&name, &plaintext).unwrap();
        let opened = key.open(&name, &sealed).unwrap();
        prop_assert_eq!(opened.expose(), plaintext.as_str());
        if other != name {
            prop_assert!(undecryptable(key.open(&other, &sealed)));
        }
        prop_assert!(undecryptable(MasterKey::generate().open(&name, &sealed)));
        let mut altered = sealed.clone();
        let at = 1 + index.index(sealed.len() - 1);
        altered[at] ^= 1;
        prop_assert!(undecryptable(key.open(&name, &altered)));
    }

    #[test]
    fn quiet_hours_read_back_from_their_text_form(start in 0u32..1440, end in 0u32..1440) {
        prop_assume!(start != end);
        let text = format!("{}-{}", hh_mm(start), hh_mm(end));
        let window = QuietHours::try_from(text.clone()).unwrap();
        let written = format!("{}-{}", window.start.format("%H:%M"), window.end.format("%H:%M"));
        prop_assert_eq!(&written, &text);
        prop_assert_eq!(QuietHours::try_from(written).unwrap(), window);
    }

    #[test]
    fn only_hh_mm_windows_are_quiet_hours(text in prop_oneof![
        (hh_mm_like(), hh_mm_like()).prop_map(|(start, end)| format!("{start}-{end}")),
        "[ +0-9:-]{0,14}",
    ]) {
        if let Ok(window) = QuietHours::try_from(text.clone()) {
            let (start, end) = text.split_once('-').unwrap();
            for part in [start.trim(), end.trim()] {
                prop_assert!(hh_mm_shaped(part), "{:?} gave {:?}", text, window);
            }
        }
    }

    #[test]
    fn a_timezone_reads_back_from_its_text_form(east in any::<bool>(), minutes in 0u32..=14 * 60) {
        // Real offsets run from -12:00 to +14:00.
        let minutes = if east { minutes } else { minutes.min(12 * 60) };
        let text = format!("{}{}", if east { '+' } else { '-' }, hh_mm(minutes));
        let zone = Timezone::try_from(text.clone()).unwrap();
        prop_assert_eq!(zone.as_str(), text.as_str());
        // The clock it gives reads back as the same offset.
        let local = zone.rfc3339(chrono::DateTime::UNIX_EPOCH);
        let shown = chrono::DateTime::parse_from_rfc3339(&local).unwrap().offset().local_minus_utc();
        let seconds = i32::try_from(minutes * 60).unwrap();
        prop_assert_eq!(shown, if east { seconds } else { -seconds });
        prop_assert_eq!(Timezone::try_from(local[19..].to_owned()).unwrap().rfc3339(chrono::DateTime::UNIX_EPOCH), local);
    }

    #[test]
    fn only_utc_or_signed_hh_mm_are_timezones(text in prop_oneof![
        ("[+-]?", hh_mm_like()).prop_map(|(sign, offset)| format!("{sign}{offset}")),
        "[+Z0-9:UTC-]{0,7}",
    ]) {
        if let Ok(zone) = Timezone::try_from(text.clone()) {
            // Letters: an IANA name the time zone database knows (e.g. "UCT").
            let canonical = matches!(text.as_str(), "UTC" | "Z")
                || text.bytes().any(|b| b.is_ascii_alphabetic())
                || (text.len() == 6 && matches!(text.as_bytes()[0], b'+' | b'-') && hh_mm_shaped(&text[1..]));
            prop_assert!(canonical, "{:?} gave {:?}", text, zone);
            prop_assert_eq!(Timezone::try_from(zone.as_str().to_owned()).unwrap(), zone);
        }
    }
}

/// Whether opening failed authentication (wrong key, name or bytes), not on format.
fn undecryptable(opened: Result<SecretString, SecretsError>) -> bool {
    matches!(opened, Err(SecretsError::Decrypt { .. }))
}

/// Whether `text` is two digits, a colon and two digits.
fn hh_mm_shaped(text: &str) -> bool {
    text.len() == 5 && text.bytes().enumerate().all(|(i, b)| if i == 2 { b == b':' } else { b.is_ascii_digit() })
}
