//! `ml-connector serve`: assemble store, secrets, plugins, dispatcher and
//! HTTP server from the configuration, run until SIGTERM/Ctrl-C, then stop
//! accepting, finish in-flight requests and the dispatch batch, and exit.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::cli::common;
use crate::config::Config;
use crate::plugin_plan::{self, PlannedSource};
use crate::dispatch::dispatcher::Dispatcher;
use crate::dispatch::enrich::{Enricher, EventOnly};
use crate::sources::twilio::replies::ReplyEnricher;
use crate::metrics::Metrics;
use crate::runtime::{Plugin, Runtime, RuntimeOptions};
use crate::secrets::MASTER_KEY_ENV;
use crate::server::{self, AppState};
use crate::sources::wave::secrets::WebhookSecrets;
use crate::store::ingest::IngestQueue;

/// Webhooks queued for the group-commit writer before submitters wait.
const INGEST_QUEUE: usize = 8192;

/// The Twilio webhook settings: the public URL and the secret `twilio.auth_token`, which Twilio
/// signs webhooks with even when the sender authenticates with an API key.
fn twilio_webhooks(
    config: &Config,
    store: &Arc<dyn crate::store::Store>,
    key: Option<&crate::secrets::MasterKey>,
) -> anyhow::Result<server::webhooks::twilio::TwilioWebhooks> {
    let name = crate::secrets::TWILIO_AUTH_TOKEN;
    let auth_token = match (store.get_secret(name)?, key) {
        (Some(sealed), Some(key)) => Some(Arc::new(key.open(name, &sealed).with_context(|| format!("cannot open the secret {name}"))?)),
        _ => None,
    };
    if auth_token.is_none() {
        tracing::warn!("No {name} is stored: Twilio webhooks get 503 until `ml-connector secrets set {name}`.");
    }
    Ok(server::webhooks::twilio::TwilioWebhooks {
        public_url: config.server.resolved_public_url().trim_end_matches('/').to_owned(),
        auth_token,
    })
}

/// Runs the service.
pub fn run(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = common::load_config(config_path)?;
    let store = common::open_store(&config)?;
    let key = common::master_key(&config)?.map(Arc::new);
    if key.is_none() && store.has_secrets()? {
        bail!(
            "the store at {} holds encrypted secrets but no master key is set: set {MASTER_KEY_ENV} or [secrets] master_key_file",
            config.store.path.display()
        );
    }
    let sender = Arc::new(crate::cli::messages::build_sender(&config, store.clone(), key.as_deref())?);
    let wave_secrets = WebhookSecrets::load(store.clone(), key.clone()).context("cannot load the Wave webhook secrets")?;
    if wave_secrets.count() == 0 {
        tracing::warn!("No Wave webhook secret is stored: webhooks get 503 until `ml-connector secrets set wave.webhook_secret`.");
    }
    let plugins = Arc::new(load_plugins(&config)?);
    if config.twilio.mode == crate::config::TwilioMode::DryRun {
        tracing::info!("Twilio is in dry-run mode: messages are recorded, not sent.");
    }

    let metrics = Arc::new(Metrics::default());
    let ingest = Arc::new(IngestQueue::start(store.clone(), INGEST_QUEUE)?);
    let timezone = config.twilio.timezone.clone().unwrap_or_else(crate::timezone::Timezone::utc);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let wave = super::wave::serve_parts(&config, &store, key.as_ref(), runtime.handle(), timezone.clone())?;
    let enricher: Arc<dyn Enricher> = match &wave.enricher {
        Some(enricher) => enricher.clone(),
        None => Arc::new(EventOnly { timezone }),
    };
    let enricher = Arc::new(ReplyEnricher::new(enricher, store.clone()));
    let dispatcher = Arc::new(Dispatcher::new(store.clone(), plugins.clone(), enricher, metrics.clone()));
    let twilio = twilio_webhooks(&config, &store, key.as_deref())?;
    let state = AppState {
        store,
        ingest: ingest.clone(),
        wave_secrets: Arc::new(wave_secrets),
        signature_tolerance_secs: i64::from(config.wave.signature_tolerance_secs),
        metrics,
        plugins_loaded: plugins.len(),
        wave_oauth: wave.oauth.clone(),
        twilio,
    };
    let app = server::router(state, config.server.max_body_bytes);

    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let addr = listener.local_addr()?;
        let shutdown = shutdown_signal().context("cannot handle SIGTERM and SIGINT")?;
        tracing::info!(public_url = %config.server.resolved_public_url(), "Listening on http://{addr}");
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        if let (Some(oauth), Some(_)) = (&wave.oauth, &wave.enricher) {
            tokio::spawn(oauth.clone().keep_fresh(Duration::from_secs(60), stop_rx.clone()));
        }
        if let Some((reconciler, interval)) = wave.reconciler {
            tokio::spawn(reconciler.run(interval, ingest.wake_handle(), stop_rx.clone()));
        }
        let sending = tokio::spawn(sender.run(stop_rx.clone()));
        let dispatching = tokio::spawn(dispatcher.run(ingest.wake_handle(), stop_rx));
        server::serve(listener, app, shutdown).await?;
        tracing::info!("Stopped accepting; finishing the dispatch in progress.");
        stop_tx.send(true).ok();
        tokio::time::timeout(Duration::from_secs(30), dispatching)
            .await
            .context("the dispatcher did not stop within 30 s")??;
        tokio::time::timeout(Duration::from_secs(30), sending)
            .await
            .context("the Twilio sender did not stop within 30 s")??;
        tracing::info!("Stopped.");
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The plugins the configuration runs ([`plugin_plan::plan`]), loaded; each one loaded or left
/// out is logged with the reason.
pub(super) fn load_plugins(config: &Config) -> anyhow::Result<Vec<Plugin>> {
    let runtime = Runtime::new(&RuntimeOptions { cache_dir: Some(config.store.resolved_cache_dir()), ..RuntimeOptions::default() })?;
    let mut plugins = Vec::new();
    for planned in plugin_plan::plan(config)? {
        if !planned.enabled {
            tracing::info!(plugin = %planned.name, why = %planned.why, "Plugin not loaded.");
            continue;
        }
        // A file plugin's errors name the config file and key that listed it.
        let at = || format!("{}: `{}.path`", config.file.display(), planned.key.as_deref().unwrap_or("plugins"));
        let plugin = match &planned.source {
            PlannedSource::Builtin(b) => runtime.load(b.name, b.wasm, planned.limits, planned.settings.clone())?,
            PlannedSource::File(path) => {
                let wasm = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: cannot read plugin {}: {e}", at(), path.display()))?;
                runtime.load(&planned.name, &wasm, planned.limits, planned.settings.clone()).with_context(at)?
            }
        };
        tracing::info!(plugin = plugin.name(), why = %planned.why, subscribes = %plugin.manifest().subscribes.join(","), "Plugin loaded.");
        plugins.push(plugin);
    }
    Ok(plugins)
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT). The handlers are registered when this is called, not
/// when the future is first polled, so a signal sent as soon as "Listening" is logged is caught.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        tracing::info!("Shutdown requested.");
    })
}
