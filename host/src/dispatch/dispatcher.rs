//! The dispatcher: leases pending events, builds their context, runs the subscribed plugins,
//! checks their messages with the sinks that will send them and against each plugin's grants
//! (what it may address), and commits the outbox rows in the
//! same transaction that marks each event dispatched. The sink drivers are woken after a commit
//! that wrote messages. During a burst of webhooks it yields to their acknowledgement (see
//! [`Dispatcher::yielding_to`]), at most 5 s behind.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, watch};

use crate::dispatch::enrich::{EnrichError, Enrichers};
use crate::dispatch::{check_bodies, check_grants, new_message, plugin_event, run_plugins};
use crate::inbox::IngestPressure;
use crate::metrics::{Metrics, PluginLabel};
use crate::model::{Action, Channel, Context, Event};
use crate::runtime::Plugin;
use crate::sinks::Sinks;
use crate::store::{CustomerNumbers, DispatchResult, InboxStore, Lease, NewRun, PluginFailure, RecordedContext, StoreError};

/// Events claimed and committed at once. The store group-commits them with the webhooks being
/// acknowledged, so a batch costs no fsync of its own, but the webhooks of that group commit wait
/// while it is written: small batches keep that wait short.
const BATCH: usize = 64;
/// Events claimed at once while webhooks queue up behind the store's writer: fewer, larger
/// batches cost less per event (claims, commits).
const BATCH_UNDER_PRESSURE: usize = 256;
/// While webhooks queue up behind the store's writer, the dispatcher rests between batches, so
/// the webhooks get the CPU and the writer while a burst lasts, but only while the events it
/// leaves waiting are younger than this: past it, it dispatches at full speed again. A burst is
/// dispatched when it ends; a sustained load is dispatched as it comes, about this far behind.
const MAX_LAG: Duration = Duration::from_secs(5);
/// A rest ends when the pressure is gone or the lag reached; both are checked this often.
const REST_STEP: Duration = Duration::from_millis(10);
/// After a wake-up, let a burst accumulate this long so it is dispatched in a few large
/// transactions rather than many small ones.
const LINGER: Duration = Duration::from_millis(20);
/// With nothing to do, look again this often even without a wake-up (events stored by another
/// process, leases run out).
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
    store: Arc<dyn InboxStore>,
    plugins: std::sync::RwLock<Arc<Vec<Plugin>>>,
    enrichers: Arc<Enrichers>,
    sinks: Sinks,
    metrics: Arc<Metrics>,
    lease: Lease,
    outbox_wake: Arc<Notify>,
    /// The inbox's pressure, when the dispatcher yields to ingest.
    ingest: Option<IngestPressure>,
}

impl Dispatcher {
    /// A dispatcher over `plugins` (only the enabled ones), claiming with `lease`, checking
    /// message bodies with `sinks`, waking `outbox_wake` after committing messages.
    pub fn new(
        store: Arc<dyn InboxStore>,
        plugins: Arc<Vec<Plugin>>,
        enrichers: Arc<Enrichers>,
        sinks: Sinks,
        metrics: Arc<Metrics>,
        lease: Lease,
        outbox_wake: Arc<Notify>,
    ) -> Self {
        Dispatcher { store, plugins: std::sync::RwLock::new(plugins), enrichers, sinks, metrics, lease, outbox_wake, ingest: None }
    }

    /// The same dispatcher, yielding to ingest: while webhooks queue up behind the store's
    /// writer (`pressure`, from the inbox), it claims larger batches and rests between them.
    /// Nothing is skipped: events wait in the store a little longer during a burst.
    pub fn yielding_to(mut self, pressure: IngestPressure) -> Self {
        self.ingest = Some(pressure);
        self
    }

    /// How long webhooks have been queueing up behind the store's writer, if they are.
    fn burst_age(&self) -> Option<Duration> {
        self.ingest.as_ref().and_then(IngestPressure::burst_age)
    }

    /// Whether webhooks are queueing up behind the store's writer.
    fn under_pressure(&self) -> bool {
        self.burst_age().is_some()
    }

    /// Before claiming: while webhooks queue up, waits until they stop or the burst is
    /// [`MAX_LAG`] old (the events it brought are no older than the burst).
    async fn wait_out_burst(&self) {
        self.rest_while_burst(|age| age).await;
    }

    /// After a batch whose newest event was received at `newest`: while webhooks queue up,
    /// waits until they stop or that event is [`MAX_LAG`] old (the events still pending are
    /// newer, so none waits longer than that because of the rest).
    async fn rest_under_pressure(&self, newest: DateTime<Utc>) {
        self.rest_while_burst(|_| (Utc::now() - newest).to_std().unwrap_or_default()).await;
    }

    /// Rests in [`REST_STEP`]s while webhooks queue up, until `lag` (given the burst's age)
    /// reaches [`MAX_LAG`].
    async fn rest_while_burst(&self, lag: impl Fn(Duration) -> Duration) {
        while let Some(age) = self.burst_age() {
            let Some(left) = MAX_LAG.checked_sub(lag(age)).filter(|d| !d.is_zero()) else { break };
            tokio::time::sleep(left.min(REST_STEP)).await;
        }
    }

    /// The plugins it runs.
    pub fn plugins(&self) -> Arc<Vec<Plugin>> {
        self.plugins.read().expect("plugins lock").clone()
    }

    /// Runs `plugins` from the next batch on; the batch in progress finishes on the set it
    /// started with.
    pub fn replace_plugins(&self, plugins: Arc<Vec<Plugin>>) {
        *self.plugins.write().expect("plugins lock") = plugins;
    }

    /// Dispatches pending events until none is left; returns how many. Each claimed batch is
    /// committed in one transaction, so a burst of events costs one fsync per batch.
    pub async fn dispatch_pending(self: &Arc<Self>) -> Result<usize, DispatchError> {
        let mut done = 0;
        self.wait_out_burst().await;
        loop {
            let limit = if self.under_pressure() { BATCH_UNDER_PRESSURE } else { BATCH };
            let batch = self.store.claim_events(&self.lease, limit).await?;
            if batch.is_empty() {
                return Ok(done);
            }
            let mut ready = Vec::with_capacity(batch.len());
            let mut waiting = None;
            for (i, stored) in batch.iter().enumerate() {
                let event = plugin_event(stored);
                match self.enrichers.context(&event).await {
                    Ok(context) => ready.push((event, context, stored.received_at)),
                    // Commit what was decided; this event and the rest wait.
                    Err(e) => {
                        waiting = Some((i, e));
                        break;
                    }
                }
            }
            if let Some((i, _)) = &waiting {
                self.store.release_events(&self.lease, batch[*i..].iter().map(|e| e.id.clone()).collect()).await?;
            }
            let (this, plugins) = (self.clone(), self.plugins());
            let decided = tokio::task::spawn_blocking(move || {
                ready.into_iter().map(|(event, context, received_at)| (this.decide(&plugins, &event, &context), event, received_at)).collect::<Vec<_>>()
            })
            .await
            .map_err(|e| StoreError::backend("run plugins", e))?;
            let messages: usize = decided.iter().map(|(r, _, _)| r.messages.len()).sum();
            let commits = decided.iter().map(|(r, e, _)| (e.id.clone(), r.clone())).collect();
            let lost = self.store.complete_dispatches(&self.lease, commits).await?;
            for id in &lost {
                tracing::warn!(event_id = %id, "Event was taken over by another dispatcher (lease expired); its result here is dropped.");
            }
            if messages > 0 {
                self.outbox_wake.notify_one();
            }
            for (result, event, received_at) in &decided {
                let latency = (Utc::now() - *received_at).to_std().unwrap_or_default();
                self.metrics.dispatch_latency.observe(latency.as_secs_f64());
                tracing::debug!(event_id = %event.id, kind = %event.kind, messages = result.messages.len(), failures = result.failures.len(), "Event dispatched.");
            }
            done += decided.len() - lost.len();
            if let Some((_, e)) = waiting {
                return Err(e.into());
            }
            if let Some(newest) = decided.iter().map(|(_, _, received_at)| *received_at).max() {
                self.rest_under_pressure(newest).await;
            }
        }
    }

    /// Runs every plugin of `plugins` subscribed to the event: what to commit for it. Blocking
    /// (wasm).
    fn decide(&self, plugins: &[Plugin], event: &Event, context: &Context) -> DispatchResult {
        let mut result = DispatchResult::default();
        // Kept with the outbox rows: the sender resolves the `customer` recipient from them.
        if let Some(c) = &context.customer {
            result.customer = CustomerNumbers { mobile: c.mobile.clone(), phone: c.phone.clone() };
        }
        // And the business's time zone, which the sink driver reads quiet hours in.
        result.timezone = context.timezone.clone();
        // What the plugins saw, recorded with what each decided (replays, shadow runs).
        match serde_json::to_string(context) {
            Ok(json) => result.context = Some(RecordedContext::new(json)),
            Err(e) => tracing::warn!(event_id = %event.id, error = %e, "Context not recorded: it does not serialize."),
        }
        for run in run_plugins(plugins, event, context) {
            let plugin = run.plugin.name().to_string();
            let digest = run.plugin.digest().to_owned();
            let label = PluginLabel { plugin: plugin.clone() };
            self.metrics.plugin_invocations.get_or_create(&label).inc();
            let checked = run
                .outcome
                .map_err(|e| e.cause)
                .and_then(|invocation| check_bodies(invocation.actions, |channel, body| self.sinks.check_body(channel, body)))
                .and_then(|actions| check_grants(actions, run.plugin.grants()))
                .map_err(|cause| cause.to_string());
            let recorded = match &checked {
                Ok(actions) => serde_json::to_string(actions).map_err(|e| format!("actions not recorded: {e}")),
                Err(cause) => Err(cause.clone()),
            };
            result.runs.push(NewRun { plugin: plugin.clone(), digest, outcome: recorded });
            match checked {
                Ok(actions) => {
                    for action in actions {
                        match action {
                            Action::Sms(m) => result.messages.push(new_message(&plugin, Channel::Sms, m)),
                            Action::Call(m) => result.messages.push(new_message(&plugin, Channel::Call, m)),
                            Action::Cancel { prefix } => result.cancels.push((plugin.clone(), prefix)),
                        }
                    }
                }
                Err(cause) => {
                    self.metrics.plugin_failures.get_or_create(&label).inc();
                    result.failures.push(PluginFailure { plugin, cause });
                }
            }
        }
        result
    }

    /// Dispatches whenever `wake` fires (and every few seconds regardless) until `shutdown` turns
    /// true; the batch in progress is finished first.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
        // A cause is logged once when it starts, not on every retry round.
        let mut paused_by: Option<String> = None;
        while !*shutdown.borrow() {
            let pause = match self.dispatch_pending().await {
                Ok(_) => {
                    if paused_by.take().is_some() {
                        tracing::info!("Dispatch resumed.");
                    }
                    IDLE_POLL
                }
                Err(e) => {
                    let cause = e.to_string();
                    if paused_by.as_deref() == Some(cause.as_str()) {
                        tracing::debug!(error = %cause, "Dispatch still paused.");
                    } else {
                        tracing::warn!(error = %cause, "Dispatch paused; pending events wait in the store.");
                    }
                    paused_by = Some(cause);
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
