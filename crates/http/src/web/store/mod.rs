//! The storefront: the shop at `/` — browse, search, product pages, the cart, checkout and the
//! order page its emails link to. Every page works without JavaScript; scripts only enhance.
//!
//! A shopper needs no account: their cart is named by the `souk_cart` cookie (the cart id is
//! its only key, as in the API), and their forms carry the `souk_shop` cookie's token (a
//! double-submit CSRF token, set on the first page they open) and must come from this origin.
//! A signed-in customer's cart and orders are theirs alone, exactly as in the API.

mod account;
mod browse;
mod cart;
mod checkout;
mod order;
mod seo;
mod shared;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine;
use minijinja::{Value, context};
use uuid::Uuid;

use super::session::{CsrfField, csrf_refused, genuine_form, signed_in};
use super::{CspNonce, Flash, Page, PageError};
use crate::AppState;
use crate::auth::{Principal, cookie};

pub use browse::not_found_page;

/// The cookie holding the shopper's form token.
const SHOP_COOKIE: &str = "souk_shop";
/// The cookie naming the shopper's cart.
const CART_COOKIE: &str = "souk_cart";
/// How long a cart is remembered by the browser.
const CART_COOKIE_DAYS: u64 = 30;

pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(browse::home))
        .route("/search", get(browse::search))
        .route("/categories/{handle}", get(browse::category))
        .route("/vendors/{handle}", get(browse::vendor))
        .route("/products/{handle}", get(browse::product))
        .route("/cart", get(cart::show))
        .route("/cart/add", post(cart::add))
        .route("/cart/lines/{id}", post(cart::set_quantity))
        .route("/cart/coupon", post(cart::coupon))
        .route("/cart/shipping", post(cart::shipping))
        .route("/checkout", get(checkout::show).post(checkout::place))
        .route(
            "/orders/lookup",
            get(account::lookup_form).post(account::lookup),
        )
        .route("/orders/{id}", get(order::show))
        .route("/account", get(account::home))
        .route(
            "/account/sign-in",
            get(account::sign_in_form).post(account::sign_in),
        )
        .route(
            "/account/sign-up",
            get(account::sign_up_form).post(account::sign_up),
        )
        .route("/account/sign-out", post(account::sign_out))
        .route("/account/sessions", get(account::sessions))
        .route("/account/sessions/{id}/end", post(account::end_session))
        .route(
            "/account/password",
            get(account::password_form).post(account::change_password),
        )
        .route(
            "/account/forgot-password",
            get(account::forgot_form).post(account::forgot),
        )
        .route(
            "/reset-password",
            get(account::reset_form).post(account::reset),
        )
        .route("/verify-email", get(account::verify_email))
        .route("/robots.txt", get(seo::robots))
        .route("/sitemap.xml", get(seo::sitemap_index))
        .route("/sitemaps/products/{page}", get(seo::sitemap_products))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            shop_token,
        ))
}

/// The first well-formed form token among the request's `souk_shop` cookies (a malformed or
/// planted one before it is passed over).
fn shop_token_of(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SHOP_COOKIE && valid_token(value))
        .map(|(_, value)| value)
}

/// Gives a browser without one its form token: set on the response and, for this request,
/// added to its cookies so the page rendered now carries it.
pub(super) async fn shop_token(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    if shop_token_of(req.headers()).is_some() {
        return next.run(req).await;
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let cookies = match req
        .headers()
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
    {
        Some(existing) => format!("{existing}; {SHOP_COOKIE}={token}"),
        None => format!("{SHOP_COOKIE}={token}"),
    };
    if let Ok(value) = HeaderValue::from_str(&cookies) {
        req.headers_mut().insert(header::COOKIE, value);
    }
    let mut response = next.run(req).await;
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{SHOP_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax{secure}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

fn valid_token(t: &str) -> bool {
    t.len() == 32
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Who is shopping: their form token, their cart (if they have one) and, when signed in, who
/// they are.
#[derive(Clone)]
pub struct Shopper {
    /// The shop's address, for absolute links ([`base_url`]).
    pub base: String,
    pub csrf: String,
    pub cart_id: Option<Uuid>,
    pub customer: Option<Principal>,
}

impl Shopper {
    pub fn customer_id(&self) -> Option<Uuid> {
        self.customer.as_ref().map(|c| c.user_id)
    }
}

impl FromRequestParts<AppState> for Shopper {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let nonce = CspNonce::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let customer = signed_in(parts, state, &nonce).await?.map(|s| s.principal);
        Ok(Shopper {
            base: base_url(state, &parts.headers),
            csrf: shop_token_of(&parts.headers).unwrap_or_default().to_owned(),
            cart_id: cookie(&parts.headers, CART_COOKIE).and_then(|c| Uuid::parse_str(c).ok()),
            customer,
        })
    }
}

/// A shopper's form, already checked: from this origin, with the token of this browser.
pub struct ShopForm<T> {
    pub shopper: Shopper,
    pub form: T,
}

impl<T> FromRequest<AppState> for ShopForm<T>
where
    T: serde::de::DeserializeOwned + CsrfField + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let nonce = CspNonce::from_request_parts(&mut parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let shopper = Shopper::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = Request::from_parts(parts, body);
        let axum::Form(form) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(|_| csrf_refused(&nonce))?;
        if !genuine_form(state, &headers, &shopper.csrf, form.csrf()) {
            return Err(csrf_refused(&nonce));
        }
        Ok(ShopForm { shopper, form })
    }
}

/// The `Set-Cookie` that makes `cart` the browser's cart.
pub(crate) fn cart_cookie(state: &AppState, cart: Uuid) -> HeaderValue {
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{CART_COOKIE}={cart}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        CART_COOKIE_DAYS * 24 * 3600
    ))
    .expect("a cookie of ASCII")
}

/// What every storefront page shows around its content: the shop's name, the top categories,
/// the number of items in the cart and who is signed in.
async fn chrome(state: &AppState, shopper: &Shopper) -> Value {
    let cart_count = match shopper.cart_id {
        Some(id) => souk_storage::carts::open_item_count(&state.db, id)
            .await
            .unwrap_or(0),
        None => 0,
    };
    // The branding, from the catalog cache (emptied when an admin changes it).
    let branding = cached(state, "store:branding".to_owned(), || {
        let app = state.app.clone();
        async move { Ok((souk_app::shop::branding(&app).await?, 2048)) }
    })
    .await
    .ok();
    let b = branding.as_deref();
    context! {
        shop_name => b.map_or(state.config.shop_name.as_str(), |b| b.shop_name.as_str()),
        tagline => b.map(|b| b.tagline.as_str()).filter(|t| !t.is_empty()),
        logo => b.and_then(|b| b.logo_url.as_deref()),
        accent => b.and_then(|b| b.accent_color.as_deref()),
        footer_links => b.map(|b| b.footer_links.iter().map(|l| (l.label.as_str(), l.url.as_str())).collect::<Vec<_>>()),
        csrf => shopper.csrf,
        cart_count => cart_count,
        customer => shopper.customer.as_ref().map(|c| context! { name => c.name, email => c.email }),
    }
}

/// The shop's address for canonical links and sitemaps: `SOUK_PUBLIC_URL`, else the address
/// the request was sent to (its `Host`, when it looks like one).
fn base_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    if let Some(url) = state.config.public_url.as_deref() {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

/// Catalog data for pages from the catalog cache ([`crate::cache::ResponseCache::data`]):
/// the future `load` makes gives the value and the bytes it takes, roughly. It owns what it
/// reads with (a stale value is loaded again in the background).
async fn cached<T: Send + Sync + 'static, F>(
    state: &AppState,
    key: String,
    load: impl FnOnce() -> F,
) -> Result<std::sync::Arc<T>, ShopError>
where
    F: std::future::Future<Output = Result<(T, usize), ShopError>> + Send + 'static,
{
    state.cache.data(key, load).await.map_err(|e| (*e).clone())
}

/// A storefront page that could not be shown, in the shop's own layout.
#[derive(Debug, Clone)]
pub struct ShopError {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
}

impl ShopError {
    fn not_found(detail: impl Into<String>) -> Self {
        ShopError {
            status: StatusCode::NOT_FOUND,
            title: "Page not found",
            detail: detail.into(),
        }
    }

    fn internal() -> Self {
        PageError::internal().into()
    }

    async fn render(self, state: &AppState, shopper: &Shopper, nonce: &CspNonce) -> Response {
        let ctx = context! {
            title => self.title, detail => self.detail, status => self.status.as_u16(),
            ..chrome(state, shopper).await
        };
        Page::new("store/error.html", ctx)
            .with_status(self.status)
            .render(nonce, &Flash(None))
    }
}

impl From<souk_app::AppError> for ShopError {
    fn from(e: souk_app::AppError) -> Self {
        PageError::from(e).into()
    }
}

impl From<PageError> for ShopError {
    fn from(e: PageError) -> Self {
        let PageError {
            status,
            title,
            detail,
        } = e;
        ShopError {
            status,
            title,
            detail,
        }
    }
}

impl From<souk_storage::StorageError> for ShopError {
    fn from(e: souk_storage::StorageError) -> Self {
        souk_app::AppError::from(e).into()
    }
}

/// JSON for a `<script type="application/ld+json">` block: `<` escaped, so no text inside
/// can close the element.
fn json_ld(value: &serde_json::Value) -> Value {
    let text = serde_json::to_string(value)
        .unwrap_or_default()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    Value::from_safe_string(text)
}
