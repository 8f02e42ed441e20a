//! The HTTP edge: webhook receivers, health and metrics. [`router`] builds
//! the app without a socket (tests call it directly); [`serve`] runs it.

pub mod health;
pub mod oauth;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::sources::wave::oauth::WaveOAuth;
use crate::sources::wave::secrets::WebhookSecrets;
use crate::store::Store;
use crate::store::ingest::IngestQueue;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The durable store (health checks, reads).
    pub store: Arc<dyn Store>,
    /// The group-commit writer webhooks go through.
    pub ingest: Arc<IngestQueue>,
    /// Wave webhook secrets, reloaded from the store on a miss.
    pub wave_secrets: Arc<WebhookSecrets>,
    /// Allowed clock skew for Wave signatures, seconds.
    pub signature_tolerance_secs: i64,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
    /// How many plugins are loaded and enabled.
    pub plugins_loaded: usize,
    /// The Wave OAuth connection, when `[wave] client_id` is set.
    pub wave_oauth: Option<Arc<WaveOAuth>>,
    /// Twilio webhook signature settings (public URL, auth token).
    pub twilio: webhooks::twilio::TwilioWebhooks,
}

/// The application's routes. Bodies above `max_body_bytes` get 413.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/webhooks/wave", post(webhooks::wave::receive))
        .route(webhooks::twilio::STATUS_PATH, post(webhooks::twilio::status))
        .route(webhooks::twilio::INBOUND_PATH, post(webhooks::twilio::inbound))
        .route("/healthz", get(health::healthz))
        .route(crate::sources::wave::oauth::CALLBACK_PATH, get(oauth::callback))
        .route("/metrics", get(health::metrics))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the
/// requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
