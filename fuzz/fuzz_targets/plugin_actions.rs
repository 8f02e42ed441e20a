//! The host's check of what a plugin returns (`limits::check_actions`, then the Twilio sink's
//! body bounds as the dispatcher applies them): never a panic, what it
//! accepts is within every bound, and an accepted action keeps its meaning through its JSON
//! form (what the CLI prints and the store's recipient text holds). What the sender then does
//! with an accepted message's own text (a literal number to E.164, a call's body to TwiML)
//! never panics either.
//! Input: a JSON array of actions, or any bytes that `arbitrary` turns into actions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ml_connector::model::{Action, Message, Recipient};
use ml_connector::dispatch::check_bodies;
use ml_connector::runtime::limits::{MAX_ACTIONS, MAX_KEY_BYTES, check_actions};
use ml_connector::sinks::twilio::sink::{MAX_SMS_CHARS, check_body};
use ml_connector::sinks::twilio::{phone, twiml};
use ml_connector_fuzz::actions;

fuzz_target!(|data: &[u8]| {
    let Some(actions) = actions(data) else { return };
    if check_actions(&actions).is_err() {
        return;
    }
    let Ok(actions) = check_bodies(actions, check_body) else { return };
    assert!(actions.len() <= MAX_ACTIONS);
    for action in &actions {
        let key = match action {
            Action::Sms(Message { key, body, .. }) => {
                assert!(body.chars().count() <= MAX_SMS_CHARS);
                key
            }
            Action::Call(Message { key, body, .. }) => {
                assert_eq!(twiml::say(body).matches('<').count(), 4, "only the host's own tags");
                key
            }
            Action::Cancel { prefix } => prefix,
        };
        if let Action::Sms(Message { to: Recipient::Number(number), .. }) | Action::Call(Message { to: Recipient::Number(number), .. }) = action {
            let _ = phone::to_e164(number, "US");
        }
        assert!(!key.is_empty() && key.len() <= MAX_KEY_BYTES);
    }
    let json = serde_json::to_string(&actions).expect("actions serialize");
    let back: Vec<Action> = serde_json::from_str(&json).expect("actions read back");
    assert_eq!(back, actions, "{json}");
});
