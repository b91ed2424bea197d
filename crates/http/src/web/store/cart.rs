//! The cart: add from a product page, change quantities, remove, a coupon, a shipping option
//! per vendor, and the totals checkout will charge. Each action is a plain form post answered
//! with a redirect (303) back to the cart; a refused one shows the cart again with the reason
//! beside the field.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::carts::{self as flows, PricedCart};
use souk_domain::cart::LineProblem;
use uuid::Uuid;

use super::{ShopError, ShopForm, Shopper, cart_cookie, chrome};
use crate::AppState;
use crate::web::panel::{done, refusal};
use crate::web::session::CsrfField;
use crate::web::{CspNonce, Flash, Page, money_text};

/// The shopper's open cart, if they have one.
pub(super) async fn open_cart(
    state: &AppState,
    shopper: &Shopper,
) -> Result<Option<PricedCart>, ShopError> {
    let Some(id) = shopper.cart_id else {
        return Ok(None);
    };
    match flows::cart_for(&state.app, shopper.customer_id(), id).await {
        Ok(cart) if cart.status == "open" => Ok(Some(flows::priced(&state.app, cart).await?)),
        // Checked out, merged, purged, or someone else's: the shopper starts afresh.
        Ok(_) => Ok(None),
        Err(souk_app::AppError::Refused {
            kind: souk_app::Kind::NotFound,
            ..
        }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A cart as its page shows it: lines grouped by vendor, each vendor's shipping choices, the
/// coupon and the totals.
pub(super) fn cart_value(cart: &PricedCart) -> Value {
    let s = &cart.snapshot;
    let q = &cart.quote;
    let cur = s.cart.currency.as_str();
    let m = |amount: i64| money_text(amount, cur);
    let vendors: Vec<Value> = q
        .vendors
        .iter()
        .map(|v| {
            let lines: Vec<Value> = s
                .lines
                .iter()
                .zip(&q.totals.lines)
                .zip(&q.problems)
                .filter(|((l, _), _)| l.vendor_id == v.vendor_id)
                .map(|((l, t), p)| {
                    context! {
                        id => l.id.to_string(), title => l.product_title, handle => l.product_handle,
                        variant => l.variant_title(), quantity => l.quantity,
                        unit_price => m(l.price), amount => m(t.amount),
                        problem => p.map(|p| match p {
                            LineProblem::Unavailable => "No longer for sale: remove it to check out.".to_owned(),
                            LineProblem::InsufficientStock { available: 0 } => "Sold out: remove it to check out.".to_owned(),
                            LineProblem::InsufficientStock { available } => format!("Only {available} left: lower the quantity to check out."),
                        }),
                    }
                })
                .collect();
            let options: Vec<Value> = s
                .rates
                .iter()
                .filter(|r| r.vendor_id == v.vendor_id)
                .map(|r| {
                    context! {
                        id => r.id.to_string(), name => r.name,
                        chosen => v.rate.as_ref().is_some_and(|c| c.id == r.id),
                    }
                })
                .collect();
            context! {
                id => v.vendor_id.to_string(), name => v.vendor_name, lines => lines,
                options => options, shipping => m(v.shipping),
                shipping_name => v.rate.as_ref().map(|r| r.name.clone()),
                goods => m(v.goods), total => m(v.total),
            }
        })
        .collect();
    context! {
        vendors => vendors,
        empty => s.lines.is_empty(),
        items => s.lines.iter().map(|l| l.quantity).sum::<i64>(),
        coupon => s.cart.coupon_code.as_ref().map(|code| context! {
            code => code,
            applied => q.coupon_rejection.is_none(),
        }),
        subtotal => m(q.totals.subtotal),
        discount => (q.totals.discount > 0).then(|| m(q.totals.discount)),
        shipping => m(q.totals.shipping_total),
        tax => m(q.totals.tax),
        tax_inclusive => s.tax.as_ref().is_some_and(|t| t.inclusive),
        has_address => s.cart.shipping_address.is_some(),
        total => m(q.totals.total),
        purchasable => !s.lines.is_empty() && q.problems.iter().all(Option::is_none),
    }
}

pub async fn show(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    render(&state, &shopper, &nonce, &flash, None).await
}

/// The cart page, with `problem` (status, field, message) beside its field.
async fn render(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
    flash: &Flash,
    problem: Option<(StatusCode, String, String)>,
) -> Response {
    let cart = match open_cart(state, shopper).await {
        Ok(c) => c,
        Err(e) => return e.render(state, shopper, nonce).await,
    };
    let (status, problem) = match problem {
        Some((status, field, message)) => (
            status,
            Some(context! { field => field, message => message }),
        ),
        None => (StatusCode::OK, None),
    };
    let ctx = context! {
        title => "Your cart",
        cart => cart.as_ref().map(cart_value),
        problem => problem,
        ..chrome(state, shopper).await
    };
    Page::new("store/cart.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

/// The cart page again after a refused action, or the error page when it was not refused
/// but failed.
async fn refused(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
    e: souk_app::AppError,
    field: &str,
) -> Response {
    match refusal(e, field) {
        Ok(r) => {
            render(
                state,
                shopper,
                nonce,
                &Flash(None),
                Some((r.status, r.field, r.message)),
            )
            .await
        }
        Err(e) => ShopError::from(e).render(state, shopper, nonce).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    variant_id: String,
    #[serde(default)]
    quantity: String,
    /// The product page the form was on (where a refusal is shown).
    #[serde(default)]
    product: String,
}

impl CsrfField for AddForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn add(
    State(state): State<AppState>,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<AddForm>,
) -> Response {
    let back = if souk_domain::catalog::Handle::parse(&form.product).is_ok() {
        format!("/products/{}", form.product)
    } else {
        "/cart".to_owned()
    };
    let Ok(variant_id) = Uuid::parse_str(form.variant_id.trim()) else {
        return done(&back, "Choose an option before adding to the cart.");
    };
    let quantity = match form.quantity.trim() {
        "" => 1,
        q => match q.parse::<i64>() {
            Ok(n) => n,
            Err(_) => return done(&back, "The quantity must be a whole number."),
        },
    };
    let customer = shopper.customer_id();
    // The shopper's open cart, or a new one (remembered by the browser from now on).
    let (cart_id, new_cart) = match open_cart(&state, &shopper).await {
        Ok(Some(cart)) => (cart.snapshot.cart.id, false),
        Ok(None) => match flows::open(&state.app, customer).await {
            Ok(cart) => (cart.snapshot.cart.id, true),
            Err(e) => return ShopError::from(e).render(&state, &shopper, &nonce).await,
        },
        Err(e) => return e.render(&state, &shopper, &nonce).await,
    };
    let mut response =
        match flows::add_item(&state.app, customer, cart_id, variant_id, quantity, "").await {
            Ok(cart) => {
                let title = cart
                    .snapshot
                    .lines
                    .iter()
                    .find(|l| l.variant_id == variant_id)
                    .map_or("The item".to_owned(), |l| format!("“{}”", l.product_title));
                done("/cart", &format!("{title} is in your cart."))
            }
            Err(e) => match refusal(e, "quantity") {
                Ok(r) => done(&back, &r.message),
                Err(e) => return ShopError::from(e).render(&state, &shopper, &nonce).await,
            },
        };
    if new_cart {
        response
            .headers_mut()
            .append(header::SET_COOKIE, cart_cookie(&state, cart_id));
    }
    response
}

#[derive(Debug, Deserialize)]
pub struct QuantityForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    quantity: String,
}

impl CsrfField for QuantityForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn set_quantity(
    State(state): State<AppState>,
    nonce: CspNonce,
    Path(line): Path<String>,
    ShopForm { shopper, form }: ShopForm<QuantityForm>,
) -> Response {
    let (Some(cart_id), Ok(line_id)) = (shopper.cart_id, Uuid::parse_str(&line)) else {
        return Redirect::to("/cart").into_response();
    };
    let Ok(quantity) = form.quantity.trim().parse::<i64>() else {
        return render(
            &state,
            &shopper,
            &nonce,
            &Flash(None),
            Some((
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("quantity-{line_id}"),
                "enter a whole number (0 removes the item)".to_owned(),
            )),
        )
        .await;
    };
    match flows::set_quantity(
        &state.app,
        shopper.customer_id(),
        cart_id,
        line_id,
        quantity,
    )
    .await
    {
        Ok(_) if quantity == 0 => done("/cart", "Removed from your cart."),
        Ok(_) => done("/cart", "Your cart is updated."),
        Err(e) => refused(&state, &shopper, &nonce, e, &format!("quantity-{line_id}")).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct CouponForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
    /// `remove`: take the coupon off.
    #[serde(default)]
    action: String,
}

impl CsrfField for CouponForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn coupon(
    State(state): State<AppState>,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<CouponForm>,
) -> Response {
    let Some(cart_id) = shopper.cart_id else {
        return Redirect::to("/cart").into_response();
    };
    let customer = shopper.customer_id();
    let result = if form.action == "remove" {
        flows::remove_coupon(&state.app, customer, cart_id).await
    } else {
        flows::apply_coupon(&state.app, customer, cart_id, &form.code).await
    };
    match result {
        Ok(_) if form.action == "remove" => done("/cart", "The coupon is removed."),
        Ok(cart) if cart.quote.coupon_rejection.is_some() => {
            render(
                &state,
                &shopper,
                &nonce,
                &Flash(None),
                Some((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "code".to_owned(),
                    "this coupon does not apply to this cart (check its minimum amount)".to_owned(),
                )),
            )
            .await
        }
        Ok(_) => done("/cart", "The coupon is applied."),
        Err(e) => refused(&state, &shopper, &nonce, e, "code").await,
    }
}

#[derive(Debug, Deserialize)]
pub struct ShippingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    option: String,
}

impl CsrfField for ShippingForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn shipping(
    State(state): State<AppState>,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<ShippingForm>,
) -> Response {
    let (Some(cart_id), Ok(option)) = (shopper.cart_id, Uuid::parse_str(form.option.trim())) else {
        return Redirect::to("/cart").into_response();
    };
    match flows::choose_shipping(&state.app, shopper.customer_id(), cart_id, option).await {
        Ok(_) => done("/cart", "Shipping is updated."),
        Err(e) => refused(&state, &shopper, &nonce, e, "shipping").await,
    }
}
