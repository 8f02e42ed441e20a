//! `GET /oauth/wave/callback`: where Wave sends the user back after `wave connect`. Checks
//! `state`, exchanges the code, stores the tokens; enrichment starts at once.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::oauth::{OAuthError, WaveOAuth};

/// The callback's query string.
#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    code: Option<String>,
    /// The `state` printed by `wave connect`.
    state: Option<String>,
    /// Set instead of `code` when the user declined or Wave failed.
    error: Option<String>,
    /// Wave's explanation of `error`.
    error_description: Option<String>,
}

/// Completes a `wave connect`. Without `[wave] client_id` the route answers 404.
pub async fn callback(State(oauth): State<Option<Arc<WaveOAuth>>>, Query(params): Query<CallbackParams>) -> Response {
    let Some(oauth) = oauth else {
        return (StatusCode::NOT_FOUND, "Wave OAuth is not configured: set [wave] client_id.\n").into_response();
    };
    if let Some(error) = params.error {
        let detail = params.error_description.map(|d| format!(": {d}")).unwrap_or_default();
        tracing::warn!(error, "Wave authorization was not granted.");
        return (StatusCode::BAD_REQUEST, format!("Wave did not grant access ({error}{detail}). Run `ml-connector wave connect` again.\n")).into_response();
    }
    let (Some(code), Some(st)) = (params.code, params.state) else {
        return (StatusCode::BAD_REQUEST, "missing `code` or `state`\n").into_response();
    };
    match oauth.complete(&code, &st).await {
        Ok(_) => (StatusCode::OK, "Wave is connected; events are enriched from now on.\n").into_response(),
        Err(e) => {
            let status = match &e {
                OAuthError::Refused(_) | OAuthError::Broken(_) => StatusCode::BAD_REQUEST,
                OAuthError::Unavailable(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::warn!(error = %e, "Wave OAuth callback failed.");
            (status, format!("{e}\n")).into_response()
        }
    }
}
