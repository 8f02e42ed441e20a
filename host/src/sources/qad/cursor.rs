//! The poll cursor: the source's own opaque string, stored by the poll
//! driver only after a batch's events are committed. JSON with, per browse,
//! the highest modification date read (the next incremental read asks for
//! `ge` it, so same-day changes are read again and deduplicated by event id),
//! when the last full rescan ran, and what was alerted that a later state
//! answers: invoices awaiting receipt or on hold (a `matched` event, the
//! receipt's `waiting_invoices`) and POs pending approval (`approved`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::sources::qad::records::RecordKind;
use crate::sources::qad::states::State;

/// An invoice that was alerted, with the PO it waits on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alerted {
    /// The invoice's PO.
    pub po: Option<String>,
    /// The state it was alerted in.
    pub state: State,
}

/// What the cursor string holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cursor {
    /// Per browse, the highest modification value read.
    pub watermarks: BTreeMap<RecordKind, String>,
    /// When the last full rescan was read.
    pub last_full_scan: Option<DateTime<Utc>>,
    /// Invoices alerted as awaiting receipt or on hold, by key.
    pub alerted_invoices: BTreeMap<String, Alerted>,
    /// POs alerted as pending approval.
    pub pending_orders: BTreeSet<String>,
}

impl Cursor {
    /// Reads a stored cursor; none, or one this build cannot read (logged), starts afresh
    /// with a full scan: event ids make re-reading harmless.
    pub fn parse(text: Option<&str>) -> Cursor {
        let Some(text) = text else { return Cursor::default() };
        serde_json::from_str(text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "QAD cursor is unreadable; starting with a full scan.");
            Cursor::default()
        })
    }

    /// The stored form.
    pub fn render(&self) -> String {
        serde_json::to_string(self).expect("a cursor serializes")
    }

    /// Raises `kind`'s watermark to `seen` when it is later (ISO dates compare as text).
    pub fn raise(&mut self, kind: RecordKind, seen: &str) {
        let mark = self.watermarks.entry(kind).or_default();
        if seen > mark.as_str() {
            *mark = seen.to_owned();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_watermarks_only_rise() {
        let mut c = Cursor::default();
        c.raise(RecordKind::PurchaseOrder, "2026-11-02");
        c.raise(RecordKind::PurchaseOrder, "2026-11-01");
        c.pending_orders.insert("PO-1".into());
        assert_eq!(c.watermarks[&RecordKind::PurchaseOrder], "2026-11-02");
        assert_eq!(Cursor::parse(Some(&c.render())), c);
    }

    #[test]
    fn an_unreadable_cursor_starts_afresh() {
        assert_eq!(Cursor::parse(Some("{not json")), Cursor::default());
        assert_eq!(Cursor::parse(None), Cursor::default());
    }
}
