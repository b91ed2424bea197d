//! Souk's use cases: one function per user intent. Each owns its transaction, its audit entry,
//! the jobs and events it commits with the change, and the signals sent after the commit (wake
//! the job worker, drop cached catalog pages). Faces — the JSON API, the HTML pages, the job
//! worker, the CLI — parse input, call one function here and render what it returns; none of
//! them opens a write transaction.
//!
//! Errors: each area's typed error converts into [`AppError`] beside its definition; a face
//! maps [`AppError`] once (the JSON API to problem+json, a page to a message by the field).

pub mod accounts;
pub mod api_keys;
pub mod carts;
pub mod catalog_import;
pub mod categories;
pub mod checkout;
pub mod coupons;
pub mod customers;
pub mod dashboard;
pub mod error;
pub mod fulfilment;
pub mod images;
pub mod jobs;
pub mod order_emails;
pub mod orders;
pub mod outbox;
pub mod payments;
pub mod payouts;
pub mod product_images;
pub mod products;
pub mod queue;
pub mod shipping;
pub mod shop;
pub mod tax;
pub mod vendors;
pub mod webhooks;

use std::sync::Arc;

use souk_domain::money::Currency;
use souk_storage::{Db, Tx, audit};
use uuid::Uuid;

pub use error::{AppError, Extra, FieldProblem, Kind};

/// What a face tells the use cases about the running process, to hear of commits that concern
/// it. Every method has a no-op default (a CLI command needs none of them).
pub trait Signals: Send + Sync + 'static {
    /// Jobs or events were committed: wake this process's worker and live streams.
    fn jobs_committed(&self) {}
    /// The public catalog changed: cached catalog responses are stale.
    fn catalog_changed(&self) {}
}

/// Signals nobody listens to.
pub struct NoSignals;

impl Signals for NoSignals {}

/// The marketplace's settings the rules depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The one currency the shop sells in.
    pub currency: Currency,
    /// The platform's commission on vendors without their own rate, in basis points.
    pub commission_bps: i64,
    pub accounts: accounts::AccountLimits,
    pub webhooks: webhooks::WebhookSettings,
    pub checkout: checkout::CheckoutRules,
    /// Test events and recoveries an endpoint owner may ask for per hour.
    pub webhook_sends_per_hour: i64,
    /// The shop's name when admins have not set one (`SOUK_SHOP_NAME`).
    pub shop_name: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            currency: Currency::USD,
            commission_bps: 1000,
            accounts: accounts::AccountLimits::default(),
            webhooks: webhooks::WebhookSettings::default(),
            checkout: checkout::CheckoutRules::default(),
            webhook_sends_per_hour: 20,
            shop_name: "Souk".to_owned(),
        }
    }
}

/// The handle every use case takes: the database, the settings and the process's signals.
#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub settings: Arc<Settings>,
    /// The payment providers this instance can talk to.
    pub providers: payments::Providers,
    signals: Arc<dyn Signals>,
    /// Idempotency keys of checkouts running in this process (a duplicate is told to retry).
    checkouts: checkout::InFlight,
    /// Bounds concurrent password hashes (each takes tens of milliseconds of a core).
    hashing: Arc<tokio::sync::Semaphore>,
    /// The admin home's sales by day, recomputed at most every few seconds.
    sales_by_day: dashboard::SalesCache,
    /// Each vendor's home's money figures, reused for a few seconds.
    vendor_homes: dashboard::VendorHomeCache,
    /// Where uploaded images are stored (`None`: uploads are refused).
    pub media: Option<souk_storage::media::MediaStore>,
    /// Bounds images decoded at once (each holds up to a few hundred MB while it is resized).
    image_work: Arc<tokio::sync::Semaphore>,
}

impl App {
    pub fn new(db: Db, settings: Settings, signals: Arc<dyn Signals>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        App {
            db,
            settings: Arc::new(settings),
            providers: payments::Providers::default(),
            checkouts: checkout::InFlight::default(),
            signals,
            hashing: Arc::new(tokio::sync::Semaphore::new(cores.max(1) * 2)),
            sales_by_day: dashboard::SalesCache::default(),
            vendor_homes: dashboard::VendorHomeCache::default(),
            media: None,
            image_work: Arc::new(tokio::sync::Semaphore::new(cores.clamp(1, 4))),
        }
    }

    /// Stores uploaded images in `store`.
    pub fn with_media(mut self, store: souk_storage::media::MediaStore) -> Self {
        self.media = Some(store);
        self
    }

    /// The payment providers checkout, webhooks and refunds talk to.
    pub fn with_providers(mut self, providers: payments::Providers) -> Self {
        self.providers = providers;
        self
    }

    /// Without signals (CLI commands, tests).
    pub fn quiet(db: Db, settings: Settings) -> Self {
        App::new(db, settings, Arc::new(NoSignals))
    }

    pub(crate) async fn hashing_permit(
        &self,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, AppError> {
        self.hashing
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| AppError::internal("the hashing pool is closed"))
    }

    /// Whom this app tells of its commits, for steps run elsewhere (the job worker) to tell
    /// the same listeners.
    pub fn signals(&self) -> Arc<dyn Signals> {
        self.signals.clone()
    }

    pub(crate) fn jobs_committed(&self) {
        self.signals.jobs_committed();
    }

    pub(crate) fn catalog_changed(&self) {
        self.signals.catalog_changed();
    }
}

/// Who asks, as the audit log records it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Uuid,
    pub email: String,
    /// The client address the request came from.
    pub ip: String,
}

/// One audit-log entry, written in the caller's transaction.
pub(crate) async fn record_audit(
    tx: &mut Tx,
    actor: &Actor,
    action: &str,
    subject: (&str, impl std::fmt::Display),
    vendor_id: Option<Uuid>,
    details: serde_json::Value,
) -> Result<(), AppError> {
    audit::record(
        tx,
        &audit::AuditEntry {
            actor_user_id: actor.user_id,
            actor_email: &actor.email,
            action,
            subject_type: subject.0,
            subject_id: subject.1.to_string(),
            vendor_id,
            ip: &actor.ip,
            details,
        },
    )
    .await?;
    Ok(())
}
