//! When a failed message is tried again: exponential backoff with full jitter, capped.
//!
//! Retries are durable: the driver stores the next attempt's time on the outbox row, so a
//! restart resumes the schedule instead of an in-memory loop losing it. A backoff crate would
//! hand out delays from an in-process iterator; here the delay is a pure function of the attempt
//! number, which is what a persisted schedule needs, so it is written out (ten lines).

use std::time::Duration;

/// The longest wait between two attempts, whatever the base and `Retry-After` say.
pub const MAX_DELAY: Duration = Duration::from_secs(300);

/// Exponential backoff with full jitter: retry `n` (1-based) waits a uniformly random time in
/// `[0, min(cap, base * 2^(n-1))]`, which spreads retries of many senders apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's ceiling.
    pub base: Duration,
    /// The ceiling of every wait.
    pub cap: Duration,
}

impl Backoff {
    /// The ceiling of retry `n`'s wait.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// Retry `n`'s wait for a random `unit` in `[0, 1)`.
    pub fn delay_at(&self, retry: u32, unit: f64) -> Duration {
        self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// Retry `n`'s wait, randomly drawn.
    pub fn delay(&self, retry: u32) -> Duration {
        self.delay_at(retry, rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_its_ceiling_up_to_the_cap_and_jitters_below_it() {
        let b = Backoff { base: Duration::from_millis(100), cap: Duration::from_millis(350) };
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(3), Duration::from_millis(350));
        assert_eq!(b.ceiling(40), Duration::from_millis(350));
        assert_eq!(b.delay_at(2, 0.5), Duration::from_millis(100));
        assert_eq!(b.delay_at(2, 0.0), Duration::ZERO);
        assert!(b.delay(3) <= Duration::from_millis(350));
    }

}
