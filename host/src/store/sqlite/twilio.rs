//! [`TwilioStore`] on SQLite: opt-outs, the Lookups cache, status callbacks with their dedupe
//! rows and monotonic delivery status, and inbound SMS linked to the message they answer.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{SqlResultExt as _, SqliteStore, from_millis, millis};
use super::optouts;
use crate::sinks::twilio::message_tag::MessageTag;
use crate::sinks::twilio::state::{
    CallbackOutcome, InboundMessage, InboundRecord, LookupRecord, OptChange, OptOut, OptOutClearance, StatusCallback, TwilioStore,
};
use crate::store::{InsertOutcome, Result};

#[async_trait]
impl TwilioStore for SqliteStore {
    async fn record_opt_out(&self, number: &str, reason: &str, at: DateTime<Utc>) -> Result<()> {
        let (number, reason) = (number.to_owned(), reason.to_owned());
        self.write("record opt-out", move |conn| {
            conn.execute(
                "INSERT INTO opt_outs (number, at, reason) VALUES (?1, ?2, ?3)
                 ON CONFLICT (number) DO UPDATE SET at = excluded.at, reason = excluded.reason",
                params![number, millis(at), reason],
            )
            .op("record opt-out")
            .map(drop)
        })
        .await
    }

    async fn opted_out(&self, numbers: &[&str]) -> Result<HashSet<String>> {
        const OP: &str = "check opt-outs";
        let mut numbers: Vec<String> = numbers.iter().map(|&n| n.to_owned()).collect();
        numbers.sort_unstable();
        numbers.dedup();
        self.read(OP, move |conn| {
            // Once per claimed batch, a lookup per distinct number: prepared once per reader.
            let mut stmt = conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM opt_outs WHERE number = ?1)").op(OP)?;
            let mut opted_out = HashSet::new();
            for number in numbers {
                if stmt.query_row([&number], |row| row.get(0)).op(OP)? {
                    opted_out.insert(number);
                }
            }
            Ok(opted_out)
        })
        .await
    }

    async fn clear_opt_out(&self, number: &str) -> Result<bool> {
        let number = number.to_owned();
        self.write("clear opt-out", move |conn| Ok(conn.execute("DELETE FROM opt_outs WHERE number = ?1", [number]).op("clear opt-out")? > 0))
            .await
    }

    async fn record_status_callback(&self, callback: &StatusCallback) -> Result<CallbackOutcome> {
        let callback = callback.clone();
        self.write("record status callback", move |conn| record_callback(conn, &callback)).await
    }

    async fn record_inbound(&self, message: &InboundMessage) -> Result<(InsertOutcome, InboundRecord)> {
        let message = message.clone();
        self.write("record inbound message", move |conn| record_inbound(conn, &message)).await
    }

    async fn sid_holder(&self, sid: &str) -> Result<Option<i64>> {
        let sid = sid.to_owned();
        self.read("find sid holder", move |conn| holder_of(conn, &sid, None)).await
    }

    async fn list_replies(&self, outbox_id: i64) -> Result<Vec<InboundRecord>> {
        self.read("list replies", move |conn| replies(conn, outbox_id)).await
    }

    async fn delivery_status(&self, outbox_id: i64) -> Result<Option<String>> {
        self.read("read delivery status", move |conn| {
            Ok(conn
                .query_row("SELECT delivery_status FROM outbox WHERE id = ?1", [outbox_id], |row| row.get::<_, Option<String>>(0))
                .optional()
                .op("read delivery status")?
                .flatten())
        })
        .await
    }

    async fn get_lookup(&self, number: &str) -> Result<Option<LookupRecord>> {
        const OP: &str = "get lookup";
        let number = number.to_owned();
        self.read(OP, move |conn| {
            let row = conn
                .query_row("SELECT valid, line_type, detail, fetched_at FROM lookups WHERE number = ?1", [&number], |row| {
                    <(bool, Option<String>, Option<String>, i64)>::try_from(row)
                })
                .optional()
                .op(OP)?;
            row.map(|(valid, line_type, detail, at)| Ok(LookupRecord { number: number.clone(), valid, line_type, detail, fetched_at: from_millis("lookups", at)? }))
                .transpose()
        })
        .await
    }

    async fn put_lookup(&self, record: &LookupRecord) -> Result<()> {
        let record = record.clone();
        self.write("cache lookup", move |conn| {
            conn.execute(
                "INSERT INTO lookups (number, valid, line_type, detail, fetched_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (number) DO UPDATE SET valid = excluded.valid,
                   line_type = excluded.line_type, detail = excluded.detail,
                   fetched_at = excluded.fetched_at",
                params![record.number, record.valid, record.line_type, record.detail, millis(record.fetched_at)],
            )
            .op("cache lookup")
            .map(drop)
        })
        .await
    }

    async fn list_opt_outs(&self) -> Result<Vec<OptOut>> {
        self.read("list opt-outs", optouts::list).await
    }

    async fn clear_opt_out_by_hand(&self, number: &str, by: &str, at: DateTime<Utc>) -> Result<Option<OptOutClearance>> {
        let (number, by) = (number.to_owned(), by.to_owned());
        self.write("clear opt-out by hand", move |conn| optouts::clear(conn, &number, &by, at)).await
    }

    async fn list_opt_out_clearances(&self, number: Option<&str>, limit: usize) -> Result<Vec<OptOutClearance>> {
        let number = number.map(str::to_owned);
        self.read("list opt-out clearances", move |conn| optouts::clearances(conn, number.as_deref(), limit)).await
    }
}

fn record_callback(
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
    let at = millis(cb.received_at);
    let mut moved_from = None;
    let target = match (target, cb.tag) {
        (None, Some(tag)) => link_tagged(&tx, cb, tag, at)?,
        (Some(held), Some(tag)) if held.0 != tag.outbox_id => match move_tagged(&tx, cb, tag, held.0, at)? {
            Some(moved) => {
                moved_from = Some(held.0);
                Some(moved)
            }
            None => Some(held),
        },
        (target, _) => target,
    };
    let outbox_id = target.as_ref().map(|t| t.0);
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
        let detail;
        (advanced, detail) = judge_callback(cb, current_rank, current.as_deref());
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
    Ok(match (moved_from, outbox_id) {
        (Some(from), Some(outbox_id)) => CallbackOutcome::Moved { outbox_id, from, advanced },
        _ => CallbackOutcome::Recorded { outbox_id, advanced },
    })
}

/// The message a callback is recorded on: outbox id, delivery rank and delivery status.
type CallbackTarget = (i64, Option<i64>, Option<String>);

/// The message other than `except` holding `sid`.
pub(super) fn holder_of(conn: &Connection, sid: &str, except: Option<i64>) -> Result<Option<i64>> {
    conn.prepare_cached("SELECT id FROM outbox WHERE sid = ?1 AND id IS NOT ?2")
        .and_then(|mut stmt| stmt.query_row(params![sid, except], |row| row.get(0)).optional())
        .op("find sid holder")
}

/// Links an unheld `sid` to the message its callback's tag names, when that message is still
/// `sending` in the tag's series with no SID; the linked row as [`record_callback`] targets it.
fn link_tagged(tx: &Connection, cb: &StatusCallback, tag: MessageTag, at: i64) -> Result<Option<CallbackTarget>> {
    const OP: &str = "link sid by callback";
    let linked = tx
        .execute(
            "UPDATE outbox SET sid = ?2, updated_at = ?4
             WHERE id = ?1 AND sid IS NULL AND status = 'sending' AND series = ?3",
            params![tag.outbox_id, cb.sid, tag.series, at],
        )
        .op(OP)?;
    if linked == 0 {
        return Ok(None);
    }
    let detail = format!("{} linked by Twilio's status callback for attempt {} (its answer was not recorded)", cb.sid, tag.attempt);
    tx.execute("INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, 'sending', ?3)", params![tag.outbox_id, at, detail])
        .op(OP)?;
    Ok(Some((tag.outbox_id, None, None)))
}

/// Moves `cb`'s SID from `holder` to the message its tag names, when the tag is that message's
/// latest attempt (see [`TwilioStore::record_status_callback`]); the tagged row as
/// [`record_callback`] targets it, or `None` (nothing changed) when the tag is stale or the
/// holder is not a `sent` message.
fn move_tagged(tx: &Connection, cb: &StatusCallback, tag: MessageTag, holder: i64, at: i64) -> Result<Option<CallbackTarget>> {
    const OP: &str = "move sid by callback";
    let tagged: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT status, sid FROM outbox WHERE id = ?1 AND series = ?2 AND attempts = ?3 AND status IN ('sending', 'sent')",
            params![tag.outbox_id, tag.series, tag.attempt],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .op(OP)?;
    let Some((status, released)) = tagged else { return Ok(None) };
    let reopened = tx
        .execute(
            "UPDATE outbox SET status = 'sending', sid = NULL, sending_since = COALESCE(sending_since, created_at),
                 next_attempt_at = ?3, claimed_by = NULL, lease_until = NULL, delivery_status = NULL,
                 delivery_rank = NULL, updated_at = ?3
             WHERE id = ?1 AND sid = ?2 AND status = 'sent'",
            params![holder, cb.sid, at],
        )
        .op(OP)?;
    if reopened == 0 {
        return Ok(None);
    }
    let (holder_line, tagged_line) = moved_lines(cb, tag, holder, released.as_deref());
    tx.execute("INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, 'sending', ?3)", params![holder, at, holder_line])
        .op(OP)?;
    if let Some(released) = &released {
        tx.execute("UPDATE twilio_callbacks SET outbox_id = NULL WHERE sid = ?1 AND outbox_id = ?2", params![released, tag.outbox_id])
            .op(OP)?;
    }
    tx.execute("UPDATE twilio_callbacks SET outbox_id = ?2 WHERE sid = ?1", params![cb.sid, tag.outbox_id]).op(OP)?;
    let best: Option<(String, i64)> = tx
        .query_row(
            "SELECT status, rank FROM twilio_callbacks WHERE sid = ?1 AND rank IS NOT NULL ORDER BY rank DESC, id LIMIT 1",
            [&cb.sid],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .op(OP)?;
    let (best_status, best_rank) = best.unzip();
    tx.execute(
        "UPDATE outbox SET sid = ?2, delivery_status = ?3, delivery_rank = ?4, updated_at = ?5 WHERE id = ?1",
        params![tag.outbox_id, cb.sid, best_status, best_rank, at],
    )
    .op(OP)?;
    tx.execute("INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, ?3, ?4)", params![tag.outbox_id, at, status, tagged_line])
        .op(OP)?;
    Ok(Some((tag.outbox_id, best_rank, best_status)))
}

/// The history lines of a SID moved from `holder` to the message `tag` names (which releases
/// `released`, if it held one): the holder's, then the tagged message's. Shared by every backend.
pub(crate) fn moved_lines(cb: &StatusCallback, tag: MessageTag, holder: i64, released: Option<&str>) -> (String, String) {
    let holder_line = format!(
        "{} belongs to message {}: Twilio's status callback for its attempt {} names it (this message had adopted it from the list); reconciling again",
        cb.sid, tag.outbox_id, tag.attempt
    );
    let mut tagged_line = format!("{} linked by Twilio's status callback for attempt {}, taken from message {holder}, which had adopted it from the list", cb.sid, tag.attempt);
    if let Some(released) = released {
        tagged_line.push_str(&format!("; {released} (adopted from the list) released"));
    }
    (holder_line, tagged_line)
}

/// Whether callback `cb` moves a message whose delivery status is `current` (of rank
/// `current_rank`) forward, and its history line. Shared by every backend.
pub(crate) fn judge_callback(cb: &StatusCallback, current_rank: Option<i64>, current: Option<&str>) -> (bool, String) {
    let advanced = match (cb.rank, current_rank) {
        (Some(new), Some(old)) => i64::from(new) > old,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let mut detail = format!("twilio callback {}", cb.sid);
    if let Some(extra) = &cb.detail {
        detail.push_str(&format!(" ({extra})"));
    }
    if let Some(current) = current.filter(|_| !advanced) {
        detail.push_str(&format!("; late, current status stays {current}"));
    }
    (advanced, detail)
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

fn record_inbound(
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
    if let Some((outbox_id, _)) = &link {
        // The reply is part of the message's story (the audit, a record's write-back).
        tx.execute(
            "INSERT INTO message_history (outbox_id, at, status, detail) VALUES (?1, ?2, 'reply', ?3)",
            params![outbox_id, at, format!("reply from {} ({}): {}", msg.from, msg.sid, msg.body)],
        )
        .op(OP)?;
    }
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

fn replies(conn: &Connection, outbox_id: i64) -> Result<Vec<InboundRecord>> {
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
