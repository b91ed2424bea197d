//! Operations endpoints: liveness, readiness, Prometheus metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiError, ApiResult, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` (process up) or `ready` (database reachable).
    pub status: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: the database answers. A load balancer should route traffic only while this is 200.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Database unreachable (`database_unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Status>> {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => Ok(Json(Status { status: "ready" })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(ApiError::unavailable(
                "database_unavailable",
                "the database is not reachable",
            ))
        }
        Err(_) => Err(ApiError::unavailable(
            "database_unavailable",
            "the database did not answer in time",
        )),
    }
}

/// Prometheus metrics (text exposition format): requests by route and status, latency
/// histograms, database pool usage.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Metrics", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let pool = state.db.pool_stats();
    metrics::gauge!("souk_db_pool_connections", "state" => "open").set(f64::from(pool.size));
    metrics::gauge!("souk_db_pool_connections", "state" => "idle").set(f64::from(pool.idle));
    metrics::gauge!("souk_db_pool_connections", "state" => "max").set(f64::from(pool.max));
    metrics::gauge!("souk_http_requests_in_flight").set(state.in_flight() as f64);
    metrics::gauge!("souk_sse_streams").set(state.events.open_streams() as f64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
