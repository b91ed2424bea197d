//! `/api/admin/jobs`: the job queue (list, retry a dead job).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use souk_domain::time::rfc3339;
use souk_storage::jobs::{self, JobRecord, JobStatus};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{PageParams, actor, next_cursor, path_id};
use crate::auth::Admin;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiQuery;

#[derive(Debug, Serialize, ToSchema)]
pub struct JobBody {
    pub id: Uuid,
    pub kind: String,
    /// `pending`, `running`, `done` or `dead`.
    #[schema(value_type = crate::api::vocabulary::JobStatus)]
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    /// When it runs next (pending) or ran last.
    #[schema(format = DateTime)]
    pub run_at: String,
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<JobRecord> for JobBody {
    fn from(j: JobRecord) -> Self {
        JobBody {
            id: j.id,
            kind: j.kind,
            status: j.status,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: rfc3339(j.run_at),
            last_error: j.last_error,
            created_at: rfc3339(j.created_at),
            finished_at: j.finished_at.map(rfc3339),
            payload: serde_json::from_str(&j.payload).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    pub items: Vec<JobBody>,
    pub next_cursor: Option<String>,
}

/// Background jobs, newest first (`status`: pending, running, done, dead).
#[utoipa::path(get, path = "/api/admin/jobs", tag = "admin", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Jobs", body = JobPage),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin (`forbidden`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_jobs(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<JobPage>> {
    let (limit, cursor, status) = params.parse(&crate::api::vocabulary::JobStatus::values())?;
    let rows = jobs::list(
        &state.db,
        status.as_deref().and_then(JobStatus::parse),
        cursor,
        limit,
    )
    .await?;
    let next = next_cursor(rows.iter().map(|r| r.id), rows.len(), limit);
    Ok(Json(JobPage {
        items: rows.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// Run a dead job again, with a fresh set of attempts.
#[utoipa::path(post, path = "/api/admin/jobs/{id}/retry", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job, pending again", body = JobBody),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not dead (`job_not_dead`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry_job(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<JobBody>> {
    let job =
        souk_app::queue::retry_dead(&state.app, &actor(&admin.0, &client), path_id(&id, "job")?)
            .await?;
    Ok(Json(job.into()))
}
