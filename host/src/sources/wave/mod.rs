//! The Wave source: signed webhooks in (`webhook`), OAuth 2.0 to Wave's API (`oauth`,
//! `callback`), GraphQL enrichment of every Wave event (`enrich`, `graphql`, `ids`), and the
//! reconciliation sweep for missed webhooks (`reconcile`, a poller).

pub mod callback;
pub mod enrich;
pub mod graphql;
pub mod ids;
pub mod oauth;
pub mod payload;
pub mod reconcile;
pub mod samples;
pub mod secrets;
pub mod signature;
pub mod tokens;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::json;

use self::enrich::WaveEnricher;
use self::graphql::GraphQlClient;
use self::oauth::{ConnectionStatus, OAuthSettings, WaveOAuth};
use self::reconcile::Reconciler;
use self::webhook::WaveWebhook;
use super::{BuildError, SourceContext, SourceParts};
use crate::dispatch::enrich::ClockOnly;
use crate::secrets::SecretSet;
use crate::server::health::{ComponentHealth, HealthCheck};

/// Builds the Wave source from the configuration: the webhook route always; with
/// `[wave] client_id` the OAuth callback, the enricher, the token keeper, the connection's health
/// and, with `reconcile_interval_secs`, the sweep.
pub async fn build(ctx: &SourceContext) -> Result<SourceParts, BuildError> {
    let config = &ctx.config;
    let secrets = Arc::new(SecretSet::load(ctx.vault.clone(), secrets::is_webhook_secret).await?);
    if secrets.current().is_empty() {
        tracing::warn!("No Wave webhook secret is stored: webhooks get 503 until `ml-connector secrets set wave.webhook_secret`.");
    }
    let webhook = WaveWebhook { inbox: ctx.inbox.clone(), secrets, tolerance_secs: i64::from(config.wave.signature_tolerance_secs), metrics: ctx.metrics.clone() };
    let oauth = match (OAuthSettings::from_config(config), ctx.vault.key()) {
        (Some(settings), Some(_)) => Some(Arc::new(WaveOAuth::new(settings, ctx.vault.clone()).await.map_err(|e| BuildError::Config { message: format!("cannot set up Wave OAuth: {e}") })?)),
        (Some(_), None) => {
            tracing::warn!("[wave] client_id is set but no master key is: Wave OAuth is off.");
            None
        }
        (None, _) => None,
    };
    let mut parts = SourceParts {
        routes: Some(
            Router::new()
                .route(webhook::PATH, post(webhook::receive))
                .with_state(Arc::new(webhook))
                .merge(Router::new().route(oauth::CALLBACK_PATH, get(callback::callback)).with_state(oauth.clone())),
        ),
        ..SourceParts::default()
    };
    let Some(oauth) = oauth else { return Ok(parts) };
    match oauth.status() {
        ConnectionStatus::NotConnected => tracing::warn!("Wave is not connected: events get no Wave lookups until `ml-connector wave connect` completes."),
        ConnectionStatus::Broken { reason } => tracing::error!(reason, "Wave connection is broken: events wait until `ml-connector wave connect` repairs it."),
        ConnectionStatus::Connected { .. } => {}
    }
    let region = enrich::region(&config.twilio.default_region)
        .ok_or_else(|| BuildError::Config { message: format!("twilio.default_region {:?} is not a known region", config.twilio.default_region) })?;
    let client = Arc::new(GraphQlClient::new(config.wave.graphql_url.clone(), oauth.clone()).map_err(|e| BuildError::Config { message: e.to_string() })?);
    let enricher = WaveEnricher::new(client.clone(), oauth.clone(), ClockOnly::from_config(config), region, config.wave.business_id.clone());
    parts.enricher = Some((payload::SOURCE, Arc::new(enricher)));
    parts.health.push(("wave".into(), Arc::new(Connection(oauth.clone()))));
    let keeper = oauth.clone();
    parts.tasks.push(Box::new(move |shutdown| tokio::spawn(keeper.keep_fresh(Duration::from_secs(60), shutdown))));
    if let Some(secs) = config.wave.reconcile_interval_secs {
        let reconciler = Reconciler::new(client, ctx.store.clone(), config.wave.business_id.clone(), Duration::from_secs(secs));
        parts.pollers.push(Arc::new(reconciler));
    }
    Ok(parts)
}

/// The Wave connection's health: broken degrades the service (events wait for a reconnect).
struct Connection(Arc<WaveOAuth>);

impl HealthCheck for Connection {
    fn check(&self) -> ComponentHealth {
        let status = self.0.status();
        let degraded = match &status {
            ConnectionStatus::Broken { reason } => Some(reason.clone()),
            _ => None,
        };
        ComponentHealth { degraded, detail: serde_json::to_value(&status).unwrap_or_else(|_| json!({})) }
    }
}
