use std::process::ExitCode;
use std::time::Duration;

use souk_http::HttpConfig;
use souk_http::server::ServerLimits;

use crate::cli::{GlobalArgs, ServeArgs};
use crate::seed;
use crate::startup::{
    Application, background_worker, check_catalog_currency, database_url, describe_database,
    open_serving_database, payment_providers, server_key, shutdown_signal, stripe_browser,
    webhook_policy,
};

pub async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let bind = args.listen_address()?;
    let url = database_url(global)?;
    let db = open_serving_database(
        &url,
        global.db_max_connections,
        Duration::from_secs(args.request_timeout_secs),
    )
    .await?;
    check_catalog_currency(&db, global.currency, &url).await?;
    let mut demo_accounts = Vec::new();
    if args.demo {
        let media = souk_storage::media::MediaStore::new(
            args.media_dir
                .clone()
                .unwrap_or_else(|| global.data_dir.join("media")),
        );
        let seeded = seed::seed_demo(&db, global.currency, Some(&media)).await?;
        match seeded.products {
            0 => tracing::info!("--demo: the catalog is not empty, nothing seeded"),
            n => tracing::info!(products = n, "--demo: seeded the demo marketplace"),
        }
        demo_accounts = seeded.accounts;
    }
    // An operator's own page templates, checked before anything is served.
    let templates = global.data_dir.join("templates").join("web");
    let (replaced, unused) = souk_http::web::load_template_overrides(&templates)
        .map_err(|e| anyhow::anyhow!("page template: {e}"))?;
    if !replaced.is_empty() {
        tracing::info!(templates = ?replaced, dir = %templates.display(), "using page templates from the data directory");
    }
    for name in unused {
        tracing::warn!(file = %name, dir = %templates.display(), "this file replaces no page template (see docs/web.md for the names)");
    }
    let server_key = server_key(global)?;
    let config = HttpConfig {
        body_limit: args.body_limit as usize,
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        max_in_flight: args.max_in_flight as usize,
        catalog_cache_ttl: Duration::from_millis(args.catalog_cache_ttl_ms),
        catalog_cache_bytes: args.catalog_cache_mb * 1024 * 1024,
        public_url: global.public_url.clone(),
        trusted_proxies: args.trusted_proxies.clone(),
        cors_origins: args.cors_origins.clone(),
        session_ttl: Duration::from_secs(args.session_ttl_hours * 3600),
        currency: global.currency,
        order_hold: Duration::from_secs(global.order_hold_minutes * 60),
        commission_bps: global.commission_bps,
        payment_reconcile_age: Duration::from_secs(global.payment_reconcile_secs),
        payment_reconcile_interval: Duration::from_secs(global.payment_reconcile_secs),
        max_streams: args.max_streams as usize,
        stream_recheck: Duration::from_secs(30),
        webhooks: souk_http::WebhookSettings {
            server_key: server_key.clone(),
            policy: webhook_policy(global),
        },
        limits: souk_http::AbuseLimits {
            unpaid_orders_per_email: args.unpaid_orders_per_email,
            checkouts_per_address: args.checkouts_per_address_per_hour,
            guest_manual_hold: Duration::from_secs(
                args.guest_order_hold_minutes.min(global.order_hold_minutes) * 60,
            ),
            registrations_per_address: args.registrations_per_address_per_hour,
            ..souk_http::AbuseLimits::default()
        },
        media_dir: Some(
            args.media_dir
                .clone()
                .unwrap_or_else(|| global.data_dir.join("media")),
        ),
        shop_name: global.shop_name.clone(),
        stripe_browser: stripe_browser(global)?,
    };
    let limits = ServerLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
        max_connections: args.max_connections as usize,
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
    };
    let public_url = global
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{bind}"));
    let providers = payment_providers(global)?;
    let worker = background_worker(
        global,
        db.clone(),
        global.workers as usize,
        &public_url,
        server_key.clone(),
    )?
    .map(|w| w.with_providers(providers.clone()));
    if let Some(every) = args.backup_every {
        tokio::spawn(super::backup::schedule(
            db.clone(),
            url.clone(),
            global.data_dir.clone(),
            every,
            args.backup_keep as usize,
        ));
    }
    let app = Application::build(db, bind, config, limits)
        .await?
        .with_providers(providers)
        .with_worker(worker);
    println!(
        "souk listening on http://{} (data: {})",
        app.local_addr(),
        describe_database(&url)
    );
    // Shown once, on the terminal only (never logged): the passwords are not stored anywhere.
    if !demo_accounts.is_empty() {
        let mut text =
            String::from("demo sign-ins (shown only now; the demo is not for real customers):\n");
        for account in &demo_accounts {
            text.push_str(&format!(
                "  {:<36} {:<32} {}\n",
                account.email, account.password, account.role
            ));
        }
        text.push_str("  sign in with POST /api/auth/login {\"email\", \"password\"}\n");
        // Whoever started the server may have stopped reading its output (a supervisor, a
        // test): a closed stdout must not stop the shop (`println!` would panic on it).
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
