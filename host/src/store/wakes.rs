//! [`Wakes`]: the in-process wake-ups of the dispatcher and the sink drivers, which a backend
//! shared by several processes also fires when another process gives them work.

use std::sync::Arc;

use tokio::sync::Notify;

/// Who to wake when work arrives.
#[derive(Clone, Default)]
pub struct Wakes {
    /// The dispatcher: events were stored or replayed.
    pub events: Arc<Notify>,
    /// The sink drivers: outbox rows became due.
    pub outbox: Arc<Notify>,
}
