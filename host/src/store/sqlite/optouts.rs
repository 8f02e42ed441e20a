//! Opt-outs by hand (schema version 4): the list of opted-out numbers, and clearing one on an
//! operator's word, recorded in `opt_out_clearances` with who and when, in one transaction.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use super::{SqlResultExt as _, from_millis, millis, sql_limit};
use crate::store::{OptOut, OptOutClearance, Result};

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

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use crate::store::Store as _;
    use crate::store::sqlite::SqliteStore;

    #[test]
    fn clearing_an_opt_out_by_hand_removes_it_and_records_who_and_when() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("o.db")).unwrap();
        let stop = chrono::Utc.with_ymd_and_hms(2026, 4, 1, 12, 0, 0).unwrap();
        let later = chrono::Utc.with_ymd_and_hms(2026, 4, 2, 9, 30, 0).unwrap();
        store.record_opt_out("+14155550100", "replied STOP", stop).unwrap();
        store.record_opt_out("+14155550101", "Twilio 21610", later).unwrap();
        let listed: Vec<String> = store.list_opt_outs().unwrap().into_iter().map(|o| o.number).collect();
        assert_eq!(listed, ["+14155550101", "+14155550100"]);

        let cleared = store.clear_opt_out_by_hand("+14155550100", "alice", later).unwrap().unwrap();
        assert_eq!((cleared.by.as_str(), cleared.at, cleared.cleared.at), ("alice", later, stop));
        assert_eq!(cleared.cleared.reason, "replied STOP");
        assert!(!store.is_opted_out("+14155550100").unwrap());
        assert!(store.is_opted_out("+14155550101").unwrap());
        assert_eq!(store.list_opt_out_clearances(None, 10).unwrap(), vec![cleared.clone()]);
        assert_eq!(store.list_opt_out_clearances(Some("+14155550101"), 10).unwrap(), vec![]);

        // Not opted out (any more): nothing is recorded.
        assert_eq!(store.clear_opt_out_by_hand("+14155550100", "bob", later).unwrap(), None);
        assert_eq!(store.list_opt_out_clearances(None, 10).unwrap().len(), 1);
    }
}
