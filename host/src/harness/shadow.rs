//! Shadow runs: a new version of a plugin run on the events and contexts the live version saw
//! (recorded with each dispatch), its decisions compared with what the live version decided.
//! Nothing is sent and nothing is written.
//!
//! Actions are matched by what identifies them to the host: an SMS or a call by its key, a
//! cancel by its prefix. A matched action whose recipient, body or time differs is *changed*;
//! the body's change is shown word by word.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use crate::model::{Action, Message};

/// What one version decided for one event: its actions, or why it failed.
pub type Decision = Result<Vec<Action>, String>;

/// How the new version's decision for one event differs from the live one's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The event.
    pub event_id: String,
    /// Its kind.
    pub kind: String,
    /// Actions only the new version takes.
    pub added: Vec<Action>,
    /// Actions only the live version took.
    pub removed: Vec<Action>,
    /// Actions both take, differently.
    pub changed: Vec<Change>,
    /// The live version's failure, when it failed.
    pub live_failure: Option<String>,
    /// The new version's failure (an error, the deadline, the memory cap, a refused body).
    pub new_failure: Option<String>,
}

/// One action both versions take, differently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What the live version did.
    pub live: Action,
    /// What the new version does.
    pub new: Action,
    /// The body's change word by word (`[-old-]{+new+}`), when the bodies differ.
    pub body_diff: Option<String>,
}

/// How `new` differs from `live` for one event; `None` when they decide the same.
pub fn compare(event_id: &str, kind: &str, live: &Decision, new: &Decision) -> Option<Difference> {
    let mut difference = Difference {
        event_id: event_id.to_owned(),
        kind: kind.to_owned(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        live_failure: live.as_ref().err().cloned(),
        new_failure: new.as_ref().err().cloned(),
    };
    let empty = Vec::new();
    let (live_actions, new_actions) = (live.as_ref().unwrap_or(&empty), new.as_ref().unwrap_or(&empty));
    let mut live_by_id: BTreeMap<(&str, &str), &Action> = live_actions.iter().map(|a| (identity(a), a)).collect();
    for action in new_actions {
        match live_by_id.remove(&identity(action)) {
            None => difference.added.push(action.clone()),
            Some(old) if old == action => {}
            Some(old) => difference.changed.push(Change { live: old.clone(), new: action.clone(), body_diff: body_diff(old, action) }),
        }
    }
    difference.removed = live_actions.iter().filter(|a| live_by_id.contains_key(&identity(a))).cloned().collect();
    let same = difference.added.is_empty()
        && difference.removed.is_empty()
        && difference.changed.is_empty()
        && difference.live_failure == difference.new_failure;
    (!same).then_some(difference)
}

/// What identifies an action to the host: its kind and key (or cancel prefix).
fn identity(action: &Action) -> (&'static str, &str) {
    match action {
        Action::Sms(m) => ("sms", &m.key),
        Action::Call(m) => ("call", &m.key),
        Action::Cancel { prefix } => ("cancel", prefix),
    }
}

fn message(action: &Action) -> Option<&Message> {
    match action {
        Action::Sms(m) | Action::Call(m) => Some(m),
        Action::Cancel { .. } => None,
    }
}

/// The word diff of two actions' bodies, when both have one and they differ.
fn body_diff(old: &Action, new: &Action) -> Option<String> {
    let (old, new) = (message(old)?, message(new)?);
    if old.body == new.body {
        return None;
    }
    let mut out = String::new();
    for change in TextDiff::from_words(&old.body, &new.body).iter_all_changes() {
        let _ = match change.tag() {
            ChangeTag::Equal => write!(out, "{}", change.value()),
            ChangeTag::Delete => write!(out, "[-{}-]", change.value()),
            ChangeTag::Insert => write!(out, "{{+{}+}}", change.value()),
        };
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Recipient;

    fn sms(key: &str, body: &str) -> Action {
        Action::Sms(Message { to: Recipient::Customer, body: body.into(), key: key.into(), not_before: None })
    }

    #[test]
    fn the_same_actions_in_another_order_are_no_difference() {
        let live = Ok(vec![sms("a", "Hi"), Action::Cancel { prefix: "x".into() }]);
        let new = Ok(vec![Action::Cancel { prefix: "x".into() }, sms("a", "Hi")]);
        assert_eq!(compare("e", "k", &live, &new), None);
    }

    #[test]
    fn added_removed_and_changed_actions_are_told_apart_with_a_word_diff() {
        let live = Ok(vec![sms("a", "Invoice 7 is paid"), sms("gone", "Bye")]);
        let new = Ok(vec![sms("a", "Invoice 7 was paid"), sms("b", "New")]);
        let d = compare("e", "invoice.paid", &live, &new).unwrap();
        assert_eq!((d.added, d.removed), (vec![sms("b", "New")], vec![sms("gone", "Bye")]));
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].body_diff.as_deref(), Some("Invoice 7 [-is-]{+was+} paid"));
    }

    #[test]
    fn a_failure_of_either_version_is_a_difference_but_the_same_failure_is_not() {
        let ok: Decision = Ok(vec![]);
        let failed: Decision = Err("deadline exceeded after 50 ms".into());
        let d = compare("e", "k", &ok, &failed).unwrap();
        assert_eq!(d.new_failure.as_deref(), Some("deadline exceeded after 50 ms"));
        assert!(compare("e", "k", &failed, &ok).is_some());
        assert_eq!(compare("e", "k", &failed, &failed), None);
    }
}
