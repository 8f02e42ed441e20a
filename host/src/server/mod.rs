//! The HTTP edge: [`router`] assembles the sources' webhook routes with health and metrics
//! (tests call it without a socket); [`serve`] runs it. Every route answers errors through
//! [`error::ApiError`].

pub mod error;
pub mod health;
pub mod limits;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

use self::health::HealthState;
use crate::config::ServerConfig;

/// The application's routes: the sources' `routes`, `/healthz` and `/metrics`, under the limits
/// of `server` (see [`limits`]), every refusal counted.
pub fn router(routes: Vec<Router>, health: HealthState, server: &ServerConfig) -> Router {
    let metrics = health.metrics.clone();
    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .with_state(health);
    for r in routes {
        app = app.merge(r);
    }
    limits::apply(app, server, metrics)
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in flight.
/// A request's head (request line and headers) must arrive within `head_timeout`, else hyper
/// closes the connection: `axum::serve` gives hyper no timer, so a client dripping its headers
/// byte by byte would hold its connection for good (the route timeout starts after the head).
pub async fn serve(listener: TcpListener, app: Router, head_timeout: Duration, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(head_timeout);
    // Tracks every connection: on shutdown, each is asked to finish its request and close.
    let connections = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!(error = %e, "Could not accept a connection.");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer address is what the console limits sign-in attempts by.
        let service = TowerToHyperService::new(app.clone().map_request(with_peer(peer)));
        let connection = connections.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "Connection ended with an error.");
            }
        });
    }
    drop(listener);
    connections.shutdown().await;
    Ok(())
}

/// After a failed accept, wait this long before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Adds the peer address to each request, as `ConnectInfo` extractors read it.
fn with_peer<B>(peer: SocketAddr) -> impl FnMut(axum::http::Request<B>) -> axum::http::Request<B> + Clone {
    move |mut request| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    }
}
