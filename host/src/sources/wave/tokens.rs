//! The Wave connection's stored state: the tokens ([`TokenState`], one sealed secret, so a
//! refresh that rotates the refresh token is one atomic write), its health
//! ([`ConnectionStatus`]), and how token responses and errors become state.

use std::fmt;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicErrorResponse, BasicErrorResponseType, BasicTokenType};
use oauth2::{ExtraTokenFields, RequestTokenError, StandardTokenResponse, TokenResponse as _};
use serde::{Deserialize, Serialize};

use super::oauth::{DEFAULT_EXPIRES_IN, OAUTH_SECRET, OAuthError};
use super::secrets::WAVE_CLIENT_SECRET;
use crate::secrets::Vault;

/// What is stored in [`OAUTH_SECRET`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenState {
    /// The bearer token for GraphQL.
    pub access_token: String,
    /// The token that gets a new access token; rotated by every refresh.
    pub refresh_token: Option<String>,
    /// When `access_token` stops working.
    pub expires_at: DateTime<Utc>,
    /// Granted scopes, space separated.
    #[serde(default)]
    pub scope: String,
    /// The business the user connected (`businessId` of the token response).
    #[serde(default)]
    pub business_id: Option<String>,
    /// Why the connection is broken, when it is.
    #[serde(default)]
    pub broken: Option<String>,
}

impl fmt::Debug for TokenState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenState")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("scope", &self.scope)
            .field("business_id", &self.business_id)
            .field("broken", &self.broken)
            .finish()
    }
}

/// The connection's health, for `/healthz` and `wave status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// No token stored.
    NotConnected,
    /// Tokens stored and usable.
    Connected {
        /// When the current access token expires.
        expires_at: DateTime<Utc>,
        /// Granted scopes.
        scope: String,
    },
    /// Reconnect needed.
    Broken {
        /// Why.
        reason: String,
    },
}

impl ConnectionStatus {
    /// The status of a stored state (or of none).
    pub fn of(state: Option<&TokenState>) -> Self {
        match state {
            None => Self::NotConnected,
            Some(TokenState { broken: Some(reason), .. }) => Self::Broken { reason: reason.clone() },
            Some(s) => Self::Connected { expires_at: s.expires_at, scope: s.scope.clone() },
        }
    }
}

/// Extra fields of Wave's token response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WaveTokenFields {
    /// The business the user connected.
    #[serde(rename = "businessId", default, skip_serializing_if = "Option::is_none")]
    pub business_id: Option<String>,
}

impl ExtraTokenFields for WaveTokenFields {}

pub(super) type WaveTokenResponse = StandardTokenResponse<WaveTokenFields, BasicTokenType>;
pub(super) type TokenError = RequestTokenError<oauth2::HttpClientError<reqwest::Error>, BasicErrorResponse>;

/// Reads the stored token state.
pub async fn load_state(vault: &Vault) -> Result<Option<TokenState>, OAuthError> {
    let Some(text) = vault.get(OAUTH_SECRET).await? else { return Ok(None) };
    serde_json::from_str(text.expose())
        .map(Some)
        .map_err(|e| OAuthError::Config(format!("stored secret {OAUTH_SECRET} is not readable token state: {e}")))
}

/// Seals and stores `state` (one row: atomic).
pub async fn save_state(vault: &Vault, state: &TokenState) -> Result<(), OAuthError> {
    let json = zeroize::Zeroizing::new(serde_json::to_string(state).expect("token state serializes"));
    vault.put(OAUTH_SECRET, &json).await?;
    Ok(())
}

/// A token response as stored state; `previous` supplies what a refresh
/// response may leave out (the refresh token, scope, business).
pub(super) fn state_from(response: &WaveTokenResponse, previous: Option<&TokenState>) -> TokenState {
    let expires_in = response.expires_in().map_or(DEFAULT_EXPIRES_IN, |d| d.as_secs());
    TokenState {
        access_token: response.access_token().secret().clone(),
        refresh_token: response
            .refresh_token()
            .map(|t| t.secret().clone())
            .or_else(|| previous.and_then(|p| p.refresh_token.clone())),
        expires_at: Utc::now() + chrono::Duration::seconds(i64::try_from(expires_in).unwrap_or(i64::MAX / 1000).min(365 * 86400)),
        scope: response
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
            .or_else(|| previous.map(|p| p.scope.clone()))
            .unwrap_or_default(),
        business_id: response.extra_fields().business_id.clone().or_else(|| previous.and_then(|p| p.business_id.clone())),
        broken: None,
    }
}

/// RFC 6749 errors that no retry fixes become [`OAuthError::Broken`]; the
/// rest (network, 5xx, unreadable replies) are [`OAuthError::Unavailable`].
pub(super) fn classify(e: TokenError) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let detail = r.error_description().map(|d| format!(": {d}")).unwrap_or_default();
            match r.error() {
                BasicErrorResponseType::InvalidGrant => OAuthError::Broken(format!("Wave refused the refresh token (invalid_grant{detail})")),
                BasicErrorResponseType::InvalidClient => {
                    OAuthError::Broken(format!("Wave refused the client credentials (invalid_client{detail}); check wave.client_id and {WAVE_CLIENT_SECRET}"))
                }
                BasicErrorResponseType::UnauthorizedClient => OAuthError::Broken(format!("Wave refused the client (unauthorized_client{detail})")),
                other => OAuthError::Unavailable(format!("token endpoint answered {}{detail}", other.as_ref())),
            }
        }
        RequestTokenError::Request(e) => OAuthError::Unavailable(format!("request failed: {e}")),
        // The body is left out: a token response that failed to parse may still hold tokens.
        RequestTokenError::Parse(e, _) => OAuthError::Unavailable(format!("unreadable token response: {e}")),
        RequestTokenError::Other(e) => OAuthError::Unavailable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_state_debug_never_shows_tokens() {
        let state = TokenState {
            access_token: "at-secret".into(),
            refresh_token: Some("rt-secret".into()),
            expires_at: Utc::now(),
            scope: "invoice:read".into(),
            business_id: None,
            broken: None,
        };
        let shown = format!("{state:?}");
        assert!(!shown.contains("at-secret") && !shown.contains("rt-secret"), "{shown}");
    }
}
