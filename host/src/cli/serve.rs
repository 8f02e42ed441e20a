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
    app.run(listener, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("Shutdown requested.");
}
