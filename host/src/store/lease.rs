//! Claims are leases: a row claimed by one process is invisible to every other claimer until its
//! lease expires, so several processes (replicas) can share one database, and the rows of a
//! claimer killed mid-work are taken over, once, when its lease runs out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// How long a claim lasts unless the holder finishes (or renews) it first.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

/// Who claims, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    holder: Arc<str>,
    ttl: Duration,
}

impl Lease {
    /// A lease held by `holder` for `ttl` per claim.
    pub fn new(holder: impl Into<Arc<str>>, ttl: Duration) -> Self {
        Self { holder: holder.into(), ttl }
    }

    /// A lease for this process: the host name, the process id and a random suffix, so a
    /// restarted process never mistakes its predecessor's claims for its own.
    pub fn for_process(ttl: Duration) -> Self {
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "host".into());
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self::new(format!("{host}:{}:{}", std::process::id(), &suffix[..8]), ttl)
    }

    /// The holder's identity, as stored in `claimed_by`.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The length of one claim.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// When a claim made at `now` expires.
    pub fn until(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + TimeDelta::from_std(self.ttl).unwrap_or(TimeDelta::MAX)
    }
}
