//! `/api/admin`: orders (search, cancel, record manual payments, complete), coupons, tax rates,
//! vendor commission, the payout report and payouts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use souk_domain::orders::normalise_coupon_code;
use souk_domain::time::rfc3339;
use souk_storage::carts::CouponRow;
use souk_storage::coupons::{self, NewCoupon};
use souk_storage::ledger::{self, PayoutError, PayoutKey};
use souk_storage::orders::{self, OrderFilter, TransitionError};
use souk_storage::rates::{self, TaxRateRow};
use souk_storage::{Exec, now_ms};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{audit, idempotency_key, next_cursor, path_id};
use crate::api::schema::{MoneyArg, MoneyBody};
use crate::api::store::orders::{OrderBody, OrderPage, order_body, status_names, summary};
use crate::api::vendor_orders::{BalanceBody, balance_body, invalid_transition};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiQuery};

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
    let d = orders::detail(Exec::Db(&state.db), id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such order"))?;
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
    let reason = body.reason.trim();
    if reason.chars().count() > 200 {
        return Err(ApiError::validation(vec![FieldError {
            field: "reason".into(),
            message: "at most 200 characters".into(),
        }]));
    }
    let reason = if reason.is_empty() {
        "cancelled_by_admin"
    } else {
        reason
    };
    let mut tx = state.db.begin_write().await?;
    match orders::cancel(&mut tx, id, reason).await? {
        Ok(_) => {}
        Err(TransitionError::NotFound) => return Err(ApiError::not_found("no such order")),
        Err(e) => return Err(invalid_transition(&e)),
    }
    souk_storage::jobs::enqueue_many(
        &mut tx,
        &[souk_jobs::orders::email_job(
            souk_jobs::orders::OrderEmail::Cancelled { order_id: id },
        )],
    )
    .await?;
    audit(
        &mut tx,
        &admin,
        &client.ip,
        "order.cancel",
        "order",
        id,
        None,
        serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    state.invalidate_catalog();
    state.wake_jobs();
    order(&state, id).await
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
    let reference = body.reference.trim();
    let mut errors = Vec::new();
    if amount <= 0 {
        errors.push(FieldError {
            field: "amount".into(),
            message: "must be positive".into(),
        });
    }
    if reference.chars().count() > 200 || souk_domain::text::has_hidden_controls(reference) {
        errors.push(FieldError {
            field: "reference".into(),
            message: "at most 200 characters".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    // A provider's order is paid through its provider; recording money here as well could
    // take a payment twice.
    let method = orders::detail(Exec::Db(&state.db), id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such order"))?
        .order
        .payment_method;
    if method != "manual" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "payment_method_mismatch",
            "Paid through a provider",
            format!(
                "this order is paid with {method}; its payment is recorded from the provider, not by hand"
            ),
        ));
    }
    let mut tx = state.db.begin_write().await?;
    match orders::mark_paid(
        &mut tx,
        id,
        "manual",
        amount,
        reference,
        Some(admin.user_id),
    )
    .await?
    {
        Ok(_) => {}
        Err(TransitionError::NotFound) => return Err(ApiError::not_found("no such order")),
        Err(TransitionError::AmountMismatch { due }) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "amount_mismatch",
                "Wrong amount",
                format!("the amount due is {due}"),
            ));
        }
        Err(e) => return Err(invalid_transition(&e)),
    }
    audit(
        &mut tx,
        &admin,
        &client.ip,
        "order.payment",
        "order",
        id,
        None,
        serde_json::json!({"amount": amount, "reference": reference}),
    )
    .await?;
    souk_storage::jobs::enqueue_many(&mut tx, &[souk_jobs::payments::payment_received_email(id)])
        .await?;
    tx.commit().await?;
    state.wake_jobs();
    order(&state, id).await
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
    let mut tx = state.db.begin_write().await?;
    match orders::complete(&mut tx, id).await? {
        Ok(()) => {}
        Err(TransitionError::NotFound) => return Err(ApiError::not_found("no such order")),
        Err(e) => return Err(invalid_transition(&e)),
    }
    audit(
        &mut tx,
        &admin,
        &client.ip,
        "order.complete",
        "order",
        id,
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    state.wake_jobs();
    order(&state, id).await
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
    let mut errors = Vec::new();
    let mut err = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    let code = normalise_coupon_code(&body.code);
    if code.is_none() {
        err("code", "1–64 letters, digits, '-' or '_'");
    }
    match body.kind.as_str() {
        "percent" if !(1..=10_000).contains(&body.value) => {
            err("value", "basis points from 1 to 10000")
        }
        "fixed" if !(1..=1_000_000_000_000).contains(&body.value) => {
            err("value", "minor units, at least 1")
        }
        "percent" | "fixed" => {}
        _ => err("kind", "must be percent or fixed"),
    }
    let min_subtotal = match &body.min_subtotal {
        Some(m) => m.minor_units("min_subtotal", state.config.currency)?,
        None => 0,
    };
    if !(0..=1_000_000_000_000).contains(&min_subtotal) {
        err("min_subtotal", "minor units, ≥ 0");
    }
    let mut time = |field: &str, v: &Option<String>| -> Option<i64> {
        let v = v.as_deref()?;
        match souk_domain::time::parse_rfc3339(v) {
            Some(t) => Some(t),
            None => {
                err(field, "an RFC 3339 time like 2026-12-31T23:59:59Z");
                None
            }
        }
    };
    let starts_at = time("starts_at", &body.starts_at);
    let expires_at = time("expires_at", &body.expires_at);
    if let (Some(s), Some(e)) = (starts_at, expires_at)
        && e <= s
    {
        err("expires_at", "must be after starts_at");
    }
    if body
        .max_uses
        .is_some_and(|m| !(0..=1_000_000_000).contains(&m))
    {
        err("max_uses", "from 0 to 10^9");
    }
    if body
        .per_customer_limit
        .is_some_and(|m| !(1..=1_000_000).contains(&m))
    {
        err("per_customer_limit", "from 1 to 10^6");
    }
    let Some(code) = code.filter(|_| errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let new = NewCoupon {
        code,
        kind: body.kind.clone(),
        value: body.value,
        min_subtotal,
        starts_at,
        expires_at,
        max_uses: body.max_uses,
        per_customer_limit: body.per_customer_limit,
    };
    let mut tx = state.db.begin_write().await?;
    let c = match coupons::create(&mut tx, &new).await {
        Ok(c) => c,
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "coupon_code_taken",
                "Code taken",
                "a coupon with this code exists",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    audit(
        &mut tx,
        &admin,
        &client.ip,
        "coupon.create",
        "coupon",
        c.id,
        None,
        serde_json::json!({"code": c.code, "kind": c.kind, "value": c.value}),
    )
    .await?;
    tx.commit().await?;
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
    let mut tx = state.db.begin_write().await?;
    let c = coupons::set_active(&mut tx, id, body.active)
        .await?
        .ok_or_else(|| ApiError::not_found("no such coupon"))?;
    audit(
        &mut tx,
        &admin,
        &client.ip,
        if body.active {
            "coupon.activate"
        } else {
            "coupon.deactivate"
        },
        "coupon",
        id,
        None,
        serde_json::json!({"code": c.code}),
    )
    .await?;
    tx.commit().await?;
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
    let country = body.country.trim().to_ascii_uppercase();
    let mut region = String::new();
    let mut errors = Vec::new();
    if !souk_domain::geo::is_country(&country) {
        errors.push(FieldError {
            field: "country".into(),
            message: "an ISO 3166-1 alpha-2 code, like DE".into(),
        });
    } else if !body.region.trim().is_empty() {
        // Regions are ISO 3166-2 codes (a name is turned into its code), the same key shipping
        // addresses are normalised to: no spelling of a taxed region escapes its rate.
        match souk_domain::geo::subdivision(&country, &body.region) {
            Some(code) => code.clone_into(&mut region),
            None => errors.push(FieldError {
                field: "region".into(),
                message: format!(
                    "an ISO 3166-2 subdivision of {country} (its code or name), one of: {}",
                    souk_domain::geo::subdivision_codes(&country)
                ),
            }),
        }
    }
    if !(0..=10_000).contains(&body.rate_bps) {
        errors.push(FieldError {
            field: "rate_bps".into(),
            message: "from 0 to 10000".into(),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let mut tx = state.db.begin_write().await?;
    rates::put_tax_rate(
        &mut tx,
        &TaxRateRow {
            country: country.clone(),
            region: region.clone(),
            rate_bps: body.rate_bps,
            inclusive: body.inclusive,
            updated_at: now_ms(),
        },
    )
    .await?;
    audit(
        &mut tx,
        &admin,
        &client.ip,
        "tax_rate.put",
        "tax_rate",
        format!("{country}/{region}"),
        None,
        serde_json::json!({"rate_bps": body.rate_bps, "inclusive": body.inclusive}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(TaxRateBody {
        country,
        region,
        rate_bps: body.rate_bps,
        inclusive: body.inclusive,
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
    if body
        .commission_bps
        .is_some_and(|b| !(0..=10_000).contains(&b))
    {
        return Err(ApiError::validation(vec![FieldError {
            field: "commission_bps".into(),
            message: "from 0 to 10000, or null".into(),
        }]));
    }
    if !ledger::set_commission(&state.db, id, body.commission_bps).await? {
        return Err(ApiError::not_found("no such vendor"));
    }
    let mut tx = state.db.begin_write().await?;
    audit(
        &mut tx,
        &admin,
        &client.ip,
        "vendor.commission",
        "vendor",
        id,
        Some(id),
        serde_json::json!({"commission_bps": body.commission_bps}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(CommissionBody {
        vendor_id: id,
        commission_bps: body.commission_bps,
        effective_bps: body.commission_bps.unwrap_or(state.config.commission_bps),
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
    let reference = body.reference.trim();
    if amount <= 0 || reference.chars().count() > 200 {
        return Err(ApiError::validation(vec![FieldError {
            field: "amount".into(),
            message: "must be positive (reference: at most 200 characters)".into(),
        }]));
    }
    let cur = state.config.currency.code();
    let mut tx = state.db.begin_write().await?;
    let scope = format!("payout:{id}");
    let key_hash = key.as_deref().map(souk_domain::accounts::token_hash);
    if let Some(key_hash) = &key_hash {
        let fingerprint = souk_domain::orders::request_fingerprint(&[
            &amount.to_be_bytes(),
            reference.as_bytes(),
        ]);
        match ledger::claim_payout_key(&mut tx, &scope, key_hash, &fingerprint).await? {
            PayoutKey::New => {}
            PayoutKey::Replay(payout_id) => {
                let payout = ledger::payout(&mut tx, payout_id)
                    .await?
                    .ok_or_else(|| ApiError::not_found("no such payout"))?;
                drop(tx);
                return payout_response(&state, id, payout).await;
            }
            PayoutKey::Reused => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "Idempotency key reused",
                    "this Idempotency-Key was used for a different payout; use a new key for a new payout",
                ));
            }
        }
    }
    let payout =
        match ledger::record_payout(&mut tx, id, amount, cur, reference, admin.user_id).await? {
            Ok(p) => p,
            Err(PayoutError::NoSuchVendor) => return Err(ApiError::not_found("no such vendor")),
            Err(PayoutError::InsufficientBalance { available }) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "insufficient_balance",
                    "Insufficient balance",
                    format!("the vendor's available balance is {available}"),
                ));
            }
        };
    audit(
        &mut tx,
        &admin,
        &client.ip,
        "vendor.payout",
        "payout",
        payout.id,
        Some(id),
        serde_json::json!({"amount": amount, "reference": reference}),
    )
    .await?;
    if let Some(key_hash) = &key_hash {
        ledger::remember_payout(&mut tx, &scope, key_hash, payout.id).await?;
    }
    tx.commit().await?;
    payout_response(&state, id, payout).await
}

/// A recorded payout with the vendor's balance now.
async fn payout_response(
    state: &AppState,
    vendor_id: Uuid,
    payout: ledger::PayoutRow,
) -> ApiResult<(StatusCode, Json<PayoutBody>)> {
    let cur = state.config.currency.code();
    let balance = ledger::balance(&state.db, vendor_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such vendor"))?;
    Ok((
        StatusCode::CREATED,
        Json(PayoutBody {
            id: payout.id,
            vendor_id,
            amount: money(payout.amount, cur),
            reference: payout.reference,
            created_at: rfc3339(payout.created_at),
            balance: balance_body(&balance, cur),
        }),
    ))
}
