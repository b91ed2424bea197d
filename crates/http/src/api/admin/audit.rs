//! `/api/admin/audit-log`: who did what.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use souk_domain::time::rfc3339;
use souk_storage::audit;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::common::{PageParams, next_cursor};
use crate::auth::Admin;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiQuery;

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
    let filter = audit::AuditFilter {
        before: cursor,
        limit,
        ..Default::default()
    };
    let rows = audit::list(&state.db, &filter).await?;
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
