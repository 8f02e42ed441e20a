//! QAD source (Adaptive ERP / EE): polled, since QAD has no push. Per tenant
//! ([`config::QadConfig`]): an OAuth password-grant session ([`session`]), at
//! most two requests in flight with jittered backoff ([`http`]), paged
//! browses ([`browse`]) read in the three-way-match order — goods receipts,
//! purchase orders, supplier invoices — into typed records ([`records`]),
//! the states that need a person turned into events with deterministic ids
//! ([`states`]), an opaque cursor for incremental reads ([`cursor`]), and one
//! cycle of it all ([`poller::QadPoller::poll`]). [`enrich`] builds the plugin
//! context (supplier phone from `supplierV2s`, responsible person);
//! [`writeback`] appends a line to the QAD record, and [`report`] writes each
//! message's outcomes, delivery statuses and replies back through it.

pub mod browse;
pub mod client;
pub mod config;
pub mod cursor;
pub mod enrich;
pub mod error;
pub mod http;
pub mod poller;
pub mod records;
pub mod report;
pub mod session;
pub mod states;
pub mod supplier;
pub mod writeback;

use std::sync::Arc;

use serde_json::json;

use self::client::QadClient;
use self::enrich::QadEnricher;
use self::poller::QadPoller;
use self::report::Reporter;
use super::{BuildError, SourceContext, SourceParts};
use crate::dispatch::enrich::ClockOnly;
use crate::server::health::{ComponentHealth, HealthCheck};

/// The `source` of QAD events.
pub const SOURCE: &str = "qad";

/// Builds the QAD source: for each `[[qad]]` tenant a poller (the poll driver runs it on the
/// tenant's schedule), its connection's health, and, when `[qad.writeback]` names targets, the
/// reporter writing message outcomes back; one enricher for every tenant's events.
pub async fn build(ctx: &SourceContext) -> Result<SourceParts, BuildError> {
    let mut parts = SourceParts::default();
    let mut clients = Vec::new();
    for tenant in &ctx.config.qad {
        let client = Arc::new(
            QadClient::new(tenant.clone(), ctx.vault.clone()).map_err(|e| BuildError::Config { message: format!("[[qad]] {}: {e}", tenant.name) })?,
        );
        parts.pollers.push(Arc::new(QadPoller::new(client.clone())));
        parts.health.push((format!("qad.{}", tenant.name), Arc::new(Connection(client.clone()))));
        if !tenant.writeback.is_empty() {
            let reporter = Reporter::new(client.clone(), ctx.store.clone(), ctx.lease.clone());
            parts.tasks.push(Box::new(move |shutdown| tokio::spawn(reporter.run(shutdown))));
        }
        clients.push(client);
    }
    if !clients.is_empty() {
        parts.enricher = Some((SOURCE, Arc::new(QadEnricher::new(clients, ClockOnly::from_config(&ctx.config)))));
    }
    Ok(parts)
}

/// A tenant's connection: broken (a 403, refused credentials, a field map that does not fit)
/// degrades the service; its events wait, webhooks keep flowing.
struct Connection(Arc<QadClient>);

impl HealthCheck for Connection {
    fn check(&self) -> ComponentHealth {
        let health = self.0.health();
        let detail = json!({
            "status": if health.broken.is_some() { "broken" } else { "ok" },
            "reason": health.broken,
            "last_success": health.last_success,
            "last_error": health.last_error.map(|(at, e)| json!({"at": at, "error": e})),
        });
        ComponentHealth { degraded: health.broken, detail }
    }
}

/// Sealed secret holding a tenant's password: `qad.<name>.password`.
pub fn password_secret(tenant: &str) -> String {
    format!("qad.{tenant}.password")
}

/// Sealed secret holding a tenant's session (tokens and their expiry, JSON): `qad.<name>.session`.
pub fn session_secret(tenant: &str) -> String {
    format!("qad.{tenant}.session")
}

/// The record id events, outbox rows and `audit --record` share:
/// `qad:{tenant}:{record}:{key}`, e.g. `qad:acme:purchase_order:PO-77`.
pub fn record_of(tenant: &str, record: records::RecordKind, key: &str) -> String {
    format!("qad:{tenant}:{record}:{key}")
}
