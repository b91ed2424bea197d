//! `/api/admin/orders`: every order, searched and filtered; one order; cancel, record a manual
//! payment, complete.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use souk_storage::orders::{self, OrderFilter};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{actor, next_cursor, path_id};
use crate::api::schema::MoneyArg;
use crate::api::store::orders::{OrderBody, OrderPage, order_body, status_names, summary};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderSearch {
    /// 1–100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub status: Option<String>,
    /// A customer email (exact), an order id, or an order number as customers see it
    /// (`#A1B2C3D4`; the `#` optional, any case).
    pub q: Option<String>,
}

/// All orders, newest first; search by customer email, order id or order number.
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
            ..Default::default()
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
