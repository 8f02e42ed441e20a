//! `ml-connector serve`: opens the store, builds the [`App`] from the configuration, and runs it
//! until SIGTERM or Ctrl-C; then stops accepting, finishes in-flight requests, the dispatch
//! batch and the messages in progress, and exits.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;

use super::common::{load_config, master_key, open_store};
use crate::app::App;

/// Runs the service.
pub async fn run(config_path: Option<&Path>) -> anyhow::Result<ExitCode> {
    let config = load_config(config_path)?;
    let store = open_store(&config)?;
    let key = master_key(&config)?.map(Arc::new);
    let listen = config.server.listen;
    let app = App::build(config, store, key).await?;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let shutdown = shutdown_signal().context("cannot handle SIGTERM and SIGINT")?;
    app.run(listener, shutdown).await?;
    Ok(ExitCode::SUCCESS)
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
