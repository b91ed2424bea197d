use std::path::PathBuf;
use std::process::{Command, Output};

use reqwest::{Method, Response};
use serde_json::Value;
use souk::startup::{Application, open_database, sqlite_url};
use souk_domain::catalog::{Handle, ImageDraft, ProductDraft, ProductStatus, VariantDraft};
use souk_domain::money::Currency;
use souk_http::HttpConfig;
use souk_http::server::ServerLimits;
use souk_storage::{Db, catalog, now_ms};
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;

/// A database for one test: its URL and the directory holding it (SQLite) or its data dir.
pub struct TestDatabase {
    pub url: String,
    pub dir: TempDir,
}

pub fn on_postgres() -> bool {
    std::env::var("SOUK_TEST_DATABASE_URL").is_ok_and(|u| !u.is_empty())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Whether a test about one backend should run on this pass. Such tests are named
/// `sqlite_only_…` / `postgres_only_…`, and `scripts/test` filters each out of the other pass;
/// with `SOUK_TEST_STRICT_BACKEND=1` (set by `scripts/test`) a test on the wrong pass fails
/// instead of passing without doing anything, so a filter mistake cannot hide a skipped test.
pub fn only_on(backend: Backend) -> bool {
    let here = if on_postgres() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    if here == backend {
        return true;
    }
    assert!(
        std::env::var("SOUK_TEST_STRICT_BACKEND").is_err(),
        "this test runs on {backend:?} only, and this pass is {here:?}: filter it out of this pass"
    );
    eprintln!("SKIPPED: this test runs on {backend:?} only");
    false
}

pub async fn test_database() -> TestDatabase {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match std::env::var("SOUK_TEST_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            let name = format!("souk_t_{}", uuid::Uuid::now_v7().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("SOUK_TEST_DATABASE_URL is set but PostgreSQL is not reachable");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(b, _)| b)
                .to_owned();
            format!("{base}/{name}")
        }
        _ => sqlite_url(&dir.path().join("souk.db")),
    };
    TestDatabase { url, dir }
}

/// The background worker of a test app.
#[derive(Debug, Clone)]
pub struct WorkerSetup {
    /// `None`: mail is written as .eml files.
    pub smtp_url: Option<String>,
    pub retry_base: std::time::Duration,
    pub retry_max: std::time::Duration,
    pub webhook_timeout: std::time::Duration,
    pub webhook_disable_after: std::time::Duration,
}

impl Default for WorkerSetup {
    fn default() -> Self {
        WorkerSetup {
            smtp_url: None,
            retry_base: std::time::Duration::from_millis(100),
            retry_max: std::time::Duration::from_secs(1),
            webhook_timeout: std::time::Duration::from_secs(5),
            webhook_disable_after: std::time::Duration::from_secs(3600),
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub db: Db,
    pub database: TestDatabase,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestApp {
    /// The app with the catalog response cache off, so a test sees its writes at once.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(HttpConfig {
            catalog_cache_ttl: std::time::Duration::ZERO,
            ..HttpConfig::default()
        })
        .await
    }

    pub async fn spawn_with(config: HttpConfig) -> TestApp {
        Self::spawn_with_limits(config, ServerLimits::default()).await
    }

    pub async fn spawn_with_limits(config: HttpConfig, limits: ServerLimits) -> TestApp {
        Self::spawn_full(config, limits, None).await
    }

    /// The app with a job worker sending mail to `smtp_url` (fast retries).
    pub async fn spawn_with_mail(smtp_url: &str) -> TestApp {
        Self::spawn_full(
            HttpConfig {
                catalog_cache_ttl: std::time::Duration::ZERO,
                ..HttpConfig::default()
            },
            ServerLimits::default(),
            Some(smtp_url.to_owned()),
        )
        .await
    }

    pub async fn spawn_full(
        config: HttpConfig,
        limits: ServerLimits,
        smtp_url: Option<String>,
    ) -> TestApp {
        Self::spawn_with_providers(config, limits, smtp_url, Default::default()).await
    }

    pub async fn spawn_with_providers(
        config: HttpConfig,
        limits: ServerLimits,
        smtp_url: Option<String>,
        providers: souk_app::payments::Providers,
    ) -> TestApp {
        let worker = smtp_url.map(|url| WorkerSetup {
            smtp_url: Some(url),
            ..WorkerSetup::default()
        });
        Self::spawn_inner(config, limits, worker, providers).await
    }

    /// The app with `config` and a job worker (mail to .eml files).
    pub async fn spawn_with_worker(config: HttpConfig) -> TestApp {
        let setup = WorkerSetup::default();
        Self::spawn_inner(
            config,
            ServerLimits::default(),
            Some(setup),
            Default::default(),
        )
        .await
    }

    /// The app with a job worker that delivers webhooks to loopback receivers (with the retry
    /// timings of `setup`); mail goes to `setup.smtp_url`, or to .eml files.
    pub async fn spawn_with_webhooks(setup: WorkerSetup) -> TestApp {
        Self::spawn_with_webhook_policy(setup, true).await
    }

    /// Like [`TestApp::spawn_with_webhooks`]; `allow_private: false` is the shipped guard
    /// against webhook URLs that reach the internal network.
    pub async fn spawn_with_webhook_policy(setup: WorkerSetup, allow_private: bool) -> TestApp {
        let mut config = HttpConfig {
            catalog_cache_ttl: std::time::Duration::ZERO,
            ..HttpConfig::default()
        };
        config.webhooks.policy.allow_private = allow_private;
        Self::spawn_inner(
            config,
            ServerLimits::default(),
            Some(setup),
            Default::default(),
        )
        .await
    }

    async fn spawn_inner(
        mut config: HttpConfig,
        limits: ServerLimits,
        worker: Option<WorkerSetup>,
        providers: souk_app::payments::Providers,
    ) -> TestApp {
        // Every test's requests come from 127.0.0.1, many from one email: the per-address
        // and per-customer limits are lifted unless a test sets its own (the tests of the
        // limits themselves, in security.rs). Login throttling stays as shipped.
        if config.limits == souk_http::AbuseLimits::default() {
            config.limits = souk_http::AbuseLimits {
                registrations_per_address: 1_000_000,
                unpaid_orders_per_email: 0,
                checkouts_per_address: 1_000_000,
                guest_manual_hold: config.order_hold,
                webhook_actions_per_endpoint: 1_000_000,
                ..config.limits
            };
        }
        let webhooks = config.webhooks.clone();
        let database = test_database().await;
        if config.media_dir.is_none() {
            config.media_dir = Some(database.dir.path().join("media"));
        }
        let db = open_database(&database.url, 8)
            .await
            .expect("open test database");
        let app = Application::build(db.clone(), "127.0.0.1:0".parse().unwrap(), config, limits)
            .await
            .expect("build app");
        let app = app.with_providers(providers);
        let base = format!("http://{}", app.local_addr());
        let app = match worker {
            Some(setup) => {
                let mailer = souk_jobs::mail::Mailer::new(
                    setup.smtp_url.as_deref(),
                    "Souk Test <shop@souk.test>",
                    database.dir.path(),
                    "Test Shop",
                )
                .expect("mailer");
                let config = souk_jobs::WorkerConfig {
                    concurrency: 4,
                    poll_interval: std::time::Duration::from_millis(50),
                    retry_base: setup.retry_base,
                    retry_max: setup.retry_max,
                    public_url: base.clone(),
                    order_link_key: Some(webhooks.server_key.clone()),
                    ..souk_jobs::WorkerConfig::default()
                };
                let sender =
                    souk_jobs::webhooks::WebhookSender::new(souk_jobs::webhooks::WebhookConfig {
                        server_key: webhooks.server_key.clone(),
                        policy: webhooks.policy,
                        timeout: setup.webhook_timeout,
                        disable_after: setup.webhook_disable_after,
                    })
                    .expect("webhook sender");
                app.with_worker(Some(
                    souk_jobs::Worker::new(db.clone(), std::sync::Arc::new(mailer), config)
                        .with_webhooks(std::sync::Arc::new(sender)),
                ))
            }
            None => app,
        };
        souk_payments::install_tls_provider();
        Self::running(app, db, database)
    }

    /// Runs `app` (on `db`, of `database`) until the returned `TestApp` is dropped.
    fn running(app: Application, db: Db, database: TestDatabase) -> TestApp {
        let base = format!("http://{}", app.local_addr());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::new(),
            db,
            database,
            shutdown: Some(tx),
        }
    }

    /// A view of another running instance (`base`) on the same database as `local`: requests
    /// go to it; database reads use `local`'s pool.
    pub async fn remote(base: String, local: &TestApp) -> TestApp {
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        while client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .map_or(true, |r| r.status() != 200)
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "{base} did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        TestApp {
            base,
            client,
            db: local.db.clone(),
            database: TestDatabase {
                url: local.database.url.clone(),
                dir: tempfile::tempdir().unwrap(),
            },
            shutdown: None,
        }
    }

    /// A view of a `souk serve` process (at `base`) on `database`: requests go to it; database
    /// reads use a pool of this test's own.
    pub async fn attach(base: String, database: TestDatabase) -> TestApp {
        souk_payments::install_tls_provider();
        let db = Db::connect(&database.url, &souk_storage::DbOptions::default())
            .await
            .unwrap();
        TestApp {
            base,
            client: reqwest::Client::new(),
            db,
            database,
            shutdown: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    // The request helpers: every HTTP request a test makes through `TestApp` goes through
    // `request_builder`; `request` (status and JSON body) and `request_raw` (the response, for
    // headers and cookies) send it, and the rest are one-line shorthands for them.

    /// `method` on `path`, with `token` as bearer credentials and `body` as JSON, not yet sent
    /// (for a request that needs headers of its own).
    pub fn request_builder(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::RequestBuilder {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request
    }

    /// Sends a request; its status and JSON body (`Value::Null` when the body is not JSON).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        status_json(self.request_raw(method, path, token, body).await).await
    }

    /// Sends a request; the response itself, for its headers and cookies.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let request = self.request_builder(method, path, token, body);
        request.send().await.expect("request")
    }

    /// A request with a bearer token.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.request(method, path, Some(token), body).await
    }

    /// A request without credentials (a guest shopper).
    pub async fn shop(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.request(method, path, None, body).await
    }

    /// GET without credentials; the response itself.
    pub async fn get(&self, path: &str) -> Response {
        self.request_raw(Method::GET, path, None, None).await
    }

    /// GET without credentials, whose body must be JSON (problem bodies included).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.shop(Method::GET, path, None).await;
        assert!(!body.is_null(), "{path}: not JSON ({status})");
        (status, body)
    }

    /// Asserts a problem+json response with `status` and `code`, returning its body.
    pub async fn expect_problem(&self, path: &str, status: u16, code: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code, "{path}: {body}");
        assert_eq!(body["status"], status, "{path}");
        assert!(
            body["title"].is_string() && body["detail"].is_string(),
            "{body}"
        );
        body
    }

    /// Writes products for a vendor directly through the storage layer.
    pub async fn seed(&self, vendor: &str, products: &[ProductDraft]) {
        seed(&self.db, vendor, products).await;
    }

    /// A second instance of the shop in this process, on this app's database, with `config`
    /// (several instances behind a load balancer, as on PostgreSQL).
    pub async fn another_instance(&self, config: HttpConfig) -> TestApp {
        let db = open_database(&self.database.url, 8)
            .await
            .expect("open the shared database");
        let app = Application::build(
            db.clone(),
            "127.0.0.1:0".parse().unwrap(),
            config,
            ServerLimits::default(),
        )
        .await
        .expect("build app");
        let database = TestDatabase {
            url: self.database.url.clone(),
            dir: tempfile::tempdir().unwrap(),
        };
        Self::running(app, db, database)
    }

    /// `souk` with this test's database, ready for subcommand arguments.
    pub fn souk(&self) -> Command {
        souk_command(&self.database)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A response's status and JSON body (`Value::Null` when the body is not JSON).
pub async fn status_json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A response's `Retry-After` in seconds, if it has one.
pub fn retry_after(response: &Response) -> Option<u64> {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

pub async fn seed(db: &Db, vendor: &str, products: &[ProductDraft]) {
    let mut tx = db.begin_write().await.unwrap();
    let handle = Handle::parse(vendor).unwrap();
    let record = catalog::ensure_vendor(&mut tx, &handle, &format!("Vendor {vendor}"), now_ms())
        .await
        .unwrap();
    let mut categories = std::collections::HashMap::new();
    for (i, p) in products.iter().enumerate() {
        let category =
            catalog::ensure_category_path(&mut tx, &p.category_path, &mut categories, now_ms())
                .await
                .unwrap();
        catalog::upsert_product(
            &mut tx,
            &record,
            p,
            category.as_slice(),
            Currency::USD,
            now_ms() + i as i64,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

pub fn souk_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_souk"))
}

pub fn souk_command(database: &TestDatabase) -> Command {
    let mut cmd = Command::new(souk_bin());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .arg("--database-url")
        .arg(&database.url)
        .arg("--data-dir")
        .arg(database.dir.path().join("data"))
        .arg("--log-level")
        .arg("warn");
    cmd
}

/// Runs `cmd` with `input` and a newline on its standard input (a password, say); its output.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run souk");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{input}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Waits for the first line `souk serve` prints (`souk listening on http://ADDR (data: …)`);
/// returns it and the base URL in it (`http://ADDR`).
pub fn listening(child: &mut std::process::Child) -> (String, String) {
    let (line, base, _) = listening_then(child);
    (line, base)
}

/// [`listening`], keeping the rest of the server's standard output to read.
pub fn listening_then(
    child: &mut std::process::Child,
) -> (
    String,
    String,
    std::io::BufReader<std::process::ChildStdout>,
) {
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
        .to_owned();
    (line, format!("http://{addr}"), out)
}

/// Sends `souk serve` SIGTERM and waits (at most 20 s) for it to exit.
pub fn stop_gracefully(child: &mut std::process::Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "did not stop after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run souk")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A published product with one variant per price given (options `Size` = `S1`, `S2`, …).
pub fn product(handle: &str, title: &str, prices: &[i64]) -> ProductDraft {
    ProductDraft {
        handle: Handle::parse(handle).unwrap(),
        title: title.to_owned(),
        description_html: String::new(),
        product_type: String::new(),
        tags: vec![],
        status: ProductStatus::Published,
        category_path: vec![],
        option_names: vec!["Size".to_owned()],
        variants: prices
            .iter()
            .enumerate()
            .map(|(i, &price)| VariantDraft {
                sku: Some(format!("{handle}-{i}").to_uppercase()),
                option_values: vec![format!("S{}", i + 1)],
                price,
                compare_at_price: None,
                stock: Some(5),
                track_inventory: true,
                grams: 100,
            })
            .collect(),
        images: vec![ImageDraft {
            url: format!("https://img.example/{handle}.png"),
            alt: title.to_owned(),
        }],
    }
}

/// Follows `next_cursor` from `path` (which must already have a query string) to the end.
pub async fn walk(app: &TestApp, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={c}"),
            None => path.to_owned(),
        };
        let (status, body) = app.get_json(&url).await;
        assert_eq!(status, 200, "{url}: {body}");
        items.extend(body["items"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
    panic!("pagination did not end");
}

pub fn handles(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|p| p["handle"].as_str().unwrap().to_owned())
        .collect()
}
