//! The HTML face: pages rendered on the server from the same use cases as the JSON API, with
//! the same sessions. Every page gets a Content-Security-Policy with a fresh nonce (no inline
//! script or style runs without it), `frame-ancestors 'none'`, and `Cache-Control: no-store`
//! once someone is signed in. Every form carries a CSRF token (derived from the session, or a
//! double-submit cookie before sign-in) and must come from this origin. Templates (minijinja,
//! HTML-escaped) and assets are compiled into the binary; assets are served under
//! content-hashed names with a year-long cache lifetime. See docs/web.md.

pub mod admin;
mod assets;
mod chart;
mod form;
mod media;
mod page;
pub mod panel;
pub mod session;
pub mod sign_in;
pub mod store;
pub mod vendor;
mod webhooks;

use axum::Router;
use axum::routing::get;

pub use page::{
    CspNonce, Flash, Page, PageError, ThirdPartyOrigins, form_status, load_template_overrides,
    money_text, revalidated,
};

use crate::AppState;

/// A path nothing serves, asked for by a browser: the storefront's "page not found", with the
/// pages' headers.
pub async fn not_found(state: AppState, req: axum::extract::Request) -> axum::response::Response {
    use tower::ServiceExt;
    let pages = Router::new()
        .fallback(store::not_found_page)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            store::shop_token,
        ))
        .layer(axum::middleware::from_fn(page::page_headers))
        .with_state(state);
    match pages.oneshot(req).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Every page route, with the page middleware (CSP nonce, security headers).
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(admin::router())
        .merge(vendor::router())
        .merge(store::router(state))
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn(page::page_headers))
        // Outside the pages' headers: an image carries its own (cacheable, sandboxed).
        .route("/media/{name}", get(media::serve))
}
