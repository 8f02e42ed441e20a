//! The HTTP edge: [`router`] assembles the sources' webhook routes with health and metrics
//! (tests call it without a socket); [`serve`] runs it. Every route answers errors through
//! [`error::ApiError`].

pub mod error;
pub mod health;
pub mod limits;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tokio::net::TcpListener;

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
pub async fn serve(listener: TcpListener, app: Router, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    // The peer address is what the console limits sign-in attempts by.
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(shutdown).await
}
