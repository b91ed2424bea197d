//! Building the application from configuration; shared by `souk serve` and the tests.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use souk_http::server::ServerLimits;
use souk_http::{AppState, HttpConfig};
use souk_storage::{Db, DbOptions};
use tokio::net::TcpListener;

use crate::cli::GlobalArgs;

/// The database URL to use: the configured one, else SQLite inside the data directory
/// (created if needed).
pub fn database_url(global: &GlobalArgs) -> anyhow::Result<String> {
    if let Some(url) = &global.database_url {
        return Ok(url.clone());
    }
    std::fs::create_dir_all(&global.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (SOUK_DATA_DIR)",
            global.data_dir.display()
        )
    })?;
    Ok(sqlite_url(&global.data_dir.join("souk.db")))
}

pub fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
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

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    limits: ServerLimits,
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
        })
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
        let app = souk_http::app(self.state);
        souk_http::server::serve(self.listener, app, self.limits, shutdown).await;
        upkeep.abort();
        db.close().await;
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
