//! The deployment-wide send rate: one `rate_limits` row per sink holds the earliest time (on
//! the database's clock, in microseconds) the next send may start. Each sender atomically
//! moves it one period on and waits until the slot it reserved, so the sends of every replica
//! together are spaced one period apart, as a single process's limiter spaces its own (GCRA with
//! a burst of one).

use std::time::Duration;

use super::{PgResultExt as _, PgStore};
use crate::store::Result;

impl PgStore {
    /// Reserves `name`'s next send slot, `period` after the previous one (or now, if that has
    /// passed): how long to wait until it.
    pub(super) async fn reserve_slot(&self, name: &str, period: Duration) -> Result<Duration> {
        const OP: &str = "reserve send slot";
        let period_us = i64::try_from(period.as_micros()).unwrap_or(i64::MAX).max(1);
        let row = self
            .client(OP)
            .await?
            .query_one(
                "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT AS us)
                 INSERT INTO rate_limits AS r (name, next_us) SELECT $1, us + $2 FROM now
                 ON CONFLICT (name) DO UPDATE SET next_us = GREATEST(r.next_us, (SELECT us FROM now)) + $2
                 RETURNING r.next_us - $2 - (SELECT us FROM now)",
                &[&name, &period_us],
            )
            .await
            .op(OP)?;
        let wait_us: i64 = row.try_get(0).op(OP)?;
        Ok(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0)))
    }
}
