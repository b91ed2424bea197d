//! `souk worker`: background jobs without HTTP, for deployments that separate the two.

use std::process::ExitCode;

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
    .with_providers(payment_providers(global)?);
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    println!("souk worker running ({concurrency} at once)");
    shutdown_signal().await;
    let _ = stop.send(true);
    let _ = running.await;
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
