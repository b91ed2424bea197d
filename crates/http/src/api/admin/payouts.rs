//! `/api/admin`: a vendor's commission rate, the payout report (JSON or CSV) and recording
//! a payout.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use souk_domain::time::rfc3339;
use souk_storage::ledger::{self};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{actor, idempotency_key, path_id};
use crate::api::schema::money;
use crate::api::schema::{BalanceBody, balance_body};
use crate::api::schema::{MoneyArg, MoneyBody};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommissionRequest {
    /// Basis points (1000 = 10 %); `null`: the platform default.
    pub commission_bps: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CommissionBody {
    pub vendor_id: Uuid,
    /// The vendor's own rate, or `null` for the platform default.
    pub commission_bps: Option<i64>,
    /// The rate that applies to new orders.
    pub effective_bps: i64,
}

/// Set a vendor's commission rate (new orders only; placed orders keep theirs).
#[utoipa::path(put, path = "/api/admin/vendors/{id}/commission", tag = "admin", request_body = CommissionRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Vendor id")),
    responses(
        (status = 200, description = "The rate", body = CommissionBody),
        (status = 400, description = "Invalid rate", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such vendor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_commission(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CommissionRequest>,
) -> ApiResult<Json<CommissionBody>> {
    let id = path_id(&id, "vendor")?;
    let effective_bps = souk_app::payouts::set_commission(
        &state.app,
        &actor(&admin, &client),
        id,
        body.commission_bps,
    )
    .await?;
    Ok(Json(CommissionBody {
        vendor_id: id,
        commission_bps: body.commission_bps,
        effective_bps,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutReportLine {
    pub vendor_name: String,
    #[serde(flatten)]
    pub balance: BalanceBody,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutReport {
    /// One line per vendor.
    pub items: Vec<PayoutReportLine>,
    /// Always null: the whole list is in this page (every list has this one shape).
    pub next_cursor: Option<String>,
}

/// What each vendor earned, what the platform earned, what was paid out and what is owed.
/// `?format=csv` gives the same as a CSV file (amounts in minor units).
#[utoipa::path(get, path = "/api/admin/payouts/report", tag = "admin", params(ReportParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "One line per vendor (JSON, or CSV with `format=csv`)",
            content((PayoutReport = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn payout_report(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> ApiResult<Response> {
    let rows = ledger::report(&state.db).await?;
    let cur = state.config.currency.code();
    match params.format.as_deref() {
        None | Some("json") => Ok(Json(PayoutReport {
            items: rows
                .iter()
                .map(|b| PayoutReportLine {
                    vendor_name: b.vendor_name.clone(),
                    balance: balance_body(b, cur),
                })
                .collect(),
            next_cursor: None,
        })
        .into_response()),
        Some("csv") => {
            let bytes = souk_app::payouts::report_csv(&rows, cur)?;
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"payout-report.csv\""),
            );
            Ok(response)
        }
        Some(_) => Err(ApiError::invalid_query("format: json or csv")),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    /// At most the vendor's available balance.
    pub amount: MoneyArg,
    /// Transfer reference (at most 200 characters).
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutBody {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub amount: MoneyBody,
    pub reference: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The vendor's balance after the payout.
    pub balance: BalanceBody,
}

/// Record money sent to a vendor; it is deducted from their available balance. With an
/// `Idempotency-Key`, a retry (same key, same body) answers with the payout already recorded
/// instead of recording another; the same key with another body: 422 `idempotency_key_reused`.
#[utoipa::path(post, path = "/api/admin/vendors/{id}/payouts", tag = "admin", request_body = PayoutRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Vendor id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Recommended; 1–255 printable ASCII characters, e.g. a UUID. Reuse it to retry safely.")),
    responses(
        (status = 201, description = "The payout (also for a retry with the same key)", body = PayoutBody),
        (status = 400, description = "Invalid amount or idempotency key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such vendor", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "More than the available balance (`insufficient_balance`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The key was used for another payout (`idempotency_key_reused`), or the amount is in another currency than the shop's (`currency_mismatch`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn record_payout(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PayoutRequest>,
) -> ApiResult<(StatusCode, Json<PayoutBody>)> {
    let id = path_id(&id, "vendor")?;
    let key = idempotency_key(&headers)?;
    let amount = body.amount.minor_units("amount", state.config.currency)?;
    let recorded = souk_app::payouts::record(
        &state.app,
        &actor(&admin, &client),
        id,
        amount,
        &body.reference,
        key.as_deref(),
    )
    .await?;
    let cur = state.config.currency.code();
    let payout = recorded.payout;
    Ok((
        StatusCode::CREATED,
        Json(PayoutBody {
            id: payout.id,
            vendor_id: id,
            amount: money(payout.amount, cur),
            reference: payout.reference,
            created_at: rfc3339(payout.created_at),
            balance: balance_body(&recorded.balance, cur),
        }),
    ))
}
