//! `/healthz` and `/metrics` of a service.
//!
//! `/healthz` answers 200 only while the service is connected to its broker with
//! every subscription acknowledged (it can work), 503 otherwise. `/metrics` is the
//! Prometheus text format of [`Metrics`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// What the endpoints report: the connection's state and the service's metrics.
#[derive(Clone)]
pub struct Health {
    /// Connected to the broker.
    pub connected: watch::Receiver<bool>,
    /// Connected with every subscription acknowledged.
    pub ready: watch::Receiver<bool>,
    pub metrics: Arc<Metrics>,
}

async fn healthz(State(h): State<Health>) -> impl IntoResponse {
    if *h.ready.borrow() {
        (StatusCode::OK, "ready\n")
    } else if *h.connected.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "connected, subscribing\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not connected to the broker\n",
        )
    }
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        h.metrics.render(),
    )
}

/// `/healthz` and `/metrics`, for a service that serves more on its own address.
pub fn router<S: Clone + Send + Sync + 'static>(health: Health) -> Router<S> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(health)
}

/// Serves `/healthz` and `/metrics` on `addr` in a task of its own; a port that cannot
/// be bound is logged (the service runs on without the endpoints).
pub fn serve(addr: SocketAddr, health: Health) {
    let app: Router = router(health);
    tokio::spawn(async move {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                tracing::info!(%addr, "serving /healthz and /metrics");
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "health endpoint stopped");
                }
            }
            Err(e) => tracing::error!(
                %addr,
                error = %e,
                "cannot serve /healthz and /metrics: choose a free WIS2_HEALTH_ADDR"
            ),
        }
    });
}
