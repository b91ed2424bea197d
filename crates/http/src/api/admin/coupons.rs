//! `/api/admin/coupons`: create, list, switch on and off.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_domain::time::rfc3339;
use souk_storage::carts::CouponRow;
use souk_storage::coupons::{self};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{actor, path_id};
use crate::api::schema::money;
use crate::api::schema::{MoneyArg, MoneyBody};
use crate::auth::Admin;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;
use souk_app::coupons::CouponDraft;

#[derive(Debug, Serialize, ToSchema)]
pub struct CouponBody {
    pub id: Uuid,
    pub code: String,
    /// `percent` (value in basis points: 1000 = 10 %) or `fixed` (value in minor units).
    #[schema(value_type = crate::api::vocabulary::CouponKind)]
    pub kind: String,
    pub value: i64,
    pub min_subtotal: MoneyBody,
    #[schema(format = DateTime)]
    pub starts_at: Option<String>,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    pub max_uses: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub uses: i64,
    pub active: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

fn coupon_body(c: &CouponRow, currency: &str) -> CouponBody {
    CouponBody {
        id: c.id,
        code: c.code.clone(),
        kind: c.kind.clone(),
        value: c.value,
        min_subtotal: money(c.min_subtotal, currency),
        starts_at: c.starts_at.map(rfc3339),
        expires_at: c.expires_at.map(rfc3339),
        max_uses: c.max_uses,
        per_customer_limit: c.per_customer_limit,
        uses: c.uses,
        active: c.active,
        created_at: rfc3339(c.created_at),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponRequest {
    /// Letters, digits, `-`, `_`; case-insensitive.
    pub code: String,
    /// `percent` or `fixed`.
    #[schema(value_type = crate::api::vocabulary::CouponKind)]
    pub kind: String,
    /// Basis points (1–10000) for `percent`, minor units for `fixed`.
    pub value: i64,
    /// The goods total from which the coupon applies (default none).
    #[serde(default)]
    pub min_subtotal: Option<MoneyArg>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub starts_at: Option<String>,
    /// RFC 3339; the coupon stops working at this instant.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// Total uses over all customers.
    pub max_uses: Option<i64>,
    /// Uses per customer (by email).
    pub per_customer_limit: Option<i64>,
}

/// Create a coupon.
#[utoipa::path(post, path = "/api/admin/coupons", tag = "admin", request_body = CouponRequest, security(("bearer" = [])),
    responses(
        (status = 422, description = "An amount in another currency than the shop's (`currency_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "The coupon", body = CouponBody),
        (status = 400, description = "Invalid coupon (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Code taken (`coupon_code_taken`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_coupon(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    ApiJson(body): ApiJson<CouponRequest>,
) -> ApiResult<(StatusCode, Json<CouponBody>)> {
    let min_subtotal = match &body.min_subtotal {
        Some(m) => m.minor_units("min_subtotal", state.config.currency)?,
        None => 0,
    };
    let draft = CouponDraft {
        code: body.code,
        kind: body.kind,
        value: body.value,
        min_subtotal,
        starts_at: body.starts_at,
        expires_at: body.expires_at,
        max_uses: body.max_uses,
        per_customer_limit: body.per_customer_limit,
    };
    let c = souk_app::coupons::create(&state.app, &actor(&admin, &client), &draft).await?;
    Ok((
        StatusCode::CREATED,
        Json(coupon_body(&c, state.config.currency.code())),
    ))
}

/// All coupons, newest first.
#[utoipa::path(get, path = "/api/admin/coupons", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Coupons", body = CouponList),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_coupons(
    State(state): State<AppState>,
    _admin: Admin,
) -> ApiResult<Json<CouponList>> {
    let rows = coupons::list(&state.db).await?;
    let cur = state.config.currency.code();
    Ok(Json(CouponList {
        items: rows.iter().map(|c| coupon_body(c, cur)).collect(),
        next_cursor: None,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CouponList {
    pub items: Vec<CouponBody>,
    /// Always null: the whole list is in this page (every list has this one shape).
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponActiveRequest {
    pub active: bool,
}

/// Switch a coupon on or off.
#[utoipa::path(put, path = "/api/admin/coupons/{id}/active", tag = "admin", request_body = CouponActiveRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Coupon id")),
    responses(
        (status = 200, description = "The coupon", body = CouponBody),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such coupon", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_coupon_active(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CouponActiveRequest>,
) -> ApiResult<Json<CouponBody>> {
    let id = path_id(&id, "coupon")?;
    let c =
        souk_app::coupons::set_active(&state.app, &actor(&admin, &client), id, body.active).await?;
    Ok(Json(coupon_body(&c, state.config.currency.code())))
}
