//! Wave OAuth 2.0 (authorization code grant) with the `oauth2` crate: the
//! authorization URL `wave connect` prints, the code exchange behind
//! `GET /oauth/wave/callback`, and access tokens kept fresh ahead of expiry.
//!
//! Token state lives in ONE sealed secret, [`OAUTH_SECRET`], as JSON
//! ([`TokenState`], in `tokens.rs`), so a refresh that rotates the refresh token
//! replaces everything in one atomic write, and it is stored before the new access
//! token is used. Refreshes are single flight: however many lookups need a
//! token at once, one refresh runs and the others reuse its result. A refresh
//! token Wave refuses (`invalid_grant`) marks the connection broken: the
//! reason is stored (for `/healthz` and `wave status`), logged once, and
//! every lookup answers "unavailable" without calling Wave until a new
//! `wave connect` repairs it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, RedirectUrl, RefreshToken, Scope,
    StandardRevocableToken, TokenUrl,
};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use super::secrets::WAVE_CLIENT_SECRET;
pub use super::tokens::{ConnectionStatus, TokenState, WaveTokenFields, load_state, save_state};
use super::tokens::{WaveTokenResponse, classify, state_from};
use crate::secrets::{SecretsError, Vault, VaultError};
use crate::store::StoreError;

/// The sealed secret holding the connection's [`TokenState`] as JSON.
pub const OAUTH_SECRET: &str = "wave.oauth";
/// The sealed secret holding the pending `state` of the last `wave connect`.
pub const STATE_SECRET: &str = "wave.oauth_state";
/// The callback path, appended to `server.public_url` for the redirect URI.
pub const CALLBACK_PATH: &str = "/oauth/wave/callback";

/// Refresh when less than this is left. Wave's tokens last about 2 hours, so
/// this refreshes well before expiry, with room for a slow or failed attempt
/// to be retried while the current token still works.
pub const REFRESH_MARGIN: chrono::Duration = chrono::Duration::minutes(15);
/// A `wave connect` state is accepted for this long.
const STATE_TTL: chrono::Duration = chrono::Duration::minutes(30);
/// Assumed lifetime when the token response has no `expires_in`.
pub(super) const DEFAULT_EXPIRES_IN: u64 = 3600;
/// Timeout of one token request.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the OAuth connection.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// No token is stored.
    #[error("Wave is not connected: run `ml-connector wave connect`")]
    NotConnected,
    /// The connection is broken; the user must reconnect.
    #[error("Wave connection is broken: {0}; run `ml-connector wave connect` to repair it")]
    Broken(String),
    /// The token endpoint cannot answer now (network, 5xx, unreadable reply).
    #[error("Wave token endpoint unavailable: {0}")]
    Unavailable(String),
    /// The configuration is incomplete or invalid.
    #[error("Wave OAuth is misconfigured: {0}")]
    Config(String),
    /// The callback's `state` or code was refused.
    #[error("Wave authorization refused: {0}")]
    Refused(String),
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Sealing or opening a secret failed.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// No master key to open the stored tokens with.
    #[error("{0}")]
    NoKey(String),
}

impl From<VaultError> for OAuthError {
    fn from(e: VaultError) -> Self {
        match e {
            VaultError::Store(e) => OAuthError::Store(e),
            VaultError::Secrets(e) => OAuthError::Secrets(e),
            no_key @ VaultError::NoKey { .. } => OAuthError::NoKey(no_key.to_string()),
        }
    }
}

type WaveClient = oauth2::Client<
    BasicErrorResponse,
    WaveTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;
/// Where the OAuth endpoints are and who we are.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// `wave.client_id`.
    pub client_id: String,
    /// `wave.authorize_url`.
    pub authorize_url: String,
    /// `wave.token_url`.
    pub token_url: String,
    /// `{server.public_url}/oauth/wave/callback`.
    pub redirect_uri: String,
}

impl OAuthSettings {
    /// Settings from the configuration; `None` when `wave.client_id` is unset.
    pub fn from_config(config: &crate::config::Config) -> Option<Self> {
        let client_id = config.wave.client_id.clone()?;
        Some(OAuthSettings {
            client_id,
            authorize_url: config.wave.authorize_url.clone(),
            token_url: config.wave.token_url.clone(),
            redirect_uri: format!("{}{CALLBACK_PATH}", config.server.resolved_public_url().trim_end_matches('/')),
        })
    }
}

/// The scopes Wave must grant for plugins subscribed to `subscriptions`
/// (event kinds, possibly with a trailing `*`): `business:read` and
/// `customer:read` for enrichment always, `invoice:read` and `estimate:read`
/// when invoice or estimate events are wanted (Wave silently skips webhooks
/// whose scope is missing).
pub fn scopes_for<S: AsRef<str>>(subscriptions: &[S]) -> Vec<&'static str> {
    let wants = |family: &str| {
        subscriptions.iter().any(|s| {
            let s = s.as_ref();
            s == "*" || s.starts_with(&format!("{family}.")) || s.strip_suffix('*').is_some_and(|p| family.starts_with(p) || p.starts_with(family))
        })
    };
    let mut scopes = vec!["business:read", "customer:read"];
    if wants("invoice") {
        scopes.push("invoice:read");
    }
    if wants("estimate") {
        scopes.push("estimate:read");
    }
    scopes
}

#[derive(Serialize, Deserialize)]
struct PendingState {
    state: String,
    created_at: DateTime<Utc>,
}

/// How often a connection that is missing or broken looks in the store for one made since (a
/// `wave connect` completed by another replica, or before this process started).
const RELOAD_EVERY: Duration = Duration::from_secs(5);

/// The Wave OAuth connection: hands out fresh access tokens.
pub struct WaveOAuth {
    settings: OAuthSettings,
    vault: Vault,
    http: reqwest::Client,
    current: Mutex<Option<TokenState>>,
    last_reload: Mutex<std::time::Instant>,
    refresh_lock: tokio::sync::Mutex<()>,
    broken_logged: AtomicBool,
}

impl fmt::Debug for WaveOAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaveOAuth").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl WaveOAuth {
    /// A connection using the token state stored in `vault`, if any.
    pub async fn new(settings: OAuthSettings, vault: Vault) -> Result<Self, OAuthError> {
        AuthUrl::new(settings.authorize_url.clone()).map_err(|e| OAuthError::Config(format!("wave.authorize_url: {e}")))?;
        TokenUrl::new(settings.token_url.clone()).map_err(|e| OAuthError::Config(format!("wave.token_url: {e}")))?;
        RedirectUrl::new(settings.redirect_uri.clone()).map_err(|e| OAuthError::Config(format!("redirect URI: {e}")))?;
        let current = load_state(&vault).await?;
        let http = reqwest::Client::builder()
            // The token endpoint must not redirect us elsewhere with our secret.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TOKEN_TIMEOUT)
            .build()
            .map_err(|e| OAuthError::Config(format!("HTTP client: {e}")))?;
        let broken = current.as_ref().is_some_and(|s| s.broken.is_some());
        Ok(WaveOAuth {
            settings,
            vault,
            http,
            current: Mutex::new(current),
            last_reload: Mutex::new(std::time::Instant::now()),
            refresh_lock: tokio::sync::Mutex::new(()),
            broken_logged: AtomicBool::new(broken),
        })
    }

    /// The redirect URI registered with Wave.
    pub fn redirect_uri(&self) -> &str {
        &self.settings.redirect_uri
    }

    /// Whether a token is stored (healthy or not).
    pub fn is_connected(&self) -> bool {
        self.current.lock().expect("oauth lock").is_some()
    }

    /// The business the user connected, as Wave reported it.
    pub fn business_id(&self) -> Option<String> {
        self.current.lock().expect("oauth lock").as_ref().and_then(|s| s.business_id.clone())
    }

    /// The connection's health.
    pub fn status(&self) -> ConnectionStatus {
        ConnectionStatus::of(self.current.lock().expect("oauth lock").as_ref())
    }

    async fn client(&self, with_secret: bool) -> Result<WaveClient, OAuthError> {
        let mut client: WaveClient = oauth2::Client::new(ClientId::new(self.settings.client_id.clone()))
            .set_auth_uri(AuthUrl::new(self.settings.authorize_url.clone()).map_err(|e| OAuthError::Config(e.to_string()))?)
            .set_token_uri(TokenUrl::new(self.settings.token_url.clone()).map_err(|e| OAuthError::Config(e.to_string()))?)
            .set_redirect_uri(RedirectUrl::new(self.settings.redirect_uri.clone()).map_err(|e| OAuthError::Config(e.to_string()))?)
            // Wave reads client_id and client_secret from the form body.
            .set_auth_type(AuthType::RequestBody);
        if with_secret {
            let secret = self.vault.get(WAVE_CLIENT_SECRET).await?.ok_or_else(|| {
                OAuthError::Config(format!("no client secret: run `ml-connector secrets set {WAVE_CLIENT_SECRET}`"))
            })?;
            client = client.set_client_secret(ClientSecret::new(secret.expose().to_owned()));
        }
        Ok(client)
    }

    /// A fresh authorization URL for `scopes`, with a new random `state`
    /// stored sealed so the callback can check it. Returns the URL.
    pub async fn authorization_url(&self, scopes: &[&str]) -> Result<String, OAuthError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let state = hex::encode(bytes);
        let pending = serde_json::to_string(&PendingState { state: state.clone(), created_at: Utc::now() }).expect("serializes");
        self.vault.put(STATE_SECRET, &pending).await?;
        let (url, _) = self
            .client(false)
            .await?
            .authorize_url(|| CsrfToken::new(state))
            .add_scopes(scopes.iter().map(|s| Scope::new((*s).to_owned())))
            .url();
        Ok(url.to_string())
    }

    /// The callback: checks `state`, exchanges `code` for tokens, stores them
    /// and makes the connection healthy again.
    pub async fn complete(&self, code: &str, state: &str) -> Result<ConnectionStatus, OAuthError> {
        let sealed = self.vault.get(STATE_SECRET).await?.ok_or_else(|| OAuthError::Refused("no `wave connect` is pending".into()))?;
        let pending: PendingState = serde_json::from_str(sealed.expose())
            .map_err(|_| OAuthError::Refused("no `wave connect` is pending".into()))?;
        if pending.state.is_empty() || state.is_empty() {
            return Err(OAuthError::Refused("this `wave connect` link was already used; run `ml-connector wave connect` again".into()));
        }
        if !bool::from(pending.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(OAuthError::Refused("state does not match the last `wave connect`".into()));
        }
        if Utc::now() - pending.created_at > STATE_TTL {
            return Err(OAuthError::Refused("the `wave connect` link expired; run it again".into()));
        }
        // One use only: a replayed callback finds no pending state.
        let used = serde_json::to_string(&PendingState { state: String::new(), created_at: pending.created_at }).expect("serializes");
        self.vault.put(STATE_SECRET, &used).await?;

        let client = self.client(true).await?;
        let _guard = self.refresh_lock.lock().await;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| match classify(e) {
                OAuthError::Broken(reason) => OAuthError::Refused(reason),
                other => other,
            })?;
        let state = state_from(&response, None);
        save_state(&self.vault, &state).await?;
        let status = ConnectionStatus::of(Some(&state));
        *self.current.lock().expect("oauth lock") = Some(state);
        self.broken_logged.store(false, Ordering::SeqCst);
        tracing::info!(expires_at = %status_expiry(&status), "Wave connected.");
        Ok(status)
    }

    /// A usable access token, refreshed first when it expires within
    /// [`REFRESH_MARGIN`]. Single flight: concurrent callers share one refresh.
    pub async fn access_token(&self) -> Result<String, OAuthError> {
        let current = match self.snapshot() {
            Ok(current) => current,
            Err(OAuthError::NotConnected | OAuthError::Broken(_)) if self.reload_due() => {
                self.reload().await?;
                self.snapshot()?
            }
            Err(e) => return Err(e),
        };
        if current.expires_at - Utc::now() > REFRESH_MARGIN {
            return Ok(current.access_token);
        }
        self.refresh_if(|s| s.expires_at - Utc::now() <= REFRESH_MARGIN).await
    }

    /// Keeps the token fresh in the background, even with no events to
    /// enrich, checking every `every` until `shutdown` turns true: a token
    /// is refreshed within [`REFRESH_MARGIN`] of expiry, never after it.
    pub async fn keep_fresh(self: Arc<Self>, every: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(e) = self.access_token().await {
                tracing::debug!(error = %e, "Background Wave token check failed.");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Refreshes because Wave refused `rejected` (an authentication error),
    /// unless another caller already replaced it. Returns the token to retry with.
    pub async fn refresh_after_rejection(&self, rejected: &str) -> Result<String, OAuthError> {
        let rejected = rejected.to_owned();
        self.refresh_if(move |s| s.access_token == rejected).await
    }

    /// Marks the connection broken with `reason`: stored, logged once.
    pub async fn mark_broken(&self, reason: &str) {
        let newly_broken = {
            let mut current = self.current.lock().expect("oauth lock");
            let Some(state) = current.as_mut() else { return };
            let newly = state.broken.is_none();
            state.broken = Some(reason.to_owned());
            newly.then(|| state.clone())
        };
        if let Some(state) = newly_broken
            && let Err(e) = save_state(&self.vault, &state).await
        {
            tracing::error!(error = %e, "Could not store the broken Wave connection state.");
        }
        if !self.broken_logged.swap(true, Ordering::SeqCst) {
            tracing::error!(reason, "Wave connection broken: events wait in the store until `ml-connector wave connect` repairs it.");
        }
    }

    /// Whether a missing or broken connection may look in the store again.
    fn reload_due(&self) -> bool {
        let mut last = self.last_reload.lock().expect("oauth lock");
        if last.elapsed() < RELOAD_EVERY {
            return false;
        }
        *last = std::time::Instant::now();
        true
    }

    /// Reads the token state from the store again (a connect completed elsewhere).
    pub async fn reload(&self) -> Result<(), OAuthError> {
        let stored = load_state(&self.vault).await?;
        let mut current = self.current.lock().expect("oauth lock");
        if stored.as_ref().is_some_and(|s| s.broken.is_none()) && current.as_ref().is_none_or(|c| c.broken.is_some()) {
            tracing::info!("Wave connection found in the store; enrichment resumes.");
            self.broken_logged.store(false, Ordering::SeqCst);
        }
        *current = stored;
        Ok(())
    }

    fn snapshot(&self) -> Result<TokenState, OAuthError> {
        match self.current.lock().expect("oauth lock").as_ref() {
            None => Err(OAuthError::NotConnected),
            Some(TokenState { broken: Some(reason), .. }) => Err(OAuthError::Broken(reason.clone())),
            Some(state) => Ok(state.clone()),
        }
    }

    async fn refresh_if(&self, needed: impl Fn(&TokenState) -> bool) -> Result<String, OAuthError> {
        let _guard = self.refresh_lock.lock().await;
        // Whoever held the lock before us may have refreshed already.
        let current = self.snapshot()?;
        if !needed(&current) {
            return Ok(current.access_token);
        }
        let Some(refresh_token) = current.refresh_token.clone() else {
            let reason = "no refresh token was issued; reconnect".to_owned();
            self.mark_broken(&reason).await;
            return Err(OAuthError::Broken(reason));
        };
        let attempt = async {
            self.client(true)
                .await?
                .exchange_refresh_token(&RefreshToken::new(refresh_token))
                // Wave wants the redirect URI on refreshes too.
                .add_extra_param("redirect_uri", self.settings.redirect_uri.clone())
                .request_async(&self.http)
                .await
                .map_err(classify)
        };
        match attempt.await {
            Ok(response) => {
                let fresh = state_from(&response, Some(&current));
                // Stored before anyone uses the new access token: a crash
                // now cannot lose the rotated refresh token.
                save_state(&self.vault, &fresh).await?;
                let token = fresh.access_token.clone();
                tracing::info!(expires_at = %fresh.expires_at, "Wave access token refreshed.");
                *self.current.lock().expect("oauth lock") = Some(fresh);
                Ok(token)
            }
            Err(OAuthError::Broken(reason)) => {
                self.mark_broken(&reason).await;
                Err(OAuthError::Broken(reason))
            }
            // Refreshing ahead of expiry failed for now: the current token
            // still works, so use it and try again on a later call.
            Err(e) if current.expires_at > Utc::now() + chrono::Duration::seconds(30) => {
                tracing::warn!(error = %e, expires_at = %current.expires_at, "Wave token refresh failed; the current token is still valid.");
                Ok(current.access_token)
            }
            Err(e) => Err(e),
        }
    }
}

fn status_expiry(status: &ConnectionStatus) -> String {
    match status {
        ConnectionStatus::Connected { expires_at, .. } => expires_at.to_rfc3339(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_cover_the_subscribed_event_families() {
        assert_eq!(scopes_for(&["invoice.paid"]), vec!["business:read", "customer:read", "invoice:read"]);
        assert_eq!(scopes_for(&["estimate.*", "customer.created"]), vec!["business:read", "customer:read", "estimate:read"]);
        assert_eq!(scopes_for(&["*"]), vec!["business:read", "customer:read", "invoice:read", "estimate:read"]);
        assert_eq!(scopes_for::<&str>(&[]), vec!["business:read", "customer:read"]);
    }

}
