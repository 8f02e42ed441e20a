//! `GET /healthz` and `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::server::AppState;
use crate::sources::wave::oauth::ConnectionStatus;

/// 200 when the store answers and plugins are loaded, else 503 with the reason.
/// With Wave OAuth configured, `wave` tells the connection's state; a broken
/// connection makes `status` "degraded" and carries its reason.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store.clone();
    let store_ok = tokio::task::spawn_blocking(move || store.ping()).await.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()));
    let plugins_ok = state.plugins_loaded > 0;
    let status = if store_ok.is_ok() && plugins_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "store": match &store_ok { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
        "plugins": state.plugins_loaded,
    });
    // A broken Wave connection degrades the service but stays 200: webhooks
    // are still accepted and stored (a 503 could take the receiver out of a
    // load balancer and lose Wave's deliveries); events wait for a reconnect.
    if let Some(oauth) = &state.wave_oauth {
        let wave = oauth.status();
        if matches!(wave, ConnectionStatus::Broken { .. }) && status == StatusCode::OK {
            body["status"] = json!("degraded");
        }
        body["wave"] = serde_json::to_value(&wave).unwrap_or_default();
    }
    (status, Json(body))
}

/// Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
