//! Checkout: the shopper's email and shipping address (countries and regions from the lists the
//! tax rules use), the totals with shipping and tax for that address, and "Place order" with
//! manual payment (bank transfer or cash on delivery, recorded later by the shop) or, when
//! Stripe is configured, by card on the order's page (Stripe's Payment Element).
//!
//! The form carries an idempotency key made when it was shown: sending it twice (a double
//! click, a reload after a dropped connection) places one order and shows it both times.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::checkout::{CheckoutAsk, Customer};
use souk_domain::orders::{Address, request_fingerprint};

use super::cart::{cart_value, open_cart};
use super::{CART_COOKIE, ShopError, ShopForm, Shopper, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::web::panel::refusal;
use crate::web::session::CsrfField;
use crate::web::{CspNonce, Flash, Page};

/// The fields of the checkout form.
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct CheckoutForm {
    #[serde(default)]
    csrf: String,
    /// The idempotency key of this form.
    #[serde(default)]
    key: String,
    /// The cart the form was shown for: a second "Place order" after the first placed the
    /// order (and the browser forgot the cart) still finds its order.
    #[serde(default)]
    cart: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    payment_method: String,
    /// `place` places the order; anything else only saves the details and shows the totals.
    #[serde(default)]
    action: String,
}

impl CsrfField for CheckoutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn new_key() -> String {
    let mut bytes = [0u8; 18];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub async fn show(State(state): State<AppState>, shopper: Shopper, nonce: CspNonce) -> Response {
    let cart = match open_cart(&state, &shopper).await {
        Ok(Some(cart)) if !cart.snapshot.lines.is_empty() => cart,
        Ok(_) => return Redirect::to("/cart").into_response(),
        Err(e) => return e.render(&state, &shopper, &nonce).await,
    };
    // What the cart already knows (an earlier visit), else the signed-in customer's email.
    let saved: Option<Address> = cart
        .snapshot
        .cart
        .shipping_address
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok());
    let a = saved.unwrap_or_default();
    let form = CheckoutForm {
        email: cart
            .snapshot
            .cart
            .email
            .clone()
            .or_else(|| shopper.customer.as_ref().map(|c| c.email.clone()))
            .unwrap_or_default(),
        name: a.name,
        line1: a.line1,
        line2: a.line2,
        city: a.city,
        region: a.region,
        postal_code: a.postal_code,
        country: a.country,
        phone: a.phone,
        payment_method: "manual".to_owned(),
        ..CheckoutForm::default()
    };
    render(&state, &shopper, &nonce, &cart, form, None).await
}

/// The checkout page with `form` as typed and the `problems` (field, message) beside fields.
async fn render(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
    cart: &souk_app::carts::PricedCart,
    mut form: CheckoutForm,
    problems: Option<(StatusCode, Vec<(String, String)>)>,
) -> Response {
    if form.key.is_empty() {
        form.key = new_key();
    }
    form.cart = cart.snapshot.cart.id.to_string();
    let country = if form.country.is_empty() {
        "US".to_owned()
    } else {
        form.country.to_ascii_uppercase()
    };
    let (status, problems) = problems.unwrap_or((StatusCode::OK, Vec::new()));
    let ctx = context! {
        title => "Checkout",
        cart => cart_value(cart),
        form => Value::from_serialize(&form),
        country => country,
        countries => souk_domain::geo::countries(),
        regions => souk_domain::geo::subdivisions(&country),
        problems => problems.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        card => card_payments(state),
        ..chrome(state, shopper).await
    };
    Page::new("store/checkout.html", ctx)
        .with_status(status)
        .render(nonce, &Flash(None))
}

pub async fn place(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    ShopForm { shopper, form }: ShopForm<CheckoutForm>,
) -> Response {
    let cart = match open_cart(&state, &shopper).await {
        Ok(Some(cart)) => cart,
        // The cart became an order already: a second click of "Place order" finds it by its key.
        Ok(None) if form.action == "place" && !form.key.is_empty() && !form.cart.is_empty() => {
            return replay_or_cart(&state, &shopper, &nonce, &client, form).await;
        }
        Ok(None) => return Redirect::to("/cart").into_response(),
        Err(e) => return e.render(&state, &shopper, &nonce).await,
    };
    // The form was shown for another cart (an older tab, an order placed since): this cart's
    // totals were never shown, so it is shown now, with a fresh key, and nothing is placed.
    if !form.cart.is_empty() && form.cart != cart.snapshot.cart.id.to_string() {
        if form.action == "place" && !form.key.is_empty() {
            let ordered = replay_or_cart(&state, &shopper, &nonce, &client, form).await;
            if ordered.status() != StatusCode::SEE_OTHER
                || ordered
                    .headers()
                    .get(header::LOCATION)
                    .is_some_and(|l| l.as_bytes().starts_with(b"/orders/"))
            {
                return ordered;
            }
            return Redirect::to("/checkout").into_response();
        }
        let form = CheckoutForm {
            key: String::new(),
            ..form
        };
        let problem = vec![(
            "order".to_owned(),
            "Your cart changed since this page was shown: check it below.".to_owned(),
        )];
        return render(
            &state,
            &shopper,
            &nonce,
            &cart,
            form,
            Some((StatusCode::CONFLICT, problem)),
        )
        .await;
    }
    let customer = shopper.customer_id();
    let address = Address {
        name: form.name.clone(),
        line1: form.line1.clone(),
        line2: form.line2.clone(),
        city: form.city.clone(),
        region: form.region.clone(),
        postal_code: form.postal_code.clone(),
        country: form.country.clone(),
        phone: form.phone.clone(),
    };
    let email = Some(form.email.trim().to_owned()).filter(|e| !e.is_empty());
    let saved = match souk_app::carts::update_details(
        &state.app,
        customer,
        cart.snapshot.cart.id,
        Some(email),
        Some(Some(address)),
    )
    .await
    {
        Ok(saved) => saved,
        Err(souk_app::AppError::Refused {
            kind: souk_app::Kind::Invalid,
            fields,
            ..
        }) => {
            let problems = fields
                .into_iter()
                .map(|f| {
                    let field = f
                        .field
                        .strip_prefix("shipping_address.")
                        .unwrap_or(&f.field)
                        .to_owned();
                    (field, f.message)
                })
                .collect();
            return render(
                &state,
                &shopper,
                &nonce,
                &cart,
                form,
                Some((StatusCode::UNPROCESSABLE_ENTITY, problems)),
            )
            .await;
        }
        Err(e) => return refused(&state, &shopper, &nonce, &cart, form, e).await,
    };
    if form.action != "place" {
        return render(&state, &shopper, &nonce, &saved, form, None).await;
    }
    let outcome = checkout(&state, &shopper, &client, &saved.snapshot.cart, &form).await;
    match outcome {
        Ok(to) => to,
        Err(e) => refused(&state, &shopper, &nonce, &saved, form, e).await,
    }
}

/// Places the order for `cart` (the details saved on it) and answers with the way to its page.
async fn checkout(
    state: &AppState,
    shopper: &Shopper,
    client: &ClientInfo,
    cart: &souk_storage::carts::CartRow,
    form: &CheckoutForm,
) -> Result<Response, souk_app::AppError> {
    let method = if form.payment_method.is_empty() {
        "manual".to_owned()
    } else {
        form.payment_method.clone()
    };
    // The pages offer what they can complete: a card payment needs the Payment Element.
    if method != "manual" && !(method == "stripe" && card_payments(state)) {
        return Err(souk_app::AppError::field(
            "payment_method",
            "Choose one of the payment methods shown.",
        ));
    }
    let ask = CheckoutAsk {
        cart,
        customer: shopper.customer.as_ref().map(|c| Customer {
            user_id: c.user_id,
            email: c.email.clone(),
        }),
        email: None,
        shipping_address: None,
        payment_method: method.clone(),
        idempotency_key: &form.key,
        fingerprint: request_fingerprint(&[cart.id.as_bytes(), b"page", method.as_bytes()]),
        client_address_key: client.address_key(),
    };
    let done = souk_app::checkout::checkout(&state.app, ask, |d| {
        (
            201,
            serde_json::json!({ "order_id": d.order.id }).to_string(),
        )
    })
    .await?;
    Ok(placed(state, done))
}

/// Whether the storefront offers card payment: Stripe is enabled and the pages can load its
/// Payment Element (a publishable key is configured).
pub(super) fn card_payments(state: &AppState) -> bool {
    state.app.providers.stripe.is_some() && state.config.stripe_browser.is_some()
}

/// To the order's page, the cart forgotten by the browser.
fn placed(state: &AppState, done: souk_app::checkout::Checkout) -> Response {
    let Some(order_id) = done.order_id else {
        return Redirect::to("/cart").into_response();
    };
    let to = match &done.access_token {
        Some(token) => format!("/orders/{order_id}?access_token={token}"),
        None => format!("/orders/{order_id}"),
    };
    let mut response = crate::web::panel::done(
        &to,
        "Thank you: your order is placed. Keep this page's address to come back to it.",
    );
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{CART_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// A second "Place order" after the first placed the order: the order's page again. Only for
/// the cart the form was shown for, and only once it is no longer open (it became the order);
/// an open cart goes back to its checkout page (nothing is placed without its totals shown).
async fn replay_or_cart(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
    client: &ClientInfo,
    form: CheckoutForm,
) -> Response {
    let Some(cart_id) = uuid::Uuid::parse_str(&form.cart).ok().or(shopper.cart_id) else {
        return Redirect::to("/cart").into_response();
    };
    let cart = match souk_app::carts::cart_for(&state.app, shopper.customer_id(), cart_id).await {
        Ok(cart) => cart,
        Err(_) => return Redirect::to("/cart").into_response(),
    };
    if cart.status == "open" {
        return Redirect::to("/checkout").into_response();
    }
    match checkout(state, shopper, client, &cart, &form).await {
        Ok(to) => to,
        Err(e) => ShopError::from(e).render(state, shopper, nonce).await,
    }
}

/// The checkout page again with why the order could not be placed.
async fn refused(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
    cart: &souk_app::carts::PricedCart,
    form: CheckoutForm,
    e: souk_app::AppError,
) -> Response {
    match refusal(e, "order") {
        Ok(r) => {
            // Re-read: the refusal may be about stock that changed while the page was open.
            let fresh = match open_cart(state, shopper).await {
                Ok(Some(fresh)) => fresh,
                _ => return Redirect::to("/cart").into_response(),
            };
            let _ = cart;
            let field = r
                .field
                .strip_prefix("shipping_address.")
                .unwrap_or(&r.field);
            render(
                state,
                shopper,
                nonce,
                &fresh,
                form,
                Some((r.status, vec![(field.to_owned(), r.message)])),
            )
            .await
        }
        Err(e) => ShopError::from(e).render(state, shopper, nonce).await,
    }
}
