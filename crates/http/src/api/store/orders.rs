//! Checkout and the customer's orders.
//!
//! `POST /api/store/carts/{id}/checkout` follows Stripe's idempotency semantics: the
//! `Idempotency-Key` header is required; the first successful response is stored (48 h) and
//! replayed byte for byte for the same key and body; the same key with another body is 422
//! `idempotency_key_reused`; a duplicate while the first is still running is 409
//! `request_in_progress`. A request that fails (4xx) wrote nothing and may be retried with
//! the same key.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use souk_app::checkout::{CheckoutAsk, Customer};
use souk_domain::orders::{
    Address, FulfillmentStatus, OrderStatus, PaymentStatus, VendorOrderStatus, order_number,
    request_fingerprint,
};
use souk_storage::orders::{self, OrderDetail, OrderFilter};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::Accepted;
use crate::api::common::{PageParams, RequiredIdempotencyKey, next_cursor, path_id};
use crate::api::schema::{AddressBody, MoneyBody, money};
use crate::api::store::carts::load_cart;
use crate::auth::{MaybePrincipal, Principal};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};

/// Where the access token goes in a stored response; filled in when it is sent.
const TOKEN_PLACEHOLDER: &str = "{{order_access_token}}";
pub const ORDER_TOKEN_HEADER: &str = "x-order-token";
/// Payment methods checkout accepts. `manual`: bank transfer or cash on delivery, recorded by
/// an admin.
pub use souk_app::checkout::PAYMENT_METHODS;
/// Where Stripe's client secret goes in a stored checkout response; filled in when it is sent
/// (the secret is never stored: it is fetched from Stripe, and is the same for every replay).
const CLIENT_SECRET_PLACEHOLDER: &str = "{{payment_client_secret}}";

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderLineBody {
    pub id: Uuid,
    pub vendor_order_id: Uuid,
    /// `null` when the variant was deleted since.
    pub variant_id: Option<Uuid>,
    pub product_title: String,
    pub variant_title: String,
    pub sku: Option<String>,
    pub note: String,
    pub quantity: i64,
    /// Units shipped so far (over the vendor order's shipments).
    pub shipped_quantity: i64,
    /// Units given money back for by refunds aimed at this line.
    pub refunded_quantity: i64,
    pub unit_price: MoneyBody,
    pub amount: MoneyBody,
    pub discount: MoneyBody,
    pub tax: MoneyBody,
    pub total: MoneyBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorOrderSummary {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub vendor_name: String,
    /// `unfulfilled`, `fulfilled` or `cancelled`.
    #[schema(value_type = crate::api::vocabulary::VendorOrderStatus)]
    pub status: String,
    /// This part's goods: `partially_fulfilled` once some of its units have shipped.
    #[schema(value_type = crate::api::vocabulary::FulfillmentStatus)]
    pub fulfillment_status: String,
    pub shipping_option: Option<String>,
    pub shipping: MoneyBody,
    pub total: MoneyBody,
    /// The latest shipment's carrier and tracking number (every parcel is in `shipments`).
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    /// When the last unit shipped.
    #[schema(format = DateTime)]
    pub fulfilled_at: Option<String>,
    /// The parcels sent, oldest first.
    pub shipments: Vec<ShipmentBody>,
}

/// One parcel of a vendor order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentBody {
    pub id: Uuid,
    pub vendor_order_id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
    pub lines: Vec<ShipmentLineBody>,
    #[schema(format = DateTime)]
    pub shipped_at: String,
    /// Later than `shipped_at` when the tracking was corrected.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShipmentLineBody {
    pub line_id: Uuid,
    pub quantity: i64,
}

pub fn shipment_body(s: &orders::ShipmentRow) -> ShipmentBody {
    ShipmentBody {
        id: s.id,
        vendor_order_id: s.vendor_order_id,
        carrier: s.carrier.clone(),
        tracking_number: s.tracking_number.clone(),
        lines: s
            .lines
            .iter()
            .map(|l| ShipmentLineBody {
                line_id: l.order_line_id,
                quantity: l.quantity,
            })
            .collect(),
        shipped_at: souk_domain::time::rfc3339(s.created_at),
        updated_at: souk_domain::time::rfc3339(s.updated_at),
    }
}

/// One part's fulfilment from its status and its lines' units.
fn part_of(
    status: &str,
    lines: &[orders::OrderLineRow],
    vendor_order_id: Uuid,
) -> (VendorOrderStatus, i64, i64) {
    let (sent, ordered) = lines
        .iter()
        .filter(|l| l.vendor_order_id == vendor_order_id)
        .fold((0, 0), |(s, o), l| (s + l.shipped_quantity, o + l.quantity));
    (
        VendorOrderStatus::parse(status).unwrap_or(VendorOrderStatus::Unfulfilled),
        sent,
        ordered,
    )
}

/// The fulfilment status of one vendor order.
pub fn part_fulfillment(status: &str, lines: &[orders::OrderLineRow], id: Uuid) -> String {
    FulfillmentStatus::of([part_of(status, lines, id)])
        .as_str()
        .to_owned()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderBody {
    pub id: Uuid,
    /// A short reference for people; `id` is the key.
    pub number: String,
    /// `pending_payment`, `paid`, `partially_fulfilled`, `fulfilled`, `completed`, `cancelled`,
    /// `partially_refunded`, `refunded`.
    #[schema(value_type = crate::api::vocabulary::OrderStatus)]
    pub status: String,
    /// The money alone: `pending`, `paid`, `partially_refunded`, `refunded`, `voided`.
    #[schema(value_type = crate::api::vocabulary::PaymentStatus)]
    pub payment_status: String,
    /// The goods alone: `unfulfilled`, `partially_fulfilled`, `fulfilled`, `cancelled`.
    #[schema(value_type = crate::api::vocabulary::FulfillmentStatus)]
    pub fulfillment_status: String,
    /// Only in the checkout response: lets whoever holds it read the order (send it as
    /// `X-Order-Token`). Not stored anywhere; keep it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Only in the checkout response of a `stripe` order: what Stripe.js needs to take the
    /// payment. `client_secret` is `null` if Stripe could not be reached in time; then ask
    /// `GET /api/store/orders/{id}/payment` shortly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment: Option<CheckoutPayment>,
    pub email: String,
    pub shipping_address: AddressBody,
    #[schema(value_type = crate::api::vocabulary::PaymentMethod)]
    pub payment_method: String,
    pub currency: String,
    pub subtotal: MoneyBody,
    pub discount: MoneyBody,
    pub shipping: MoneyBody,
    pub tax: MoneyBody,
    pub total: MoneyBody,
    pub paid: MoneyBody,
    pub refunded: MoneyBody,
    pub coupon_code: Option<String>,
    pub lines: Vec<OrderLineBody>,
    pub vendor_orders: Vec<VendorOrderSummary>,
    pub cancel_reason: Option<String>,
    #[schema(format = DateTime)]
    pub placed_at: String,
    #[schema(format = DateTime)]
    pub paid_at: Option<String>,
    #[schema(format = DateTime)]
    pub cancelled_at: Option<String>,
}

pub fn order_body(d: &OrderDetail, access_token: Option<String>) -> OrderBody {
    let o = &d.order;
    let cur = o.currency.as_str();
    let t = souk_domain::time::rfc3339;
    OrderBody {
        id: o.id,
        number: order_number(&o.id),
        status: o.status.clone(),
        payment_status: PaymentStatus::of(
            OrderStatus::parse(&o.status).unwrap_or(OrderStatus::PendingPayment),
            o.paid_amount,
            o.refunded_amount,
        )
        .as_str()
        .to_owned(),
        fulfillment_status: FulfillmentStatus::of(
            d.vendor_orders
                .iter()
                .map(|v| part_of(&v.status, &d.lines, v.id)),
        )
        .as_str()
        .to_owned(),
        email: o.email.clone(),
        shipping_address: serde_json::from_str::<Address>(&o.shipping_address)
            .expect("stored addresses are valid")
            .into(),
        payment_method: o.payment_method.clone(),
        currency: o.currency.clone(),
        subtotal: money(o.subtotal, cur),
        discount: money(o.discount, cur),
        shipping: money(o.shipping_total, cur),
        tax: money(o.tax, cur),
        total: money(o.total, cur),
        paid: money(o.paid_amount, cur),
        refunded: money(o.refunded_amount, cur),
        coupon_code: o.coupon_code.clone(),
        lines: d.lines.iter().map(|l| line_body(l, cur)).collect(),
        vendor_orders: d
            .vendor_orders
            .iter()
            .map(|v| VendorOrderSummary {
                id: v.id,
                vendor_id: v.vendor_id,
                vendor_name: v.vendor_name.clone(),
                status: v.status.clone(),
                fulfillment_status: part_fulfillment(&v.status, &d.lines, v.id),
                shipping_option: v.shipping_rate.clone(),
                shipping: money(v.shipping, cur),
                total: money(v.total, cur),
                carrier: v.carrier.clone(),
                tracking_number: v.tracking_number.clone(),
                fulfilled_at: v.fulfilled_at.map(t),
                shipments: d
                    .shipments
                    .iter()
                    .filter(|s| s.vendor_order_id == v.id)
                    .map(shipment_body)
                    .collect(),
            })
            .collect(),
        access_token,
        payment: None,
        cancel_reason: o.cancel_reason.clone(),
        placed_at: t(o.placed_at),
        paid_at: o.paid_at.map(t),
        cancelled_at: o.cancelled_at.map(t),
    }
}

pub fn line_body(l: &orders::OrderLineRow, cur: &str) -> OrderLineBody {
    OrderLineBody {
        id: l.id,
        vendor_order_id: l.vendor_order_id,
        variant_id: l.variant_id,
        product_title: l.product_title.clone(),
        variant_title: l.variant_title.clone(),
        sku: l.sku.clone(),
        note: l.note.clone(),
        quantity: l.quantity,
        shipped_quantity: l.shipped_quantity,
        refunded_quantity: l.refunded_quantity,
        unit_price: money(l.unit_price, cur),
        amount: money(l.amount, cur),
        discount: money(l.discount, cur),
        tax: money(l.tax, cur),
        total: money(l.total, cur),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutPayment {
    pub provider: String,
    pub client_secret: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// The customer's email; when omitted, the one saved on the cart
    /// (`PATCH /api/store/carts/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Where to ship; when omitted, the address saved on the cart, so the tax the cart showed
    /// is the tax charged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<AddressBody>,
    /// `manual` (bank transfer / cash on delivery: an admin records the payment) or `stripe`
    /// (when configured: the response carries Stripe's `client_secret`).
    #[schema(value_type = crate::api::vocabulary::PaymentMethod)]
    pub payment_method: String,
}

/// Puts a secret into a stored checkout response in place of its placeholder: the JSON
/// `"field":"{{placeholder}}"`, key and value together. Text a shopper or vendor chose is a
/// JSON string whose quotes are escaped, and no response object has keys they choose, so only
/// the response's own field matches: a product titled like a placeholder can neither capture
/// the secret nor hide it (whatever the field order of the stored body).
fn fill_in(body: &str, field: &str, placeholder: &str, value_json: &str) -> String {
    let anchor = format!("\"{field}\":\"{placeholder}\"");
    match body.find(&anchor) {
        Some(at) => {
            let value_at = at + field.len() + 3;
            let mut filled = String::with_capacity(body.len() + value_json.len());
            filled.push_str(&body[..value_at]);
            filled.push_str(value_json);
            filled.push_str(&body[at + anchor.len()..]);
            filled
        }
        None => body.to_owned(),
    }
}

fn stored(status: u16, body: &str, token: Option<&str>) -> Response {
    let body = match token {
        Some(token) => fill_in(
            body,
            "access_token",
            TOKEN_PLACEHOLDER,
            &serde_json::to_string(token).expect("serializes"),
        ),
        None => body.to_owned(),
    };
    let mut response =
        (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Check out: turn the cart into an order, in one transaction.
///
/// Stock is taken, the coupon consumed, the customer order and one vendor order per vendor are
/// written and the confirmation emails queued — or, on any problem, nothing at all is written.
#[utoipa::path(post, path = "/api/store/carts/{id}/checkout", tag = "store", request_body = CheckoutBody,
    params(
        ("id" = Uuid, Path, description = "Cart id"),
        ("Idempotency-Key" = String, Header, description = "Required; 1–255 printable ASCII characters, e.g. a UUID. Reuse it to retry safely."),
    ),
    responses(
        (status = 201, description = "The order (with `access_token`)", body = OrderBody),
        (status = 400, description = "`idempotency_key_required`, `invalid_idempotency_key`, `validation_failed`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`out_of_stock` (see `variants`), `cart_already_ordered` (see `order_id`), `request_in_progress`, `coupon_exhausted` and other coupon codes", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`too_many_unpaid_orders` (this customer holds as many unpaid orders as allowed) or `too_many_checkouts` (from this address this hour); see `Retry-After`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`cart_empty`, `cart_invalid` (lines no longer for sale), `idempotency_key_reused`, `payment_method_unavailable`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn checkout(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    client: crate::api::auth::ClientInfo,
    Path(id): Path<String>,
    RequiredIdempotencyKey(key): RequiredIdempotencyKey,
    ApiJson(body): ApiJson<CheckoutBody>,
) -> ApiResult<Response> {
    // Access first: a stored response carries the order's token, address and payment secret,
    // so only who may act on the cart gets it replayed (anyone else: 404, like the cart).
    let cart = load_cart(&state, &caller, &id).await?;
    let ask = CheckoutAsk {
        cart: &cart,
        customer: caller.0.as_ref().map(|p| Customer {
            user_id: p.user_id,
            email: p.email.clone(),
        }),
        email: body.email.clone(),
        shipping_address: body.shipping_address.clone().map(Address::from),
        payment_method: body.payment_method.clone(),
        idempotency_key: &key,
        fingerprint: request_fingerprint(&[
            cart.id.as_bytes(),
            &serde_json::to_vec(&body).expect("serializes"),
        ]),
        client_address_key: client.address_key(),
    };
    let done = souk_app::checkout::checkout(&state.app, ask, render_placed).await?;
    let body = fill_in(
        &done.body,
        "client_secret",
        CLIENT_SECRET_PLACEHOLDER,
        &serde_json::to_string(&done.client_secret).expect("serializes"),
    );
    Ok(stored(done.status, &body, done.access_token.as_deref()))
}

/// The answer stored for a placed order: the order with placeholders where the secrets go,
/// filled in each time it is sent (secrets are never stored).
fn render_placed(d: &OrderDetail) -> (u16, String) {
    let mut body = order_body(d, Some(TOKEN_PLACEHOLDER.to_owned()));
    if d.order.payment_method == "stripe" {
        body.payment = Some(CheckoutPayment {
            provider: "stripe".to_owned(),
            client_secret: Some(CLIENT_SECRET_PLACEHOLDER.to_owned()),
        });
    }
    (201, serde_json::to_string(&body).expect("serializes"))
}

/// Reads an order as its customer (logged in) or with its access token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderLookupRequest {
    /// The email the order was placed with.
    pub email: String,
    /// The order's number as shown in its emails (`#1A2B3C4D`; the `#` and case are optional).
    pub number: String,
}

/// A guest asks for their order link again: given the order's email and number, the link is
/// emailed to that address. The answer is the same whether or not an order matches, so it
/// tells nobody which addresses ordered.
#[utoipa::path(post, path = "/api/store/orders/lookup", operation_id = "store_request_order_link", tag = "store",
    request_body = OrderLookupRequest,
    responses(
        (status = 202, description = "If an order matches, its link is on its way to the order's email", body = Accepted),
    ))]
pub async fn request_order_link(
    State(state): State<AppState>,
    client: crate::api::auth::ClientInfo,
    ApiJson(body): ApiJson<OrderLookupRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    souk_app::orders::request_order_link(
        &state.app,
        &body.email,
        &body.number,
        &client.address_key(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted" })))
}

/// A token given as `?access_token=` counts as `X-Order-Token` (the header wins if both).
pub(crate) fn with_query_token(headers: &mut HeaderMap, token: Option<&str>) {
    if let Some(token) = token
        && !headers.contains_key(ORDER_TOKEN_HEADER)
        && let Ok(value) = HeaderValue::from_str(token)
    {
        headers.insert(ORDER_TOKEN_HEADER, value);
    }
}

pub(crate) async fn readable_order(
    state: &AppState,
    caller: &MaybePrincipal,
    headers: &HeaderMap,
    raw_id: &str,
) -> ApiResult<OrderDetail> {
    let id = path_id(raw_id, "order")?;
    let token = headers
        .get(ORDER_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok());
    Ok(
        souk_app::orders::readable(&state.app, caller.0.as_ref().map(|p| p.user_id), token, id)
            .await?,
    )
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderAccessParams {
    /// The checkout's `access_token`, or the token of the order link emailed to the customer
    /// (for links and clients that cannot send `X-Order-Token`).
    pub access_token: Option<String>,
}

/// An order: to its customer, or to anyone with its access token (`X-Order-Token` or
/// `?access_token=`): the checkout's, or the one in the emailed order link.
#[utoipa::path(get, path = "/api/store/orders/{id}", operation_id = "store_get_order", tag = "store",
    params(
        ("id" = Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "The checkout's `access_token`, or the order link's token (guests)"),
        OrderAccessParams,
    ),
    responses(
        (status = 200, description = "The order", body = OrderBody),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_order(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    mut headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<OrderAccessParams>,
) -> ApiResult<Json<OrderBody>> {
    with_query_token(&mut headers, params.access_token.as_deref());
    let detail = readable_order(&state, &caller, &headers, &id).await?;
    Ok(Json(order_body(&detail, None)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderSummaryBody {
    pub id: Uuid,
    pub number: String,
    #[schema(value_type = crate::api::vocabulary::OrderStatus)]
    pub status: String,
    pub email: String,
    pub total: MoneyBody,
    #[schema(format = DateTime)]
    pub placed_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderSummaryBody>,
    pub next_cursor: Option<String>,
}

pub fn summary(o: &orders::OrderRow) -> OrderSummaryBody {
    OrderSummaryBody {
        id: o.id,
        number: order_number(&o.id),
        status: o.status.clone(),
        email: o.email.clone(),
        total: money(o.total, &o.currency),
        placed_at: souk_domain::time::rfc3339(o.placed_at),
    }
}

pub fn status_names() -> Vec<&'static str> {
    souk_domain::orders::ORDER_STATUSES
        .iter()
        .map(|s| s.as_str())
        .collect()
}

/// The logged-in customer's orders, newest first.
#[utoipa::path(get, path = "/api/store/orders", operation_id = "store_list_orders", tag = "store", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Orders", body = OrderPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_orders(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<OrderPage>> {
    let (limit, before, status) = params.parse(&status_names())?;
    let rows = orders::list(
        &state.db,
        &OrderFilter {
            user_id: Some(principal.user_id),
            status,
            query: None,
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
