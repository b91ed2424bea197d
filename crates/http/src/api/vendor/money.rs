//! `/api/vendor/balance` and `/api/vendor/payouts`: what the vendor earned and was paid.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use souk_storage::ledger;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::common::{PageParams, next_cursor};
use crate::api::schema::{BalanceBody, MoneyBody, balance_body};
use crate::auth::VendorStaff;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;

/// This vendor's money.
#[utoipa::path(get, path = "/api/vendor/balance", tag = "vendor", security(("bearer" = [])),
    responses(
        (status = 200, description = "The balance", body = BalanceBody),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn balance(
    State(state): State<AppState>,
    staff: VendorStaff,
) -> ApiResult<Json<BalanceBody>> {
    let b = ledger::balance(&state.db, staff.vendor_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such vendor"))?;
    Ok(Json(balance_body(&b, state.config.currency.code())))
}

/// Money the platform sent this vendor.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorPayoutBody {
    pub id: Uuid,
    pub amount: MoneyBody,
    /// The platform's reference (a bank transfer's, say).
    pub reference: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorPayoutPage {
    pub items: Vec<VendorPayoutBody>,
    pub next_cursor: Option<String>,
}

/// This vendor's payout history, newest first (the balance says what is still owed).
#[utoipa::path(get, path = "/api/vendor/payouts", tag = "vendor", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Payouts", body = VendorPayoutPage),
        (status = 400, description = "Invalid `limit` or `cursor` (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn payouts(
    State(state): State<AppState>,
    staff: VendorStaff,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<VendorPayoutPage>> {
    let (limit, before, _) = params.parse(&[])?;
    let rows = ledger::payouts_page(&state.db, staff.vendor_id, before, limit).await?;
    let next = next_cursor(rows.iter().map(|p| p.id), rows.len(), limit);
    Ok(Json(VendorPayoutPage {
        items: rows
            .into_iter()
            .map(|p| VendorPayoutBody {
                id: p.id,
                amount: MoneyBody {
                    amount: p.amount,
                    currency: p.currency,
                },
                reference: p.reference,
                created_at: souk_domain::time::rfc3339(p.created_at),
            })
            .collect(),
        next_cursor: next,
    }))
}
