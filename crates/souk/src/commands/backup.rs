//! `souk backup create [PATH]` and `souk backup restore ARCHIVE --data-dir D`.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use souk_storage::Db;

use crate::backup;
use crate::cli::{BackupCreateArgs, BackupRestoreArgs, GlobalArgs};
use crate::startup::{database_url, describe_database, open_database};

pub async fn create(global: &GlobalArgs, args: BackupCreateArgs) -> anyhow::Result<ExitCode> {
    let url = database_url(global)?;
    let db = open_database(&url, 2).await?;
    let dest = match args.path {
        Some(path) => path,
        None => {
            // Ours: made private (the archive holds the database and the server key).
            let dir = global.data_dir.join("backups");
            crate::startup::private_data_dir(&dir)?;
            dir.join(backup::default_name())
        }
    };
    let started = Instant::now();
    let made = backup::create(&db, &url, &global.data_dir, &dest).await;
    db.close().await;
    let made = made?;
    for note in &made.manifest.notes {
        eprintln!("note: {note}");
    }
    println!(
        "backup of {} written to {} ({} files, {} bytes, {:.1} s)",
        describe_database(&url),
        made.path.display(),
        made.manifest.files.len(),
        made.bytes,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn restore(global: &GlobalArgs, args: BackupRestoreArgs) -> anyhow::Result<ExitCode> {
    let restored = backup::restore(&args.archive, &global.data_dir).await?;
    let m = &restored.manifest;
    println!(
        "restored the backup of {} (Souk {}, {} backend) into {}: {} files, checksums and integrity verified",
        m.created_at,
        m.souk_version,
        m.backend,
        global.data_dir.display(),
        m.files.len()
    );
    if let Some(db) = &restored.sqlite {
        println!(
            "start it with: souk --data-dir {} serve   (database {})",
            global.data_dir.display(),
            db.display()
        );
    }
    if let Some(dump) = &restored.pgdump {
        println!(
            "the PostgreSQL database is in {}: load it into an empty database with\n  pg_restore --no-owner --dbname postgres://…/NEW_DATABASE {}\nthen start souk with SOUK_DATABASE_URL set to it and --data-dir {}",
            dump.display(),
            dump.display(),
            global.data_dir.display()
        );
    }
    for note in &m.notes {
        eprintln!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Scheduled backups for `souk serve --backup-every`: one now-and-then loop that writes into
/// DATA_DIR/backups and keeps the `keep` newest. Failures are logged and retried next time.
pub async fn schedule(
    db: Db,
    url: String,
    data_dir: std::path::PathBuf,
    every: Duration,
    keep: usize,
) {
    let dir = data_dir.join("backups");
    if let Err(e) = crate::startup::private_data_dir(&dir) {
        tracing::error!(error = %format!("{e:#}"), "scheduled backups are off");
        return;
    }
    clear_leftovers(&dir);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: the first backup comes one period in
    loop {
        tick.tick().await;
        let dest = dir.join(backup::default_name());
        match backup::create(&db, &url, &data_dir, &dest).await {
            Ok(made) => {
                let removed = backup::prune(&dir, keep).unwrap_or(0);
                tracing::info!(path = %made.path.display(), bytes = made.bytes, removed, "scheduled backup written");
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "scheduled backup failed"),
        }
    }
}

/// Removes what a backup interrupted by a stop left behind (its staging directory and partial
/// archive).
fn clear_leftovers(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(".souk-backup-") {
            let _ = std::fs::remove_dir_all(&path);
        } else if name.ends_with(".partial") {
            let _ = std::fs::remove_file(&path);
        }
    }
}
