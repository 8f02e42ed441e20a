//! `GET /healthz` and `GET /metrics`. Health is 200 when the store answers and plugins are
//! loaded, else 503 with the reason; every component that registered a [`HealthCheck`] (the Wave
//! connection, each poller, each sink) adds its own entry, and one that is degraded makes
//! `status` "degraded" while staying 200: webhooks keep being accepted (a 503 could take the
//! receiver out of a load balancer and lose deliveries); the affected events wait.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use crate::metrics::Metrics;
use crate::store::Store;

/// A component's state for `/healthz`.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentHealth {
    /// Why the component is degraded, when it is.
    pub degraded: Option<String>,
    /// What `/healthz` shows for it.
    pub detail: Value,
}

/// Something that reports its health.
pub trait HealthCheck: Send + Sync {
    /// Its state now.
    fn check(&self) -> ComponentHealth;
}

/// What `/healthz` and `/metrics` read.
#[derive(Clone)]
pub struct HealthState {
    /// The store, pinged on each request.
    pub store: Arc<dyn Store>,
    /// How many plugins are loaded and enabled (changes when the store's plugins do).
    pub plugins_loaded: Arc<std::sync::atomic::AtomicUsize>,
    /// Components by the key they appear under (`wave`, `sources.qad:acme`, `sinks.twilio`).
    pub checks: Arc<Vec<(String, Arc<dyn HealthCheck>)>>,
    /// Process metrics.
    pub metrics: Arc<Metrics>,
}

/// `GET /healthz`.
pub async fn healthz(State(state): State<HealthState>) -> impl IntoResponse {
    let (status, body) = report(&state).await;
    (status, Json(body))
}

/// What `/healthz` answers (also shown by the web console's overview).
pub async fn report(state: &HealthState) -> (StatusCode, Value) {
    let store_ok = state.store.ping().await.map_err(|e| e.to_string());
    let plugins_loaded = state.plugins_loaded.load(std::sync::atomic::Ordering::Relaxed);
    let plugins_ok = plugins_loaded > 0;
    let status = if store_ok.is_ok() && plugins_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "store": match &store_ok { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
        "plugins": plugins_loaded,
    });
    for (key, check) in state.checks.iter() {
        let health = check.check();
        if health.degraded.is_some() && status == StatusCode::OK {
            body["status"] = json!("degraded");
        }
        // `a.b` nests: `sources.qad:acme` goes under `sources`.
        match key.split_once('.') {
            Some((group, name)) => {
                if !body[group].is_object() {
                    body[group] = json!({});
                }
                body[group][name] = health.detail;
            }
            None => body[key.as_str()] = health.detail,
        }
    }
    (status, body)
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<HealthState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
