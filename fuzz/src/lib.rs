//! Helpers shared by the fuzz targets: how a target's input is cut into fields, and the
//! plugin actions built from fuzz bytes with `arbitrary`.

use arbitrary::{Arbitrary, Unstructured};
use ml_connector::model::{Action, Message, Recipient};

/// Cuts `data` into `N` text lines (each up to a `\n`) and the bytes after them; `None` when
/// there are fewer lines or one is not UTF-8. Seeds are written in this form, e.g. a Wave
/// signature header, a newline, then the raw body.
pub fn lines<const N: usize>(mut data: &[u8]) -> Option<([&str; N], &[u8])> {
    let mut out = [""; N];
    for slot in &mut out {
        let end = data.iter().position(|&b| b == b'\n')?;
        *slot = std::str::from_utf8(&data[..end]).ok()?;
        data = &data[end + 1..];
    }
    Some((out, data))
}

/// A recipient as a plugin can name one through the WIT contract.
#[derive(Debug, Arbitrary)]
enum FuzzRecipient {
    Customer,
    Team(String),
    Number(String),
}

/// A message as a plugin can return one.
#[derive(Debug, Arbitrary)]
struct FuzzMessage {
    to: FuzzRecipient,
    body: String,
    key: String,
    not_before: Option<String>,
}

/// An action as a plugin can return one.
#[derive(Debug, Arbitrary)]
enum FuzzAction {
    Sms(FuzzMessage),
    Call(FuzzMessage),
    Cancel(String),
}

impl From<FuzzMessage> for Message {
    fn from(m: FuzzMessage) -> Message {
        let to = match m.to {
            FuzzRecipient::Customer => Recipient::Customer,
            FuzzRecipient::Team(name) => Recipient::Team(name),
            FuzzRecipient::Number(number) => Recipient::Number(number),
        };
        Message { to, body: m.body, key: m.key, not_before: m.not_before }
    }
}

impl From<FuzzAction> for Action {
    fn from(a: FuzzAction) -> Action {
        match a {
            FuzzAction::Sms(m) => Action::Sms(m.into()),
            FuzzAction::Call(m) => Action::Call(m.into()),
            FuzzAction::Cancel(prefix) => Action::Cancel { prefix },
        }
    }
}

/// The actions in `data`: a JSON array in the CLI's form (the seeds are the default plugins'
/// expected outputs, `tests/cases/*/expected.json`), otherwise any list `arbitrary` builds
/// from the bytes, so every variant a plugin can return through WIT is reached.
pub fn actions(data: &[u8]) -> Option<Vec<Action>> {
    if let Ok(actions) = serde_json::from_slice::<Vec<Action>>(data) {
        return Some(actions);
    }
    let fuzzed = Vec::<FuzzAction>::arbitrary_take_rest(Unstructured::new(data)).ok()?;
    Some(fuzzed.into_iter().map(Action::from).collect())
}
