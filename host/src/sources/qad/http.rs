//! The wire to one QAD tenant: a reqwest client with the tenant's timeout,
//! a semaphore so at most `max_concurrency` (≤ 2) requests are in flight,
//! what an answer means ([`classify`]), and retries with the `backon` crate:
//! exponential backoff with jitter, and a `Retry-After` longer than the
//! drawn delay wins. A `Retry-After` beyond `retry_max` ends the retries and
//! hands the wait to the poll driver.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable as _};
use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::sinks::twilio::retry::parse_retry_after;
use crate::sources::qad::config::QadConfig;
use crate::sources::qad::error::PollError;

/// An answer as received.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self, what: &str) -> Result<Value, PollError> {
        serde_json::from_slice(&self.body).map_err(|e| PollError::retryable(format!("{what}: the answer is not JSON ({e})")))
    }
}

/// The tenant's HTTP client and its limits.
pub struct Http {
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    backoff: ExponentialBuilder,
    retry_max: Duration,
}

impl Http {
    /// A client with `config`'s timeout, concurrency and retry settings.
    pub fn new(config: &QadConfig) -> Result<Self, PollError> {
        let client = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .build()
            .map_err(|e| PollError::broken(format!("cannot build the HTTP client: {e}")))?;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(config.retry_base)
            .with_max_delay(config.retry_max)
            .with_max_times(config.max_retries)
            .with_jitter();
        Ok(Http { client, permits: Arc::new(Semaphore::new(config.max_concurrency)), backoff, retry_max: config.retry_max })
    }

    /// The reqwest client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends one request while holding a permit; a transport failure or timeout is retryable.
    pub async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<Answer, PollError> {
        let _permit = self.permits.acquire().await.map_err(|_| PollError::retryable("the tenant's client is shutting down"))?;
        let response = request.send().await.map_err(|e| {
            let kind = if e.is_timeout() { "timed out" } else { "failed" };
            PollError::retryable(format!("{what}: request {kind}: {}", without_url(&e)))
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| PollError::retryable(format!("{what}: reading the answer failed: {}", without_url(&e))))?;
        Ok(Answer { status, headers, body: body.to_vec() })
    }

    /// Runs `attempt` until it succeeds, fails for good, or the retries run out.
    pub async fn retry<T, F, Fut>(&self, attempt: F) -> Result<T, PollError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, PollError>>,
    {
        let retry_max = self.retry_max;
        attempt
            .retry(self.backoff)
            .sleep(tokio::time::sleep)
            .when(PollError::is_retryable)
            .adjust(move |err, delay| wait(err, delay, retry_max))
            .notify(|err, delay| tracing::warn!(error = %err, delay_ms = delay.as_millis() as u64, "QAD request failed; retrying."))
            .await
    }
}

/// The wait before the next attempt: the drawn `delay`, or QAD's `Retry-After` when longer.
/// No more attempts (`None`) when the retries ran out or `Retry-After` exceeds `retry_max`.
fn wait(err: &PollError, delay: Option<Duration>, retry_max: Duration) -> Option<Duration> {
    let delay = delay?;
    match err {
        PollError::Retryable { retry_after: Some(after), .. } if *after > retry_max => None,
        PollError::Retryable { retry_after: Some(after), .. } => Some(delay.max(*after)),
        _ => Some(delay),
    }
}

/// A reqwest error's text without the URL (the token request's URL may carry a password).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// What a non-401 answer means: 2xx is `Ok`; 429 and 5xx are retryable (with `Retry-After`);
/// 403 and any other 4xx are broken, with QAD's message when its error envelope has one.
pub fn classify(answer: &Answer, what: &str) -> Result<(), PollError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(());
    }
    let message = error_message(&answer.body);
    let detail = message.map(|m| format!(": {m}")).unwrap_or_default();
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        let retry_after = answer
            .headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        return Err(PollError::Retryable { reason: format!("{what}: HTTP {}{detail}", status.as_u16()), retry_after });
    }
    if status == StatusCode::FORBIDDEN {
        return Err(PollError::broken(format!("{what}: HTTP 403, the QAD user lacks a permission{detail}")));
    }
    Err(PollError::broken(format!("{what}: HTTP {}{detail}", status.as_u16())))
}

/// QAD's message from either error envelope: `{"errors":[{"message"}]}` or
/// `{"submitResult":{"errors":[{"message"}]}}`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let errors = value.get("errors").or_else(|| value.get("submitResult")?.get("errors"))?.as_array()?;
    let messages: Vec<String> = errors
        .iter()
        .filter_map(|e| {
            let message = e.get("message")?.as_str()?;
            match e.get("fieldName").and_then(Value::as_str).filter(|f| !f.is_empty()) {
                Some(field) => Some(format!("{field}: {message}")),
                None => Some(message.to_owned()),
            }
        })
        .collect();
    (!messages.is_empty()).then(|| messages.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        Answer { status: StatusCode::from_u16(status).unwrap(), headers: map, body: body.as_bytes().to_vec() }
    }

    #[test]
    fn answers_are_classified_by_status() {
        assert!(classify(&answer(200, &[], "{}"), "browse").is_ok());
        let err = classify(&answer(429, &[("retry-after", "7")], ""), "browse").unwrap_err();
        assert_eq!(err, PollError::Retryable { reason: "browse: HTTP 429".into(), retry_after: Some(Duration::from_secs(7)) });
        assert!(classify(&answer(503, &[], ""), "browse").unwrap_err().is_retryable());
        let forbidden = r#"{"errors":[{"severity":1,"code":"403","message":"Access is denied","fieldName":""}]}"#;
        assert_eq!(
            classify(&answer(403, &[], forbidden), "browse po803").unwrap_err(),
            PollError::broken("browse po803: HTTP 403, the QAD user lacks a permission: Access is denied")
        );
        assert!(!classify(&answer(404, &[], ""), "x").unwrap_err().is_retryable());
    }

    #[test]
    fn submit_result_errors_name_their_field() {
        let body = r#"{"submitResult":{"success":false,"errors":[{"fieldName":"concurrencyHash","message":"stale"}]}}"#;
        assert_eq!(error_message(body.as_bytes()).as_deref(), Some("concurrencyHash: stale"));
    }

    #[test]
    fn retry_after_lengthens_the_wait_and_beyond_the_cap_ends_the_retries() {
        let cap = Duration::from_secs(60);
        let after = |secs| PollError::Retryable { reason: String::new(), retry_after: Some(Duration::from_secs(secs)) };
        assert_eq!(wait(&after(5), Some(Duration::from_secs(1)), cap), Some(Duration::from_secs(5)));
        assert_eq!(wait(&after(1), Some(Duration::from_secs(3)), cap), Some(Duration::from_secs(3)));
        assert_eq!(wait(&after(61), Some(Duration::from_secs(1)), cap), None);
        assert_eq!(wait(&after(5), None, cap), None, "retries ran out");
    }
}
