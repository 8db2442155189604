//! HTTP at the edge (axum): `/metrics`, `/healthz`, `/readyz`.
//!
//! `/healthz` answers 200 while the process serves requests. `/readyz` answers 200 only
//! when partitions are assigned and the last checkpoint succeeded, so an orchestrator
//! does not route to, or count as healthy, a daemon that cannot make progress.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::metrics::Metrics;

/// What `/readyz` reports; written by the consumer, read by HTTP.
#[derive(Debug, Default)]
pub struct Readiness {
    assigned: AtomicBool,
    checkpoint_ok: AtomicBool,
}

impl Readiness {
    pub fn set_assigned(&self, v: bool) {
        self.assigned.store(v, Ordering::SeqCst);
    }
    pub fn set_checkpoint_ok(&self, v: bool) {
        self.checkpoint_ok.store(v, Ordering::SeqCst);
    }
    /// `None` when ready, else why not.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if !self.assigned.load(Ordering::SeqCst) {
            Some("no partitions assigned")
        } else if !self.checkpoint_ok.load(Ordering::SeqCst) {
            Some("last checkpoint did not succeed (or none yet)")
        } else {
            None
        }
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    readiness: Arc<Readiness>,
}

pub fn router(metrics: Metrics, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(AppState { metrics, readiness })
}

async fn metrics_handler(State(s): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.readiness.not_ready_reason() {
        None => (StatusCode::OK, "ready\n".to_string()),
        Some(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}

/// Binds first (so a port conflict is reported at start-up), then serves until
/// `shutdown` resolves.
pub async fn serve(
    bind: SocketAddr,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(%bind, "HTTP listening: /metrics /healthz /readyz");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "HTTP server failed");
        }
    }))
}
