use thiserror::Error;

/// Errors of the storage layer. Conflicts a caller can act on get their own variants; everything
/// else is `Database` and becomes a logged 500 at the HTTP edge.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// From SQLite's write connection (rusqlite).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsafe database configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Conflict(String),
    #[error("invalid cursor")]
    InvalidCursor,
}

impl StorageError {
    /// A unique-constraint violation (the caller raced someone for a handle or SKU).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StorageError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            StorageError::Sqlite(e) => matches!(
                sqlite_code(e),
                // SQLITE_CONSTRAINT_UNIQUE, SQLITE_CONSTRAINT_PRIMARYKEY
                Some(2067 | 1555)
            ),
            _ => false,
        }
    }
}

/// The extended result code of a failed SQLite call.
fn sqlite_code(e: &rusqlite::Error) -> Option<i32> {
    match e {
        rusqlite::Error::SqliteFailure(code, _) => Some(code.extended_code),
        _ => None,
    }
}

impl StorageError {
    /// A PostgreSQL serialization failure or deadlock: the transaction may simply be run again.
    pub fn is_retryable_conflict(&self) -> bool {
        matches!(self, StorageError::Database(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("40001" | "40P01")))
    }

    /// The database server went away (connection refused, reset or closed mid-statement, a
    /// PostgreSQL shutdown or crash): transient, the request may be retried once it is back.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed,
            ) => true,
            StorageError::Database(sqlx::Error::Protocol(m)) => {
                m.contains("unexpected end") || m.contains("EOF") || m.contains("closed")
            }
            StorageError::Database(sqlx::Error::Database(e)) => matches!(
                e.code().as_deref(),
                // admin_shutdown, crash_shutdown, connection_failure class.
                Some("57P01" | "57P02" | "08000" | "08003" | "08006" | "08001" | "08004")
            ),
            _ => false,
        }
    }

    /// The database is saturated and the request may be retried: no connection became free in
    /// time, SQLite's write lock stayed with another process past the busy timeout (`souk
    /// worker` or `souk import` on the same file), PostgreSQL refused a connection, or a
    /// statement ran past its limit (`DbOptions::statement_timeout`, both databases).
    pub fn is_overloaded(&self) -> bool {
        match self {
            StorageError::Database(sqlx::Error::PoolTimedOut) => true,
            StorageError::Database(sqlx::Error::Database(e)) => matches!(
                e.code().as_deref(),
                // SQLite: BUSY and its extended codes (RECOVERY, SNAPSHOT, TIMEOUT), LOCKED,
                // INTERRUPT (a reader statement past its time limit).
                Some("5" | "261" | "517" | "773" | "6" | "9")
                    // PostgreSQL: too_many_connections, cannot_connect_now, query_canceled.
                    | Some("53300" | "57P03" | "57014")
            ),
            StorageError::Sqlite(e) => matches!(
                sqlite_code(e).map(|c| c & 0xff),
                // BUSY (and its extended codes), LOCKED, INTERRUPT.
                Some(5 | 6 | 9)
            ),
            _ => false,
        }
    }
}
