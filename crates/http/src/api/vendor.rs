//! `/api/vendor`: what vendor staff do for their own vendor.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use souk_domain::accounts::validate_name;
use souk_domain::catalog::Handle;
use souk_storage::vendors;
use utoipa::ToSchema;

use crate::AppState;
use crate::api::admin::VendorAdminBody;
use crate::api::auth::ClientInfo;
use crate::api::common::audit;
use crate::auth::Principal;
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
