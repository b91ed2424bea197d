use thiserror::Error;

/// Errors of the storage layer. Conflicts a caller can act on get their own variants; everything
/// else is `Database` and becomes a logged 500 at the HTTP edge.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
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
        matches!(self, StorageError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}

impl StorageError {
    /// A PostgreSQL serialization failure or deadlock: the transaction may simply be run again.
    pub fn is_retryable_conflict(&self) -> bool {
        matches!(self, StorageError::Database(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("40001" | "40P01")))
    }

    /// No connection became free in time: the database is saturated, the request may be retried.
    pub fn is_overloaded(&self) -> bool {
        matches!(self, StorageError::Database(sqlx::Error::PoolTimedOut))
    }
}
