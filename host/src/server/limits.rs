//! Limits every route shares, so a slow or oversized request cannot hold the server: a whole
//! request (head, body and answer) must finish within `server.request_timeout_ms` (408 otherwise,
//! from tower-http's timeout layer), and its head within `server.max_header_bytes` (431). Bodies
//! are bounded by [`super::router`]'s body limit (413).

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::timeout::TimeoutLayer;

use crate::config::ServerConfig;

/// `app` with the request timeout and the header limit of `server`.
pub fn apply(app: Router, server: &ServerConfig) -> Router {
    let timeout = Duration::from_millis(server.request_timeout_ms);
    app.layer(axum::middleware::from_fn_with_state(server.max_header_bytes, limit_headers))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
}

/// Refuses a request whose header names and values together exceed `max` bytes.
async fn limit_headers(State(max): State<usize>, request: Request, next: Next) -> Response {
    let size: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    if size > max {
        tracing::info!(size, max, "Request refused: headers too large.");
        return (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large").into_response();
    }
    next.run(request).await
}
