//! `/api/vendor/apply` and `/api/vendor/profile`: applying to sell, and the shop's profile.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_storage::vendors;
use utoipa::ToSchema;
use uuid::Uuid;

use super::require_owner;
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::api::schema::VendorAdminBody;
use crate::auth::{Principal, VendorStaff};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VendorApplication {
    /// Display name of the shop.
    pub name: String,
    /// URL handle: lower-case letters, digits, `-`, `_`.
    pub handle: String,
}

/// Apply to sell: creates a pending vendor owned by the caller. An admin approves it.
#[utoipa::path(post, path = "/api/vendor/apply", tag = "vendor", request_body = VendorApplication, security(("bearer" = [])),
    responses(
        (status = 201, description = "Pending vendor created; you are its owner", body = VendorAdminBody),
        (status = 400, description = "Invalid input (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie without CSRF token (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Handle taken (`handle_taken`) or already in a vendor (`already_vendor_staff`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn apply(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<VendorApplication>,
) -> ApiResult<(StatusCode, Json<VendorAdminBody>)> {
    let vendor = souk_app::vendors::apply(
        &state.app,
        &actor(&principal, &client),
        &body.name,
        &body.handle,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(VendorAdminBody::from_record(
            &vendor,
            Some(principal.email),
            None,
        )),
    ))
}

/// A vendor's profile, as its staff see and edit it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorProfileBody {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    /// Plain text shoppers see on the vendor's page.
    pub description: String,
    #[schema(value_type = crate::api::vocabulary::VendorStatus)]
    pub status: String,
    /// The shop's logo (an uploaded image's path, `/media/…`), set from the dashboard.
    pub logo_url: Option<String>,
}

impl From<vendors::VendorProfileRecord> for VendorProfileBody {
    fn from(v: vendors::VendorProfileRecord) -> Self {
        VendorProfileBody {
            id: v.id,
            handle: v.handle,
            name: v.name,
            description: v.description,
            status: v.status,
            logo_url: v.logo_url,
        }
    }
}

/// Changes to a vendor's profile: what is omitted stays. (The handle is the vendor's address
/// and does not change.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct VendorProfilePatch {
    /// The shop's display name (1–100 characters).
    pub name: Option<String>,
    /// Plain text, at most 2000 characters (line breaks kept).
    pub description: Option<String>,
}

/// The caller's vendor profile.
#[utoipa::path(get, path = "/api/vendor/profile", tag = "vendor", security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile", body = VendorProfileBody),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_profile(
    State(state): State<AppState>,
    staff: VendorStaff,
) -> ApiResult<Json<VendorProfileBody>> {
    let profile = vendors::profile(&state.db, staff.vendor_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such vendor"))?;
    Ok(Json(profile.into()))
}

/// Edit the vendor's name and description (owners only). A new name shows at once in the
/// storefront and in search.
#[utoipa::path(patch, path = "/api/vendor/profile", tag = "vendor", request_body = VendorProfilePatch, security(("bearer" = [])),
    responses(
        (status = 200, description = "The profile after the change", body = VendorProfileBody),
        (status = 403, description = "Not an owner of the vendor (`forbidden`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_profile(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    ApiJson(body): ApiJson<VendorProfilePatch>,
) -> ApiResult<Json<VendorProfileBody>> {
    require_owner(&staff, "only the vendor's owners edit its profile")?;
    let profile = souk_app::vendors::update_profile(
        &state.app,
        &actor(&staff.principal, &client),
        staff.vendor_id,
        body.name.as_deref(),
        body.description.as_deref(),
    )
    .await?;
    Ok(Json(profile.into()))
}
