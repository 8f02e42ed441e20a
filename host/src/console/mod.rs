//! The web console under `/console`, served by `serve` on its own listener: an overview
//! (messages per hour as server-rendered SVG, queue depth, last failures, `/healthz`'s state),
//! messages, events and plugins, and replay forms. Pages are compiled `maud` templates (every
//! interpolated value is escaped), the CSS is embedded, and nothing needs JavaScript: the
//! Content-Security-Policy allows no script at all.
//!
//! It is on by default only when `serve` listens on a loopback address, otherwise only with
//! `[console] enabled = true`; every page but sign-in needs a session ([`auth`]).

pub mod auth;
mod events;
mod layout;
mod messages;
mod overview;
mod plugins;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use crate::config::Config;
use crate::secrets::Vault;
use crate::server::health::HealthState;
use crate::store::Store;

/// What every page may send and load: no script, styles and images from the console itself.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `[console]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console. Unset: only when `[server] listen` is a loopback address.
    pub enabled: Option<bool>,
}

impl ConsoleConfig {
    /// Whether `config` serves the console.
    pub fn is_on(config: &Config) -> bool {
        config.console.enabled.unwrap_or_else(|| config.server.listen.ip().is_loopback())
    }
}

/// What the pages read.
#[derive(Clone)]
pub(crate) struct ConsoleState {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    health: HealthState,
    dispatcher: Arc<crate::dispatch::dispatcher::Dispatcher>,
    auth: Arc<auth::Auth>,
}

/// The console's routes when `config` turns it on (none otherwise), for the main router.
pub fn routes(config: &Arc<Config>, health: &HealthState, vault: &Vault, dispatcher: &Arc<crate::dispatch::dispatcher::Dispatcher>) -> Option<Router> {
    if !ConsoleConfig::is_on(config) {
        tracing::info!(listen = %config.server.listen, "Web console off: not listening on loopback and [console] enabled is not true.");
        return None;
    }
    let secure = config.server.resolved_public_url().starts_with("https://");
    let state = ConsoleState {
        config: config.clone(),
        store: health.store.clone(),
        health: health.clone(),
        dispatcher: dispatcher.clone(),
        auth: Arc::new(auth::Auth::new(vault.clone(), secure)),
    };
    let pages = Router::new()
        .route("/console", get(overview::page))
        .route("/console/messages", get(messages::list))
        .route("/console/messages/{id}", get(messages::detail))
        .route("/console/messages/{id}/replay", get(messages::confirm_replay).post(messages::replay))
        .route("/console/events", get(events::list))
        .route("/console/events/{id}", get(events::detail))
        .route("/console/events/{id}/replay", get(events::confirm_replay).post(events::replay))
        .route("/console/plugins", get(plugins::page))
        .route("/console/logout", post(auth::sign_out))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_session));
    let open = Router::new()
        .route("/console/login", get(auth::sign_in_page).post(auth::sign_in))
        .route("/console/console.css", get(layout::stylesheet));
    tracing::info!("Web console on /console.");
    Some(pages.merge(open).with_state(state).layer(axum::middleware::map_response(protect)))
}

/// Every console answer: the CSP, no caching, no framing, no MIME sniffing.
async fn protect(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}
