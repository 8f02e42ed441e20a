//! [`QadClient`]: authenticated JSON requests to one tenant. Every request
//! carries `Authorization: Bearer` and, when configured, `x-qad-workspace-id`;
//! a 401 gets one refresh, then one re-login, then counts as retryable; 429,
//! 5xx and timeouts are retried with backoff; a 403 marks the tenant broken.
//! The tenant's [`Health`] keeps the broken reason (for `qad status` and
//! `/healthz`), logged once when it starts and once when it clears.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::sources::qad::config::QadConfig;
use crate::sources::qad::error::PollError;
use crate::sources::qad::http::{Answer, Http, classify};
use crate::secrets::Vault;
use crate::sources::qad::session::Session;

/// The workspace header (Adaptive ERP).
pub const WORKSPACE_HEADER: &str = "x-qad-workspace-id";

/// A tenant's connection health.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// Why the tenant is broken (a 403, refused credentials, a field map that does not fit), if it is.
    pub broken: Option<String>,
    /// The last error of any kind, with when it happened.
    pub last_error: Option<(DateTime<Utc>, String)>,
    /// When a request last succeeded.
    pub last_success: Option<DateTime<Utc>>,
}

/// Authenticated requests to one QAD tenant.
pub struct QadClient {
    config: QadConfig,
    http: Http,
    session: Session,
    health: Mutex<Health>,
}

impl QadClient {
    /// A client for `config`'s tenant with its secrets in `vault`.
    pub fn new(config: QadConfig, vault: Vault) -> Result<Self, PollError> {
        let http = Http::new(&config)?;
        let session = Session::new(&config, vault);
        Ok(QadClient { config, http, session, health: Mutex::new(Health::default()) })
    }

    /// The tenant's configuration.
    pub fn config(&self) -> &QadConfig {
        &self.config
    }

    /// The tenant's session (for `qad status`).
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The tenant's health now.
    pub fn health(&self) -> Health {
        self.health.lock().expect("health lock").clone()
    }

    /// `GET {base}/{path}?{query}` as JSON.
    pub async fn get_json(&self, path: &str, query: &[(String, String)], what: &str) -> Result<Value, PollError> {
        let url = format!("{}/{path}", self.config.base_url);
        let result = self.request(what, |client| client.get(&url).query(query)).await;
        self.note(result)?.json(what)
    }

    /// `POST {base}/{path}?{query}` with a JSON body, answered as JSON.
    pub async fn post_json(&self, path: &str, query: &[(String, String)], body: &Value, what: &str) -> Result<Value, PollError> {
        let url = format!("{}/{path}", self.config.base_url);
        let result = self.request(what, |client| client.post(&url).query(query).json(body)).await;
        self.note(result)?.json(what)
    }

    /// One request with retries; `build` makes it afresh for every attempt.
    async fn request(&self, what: &str, build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder) -> Result<Answer, PollError> {
        self.http
            .retry(|| async {
                let mut round = 0;
                loop {
                    let token = self.session.bearer(&self.http).await?;
                    let mut request = build(self.http.client()).bearer_auth(token.expose());
                    if let Some(workspace) = &self.config.workspace {
                        request = request.header(WORKSPACE_HEADER, workspace);
                    }
                    let answer = self.http.send(request, what).await?;
                    if answer.status != reqwest::StatusCode::UNAUTHORIZED {
                        classify(&answer, what)?;
                        return Ok(answer);
                    }
                    if round == 2 {
                        return Err(PollError::retryable(format!("{what}: HTTP 401 after a refresh and a re-login")));
                    }
                    tracing::info!(tenant = %self.config.name, request = what, round, "QAD answered 401; renewing the session.");
                    self.session.recover(&self.http, &token, round).await?;
                    round += 1;
                }
            })
            .await
    }

    /// Records `result` in the health, logging a tenant that breaks or recovers once.
    pub fn note<T>(&self, result: Result<T, PollError>) -> Result<T, PollError> {
        let mut health = self.health.lock().expect("health lock");
        let now = Utc::now();
        match &result {
            Ok(_) => {
                if let Some(reason) = health.broken.take() {
                    tracing::info!(tenant = %self.config.name, was = %reason, "QAD tenant works again; polling resumes.");
                }
                health.last_success = Some(now);
            }
            Err(PollError::Broken { reason }) => {
                if health.broken.as_deref() != Some(reason.as_str()) {
                    tracing::error!(tenant = %self.config.name, reason = %reason, "QAD tenant is broken; an operator must act.");
                }
                health.broken = Some(reason.clone());
                health.last_error = Some((now, reason.clone()));
            }
            Err(err @ PollError::Retryable { .. }) => health.last_error = Some((now, err.to_string())),
        }
        result
    }
}
