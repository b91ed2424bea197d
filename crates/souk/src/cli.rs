//! The command line. Every option also reads a `SOUK_*` environment variable; flags win.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use souk_domain::money::Currency;

/// `0.1.0 (git 0123456789ab)`: the release and the commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("SOUK_GIT_REVISION"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "souk",
    version = VERSION,
    about = "Souk: a multi-vendor marketplace backend in one binary"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand takes; its help lists them after the subcommand's own.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Directory for the embedded SQLite database and other local data.
    #[arg(
        long,
        env = "SOUK_DATA_DIR",
        default_value = "./souk-data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`.
    /// Default: SQLite at DATA_DIR/souk.db.
    #[arg(long, env = "SOUK_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Log output: `pretty` for people, `json` for log collectors.
    #[arg(long, env = "SOUK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `souk=debug,sqlx=warn`.
    #[arg(long, env = "SOUK_LOG", default_value = "info", global = true)]
    pub log_level: String,
    /// The shop's currency (ISO 4217); prices in imports are read in it.
    #[arg(long, env = "SOUK_CURRENCY", default_value = "USD", value_parser = parse_currency, global = true)]
    pub currency: Currency,
    /// How long an unpaid order keeps its stock; then a job cancels it and releases the stock.
    #[arg(long, env = "SOUK_ORDER_HOLD_MINUTES", default_value_t = 1440, value_parser = clap::value_parser!(u64).range(1..=525_600), global = true)]
    pub order_hold_minutes: u64,
    /// The platform's commission on vendors without their own rate, in basis points (1000 = 10 %).
    #[arg(long, env = "SOUK_COMMISSION_BPS", default_value_t = 1000, value_parser = clap::value_parser!(i64).range(0..=10_000), global = true)]
    pub commission_bps: i64,
    /// Stripe secret API key (`sk_…`). With the webhook secret, enables `payment_method: stripe`.
    #[arg(
        long,
        env = "SOUK_STRIPE_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub stripe_secret_key: Option<String>,
    /// Signing secret of the Stripe webhook endpoint (`whsec_…`) for `POST /api/hooks/stripe`.
    #[arg(
        long,
        env = "SOUK_STRIPE_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub stripe_webhook_secret: Option<String>,
    /// Stripe publishable key (`pk_…`). With Stripe enabled, the storefront's checkout offers
    /// card payment with Stripe's Payment Element; without it, manual payment only.
    #[arg(long, env = "SOUK_STRIPE_PUBLISHABLE_KEY", global = true)]
    pub stripe_publishable_key: Option<String>,
    /// Where the storefront loads Stripe.js from (tests point it at a fake Stripe).
    #[arg(
        long,
        env = "SOUK_STRIPE_JS_URL",
        default_value = "https://js.stripe.com/v3/",
        global = true
    )]
    pub stripe_js_url: String,
    /// Stripe's API address (tests point it at a fake Stripe).
    #[arg(
        long,
        env = "SOUK_STRIPE_API_BASE",
        default_value = "https://api.stripe.com",
        global = true
    )]
    pub stripe_api_base: String,
    /// Time limit of one call to Stripe, in milliseconds (calls are retried with the same
    /// idempotency key).
    #[arg(long, env = "SOUK_STRIPE_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=120_000), global = true)]
    pub stripe_timeout_ms: u64,
    /// How often unpaid provider payments are reconciled with the provider (a lost webhook),
    /// and how old a payment must be before it is, in seconds.
    #[arg(long, env = "SOUK_PAYMENT_RECONCILE_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub payment_reconcile_secs: u64,
    /// Outgoing mail server: `smtp://user:pass@host:587?tls=starttls`, `smtps://…`, or
    /// `smtp://host:25` (no TLS). Unset: emails are written as .eml files to DATA_DIR/mail.
    #[arg(long, env = "SOUK_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// PEM file of certificate authorities to trust for the SMTP server's TLS (besides the
    /// public web roots), for a relay with an internal certificate.
    #[arg(long, env = "SOUK_SMTP_CA_FILE", global = true)]
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender of transactional email.
    #[arg(
        long,
        env = "SOUK_MAIL_FROM",
        default_value = "Souk <no-reply@souk.localhost>",
        global = true
    )]
    pub mail_from: String,
    /// The URL people reach this shop at (`https://shop.example`): links in emails, the CSRF
    /// origin check, and `Secure` cookies when https. Default: http://BIND.
    #[arg(long, env = "SOUK_PUBLIC_URL", value_parser = parse_public_url, global = true)]
    pub public_url: Option<String>,
    /// The shop's name, used in emails.
    #[arg(long, env = "SOUK_SHOP_NAME", default_value = "Souk", global = true)]
    pub shop_name: String,
    /// Background jobs run at once by this process (`serve` and `worker`); 0 in `serve` = none.
    #[arg(long, env = "SOUK_WORKERS", default_value_t = 16, value_parser = clap::value_parser!(u64).range(0..=256), global = true)]
    pub workers: u64,
    /// Milliseconds between looks for due jobs when idle.
    #[arg(long, env = "SOUK_JOB_POLL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=600_000), global = true)]
    pub job_poll_ms: u64,
    /// Seconds a claimed job is reserved; a job whose worker died runs again after this.
    #[arg(long, env = "SOUK_JOB_LEASE_SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400), global = true)]
    pub job_lease_secs: u64,
    /// First retry delay of a failed job in milliseconds (doubles per attempt, with jitter, up to an hour).
    #[arg(long, env = "SOUK_JOB_RETRY_BASE_MS", default_value_t = 5000, value_parser = clap::value_parser!(u64).range(10..=3_600_000), global = true)]
    pub job_retry_base_ms: u64,
    /// Runs after which a failing job is dead-lettered (kept for inspection and manual retry).
    #[arg(long, env = "SOUK_JOB_MAX_ATTEMPTS", default_value_t = 25, value_parser = clap::value_parser!(i64).range(1..=1000), global = true)]
    pub job_max_attempts: i64,
    /// The server key (32+ random bytes, base64 or hex) webhook endpoint secrets are derived
    /// from. Unset: read from DATA_DIR/secret.key, created on first start. Every instance of
    /// one marketplace must use the same key.
    #[arg(long, env = "SOUK_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// Allow webhook endpoints on loopback and private addresses (off: such URLs are refused,
    /// so an endpoint cannot reach the server's own network).
    #[arg(long, env = "SOUK_WEBHOOK_ALLOW_PRIVATE", global = true)]
    pub webhook_allow_private: bool,
    /// Time limit of one webhook delivery attempt, in milliseconds.
    #[arg(long, env = "SOUK_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=120_000), global = true)]
    pub webhook_timeout_ms: u64,
    /// A webhook endpoint whose every delivery failed for this many seconds is disabled and
    /// its owner emailed (default 5 days).
    #[arg(long, env = "SOUK_WEBHOOK_DISABLE_AFTER_SECS", default_value_t = 432_000, value_parser = clap::value_parser!(u64).range(1..=31_536_000), global = true)]
    pub webhook_disable_after_secs: u64,
    /// Most database connections (PostgreSQL) or concurrent readers (SQLite).
    #[arg(long, env = "SOUK_DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000), global = true)]
    pub db_max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the marketplace over HTTP (migrates the database first).
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Run background jobs (email, …) only, without serving HTTP.
    Worker,
    /// Platform administration.
    Admin {
        #[command(subcommand)]
        what: AdminWhat,
    },
    /// Import data into the catalog.
    Import {
        #[command(subcommand)]
        what: ImportWhat,
    },
    /// Export data from the catalog (to standard output).
    Export {
        #[command(subcommand)]
        what: ExportWhat,
    },
    /// Back the shop up (database, server key, media) into one archive, or restore one.
    Backup {
        #[command(subcommand)]
        what: BackupWhat,
    },
    /// Fill an empty catalog with generated products (benchmarks, query-plan checks, trials at
    /// a real shop's size).
    Demo(DemoArgs),
    /// Simulate shoppers against a running shop (this one or any Souk deployment), then audit
    /// through the admin API that no acknowledged order was lost and no stock was oversold.
    Loadtest(LoadtestArgs),
}

#[derive(Debug, Clone, Args)]
pub struct LoadtestArgs {
    /// The shop's base URL, e.g. http://127.0.0.1:8080. Only loopback addresses unless
    /// --i-own-this-host is given.
    pub url: String,
    /// Shoppers at once; each repeats browse, search, product page, cart and checkout.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=2000))]
    pub shoppers: u64,
    /// How long to run (`90s`, `5m`, `1h`; at most 24h).
    #[arg(long, default_value = "30s", value_parser = parse_run_time)]
    pub duration: std::time::Duration,
    /// Stop earlier once this many orders were acknowledged.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_orders: u64,
    /// How many in-stock products the shoppers buy from (the first ones the catalog lists).
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub products: u64,
    /// A platform admin's API key (scope `admin:read` suffices) for the audit at the end.
    #[arg(long, env = "SOUK_LOADTEST_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Skip the audit (no admin key needed); the verdict then covers only the requests.
    #[arg(long, conflicts_with = "admin_key")]
    pub no_audit: bool,
    /// Also write the figures and the audit as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Allow a target that is not a loopback address. Only against a shop you run: this is
    /// real load and creates real orders.
    #[arg(long)]
    pub i_own_this_host: bool,
}

/// A run time like `45s`, `10m` or `1h` (1 s to 24 h).
pub fn parse_run_time(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a time like 45s, 10m or 1h, not {s:?}"))?;
    let seconds = match unit {
        "s" | "" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("expected a time like 45s, 10m or 1h, not {s:?}")),
    };
    if seconds == 0 || seconds > 24 * 3600 {
        return Err("between 1s and 24h".to_owned());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Subcommand)]
pub enum BackupWhat {
    /// Take a backup now; the shop may keep serving (default PATH:
    /// DATA_DIR/backups/souk-backup-<UTC time>.tar.gz).
    Create(BackupCreateArgs),
    /// Restore an archive into an empty data directory (`--data-dir`).
    Restore(BackupRestoreArgs),
}

#[derive(Debug, Clone, Args)]
pub struct BackupCreateArgs {
    /// Where to write the archive (must not exist).
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct BackupRestoreArgs {
    /// The archive made by `souk backup create`.
    pub archive: PathBuf,
}

/// A period like `30m`, `6h` or `1d` (at least one minute).
pub fn parse_period(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a period like 30m, 6h or 1d, not {s:?}"))?;
    let minutes = match unit {
        "m" => n,
        "h" => n.saturating_mul(60),
        "d" => n.saturating_mul(24 * 60),
        _ => return Err(format!("expected a period like 30m, 6h or 1d, not {s:?}")),
    };
    if minutes == 0 || minutes > 366 * 24 * 60 {
        return Err("between 1m and 366d".to_owned());
    }
    Ok(std::time::Duration::from_secs(minutes * 60))
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// How many products to generate (1–1,000,000), each with 1–5 variants, into an empty
    /// catalog.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub products: Option<u64>,
    /// How many orders to generate (1–10,000,000) from the catalog's products: guest orders
    /// over the last 90 days in the statuses of a running shop (for trying the admin panel at
    /// size; no stock is taken and no email or event is made).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub orders: Option<u64>,
    /// Over how many vendors they are spread.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub vendors: u64,
    /// The generator's seed: the same seed makes the same catalog.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; with only `PORT` set (platforms as a
    /// service), 0.0.0.0:PORT].
    #[arg(long, env = "SOUK_BIND", value_parser = parse_bind)]
    pub bind: Option<SocketAddr>,
    /// Seed a demo marketplace (3 vendors, 60 products) if the catalog is empty.
    #[arg(long, env = "SOUK_DEMO")]
    pub demo: bool,
    /// Live event streams (SSE) open at once at most; beyond, 503 `too_many_streams`.
    #[arg(long, env = "SOUK_MAX_STREAMS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_streams: u64,
    /// Where uploaded product images are stored and served from [default: DATA_DIR/media].
    /// Instances on PostgreSQL share one directory (a shared mount).
    #[arg(long, env = "SOUK_MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,
    /// Unpaid orders one customer may hold at once (beyond: 429 `too_many_unpaid_orders`);
    /// 0 = no limit (load tests from one machine).
    #[arg(long, env = "SOUK_UNPAID_ORDERS_PER_EMAIL", default_value_t = 3, value_parser = clap::value_parser!(i64).range(0..=1_000_000))]
    pub unpaid_orders_per_email: i64,
    /// Checkouts from one client address per hour (beyond: 429 `too_many_checkouts`).
    #[arg(long, env = "SOUK_CHECKOUTS_PER_ADDRESS_PER_HOUR", default_value_t = 30, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub checkouts_per_address_per_hour: i64,
    /// How long a guest's unpaid `manual` order keeps its stock, in minutes (capped by
    /// `--order-hold-minutes`).
    #[arg(long, env = "SOUK_GUEST_ORDER_HOLD_MINUTES", default_value_t = 720, value_parser = clap::value_parser!(u64).range(1..=525_600))]
    pub guest_order_hold_minutes: u64,
    /// Registrations from one client address per hour (beyond: 429 `too_many_attempts`).
    #[arg(long, env = "SOUK_REGISTRATIONS_PER_ADDRESS_PER_HOUR", default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub registrations_per_address_per_hour: i64,
    /// Seconds after which a request is abandoned with 503.
    #[arg(long, env = "SOUK_REQUEST_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_secs: u64,
    /// Requests handled at once; beyond that Souk answers 503 at once.
    #[arg(long, env = "SOUK_MAX_IN_FLIGHT", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_in_flight: u64,
    /// Largest request body in bytes.
    #[arg(long, env = "SOUK_BODY_LIMIT", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=64 * 1024 * 1024))]
    pub body_limit: u64,
    /// Milliseconds a public catalog response may be served from this instance's cache (0: off).
    #[arg(long, env = "SOUK_CATALOG_CACHE_TTL_MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub catalog_cache_ttl_ms: u64,
    /// Seconds a client has to send its request headers before the connection is closed.
    #[arg(long, env = "SOUK_HEADER_READ_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_read_timeout_secs: u64,
    /// Open connections at most (more wait in the kernel's accept queue).
    #[arg(long, env = "SOUK_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Seconds shutdown waits for in-flight requests.
    #[arg(long, env = "SOUK_SHUTDOWN_GRACE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_secs: u64,
    /// Comma-separated addresses of reverse proxies whose `X-Forwarded-For` is trusted
    /// (for throttling by client address). Default: none; the TCP peer is the client.
    #[arg(long, env = "SOUK_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_ip)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Comma-separated origins (`https://shop.example`) of separate frontends allowed to call the
    /// API from a browser (CORS), with bearer tokens. Exact origins only; default: none.
    #[arg(long, env = "SOUK_CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,
    /// Hours a login lasts.
    #[arg(long, env = "SOUK_SESSION_TTL_HOURS", default_value_t = 720, value_parser = clap::value_parser!(u64).range(1..=87_600))]
    pub session_ttl_hours: u64,
    /// Memory bound of that cache, in MiB.
    #[arg(long, env = "SOUK_CATALOG_CACHE_MB", default_value_t = 32, value_parser = clap::value_parser!(u64).range(0..=65536))]
    pub catalog_cache_mb: u64,
    /// Take a backup this often (`30m`, `6h`, `1d`) into DATA_DIR/backups while serving. Off by
    /// default; with several instances, set it on one.
    #[arg(long, env = "SOUK_BACKUP_EVERY", value_parser = parse_period)]
    pub backup_every: Option<std::time::Duration>,
    /// How many scheduled backups to keep (the oldest are removed).
    #[arg(long, env = "SOUK_BACKUP_KEEP", default_value_t = 7, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub backup_keep: u64,
}

#[derive(Debug, Subcommand)]
pub enum AdminWhat {
    /// Create a platform admin (or make an existing user one). The password is read from a
    /// prompt on a terminal, or from the first line of standard input — never from arguments.
    Create(AdminCreateArgs),
}

#[derive(Debug, Clone, Args)]
pub struct AdminCreateArgs {
    /// The admin's email address: their login.
    #[arg(long)]
    pub email: String,
    /// Display name (default: the part of the email before '@').
    #[arg(long)]
    pub name: Option<String>,
    /// Create the database if there is none yet. Without it, a database that does not exist
    /// (a mistyped --data-dir or SOUK_DATABASE_URL) is refused rather than created empty.
    #[arg(long)]
    pub init: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImportWhat {
    /// Import products from a Shopify product CSV export.
    Products(ImportProductsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ImportProductsArgs {
    /// The CSV file (`-` for standard input).
    pub file: PathBuf,
    /// Handle of the vendor the products belong to; created (active) if it does not exist.
    #[arg(long)]
    pub vendor: String,
    /// Display name for a vendor created by this import (default: the file's Vendor column).
    #[arg(long)]
    pub vendor_name: Option<String>,
    /// Import the valid products and skip invalid ones (still reporting them).
    #[arg(long)]
    pub skip_invalid: bool,
}

#[derive(Debug, Subcommand)]
pub enum ExportWhat {
    /// Export products as a Shopify product CSV.
    Products(ExportProductsArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ExportProductsArgs {
    /// Only this vendor's products.
    #[arg(long)]
    pub vendor: Option<String>,
}

impl ServeArgs {
    /// The address to listen on: `--bind` / `SOUK_BIND`; else, as platforms as a service
    /// expect, every interface on `PORT` when it is set; else 127.0.0.1:8080.
    pub fn listen_address(&self) -> anyhow::Result<SocketAddr> {
        if let Some(bind) = self.bind {
            return Ok(bind);
        }
        match std::env::var("PORT") {
            Ok(port) if !port.trim().is_empty() => port
                .trim()
                .parse::<u16>()
                .map(|p| SocketAddr::from(([0, 0, 0, 0], p)))
                .map_err(|_| anyhow::anyhow!("PORT '{port}' is not a port number (1–65535)")),
            _ => Ok(SocketAddr::from(([127, 0, 0, 1], 8080))),
        }
    }
}

fn parse_bind(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("'{s}' is not an address like 127.0.0.1:8080 (set by --bind / SOUK_BIND)")
    })
}

fn parse_public_url(s: &str) -> Result<String, String> {
    let ok = (s.starts_with("http://") || s.starts_with("https://"))
        && s.len() > 8
        && !s.contains(char::is_whitespace);
    if ok {
        Ok(s.trim_end_matches('/').to_owned())
    } else {
        Err("expected an http(s) URL like https://shop.example (set by --public-url / SOUK_PUBLIC_URL)".to_owned())
    }
}

fn parse_ip(s: &str) -> Result<std::net::IpAddr, String> {
    s.trim().parse().map_err(|_| {
        format!("'{s}' is not an IP address (set by --trusted-proxies / SOUK_TRUSTED_PROXIES)")
    })
}

/// An origin exactly: `scheme://host[:port]`, no path, no wildcard.
fn parse_origin(s: &str) -> Result<String, String> {
    let wrong = || {
        format!(
            "'{s}' is not an origin like https://shop.example (set by --cors-origins / SOUK_CORS_ORIGINS)"
        )
    };
    let url = url::Url::parse(s.trim()).map_err(|_| wrong())?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https") || origin != s.trim().trim_end_matches('/') {
        return Err(wrong());
    }
    Ok(origin)
}

fn parse_currency(s: &str) -> Result<Currency, String> {
    Currency::parse(s).map_err(|e| format!("{e} (set by --currency / SOUK_CURRENCY)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = Cli::try_parse_from(["souk", "serve", "--bind", "nope"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("SOUK_BIND"), "{err}");
        // A bad --database-url is refused at start by `startup::database_url`, without echoing
        // the password the argument parser would print (tests/api/cli.rs).
        let err = Cli::try_parse_from(["souk", "--log-format", "xml", "migrate"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("log-format"), "{err}");
    }

    #[test]
    fn scheduled_backups_take_a_period_and_a_count() {
        let cli = Cli::try_parse_from([
            "souk",
            "serve",
            "--backup-every",
            "6h",
            "--backup-keep",
            "3",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("serve");
        };
        assert_eq!(
            args.backup_every,
            Some(std::time::Duration::from_secs(6 * 3600))
        );
        assert_eq!(args.backup_keep, 3);
        let err = Cli::try_parse_from(["souk", "serve", "--backup-every", "0m"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("between 1m and 366d"), "{err}");
    }
}
