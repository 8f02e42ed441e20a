//! Limits every route shares, so a slow or oversized request cannot hold the server: a whole
//! request (head, body and answer) must finish within `server.request_timeout_ms` (408 otherwise,
//! from tower-http's timeout layer), its head within `server.max_header_bytes` (431), and its
//! body within `server.max_body_bytes` (413).
//!
//! [`apply`] puts them, with the count of refusals, on the routes as ONE layer: axum boxes every
//! route again for each `Router::layer` call, and each request clones those boxes (a box in a
//! box in a box…), so one stacked layer costs a request one boxed service where one layer per
//! concern cost it several, and a middleware written with `axum::middleware::from_fn` boxes the
//! rest of the stack once more. The services here are plain `tower` ones: nothing is boxed.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::future::Either;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::timeout::TimeoutLayer;

use super::error::count_rejections;
use crate::config::ServerConfig;
use crate::metrics::Metrics;

/// `app` with the request timeout, the header and body limits of `server`, and every refusal a
/// route answers counted in `metrics` (see [`count_rejections`]).
pub fn apply(app: Router, server: &ServerConfig, metrics: Arc<Metrics>) -> Router {
    let timeout = Duration::from_millis(server.request_timeout_ms);
    app.layer(
        ServiceBuilder::new()
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
            .layer(LimitHeadersLayer { max: server.max_header_bytes })
            .layer(DefaultBodyLimit::max(server.max_body_bytes))
            .layer(count_rejections(metrics)),
    )
}

/// Refuses a request whose header names and values together exceed `max` bytes.
#[derive(Debug, Clone, Copy)]
struct LimitHeadersLayer {
    max: usize,
}

impl<S> Layer<S> for LimitHeadersLayer {
    type Service = LimitHeaders<S>;

    fn layer(&self, inner: S) -> LimitHeaders<S> {
        LimitHeaders { inner, max: self.max }
    }
}

/// The service of [`LimitHeadersLayer`].
#[derive(Debug, Clone)]
struct LimitHeaders<S> {
    inner: S,
    max: usize,
}

impl<S> Service<Request> for LimitHeaders<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let size: usize = request.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
        if size > self.max {
            tracing::info!(size, max = self.max, "Request refused: headers too large.");
            return Either::Left(ready(Ok((StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large").into_response())));
        }
        Either::Right(self.inner.call(request))
    }
}
