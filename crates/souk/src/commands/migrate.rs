use std::process::ExitCode;

use crate::cli::GlobalArgs;
use crate::startup::describe_database;
use crate::startup::{database_url, open_database};

pub async fn run(global: &GlobalArgs) -> anyhow::Result<ExitCode> {
    let url = database_url(global)?;
    let db = open_database(&url, 1).await?;
    db.close().await;
    println!("migrations applied ({})", describe_database(&url));
    Ok(ExitCode::SUCCESS)
}
