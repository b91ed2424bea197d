//! `GET /api/store/vendors` and `GET /api/store/vendors/{handle}`: the shops of the marketplace.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use souk_domain::catalog::Handle;
use souk_storage::catalog;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::common::{PageParams, next_cursor};
use crate::api::schema::VendorBody;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorPage {
    pub items: Vec<VendorBody>,
    pub next_cursor: Option<String>,
}

/// The active vendors, by handle, each with its number of published products.
#[utoipa::path(get, path = "/api/store/vendors", operation_id = "store_list_vendors", tag = "store",
    params(PageParams),
    responses(
        (status = 200, description = "Active vendors", body = VendorPage),
        (status = 400, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_vendors(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<VendorPage>> {
    let (limit, after, _) = params.parse(&[])?;
    let rows = catalog::active_vendors(&state.db, after, limit).await?;
    let next = next_cursor(rows.iter().map(|v| v.id), rows.len(), limit);
    Ok(Json(VendorPage {
        items: rows
            .into_iter()
            .map(|v| VendorBody {
                id: v.id,
                handle: v.handle,
                name: v.name,
                description: v.description,
                product_count: v.product_count,
            })
            .collect(),
        next_cursor: next,
    }))
}

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
        description: vendor.description,
        product_count: vendor.product_count,
    }))
}
