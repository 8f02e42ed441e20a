//! Enrichment: the context a plugin sees besides the event itself. The Wave
//! GraphQL enricher fills in customer, invoice and business; until one is
//! configured, [`EventOnly`] gives plugins the event and the business clock.

use chrono::Utc;

use crate::model::{Context, Event};
use crate::timezone::Timezone;

/// Why a context could not be built right now. The event stays pending and
/// is retried; nothing is dropped.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The lookup service cannot answer now (network, 5xx, broken connection).
    #[error("enrichment unavailable, event waits: {0}")]
    Unavailable(String),
}

/// Builds the context for one event.
pub trait Enricher: Send + Sync {
    /// The context for `event`, without plugin settings (the runtime adds those).
    fn context(&self, event: &Event) -> Result<Context, EnrichError>;
}

/// Context with only the clock: the business's local time.
#[derive(Debug, Clone)]
pub struct EventOnly {
    /// The configured time zone.
    pub timezone: Timezone,
}

impl Enricher for EventOnly {
    fn context(&self, _event: &Event) -> Result<Context, EnrichError> {
        Ok(Context::bare(self.timezone.rfc3339(Utc::now())))
    }
}
