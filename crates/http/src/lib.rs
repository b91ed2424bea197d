//! Souk's HTTP delivery layer: the axum router, its middleware, the REST API and its OpenAPI
//! document. Handlers read a request, call one storage/domain function, and map the result.

pub mod api;
pub mod auth;
pub mod cache;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod ops;
pub mod server;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use souk_storage::Db;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::api::store;

/// HTTP-level limits, from the `souk serve` configuration.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes (larger: 413 `payload_too_large`).
    pub body_limit: usize,
    /// A request still running after this is abandoned (503 `timeout`).
    pub request_timeout: Duration,
    /// Requests handled at once; more are refused with 503 `overloaded`.
    pub max_in_flight: usize,
    /// How long public catalog responses may be served from the per-instance cache (zero: off).
    pub catalog_cache_ttl: Duration,
    /// Memory bound of that cache, in bytes.
    pub catalog_cache_bytes: u64,
    /// The URL shoppers reach this server at (`https://shop.example`); decides the CSRF origin
    /// check and `Secure` cookies. `None`: the request's `Host`, plain http.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed when they are the TCP peer.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Origins of separate frontends (`https://shop.example`) allowed to call the API from a
    /// browser (CORS), with bearer tokens. Exact matches only; empty: none.
    pub cors_origins: Vec<String>,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// The shop's currency: prices in requests must be in it.
    pub currency: souk_domain::money::Currency,
    /// How long an unpaid order keeps its stock before a job cancels it.
    pub order_hold: Duration,
    /// The platform's commission on vendors without their own rate, in basis points.
    pub commission_bps: i64,
    /// Reconciliation asks the provider about unpaid payments older than this.
    pub payment_reconcile_age: Duration,
    /// How often the reconciliation pass runs in the background (at least once a second).
    pub payment_reconcile_interval: Duration,
    /// Live event streams (SSE) open at once at most.
    pub max_streams: usize,
    /// How often an open stream checks that its caller may still read it (logout, revoked
    /// key, suspended vendor end it).
    pub stream_recheck: Duration,
    /// Webhook endpoint secrets and where endpoints may point.
    pub webhooks: WebhookSettings,
    /// Limits against guessing, enumeration and stock hoarding ([docs/security.md]).
    pub limits: AbuseLimits,
}

/// Limits against abuse of public flows. Each holds across instances (counted in the database)
/// and however requests are timed (reserved before the slow work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseLimits {
    /// The window failed password checks are counted in.
    pub login_window: Duration,
    /// Failed password checks per account (login, and change-password's current password).
    pub login_failures_per_account: i64,
    /// Failed logins per client address.
    pub login_failures_per_address: i64,
    /// Registrations per client address per hour.
    pub registrations_per_address: i64,
    /// Unpaid orders one customer may hold at once (0: no limit).
    pub unpaid_orders_per_email: i64,
    /// Checkouts per client address per hour.
    pub checkouts_per_address: i64,
    /// How long a guest's unpaid `manual` order keeps its stock (shorter than `order_hold`).
    pub guest_manual_hold: Duration,
    /// Test events and recoveries per endpoint owner (a vendor, or the platform) per hour.
    pub webhook_actions_per_endpoint: i64,
}

impl AbuseLimits {
    pub fn login_window_ms(&self) -> i64 {
        i64::try_from(self.login_window.as_millis()).unwrap_or(i64::MAX)
    }
}

impl Default for AbuseLimits {
    fn default() -> Self {
        AbuseLimits {
            login_window: Duration::from_secs(15 * 60),
            login_failures_per_account: 10,
            login_failures_per_address: 100,
            registrations_per_address: 20,
            unpaid_orders_per_email: 3,
            checkouts_per_address: 30,
            guest_manual_hold: Duration::from_secs(12 * 3600),
            webhook_actions_per_endpoint: 20,
        }
    }
}

pub use souk_app::webhooks::WebhookSettings;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            max_in_flight: 1024,
            catalog_cache_ttl: Duration::from_secs(1),
            catalog_cache_bytes: 32 * 1024 * 1024,
            public_url: None,
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            currency: souk_domain::money::Currency::USD,
            order_hold: Duration::from_secs(24 * 3600),
            commission_bps: 1000,
            payment_reconcile_age: Duration::from_secs(60),
            payment_reconcile_interval: Duration::from_secs(60),
            max_streams: 1000,
            stream_recheck: Duration::from_secs(30),
            webhooks: WebhookSettings::default(),
            limits: AbuseLimits::default(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub metrics: PrometheusHandle,
    pub config: Arc<HttpConfig>,
    pub cache: cache::ResponseCache,
    /// Wakes this process's job worker after a commit that enqueued jobs.
    pub job_waker: Option<Arc<tokio::sync::Notify>>,
    pub events: api::events::EventHub,
    /// The use cases, told of commits through [`HttpSignals`].
    pub app: souk_app::App,
    in_flight: Arc<Semaphore>,
}

/// What the use cases signal after a commit, delivered to this process's worker, live streams
/// and catalog cache.
struct HttpSignals {
    job_waker: Option<Arc<tokio::sync::Notify>>,
    events: api::events::EventHub,
    cache: cache::ResponseCache,
}

impl souk_app::Signals for HttpSignals {
    fn jobs_committed(&self) {
        if let Some(waker) = &self.job_waker {
            waker.notify_one();
        }
        // Whatever committed jobs may have committed events too.
        self.events.wake();
    }

    fn catalog_changed(&self) {
        self.cache.invalidate_all();
    }
}

impl AppState {
    pub fn new(db: Db, config: HttpConfig) -> Self {
        let cache = cache::ResponseCache::new(config.catalog_cache_ttl, config.catalog_cache_bytes);
        let events = api::events::EventHub::new(config.max_streams);
        AppState {
            app: souk_app::App::quiet(db.clone(), souk_app::Settings::default()),
            db,
            metrics: metrics_handle(),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            cache,
            job_waker: None,
            events,
            config: Arc::new(config),
        }
        .with_job_waker(None)
    }

    pub fn with_job_waker(mut self, waker: Option<Arc<tokio::sync::Notify>>) -> Self {
        self.job_waker = waker;
        let signals = HttpSignals {
            job_waker: self.job_waker.clone(),
            events: self.events.clone(),
            cache: self.cache.clone(),
        };
        let limits = &self.config.limits;
        let settings = souk_app::Settings {
            currency: self.config.currency,
            commission_bps: self.config.commission_bps,
            accounts: souk_app::accounts::AccountLimits {
                login_window_ms: limits.login_window_ms(),
                login_failures_per_account: limits.login_failures_per_account,
                login_failures_per_address: limits.login_failures_per_address,
                registrations_per_address: limits.registrations_per_address,
                session_ttl_ms: i64::try_from(self.config.session_ttl.as_millis())
                    .unwrap_or(i64::MAX / 2),
            },
            webhooks: self.config.webhooks.clone(),
            checkout: souk_app::checkout::CheckoutRules {
                order_hold: self.config.order_hold,
                guest_manual_hold: limits.guest_manual_hold,
                unpaid_orders_per_customer: limits.unpaid_orders_per_email,
                checkouts_per_hour: limits.checkouts_per_address,
            },
            webhook_sends_per_hour: limits.webhook_actions_per_endpoint,
        };
        let providers = self.app.providers.clone();
        self.app = souk_app::App::new(self.db.clone(), settings, Arc::new(signals))
            .with_providers(providers);
        self
    }

    /// The payment providers checkout, webhooks and refunds talk to.
    pub fn with_providers(mut self, providers: souk_app::payments::Providers) -> Self {
        self.app = self.app.with_providers(providers);
        self
    }

    pub fn secure_cookies(&self) -> bool {
        self.config
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    pub fn in_flight(&self) -> usize {
        self.config.max_in_flight - self.in_flight.available_permits()
    }
}

/// The process-wide Prometheus recorder (metrics macros write to one global recorder).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static buckets are valid");
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is installed (embedding): keep a private one so /metrics works.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Souk API",
        description = "Souk, a multi-vendor marketplace backend. Errors are `application/problem+json` \
                       with a stable `code`; money is `{amount, currency}` in minor units; ids are opaque.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0")
    ),
    tags(
        (name = "store", description = "What shoppers see: catalog, categories, vendors"),
        (name = "auth", description = "Accounts and sessions"),
        (name = "vendor", description = "Vendor staff: their own vendor only"),
        (name = "admin", description = "Platform admins"),
        (name = "operations", description = "Health, readiness, metrics"),
    ),
    components(schemas(error::Problem, error::FieldError)),
    modifiers(&SecurityAddon)
)]
struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // A browser session; changes also need `X-CSRF-Token` (the `souk_csrf` cookie's value).
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Cookie(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "souk_session",
                    "The session cookie set by login; unsafe methods also need the \
                     `X-CSRF-Token` header (the value of the `souk_csrf` cookie)",
                ),
            )),
        );
    }
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The OpenAPI document and the routes it describes, built together so no route escapes it.
pub fn api_router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(store::products::list_products))
        .routes(routes!(store::products::get_product))
        .routes(routes!(store::categories::list_categories))
        .routes(routes!(store::vendors::list_vendors))
        .routes(routes!(api::vendor_orders::payouts))
        .routes(routes!(api::vendor_orders::correct_tracking))
        .routes(routes!(
            api::vendor::get_profile,
            api::vendor::update_profile
        ))
        .routes(routes!(api::vendor::invite, api::vendor::list_invitations))
        .routes(routes!(api::vendor::revoke_invitation))
        .routes(routes!(api::vendor::accept_invitation))
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
        .routes(routes!(api::payments::get_payment))
        .routes(routes!(api::events::order_events))
        .routes(routes!(api::events::vendor_events))
        .routes(routes!(api::events::admin_events))
        .routes(routes!(api::payments::confirm_payment))
        .routes(routes!(api::payments::stripe_webhook))
        .routes(routes!(api::payments::create_refund))
        .routes(routes!(api::payments::reconcile))
        .routes(routes!(api::vendor_orders::list))
        .routes(routes!(api::vendor_orders::get))
        .routes(routes!(api::vendor_orders::fulfil))
        .routes(routes!(api::vendor_orders::balance))
        .routes(routes!(
            api::vendor_orders::list_rates,
            api::vendor_orders::create_rate
        ))
        .routes(routes!(api::vendor_orders::delete_rate))
        .routes(routes!(api::admin_orders::list_orders))
        .routes(routes!(api::admin_orders::get_order))
        .routes(routes!(api::admin_orders::cancel_order))
        .routes(routes!(
            api::admin_orders::record_payment,
            api::payments::order_payments
        ))
        .routes(routes!(api::admin_orders::complete_order))
        .routes(routes!(
            api::admin_orders::create_coupon,
            api::admin_orders::list_coupons
        ))
        .routes(routes!(api::admin_orders::set_coupon_active))
        .routes(routes!(
            api::admin_orders::list_tax_rates,
            api::admin_orders::put_tax_rate
        ))
        .routes(routes!(api::admin_orders::set_commission))
        .routes(routes!(api::admin_orders::payout_report))
        .routes(routes!(api::admin_orders::record_payout))
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
        .routes(routes!(api::vendor::apply))
        .routes(routes!(
            api::vendor_products::list,
            api::vendor_products::create
        ))
        .routes(routes!(
            api::vendor_products::get,
            api::vendor_products::replace
        ))
        .routes(routes!(api::vendor_products::archive))
        .routes(routes!(api::vendor_products::set_stock))
        .routes(routes!(api::admin::list_vendors))
        .routes(routes!(api::admin::approve_vendor))
        .routes(routes!(api::admin::suspend_vendor))
        .routes(routes!(api::admin::list_jobs))
        .routes(routes!(api::admin_inventory::list))
        .routes(routes!(api::admin::retry_job))
        .routes(routes!(api::admin::audit_log))
        .routes(routes!(api::admin_keys::create, api::admin_keys::list))
        .routes(routes!(api::admin_keys::revoke))
        .routes(routes!(api::admin_categories::create))
        .routes(routes!(
            api::admin_categories::update,
            api::admin_categories::delete
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
    document_common_errors(&mut doc);
    name_operations_and_security(&mut doc);
    type_filters_and_streams(&mut doc);
    (router, doc)
}

/// Store carts and orders serve guests and customers alike: credentials are optional there.
/// (Asking for an order link again takes none: it acts on no account.)
fn takes_optional_credentials(path: &str) -> bool {
    (path.starts_with("/api/store/carts") || path.starts_with("/api/store/orders"))
        && path != "/api/store/orders/lookup"
}

/// The part of the API a path belongs to: the prefix of its operation ids.
fn area(path: &str) -> &'static str {
    for area in ["store", "auth", "vendor", "admin", "hooks"] {
        if path.starts_with(&format!("/api/{area}/")) || path == format!("/api/{area}") {
            return area;
        }
    }
    "ops"
}

/// Operation ids that client generators can use as method names: unique, and prefixed with
/// their area (`store_get_order`, `admin_get_order`); and each operation's security stated:
/// `[]` where no credentials are taken, the bearer token or the session cookie where they are,
/// and either or none on the store's carts and orders (guests and customers alike).
fn name_operations_and_security(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    let bearer = || SecurityRequirement::new("bearer", Vec::<String>::new());
    let cookie = || SecurityRequirement::new("cookie", Vec::<String>::new());
    for (path, item) in doc.paths.paths.iter_mut() {
        let area = area(path);
        let optional_credentials = takes_optional_credentials(path);
        for operation in operations_mut(item) {
            if let Some(id) = &operation.operation_id
                && !id.starts_with(&format!("{area}_"))
            {
                operation.operation_id = Some(format!("{area}_{id}"));
            }
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            operation.security = Some(if secured {
                vec![bearer(), cookie()]
            } else if optional_credentials {
                vec![SecurityRequirement::default(), bearer(), cookie()]
            } else {
                Vec::new()
            });
        }
    }
}

/// What the handler attributes cannot say: the vocabulary of each list's shared `status`
/// filter, every closed set as a named schema, and the events of the live streams
/// (`StreamEvent`, pointed to from each `text/event-stream` response).
fn type_filters_and_streams(doc: &mut utoipa::openapi::OpenApi) {
    use api::events::documented::StreamEvent;
    use api::vocabulary::*;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    use utoipa::openapi::{Components, RefOr, extensions::ExtensionsBuilder};
    fn add<T: utoipa::ToSchema>(components: &mut Components) {
        let mut all = vec![(T::name().into_owned(), T::schema())];
        T::schemas(&mut all);
        for (name, schema) in all {
            components.schemas.entry(name).or_insert(schema);
        }
    }
    let components = doc.components.get_or_insert_with(Components::new);
    add::<OrderStatus>(components);
    add::<VendorOrderStatus>(components);
    add::<VendorStatus>(components);
    add::<ProductStatus>(components);
    add::<JobStatus>(components);
    add::<MessageStatus>(components);
    add::<ProductSort>(components);
    add::<StreamEvent>(components);
    let stream = ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "Server-Sent Events: each event is a `StreamEvent` (`id:`, `event:`, one line of JSON \
             `data:`); `: heartbeat` comments every 15 s.",
        ))
        .extensions(Some(
            ExtensionsBuilder::new()
                .add(
                    "x-stream-event",
                    serde_json::json!({"$ref": "#/components/schemas/StreamEvent"}),
                )
                .build(),
        ))
        .build();
    for (path, item) in doc.paths.paths.iter_mut() {
        let filter = api::vocabulary::status_filter(path);
        for operation in operations_mut(item) {
            // Lists that share the page parameters but have no status to filter by (the audit
            // log, deliveries) do not offer the filter.
            if filter.is_none()
                && let Some(parameters) = &mut operation.parameters
            {
                parameters.retain(|p| !matches!(p, RefOr::T(p) if p.name == "status"));
            }
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                if parameter.name == "status"
                    && parameter.parameter_in == utoipa::openapi::path::ParameterIn::Query
                    && let Some(filter) = &filter
                {
                    parameter.schema = Some(filter.clone());
                }
            }
            for response in operation.responses.responses.values_mut() {
                if let RefOr::T(response) = response
                    && let Some(RefOr::T(content)) = response.content.get_mut("text/event-stream")
                {
                    content.schema = Some(RefOr::T(stream.clone().into()));
                }
            }
        }
    }
}

/// The operations of a path, whatever their method.
fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// Adds the errors that every operation of a kind can answer, so a client generator (and
/// schemathesis' status-code check) knows them without each handler listing them: 401/403 where
/// credentials are taken, 400/413/415 where a JSON body is read, 503 when shedding load.
fn document_common_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        // Store carts and orders take optional credentials (a customer's session or key).
        let optional_credentials = takes_optional_credentials(path);
        for operation in operations_mut(item) {
            let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
            let json_body = matches!(&operation.request_body, Some(RefOr::T(body))
                if body.content.contains_key("application/json"));
            let mut add = |status: &str, description: &str| {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description));
            };
            if secured || optional_credentials {
                add(
                    "401",
                    "Credentials sent but not valid, or none where required (`unauthenticated`)",
                );
                add(
                    "403",
                    "Not allowed: role, API-key scope, or a cookie request without the CSRF token \
                     (`forbidden`, `insufficient_scope`, `csrf_failed`)",
                );
            }
            // Query strings are read strictly: unknown or malformed parameters are refused.
            let takes_query = operation.parameters.iter().flatten().any(|p| {
                matches!(p, RefOr::T(p) if p.parameter_in == utoipa::openapi::path::ParameterIn::Query)
            });
            if takes_query {
                add(
                    "400",
                    "Unknown, repeated or invalid query parameters (`invalid_query`, `validation_failed`)",
                );
            }
            if json_body {
                add(
                    "400",
                    "Malformed JSON or invalid fields (`invalid_json`, `validation_failed`)",
                );
                add("413", "Body too large (`payload_too_large`)");
                add(
                    "415",
                    "The body is not `application/json` (`unsupported_media_type`)",
                );
            }
            add(
                "503",
                "Shedding load, or the database is unreachable; retry after `Retry-After` \
                 (`overloaded`, `database_unavailable`)",
            );
        }
    }
}

/// The document as served: its `servers` is the shop's public URL (`SOUK_PUBLIC_URL`), or `/`
/// (this server, however it is reached) when none is set.
fn with_server(
    mut openapi: utoipa::openapi::OpenApi,
    config: &HttpConfig,
) -> utoipa::openapi::OpenApi {
    let url = config
        .public_url
        .as_deref()
        .map_or("/".to_owned(), |u| u.trim_end_matches('/').to_owned());
    openapi.servers = Some(vec![utoipa::openapi::Server::new(url)]);
    openapi
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
    Router::new()
        .merge(routes)
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", with_server(openapi, &config)))
        .fallback(|| async { error::ApiError::not_found("no such resource") })
        .layer(
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
                .layer(RequestBodyLimitLayer::new(config.body_limit)),
        )
        .with_state(state)
}
