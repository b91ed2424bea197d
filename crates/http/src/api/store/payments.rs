//! `/api/store/orders/{id}/payment`: where the shopper's payment stands, and "I have paid".

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Serialize;
use souk_app::payments::{self as flows, PaymentView};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::schema::MoneyBody;
use crate::api::store::orders::readable_order;
use crate::auth::MaybePrincipal;
use crate::error::{ApiResult, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentBody {
    pub order_id: Uuid,
    /// The order's status after this call (`paid` once the payment arrived).
    #[schema(value_type = crate::api::vocabulary::OrderStatus)]
    pub order_status: String,
    /// `manual` or `stripe`.
    pub provider: String,
    /// `pending`, `failed`, `processing`, `succeeded` or `canceled`.
    #[schema(value_type = crate::api::vocabulary::PaymentState)]
    pub state: String,
    /// For Stripe.js to complete the payment; `null` when there is nothing to complete or the
    /// provider cannot be reached right now (ask again shortly).
    pub client_secret: Option<String>,
    pub amount: MoneyBody,
}

impl From<PaymentView> for PaymentBody {
    fn from(view: PaymentView) -> Self {
        PaymentBody {
            order_id: view.order.id,
            order_status: view.order.status,
            provider: view.provider,
            state: view.state.as_str().to_owned(),
            client_secret: view.client_secret,
            amount: MoneyBody {
                amount: view.order.total,
                currency: view.order.currency,
            },
        }
    }
}

/// Where the order's payment stands, with Stripe's `client_secret` for the storefront (the
/// payment is created at the provider now if that did not happen at checkout).
#[utoipa::path(get, path = "/api/store/orders/{id}/payment", tag = "store",
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "The checkout's `access_token` (guests)"),
    ),
    responses(
        (status = 200, description = "The payment", body = PaymentBody),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_payment(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentBody>> {
    refresh_payment(&state, &caller, &headers, &id).await
}

/// "I have paid": the storefront's confirmation after Stripe.js finished. Souk asks the
/// provider (it never trusts the client) and applies the answer through the same idempotent
/// transition as the webhook, so racing both pays the order once.
#[utoipa::path(post, path = "/api/store/orders/{id}/payment/confirm", tag = "store",
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "The checkout's `access_token` (guests)"),
    ),
    responses(
        (status = 200, description = "The payment as the provider reports it now", body = PaymentBody),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_payment(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<PaymentBody>> {
    refresh_payment(&state, &caller, &headers, &id).await
}

async fn refresh_payment(
    state: &AppState,
    caller: &MaybePrincipal,
    headers: &HeaderMap,
    id: &str,
) -> ApiResult<Json<PaymentBody>> {
    let detail = readable_order(state, caller, headers, id).await?;
    let view = flows::refresh(&state.app, &detail.order).await?;
    Ok(Json(view.into()))
}
