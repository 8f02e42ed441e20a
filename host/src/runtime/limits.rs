//! Bounds on what a plugin may return, whatever the sink: how many actions, key lengths, a
//! non-empty body, a sane recipient and an RFC 3339 `not_before`. Checked on every call; a breach
//! fails the plugin for that event. Body sizes are the sink's to bound (Twilio's: SMS characters,
//! escaped TwiML bytes), checked by the dispatcher.

use std::time::Duration;

use crate::model::{Action, Message, Recipient};

/// At most this many actions per call.
pub const MAX_ACTIONS: usize = 20;
/// Keys and cancel prefixes are stored and indexed; keep them short.
pub const MAX_KEY_BYTES: usize = 128;

/// Per-plugin execution limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// CPU deadline for one call (instantiation included).
    pub deadline: Duration,
    /// Cap on the plugin's linear memory.
    pub memory_bytes: usize,
}

impl Default for Limits {
    /// 50 ms and 16 MiB.
    fn default() -> Self {
        Limits { deadline: Duration::from_millis(50), memory_bytes: 16 << 20 }
    }
}

/// Checks a plugin's output against the bounds; the error says which action and why.
pub fn check_actions(actions: &[Action]) -> Result<(), String> {
    if actions.len() > MAX_ACTIONS {
        return Err(format!("returned {} actions; at most {MAX_ACTIONS} are allowed", actions.len()));
    }
    for (i, action) in actions.iter().enumerate() {
        let checked = match action {
            Action::Sms(m) | Action::Call(m) => check_message(m),
            Action::Cancel { prefix } => check_key("cancel prefix", prefix),
        };
        checked.map_err(|reason| format!("action {i}: {reason}"))?;
    }
    Ok(())
}

fn check_message(m: &Message) -> Result<(), String> {
    check_key("key", &m.key)?;
    if m.body.trim().is_empty() {
        return Err("body is empty".into());
    }
    match &m.to {
        Recipient::Team(name) if name.is_empty() => return Err("team contact name is empty".into()),
        // The store keeps a recipient as its text form: `customer` or `team:NAME` given as a
        // number would be read back, and sent, as the customer or a team contact.
        Recipient::Number(n) if n.is_empty() || n.len() > 32 || Recipient::parse(n) != m.to => {
            return Err(format!("recipient number {n:?} is not a phone number"));
        }
        _ => {}
    }
    if let Some(at) = &m.not_before {
        chrono::DateTime::parse_from_rfc3339(at).map_err(|e| format!("not_before {at:?} is not RFC 3339: {e}"))?;
    }
    Ok(())
}

fn check_key(what: &str, key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!("{what} is {} bytes; at most {MAX_KEY_BYTES} are allowed", key.len()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(body: &str, key: &str) -> Action {
        Action::Sms(Message { to: Recipient::Customer, body: body.into(), key: key.into(), not_before: None })
    }

    #[test]
    fn accepts_output_at_every_bound() {
        let mut actions = vec![sms("hi", &"k".repeat(MAX_KEY_BYTES))];
        actions.extend((1..MAX_ACTIONS).map(|i| sms("hi", &format!("k{i}"))));
        assert_eq!(check_actions(&actions), Ok(()));
    }

    #[test]
    fn rejects_too_many_actions() {
        let actions: Vec<_> = (0..=MAX_ACTIONS).map(|i| sms("hi", &format!("k{i}"))).collect();
        assert!(check_actions(&actions).unwrap_err().contains("21 actions"));
    }

    #[test]
    fn rejects_bad_keys_dates_and_recipients() {
        assert!(check_actions(&[sms("hi", "")]).unwrap_err().contains("key is empty"));
        assert!(check_actions(&[sms("hi", &"k".repeat(129))]).unwrap_err().contains("129 bytes"));
        let late = Action::Sms(Message { to: Recipient::Customer, body: "hi".into(), key: "k".into(), not_before: Some("tomorrow".into()) });
        assert!(check_actions(&[late]).unwrap_err().contains("RFC 3339"));
        let nobody = Action::Sms(Message { to: Recipient::Team(String::new()), body: "hi".into(), key: "k".into(), not_before: None });
        assert!(check_actions(&[nobody]).unwrap_err().contains("team contact"));
        assert!(check_actions(&[Action::Cancel { prefix: String::new() }]).unwrap_err().contains("cancel prefix is empty"));
    }

    #[test]
    fn rejects_numbers_that_would_read_back_as_the_customer_or_a_team() {
        // Found by the property test of the actions' JSON form (tests/properties.rs).
        for text in ["customer", "team:accounting", "team:"] {
            let number = Action::Call(Message { to: Recipient::Number(text.into()), body: "hi".into(), key: "k".into(), not_before: None });
            assert!(check_actions(&[number]).unwrap_err().contains("not a phone number"), "{text}");
        }
        let real = Action::Call(Message { to: Recipient::Number("+15555550100".into()), body: "hi".into(), key: "k".into(), not_before: None });
        assert_eq!(check_actions(&[real]), Ok(()));
    }
}
