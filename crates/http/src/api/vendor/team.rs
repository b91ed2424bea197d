//! `/api/vendor/invitations`: inviting staff by email, the open invitations, accepting one.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_storage::vendors;
use utoipa::ToSchema;
use uuid::Uuid;

use super::require_owner;
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::auth::VendorMembershipBody;
use crate::api::common::{PageParams, actor, next_cursor, path_id};
use crate::auth::{Principal, VendorStaff};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};

/// An invitation to join the vendor as staff.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationBody {
    pub id: Uuid,
    pub email: String,
    #[schema(value_type = crate::api::vocabulary::InvitationStatus)]
    pub status: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
}

impl InvitationBody {
    fn of(i: &vendors::InvitationRecord) -> Self {
        let t = souk_domain::time::rfc3339;
        InvitationBody {
            id: i.id,
            email: i.email.clone(),
            status: i.status(souk_storage::now_ms()).to_owned(),
            created_at: t(i.created_at),
            expires_at: t(i.expires_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationPage {
    pub items: Vec<InvitationBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    /// Who to invite; they accept while signed in with this address.
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    /// The `token` of the emailed link.
    pub token: String,
}

/// Invite someone by email to join the vendor as staff (owners only). They get an email with
/// a link, open for 7 days.
#[utoipa::path(post, path = "/api/vendor/invitations", tag = "vendor", request_body = InvitationRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "The invitation; its email is on its way", body = InvitationBody),
        (status = 403, description = "Not an owner of the vendor (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An open invitation to this address exists (`invitation_pending`), or the address already belongs to this vendor (`already_vendor_staff`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "20 invitations today already (`too_many_attempts`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    ApiJson(body): ApiJson<InvitationRequest>,
) -> ApiResult<(StatusCode, Json<InvitationBody>)> {
    require_owner(&staff, "only the vendor's owners invite staff")?;
    let invitation = souk_app::vendors::invite(
        &state.app,
        &actor(&staff.principal, &client),
        staff.vendor_id,
        &body.email,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(InvitationBody::of(&invitation))))
}

/// The vendor's invitations, newest first (owners only).
#[utoipa::path(get, path = "/api/vendor/invitations", tag = "vendor", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Invitations", body = InvitationPage),
        (status = 403, description = "Not an owner of the vendor (`forbidden`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_invitations(
    State(state): State<AppState>,
    staff: VendorStaff,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<InvitationPage>> {
    require_owner(&staff, "only the vendor's owners see its invitations")?;
    let (limit, before, _) = params.parse(&[])?;
    let rows = vendors::invitations(&state.db, staff.vendor_id, before, limit).await?;
    let next = next_cursor(rows.iter().map(|i| i.id), rows.len(), limit);
    Ok(Json(InvitationPage {
        items: rows.iter().map(InvitationBody::of).collect(),
        next_cursor: next,
    }))
}

/// Withdraw an invitation not yet accepted (owners only): its link stops working.
#[utoipa::path(delete, path = "/api/vendor/invitations/{id}", tag = "vendor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "Not an owner of the vendor (`forbidden`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No open invitation with this id", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    require_owner(&staff, "only the vendor's owners revoke invitations")?;
    let id = path_id(&id, "invitation")?;
    souk_app::vendors::revoke_invitation(
        &state.app,
        &actor(&staff.principal, &client),
        staff.vendor_id,
        id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation: the signed-in account (which must have the invited address) joins
/// the vendor as staff. The link works once.
#[utoipa::path(post, path = "/api/vendor/invitations/accept", tag = "vendor", request_body = AcceptInvitationRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "You are now staff of the vendor", body = VendorMembershipBody),
        (status = 400, description = "The link is invalid, expired, revoked or used (`invalid_token`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The invitation is for another address (`invitation_for_another_email`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "This account already belongs to a vendor (`already_vendor_staff`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept_invitation(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<AcceptInvitationRequest>,
) -> ApiResult<Json<VendorMembershipBody>> {
    let (vendor_id, vendor_status) =
        souk_app::vendors::accept_invitation(&state.app, &actor(&principal, &client), &body.token)
            .await?;
    Ok(Json(VendorMembershipBody {
        vendor_id,
        role: "staff".to_owned(),
        vendor_status,
    }))
}
