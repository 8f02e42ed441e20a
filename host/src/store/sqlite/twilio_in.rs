//! Twilio webhooks in (schema version 3): status callbacks with their dedupe rows and monotonic
//! delivery status, and inbound SMS linked to the message they answer.

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{SqlResultExt as _, from_millis, millis};
use crate::store::{
    CallbackOutcome, InboundMessage, InboundRecord, InsertOutcome, OptChange, Result,
    StatusCallback,
};

pub(super) fn record_callback(
    conn: &mut Connection,
    cb: &StatusCallback,
) -> Result<CallbackOutcome> {
    const OP: &str = "record status callback";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .op(OP)?;
    let target: Option<(i64, Option<i64>, Option<String>)> = tx
        .query_row(
            "SELECT id, delivery_rank, delivery_status FROM outbox WHERE sid = ?1
             ORDER BY id DESC LIMIT 1",
            [&cb.sid],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .op(OP)?;
    let outbox_id = target.as_ref().map(|t| t.0);
    let at = millis(cb.received_at);
    let inserted = tx
        .execute(
            "INSERT INTO twilio_callbacks
               (sid, status, sequence, rank, outbox_id, error_code, detail, params, received_at)
             VALUES (?1, ?2, ?3, ?9, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (sid, status, sequence) DO NOTHING",
            params![
                cb.sid,
                cb.status,
                cb.sequence.as_deref().unwrap_or(""),
                outbox_id,
                cb.error_code,
                cb.detail,
                cb.params,
                at,
                cb.rank.map(i64::from)
            ],
        )
        .op(OP)?;
    if inserted == 0 {
        return Ok(CallbackOutcome::Duplicate);
    }
    let mut advanced = false;
    if let Some((id, current_rank, current)) = target {
        advanced = match (cb.rank, current_rank) {
            (Some(new), Some(old)) => i64::from(new) > old,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let mut detail = format!("twilio callback {}", cb.sid);
        if let Some(extra) = &cb.detail {
            detail.push_str(&format!(" ({extra})"));
        }
        if let Some(current) = current.as_ref().filter(|_| !advanced) {
            detail.push_str(&format!("; late, current status stays {current}"));
        }
        tx.execute(
            "INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, ?3, ?4)",
            params![id, at, cb.status, detail],
        )
        .op(OP)?;
        if advanced {
            tx.execute(
                "UPDATE outbox SET delivery_status = ?2, delivery_rank = ?3 WHERE id = ?1",
                params![id, cb.status, cb.rank.map(i64::from)],
            )
            .op(OP)?;
        }
    }
    tx.commit().op(OP)?;
    Ok(CallbackOutcome::Recorded { outbox_id, advanced })
}

/// Adopts status callbacks that arrived for `sid` before the sender stored it on outbox row
/// `id` (Twilio can call back before its 201 is recorded): links them, adds their history
/// lines, and takes the highest-ranked one as the delivery status. Runs inside the sender's
/// update transaction.
pub(super) fn adopt_early_callbacks(tx: &Connection, id: i64, sid: &str) -> Result<()> {
    const OP: &str = "adopt early callbacks";
    let mut stmt = tx
        .prepare_cached(
            "SELECT id, status, rank, detail, received_at FROM twilio_callbacks
             WHERE sid = ?1 AND outbox_id IS NULL ORDER BY id",
        )
        .op(OP)?;
    let early = stmt
        .query_map([sid], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<i64>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })
        .op(OP)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op(OP)?;
    let mut best: Option<(i64, &str)> = None;
    for (cb_id, status, rank, detail, at) in &early {
        tx.execute("UPDATE twilio_callbacks SET outbox_id = ?2 WHERE id = ?1", params![cb_id, id])
            .op(OP)?;
        let mut line = format!("twilio callback {sid}, received before the SID was recorded");
        if let Some(extra) = detail {
            line.push_str(&format!(" ({extra})"));
        }
        tx.execute(
            "INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, ?3, ?4)",
            params![id, at, status, line],
        )
        .op(OP)?;
        if let Some(rank) = rank
            && best.is_none_or(|(b, _)| *rank > b)
        {
            best = Some((*rank, status));
        }
    }
    if let Some((rank, status)) = best {
        tx.execute(
            "UPDATE outbox SET delivery_status = ?2, delivery_rank = ?3
             WHERE id = ?1 AND (delivery_rank IS NULL OR delivery_rank < ?3)",
            params![id, status, rank],
        )
        .op(OP)?;
    }
    Ok(())
}

pub(super) fn record_inbound(
    conn: &mut Connection,
    msg: &InboundMessage,
) -> Result<(InsertOutcome, InboundRecord)> {
    const OP: &str = "record inbound message";
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .op(OP)?;
    if let Some(stored) = read_one(&tx, &msg.sid)? {
        return Ok((InsertOutcome::Duplicate, stored));
    }
    // The most recent message sent (or dry-run recorded) to the sender's number.
    let link: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, event_id FROM outbox
             WHERE to_number = ?1 AND status IN ('sent', 'dry-run')
             ORDER BY id DESC LIMIT 1",
            [&msg.from],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .op(OP)?;
    let at = millis(msg.received_at);
    tx.execute(
        "INSERT INTO inbound_messages
           (sid, from_number, to_number, body, opt_out_type, outbox_id, event_id, params,
            received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            msg.sid,
            msg.from,
            msg.to,
            msg.body,
            msg.opt_out_type,
            link.as_ref().map(|l| l.0),
            link.as_ref().map(|l| l.1.clone()),
            msg.params,
            at
        ],
    )
    .op(OP)?;
    match msg.opt_change {
        Some(OptChange::OptOut) => {
            tx.execute(
                "INSERT INTO opt_outs (number, at, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT (number) DO UPDATE SET at = excluded.at, reason = excluded.reason",
                params![msg.from, at, format!("replied {:?} ({})", msg.body.trim(), msg.sid)],
            )
            .op(OP)?;
        }
        Some(OptChange::OptIn) => {
            tx.execute("DELETE FROM opt_outs WHERE number = ?1", [&msg.from])
                .op(OP)?;
        }
        None => {}
    }
    tx.commit().op(OP)?;
    let (outbox_id, event_id) = link.map_or((None, None), |(o, e)| (Some(o), Some(e)));
    Ok((
        InsertOutcome::Inserted,
        InboundRecord {
            message: msg.clone(),
            outbox_id,
            event_id,
        },
    ))
}

const COLUMNS: &str = "sid, from_number, to_number, body, opt_out_type, outbox_id, event_id, \
                       params, received_at";

type RawInbound = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    String,
    i64,
);

fn to_record(raw: RawInbound) -> Result<InboundRecord> {
    let (sid, from, to, body, opt_out_type, outbox_id, event_id, params, at) = raw;
    Ok(InboundRecord {
        message: InboundMessage {
            sid,
            from,
            to,
            body,
            opt_out_type,
            opt_change: None,
            params,
            received_at: from_millis("inbound_messages", at)?,
        },
        outbox_id,
        event_id,
    })
}

fn read_one(conn: &Connection, sid: &str) -> Result<Option<InboundRecord>> {
    let raw = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM inbound_messages WHERE sid = ?1"),
            [sid],
            |row| RawInbound::try_from(row),
        )
        .optional()
        .op("read inbound message")?;
    raw.map(to_record).transpose()
}

pub(super) fn replies(conn: &Connection, outbox_id: i64) -> Result<Vec<InboundRecord>> {
    const OP: &str = "list replies";
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM inbound_messages WHERE outbox_id = ?1 ORDER BY received_at, sid"
        ))
        .op(OP)?;
    let rows = stmt
        .query_map([outbox_id], |row| RawInbound::try_from(row))
        .op(OP)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op(OP)?;
    rows.into_iter().map(to_record).collect()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone as _, Utc};

    use crate::model::Channel;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{
        CallbackOutcome, DispatchResult, InboundMessage, InsertOutcome, MessageUpdate,
        NewEvent, NewMessage, OptChange, OutboxStatus, StatusCallback, Store,
    };

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
    }

    /// A store with one message sent to `+14155550100` as `SM1`; returns its outbox id.
    fn with_sent_message() -> (tempfile::TempDir, SqliteStore, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("store.db")).unwrap();
        store
            .insert_event(&NewEvent {
                id: "evt-1".into(),
                source: "wave".into(),
                kind: "invoice.overdue".into(),
                business_id: None,
                received_at: at(0),
                body: b"{}".to_vec(),
                data: "{}".into(),
            })
            .unwrap();
        let id = dispatch_and_send(&store, "k", "Invoice overdue", "SM1");
        (dir, store, id)
    }

    /// Dispatches one SMS for `evt-1` under `key` and marks it sent to `+14155550100` as `sid`;
    /// returns its outbox id.
    fn dispatch_and_send(store: &SqliteStore, key: &str, body: &str, sid: &str) -> i64 {
        let result = DispatchResult {
            messages: vec![NewMessage {
                plugin: "p".into(),
                key: key.into(),
                channel: Channel::Sms,
                to: "customer".into(),
                body: body.into(),
                not_before: None,
            }],
            ..DispatchResult::default()
        };
        store.complete_dispatch("evt-1", &result).unwrap();
        let id = store.list_outbox(10).unwrap().iter().find(|r| r.key == key).unwrap().id;
        let update = MessageUpdate {
            id,
            status: OutboxStatus::Sent,
            attempts: 1,
            next_attempt_at: None,
            sending_since: None,
            to_number: Some("+14155550100".into()),
            sid: Some(sid.into()),
            error_code: None,
            error_message: None,
            history: Some("sent".into()),
        };
        assert!(store.update_message(&update, None).unwrap());
        id
    }

    fn callback(sid: &str, status: &str, rank: u8) -> StatusCallback {
        StatusCallback {
            sid: sid.into(),
            status: status.into(),
            sequence: None,
            rank: Some(rank),
            error_code: None,
            detail: None,
            params: "{}".into(),
            received_at: at(10),
        }
    }

    fn inbound(sid: &str, body: &str, opt_change: Option<OptChange>) -> InboundMessage {
        InboundMessage {
            sid: sid.into(),
            from: "+14155550100".into(),
            to: "+15005550006".into(),
            body: body.into(),
            opt_out_type: None,
            opt_change,
            params: "{}".into(),
            received_at: at(20),
        }
    }

    #[test]
    fn a_late_status_is_kept_in_history_without_moving_the_message_back() {
        let (_dir, store, id) = with_sent_message();
        let delivered = store.record_status_callback(&callback("SM1", "delivered", 3)).unwrap();
        assert_eq!(delivered, CallbackOutcome::Recorded { outbox_id: Some(id), advanced: true });
        let late = store.record_status_callback(&callback("SM1", "sent", 2)).unwrap();
        assert_eq!(late, CallbackOutcome::Recorded { outbox_id: Some(id), advanced: false });
        assert_eq!(store.delivery_status(id).unwrap().as_deref(), Some("delivered"));
        let history: Vec<String> = store.list_history(id).unwrap().into_iter().map(|h| h.status).collect();
        assert_eq!(history, ["sent", "delivered", "sent"]);
    }

    #[test]
    fn a_repeated_callback_is_a_duplicate_unless_its_sequence_number_differs() {
        let (_dir, store, id) = with_sent_message();
        let cb = callback("SM1", "delivered", 3);
        store.record_status_callback(&cb).unwrap();
        assert_eq!(store.record_status_callback(&cb).unwrap(), CallbackOutcome::Duplicate);
        let next = StatusCallback { sequence: Some("2".into()), ..cb };
        assert!(matches!(store.record_status_callback(&next).unwrap(), CallbackOutcome::Recorded { .. }));
        assert_eq!(store.list_history(id).unwrap().len(), 3);
    }

    #[test]
    fn a_callback_for_an_unknown_sid_is_stored_without_history() {
        let (_dir, store, id) = with_sent_message();
        let outcome = store.record_status_callback(&callback("SMother", "delivered", 3)).unwrap();
        assert_eq!(outcome, CallbackOutcome::Recorded { outbox_id: None, advanced: false });
        assert_eq!(store.record_status_callback(&callback("SMother", "delivered", 3)).unwrap(), CallbackOutcome::Duplicate);
        assert_eq!(store.list_history(id).unwrap().len(), 1);
    }

    #[test]
    fn a_callback_that_arrives_before_the_sid_is_recorded_is_adopted_with_it() {
        let (_dir, store, _) = with_sent_message();
        // A second message, its SID not yet recorded when Twilio calls back.
        let early = store.record_status_callback(&callback("SM2", "delivered", 3)).unwrap();
        assert_eq!(early, CallbackOutcome::Recorded { outbox_id: None, advanced: false });
        store.record_status_callback(&callback("SM2", "sent", 2)).unwrap();
        let id = dispatch_and_send(&store, "k2", "second", "SM2");
        assert_eq!(store.delivery_status(id).unwrap().as_deref(), Some("delivered"));
        let history: Vec<String> = store.list_history(id).unwrap().into_iter().map(|h| h.status).collect();
        assert_eq!(history, ["sent", "delivered", "sent"]);
    }

    #[test]
    fn a_reply_is_linked_to_the_last_message_sent_to_its_sender_once() {
        let (_dir, store, id) = with_sent_message();
        let (outcome, record) = store.record_inbound(&inbound("SMr1", "PAID?", None)).unwrap();
        assert_eq!(outcome, InsertOutcome::Inserted);
        assert_eq!((record.outbox_id, record.event_id.as_deref()), (Some(id), Some("evt-1")));
        let (again, _) = store.record_inbound(&inbound("SMr1", "PAID?", None)).unwrap();
        assert_eq!(again, InsertOutcome::Duplicate);
        let replies = store.list_replies(id).unwrap();
        assert_eq!(replies.len(), 1);
        assert_eq!(replies[0].message.body, "PAID?");
    }

    #[test]
    fn stop_opts_the_sender_out_and_start_clears_it() {
        let (_dir, store, _) = with_sent_message();
        store.record_inbound(&inbound("SMs", "STOP", Some(OptChange::OptOut))).unwrap();
        assert!(store.is_opted_out("+14155550100").unwrap());
        store.record_inbound(&inbound("SMt", "START", Some(OptChange::OptIn))).unwrap();
        assert!(!store.is_opted_out("+14155550100").unwrap());
        assert!(!store.clear_opt_out("+14155550100").unwrap());
    }
}
