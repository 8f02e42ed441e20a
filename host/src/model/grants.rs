//! Which recipients a plugin may address: its `allow_to` grants. The dispatcher refuses a plugin
//! whose message goes to anything else, as that plugin's failure for the event, so nothing of
//! its output is sent.
//!
//! The grammar, one string per grant:
//!
//! | grant | permits |
//! | --- | --- |
//! | `customer` | the event's customer |
//! | `team:NAME` | the `[team]` contact `NAME` |
//! | `team:*` | any `[team]` contact |
//! | `number:+15551234567` | that literal number (E.164; the plugin may write it in any form the sender reads as this number) |
//! | `number:*` | any literal number |

use std::fmt;

use serde::Deserialize;

use super::{Action, Recipient};
use crate::sinks::twilio::phone::to_e164;

/// One `allow_to` entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum Grant {
    /// `customer`.
    Customer,
    /// `team:NAME`.
    Team(String),
    /// `team:*`.
    AnyTeam,
    /// `number:+…`, normalized to E.164.
    Number(String),
    /// `number:*`.
    AnyNumber,
}

impl Grant {
    /// Parses one grant; the error says what the grammar is.
    pub fn parse(text: &str) -> Result<Grant, String> {
        let grammar = "a grant is \"customer\", \"team:NAME\", \"team:*\", \"number:+E164\" (e.g. \"number:+15551234567\") or \"number:*\"";
        match text {
            "customer" => return Ok(Grant::Customer),
            "team:*" => return Ok(Grant::AnyTeam),
            "number:*" => return Ok(Grant::AnyNumber),
            _ => {}
        }
        if let Some(name) = text.strip_prefix("team:") {
            if name.trim().is_empty() || name.trim() != name {
                return Err(format!("{text:?}: a team grant needs the contact's name as in [team], without spaces around it"));
            }
            return Ok(Grant::Team(name.to_owned()));
        }
        if let Some(number) = text.strip_prefix("number:") {
            if !number.starts_with('+') {
                return Err(format!("{text:?}: a number grant is written in E.164, with its country code: \"number:+15551234567\""));
            }
            return e164(number).map(Grant::Number).ok_or_else(|| format!("{text:?}: {number:?} is not an E.164 number (+, then 2 to 15 digits)"));
        }
        Err(format!("{text:?} is not a grant: {grammar}"))
    }

    /// The grants that permit exactly `to` (a number in E.164, as [`to_e164`] gives it).
    pub fn exactly(to: &Recipient, default_region: &str) -> Option<Grant> {
        match to {
            Recipient::Customer => Some(Grant::Customer),
            Recipient::Team(name) => Some(Grant::Team(name.clone())),
            Recipient::Number(n) => normalized(n, default_region).map(Grant::Number),
        }
    }
}

/// `+` and the digits of an international number written with spaces, dashes, dots or
/// parentheses; `None` when it is not one.
fn e164(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix('+')?;
    if !rest.chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')')) {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    ((2..=15).contains(&digits.len()) && !digits.starts_with('0')).then(|| format!("+{digits}"))
}

/// The E.164 form of a number a plugin wrote: an international one as written, a national one
/// read in `default_region` as the sender reads it.
fn normalized(raw: &str, default_region: &str) -> Option<String> {
    if raw.trim_start().starts_with('+') { e164(raw) } else { to_e164(raw, default_region).ok() }
}

impl TryFrom<String> for Grant {
    type Error = String;

    fn try_from(text: String) -> Result<Grant, String> {
        Grant::parse(&text)
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Grant::Customer => f.write_str("customer"),
            Grant::Team(name) => write!(f, "team:{name}"),
            Grant::AnyTeam => f.write_str("team:*"),
            Grant::Number(number) => write!(f, "number:{number}"),
            Grant::AnyNumber => f.write_str("number:*"),
        }
    }
}

/// A plugin's grants, with the region literal numbers without a country code are read in (the
/// sender's `[twilio] default_region`), so a grant matches the number the message would go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    grants: Vec<Grant>,
    default_region: String,
}

impl Default for Grants {
    /// The customer only: what a plugin gets when nothing grants it more.
    fn default() -> Self {
        Grants::new([Grant::Customer], "US")
    }
}

impl Grants {
    /// `grants` (sorted, without repeats), reading national numbers in `default_region`.
    pub fn new(grants: impl IntoIterator<Item = Grant>, default_region: &str) -> Self {
        let mut grants: Vec<Grant> = grants.into_iter().collect();
        grants.sort();
        grants.dedup();
        Grants { grants, default_region: default_region.to_owned() }
    }

    /// The grants, sorted.
    pub fn list(&self) -> &[Grant] {
        &self.grants
    }

    /// Whether a message to `to` is permitted.
    pub fn permits(&self, to: &Recipient) -> bool {
        self.grants.iter().any(|g| match (g, to) {
            (Grant::Customer, Recipient::Customer) => true,
            (Grant::AnyTeam, Recipient::Team(_)) => true,
            (Grant::Team(granted), Recipient::Team(name)) => granted == name,
            (Grant::AnyNumber, Recipient::Number(_)) => true,
            (Grant::Number(granted), Recipient::Number(raw)) => normalized(raw, &self.default_region).is_some_and(|n| &n == granted),
            _ => false,
        })
    }

    /// `Ok` when every message of `actions` goes to a permitted recipient; else why not, naming
    /// the first action that does not (`action 1: recipient team:sales not granted (allow_to =
    /// ["customer"])`).
    pub fn check(&self, actions: &[Action]) -> Result<(), String> {
        for (i, action) in actions.iter().enumerate() {
            let to = match action {
                Action::Sms(m) | Action::Call(m) => &m.to,
                Action::Cancel { .. } => continue,
            };
            if !self.permits(to) {
                return Err(format!("action {i}: recipient {to} not granted (allow_to = {self})"));
            }
        }
        Ok(())
    }
}

impl fmt::Display for Grants {
    /// The TOML form: `["customer", "team:accounting"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.grants.iter().map(|g| format!("{:?}", g.to_string())).collect();
        write!(f, "[{}]", quoted.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    fn sms(to: &str) -> Action {
        Action::Sms(Message { to: Recipient::parse(to), body: "hi".into(), key: "k".into(), not_before: None })
    }

    #[test]
    fn every_grant_form_parses_and_prints_back() {
        for (text, grant) in [
            ("customer", Grant::Customer),
            ("team:accounting", Grant::Team("accounting".into())),
            ("team:*", Grant::AnyTeam),
            ("number:+15555550100", Grant::Number("+15555550100".into())),
            ("number:*", Grant::AnyNumber),
        ] {
            assert_eq!(Grant::parse(text), Ok(grant.clone()), "{text}");
            assert_eq!(grant.to_string(), text);
        }
        // Spaces in a number grant are read the way the sender reads them.
        assert_eq!(Grant::parse("number:+1 555 555 0100"), Ok(Grant::Number("+15555550100".into())));
    }

    #[test]
    fn unknown_or_malformed_grants_are_refused_with_the_grammar() {
        for (text, says) in [
            ("Customer", "is not a grant: a grant is \"customer\""),
            ("everyone", "is not a grant"),
            ("*", "is not a grant"),
            ("+15555550100", "is not a grant"),
            ("team:", "needs the contact's name"),
            ("team: ops", "needs the contact's name"),
            ("number:5555550100", "written in E.164"),
            ("number:+1", "not a"),
            ("number:+1555abc", "not a"),
            ("number:+0123", "not a"),
        ] {
            let err = Grant::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn grants_permit_exactly_what_they_name() {
        let grants = Grants::new(
            [Grant::Customer, Grant::Team("accounting".into()), Grant::Number("+15555550100".into())],
            "US",
        );
        for to in ["customer", "team:accounting", "+15555550100", "+1 (555) 555-0100", "+1 555-555-0100"] {
            assert!(grants.permits(&Recipient::parse(to)), "{to}");
        }
        for to in ["team:sales", "team:Accounting", "+15555550101", "not a number", "team:*"] {
            assert!(!grants.permits(&Recipient::parse(to)), "{to}");
        }
        let none = Grants::new([], "US");
        assert!(!none.permits(&Recipient::Customer));
    }

    #[test]
    fn wildcards_permit_any_team_or_any_number_but_not_the_customer() {
        let teams = Grants::new([Grant::AnyTeam], "US");
        assert!(teams.permits(&Recipient::parse("team:sales")));
        assert!(!teams.permits(&Recipient::parse("+15555550100")));
        assert!(!teams.permits(&Recipient::Customer));
        let numbers = Grants::new([Grant::AnyNumber], "US");
        assert!(numbers.permits(&Recipient::parse("+15555550100")));
        assert!(numbers.permits(&Recipient::parse("anything the sender will refuse")));
        assert!(!numbers.permits(&Recipient::parse("team:sales")));
    }

    #[test]
    fn national_numbers_are_read_in_the_configured_region() {
        let us = Grants::new([Grant::parse("number:+14155552671").unwrap()], "US");
        assert!(us.permits(&Recipient::parse("(415) 555-2671")));
        let gb = Grants::new([Grant::parse("number:+442079460958").unwrap()], "GB");
        assert!(gb.permits(&Recipient::parse("020 7946 0958")));
        let us = Grants::new([Grant::parse("number:+442079460958").unwrap()], "US");
        assert!(!us.permits(&Recipient::parse("020 7946 0958")));
    }

    #[test]
    fn the_default_is_the_customer_only() {
        assert_eq!(Grants::default().list(), [Grant::Customer]);
        assert_eq!(Grants::default().to_string(), "[\"customer\"]");
    }

    #[test]
    fn a_check_names_the_first_refused_action_and_the_grants() {
        let grants = Grants::new([Grant::Team("accounting".into()), Grant::Customer], "US");
        let actions = vec![sms("customer"), Action::Cancel { prefix: "x".into() }, sms("team:accounting"), sms("team:sales"), sms("+15555550100")];
        assert_eq!(
            grants.check(&actions),
            Err("action 3: recipient team:sales not granted (allow_to = [\"customer\", \"team:accounting\"])".into())
        );
        assert_eq!(grants.check(&actions[..3]), Ok(()));
    }
}
