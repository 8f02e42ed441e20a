//! The dispatcher: claims stored events, builds their context, runs the
//! subscribed plugins and commits the resulting outbox rows in the same
//! transaction that marks the event dispatched.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use crate::dispatch::enrich::{EnrichError, Enricher};
use crate::dispatch::{plugin_event, run_plugins};
use crate::metrics::{Metrics, PluginLabel};
use crate::runtime::Plugin;
use crate::model::Action;
use crate::model::Channel;
use crate::store::{CustomerNumbers, DispatchResult, NewMessage, PluginFailure, Store, StoreError, StoredEvent};

/// Events claimed and committed per transaction: each commit is an fsync
/// that the webhook receiver's commits wait behind, so fewer is better.
const BATCH: usize = 512;
/// After a wake-up, let a burst accumulate this long so it is dispatched in
/// a few large transactions rather than many small ones.
const LINGER: Duration = Duration::from_millis(20);
/// With nothing to do, look again this often even without a wake-up.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// After a store or enrichment failure, wait this long before retrying.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Why a dispatch round stopped early; the events stay pending.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The context could not be built.
    #[error(transparent)]
    Enrich(#[from] EnrichError),
}

/// Runs plugins over stored events.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    plugins: Arc<Vec<Plugin>>,
    enricher: Arc<dyn Enricher>,
    metrics: Arc<Metrics>,
}

impl Dispatcher {
    /// A dispatcher over `plugins` (only the enabled ones).
    pub fn new(store: Arc<dyn Store>, plugins: Arc<Vec<Plugin>>, enricher: Arc<dyn Enricher>, metrics: Arc<Metrics>) -> Self {
        Dispatcher { store, plugins, enricher, metrics }
    }

    /// Dispatches pending events until none is left; returns how many. Blocking.
    /// Each claimed batch is committed in one transaction, so a burst of events
    /// costs one fsync per batch rather than one per event.
    pub fn dispatch_pending(&self) -> Result<usize, DispatchError> {
        let mut done = 0;
        loop {
            let batch = self.store.claim_pending_events(BATCH)?;
            if batch.is_empty() {
                return Ok(done);
            }
            let mut results = Vec::with_capacity(batch.len());
            let mut waiting = None;
            for event in &batch {
                match self.decide(event) {
                    Ok(result) => results.push((event, result)),
                    // Commit what was decided; this event and the rest wait.
                    Err(e) => {
                        waiting = Some(e);
                        break;
                    }
                }
            }
            let commits: Vec<(&str, &DispatchResult)> = results.iter().map(|(e, r)| (e.id.as_str(), r)).collect();
            if !commits.is_empty() {
                self.store.complete_dispatches(&commits)?;
            }
            for (event, result) in &results {
                let latency = (Utc::now() - event.received_at).to_std().unwrap_or_default();
                self.metrics.dispatch_latency.observe(latency.as_secs_f64());
                tracing::debug!(event_id = %event.id, kind = %event.kind, messages = result.messages.len(), failures = result.failures.len(), "Event dispatched.");
            }
            done += results.len();
            if let Some(e) = waiting {
                return Err(e.into());
            }
        }
    }

    /// Runs every subscribed plugin on one event: what to commit for it.
    pub fn decide(&self, stored: &StoredEvent) -> Result<DispatchResult, EnrichError> {
        let event = plugin_event(stored);
        let context = self.enricher.context(&event)?;
        let mut result = DispatchResult::default();
        // Kept with the outbox rows: the sender resolves the `customer` recipient from them.
        if let Some(c) = &context.customer {
            result.customer = CustomerNumbers { mobile: c.mobile.clone(), phone: c.phone.clone() };
        }
        // And the business's time zone, which the sender reads quiet hours in.
        result.timezone = context.timezone.clone();
        for run in run_plugins(&self.plugins, &event, &context) {
            let plugin = run.plugin.name().to_string();
            let label = PluginLabel { plugin: plugin.clone() };
            self.metrics.plugin_invocations.get_or_create(&label).inc();
            match run.outcome {
                Ok(invocation) => {
                    for action in invocation.actions {
                        match action {
                            Action::Sms(m) => result.messages.push(message(&plugin, Channel::Sms, m)),
                            Action::Call(m) => result.messages.push(message(&plugin, Channel::Call, m)),
                            Action::Cancel { prefix } => result.cancels.push((plugin.clone(), prefix)),
                        }
                    }
                }
                Err(e) => {
                    self.metrics.plugin_failures.get_or_create(&label).inc();
                    result.failures.push(PluginFailure { plugin, cause: e.cause.to_string() });
                }
            }
        }
        Ok(result)
    }

    /// Dispatches whenever `wake` fires (and every few seconds regardless)
    /// until `shutdown` turns true; the batch in progress is finished first.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        // A cause is logged once when it starts, not on every retry round.
        let mut paused_by: Option<String> = None;
        while !*shutdown.borrow() {
            let this = self.clone();
            let pause = match tokio::task::spawn_blocking(move || this.dispatch_pending()).await {
                Ok(Ok(_)) => {
                    if paused_by.take().is_some() {
                        tracing::info!("Dispatch resumed.");
                    }
                    IDLE_POLL
                }
                Ok(Err(e)) => {
                    let cause = e.to_string();
                    if paused_by.as_deref() == Some(cause.as_str()) {
                        tracing::debug!(error = %cause, "Dispatch still paused.");
                    } else {
                        tracing::warn!(error = %cause, "Dispatch paused; pending events wait in the store.");
                    }
                    paused_by = Some(cause);
                    RETRY_AFTER
                }
                Err(e) => {
                    tracing::error!(error = %e, "Dispatch round panicked; pending events wait in the store.");
                    RETRY_AFTER
                }
            };
            tokio::select! {
                _ = wake.notified() => tokio::time::sleep(LINGER).await,
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

fn message(plugin: &str, channel: Channel, m: crate::model::Message) -> NewMessage {
    NewMessage {
        plugin: plugin.to_string(),
        key: m.key,
        channel,
        to: m.to,
        body: m.body,
        // Already checked to be RFC 3339 by the runtime's output limits.
        not_before: m.not_before.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc)),
    }
}
