//! Write-back: one line appended to a text field of the QAD record a message
//! came from, per outcome (sent with its SID, failed with the reason), per
//! delivery status change and per reply. Off until `[qad.writeback]` names a
//! target for the record kind.
//!
//! `GET {base}/api/erp/{component}?{key}=…` reads the current text and its
//! `concurrencyHash`; `POST {base}/api/erp/{component}` sends
//! `{"supplementaryMessages": [], "{component}": [{"{key}": …,
//! "concurrencyHash": …, "{field}": <text with the line appended>}]}`. HTTP
//! 200 with `submitResult.success:false` (a stale hash, a validation error)
//! is a failure: re-read and try again, up to [`MAX_ATTEMPTS`] times, each
//! rejection kept for the audit. Every line carries a marker (e.g.
//! `[mlc:42:delivered]`); a line whose marker is already in the field is not
//! appended again, so a retried append is never doubled.

use serde_json::{Map, Value, json};

use crate::sources::qad::client::QadClient;
use crate::sources::qad::config::WritebackTarget;
use crate::sources::qad::error::PollError;

/// Read-modify-write rounds before an append is given up.
pub const MAX_ATTEMPTS: u32 = 3;

/// One line to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Unique per (message, what happened), e.g. `[mlc:42:sent]`.
    pub marker: String,
    /// What to say, e.g. `SMS to +15555550101 sent (SM123)`.
    pub text: String,
}

impl Line {
    /// The line as written: marker first, so it is found however the text reads.
    pub fn render(&self) -> String {
        format!("{} {}", self.marker, self.text)
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// False when the marker was already there (nothing written).
    pub written: bool,
    /// The `submitResult` rejections before it succeeded, oldest first (for the audit).
    pub rejections: Vec<String>,
}

/// Why an append did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WritebackError {
    /// QAD could not be reached or refused the request.
    #[error(transparent)]
    Poll(#[from] PollError),
    /// The record does not exist (the GET listed nothing).
    #[error("{component} {key}: no such record")]
    NotFound {
        /// The component.
        component: String,
        /// The key value.
        key: String,
    },
    /// QAD answered `success:false` on every attempt.
    #[error("{component} {key}: QAD rejected the update {} times: {}", rejections.len(), rejections.join(" | "))]
    Rejected {
        /// The component.
        component: String,
        /// The key value.
        key: String,
        /// Every rejection, oldest first.
        rejections: Vec<String>,
    },
}

/// The `submitResult` of a POST answer: `Ok` on success (or when QAD sent none), else the reason.
pub fn submit_result(answer: &Value) -> Result<(), String> {
    let Some(result) = answer.get("submitResult") else { return Ok(()) };
    if result.get("success").and_then(Value::as_bool) != Some(false) {
        return Ok(());
    }
    Err(crate::sources::qad::http::error_message(answer.to_string().as_bytes()).unwrap_or_else(|| "submitResult.success is false".into()))
}

/// The text with `line` appended on a new line; `None` when its marker is already there.
pub fn appended(current: &str, line: &Line) -> Option<String> {
    if current.contains(&line.marker) {
        return None;
    }
    Some(match current.trim_end() {
        "" => line.render(),
        text => format!("{text}\n{}", line.render()),
    })
}

/// Appends `line` to `target.field` of the record whose `target.key` is `key`.
pub async fn append(client: &QadClient, target: &WritebackTarget, key: &str, line: &Line) -> Result<Appended, WritebackError> {
    let path = format!("api/erp/{}", target.component);
    let mut query = vec![(target.key.clone(), key.to_owned())];
    query.extend(target.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut rejections = Vec::new();
    for attempt in 1..=MAX_ATTEMPTS {
        let what = format!("write-back read {} {key}", target.component);
        let answer = client.get_json(&path, &query, &what).await?;
        let Some(record) = answer["data"][&target.component].as_array().and_then(|rows| rows.first()) else {
            return Err(WritebackError::NotFound { component: target.component.clone(), key: key.to_owned() });
        };
        let current = record.get(&target.field).and_then(Value::as_str).unwrap_or_default();
        let Some(text) = appended(current, line) else { return Ok(Appended { written: false, rejections }) };
        let mut fields = Map::new();
        fields.insert(target.key.clone(), json!(key));
        fields.insert("concurrencyHash".into(), record.get("concurrencyHash").cloned().unwrap_or(json!("")));
        fields.insert(target.field.clone(), json!(text));
        fields.extend(target.extra.iter().map(|(k, v)| (k.clone(), json!(v))));
        let body = json!({"supplementaryMessages": [], &target.component: [fields]});
        let what = format!("write-back {} {key}", target.component);
        let answer = client.post_json(&path, &[], &body, &what).await?;
        match submit_result(&answer) {
            Ok(()) => return Ok(Appended { written: true, rejections }),
            Err(reason) => {
                tracing::warn!(component = %target.component, key, attempt, reason = %reason, "QAD rejected a write-back; reading the record again.");
                rejections.push(reason);
            }
        }
    }
    Err(WritebackError::Rejected { component: target.component.clone(), key: key.to_owned(), rejections })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(marker: &str) -> Line {
        Line { marker: marker.into(), text: "SMS to +15555550101 sent (SM1)".into() }
    }

    #[test]
    fn a_line_is_appended_once_per_marker() {
        assert_eq!(appended("", &line("[mlc:1:sent]")).unwrap(), "[mlc:1:sent] SMS to +15555550101 sent (SM1)");
        let once = appended("Rush order\n", &line("[mlc:1:sent]")).unwrap();
        assert_eq!(once, "Rush order\n[mlc:1:sent] SMS to +15555550101 sent (SM1)");
        assert_eq!(appended(&once, &line("[mlc:1:sent]")), None, "a retried append is not doubled");
        assert!(appended(&once, &line("[mlc:1:delivered]")).is_some());
    }

    #[test]
    fn success_false_is_a_failure_with_qads_reason() {
        assert_eq!(submit_result(&json!({"submitResult": {"success": true}})), Ok(()));
        assert_eq!(submit_result(&json!({"data": {}})), Ok(()));
        let stale = json!({"submitResult": {"success": false, "errors": [{"fieldName": "concurrencyHash", "message": "record changed"}]}});
        assert_eq!(submit_result(&stale), Err("concurrencyHash: record changed".into()));
        assert_eq!(submit_result(&json!({"submitResult": {"success": false}})), Err("submitResult.success is false".into()));
    }
}
