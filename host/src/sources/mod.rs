//! Event sources: where events come from before they reach the [`Inbox`](crate::inbox::Inbox).
//! Push sources answer webhooks (their routes verify the sender's signature with an extractor);
//! polling sources implement [`poll::Poller`] and are driven by [`poll::PollDriver`]. A source
//! may also register an enricher for its events and report health.
//!
//! Adding a source is one folder with a `build` function returning [`SourceParts`], and one line
//! in the composition root (`app.rs`).

pub mod poll;
pub mod qad;
pub mod twilio;
pub mod wave;

use std::sync::Arc;

use axum::Router;

use crate::config::Config;
use crate::dispatch::enrich::Enricher;
use crate::inbox::Inbox;
use crate::metrics::Metrics;
use crate::secrets::Vault;
use crate::server::health::HealthCheck;
use crate::store::Store;

/// Why a source could not be set up; `serve` stops with it.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration cannot work.
    #[error("{message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A secret could not be read.
    #[error(transparent)]
    Vault(#[from] crate::secrets::VaultError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// What a source is built from.
#[derive(Clone)]
pub struct SourceContext {
    /// The whole configuration.
    pub config: Arc<Config>,
    /// The store.
    pub store: Arc<dyn Store>,
    /// Sealed secrets and the master key.
    pub vault: Vault,
    /// Where events go.
    pub inbox: Inbox,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
    /// This process's lease, for a source's own claimed work.
    pub lease: crate::store::Lease,
}

/// What a source adds to the running service.
#[derive(Default)]
pub struct SourceParts {
    /// Its HTTP routes (already carrying their state).
    pub routes: Option<Router>,
    /// Its enricher, by the source name of the events it enriches.
    pub enricher: Option<(&'static str, Arc<dyn Enricher>)>,
    /// Its pollers.
    pub pollers: Vec<Arc<dyn poll::Poller>>,
    /// Health it reports in `/healthz`, by key.
    pub health: Vec<(String, Arc<dyn HealthCheck>)>,
    /// Background work it needs while the service runs (e.g. keeping a token fresh), given the
    /// shutdown signal.
    pub tasks: Vec<Task>,
}

/// A background task: started with the shutdown signal, it returns its handle and ends when the
/// signal changes.
pub type Task = Box<dyn FnOnce(tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> + Send>;
