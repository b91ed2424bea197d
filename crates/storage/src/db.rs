//! The database handle: SQLite (a one-connection write pool plus a read pool) or PostgreSQL.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, SqlitePool, Transaction};

use crate::StorageError;

/// How much a write transaction's commit must survive (see [`Db::begin_relaxed_write`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    Full,
    Relaxed,
}

/// Where a query runs: the read pool, or inside a write transaction.
pub enum Exec<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

/// Binds a list of dynamically built arguments onto a query, in order.
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                $crate::db::Arg::I64(v) => q.bind(v),
                $crate::db::Arg::F64(v) => q.bind(v),
                $crate::db::Arg::Text(v) => q.bind(v),
                $crate::db::Arg::Uuid(v) => q.bind(v),
                $crate::db::Arg::OptText(v) => q.bind(v),
                $crate::db::Arg::OptUuid(v) => q.bind(v),
                $crate::db::Arg::OptI64(v) => q.bind(v),
                $crate::db::Arg::OptF64(v) => q.bind(v),
                $crate::db::Arg::OptBool(v) => q.bind(v),
                $crate::db::Arg::OptBytes(v) => q.bind(v),
                $crate::db::Arg::Bool(v) => q.bind(v),
                $crate::db::Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// A value for a dynamically built query.
#[derive(Debug, Clone)]
pub enum Arg {
    I64(i64),
    F64(f64),
    Text(String),
    Uuid(uuid::Uuid),
    OptText(Option<String>),
    OptUuid(Option<uuid::Uuid>),
    OptI64(Option<i64>),
    OptF64(Option<f64>),
    OptBool(Option<bool>),
    OptBytes(Option<Vec<u8>>),
    Bool(bool),
    Bytes(Vec<u8>),
}

/// `($1, $2, …), ($n+1, …)`: placeholders for a multi-row `VALUES` of `rows` × `cols`.
pub(crate) fn values_placeholders(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Connection settings that are not part of the URL.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Maximum connections (PostgreSQL) or readers (SQLite).
    pub max_connections: u32,
    /// How long a request may wait for a connection before failing (then: 503).
    pub acquire_timeout: Duration,
    /// The longest any one statement may run (SQLite: reader statements; PostgreSQL: every
    /// statement) before the database stops it, so that a query whose request was abandoned at
    /// the request timeout frees its connection too. `None`: unbounded (one-off commands).
    pub statement_timeout: Option<Duration>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: None,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Db {
    /// SQLite allows one writer at a time: all write transactions queue for the one rusqlite
    /// write connection in this process (fair, no busy-spinning) and commit in groups (see
    /// `writer.rs`); other processes wait on the busy timeout. `write` is an sqlx connection
    /// for migrations and checks only.
    Sqlite {
        /// sqlx connections for tests and one-off tools; Souk's own reads go to `readers`.
        read: SqlitePool,
        write: SqlitePool,
        writer: Arc<crate::writer::Writer>,
        readers: Arc<crate::readers::Readers>,
    },
    Postgres(PgPool),
}

/// An open write transaction.
pub enum Tx {
    Sqlite(crate::writer::SqliteTx),
    Postgres(Transaction<'static, Postgres>),
}

/// SQLite's group commit so far (see [`Db::write_groups`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteGroups {
    /// Commits (flushes) of write groups.
    pub groups: u64,
    /// Write transactions they committed.
    pub transactions: u64,
    /// Write transactions waiting for the writer now.
    pub waiting: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// SQLite's busy timeout: how long a writer waits for another process's write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The size the SQLite WAL is kept near (64 MiB): past it, the writer starts it over.
const SQLITE_WAL_LIMIT: i64 = 64 * 1024 * 1024;
/// How much of the database file each reader maps into memory (1 GiB): a page read from the
/// OS's cache costs a `pread` and a 4 KiB copy into the reader's own 2 MiB cache, and random
/// pages of a large catalog rarely stay there (a category page at 100,000 products: 13 % of
/// the server's time in `pread`). Pages past it are read as before.
const SQLITE_READER_MMAP: i64 = 1 << 30;

impl Db {
    /// Opens the database named by `url` (`sqlite://path` or `postgres://…`) and checks that it
    /// is configured for durability. Does not migrate.
    pub async fn connect(url: &str, options: &DbOptions) -> Result<Db, StorageError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect = PgConnectOptions::from_str(url)?.application_name("souk");
            if let Some(limit) = options.statement_timeout {
                // Set at connection start-up, no round trip. A statement past it fails with
                // `query_canceled` (57014: overloaded, 503).
                connect = connect.options([(
                    "statement_timeout",
                    format!("{}ms", limit.as_millis().max(1)),
                )]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            let db = Db::Postgres(pool);
            db.check_durability().await?;
            Ok(db)
        } else if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect.clone())
                .await?;
            let writer = Arc::new(crate::writer::Writer::open(
                connect.get_filename(),
                SQLITE_BUSY_TIMEOUT,
                options.acquire_timeout,
                SQLITE_WAL_LIMIT,
            )?);
            let read = SqlitePoolOptions::new()
                .max_connections(2)
                .min_connections(0)
                .acquire_timeout(options.acquire_timeout)
                .test_before_acquire(false)
                .connect_with(connect.clone())
                .await?;
            let readers = Arc::new(crate::readers::Readers::open(
                connect.get_filename(),
                options.max_connections.max(1) as usize,
                SQLITE_BUSY_TIMEOUT,
                options.acquire_timeout,
                options.statement_timeout,
                SQLITE_READER_MMAP,
            )?);
            let db = Db::Sqlite {
                read,
                write,
                writer,
                readers,
            };
            db.check_durability().await?;
            Ok(db)
        } else {
            Err(StorageError::Config(format!(
                "unsupported database URL (expected sqlite:… or postgres://…): {}",
                redact_url(url)
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Refuses to run on settings that could lose an acknowledged write (see docs/storage.md).
    async fn check_durability(&self) -> Result<(), StorageError> {
        match self {
            Db::Sqlite { write, .. } => {
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                    .fetch_one(write)
                    .await?;
                let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                    .fetch_one(write)
                    .await?;
                let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
                    .fetch_one(write)
                    .await?;
                if !mode.eq_ignore_ascii_case("wal") || sync != 2 || fk != 1 {
                    return Err(StorageError::Config(format!(
                        "SQLite must run with journal_mode=wal, synchronous=FULL(2), foreign_keys=1; got {mode}, {sync}, {fk}"
                    )));
                }
            }
            Db::Postgres(pool) => {
                let sync: String = sqlx::query_scalar("SHOW synchronous_commit")
                    .fetch_one(pool)
                    .await?;
                if sync == "off" {
                    return Err(StorageError::Config(
                        "PostgreSQL synchronous_commit is off: acknowledged orders could be lost on a crash; set it to on"
                            .to_owned(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Begins a durable write transaction: once it commits, it survives a crash and a power
    /// cut (orders, payments, stock, accounts). On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`) so two transactions can never deadlock upgrading from read to write.
    pub async fn begin_write(&self) -> Result<Tx, StorageError> {
        self.begin(Durability::Full).await
    }

    /// Begins a write transaction whose commit need not wait for the disk: it survives a crash
    /// of Souk, but a power cut (or a crash of the PostgreSQL server) may lose it. Only for
    /// writes whose loss is harmless and visible: shopping-cart edits (the shopper redoes them)
    /// and job bookkeeping (a job runs again; jobs are at-least-once anyway). Any later durable
    /// commit makes earlier relaxed ones durable too (SQLite's WAL and PostgreSQL's WAL are
    /// written in order), so a checkout never depends on a cart row that could vanish after it.
    pub async fn begin_relaxed_write(&self) -> Result<Tx, StorageError> {
        self.begin(Durability::Relaxed).await
    }

    async fn begin(&self, durability: Durability) -> Result<Tx, StorageError> {
        let asked = Instant::now();
        let tx = self.begin_now(durability).await;
        metrics::histogram!("souk_db_write_wait_seconds").record(asked.elapsed());
        tx
    }

    async fn begin_now(&self, durability: Durability) -> Result<Tx, StorageError> {
        Ok(match self {
            Db::Sqlite { writer, .. } => Tx::Sqlite(writer.begin(durability).await?),
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                if durability == Durability::Relaxed {
                    sqlx::query("SET LOCAL synchronous_commit = off")
                        .execute(&mut *tx)
                        .await?;
                }
                Tx::Postgres(tx)
            }
        })
    }

    /// Housekeeping: runs one `DELETE … WHERE … < $1` with `before_ms` in a relaxed write (a
    /// purge that a power cut undoes is simply redone) and returns the rows deleted.
    pub(crate) async fn purge(
        &self,
        sql: &'static str,
        before_ms: i64,
    ) -> Result<u64, StorageError> {
        let mut tx = self.begin_relaxed_write().await?;
        let n = crate::sql::query(sql)
            .bind(before_ms)
            .execute(&mut tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Housekeeping for tables that may hold a large backlog (the first pass after an upgrade):
    /// deletes the rows of `table` matching `condition` (with `$1` = `before_ms`) a thousand at
    /// a time, each batch its own relaxed write, so SQLite's writer is never held for long.
    /// `key` is the table's single-column key.
    pub(crate) async fn purge_in_batches(
        &self,
        table: &'static str,
        key: &'static str,
        condition: &'static str,
        before_ms: i64,
    ) -> Result<u64, StorageError> {
        const BATCH: u64 = 1000;
        let sql = format!(
            "DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT {BATCH})"
        );
        let mut total = 0;
        loop {
            let mut tx = self.begin_relaxed_write().await?;
            let n = crate::sql::query(&sql)
                .bind(before_ms)
                .execute(&mut tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            total += n;
            if n < BATCH {
                return Ok(total);
            }
        }
    }

    /// SQLite: write transactions committed so far and the groups (flushes) they shared;
    /// `None` on PostgreSQL.
    pub fn write_groups(&self) -> Option<WriteGroups> {
        match self {
            Db::Sqlite { writer, .. } => {
                let stats = writer.stats();
                Some(WriteGroups {
                    groups: stats.groups.load(std::sync::atomic::Ordering::Relaxed),
                    transactions: stats
                        .transactions
                        .load(std::sync::atomic::Ordering::Relaxed),
                    waiting: writer.waiting(),
                })
            }
            Db::Postgres(_) => None,
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), StorageError> {
        crate::sql::query("SELECT 1").execute(self).await?;
        Ok(())
    }

    pub fn pool_stats(&self) -> PoolStats {
        match self {
            Db::Sqlite { readers, .. } => {
                let size = readers.size() as u32 + 1;
                PoolStats {
                    size,
                    idle: size.saturating_sub(readers.busy() as u32 + 1),
                    max: size,
                }
            }
            Db::Postgres(pool) => PoolStats {
                size: pool.size(),
                idle: pool.num_idle() as u32,
                max: pool.options().get_max_connections(),
            },
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite {
                read,
                write,
                readers,
                ..
            } => {
                readers.close();
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    /// Commits. While [`commit_log`] is recording, first reads the durability the transaction
    /// really runs at and notes it with the place in the code that commits (the use case).
    #[track_caller]
    pub fn commit(self) -> impl Future<Output = Result<(), StorageError>> + Send {
        let at = std::panic::Location::caller();
        async move {
            let mut tx = self;
            let durable = if commit_log::recording() {
                Some(tx.durable_now().await?)
            } else {
                None
            };
            match tx {
                Tx::Sqlite(tx) => tx.commit().await?,
                Tx::Postgres(tx) => tx.commit().await?,
            }
            if let Some(durable) = durable {
                commit_log::record(at, durable);
            }
            Ok(())
        }
    }

    /// Whether this transaction's commit waits for the disk: SQLite `synchronous` FULL (or
    /// EXTRA) in WAL mode, PostgreSQL `synchronous_commit` other than `off`.
    async fn durable_now(&mut self) -> Result<bool, StorageError> {
        Ok(match self {
            Tx::Sqlite(tx) => {
                // Not from the statement cache: SQLite evaluates this pragma when the statement
                // is prepared, so a cached one answers with the level of its first use.
                let level: i64 = tx
                    .conn()
                    .query_row("PRAGMA synchronous", [], |row| row.get(0))?;
                level >= 2
            }
            Tx::Postgres(tx) => {
                let level: String = sqlx::query_scalar("SHOW synchronous_commit")
                    .fetch_one(&mut **tx)
                    .await?;
                level != "off"
            }
        })
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Hides the password of a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// The current time as Unix milliseconds (UTC): how every timestamp is stored.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://souk:s3cret@db:5432/souk"),
            "postgres://souk:***@db:5432/souk"
        );
        assert_eq!(super::redact_url("sqlite://a.db"), "sqlite://a.db");
    }
}

/// A record of committed write transactions and the durability each really had, so a test can
/// guard which use cases may skip the disk flush: power-loss safety rests on every order,
/// payment, stock and account write being durable (docs/operations.md, "Durability"). Off
/// unless a test starts it; then each commit costs one extra statement.
pub mod commit_log {
    use std::panic::Location;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};

    static RECORDING: AtomicBool = AtomicBool::new(false);
    static COMMITS: Mutex<Vec<Commit>> = Mutex::new(Vec::new());

    /// One committed write transaction: where it was committed and whether it was durable.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Commit {
        pub file: &'static str,
        pub line: u32,
        pub durable: bool,
    }

    /// Starts recording (for the whole process).
    pub fn start() {
        RECORDING.store(true, Ordering::SeqCst);
    }

    /// The commits recorded so far, emptying the record.
    pub fn take() -> Vec<Commit> {
        std::mem::take(&mut *COMMITS.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn recording() -> bool {
        RECORDING.load(Ordering::Relaxed)
    }

    pub(crate) fn record(at: &'static Location<'static>, durable: bool) {
        COMMITS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Commit {
                file: at.file(),
                line: at.line(),
                durable,
            });
    }
}
