//! What every handler shares: the database, the use cases (`souk_app::App`) with the signals
//! this process listens to, the configuration, the catalog cache, the live event hub and the
//! load-shedding semaphore; and the process-wide metrics recorder.

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use souk_storage::Db;
use souk_storage::catalog::notices::CatalogAnnouncer;
use tokio::sync::Semaphore;

use crate::config::HttpConfig;
use crate::{api, cache};

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
    pub(crate) in_flight: Arc<Semaphore>,
    /// This process among the instances sharing the database.
    pub instance: uuid::Uuid,
    /// Tells the other instances when this one changes the catalog.
    pub catalog_announcer: CatalogAnnouncer,
}

/// What the use cases signal after a commit, delivered to this process's worker, live streams
/// and catalog cache.
struct HttpSignals {
    job_waker: Option<Arc<tokio::sync::Notify>>,
    events: api::events::EventHub,
    cache: cache::ResponseCache,
    catalog_announcer: CatalogAnnouncer,
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
        self.catalog_announcer.catalog_changed();
    }
}

impl AppState {
    pub fn new(db: Db, config: HttpConfig) -> Self {
        let cache = cache::ResponseCache::new(config.catalog_cache_ttl, config.catalog_cache_bytes);
        let events = api::events::EventHub::new(config.max_streams);
        let instance = uuid::Uuid::now_v7();
        AppState {
            catalog_announcer: CatalogAnnouncer::start(&db, instance),
            instance,
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
            catalog_announcer: self.catalog_announcer.clone(),
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
            shop_name: self.config.shop_name.clone(),
        };
        let providers = self.app.providers.clone();
        let mut app = souk_app::App::new(self.db.clone(), settings, Arc::new(signals))
            .with_providers(providers);
        if let Some(dir) = &self.config.media_dir {
            app = app.with_media(souk_storage::media::MediaStore::new(dir));
        }
        self.app = app;
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
