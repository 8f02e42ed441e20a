//! The transport: a `tower::Service` that sends a [`TwilioRequest`] with HTTP Basic auth to the
//! configured base URL and answers with the raw status and body. Timeouts and connection errors
//! become [`SinkError::Retryable`]; what a status means is decided by [`super::retry`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::Utc;

use crate::sinks::SinkError;
use super::request_builder::{Api, TwilioRequest};
use super::retry::{RetryAction, TwilioRetryLogic, parse_error_body, parse_retry_after};
use crate::secrets::SecretString;

/// Basic auth for every request: account SID + auth token, or API key SID + secret.
#[derive(Clone)]
pub struct Credentials {
    /// Account SID or API key SID.
    pub username: String,
    /// Auth token or API key secret.
    pub password: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Twilio's raw answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The `Retry-After` header, if any.
    pub retry_after: Option<String>,
}

impl TwilioResponse {
    /// The parsed JSON body of a 2xx, or the failure it stands for.
    pub fn into_result(self) -> Result<serde_json::Value, SinkError> {
        let error = parse_error_body(&self.body);
        match TwilioRetryLogic::action(Some(self.status), error.code) {
            RetryAction::Success => serde_json::from_slice(&self.body).map_err(|e| SinkError::Permanent {
                http_status: Some(self.status),
                code: None,
                message: format!("unreadable {} answer from Twilio: {e}", self.status),
            }),
            RetryAction::Retry => Err(SinkError::Retryable {
                reason: describe(self.status, &error),
                http_status: Some(self.status),
                code: error.code,
                retry_after: self.retry_after.as_deref().and_then(|v| parse_retry_after(v, Utc::now())),
                ambiguous: false,
            }),
            RetryAction::Permanent => Err(SinkError::Permanent {
                http_status: Some(self.status),
                code: error.code,
                message: describe(self.status, &error),
            }),
        }
    }
}

fn describe(status: u16, error: &super::retry::TwilioErrorBody) -> String {
    match (&error.code, &error.message) {
        (Some(code), Some(message)) => format!("HTTP {status}, Twilio error {code}: {message}"),
        (Some(code), None) => format!("HTTP {status}, Twilio error {code}"),
        (None, Some(message)) => format!("HTTP {status}: {message}"),
        (None, None) => format!("HTTP {status}"),
    }
}

/// The HTTP client for both Twilio APIs.
#[derive(Debug, Clone)]
pub struct TwilioService {
    client: reqwest::Client,
    api_base: Arc<str>,
    lookups_base: Arc<str>,
    credentials: Arc<Credentials>,
}

impl TwilioService {
    /// A client for `api_base` and `lookups_base` (no trailing slash needed) whose requests give
    /// up after `timeout`.
    pub fn new(
        api_base: &str,
        lookups_base: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Self, SinkError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("ml-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SinkError::Permanent { http_status: None, code: None, message: format!("cannot build the HTTP client: {e}") })?;
        Ok(Self {
            client,
            api_base: api_base.trim_end_matches('/').into(),
            lookups_base: lookups_base.trim_end_matches('/').into(),
            credentials: Arc::new(credentials),
        })
    }

    /// Sends one request; any HTTP status is an `Ok` answer.
    pub async fn send(&self, request: &TwilioRequest) -> Result<TwilioResponse, SinkError> {
        let base = match request.api {
            Api::Rest => &self.api_base,
            Api::Lookups => &self.lookups_base,
        };
        let url = format!("{base}{}", request.path);
        let builder = if request.post {
            self.client.post(&url).form(&request.form)
        } else {
            self.client.get(&url)
        };
        let builder = builder
            .query(&request.query)
            .basic_auth(&self.credentials.username, Some(self.credentials.password.expose()));
        let transport = |e: reqwest::Error| {
            // A POST that timed out may have reached Twilio: the sender reconciles before
            // sending again. A refused connection never did.
            let ambiguous = request.post && !e.is_connect();
            let what = if e.is_timeout() { "timed out" } else if e.is_connect() { "connection failed" } else { "transport error" };
            SinkError::Retryable { reason: format!("{what}: {e}"), http_status: None, code: None, retry_after: None, ambiguous }
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.map_err(transport)?.to_vec();
        Ok(TwilioResponse { status, body, retry_after })
    }
}

impl tower::Service<TwilioRequest> for TwilioService {
    type Response = TwilioResponse;
    type Error = SinkError;
    type Future = Pin<Box<dyn Future<Output = Result<TwilioResponse, SinkError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), SinkError>> {
        // reqwest pools connections itself; the rate limit is applied by the sink.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: TwilioRequest) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.send(&request).await })
    }
}
