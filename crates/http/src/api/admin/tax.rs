//! `/api/admin/tax-rates`: the rates per country and region.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use souk_storage::rates::{self};
use utoipa::ToSchema;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::auth::Admin;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateBody {
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Region code (state, province); empty or absent: the whole country.
    #[serde(default)]
    pub region: String,
    /// Basis points: 1900 = 19 %.
    pub rate_bps: i64,
    /// Prices already include this tax (EU style) or it is added on top (US style).
    pub inclusive: bool,
}

/// Tax rates by destination.
#[utoipa::path(get, path = "/api/admin/tax-rates", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Rates", body = TaxRateList),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_tax_rates(
    State(state): State<AppState>,
    _admin: Admin,
) -> ApiResult<Json<TaxRateList>> {
    Ok(Json(TaxRateList {
        items: rates::tax_rates(&state.db)
            .await?
            .into_iter()
            .map(|r| TaxRateBody {
                country: r.country,
                region: r.region,
                rate_bps: r.rate_bps,
                inclusive: r.inclusive,
            })
            .collect(),
        next_cursor: None,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaxRateList {
    pub items: Vec<TaxRateBody>,
    /// Always null: the whole list is in this page (every list has this one shape).
    pub next_cursor: Option<String>,
}

/// Set the tax rate of a country or region (replacing the one there was).
#[utoipa::path(put, path = "/api/admin/tax-rates", tag = "admin", request_body = TaxRateBody, security(("bearer" = [])),
    responses(
        (status = 200, description = "The rate", body = TaxRateBody),
        (status = 400, description = "Invalid rate (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_tax_rate(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    ApiJson(body): ApiJson<TaxRateBody>,
) -> ApiResult<Json<TaxRateBody>> {
    let rate = souk_app::tax::put_rate(
        &state.app,
        &actor(&admin, &client),
        &body.country,
        &body.region,
        body.rate_bps,
        body.inclusive,
    )
    .await?;
    Ok(Json(TaxRateBody {
        country: rate.country,
        region: rate.region,
        rate_bps: rate.rate_bps,
        inclusive: rate.inclusive,
    }))
}
