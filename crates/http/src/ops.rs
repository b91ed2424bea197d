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
    #[schema(value_type = crate::api::vocabulary::HealthStatus)]
    pub status: &'static str,
    /// Said when this process's job worker sees due jobs waiting longer than 30 s (emails and
    /// webhooks are late; the shop still serves: not a failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog: Option<Backlog>,
}

/// The job queue falling behind.
#[derive(Debug, Serialize, ToSchema)]
pub struct Backlog {
    /// Due jobs waiting (counted up to 10,000).
    pub jobs_due: i64,
    /// How long the oldest due job has waited.
    pub oldest_due_seconds: i64,
}

/// The queue's backlog when its oldest due job has waited past the warning threshold. Reads
/// the pending-jobs index only (the count stops at `cap`).
async fn backlog(state: &AppState, cap: i64) -> Option<Backlog> {
    let (due, age_ms) = souk_storage::jobs::backlog(&state.db, cap).await.ok()?;
    metrics::gauge!("souk_jobs_due").set(due as f64);
    metrics::gauge!("souk_jobs_oldest_due_seconds").set(age_ms as f64 / 1000.0);
    let limit = i64::try_from(souk_app::jobs::BACKLOG_WARN_AFTER.as_millis()).unwrap_or(i64::MAX);
    (age_ms > limit).then_some(Backlog {
        jobs_due: due,
        oldest_due_seconds: age_ms / 1000,
    })
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Up", body = Status)))]
pub async fn healthz() -> Json<Status> {
    Json(Status {
        status: "ok",
        backlog: None,
    })
}

/// Readiness: the database answers. A load balancer should route traffic only while this is 200.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Database unreachable (`database_unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Status>> {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => Ok(Json(Status {
            status: "ready",
            backlog: backlog(&state, 10_000).await,
        })),
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
    backlog(&state, 100_000).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
