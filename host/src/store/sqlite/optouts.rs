//! Opt-outs by hand (schema version 5): the list of opted-out numbers, and clearing one on an
//! operator's word, recorded in `opt_out_clearances` with who and when, in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{SqlResultExt as _, from_millis, millis, sql_limit};
use crate::sinks::twilio::state::{OptOut, OptOutClearance};
use crate::store::Result;

/// Every opted-out number, most recent first.
pub(super) fn list(conn: &Connection) -> Result<Vec<OptOut>> {
    const OP: &str = "list opt-outs";
    let mut stmt = conn
        .prepare_cached("SELECT number, at, reason FROM opt_outs ORDER BY at DESC, number")
        .op(OP)?;
    let rows = stmt
        .query_map([], |row| <(String, i64, String)>::try_from(row))
        .op(OP)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op(OP)?;
    rows.into_iter()
        .map(|(number, at, reason)| Ok(OptOut { number, at: from_millis("opt_outs", at)?, reason }))
        .collect()
}

/// Deletes `number`'s opt-out and records the clearance, or does nothing if it has none.
pub(super) fn clear(conn: &mut Connection, number: &str, by: &str, at: DateTime<Utc>) -> Result<Option<OptOutClearance>> {
    const OP: &str = "clear opt-out by hand";
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).op(OP)?;
    let found: Option<(i64, String)> = tx
        .query_row("SELECT at, reason FROM opt_outs WHERE number = ?1", [number], |row| <(i64, String)>::try_from(row))
        .optional()
        .op(OP)?;
    let Some((opted_out_at, reason)) = found else {
        return Ok(None);
    };
    tx.execute("DELETE FROM opt_outs WHERE number = ?1", [number]).op(OP)?;
    tx.execute(
        "INSERT INTO opt_out_clearances (number, cleared_by, at, opted_out_at, reason)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![number, by, millis(at), opted_out_at, reason],
    )
    .op(OP)?;
    tx.commit().op(OP)?;
    Ok(Some(OptOutClearance {
        number: number.to_owned(),
        by: by.to_owned(),
        at,
        cleared: OptOut { number: number.to_owned(), at: from_millis("opt_outs", opted_out_at)?, reason },
    }))
}

/// Clearances, newest first.
pub(super) fn clearances(conn: &Connection, number: Option<&str>, limit: usize) -> Result<Vec<OptOutClearance>> {
    const OP: &str = "list opt-out clearances";
    let mut stmt = conn
        .prepare_cached(
            "SELECT number, cleared_by, at, opted_out_at, reason FROM opt_out_clearances
             WHERE ?1 IS NULL OR number = ?1 ORDER BY id DESC LIMIT ?2",
        )
        .op(OP)?;
    let rows = stmt
        .query_map(params![number, sql_limit(limit)], |row| <(String, String, i64, i64, String)>::try_from(row))
        .op(OP)?
        .collect::<rusqlite::Result<Vec<_>>>()
        .op(OP)?;
    rows.into_iter()
        .map(|(number, by, at, opted_out_at, reason)| {
            Ok(OptOutClearance {
                cleared: OptOut { number: number.clone(), at: from_millis("opt_out_clearances", opted_out_at)?, reason },
                number,
                by,
                at: from_millis("opt_out_clearances", at)?,
            })
        })
        .collect()
}
