//! Building the application from configuration; shared by `souk serve` and the tests.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use souk_http::server::ServerLimits;
use souk_http::{AppState, HttpConfig};
use souk_jobs::mail::Mailer;
use souk_jobs::webhooks::{WebhookConfig, WebhookSender};
use souk_jobs::{Worker, WorkerConfig};
use souk_storage::{Db, DbOptions};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::cli::GlobalArgs;

/// The database URL to use: the configured one, else SQLite inside the data directory
/// (created if needed).
pub fn database_url(global: &GlobalArgs) -> anyhow::Result<String> {
    // Platforms as a service hand the database over as `DATABASE_URL`: used when
    // `SOUK_DATABASE_URL` (or `--database-url`) is not set.
    let from_platform = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty());
    if let Some(url) = global.database_url.as_ref().or(from_platform.as_ref()) {
        // Checked here rather than by the argument parser, whose error would print the URL
        // with its password.
        let known = ["sqlite:", "postgres://", "postgresql://"];
        if !known.iter().any(|scheme| url.starts_with(scheme)) {
            anyhow::bail!(
                "invalid --database-url / SOUK_DATABASE_URL / DATABASE_URL {}: expected sqlite://PATH or postgres://…",
                souk_storage::redact_url(url)
            );
        }
        return Ok(url.clone());
    }
    private_data_dir(&global.data_dir)?;
    let db = global.data_dir.join("souk.db");
    private_file(&db)?;
    Ok(sqlite_url(&db))
}

/// Creates the data directory readable by its owner only (0700), and makes an existing one so:
/// it holds the database, the server key and emails with live sign-in links.
pub fn private_data_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| {
        format!(
            "cannot create the data directory {} (SOUK_DATA_DIR)",
            dir.display()
        )
    })?;
    // Best effort on an existing directory: one owned by another user (a mounted volume)
    // cannot be changed here, and is the operator's to protect.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot make the data directory private (chmod 700)");
        }
    }
    Ok(())
}

/// Creates the database file (empty: SQLite starts a new database in it) with mode 0600, or
/// makes an existing one and its WAL files 0600. SQLite gives the `-wal` and `-shm` files the
/// database file's mode when it creates them.
pub fn private_file(db: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(db)
        .with_context(|| format!("cannot create the database file {}", db.display()))?;
    #[cfg(unix)]
    for suffix in ["", "-wal", "-shm"] {
        use std::os::unix::fs::PermissionsExt;
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %path.display(), error = %e, "cannot make a database file private (chmod 600)");
            }
            _ => {}
        }
    }
    Ok(())
}

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A database URL for people: the SQLite file, or the PostgreSQL server without its password.
pub fn describe_database(url: &str) -> String {
    match url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Some(path) => format!("SQLite {path}"),
        None => format!("PostgreSQL {}", souk_storage::redact_url(url)),
    }
}

/// Whether `url` names a Souk database that exists already (migrated at least once). Creates
/// nothing: a SQLite file that is not there is not made.
pub async fn database_exists(url: &str) -> anyhow::Result<bool> {
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or(path);
        if !Path::new(path).exists() {
            return Ok(false);
        }
    }
    let db = Db::connect(
        url,
        &DbOptions {
            max_connections: 1,
            ..DbOptions::default()
        },
    )
    .await
    .context("cannot open the database (SOUK_DATABASE_URL)")?;
    let exists = db.has_schema().await?;
    db.close().await;
    Ok(exists)
}

/// Refuses a shop currency other than the one the catalog is priced in: every stored price
/// would silently change its meaning.
pub async fn check_catalog_currency(
    db: &Db,
    currency: souk_domain::money::Currency,
    url: &str,
) -> anyhow::Result<()> {
    let found = souk_storage::catalog::priced_currencies(db).await?;
    if let Some(other) = found.iter().find(|c| c.as_str() != currency.code()) {
        anyhow::bail!(
            "SOUK_CURRENCY is {currency}, but the catalog in {} is priced in {other}: start with \
             --currency {other} (SOUK_CURRENCY={other}), or use another database",
            describe_database(url)
        );
    }
    Ok(())
}

/// Connects for `souk serve`: migrates first with no time limit, then opens the pools whose
/// statements are stopped after `statement_timeout` (the request timeout: past it nobody
/// waits for the answer, and the connection is needed by others).
pub async fn open_serving_database(
    url: &str,
    max_connections: u32,
    statement_timeout: Duration,
) -> anyhow::Result<Db> {
    open_database(url, 1).await?.close().await;
    Db::connect(
        url,
        &DbOptions {
            max_connections,
            statement_timeout: Some(statement_timeout),
            ..DbOptions::default()
        },
    )
    .await
    .context("cannot open the database (SOUK_DATABASE_URL)")
}

/// Connects and migrates.
pub async fn open_database(url: &str, max_connections: u32) -> anyhow::Result<Db> {
    let options = DbOptions {
        max_connections,
        ..DbOptions::default()
    };
    let db = Db::connect(url, &options)
        .await
        .context("cannot open the database (SOUK_DATABASE_URL)")?;
    db.migrate().await.context("cannot migrate the database")?;
    Ok(db)
}

/// The server key webhook secrets are derived from: `SOUK_SECRET_KEY`, else the key file in
/// the data directory (created with 32 random bytes, readable by its owner only, on first use).
pub fn server_key(global: &GlobalArgs) -> anyhow::Result<Arc<[u8]>> {
    use souk_domain::webhooks::{parse_server_key, random_key};
    if let Some(text) = global.secret_key.as_deref().filter(|k| !k.is_empty()) {
        let key = parse_server_key(text).map_err(|e| anyhow::anyhow!("SOUK_SECRET_KEY {e}"))?;
        return Ok(key.into());
    }
    let path = global.data_dir.join("secret.key");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = parse_server_key(&text)
                .map_err(|e| anyhow::anyhow!("{}: the key {e}", path.display()))?;
            return Ok(key.into());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    private_data_dir(&global.data_dir)?;
    // Written whole to a private temporary file, then linked into place: a process starting
    // at the same moment never sees a half-written key, and the first one to link wins.
    let key = random_key();
    let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = global
        .data_dir
        .join(format!("secret.key.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    {
        use std::io::Write;
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        file.write_all(format!("{text}\n").as_bytes())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", tmp.display()))?;
    }
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated the server key (set SOUK_SECRET_KEY to share one between instances)");
            Ok(key.to_vec().into())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => server_key(global),
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// Where webhook endpoints may point: https only when the shop itself is served over https
/// (production); private addresses only when allowed.
pub fn webhook_policy(global: &GlobalArgs) -> souk_domain::webhooks::TargetPolicy {
    souk_domain::webhooks::TargetPolicy {
        allow_http: !global
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://")),
        allow_private: global.webhook_allow_private,
    }
}

/// The job worker as configured (mail transport, concurrency, timings, webhook delivery);
/// `None` when `concurrency` is 0.
pub fn background_worker(
    global: &GlobalArgs,
    db: Db,
    concurrency: usize,
    public_url: &str,
    server_key: Arc<[u8]>,
) -> anyhow::Result<Option<Worker>> {
    if concurrency == 0 {
        return Ok(None);
    }
    let mailer = Mailer::with_ca(
        global.smtp_url.as_deref(),
        global.smtp_ca_file.as_deref(),
        &global.mail_from,
        &global.data_dir,
        &global.shop_name,
    )?;
    match mailer.file_dir() {
        Some(dir) => {
            tracing::info!(dir = %dir.display(), "no SOUK_SMTP_URL: emails are written as .eml files")
        }
        None => tracing::info!("emails are sent over SMTP"),
    }
    let config = WorkerConfig {
        concurrency,
        poll_interval: Duration::from_millis(global.job_poll_ms),
        lease: Duration::from_secs(global.job_lease_secs),
        retry_base: Duration::from_millis(global.job_retry_base_ms),
        public_url: public_url.to_owned(),
        max_attempts: global.job_max_attempts,
        order_link_key: Some(server_key.clone()),
        ..WorkerConfig::default()
    };
    // An attempt must end well inside the job's lease (the worker cuts a job off at 80 % of
    // it), or it would be cut short without its outcome being logged.
    let mut timeout = Duration::from_millis(global.webhook_timeout_ms);
    let ceiling = config.lease.mul_f64(0.7);
    if timeout > ceiling {
        tracing::warn!(
            ?timeout,
            ?ceiling,
            "SOUK_WEBHOOK_TIMEOUT_MS is too long for SOUK_JOB_LEASE_SECS; using the ceiling"
        );
        timeout = ceiling;
    }
    let sender = WebhookSender::new(WebhookConfig {
        server_key,
        policy: webhook_policy(global),
        timeout,
        disable_after: Duration::from_secs(global.webhook_disable_after_secs),
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    Ok(Some(
        Worker::new(db, Arc::new(mailer), config).with_webhooks(Arc::new(sender)),
    ))
}

/// Card payment on the storefront's pages: the publishable key and where Stripe.js comes from.
/// Needs Stripe enabled (its secret key and webhook secret); `None` without a publishable key.
pub fn stripe_browser(global: &GlobalArgs) -> anyhow::Result<Option<souk_http::StripeBrowser>> {
    let Some(key) = global
        .stripe_publishable_key
        .as_deref()
        .map(str::trim)
        .filter(|k| !k.is_empty())
    else {
        return Ok(None);
    };
    if !key.starts_with("pk_")
        || key.len() > 200
        || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        anyhow::bail!(
            "SOUK_STRIPE_PUBLISHABLE_KEY must be a Stripe publishable key (pk_live_… or pk_test_…)"
        );
    }
    if global
        .stripe_secret_key
        .as_deref()
        .is_none_or(str::is_empty)
    {
        anyhow::bail!(
            "SOUK_STRIPE_PUBLISHABLE_KEY is set but Stripe is not enabled: set SOUK_STRIPE_SECRET_KEY and SOUK_STRIPE_WEBHOOK_SECRET too"
        );
    }
    let js = url::Url::parse(&global.stripe_js_url)
        .map_err(|e| anyhow::anyhow!("SOUK_STRIPE_JS_URL: {e}"))?;
    let loopback = matches!(js.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if js.scheme() != "https" && !(js.scheme() == "http" && loopback) {
        anyhow::bail!("SOUK_STRIPE_JS_URL must be an https:// address");
    }
    Ok(Some(souk_http::StripeBrowser {
        publishable_key: key.to_owned(),
        js_url: js.to_string(),
    }))
}

/// The payment providers configured by the environment. Stripe needs both its secret key and
/// its webhook secret; one without the other is a configuration error.
pub fn payment_providers(global: &GlobalArgs) -> anyhow::Result<souk_app::payments::Providers> {
    let key = global
        .stripe_secret_key
        .as_deref()
        .filter(|k| !k.is_empty());
    let hook = global
        .stripe_webhook_secret
        .as_deref()
        .filter(|k| !k.is_empty());
    let stripe: Option<Arc<dyn souk_payments::PaymentProvider>> = match (key, hook) {
        (Some(key), Some(hook)) => {
            let stripe = souk_payments::stripe::Stripe::new(souk_payments::stripe::StripeConfig {
                secret_key: key.to_owned(),
                webhook_secret: hook.to_owned(),
                api_base: global.stripe_api_base.clone(),
                timeout: Duration::from_millis(global.stripe_timeout_ms),
                max_retries: 2,
            })
            .map_err(|e| anyhow::anyhow!("Stripe client: {e}"))?;
            tracing::info!(api = %global.stripe_api_base, "Stripe payments enabled");
            Some(Arc::new(stripe))
        }
        (None, None) => {
            tracing::info!(
                "Stripe payments disabled (set SOUK_STRIPE_SECRET_KEY and SOUK_STRIPE_WEBHOOK_SECRET to enable)"
            );
            None
        }
        (Some(_), None) => anyhow::bail!(
            "SOUK_STRIPE_SECRET_KEY is set but SOUK_STRIPE_WEBHOOK_SECRET is not: set both to enable Stripe"
        ),
        (None, Some(_)) => anyhow::bail!(
            "SOUK_STRIPE_WEBHOOK_SECRET is set but SOUK_STRIPE_SECRET_KEY is not: set both to enable Stripe"
        ),
    };
    Ok(souk_app::payments::Providers { stripe })
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    limits: ServerLimits,
    worker: Option<Worker>,
}

impl Application {
    pub async fn build(
        db: Db,
        bind: SocketAddr,
        config: HttpConfig,
        limits: ServerLimits,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind} (SOUK_BIND)"))?;
        Ok(Application {
            listener,
            state: AppState::new(db, config),
            limits,
            worker: None,
        })
    }

    /// Runs background jobs in this process too (the default for `souk serve`).
    pub fn with_worker(mut self, worker: Option<Worker>) -> Self {
        self.state = self
            .state
            .with_job_waker(worker.as_ref().map(Worker::waker));
        self.worker = worker;
        self
    }

    /// Payment providers for checkout, webhooks, refunds and the reconciliation loop.
    pub fn with_providers(mut self, providers: souk_app::payments::Providers) -> Self {
        self.state = self.state.with_providers(providers);
        self
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let metrics = self.state.metrics.clone();
        let upkeep = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                metrics.run_upkeep();
            }
        });
        let db = self.state.db.clone();
        let (stop_worker, worker_stopped) = watch::channel(false);
        let reconcile = self.state.app.providers.stripe.is_some().then(|| {
            let config = &self.state.config;
            tokio::spawn(souk_jobs::payments::reconcile_forever(
                db.clone(),
                self.state.app.providers.clone(),
                config
                    .payment_reconcile_interval
                    .max(Duration::from_secs(1)),
                config.payment_reconcile_age,
                worker_stopped.clone(),
            ))
        });
        let housekeeping = tokio::spawn(souk_jobs::maintenance::run_forever(
            db.clone(),
            Duration::from_secs(3600),
            worker_stopped.clone(),
        ));
        let followers = souk_http::cache::follow_other_instances(
            db.clone(),
            self.state.cache.clone(),
            self.state.instance,
            worker_stopped.clone(),
        )
        .await;
        let hub = self.state.events.clone();
        let poller = tokio::spawn(hub.clone().run_poller(db.clone(), worker_stopped.clone()));
        let signals = self.state.app.signals();
        let worker = self
            .worker
            .map(|w| tokio::spawn(w.with_signals(signals).run(worker_stopped)));
        let app = souk_http::app(self.state);
        // Live streams never end by themselves: close them when shutdown starts, so the
        // connections can finish within the grace period. The grace counts from the signal
        // and covers everything after it: requests, jobs in flight, closing the database.
        let grace = self.limits.shutdown_grace;
        let signalled = Arc::new(std::sync::OnceLock::new());
        let shutdown = {
            let signalled = signalled.clone();
            async move {
                shutdown.await;
                let _ = signalled.set(tokio::time::Instant::now());
                hub.close();
            }
        };
        souk_http::server::serve(self.listener, app, self.limits, shutdown).await;
        let _ = stop_worker.send(true);
        let deadline = *signalled.get_or_init(tokio::time::Instant::now) + grace;
        let finish = async {
            if let Some(worker) = worker {
                // Jobs in flight finish; a job cut short runs again after its lease.
                let _ = worker.await;
            }
            upkeep.abort();
            let _ = poller.await;
            let _ = followers.await;
            let _ = housekeeping.await;
            if let Some(reconcile) = reconcile {
                let _ = reconcile.await;
            }
            db.close().await;
        };
        if tokio::time::timeout_at(deadline, finish).await.is_err() {
            // Whatever is still running (a statement, a job) is cut short by the exit; nothing
            // acknowledged is lost, and an unfinished job runs again after its lease.
            tracing::warn!(
                grace_secs = grace.as_secs(),
                "grace period over; exiting with work still running"
            );
        }
        Ok(())
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested: finishing in-flight requests");
}
