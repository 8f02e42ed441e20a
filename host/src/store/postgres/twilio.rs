//! [`TwilioStore`] on PostgreSQL: opt-outs (and clearances by hand), the Lookups cache, status
//! callbacks with their dedupe rows and monotonic delivery status (the message row locked while
//! it moves), and inbound SMS linked to the message they answer.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;

use super::{PgResultExt as _, PgStore, from_millis, millis, sql_limit};
use crate::sinks::twilio::state::{
    CallbackOutcome, InboundMessage, InboundRecord, LookupRecord, OptChange, OptOut, OptOutClearance, StatusCallback, TwilioStore,
};
use crate::sinks::twilio::message_tag::MessageTag;
use crate::store::sqlite::{judge_callback, moved_lines};
use crate::store::{InsertOutcome, Result};

const INBOUND_COLUMNS: &str = "sid, from_number, to_number, body, opt_out_type, outbox_id, event_id, params, received_at";

const UPSERT_OPT_OUT: &str = "INSERT INTO opt_outs (number, at, reason) VALUES ($1, $2, $3)
     ON CONFLICT (number) DO UPDATE SET at = excluded.at, reason = excluded.reason";

#[async_trait]
impl TwilioStore for PgStore {
    async fn record_opt_out(&self, number: &str, reason: &str, at: DateTime<Utc>) -> Result<()> {
        const OP: &str = "record opt-out";
        self.client(OP).await?.execute(UPSERT_OPT_OUT, &[&number, &millis(at), &reason]).await.op(OP).map(drop)
    }

    async fn opted_out(&self, numbers: &[&str]) -> Result<HashSet<String>> {
        const OP: &str = "check opt-outs";
        let rows = self.client(OP).await?.query("SELECT number FROM opt_outs WHERE number = ANY($1)", &[&numbers]).await.op(OP)?;
        rows.iter().map(|row| row.try_get(0).op(OP)).collect()
    }

    async fn clear_opt_out(&self, number: &str) -> Result<bool> {
        const OP: &str = "clear opt-out";
        Ok(self.client(OP).await?.execute("DELETE FROM opt_outs WHERE number = $1", &[&number]).await.op(OP)? > 0)
    }

    async fn record_status_callback(&self, cb: &StatusCallback) -> Result<CallbackOutcome> {
        const OP: &str = "record status callback";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        let target = tx
            .query_opt("SELECT id, delivery_rank, delivery_status FROM outbox WHERE sid = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE", &[&cb.sid])
            .await
            .op(OP)?;
        let target: Option<(i64, Option<i64>, Option<String>)> =
            target.map(|row| Ok((row.try_get(0).op(OP)?, row.try_get(1).op(OP)?, row.try_get(2).op(OP)?))).transpose()?;
        let at = millis(cb.received_at);
        let mut moved_from = None;
        // An unheld SID whose callback names its message (the URL's tag) is linked to it while
        // that message is still `sending` in the tag's series with no SID.
        let target = match (target, cb.tag) {
            (None, Some(tag)) => {
                let series = i64::from(tag.series);
                let linked = tx
                    .execute(
                        "UPDATE outbox SET sid = $2, updated_at = $4 WHERE id = $1 AND sid IS NULL AND status = 'sending' AND series = $3",
                        &[&tag.outbox_id, &cb.sid, &series, &at],
                    )
                    .await
                    .op(OP)?;
                if linked > 0 {
                    let detail = format!("{} linked by Twilio's status callback for attempt {} (its answer was not recorded)", cb.sid, tag.attempt);
                    tx.execute("INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, 'sending', $3)", &[&tag.outbox_id, &at, &detail])
                        .await
                        .op(OP)?;
                }
                (linked > 0).then_some((tag.outbox_id, None, None))
            }
            (Some(held), Some(tag)) if held.0 != tag.outbox_id => match move_tagged(&tx, cb, tag, held.0, at).await? {
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
                "INSERT INTO twilio_callbacks (sid, status, sequence, rank, outbox_id, error_code, detail, params, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (sid, status, sequence) DO NOTHING",
                &[&cb.sid, &cb.status, &cb.sequence.as_deref().unwrap_or(""), &cb.rank.map(i64::from), &outbox_id, &cb.error_code, &cb.detail, &cb.params, &at],
            )
            .await
            .op(OP)?;
        if inserted == 0 {
            return Ok(CallbackOutcome::Duplicate);
        }
        let mut advanced = false;
        if let Some((id, current_rank, current)) = target {
            let detail;
            (advanced, detail) = judge_callback(cb, current_rank, current.as_deref());
            tx.execute("INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, $3, $4)", &[&id, &at, &cb.status, &detail])
                .await
                .op(OP)?;
            if advanced {
                tx.execute("UPDATE outbox SET delivery_status = $2, delivery_rank = $3 WHERE id = $1", &[&id, &cb.status, &cb.rank.map(i64::from)])
                    .await
                    .op(OP)?;
            }
        }
        tx.commit().await.op(OP)?;
        Ok(match (moved_from, outbox_id) {
            (Some(from), Some(outbox_id)) => CallbackOutcome::Moved { outbox_id, from, advanced },
            _ => CallbackOutcome::Recorded { outbox_id, advanced },
        })
    }

    async fn sid_holder(&self, sid: &str) -> Result<Option<i64>> {
        const OP: &str = "find sid holder";
        let row = self.client(OP).await?.query_opt("SELECT id FROM outbox WHERE sid = $1", &[&sid]).await.op(OP)?;
        row.map(|row| row.try_get(0).op(OP)).transpose()
    }

    async fn record_inbound(&self, msg: &InboundMessage) -> Result<(InsertOutcome, InboundRecord)> {
        const OP: &str = "record inbound message";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        // The most recent message sent (or dry-run recorded) to the sender's number.
        let link = tx
            .query_opt(
                "SELECT id, event_id FROM outbox WHERE to_number = $1 AND status IN ('sent', 'dry-run') ORDER BY id DESC LIMIT 1",
                &[&msg.from],
            )
            .await
            .op(OP)?;
        let link: Option<(i64, String)> = link.map(|row| Ok((row.try_get(0).op(OP)?, row.try_get(1).op(OP)?))).transpose()?;
        let at = millis(msg.received_at);
        let inserted = tx
            .execute(
                "INSERT INTO inbound_messages (sid, from_number, to_number, body, opt_out_type, outbox_id, event_id, params, received_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (sid) DO NOTHING",
                &[&msg.sid, &msg.from, &msg.to, &msg.body, &msg.opt_out_type, &link.as_ref().map(|l| l.0), &link.as_ref().map(|l| l.1.as_str()), &msg.params, &at],
            )
            .await
            .op(OP)?;
        if inserted == 0 {
            let row = tx.query_one(&format!("SELECT {INBOUND_COLUMNS} FROM inbound_messages WHERE sid = $1"), &[&msg.sid]).await.op(OP)?;
            return Ok((InsertOutcome::Duplicate, inbound(&row)?));
        }
        if let Some((outbox_id, _)) = &link {
            // The reply is part of the message's story (the audit, a record's write-back).
            tx.execute(
                "INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, 'reply', $3)",
                &[outbox_id, &at, &format!("reply from {} ({}): {}", msg.from, msg.sid, msg.body)],
            )
            .await
            .op(OP)?;
        }
        match msg.opt_change {
            Some(OptChange::OptOut) => {
                let reason = format!("replied {:?} ({})", msg.body.trim(), msg.sid);
                tx.execute(UPSERT_OPT_OUT, &[&msg.from, &at, &reason]).await.op(OP)?;
            }
            Some(OptChange::OptIn) => {
                tx.execute("DELETE FROM opt_outs WHERE number = $1", &[&msg.from]).await.op(OP)?;
            }
            None => {}
        }
        tx.commit().await.op(OP)?;
        let (outbox_id, event_id) = link.map_or((None, None), |(o, e)| (Some(o), Some(e)));
        Ok((InsertOutcome::Inserted, InboundRecord { message: msg.clone(), outbox_id, event_id }))
    }

    async fn list_replies(&self, outbox_id: i64) -> Result<Vec<InboundRecord>> {
        const OP: &str = "list replies";
        let rows = self
            .client(OP)
            .await?
            .query(&format!("SELECT {INBOUND_COLUMNS} FROM inbound_messages WHERE outbox_id = $1 ORDER BY received_at, sid"), &[&outbox_id])
            .await
            .op(OP)?;
        rows.iter().map(inbound).collect()
    }

    async fn delivery_status(&self, outbox_id: i64) -> Result<Option<String>> {
        const OP: &str = "read delivery status";
        let row = self.client(OP).await?.query_opt("SELECT delivery_status FROM outbox WHERE id = $1", &[&outbox_id]).await.op(OP)?;
        Ok(row.map(|row| row.try_get::<_, Option<String>>(0).op(OP)).transpose()?.flatten())
    }

    async fn get_lookup(&self, number: &str) -> Result<Option<LookupRecord>> {
        const OP: &str = "get lookup";
        let row = self
            .client(OP)
            .await?
            .query_opt("SELECT valid, line_type, detail, fetched_at FROM lookups WHERE number = $1", &[&number])
            .await
            .op(OP)?;
        row.map(|row| {
            Ok(LookupRecord {
                number: number.to_owned(),
                valid: row.try_get(0).op(OP)?,
                line_type: row.try_get(1).op(OP)?,
                detail: row.try_get(2).op(OP)?,
                fetched_at: from_millis("lookups", row.try_get(3).op(OP)?)?,
            })
        })
        .transpose()
    }

    async fn put_lookup(&self, r: &LookupRecord) -> Result<()> {
        const OP: &str = "cache lookup";
        self.client(OP)
            .await?
            .execute(
                "INSERT INTO lookups (number, valid, line_type, detail, fetched_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (number) DO UPDATE SET valid = excluded.valid, line_type = excluded.line_type,
                   detail = excluded.detail, fetched_at = excluded.fetched_at",
                &[&r.number, &r.valid, &r.line_type, &r.detail, &millis(r.fetched_at)],
            )
            .await
            .op(OP)
            .map(drop)
    }

    async fn list_opt_outs(&self) -> Result<Vec<OptOut>> {
        const OP: &str = "list opt-outs";
        let rows = self.client(OP).await?.query("SELECT number, at, reason FROM opt_outs ORDER BY at DESC, number", &[]).await.op(OP)?;
        rows.iter()
            .map(|row| Ok(OptOut { number: row.try_get(0).op(OP)?, at: from_millis("opt_outs", row.try_get(1).op(OP)?)?, reason: row.try_get(2).op(OP)? }))
            .collect()
    }

    async fn clear_opt_out_by_hand(&self, number: &str, by: &str, at: DateTime<Utc>) -> Result<Option<OptOutClearance>> {
        const OP: &str = "clear opt-out by hand";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.op(OP)?;
        let Some(row) = tx.query_opt("DELETE FROM opt_outs WHERE number = $1 RETURNING at, reason", &[&number]).await.op(OP)? else {
            return Ok(None);
        };
        let (opted_out_at, reason): (i64, String) = (row.try_get(0).op(OP)?, row.try_get(1).op(OP)?);
        tx.execute(
            "INSERT INTO opt_out_clearances (number, cleared_by, at, opted_out_at, reason) VALUES ($1, $2, $3, $4, $5)",
            &[&number, &by, &millis(at), &opted_out_at, &reason],
        )
        .await
        .op(OP)?;
        tx.commit().await.op(OP)?;
        Ok(Some(OptOutClearance {
            number: number.to_owned(),
            by: by.to_owned(),
            at,
            cleared: OptOut { number: number.to_owned(), at: from_millis("opt_outs", opted_out_at)?, reason },
        }))
    }

    async fn list_opt_out_clearances(&self, number: Option<&str>, limit: usize) -> Result<Vec<OptOutClearance>> {
        const OP: &str = "list opt-out clearances";
        let rows = self
            .client(OP)
            .await?
            .query(
                "SELECT number, cleared_by, at, opted_out_at, reason FROM opt_out_clearances
                 WHERE $1::TEXT IS NULL OR number = $1 ORDER BY id DESC LIMIT $2",
                &[&number, &sql_limit(limit)],
            )
            .await
            .op(OP)?;
        rows.iter()
            .map(|row| {
                let number: String = row.try_get(0).op(OP)?;
                Ok(OptOutClearance {
                    cleared: OptOut {
                        number: number.clone(),
                        at: from_millis("opt_out_clearances", row.try_get(3).op(OP)?)?,
                        reason: row.try_get(4).op(OP)?,
                    },
                    number,
                    by: row.try_get(1).op(OP)?,
                    at: from_millis("opt_out_clearances", row.try_get(2).op(OP)?)?,
                })
            })
            .collect()
    }
}

/// Moves `cb`'s SID from `holder` to the message its tag names, when the tag is that message's
/// latest attempt (see the SQLite backend for the why); the tagged row as the callback targets
/// it, or `None` (nothing changed).
async fn move_tagged(tx: &Transaction<'_>, cb: &StatusCallback, tag: MessageTag, holder: i64, at: i64) -> Result<Option<(i64, Option<i64>, Option<String>)>> {
    const OP: &str = "move sid by callback";
    let tagged = tx
        .query_opt(
            "SELECT status, sid FROM outbox WHERE id = $1 AND series = $2 AND attempts = $3 AND status IN ('sending', 'sent') FOR UPDATE",
            &[&tag.outbox_id, &i64::from(tag.series), &i64::from(tag.attempt)],
        )
        .await
        .op(OP)?;
    let Some(tagged) = tagged else { return Ok(None) };
    let (status, released): (String, Option<String>) = (tagged.try_get(0).op(OP)?, tagged.try_get(1).op(OP)?);
    let reopened = tx
        .execute(
            "UPDATE outbox SET status = 'sending', sid = NULL, sending_since = COALESCE(sending_since, created_at),
                 next_attempt_at = $3, claimed_by = NULL, lease_until = NULL, delivery_status = NULL,
                 delivery_rank = NULL, updated_at = $3
             WHERE id = $1 AND sid = $2 AND status = 'sent'",
            &[&holder, &cb.sid, &at],
        )
        .await
        .op(OP)?;
    if reopened == 0 {
        return Ok(None);
    }
    let (holder_line, tagged_line) = moved_lines(cb, tag, holder, released.as_deref());
    tx.execute("INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, 'sending', $3)", &[&holder, &at, &holder_line])
        .await
        .op(OP)?;
    if let Some(released) = &released {
        tx.execute("UPDATE twilio_callbacks SET outbox_id = NULL WHERE sid = $1 AND outbox_id = $2", &[released, &tag.outbox_id])
            .await
            .op(OP)?;
    }
    tx.execute("UPDATE twilio_callbacks SET outbox_id = $2 WHERE sid = $1", &[&cb.sid, &tag.outbox_id]).await.op(OP)?;
    let best = tx
        .query_opt("SELECT status, rank FROM twilio_callbacks WHERE sid = $1 AND rank IS NOT NULL ORDER BY rank DESC, id LIMIT 1", &[&cb.sid])
        .await
        .op(OP)?;
    let (best_status, best_rank): (Option<String>, Option<i64>) = match best {
        Some(row) => (Some(row.try_get(0).op(OP)?), Some(row.try_get(1).op(OP)?)),
        None => (None, None),
    };
    tx.execute(
        "UPDATE outbox SET sid = $2, delivery_status = $3, delivery_rank = $4, updated_at = $5 WHERE id = $1",
        &[&tag.outbox_id, &cb.sid, &best_status, &best_rank, &at],
    )
    .await
    .op(OP)?;
    tx.execute("INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, $3, $4)", &[&tag.outbox_id, &at, &status, &tagged_line])
        .await
        .op(OP)?;
    Ok(Some((tag.outbox_id, best_rank, best_status)))
}

/// Adopts status callbacks that arrived for `sid` before the sender stored it on outbox row
/// `id`, inside the sender's update transaction (see the SQLite backend for the why).
pub(super) async fn adopt_early_callbacks(tx: &Transaction<'_>, id: i64, sid: &str) -> Result<()> {
    const OP: &str = "adopt early callbacks";
    let early = tx
        .query(
            "UPDATE twilio_callbacks SET outbox_id = $2 WHERE sid = $1 AND outbox_id IS NULL
             RETURNING id, status, rank, detail, received_at",
            &[&sid, &id],
        )
        .await
        .op(OP)?;
    let mut early = early
        .iter()
        .map(|row| {
            Ok((
                row.try_get::<_, i64>(0).op(OP)?,
                row.try_get::<_, String>(1).op(OP)?,
                row.try_get::<_, Option<i64>>(2).op(OP)?,
                row.try_get::<_, Option<String>>(3).op(OP)?,
                row.try_get::<_, i64>(4).op(OP)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    early.sort_by_key(|e| e.0);
    let mut best: Option<(i64, &str)> = None;
    for (_, status, rank, detail, at) in &early {
        let mut line = format!("twilio callback {sid}, received before the SID was recorded");
        if let Some(extra) = detail {
            line.push_str(&format!(" ({extra})"));
        }
        tx.execute("INSERT INTO message_history (outbox_id, at, status, detail) VALUES ($1, $2, $3, $4)", &[&id, at, status, &line])
            .await
            .op(OP)?;
        if let Some(rank) = rank
            && best.is_none_or(|(b, _)| *rank > b)
        {
            best = Some((*rank, status));
        }
    }
    if let Some((rank, status)) = best {
        tx.execute(
            "UPDATE outbox SET delivery_status = $2, delivery_rank = $3 WHERE id = $1 AND (delivery_rank IS NULL OR delivery_rank < $3)",
            &[&id, &status, &rank],
        )
        .await
        .op(OP)?;
    }
    Ok(())
}

/// An inbound message from the columns of [`INBOUND_COLUMNS`].
fn inbound(row: &Row) -> Result<InboundRecord> {
    const OP: &str = "read inbound message";
    Ok(InboundRecord {
        message: InboundMessage {
            sid: row.try_get(0).op(OP)?,
            from: row.try_get(1).op(OP)?,
            to: row.try_get(2).op(OP)?,
            body: row.try_get(3).op(OP)?,
            opt_out_type: row.try_get(4).op(OP)?,
            opt_change: None,
            params: row.try_get(7).op(OP)?,
            received_at: from_millis("inbound_messages", row.try_get(8).op(OP)?)?,
        },
        outbox_id: row.try_get(5).op(OP)?,
        event_id: row.try_get(6).op(OP)?,
    })
}
