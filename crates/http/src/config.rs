//! The HTTP face's settings: timeouts, body and concurrency limits, abuse limits, the catalog
//! cache, webhook keys; filled from `souk serve`'s configuration.

use std::time::Duration;

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
    /// Where uploaded images are stored and served from (`None`: uploads are refused).
    pub media_dir: Option<std::path::PathBuf>,
    /// The shop's name, shown by the storefront (`SOUK_SHOP_NAME`).
    pub shop_name: String,
    /// Card payments on the storefront's pages with Stripe's Payment Element (`None`: the
    /// storefront offers manual payment only; the API's `stripe` method does not need this).
    pub stripe_browser: Option<StripeBrowser>,
}

/// What the storefront's pages need to load Stripe.js and mount its Payment Element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeBrowser {
    /// `pk_live_…` / `pk_test_…`: public by design (it is sent to every shopper).
    pub publishable_key: String,
    /// Where Stripe.js is loaded from: `https://js.stripe.com/v3/` (Stripe requires it be
    /// loaded from there; tests point it at a fake Stripe).
    pub js_url: String,
}

impl StripeBrowser {
    /// The origins the payment page's Content-Security-Policy must allow, as
    /// (`script-src`, `frame-src`, `connect-src`): Stripe.js, the iframes it mounts, the API it
    /// calls. For Stripe's own script these are Stripe's documented origins; for another
    /// (a fake Stripe in tests) its one origin.
    pub fn csp_origins(&self) -> Option<(String, String, String)> {
        let url = url::Url::parse(&self.js_url).ok()?;
        let origin = url.origin().ascii_serialization();
        if origin == "https://js.stripe.com" {
            return Some((
                "https://js.stripe.com https://*.js.stripe.com".to_owned(),
                "https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com".to_owned(),
                "https://api.stripe.com".to_owned(),
            ));
        }
        Some((origin.clone(), origin.clone(), origin))
    }
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
            media_dir: None,
            shop_name: "Souk".to_owned(),
            stripe_browser: None,
        }
    }
}
