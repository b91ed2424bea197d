//! `/api/vendor/shipping-rates`: the vendor's shipping options.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_app::shipping::{self, RateDraft};
use souk_domain::time::rfc3339;
use souk_storage::rates::{self, ShippingRateRow};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{actor, path_id};
use crate::api::schema::{MoneyArg, MoneyBody, money};
use crate::auth::VendorStaff;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingRateBody {
    pub id: Uuid,
    pub name: String,
    /// `flat`, `free_over` or `by_weight`.
    #[schema(value_type = crate::api::vocabulary::ShippingRateKind)]
    pub kind: String,
    /// flat: the price; free_over: the price below the threshold; by_weight: the base price.
    pub amount: MoneyBody,
    /// free_over: goods (after discount) from which shipping is free.
    pub threshold: Option<MoneyBody>,
    /// by_weight: added per started kilogram.
    pub per_kg: Option<MoneyBody>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

fn rate_body(r: &ShippingRateRow, currency: &str) -> ShippingRateBody {
    ShippingRateBody {
        id: r.id,
        name: r.name.clone(),
        kind: r.kind.clone(),
        amount: money(r.amount, currency),
        threshold: r.threshold.map(|t| money(t, currency)),
        per_kg: r.per_kg.map(|p| money(p, currency)),
        created_at: rfc3339(r.created_at),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingRateRequest {
    pub name: String,
    /// `flat`, `free_over` or `by_weight`.
    #[schema(value_type = crate::api::vocabulary::ShippingRateKind)]
    pub kind: String,
    /// ≥ 0.
    pub amount: MoneyArg,
    /// Required for `free_over`.
    pub threshold: Option<MoneyArg>,
    /// Required for `by_weight`.
    pub per_kg: Option<MoneyArg>,
}

/// This vendor's shipping options.
#[utoipa::path(get, path = "/api/vendor/shipping-rates", tag = "vendor", security(("bearer" = [])),
    responses(
        (status = 200, description = "Options", body = ShippingRateList),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_rates(
    State(state): State<AppState>,
    staff: VendorStaff,
) -> ApiResult<Json<ShippingRateList>> {
    let rows = rates::shipping_rates(&state.db, staff.vendor_id).await?;
    let cur = state.config.currency.code();
    Ok(Json(ShippingRateList {
        items: rows.iter().map(|r| rate_body(r, cur)).collect(),
        next_cursor: None,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingRateList {
    pub items: Vec<ShippingRateBody>,
    /// Always null: the whole list is in this page (every list has this one shape).
    pub next_cursor: Option<String>,
}

/// Add a shipping option. Without any, the vendor ships for free.
#[utoipa::path(post, path = "/api/vendor/shipping-rates", tag = "vendor", request_body = ShippingRateRequest, security(("bearer" = [])),
    responses(
        (status = 422, description = "An amount in another currency than the shop's (`currency_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "The option", body = ShippingRateBody),
        (status = 400, description = "Invalid option (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Too many options (`too_many_shipping_rates`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_rate(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    ApiJson(body): ApiJson<ShippingRateRequest>,
) -> ApiResult<(StatusCode, Json<ShippingRateBody>)> {
    let shop = state.config.currency;
    let amount = body.amount.minor_units("amount", shop)?;
    let threshold = match &body.threshold {
        Some(m) => Some(m.minor_units("threshold", shop)?),
        None => None,
    };
    let per_kg = match &body.per_kg {
        Some(m) => Some(m.minor_units("per_kg", shop)?),
        None => None,
    };
    let draft = RateDraft {
        name: body.name,
        kind: body.kind,
        amount,
        threshold,
        per_kg,
    };
    let row = shipping::create(
        &state.app,
        &actor(&staff.principal, &client),
        staff.vendor_id,
        &draft,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(rate_body(&row, state.config.currency.code())),
    ))
}

/// Remove a shipping option (carts that chose it fall back to the cheapest).
#[utoipa::path(delete, path = "/api/vendor/shipping-rates/{id}", tag = "vendor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Option id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such option of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete_rate(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "shipping option")?;
    shipping::delete(
        &state.app,
        &actor(&staff.principal, &client),
        staff.vendor_id,
        id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
