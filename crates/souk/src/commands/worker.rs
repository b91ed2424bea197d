//! `souk worker`: background jobs without HTTP, for deployments that separate the two.

use std::process::ExitCode;

use std::sync::Arc;

use souk_storage::catalog::notices::CatalogAnnouncer;
use tokio::sync::watch;

use crate::cli::GlobalArgs;
use crate::startup::{
    background_worker, database_url, open_database, payment_providers, server_key, shutdown_signal,
};

pub async fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let url = database_url(global)?;
    let db = open_database(&url, global.db_max_connections).await?;
    let public_url = global
        .public_url
        .clone()
        .unwrap_or_else(|| "http://127.0.0.1:8080".to_owned());
    let concurrency = global.workers.max(1) as usize;
    let worker = background_worker(
        global,
        db.clone(),
        concurrency,
        &public_url,
        server_key(global)?,
    )?
    .expect("at least one worker is requested")
    .with_providers(payment_providers(global)?)
    .with_signals(Arc::new(WorkerSignals(CatalogAnnouncer::start(
        &db,
        uuid::Uuid::now_v7(),
    ))));
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    println!("souk worker running ({concurrency} at once)");
    shutdown_signal().await;
    let _ = stop.send(true);
    let _ = running.await;
    db.close().await;
    Ok(ExitCode::SUCCESS)
}

/// What `souk worker`'s jobs signal: it serves no catalog itself, but when a job puts stock back
/// on sale (an unpaid order released), the serving instances are told (PostgreSQL).
struct WorkerSignals(CatalogAnnouncer);

impl souk_app::Signals for WorkerSignals {
    fn catalog_changed(&self) {
        self.0.catalog_changed();
    }
}
