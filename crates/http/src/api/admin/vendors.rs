//! `/api/admin/vendors`: vendor moderation (list, approve, suspend).

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use souk_domain::time::rfc3339;
use souk_storage::vendors;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{PageParams, actor, next_cursor, path_id};
use crate::api::schema::VendorAdminBody;
use crate::auth::Admin;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiQuery;

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
