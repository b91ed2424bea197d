//! `/api/store/carts`: guest and customer carts, priced live, and shipping choices.
//!
//! A guest cart is reached by its id alone (random, unguessable: keep it like a password); a
//! customer's cart only by that customer. Prices, stock, coupon and tax are re-read every time
//! the cart is shown, and again inside the checkout transaction.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use souk_domain::cart::{LineProblem, Quote};
use souk_domain::orders::Address;
use souk_storage::carts::{CartRow, CartSnapshot};
use utoipa::ToSchema;
use uuid::Uuid;

use souk_app::carts::{self as flows, PricedCart};

use crate::AppState;
use crate::api::common::path_id;
use crate::api::schema::{AddressBody, MoneyBody, money};
use crate::auth::MaybePrincipal;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Debug, Serialize, ToSchema)]
pub struct CartLineBody {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub product_handle: String,
    pub product_title: String,
    pub variant_title: String,
    pub sku: Option<String>,
    pub note: String,
    pub quantity: i64,
    pub unit_price: MoneyBody,
    /// unit price × quantity.
    pub amount: MoneyBody,
    /// This line's share of the coupon discount.
    pub discount: MoneyBody,
    pub tax: MoneyBody,
    pub total: MoneyBody,
    /// `null`, `unavailable` (not sold any more) or `insufficient_stock`.
    pub problem: Option<String>,
    /// Units in stock when `problem` is `insufficient_stock`.
    pub available_quantity: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingChoiceBody {
    pub id: Uuid,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartVendorBody {
    pub vendor_id: Uuid,
    pub vendor_name: String,
    /// The chosen option, or the cheapest when none was chosen; `null`: ships free.
    pub shipping_option: Option<ShippingChoiceBody>,
    pub shipping: MoneyBody,
    /// Goods after discount.
    pub subtotal: MoneyBody,
    pub total: MoneyBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartCouponBody {
    pub code: String,
    pub applied: bool,
    /// Why it does not apply: `coupon_not_found`, `coupon_expired`, `coupon_exhausted`,
    /// `minimum_subtotal_not_reached`, …
    pub problem: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CartBody {
    pub id: Uuid,
    /// `open`, `ordered` (checked out) or `merged` (into a customer's cart at login).
    #[schema(value_type = crate::api::vocabulary::CartStatus)]
    pub status: String,
    pub email: Option<String>,
    pub shipping_address: Option<AddressBody>,
    pub currency: String,
    pub lines: Vec<CartLineBody>,
    pub vendors: Vec<CartVendorBody>,
    pub coupon: Option<CartCouponBody>,
    pub subtotal: MoneyBody,
    pub discount: MoneyBody,
    pub shipping: MoneyBody,
    pub tax: MoneyBody,
    /// Whether prices include the tax (`tax` is then contained in `total`, not added).
    pub tax_inclusive: bool,
    pub total: MoneyBody,
    /// Every line can be bought now.
    pub purchasable: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

fn cart_body(s: &CartSnapshot, q: &Quote) -> CartBody {
    let cur = s.cart.currency.as_str();
    let lines = s
        .lines
        .iter()
        .zip(&q.totals.lines)
        .zip(&q.problems)
        .map(|((l, t), p)| CartLineBody {
            id: l.id,
            variant_id: l.variant_id,
            product_id: l.product_id,
            product_handle: l.product_handle.clone(),
            product_title: l.product_title.clone(),
            variant_title: l.variant_title(),
            sku: l.sku.clone(),
            note: l.note.clone(),
            quantity: l.quantity,
            unit_price: money(l.price, cur),
            amount: money(t.amount, cur),
            discount: money(t.discount, cur),
            tax: money(t.tax, cur),
            total: money(t.total, cur),
            problem: p.map(|p| {
                match p {
                    LineProblem::Unavailable => "unavailable",
                    LineProblem::InsufficientStock { .. } => "insufficient_stock",
                }
                .to_owned()
            }),
            available_quantity: match p {
                Some(LineProblem::InsufficientStock { available }) => Some(*available),
                _ => None,
            },
        })
        .collect();
    CartBody {
        id: s.cart.id,
        status: s.cart.status.clone(),
        email: s.cart.email.clone(),
        shipping_address: s
            .cart
            .shipping_address
            .as_deref()
            .and_then(|a| serde_json::from_str::<Address>(a).ok())
            .map(Into::into),
        currency: cur.to_owned(),
        lines,
        vendors: q
            .vendors
            .iter()
            .map(|v| CartVendorBody {
                vendor_id: v.vendor_id,
                vendor_name: v.vendor_name.clone(),
                shipping_option: v.rate.as_ref().map(|r| ShippingChoiceBody {
                    id: r.id,
                    name: r.name.clone(),
                }),
                shipping: money(v.shipping, cur),
                subtotal: money(v.goods, cur),
                total: money(v.total, cur),
            })
            .collect(),
        coupon: s.cart.coupon_code.as_ref().map(|code| CartCouponBody {
            code: code.clone(),
            applied: q.coupon_rejection.is_none(),
            problem: q.coupon_rejection.map(str::to_owned),
        }),
        subtotal: money(q.totals.subtotal, cur),
        discount: money(q.totals.discount, cur),
        shipping: money(q.totals.shipping_total, cur),
        tax: money(q.totals.tax, cur),
        tax_inclusive: s.tax.is_some_and(|t| t.inclusive),
        total: money(q.totals.total, cur),
        purchasable: !s.lines.is_empty() && q.problems.iter().all(Option::is_none),
        created_at: souk_domain::time::rfc3339(s.cart.created_at),
        updated_at: souk_domain::time::rfc3339(s.cart.updated_at),
    }
}

/// The caller's cart, or 404: an unknown id and someone else's customer cart look the same.
pub(crate) async fn load_cart(
    state: &AppState,
    caller: &MaybePrincipal,
    raw_id: &str,
) -> ApiResult<CartRow> {
    let id = path_id(raw_id, "cart")?;
    Ok(flows::cart_for(&state.app, customer(caller), id).await?)
}

/// Who the cart belongs to: the signed-in customer, or nobody (a guest cart).
fn customer(caller: &MaybePrincipal) -> Option<Uuid> {
    caller.0.as_ref().map(|p| p.user_id)
}

fn render(cart: PricedCart) -> Json<CartBody> {
    Json(cart_body(&cart.snapshot, &cart.quote))
}

/// Start a cart. A logged-in customer gets their open cart (created if needed); anyone else a
/// new guest cart whose id is the only key to it.
#[utoipa::path(post, path = "/api/store/carts", tag = "store",
    responses(
        (status = 201, description = "The cart", body = CartBody),
        (status = 401, description = "Credentials sent but not valid", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_cart(
    State(state): State<AppState>,
    caller: MaybePrincipal,
) -> ApiResult<(StatusCode, Json<CartBody>)> {
    let cart = flows::open(&state.app, customer(&caller)).await?;
    Ok((StatusCode::CREATED, render(cart)))
}

/// A cart with its current prices, availability, coupon, shipping and tax.
#[utoipa::path(get, path = "/api/store/carts/{id}", tag = "store",
    params(("id" = Uuid, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = CartBody),
        (status = 404, description = "No such cart (or not yours)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_cart(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path(id): Path<String>,
) -> ApiResult<Json<CartBody>> {
    let cart = load_cart(&state, &caller, &id).await?;
    Ok(render(flows::priced(&state.app, cart).await?))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItemRequest {
    pub variant_id: Uuid,
    /// 1–1000. Added to an existing line of the same variant and note.
    pub quantity: i64,
    /// Optional line note (gift message, engraving), at most 500 characters. Lines with
    /// different notes stay separate.
    #[serde(default)]
    pub note: String,
}

/// Add a variant.
#[utoipa::path(post, path = "/api/store/carts/{id}/items", tag = "store", request_body = AddItemRequest,
    params(("id" = Uuid, Path, description = "Cart id")),
    responses(
        (status = 201, description = "The cart with the line", body = CartBody),
        (status = 400, description = "Invalid quantity or note (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cart checked out (`cart_not_open`) or full (`cart_full`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No such variant for sale (`variant_unavailable`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_item(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AddItemRequest>,
) -> ApiResult<(StatusCode, Json<CartBody>)> {
    let id = path_id(&id, "cart")?;
    let cart = flows::add_item(
        &state.app,
        customer(&caller),
        id,
        body.variant_id,
        body.quantity,
        &body.note,
    )
    .await?;
    Ok((StatusCode::CREATED, render(cart)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateItemRequest {
    /// 0–1000; 0 removes the line.
    pub quantity: i64,
}

/// Change a line's quantity.
#[utoipa::path(patch, path = "/api/store/carts/{id}/items/{line_id}", tag = "store", request_body = UpdateItemRequest,
    params(("id" = Uuid, Path, description = "Cart id"), ("line_id" = Uuid, Path, description = "Line id")),
    responses(
        (status = 200, description = "The cart", body = CartBody),
        (status = 400, description = "Invalid quantity", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cart or line", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cart checked out (`cart_not_open`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_item(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path((id, line_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<UpdateItemRequest>,
) -> ApiResult<Json<CartBody>> {
    change_line(&state, &caller, &id, &line_id, body.quantity).await
}

/// Remove a line.
#[utoipa::path(delete, path = "/api/store/carts/{id}/items/{line_id}", tag = "store",
    params(("id" = Uuid, Path, description = "Cart id"), ("line_id" = Uuid, Path, description = "Line id")),
    responses(
        (status = 200, description = "The cart", body = CartBody),
        (status = 404, description = "No such cart or line", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cart checked out (`cart_not_open`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_item(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path((id, line_id)): Path<(String, String)>,
) -> ApiResult<Json<CartBody>> {
    change_line(&state, &caller, &id, &line_id, 0).await
}

async fn change_line(
    state: &AppState,
    caller: &MaybePrincipal,
    id: &str,
    line_id: &str,
    quantity: i64,
) -> ApiResult<Json<CartBody>> {
    let id = path_id(id, "cart")?;
    let line_id = path_id(line_id, "line")?;
    let cart = flows::set_quantity(&state.app, customer(caller), id, line_id, quantity).await?;
    Ok(render(cart))
}

fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCartRequest {
    /// Where the confirmation goes; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// Decides tax; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<AddressBody>)]
    pub shipping_address: Option<Option<AddressBody>>,
}

/// Set the email and shipping address (fields left out stay as they are).
#[utoipa::path(patch, path = "/api/store/carts/{id}", tag = "store", request_body = UpdateCartRequest,
    params(("id" = Uuid, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = CartBody),
        (status = 400, description = "Invalid email or address (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cart checked out (`cart_not_open`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_cart(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<UpdateCartRequest>,
) -> ApiResult<Json<CartBody>> {
    let id = path_id(&id, "cart")?;
    let address = body.shipping_address.map(|a| a.map(Address::from));
    let cart =
        flows::update_details(&state.app, customer(&caller), id, body.email, address).await?;
    Ok(render(cart))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyCouponRequest {
    pub code: String,
}

/// Apply a coupon (replacing any other). It must exist and be usable now; whether it applies
/// to this cart (minimum subtotal) shows in the cart.
#[utoipa::path(put, path = "/api/store/carts/{id}/coupon", tag = "store", request_body = ApplyCouponRequest,
    params(("id" = Uuid, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = CartBody),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cart checked out (`cart_not_open`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`coupon_not_found`, `coupon_inactive`, `coupon_not_started`, `coupon_expired`, `coupon_exhausted`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn apply_coupon(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ApplyCouponRequest>,
) -> ApiResult<Json<CartBody>> {
    let id = path_id(&id, "cart")?;
    let cart = flows::apply_coupon(&state.app, customer(&caller), id, &body.code).await?;
    Ok(render(cart))
}

/// Remove the coupon.
#[utoipa::path(delete, path = "/api/store/carts/{id}/coupon", tag = "store",
    params(("id" = Uuid, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = CartBody),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cart checked out (`cart_not_open`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_coupon(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path(id): Path<String>,
) -> ApiResult<Json<CartBody>> {
    let id = path_id(&id, "cart")?;
    let cart = flows::remove_coupon(&state.app, customer(&caller), id).await?;
    Ok(render(cart))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingOptionBody {
    pub id: Uuid,
    pub name: String,
    /// `flat`, `free_over` or `by_weight`.
    #[schema(value_type = crate::api::vocabulary::ShippingRateKind)]
    pub kind: String,
    /// What this option costs for this cart.
    pub price: MoneyBody,
    pub selected: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorShippingBody {
    pub vendor_id: Uuid,
    pub vendor_name: String,
    /// Empty: the vendor ships for free.
    pub options: Vec<ShippingOptionBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShippingOptionsBody {
    pub vendors: Vec<VendorShippingBody>,
}

/// Shipping options for each vendor in the cart, priced for it. Without a choice, the
/// cheapest option is used.
#[utoipa::path(get, path = "/api/store/carts/{id}/shipping-options", tag = "store",
    params(("id" = Uuid, Path, description = "Cart id")),
    responses(
        (status = 200, description = "Options per vendor", body = ShippingOptionsBody),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn shipping_options(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path(id): Path<String>,
) -> ApiResult<Json<ShippingOptionsBody>> {
    let cart = load_cart(&state, &caller, &id).await?;
    let PricedCart {
        snapshot: s,
        quote: q,
    } = flows::priced(&state.app, cart).await?;
    let cur = s.cart.currency.as_str();
    let vendors = q
        .vendors
        .iter()
        .map(|v| {
            // Priced as checkout charges it: on the goods after the coupon.
            let (goods, grams) = (v.shipping_basis, v.grams);
            VendorShippingBody {
                vendor_id: v.vendor_id,
                vendor_name: v.vendor_name.clone(),
                options: s
                    .rates
                    .iter()
                    .filter(|r| r.vendor_id == v.vendor_id)
                    .map(|r| ShippingOptionBody {
                        id: r.id,
                        name: r.name.clone(),
                        kind: r.kind.clone(),
                        // The cart priced, so the chosen options fit; another one that
                        // does not fit is shown at the order bound (choosing it is refused).
                        price: money(
                            souk_domain::pricing::shipping_cost(&r.rate(), goods, grams)
                                .unwrap_or(souk_domain::pricing::MAX_ORDER_TOTAL),
                            cur,
                        ),
                        selected: v.rate.as_ref().is_some_and(|c| c.id == r.id),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Json(ShippingOptionsBody { vendors }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChooseShippingRequest {
    /// One of the options from `shipping-options`; it replaces that vendor's earlier choice.
    pub option_id: Uuid,
}

/// Choose a vendor's shipping option.
#[utoipa::path(put, path = "/api/store/carts/{id}/shipping", tag = "store", request_body = ChooseShippingRequest,
    params(("id" = Uuid, Path, description = "Cart id")),
    responses(
        (status = 200, description = "The cart", body = CartBody),
        (status = 404, description = "No such cart", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Cart checked out (`cart_not_open`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an option for a vendor in this cart (`unknown_shipping_option`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn choose_shipping(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ChooseShippingRequest>,
) -> ApiResult<Json<CartBody>> {
    let id = path_id(&id, "cart")?;
    let cart = flows::choose_shipping(&state.app, customer(&caller), id, body.option_id).await?;
    Ok(render(cart))
}
