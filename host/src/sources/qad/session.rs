//! A tenant's QAD session: the OAuth password grant at `{base}/oauth/token`
//! (form body, or query string when configured), the client id from the
//! configuration or `api/qracore/securityControl` (Basic auth, which also
//! gives `sessionLength` and `timeoutMinutes`), the refresh grant, and the
//! tokens sealed in the store as one JSON secret (`qad.<name>.session`).
//!
//! The token is renewed `refresh_margin` before it expires (the shorter of
//! `expires_in` and `sessionLength`) and 10 s before the idle timeout. On a
//! 401 the caller asks for [`Session::recover`]: the first time a refresh,
//! the second a fresh login. Token requests are single flight. Credentials
//! reach only request bodies (or the query, when so configured); they are
//! never logged, and errors carry no URL.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::secrets::{SecretString, Vault};
use crate::sources::qad::config::{QadConfig, TokenRequest};
use crate::sources::qad::error::PollError;
use crate::sources::qad::http::{Answer, Http, classify, error_message};
use crate::sources::qad::{password_secret, session_secret};

/// Renew this long before the idle timeout (as QAD's own token manager does).
const IDLE_MARGIN: chrono::Duration = chrono::Duration::seconds(10);
/// Assumed token lifetime when neither `expires_in` nor `sessionLength` is known.
const DEFAULT_LIFETIME: chrono::Duration = chrono::Duration::minutes(30);

/// What is kept in `qad.<name>.session`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The bearer token.
    pub access_token: String,
    /// The refresh token, when QAD gave one.
    pub refresh_token: Option<String>,
    /// When the access token stops working (already shortened to `sessionLength`).
    pub expires_at: DateTime<Utc>,
    /// When to renew it: `refresh_margin` before `expires_at`, but at most halfway through its
    /// life, so a short-lived token is not renewed before every request.
    pub refresh_at: DateTime<Utc>,
    /// The idle timeout QAD reported or the configuration set.
    #[serde(default)]
    pub idle_secs: Option<u64>,
    /// When the token was last used (written when the state is saved).
    pub used_at: DateTime<Utc>,
    /// The client id the token was issued to.
    pub client_id: String,
}

impl fmt::Debug for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionState")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("refresh_at", &self.refresh_at)
            .field("idle_secs", &self.idle_secs)
            .field("client_id", &self.client_id)
            .finish()
    }
}

impl SessionState {
    /// Whether it must be renewed before use at `now`.
    pub fn stale(&self, now: DateTime<Utc>) -> bool {
        let idle_end = self.idle_secs.map(|s| self.used_at + chrono::Duration::seconds(s as i64) - IDLE_MARGIN);
        now >= self.refresh_at || idle_end.is_some_and(|end| now >= end)
    }
}

/// What `securityControl` says.
#[derive(Debug, Clone, Default)]
struct Control {
    client_id: Option<String>,
    session_length: Option<chrono::Duration>,
    idle: Option<u64>,
}

/// One tenant's session.
pub struct Session {
    tenant: String,
    base: String,
    username: String,
    client_id: Option<String>,
    token_request: TokenRequest,
    margin: chrono::Duration,
    idle_timeout: Option<Duration>,
    vault: Vault,
    state: tokio::sync::Mutex<Option<SessionState>>,
    control: tokio::sync::Mutex<Option<Control>>,
}

impl Session {
    /// The session of `config`'s tenant, its secrets in `vault`.
    pub fn new(config: &QadConfig, vault: Vault) -> Self {
        Session {
            tenant: config.name.clone(),
            base: config.base_url.clone(),
            username: config.username.clone(),
            client_id: config.client_id.clone(),
            token_request: config.token_request,
            margin: chrono::Duration::from_std(config.refresh_margin).unwrap_or_default(),
            idle_timeout: config.idle_timeout,
            vault,
            state: tokio::sync::Mutex::new(None),
            control: tokio::sync::Mutex::new(None),
        }
    }

    /// The stored session state, if any (for `qad status`).
    pub async fn stored(&self) -> Result<Option<SessionState>, PollError> {
        let name = session_secret(&self.tenant);
        let Some(text) = self.vault.get(&name).await.map_err(|e| PollError::broken(format!("cannot read secret {name}: {e}")))? else {
            return Ok(None);
        };
        Ok(serde_json::from_str(text.expose()).ok())
    }

    /// A usable bearer token: the current one, a refreshed one, or a fresh login.
    pub async fn bearer(&self, http: &Http) -> Result<SecretString, PollError> {
        let mut state = self.state.lock().await;
        if state.is_none() {
            *state = self.stored().await?;
        }
        let now = Utc::now();
        match state.as_ref() {
            Some(s) if !s.stale(now) => {}
            Some(s) if s.refresh_token.is_some() && now < s.expires_at => {
                let renewed = match self.refresh(http, s).await {
                    Ok(renewed) => renewed,
                    Err(_) => self.login(http).await?,
                };
                *state = Some(self.save(renewed).await?);
            }
            _ => *state = Some(self.save(self.login(http).await?).await?),
        }
        let current = state.as_mut().expect("a session was just ensured");
        current.used_at = now;
        Ok(SecretString::from(current.access_token.clone()))
    }

    /// After a 401 with `failed`: on the first (`round` 0) a refresh, on the second a new
    /// login; `failed` no longer being current means another request already renewed it.
    pub async fn recover(&self, http: &Http, failed: &SecretString, round: u32) -> Result<(), PollError> {
        let mut state = self.state.lock().await;
        let current = state.as_ref().filter(|s| s.access_token == failed.expose()).cloned();
        let Some(current) = current else { return Ok(()) };
        let renewed = match (round, current.refresh_token.is_some()) {
            (0, true) => match self.refresh(http, &current).await {
                Ok(renewed) => renewed,
                Err(_) => self.login(http).await?,
            },
            _ => self.login(http).await?,
        };
        *state = Some(self.save(renewed).await?);
        Ok(())
    }

    async fn save(&self, state: SessionState) -> Result<SessionState, PollError> {
        let name = session_secret(&self.tenant);
        let json = Zeroizing::new(serde_json::to_string(&state).expect("session state serializes"));
        self.vault.put(&name, &json).await.map_err(|e| PollError::retryable(format!("cannot store secret {name}: {e}")))?;
        Ok(state)
    }

    async fn password(&self) -> Result<SecretString, PollError> {
        let name = password_secret(&self.tenant);
        self.vault
            .get(&name)
            .await
            .map_err(|e| PollError::broken(format!("cannot read secret {name}: {e}")))?
            .ok_or_else(|| PollError::broken(format!("no password stored: run `ml-connector secrets set {name}`")))
    }

    /// `securityControl`, read once (Basic auth); needed for the client id when none is configured.
    async fn control(&self, http: &Http, password: &SecretString) -> Result<Control, PollError> {
        let mut control = self.control.lock().await;
        if let Some(c) = control.as_ref() {
            return Ok(c.clone());
        }
        let what = "securityControl";
        let url = format!("{}/api/qracore/securityControl", self.base);
        let answer = http
            .retry(|| async {
                let request = http.client().get(&url).basic_auth(&self.username, Some(password.expose()));
                let answer = http.send(request, what).await?;
                if answer.status == reqwest::StatusCode::UNAUTHORIZED {
                    return Err(PollError::broken(format!("{what}: QAD refused the credentials of user {:?} (HTTP 401)", self.username)));
                }
                classify(&answer, what)?;
                Ok(answer)
            })
            .await?;
        let body = answer.json(what)?;
        let first = &body["data"]["securityControls"][0];
        let minutes = |field: &str| first[field].as_i64().or_else(|| first[field].as_str()?.parse().ok()).filter(|m| *m > 0);
        let read = Control {
            client_id: first["clientId"].as_str().map(str::to_owned),
            session_length: minutes("sessionLength").map(chrono::Duration::minutes),
            idle: minutes("timeoutMinutes").map(|m| m as u64 * 60),
        };
        *control = Some(read.clone());
        Ok(read)
    }

    async fn login(&self, http: &Http) -> Result<SessionState, PollError> {
        let password = self.password().await?;
        let control = match &self.client_id {
            Some(_) => Control::default(),
            None => self.control(http, &password).await?,
        };
        let client_id = self.client_id.clone().or(control.client_id.clone()).ok_or_else(|| {
            PollError::broken("securityControl gave no clientId; set client_id in [[qad]]".to_string())
        })?;
        let params = [
            ("grant_type", "password"),
            ("client_id", client_id.as_str()),
            ("username", self.username.as_str()),
            ("password", password.expose()),
        ];
        let answer = self.token_call(http, &params, "password grant").await?;
        let state = self.state_from(&answer, client_id, &control)?;
        tracing::info!(tenant = %self.tenant, user = %self.username, "Logged in to QAD.");
        Ok(state)
    }

    async fn refresh(&self, http: &Http, current: &SessionState) -> Result<SessionState, PollError> {
        let refresh = current.refresh_token.clone().unwrap_or_default();
        let params = [("grant_type", "refresh_token"), ("client_id", current.client_id.as_str()), ("refresh_token", refresh.as_str())];
        let answer = self.token_call(http, &params, "refresh grant").await?;
        let control = self.control.lock().await.clone().unwrap_or_default();
        let state = self.state_from(&answer, current.client_id.clone(), &control)?;
        tracing::debug!(tenant = %self.tenant, "Refreshed the QAD token.");
        Ok(state)
    }

    /// POSTs a token grant: refresh grants always in the query (as QAD's clients do), the
    /// password grant as configured. A 400 or 401 is refused credentials: broken.
    async fn token_call(&self, http: &Http, params: &[(&str, &str)], what: &str) -> Result<Answer, PollError> {
        let url = format!("{}/oauth/token", self.base);
        let in_query = self.token_request == TokenRequest::Query || params[0].1 == "refresh_token";
        http.retry(|| async {
            let request = http.client().post(&url);
            let request = if in_query { request.query(params) } else { request.form(params) };
            let answer = http.send(request, what).await?;
            if matches!(answer.status.as_u16(), 400 | 401) {
                let detail = serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .or_else(|| error_message(&answer.body))
                    .unwrap_or_default();
                return Err(PollError::broken(format!(
                    "{what}: QAD refused the credentials of user {:?} (HTTP {}) {detail}",
                    self.username,
                    answer.status.as_u16()
                )));
            }
            classify(&answer, what)?;
            Ok(answer)
        })
        .await
    }

    fn state_from(&self, answer: &Answer, client_id: String, control: &Control) -> Result<SessionState, PollError> {
        let body = answer.json("token")?;
        let access_token = body["access_token"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| PollError::retryable("token: no access_token in the answer"))?;
        let now = Utc::now();
        let mut lifetime = body["expires_in"].as_i64().map(chrono::Duration::seconds).unwrap_or(DEFAULT_LIFETIME);
        if let Some(session) = control.session_length {
            lifetime = lifetime.min(session);
        }
        Ok(SessionState {
            access_token: access_token.to_owned(),
            refresh_token: body["refresh_token"].as_str().map(str::to_owned),
            expires_at: now + lifetime,
            refresh_at: refresh_at(now, lifetime, self.margin),
            idle_secs: control.idle.or(self.idle_timeout.map(|d| d.as_secs())),
            used_at: now,
            client_id,
        })
    }
}

/// When a token issued at `now` for `lifetime` is renewed: `margin` before it expires, but
/// not before half its life.
fn refresh_at(now: DateTime<Utc>, lifetime: chrono::Duration, margin: chrono::Duration) -> DateTime<Utc> {
    now + lifetime - margin.min(lifetime / 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_a_margin_before_expiry_but_not_before_half_its_life() {
        let now = Utc::now();
        let minutes = chrono::Duration::minutes;
        assert_eq!(refresh_at(now, minutes(60), minutes(5)), now + minutes(55));
        assert_eq!(refresh_at(now, minutes(4), minutes(5)), now + minutes(2));
    }

    fn state(refresh_in_secs: i64, idle: Option<u64>, used_secs_ago: i64) -> SessionState {
        let now = Utc::now();
        SessionState {
            access_token: "a".into(),
            refresh_token: Some("r".into()),
            expires_at: now + chrono::Duration::seconds(refresh_in_secs + 300),
            refresh_at: now + chrono::Duration::seconds(refresh_in_secs),
            idle_secs: idle,
            used_at: now - chrono::Duration::seconds(used_secs_ago),
            client_id: "c".into(),
        }
    }

    #[test]
    fn a_token_is_renewed_at_its_refresh_time_and_ahead_of_the_idle_timeout() {
        let now = Utc::now();
        assert!(!state(60, None, 0).stale(now));
        assert!(state(-1, None, 0).stale(now), "past its refresh time");
        assert!(!state(3600, Some(600), 500).stale(now));
        assert!(state(3600, Some(600), 595).stale(now), "10 s before the idle timeout");
    }

    #[test]
    fn the_session_state_never_shows_its_tokens() {
        let text = format!("{:?}", state(60, None, 0));
        assert!(!text.contains("\"a\"") && !text.contains("\"r\""), "{text}");
    }
}
