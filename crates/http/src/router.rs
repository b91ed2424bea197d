//! The routes — each registered with its OpenAPI operation, so none escapes the document — and
//! the middleware stack around them.

use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::store;
use crate::state::AppState;
use crate::{api, cache, error, middleware, openapi, ops};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The OpenAPI document and the routes it describes, built together so no route escapes it.
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(store::products::list_products))
        .routes(routes!(store::products::get_product))
        .routes(routes!(store::products::product_facets))
        .routes(routes!(store::categories::list_categories))
        .routes(routes!(store::vendors::list_vendors))
        .routes(routes!(api::vendor::money::payouts))
        .routes(routes!(api::vendor::orders::correct_tracking))
        .routes(routes!(
            api::vendor::profile::get_profile,
            api::vendor::profile::update_profile
        ))
        .routes(routes!(
            api::vendor::team::invite,
            api::vendor::team::list_invitations
        ))
        .routes(routes!(api::vendor::team::revoke_invitation))
        .routes(routes!(api::vendor::team::accept_invitation))
        .routes(routes!(store::vendors::get_vendor))
        .routes(routes!(store::carts::create_cart))
        .routes(routes!(store::carts::get_cart, store::carts::update_cart))
        .routes(routes!(store::carts::add_item))
        .routes(routes!(
            store::carts::update_item,
            store::carts::remove_item
        ))
        .routes(routes!(
            store::carts::apply_coupon,
            store::carts::remove_coupon
        ))
        .routes(routes!(store::carts::shipping_options))
        .routes(routes!(store::carts::choose_shipping))
        .routes(routes!(store::orders::checkout))
        .routes(routes!(store::orders::list_orders))
        .routes(routes!(store::orders::get_order))
        .routes(routes!(store::orders::request_order_link))
        .routes(routes!(store::payments::get_payment))
        .routes(routes!(api::events::order_events))
        .routes(routes!(api::events::vendor_events))
        .routes(routes!(api::events::admin_events))
        .routes(routes!(store::payments::confirm_payment))
        .routes(routes!(api::hooks::stripe_webhook))
        .routes(routes!(api::admin::payments::create_refund))
        .routes(routes!(api::admin::payments::reconcile))
        .routes(routes!(api::vendor::orders::list))
        .routes(routes!(api::vendor::orders::get))
        .routes(routes!(api::vendor::orders::fulfil))
        .routes(routes!(api::vendor::money::balance))
        .routes(routes!(
            api::vendor::shipping::list_rates,
            api::vendor::shipping::create_rate
        ))
        .routes(routes!(api::vendor::shipping::delete_rate))
        .routes(routes!(api::admin::orders::list_orders))
        .routes(routes!(api::admin::orders::get_order))
        .routes(routes!(api::admin::orders::cancel_order))
        .routes(routes!(
            api::admin::orders::record_payment,
            api::admin::payments::order_payments
        ))
        .routes(routes!(api::admin::orders::complete_order))
        .routes(routes!(
            api::admin::coupons::create_coupon,
            api::admin::coupons::list_coupons
        ))
        .routes(routes!(api::admin::coupons::set_coupon_active))
        .routes(routes!(
            api::admin::tax::list_tax_rates,
            api::admin::tax::put_tax_rate
        ))
        .routes(routes!(api::admin::payouts::set_commission))
        .routes(routes!(api::admin::payouts::payout_report))
        .routes(routes!(api::admin::payouts::record_payout))
        .routes(routes!(api::auth::register))
        .routes(routes!(api::auth::login))
        .routes(routes!(api::auth::logout))
        .routes(routes!(api::auth::me))
        .routes(routes!(api::auth::request_password_reset))
        .routes(routes!(api::auth::confirm_password_reset))
        .routes(routes!(api::auth::verify_email))
        .routes(routes!(api::auth::change_password))
        .routes(routes!(api::auth::list_sessions))
        .routes(routes!(api::auth::revoke_session))
        .routes(routes!(api::vendor::profile::apply))
        .routes(routes!(
            api::vendor::products::list,
            api::vendor::products::create
        ))
        .routes(routes!(
            api::vendor::products::get,
            api::vendor::products::replace
        ))
        .routes(routes!(api::vendor::products::archive))
        .routes(routes!(api::vendor::products::upload_image))
        .routes(routes!(api::vendor::products::set_stock))
        .routes(routes!(api::admin::vendors::list_vendors))
        .routes(routes!(api::admin::vendors::approve_vendor))
        .routes(routes!(api::admin::vendors::suspend_vendor))
        .routes(routes!(api::admin::jobs::list_jobs))
        .routes(routes!(api::admin::inventory::list))
        .routes(routes!(api::admin::jobs::retry_job))
        .routes(routes!(api::admin::audit::audit_log))
        .routes(routes!(
            api::admin::api_keys::create,
            api::admin::api_keys::list
        ))
        .routes(routes!(api::admin::api_keys::revoke))
        .routes(routes!(api::admin::categories::create))
        .routes(routes!(
            api::admin::categories::update,
            api::admin::categories::delete
        ))
        .routes(routes!(
            api::webhooks::vendor::create,
            api::webhooks::vendor::list
        ))
        .routes(routes!(
            api::webhooks::vendor::get,
            api::webhooks::vendor::update,
            api::webhooks::vendor::delete
        ))
        .routes(routes!(api::webhooks::vendor::secret))
        .routes(routes!(api::webhooks::vendor::rotate_secret))
        .routes(routes!(api::webhooks::vendor::messages))
        .routes(routes!(api::webhooks::vendor::deliveries))
        .routes(routes!(api::webhooks::vendor::redeliver))
        .routes(routes!(api::webhooks::vendor::send_test))
        .routes(routes!(api::webhooks::vendor::recover))
        .routes(routes!(
            api::webhooks::admin::create,
            api::webhooks::admin::list
        ))
        .routes(routes!(
            api::webhooks::admin::get,
            api::webhooks::admin::update,
            api::webhooks::admin::delete
        ))
        .routes(routes!(api::webhooks::admin::secret))
        .routes(routes!(api::webhooks::admin::rotate_secret))
        .routes(routes!(api::webhooks::admin::messages))
        .routes(routes!(api::webhooks::admin::deliveries))
        .routes(routes!(api::webhooks::admin::redeliver))
        .routes(routes!(api::webhooks::admin::send_test))
        .routes(routes!(api::webhooks::admin::recover))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .split_for_parts();
    let mut doc = doc;
    openapi::complete(&mut doc);
    (router, doc)
}

/// CORS for the listed origins only (exact match; an unlisted origin, `null` included, gets no
/// CORS headers, so a browser keeps its page from reading the answer). Cross-origin calls use a
/// bearer token: `Access-Control-Allow-Credentials` is never sent, so a browser never attaches
/// the session cookie for another origin (the cookie and its CSRF defence are for the shop's own
/// pages). Answers are readable with their `Retry-After`, `Location` and `X-Request-Id`.
fn cors(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("idempotency-key"),
                HeaderName::from_static("x-order-token"),
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([header::RETRY_AFTER, header::LOCATION, REQUEST_ID.clone()])
            .max_age(Duration::from_secs(600)),
    )
}

/// gzip or brotli, as the client prefers, for bodies over 1 KiB (smaller ones gain little for
/// the CPU); never for event streams, whose events must leave as they happen.
fn compression()
-> tower_http::compression::CompressionLayer<impl tower_http::compression::Predicate> {
    use tower_http::compression::Predicate;
    use tower_http::compression::predicate::{NotForContentType, SizeAbove};
    tower_http::compression::CompressionLayer::new()
        .no_deflate()
        .no_zstd()
        .compress_when(
            SizeAbove::new(1024)
                .and(NotForContentType::SSE)
                .and(NotForContentType::IMAGES),
        )
}

/// What answers a path no route serves: a browser asking for a page gets the storefront's
/// "page not found"; everything else (and anything under `/api/`) the API's 404 problem.
async fn fallback(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request<axum::body::Body>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let wants_page = !req.uri().path().starts_with("/api/")
        && req
            .headers()
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if wants_page {
        crate::web::not_found(state, req).await
    } else {
        error::ApiError::not_found("no such resource").into_response()
    }
}

/// The complete application: routes, docs and middleware.
pub fn app(state: AppState) -> Router {
    let (routes, openapi) = api_router();
    let config = state.config.clone();
    // Route layers run after routing; the last added is the outermost: metrics count cache
    // hits, the ETag is a digest of the bytes sent (compressed or not), and the cache keeps
    // bodies already compressed.
    let routes = routes
        .route_layer(compression())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cache::cache_catalog_reads,
        ))
        .route_layer(axum::middleware::from_fn(cache::http_caching))
        .route_layer(axum::middleware::from_fn(middleware::track_metrics));
    let routed = Router::new()
        .merge(routes)
        .merge(crate::web::router(&state).route_layer(compression()))
        .merge(
            SwaggerUi::new("/api/docs")
                .url("/api/openapi.json", openapi::with_server(openapi, &config)),
        )
        .fallback(fallback)
        // Bodies are bounded by `middleware::limit_body`, per route kind.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state.clone());
    // Around the router as one service, not `Router::layer`: that wraps every route in its
    // own copy of the stack, and a request cloned the whole stack down to the route's handlers
    // at every middleware (`from_fn` clones what it wraps for each call; ~12 % of a cached
    // page's time went to cloning and dropping them). Around the router, what is cloned is
    // the router itself: one reference count.
    Router::new().fallback_service(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<_>| {
                            let id = req
                                .headers()
                                .get(&REQUEST_ID)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("-");
                            tracing::info_span!("request", method = %req.method(), uri = %req.uri().path(), request_id = %id)
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .option_layer(cors(&config.cors_origins))
                .layer(axum::middleware::from_fn(middleware::problem_responses))
                .layer(axum::middleware::from_fn(middleware::unbuffered_streams))
                .layer(CatchPanicLayer::custom(middleware::panic_response))
                .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::shed_load))
                .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout))
                .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::limit_body))
                .service(routed),
    )
}
