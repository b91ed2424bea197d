//! `souk worker`: background jobs without HTTP, for deployments that separate the two.

use std::process::ExitCode;

use tokio::sync::watch;

use crate::cli::GlobalArgs;
use crate::startup::{background_worker, database_url, open_database, shutdown_signal};

pub async fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let url = database_url(global)?;
    let db = open_database(&url, global.db_max_connections).await?;
    let Some(worker) = background_worker(global, db.clone(), global.workers.max(1) as usize)?
    else {
        unreachable!("at least one worker is requested");
    };
    let (stop, stopped) = watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    println!("souk worker running ({} at once)", global.workers.max(1));
    shutdown_signal().await;
    let _ = stop.send(true);
    let _ = running.await;
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
