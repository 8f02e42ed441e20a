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
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower::ServiceExt as _;

use self::health::HealthState;

/// The application's routes: the sources' `routes`, `/healthz` and `/metrics`. Bodies above
/// `max_body_bytes` get 413.
pub fn router(routes: Vec<Router>, health: HealthState, max_body_bytes: usize) -> Router {
    let metrics = health.metrics.clone();
    let mut app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .with_state(health);
    for r in routes {
        app = app.merge(r);
    }
    app.layer(axum::middleware::from_fn_with_state(metrics, error::count_rejections)).layer(DefaultBodyLimit::max(max_body_bytes))
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in flight.
/// A request's head (request line and headers) must arrive within `head_timeout`, else hyper
/// closes the connection: `axum::serve` gives hyper no timer, so a client dripping its headers
/// byte by byte would hold its connection for good (the route timeout starts after the head).
pub async fn serve(listener: TcpListener, app: Router, head_timeout: Duration, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(head_timeout);
    let (closing_tx, closing_rx) = watch::channel(false);
    // Each connection holds a sender; all dropped means every connection is done.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
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
        let (builder, mut closing, open) = (builder.clone(), closing_rx.clone(), open_tx.clone());
        tokio::spawn(async move {
            let mut connection = pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
            let mut asked_to_close = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "Connection ended with an error.");
                        }
                        break;
                    }
                    _ = closing.changed(), if !asked_to_close => {
                        asked_to_close = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(open);
        });
    }
    drop(listener);
    closing_tx.send(true).ok();
    drop(open_tx);
    open_rx.recv().await;
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
