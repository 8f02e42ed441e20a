//! The composition root (Vector's topology): [`App::build`] assembles every stage from the
//! configuration (store, inbox, sources, enrichers, dispatcher, sinks, router) and
//! [`App::run`] runs them until shutdown. Nothing else wires stages together; the CLI only calls
//! this.
//!
//! ```text
//! sources (push routes, pollers) ──► Inbox ──► store ──► Dispatcher (enrichers, plugins) ──► outbox ──► SinkDriver ──► Sink
//! ```

pub mod plugins;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

use crate::config::Config;
use crate::dispatch::dispatcher::Dispatcher;
use crate::dispatch::enrich::{ClockOnly, Enrichers};
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use crate::runtime::Plugin;
use crate::secrets::{MasterKey, Vault};
use crate::server::health::{ComponentHealth, HealthCheck, HealthState};
use crate::sinks::driver::{DriverSettings, SinkDriver};
use crate::sinks::{Sink, Sinks};
use crate::sources::poll::{PollDriver, PollHealth};
use crate::sources::{BuildError, SourceContext, SourceParts};
use crate::store::{Lease, Store, StoreError};

/// How long stopping waits for the dispatcher and each sink to finish what they hold.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the service could not be built or run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A source could not be set up.
    #[error(transparent)]
    Source(#[from] BuildError),
    /// The plugins could not be loaded.
    #[error(transparent)]
    Plugins(#[from] plugins::PluginsError),
    /// The store holds sealed secrets but no master key was given.
    #[error("the store at {location} holds encrypted secrets but no master key is set: set ML_CONNECTOR_MASTER_KEY or [secrets] master_key_file")]
    NoMasterKey {
        /// Where the store is.
        location: String,
    },
    /// Listening or serving failed.
    #[error("cannot serve on {listen}: {cause}")]
    Serve {
        /// The address.
        listen: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A task did not stop in time.
    #[error("the {0} did not stop within 30 s")]
    Stuck(&'static str),
}

/// Every stage of the service, wired, not yet running.
pub struct App {
    config: Arc<Config>,
    router: Router,
    dispatcher: Arc<Dispatcher>,
    sinks: Vec<Arc<SinkDriver>>,
    pollers: Vec<PollDriver>,
    tasks: Vec<crate::sources::Task>,
    events_wake: Arc<Notify>,
    _inbox: Inbox,
}

impl App {
    /// Builds everything `config` describes on `store`, with `key` opening its secrets. Must run
    /// inside a tokio runtime (the inbox's writer starts at once).
    pub async fn build(config: Config, store: Arc<dyn Store>, key: Option<Arc<MasterKey>>) -> Result<App, AppError> {
        let config = Arc::new(config);
        if key.is_none() && store.has_secrets().await? {
            return Err(AppError::NoMasterKey { location: store.location() });
        }
        let metrics = Arc::new(Metrics::default());
        let vault = Vault::new(store.clone(), key);
        let lease = Lease::for_process(Duration::from_secs(config.store.lease_secs));
        let (events_wake, outbox_wake) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let inbox = Inbox::start(store.clone(), config.server.ingest_queue, events_wake.clone());
        store.watch(crate::store::Wakes { events: events_wake.clone(), outbox: outbox_wake.clone() });
        let installed = plugins::installed(&*store).await?;
        let plugins = Arc::new(plugins::load_blocking(&config, installed.clone()).await?);
        if config.twilio.mode == crate::config::TwilioMode::DryRun {
            tracing::info!("Twilio is in dry-run mode: messages are recorded, not sent.");
        }

        let ctx = SourceContext {
            config: config.clone(),
            store: store.clone(),
            vault: vault.clone(),
            inbox: inbox.clone(),
            metrics: metrics.clone(),
            lease: lease.clone(),
        };
        let sources: Vec<SourceParts> = vec![
            crate::sources::wave::build(&ctx).await?,
            crate::sources::twilio::build(&ctx).await?,
            crate::sources::qad::build(&ctx).await?,
        ];

        let mut sinks = Sinks::default();
        sinks.register(Arc::new(crate::sinks::twilio::build(&config, store.clone(), &vault).await?) as Arc<dyn Sink>);

        let mut enrichers = Enrichers::new(Arc::new(ClockOnly::from_config(&config)));
        let mut routes = Vec::new();
        let mut checks: Vec<(String, Arc<dyn HealthCheck>)> = Vec::new();
        let mut pollers = Vec::new();
        let mut tasks = Vec::new();
        for parts in sources {
            routes.extend(parts.routes);
            if let Some((source, enricher)) = parts.enricher {
                enrichers.register(source, enricher);
            }
            checks.extend(parts.health);
            tasks.extend(parts.tasks);
            for poller in parts.pollers {
                let driver = PollDriver::new(poller, inbox.clone(), store.clone(), lease.clone(), metrics.clone());
                checks.push((format!("sources.{}", driver.name()), Arc::new(Polling(driver.health()))));
                pollers.push(driver);
            }
        }
        tasks.push(prune_runs(store.clone(), config.store.run_retention_days));
        let drivers = sinks
            .all()
            .iter()
            .map(|sink| Arc::new(SinkDriver::new(sink.clone(), store.clone(), lease.clone(), DriverSettings::from_config(&config), outbox_wake.clone())))
            .collect();
        let dispatcher = Arc::new(
            Dispatcher::new(store.clone(), plugins.clone(), Arc::new(enrichers), sinks, metrics.clone(), lease, outbox_wake).yielding_to(inbox.pressure()),
        );
        let plugins_loaded = Arc::new(std::sync::atomic::AtomicUsize::new(plugins.len()));
        tasks.push(plugins::watch(config.clone(), store.clone(), dispatcher.clone(), plugins_loaded.clone(), installed));
        let health = HealthState { store, plugins_loaded, checks: Arc::new(checks), metrics };
        routes.extend(crate::console::routes(&config, &health, &vault, &dispatcher));
        let router = crate::server::router(routes, health, &config.server);
        Ok(App { config, router, dispatcher, sinks: drivers, pollers, tasks, events_wake, _inbox: inbox })
    }

    /// The HTTP routes (for tests that call them without a socket).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The loaded plugins.
    pub fn plugins(&self) -> Arc<Vec<Plugin>> {
        self.dispatcher.plugins()
    }

    /// Serves on `listener` and runs every stage until `shutdown` resolves; then stops accepting,
    /// finishes in-flight requests, the dispatch batch and the messages in progress.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), AppError> {
        let listen = listener.local_addr().map_or_else(|_| self.config.server.listen.to_string(), |a| a.to_string());
        tracing::info!(public_url = %self.config.server.resolved_public_url(), "Listening on http://{listen}");
        let (stop_tx, stop_rx) = watch::channel(false);
        for task in self.tasks {
            task(stop_rx.clone());
        }
        let pollers: Vec<_> = self.pollers.into_iter().map(|p| tokio::spawn(p.run(stop_rx.clone()))).collect();
        let sending: Vec<_> = self.sinks.into_iter().map(|d| tokio::spawn(d.run(stop_rx.clone()))).collect();
        let dispatching = tokio::spawn(self.dispatcher.run(self.events_wake, stop_rx));
        crate::server::serve(listener, self.router, Duration::from_millis(self.config.server.request_timeout_ms), shutdown).await.map_err(|cause| AppError::Serve { listen, cause })?;
        tracing::info!("Stopped accepting; finishing the dispatch in progress.");
        stop_tx.send(true).ok();
        tokio::time::timeout(STOP_TIMEOUT, dispatching).await.map_err(|_| AppError::Stuck("dispatcher"))?.ok();
        for task in sending {
            tokio::time::timeout(STOP_TIMEOUT, task).await.map_err(|_| AppError::Stuck("sender"))?.ok();
        }
        for task in pollers {
            tokio::time::timeout(STOP_TIMEOUT, task).await.map_err(|_| AppError::Stuck("poller"))?.ok();
        }
        tracing::info!("Stopped.");
        Ok(())
    }
}

/// Deletes recorded plugin runs older than `days` every hour, the first time a minute after
/// the start.
fn prune_runs(store: Arc<dyn Store>, days: u64) -> crate::sources::Task {
    Box::new(move |mut stop| {
        tokio::spawn(async move {
            let mut every = tokio::time::interval_at(tokio::time::Instant::now() + Duration::from_secs(60), Duration::from_secs(3600));
            loop {
                tokio::select! {
                    _ = every.tick() => {}
                    _ = stop.changed() => return,
                }
                // A retention longer than the calendar reaches keeps everything.
                let Some(before) = i64::try_from(days).ok().and_then(chrono::TimeDelta::try_days).and_then(|d| chrono::Utc::now().checked_sub_signed(d)) else {
                    continue;
                };
                match store.prune_runs(before).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, days, "Pruned old plugin runs."),
                    Err(e) => tracing::warn!(error = %e, "Could not prune old plugin runs; trying again in an hour."),
                }
            }
        })
    })
}

/// A poller's health: a broken source degrades the service.
struct Polling(Arc<Mutex<PollHealth>>);

impl HealthCheck for Polling {
    fn check(&self) -> ComponentHealth {
        let health = self.0.lock().expect("poll health lock").clone();
        let degraded = (health.status == "broken").then(|| health.last_error.clone().unwrap_or_default());
        ComponentHealth { degraded, detail: serde_json::to_value(&health).unwrap_or_else(|_| json!({})) }
    }
}
