//! `GET /healthz` and `GET /metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::json;

use crate::server::AppState;

/// 200 when the store answers and plugins are loaded, else 503 with the reason.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store.clone();
    let store_ok = tokio::task::spawn_blocking(move || store.ping()).await.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()));
    let plugins_ok = state.plugins_loaded > 0;
    let status = if store_ok.is_ok() && plugins_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if status == StatusCode::OK { "ok" } else { "unavailable" },
        "store": match &store_ok { Ok(()) => "ok".to_string(), Err(e) => e.clone() },
        "plugins": state.plugins_loaded,
    });
    (status, Json(body))
}

/// Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}
