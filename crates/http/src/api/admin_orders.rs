//! `/api/admin`: orders (search, cancel, record manual payments, complete), coupons, tax rates,
//! vendor commission, the payout report and payouts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use souk_domain::time::rfc3339;
use souk_storage::carts::CouponRow;
use souk_storage::coupons::{self};
use souk_storage::ledger::{self};
use souk_storage::orders::{self, OrderFilter};
use souk_storage::rates::{self};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{actor, idempotency_key, next_cursor, path_id};
use crate::api::schema::{MoneyArg, MoneyBody};
use crate::api::store::orders::{OrderBody, OrderPage, order_body, status_names, summary};
use crate::api::vendor_orders::{BalanceBody, balance_body};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use souk_app::coupons::CouponDraft;

fn money(amount: i64, currency: &str) -> MoneyBody {
    MoneyBody {
        amount,
        currency: currency.to_owned(),
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderSearch {
    /// 1–100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub status: Option<String>,
    /// A customer email (exact) or an order id.
    pub q: Option<String>,
}

/// All orders, newest first; search by customer email or order id.
#[utoipa::path(get, path = "/api/admin/orders", operation_id = "admin_list_orders", tag = "admin", params(OrderSearch), security(("bearer" = [])),
    responses(
        (status = 200, description = "Orders", body = OrderPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orders(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<OrderSearch>,
) -> ApiResult<Json<OrderPage>> {
    let page = crate::api::common::PageParams {
        limit: params.limit,
        cursor: params.cursor,
        status: params.status,
    };
    let (limit, before, status) = page.parse(&status_names())?;
    let query = params
        .q
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if query.as_ref().is_some_and(|q| q.len() > 254) {
        return Err(ApiError::invalid_query("q: at most 254 characters"));
    }
    let rows = orders::list(
        &state.db,
        &OrderFilter {
            user_id: None,
            status,
            query,
            before,
            limit,
        },
    )
    .await?;
    Ok(Json(OrderPage {
        next_cursor: next_cursor(rows.iter().map(|r| r.id), rows.len(), limit),
        items: rows.iter().map(summary).collect(),
    }))
}

async fn order(state: &AppState, id: Uuid) -> ApiResult<Json<OrderBody>> {
    let d = souk_app::orders::get(&state.app, id).await?;
    Ok(Json(order_body(&d, None)))
}

/// One order, in full.
#[utoipa::path(get, path = "/api/admin/orders/{id}", operation_id = "admin_get_order", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = OrderBody),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_order(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderBody>> {
    order(&state, path_id(&id, "order")?).await
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Why (kept on the order), at most 200 characters.
    #[serde(default)]
    pub reason: String,
}

/// Cancel an unpaid order: its stock and coupon use are given back, exactly once.
#[utoipa::path(post, path = "/api/admin/orders/{id}/cancel", tag = "admin", request_body = CancelRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The cancelled order", body = OrderBody),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Paid, shipped or already cancelled (`invalid_transition`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel_order(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CancelRequest>,
) -> ApiResult<Json<OrderBody>> {
    let id = path_id(&id, "order")?;
    let d = souk_app::orders::cancel(&state.app, &actor(&admin, &client), id, &body.reason).await?;
    Ok(Json(order_body(&d, None)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualPaymentRequest {
    /// Must be the order total.
    pub amount: MoneyArg,
    /// Bank transfer reference, receipt number… (at most 200 characters).
    #[serde(default)]
    pub reference: String,
}

/// Record a manual payment (bank transfer, cash): the order becomes `paid` — once — and the
/// vendors' earnings and the platform's commission go into the ledger.
#[utoipa::path(post, path = "/api/admin/orders/{id}/payments", tag = "admin", request_body = ManualPaymentRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The paid order", body = OrderBody),
        (status = 400, description = "Invalid amount or reference", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already paid or cancelled (`invalid_transition`), or paid through a provider (`payment_method_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not the amount due (`amount_mismatch`), or in another currency than the shop's (`currency_mismatch`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn record_payment(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ManualPaymentRequest>,
) -> ApiResult<Json<OrderBody>> {
    let id = path_id(&id, "order")?;
    let amount = body.amount.minor_units("amount", state.config.currency)?;
    let d = souk_app::orders::record_manual_payment(
        &state.app,
        &actor(&admin, &client),
        id,
        amount,
        &body.reference,
    )
    .await?;
    Ok(Json(order_body(&d, None)))
}

/// Close a fulfilled order.
#[utoipa::path(post, path = "/api/admin/orders/{id}/complete", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "The completed order", body = OrderBody),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not fulfilled (`invalid_transition`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn complete_order(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderBody>> {
    let id = path_id(&id, "order")?;
    let d = souk_app::orders::complete(&state.app, &actor(&admin, &client), id).await?;
    Ok(Json(order_body(&d, None)))
}

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
            let mut w = csv::Writer::from_writer(Vec::new());
            let header = [
                "vendor_id",
                "vendor_name",
                "currency",
                "earned",
                "commission",
                "paid_out",
                "available",
                "pending",
            ];
            w.write_record(header).map_err(|_| ApiError::internal())?;
            for b in &rows {
                w.write_record([
                    b.vendor_id.to_string(),
                    souk_domain::shopify::neutralise_cell(&b.vendor_name).into_owned(),
                    cur.to_owned(),
                    b.earned.to_string(),
                    b.commission.to_string(),
                    b.paid_out.to_string(),
                    b.available.to_string(),
                    b.pending.to_string(),
                ])
                .map_err(|_| ApiError::internal())?;
            }
            let bytes = w.into_inner().map_err(|_| ApiError::internal())?;
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
