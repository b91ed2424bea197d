//! `GET /api/store/vendors/{handle}`.

use axum::Json;
use axum::extract::{Path, State};
use souk_domain::catalog::Handle;
use souk_storage::catalog;

use crate::AppState;
use crate::api::schema::VendorBody;
use crate::error::{ApiError, ApiResult, Problem};

/// An active vendor's public profile.
#[utoipa::path(
    get,
    path = "/api/store/vendors/{handle}",
    tag = "store",
    params(("handle" = String, Path, description = "The vendor's handle")),
    responses(
        (status = 200, description = "The vendor", body = VendorBody),
        (status = 404, description = "No such active vendor (`not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_vendor(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> ApiResult<Json<VendorBody>> {
    let not_found =
        || ApiError::not_found(format!("no vendor with handle '{}'", handle.escape_debug()));
    Handle::parse(&handle).map_err(|_| not_found())?;
    let vendor = catalog::vendor_by_handle(&state.db, &handle, true)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(VendorBody {
        id: vendor.id,
        handle: vendor.handle,
        name: vendor.name,
        product_count: vendor.product_count,
    }))
}
