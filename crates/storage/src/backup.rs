//! Consistent copies of the database for `souk backup`.

use std::path::Path;

use crate::{Db, StorageError};

/// Writes a consistent, compacted copy of a SQLite database to `dest` (which must not exist)
/// while the shop keeps serving: `VACUUM INTO` runs in one read transaction, so the copy is the
/// database as of one instant — every commit before it, none after — and writers are not held
/// up (WAL). `Ok(false)` on PostgreSQL, whose copy is `pg_dump`'s job.
pub async fn snapshot_sqlite(db: &Db, dest: &Path) -> Result<bool, StorageError> {
    let Db::Sqlite { read, .. } = db else {
        return Ok(false);
    };
    let dest = dest
        .to_str()
        .ok_or_else(|| StorageError::Conflict("the backup path is not valid UTF-8".to_owned()))?;
    // On a connection of its own: the copy of a large database may take longer than the time
    // limit of the readers' statements.
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect_with(&*read.connect_options()).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(true)
}

/// SQLite's own check of a database file: `Ok(())` when `PRAGMA integrity_check` says "ok",
/// else its first findings.
pub async fn check_sqlite_file(path: &Path) -> Result<Result<(), String>, StorageError> {
    use sqlx::Connection;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await?;
    conn.close().await?;
    Ok(if rows == ["ok"] {
        Ok(())
    } else {
        Err(rows.into_iter().take(5).collect::<Vec<_>>().join("; "))
    })
}
