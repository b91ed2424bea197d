//! `/api/admin`: refunds, an order's payment attempts and refunds, and an on-demand payment
//! reconciliation pass.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_app::payments::{self as flows, RefundAsk, RefundMade};
use souk_storage::payments::{self as store, RefundLine};
use souk_storage::{Exec, orders};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{RequiredIdempotencyKey, actor, path_id};
use crate::api::schema::{MoneyArg, MoneyBody};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// At most what was paid and not yet refunded (of that vendor order, when aimed at one).
    /// Required unless `lines` is given; with `lines`, it may be omitted and, if given, must be
    /// what the units are worth.
    #[serde(default)]
    pub amount: Option<MoneyArg>,
    /// Aim the refund at one vendor order of this order: it then comes out of that vendor's
    /// part only. Omitted: spread over the vendor orders in proportion.
    #[serde(default)]
    pub vendor_order_id: Option<Uuid>,
    /// Aim the refund at units of order lines, all of one vendor order: the amount is what
    /// they are worth (each line's total, tax and discount included, spread over its units),
    /// and it comes out of that vendor's part. Shipping is refunded by amount.
    #[serde(default)]
    #[schema(min_items = 1)]
    pub lines: Option<Vec<RefundLineRequest>>,
    #[serde(default)]
    pub reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundLineRequest {
    /// An order line (`lines[].id` of the order).
    pub line_id: Uuid,
    /// At most the units not refunded yet (`quantity - refunded_quantity`).
    #[schema(minimum = 1)]
    pub quantity: i64,
}

/// Units of a line a refund gave money back for.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundLineBody {
    pub line_id: Uuid,
    pub quantity: i64,
    pub amount: MoneyBody,
}

/// The lines of refund `id` among an order's refund lines.
fn lines_of_refund(
    all: &[(Uuid, Uuid, i64, i64)],
    id: Uuid,
    currency: &str,
) -> Vec<RefundLineBody> {
    all.iter()
        .filter(|(refund, ..)| *refund == id)
        .map(|&(_, line_id, quantity, amount)| RefundLineBody {
            line_id,
            quantity,
            amount: MoneyBody {
                amount,
                currency: currency.to_owned(),
            },
        })
        .collect()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundBody {
    pub id: Uuid,
    pub order_id: Uuid,
    /// The vendor order it was aimed at, if any.
    pub vendor_order_id: Option<Uuid>,
    /// The lines it was aimed at (empty for a refund by amount).
    pub lines: Vec<RefundLineBody>,
    pub amount: MoneyBody,
    pub reason: String,
    /// `pending` (the provider is working on it), `succeeded` or `failed`.
    #[schema(value_type = crate::api::vocabulary::RefundStatus)]
    pub status: String,
    /// The order's status after the refund (`partially_refunded`, `refunded`, …).
    #[schema(value_type = crate::api::vocabulary::OrderStatus)]
    pub order_status: String,
    pub order_refunded: MoneyBody,
}

/// Refunds part or all of a paid order. Requires an `Idempotency-Key`: a retry with the same
/// key and amount returns the same refund. For Stripe orders the refund is sent through the
/// Refunds API; for manual orders it records money returned outside Souk. Vendors' earnings and
/// the platform's commission are reversed in proportion — or, with `vendor_order_id`, from that
/// vendor order only; the customer is emailed.
#[utoipa::path(post, path = "/api/admin/orders/{id}/refunds", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("Idempotency-Key" = String, Header, description = "Makes retries safe"),
    ),
    request_body = RefundRequest,
    responses(
        (status = 201, description = "The refund (succeeded, or pending at the provider)", body = RefundBody),
        (status = 200, description = "A retry with the same key: the refund it made", body = RefundBody),
        (status = 400, description = "`idempotency_key_required`, `invalid_idempotency_key`, `validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_refundable` (nothing paid) or `refund_too_large`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`idempotency_key_reused`, or `currency_mismatch` (an amount in another currency than the shop's)", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "`refund_failed`: the provider refused the refund", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_refund(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
    Path(id): Path<String>,
    RequiredIdempotencyKey(key): RequiredIdempotencyKey,
    ApiJson(body): ApiJson<RefundRequest>,
) -> ApiResult<(StatusCode, Json<RefundBody>)> {
    let order_id = path_id(&id, "order")?;
    let amount = match &body.amount {
        Some(a) => Some(a.minor_units("amount", state.config.currency)?),
        None => None,
    };
    let ask = RefundAsk {
        amount,
        vendor_order_id: body.vendor_order_id,
        lines: body.lines.map(|lines| {
            lines
                .iter()
                .map(|l| RefundLine {
                    line_id: l.line_id,
                    quantity: l.quantity,
                })
                .collect()
        }),
        reason: body.reason,
        idempotency_key: key,
    };
    let RefundMade {
        refund,
        replayed,
        order,
        refund_lines,
    } = flows::refund(&state.app, &actor(&admin, &client), order_id, ask).await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(RefundBody {
            id: refund.id,
            order_id,
            vendor_order_id: refund.vendor_order_id,
            lines: lines_of_refund(&refund_lines, refund.id, &refund.currency),
            amount: MoneyBody {
                amount: refund.amount,
                currency: refund.currency.clone(),
            },
            reason: refund.reason,
            status: refund.status,
            order_status: order.status,
            order_refunded: MoneyBody {
                amount: order.refunded_amount,
                currency: order.currency,
            },
        }),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReconcileBody {
    /// Payments asked about.
    pub checked: u64,
    /// Found succeeded (a webhook was lost): the order is now paid, or refunded if cancelled.
    pub succeeded: u64,
    /// Payments created at the provider that had not been (the process stopped first).
    pub created: u64,
    /// Refunds sent (or re-sent) to the provider.
    pub refunds: u64,
    /// Provider calls that failed (retried on the next pass).
    pub errors: u64,
}

/// Runs one payment reconciliation pass now (it also runs every `SOUK_PAYMENT_RECONCILE_SECS`):
/// asks the provider about every unpaid payment older than that and applies the answer, calls
/// off payments of cancelled orders, creates payments that were never created and re-sends
/// pending refunds.
#[utoipa::path(post, path = "/api/admin/payments/reconcile", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "What the pass did", body = ReconcileBody),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn reconcile(
    State(state): State<AppState>,
    Admin(admin): Admin,
    client: ClientInfo,
) -> ApiResult<Json<ReconcileBody>> {
    let r = flows::reconcile_now(
        &state.app,
        &actor(&admin, &client),
        state.config.payment_reconcile_age,
    )
    .await?;
    Ok(Json(ReconcileBody {
        checked: r.checked,
        succeeded: r.succeeded,
        created: r.created,
        refunds: r.refunds,
        errors: r.errors,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentAttemptBody {
    pub provider: String,
    pub attempt: i64,
    /// The provider's id (Stripe: `pi_…`); `null` until the provider answered.
    pub provider_ref: Option<String>,
    /// `pending`, `failed`, `processing`, `succeeded` or `canceled`.
    #[schema(value_type = crate::api::vocabulary::PaymentState)]
    pub state: String,
    pub amount: MoneyBody,
    /// Why the last call to the provider failed (it is retried by reconciliation).
    pub last_error: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefundSummary {
    pub id: Uuid,
    /// The vendor order it was aimed at, if any.
    pub vendor_order_id: Option<Uuid>,
    /// The lines it was aimed at (empty for a refund by amount).
    pub lines: Vec<RefundLineBody>,
    pub amount: MoneyBody,
    pub reason: String,
    #[schema(value_type = crate::api::vocabulary::RefundStatus)]
    pub status: String,
    pub provider_ref: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPaymentsBody {
    pub order_id: Uuid,
    #[schema(value_type = crate::api::vocabulary::PaymentMethod)]
    pub payment_method: String,
    pub paid: MoneyBody,
    pub refunded: MoneyBody,
    pub attempts: Vec<PaymentAttemptBody>,
    pub refunds: Vec<RefundSummary>,
}

/// An order's payment attempts at its provider (with the last error) and its refunds: what an
/// admin needs to answer "did this customer pay, and did they get their money back?".
#[utoipa::path(get, path = "/api/admin/orders/{id}/payments", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Order id")),
    responses(
        (status = 200, description = "Payments and refunds", body = OrderPaymentsBody),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn order_payments(
    State(state): State<AppState>,
    _admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<OrderPaymentsBody>> {
    let order_id = path_id(&id, "order")?;
    let order = orders::detail(Exec::Db(&state.db), order_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such order"))?
        .order;
    let money = |amount: i64, currency: &str| MoneyBody {
        amount,
        currency: currency.to_owned(),
    };
    let t = souk_domain::time::rfc3339;
    let attempts = store::attempts_of(Exec::Db(&state.db), order_id)
        .await?
        .into_iter()
        .map(|p| PaymentAttemptBody {
            amount: money(p.amount, &p.currency),
            provider: p.provider,
            attempt: p.attempt,
            provider_ref: p.provider_ref,
            state: p.state,
            last_error: p.last_error,
            created_at: t(p.created_at),
            updated_at: t(p.updated_at),
        })
        .collect();
    let refund_lines = store::refund_lines_of(Exec::Db(&state.db), order_id).await?;
    let refunds = store::refunds_of(Exec::Db(&state.db), order_id)
        .await?
        .into_iter()
        .map(|r| RefundSummary {
            id: r.id,
            vendor_order_id: r.vendor_order_id,
            lines: lines_of_refund(&refund_lines, r.id, &r.currency),
            amount: money(r.amount, &r.currency),
            reason: r.reason,
            status: r.status,
            provider_ref: r.provider_ref,
            created_at: t(r.created_at),
        })
        .collect();
    Ok(Json(OrderPaymentsBody {
        order_id,
        payment_method: order.payment_method.clone(),
        paid: money(order.paid_amount, &order.currency),
        refunded: money(order.refunded_amount, &order.currency),
        attempts,
        refunds,
    }))
}
