//! `/api/vendor`: what vendor staff do for their own vendor.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_domain::accounts::validate_name;
use souk_domain::catalog::Handle;
use souk_storage::vendors;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::admin::VendorAdminBody;
use crate::api::auth::ClientInfo;
use crate::api::common::audit;
use crate::auth::{Principal, VendorStaff};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
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
    let mut errors = Vec::new();
    let name = validate_name(&body.name)
        .map_err(|m| {
            errors.push(FieldError {
                field: "name".into(),
                message: m.into(),
            })
        })
        .ok();
    let handle = Handle::parse(&body.handle)
        .map_err(|e| {
            errors.push(FieldError {
                field: "handle".into(),
                message: e.to_string(),
            })
        })
        .ok();
    let (Some(name), Some(handle)) = (name, handle) else {
        return Err(ApiError::validation(errors));
    };
    if principal.vendor.is_some()
        || vendors::is_member_anywhere(&state.db, principal.user_id).await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_vendor_staff",
            "Already vendor staff",
            "you already belong to a vendor",
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let vendor = match vendors::apply(&mut tx, principal.user_id, handle.as_str(), &name).await {
        Ok(v) => v,
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "handle_taken",
                "Handle taken",
                format!("the handle '{handle}' is taken"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    audit(
        &mut tx,
        &principal,
        &client.ip,
        "vendor.apply",
        "vendor",
        vendor.id,
        Some(vendor.id),
        serde_json::json!({"handle": vendor.handle}),
    )
    .await?;
    // The admins' live feed: a vendor is waiting for approval.
    souk_storage::events::emit(
        &mut tx,
        "vendor.applied",
        None,
        None,
        &serde_json::json!({"vendor_id": vendor.id, "handle": vendor.handle, "name": vendor.name}),
    )
    .await?;
    tx.commit().await?;
    state.wake_jobs();
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
}

impl From<vendors::VendorProfileRecord> for VendorProfileBody {
    fn from(v: vendors::VendorProfileRecord) -> Self {
        VendorProfileBody {
            id: v.id,
            handle: v.handle,
            name: v.name,
            description: v.description,
            status: v.status,
        }
    }
}

/// Changes to a vendor's profile: what is omitted stays. (The handle is the vendor's address
/// and does not change.)
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    let owner = staff
        .principal
        .vendor
        .as_ref()
        .is_some_and(|m| m.role == "owner");
    if !owner {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "only the vendor's owners edit its profile",
        ));
    }
    let mut errors = Vec::new();
    let name = match &body.name {
        Some(n) => validate_name(n)
            .map_err(|m| {
                errors.push(FieldError {
                    field: "name".into(),
                    message: m.into(),
                })
            })
            .ok(),
        None => None,
    };
    let description = body.description.as_deref().map(|d| d.trim().to_owned());
    if let Some(d) = &description
        && (d.chars().count() > 2000
            || d.chars().any(|c| {
                !matches!(c, '\n' | '\r' | '\t') && souk_domain::text::is_hidden_control(c)
            }))
    {
        errors.push(FieldError {
            field: "description".into(),
            message: "plain text, at most 2000 characters".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut tx = state.db.begin_write().await?;
    let profile = vendors::update_profile(
        &mut tx,
        staff.vendor_id,
        name.as_deref(),
        description.as_deref(),
    )
    .await?
    .ok_or_else(|| ApiError::not_found("no such vendor"))?;
    audit(
        &mut tx,
        &staff.principal,
        &client.ip,
        "vendor.profile",
        "vendor",
        staff.vendor_id,
        Some(staff.vendor_id),
        serde_json::json!({"name": body.name.is_some(), "description": body.description.is_some()}),
    )
    .await?;
    tx.commit().await?;
    state.invalidate_catalog();
    Ok(Json(profile.into()))
}
