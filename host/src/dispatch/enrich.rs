//! Enrichment: the context a plugin sees besides the event itself. Each source registers its
//! [`Enricher`] by source name in [`Enrichers`] (Wave's looks up customer, invoice and
//! business; Twilio's adds the reply and its source event's context); an event from a source
//! with none gets [`ClockOnly`]: the business clock and nothing else.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;

use crate::model::{Context, Event};
use crate::timezone::Timezone;

/// Why a context could not be built right now. The event stays pending and is retried; nothing
/// is dropped.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The lookup service cannot answer now (network, 5xx, broken connection).
    #[error("enrichment unavailable, event waits: {0}")]
    Unavailable(String),
}

/// Builds the context for one source's events.
#[async_trait]
pub trait Enricher: Send + Sync {
    /// The context for `event`, without plugin settings (the runtime adds those). `all` is the
    /// whole registry, for an enricher that builds on another source's context (a reply is
    /// enriched like the event it answers).
    async fn context(&self, event: &Event, all: &Enrichers) -> Result<Context, EnrichError>;
}

/// The enrichers by source name.
pub struct Enrichers {
    by_source: HashMap<String, Arc<dyn Enricher>>,
    fallback: Arc<dyn Enricher>,
}

impl Enrichers {
    /// A registry where every source gets `fallback` until it registers its own.
    pub fn new(fallback: Arc<dyn Enricher>) -> Self {
        Enrichers { by_source: HashMap::new(), fallback }
    }

    /// Registers `enricher` for events whose `source` is `source`.
    pub fn register(&mut self, source: &str, enricher: Arc<dyn Enricher>) {
        self.by_source.insert(source.to_owned(), enricher);
    }

    /// The context for `event`, from its source's enricher.
    pub async fn context(&self, event: &Event) -> Result<Context, EnrichError> {
        let enricher = self.by_source.get(&event.source).unwrap_or(&self.fallback);
        enricher.context(event, self).await
    }

    /// The fallback's context for `event`: what an event gets that its source's enricher has
    /// nothing to add to.
    pub async fn fallback(&self, event: &Event) -> Result<Context, EnrichError> {
        self.fallback.context(event, self).await
    }
}

/// Context with only the clock: the business's local time.
#[derive(Debug, Clone)]
pub struct ClockOnly {
    /// The configured time zone.
    pub timezone: Timezone,
}

impl ClockOnly {
    /// The business clock of `[twilio] timezone` (UTC when unset).
    pub fn from_config(config: &crate::config::Config) -> Self {
        ClockOnly { timezone: config.twilio.timezone.clone().unwrap_or_else(Timezone::utc) }
    }

    /// The context every enricher starts from: the business clock, nothing looked up.
    pub fn bare(&self) -> Context {
        Context::bare(self.timezone.rfc3339(Utc::now()))
    }
}

#[async_trait]
impl Enricher for ClockOnly {
    async fn context(&self, _event: &Event, _all: &Enrichers) -> Result<Context, EnrichError> {
        Ok(self.bare())
    }
}
