//! `/api/admin`: platform staff. Vendor moderation, the job queue, the audit log.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use souk_domain::time::rfc3339;
use souk_storage::catalog::VendorRecord;
use souk_storage::jobs::{self, JobRecord, JobStatus};
use souk_storage::{audit, vendors};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{PageParams, actor, next_cursor, path_id};
use crate::auth::Admin;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiQuery;

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorAdminBody {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    /// `pending`, `active` or `suspended`.
    #[schema(value_type = crate::api::vocabulary::VendorStatus)]
    pub status: String,
    pub owner_email: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
}

impl VendorAdminBody {
    pub fn from_record(
        v: &VendorRecord,
        owner_email: Option<String>,
        created_at: Option<i64>,
    ) -> Self {
        VendorAdminBody {
            id: v.id,
            handle: v.handle.clone(),
            name: v.name.clone(),
            status: v.status.clone(),
            owner_email,
            created_at: created_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorAdminPage {
    pub items: Vec<VendorAdminBody>,
    pub next_cursor: Option<String>,
}

/// All vendors, newest first (`status` filters: pending, active, suspended).
#[utoipa::path(get, path = "/api/admin/vendors", tag = "admin", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Vendors", body = VendorAdminPage),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin (`forbidden`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_vendors(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<VendorAdminPage>> {
    let (limit, cursor, status) = params.parse(&crate::api::vocabulary::VendorStatus::values())?;
    let rows = vendors::list(&state.db, status.as_deref(), cursor, limit).await?;
    let next = next_cursor(rows.iter().map(|r| r.id), rows.len(), limit);
    Ok(Json(VendorAdminPage {
        items: rows
            .into_iter()
            .map(|r| VendorAdminBody {
                id: r.id,
                handle: r.handle,
                name: r.name,
                status: r.status,
                owner_email: r.owner_email,
                created_at: Some(rfc3339(r.created_at)),
            })
            .collect(),
        next_cursor: next,
    }))
}

/// Approve a vendor: it becomes active and its published products are shown.
#[utoipa::path(post, path = "/api/admin/vendors/{id}/approve", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Vendor id")),
    responses(
        (status = 200, description = "The vendor, now active", body = VendorAdminBody),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin, or CSRF (`forbidden`, `csrf_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such vendor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn approve_vendor(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<VendorAdminBody>> {
    let vendor = souk_app::vendors::approve(
        &state.app,
        &actor(&admin.0, &client),
        path_id(&id, "vendor")?,
    )
    .await?;
    Ok(Json(VendorAdminBody::from_record(&vendor, None, None)))
}

/// Suspend a vendor: its products disappear from the storefront and its staff lose access.
#[utoipa::path(post, path = "/api/admin/vendors/{id}/suspend", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Vendor id")),
    responses(
        (status = 200, description = "The vendor, now suspended", body = VendorAdminBody),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin, or CSRF (`forbidden`, `csrf_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such vendor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn suspend_vendor(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<VendorAdminBody>> {
    let vendor = souk_app::vendors::suspend(
        &state.app,
        &actor(&admin.0, &client),
        path_id(&id, "vendor")?,
    )
    .await?;
    Ok(Json(VendorAdminBody::from_record(&vendor, None, None)))
}

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

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditBody {
    pub id: Uuid,
    #[schema(format = DateTime)]
    pub at: String,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub vendor_id: Option<Uuid>,
    /// Client address the change came from.
    pub ip: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditBody>,
    pub next_cursor: Option<String>,
}

/// The audit log of admin and vendor writes, newest first.
#[utoipa::path(get, path = "/api/admin/audit-log", tag = "admin", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Audit entries", body = AuditPage),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin (`forbidden`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn audit_log(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<AuditPage>> {
    let (limit, cursor, _) = params.parse(&[])?;
    let rows = audit::list(&state.db, None, cursor, limit).await?;
    let next = next_cursor(rows.iter().map(|r| r.id), rows.len(), limit);
    Ok(Json(AuditPage {
        items: rows
            .into_iter()
            .map(|r| AuditBody {
                id: r.id,
                at: rfc3339(r.created_at),
                actor_user_id: r.actor_user_id,
                actor_email: r.actor_email,
                action: r.action,
                subject_type: r.subject_type,
                subject_id: r.subject_id,
                vendor_id: r.vendor_id,
                ip: r.ip,
                details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            })
            .collect(),
        next_cursor: next,
    }))
}
