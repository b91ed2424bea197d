//! SQLite's one write connection, on rusqlite, with group commit (docs/storage.md, "The SQLite
//! writer").
//!
//! A write transaction holds the writer (a fair async lock) and runs its statements directly on
//! the connection from the calling task: no hand-off to another thread per statement, which is
//! what capped checkout under sqlx. Transactions that follow one another while others wait
//! share one SQLite transaction: each runs inside its own `SAVEPOINT` (its failure or drop rolls
//! back only itself), and when the last of a group is done, one `COMMIT` (one flush of the WAL)
//! makes them all durable. No transaction's `commit()` returns before that flush. A group closes
//! when nobody else is waiting, at 64 transactions, or 2 ms after it opened.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::StorageError;
use crate::db::Durability;

/// At most this many transactions share one commit.
const GROUP_MAX: usize = 64;
/// A group stops taking newcomers this long after it opened (bounds the first one's wait).
const GROUP_WINDOW: Duration = Duration::from_millis(2);
/// A transaction waiting for its group's commit checks this often that someone will make it.
const ORPHAN_CHECK: Duration = Duration::from_millis(5);

/// The outcome of a group's `COMMIT`, sent to every member.
type Outcome = Option<Result<(), Failure>>;

/// Why a group's commit failed, sharable by every member.
#[derive(Debug, Clone)]
struct Failure {
    code: rusqlite::ffi::Error,
    message: String,
}

impl From<Failure> for StorageError {
    fn from(f: Failure) -> Self {
        StorageError::Sqlite(rusqlite::Error::SqliteFailure(f.code, Some(f.message)))
    }
}

impl Failure {
    fn of(e: &rusqlite::Error) -> Failure {
        let code = match e {
            rusqlite::Error::SqliteFailure(code, _) => *code,
            _ => rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

/// The SQLite transaction a group of write transactions shares.
struct Group {
    id: u64,
    durability: Durability,
    /// Members that are done and wait for the commit.
    members: usize,
    /// When the first member was done (the group's oldest wait).
    opened: Instant,
    outcome: Arc<watch::Sender<Outcome>>,
}

/// How many groups were committed and how many transactions they held (members ÷ groups =
/// transactions per flush).
#[derive(Debug, Default)]
pub(crate) struct GroupStats {
    pub(crate) groups: AtomicU64,
    pub(crate) transactions: AtomicU64,
}

struct State {
    conn: rusqlite::Connection,
    stats: Arc<GroupStats>,
    group: Option<Group>,
    /// When the current holder took the writer (for the busy-share metric).
    held_since: Instant,
    /// The connection's busy timeout (shortened while the WAL is restarted).
    busy_timeout: Duration,
    /// Set by the checkpointer when the WAL has grown past its limit: the next commit makes
    /// it start again from its beginning (see [`restart_wal`]).
    restart_wal: Arc<AtomicBool>,
    /// The WAL file and its limit, checked after every group's commit.
    wal: WalBound,
}

/// How the writer keeps the WAL near its limit without waiting for the checkpointer's next
/// pass: a commit that leaves the file past the limit restarts it at once. (Checked only every
/// 250 ms, a fast rush of relaxed writes put 55 MB in the WAL between two passes.)
struct WalBound {
    path: std::path::PathBuf,
    limit: u64,
    /// Restarts in a row that found the WAL still in use (by a reader, or by the
    /// checkpointer's own pass), and when the last was tried: the next try waits 10 ms, then
    /// twice as long each time up to the checkpointer's period, so that a long reader does not
    /// stall every commit for the restart's wait.
    blocked: u32,
    tried_at: Instant,
}

impl WalBound {
    fn over(&self) -> bool {
        let wait = Duration::from_millis(10)
            .saturating_mul(1 << self.blocked.min(8))
            .min(CHECKPOINT_EVERY);
        (self.blocked == 0 || self.tried_at.elapsed() >= wait)
            && std::fs::metadata(&self.path).is_ok_and(|m| m.len() > self.limit)
    }

    fn tried(&mut self, restarted: bool) {
        self.blocked = if restarted { 0 } else { self.blocked + 1 };
        self.tried_at = Instant::now();
    }
}

pub struct Writer {
    state: Arc<Mutex<State>>,
    /// Transactions waiting to take the writer: while there are some, a finished transaction
    /// leaves its group open for them.
    waiting: AtomicUsize,
    groups: AtomicU64,
    stats: Arc<GroupStats>,
    acquire_timeout: Duration,
    /// The checkpointer thread runs while this lives.
    _checkpointer: Arc<()>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Opens the write connection to the database file at `path` (already created and in WAL
    /// mode) with the settings durability rests on.
    /// The WAL is kept near `wal_limit` bytes (see [`restart_wal`]).
    pub(crate) fn open(
        path: &std::path::Path,
        busy_timeout: Duration,
        acquire_timeout: Duration,
        wal_limit: i64,
    ) -> Result<Writer, StorageError> {
        let conn = rusqlite::Connection::open(path)?;
        conn.busy_timeout(busy_timeout)?;
        // No checkpoint inside a COMMIT (SQLite's default, every 1,000 WAL pages, stalled the
        // commit that crossed it): the checkpointer thread does them (see `checkpointer`).
        // A page cache of 32 MiB (SQLite's default is 2): a large catalog's indexes are
        // written at random places, and a write whose index pages fell out of the cache reads
        // them again (100,000 generated products: see bench/RESULTS.md, "Import").
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {wal_limit}; \
             PRAGMA cache_size = -32768;"
        ))?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |row| row.get(0))?;
        conn.set_prepared_statement_cache_capacity(512);
        let stats = Arc::new(GroupStats::default());
        let checkpoints = rusqlite::Connection::open(path)?;
        checkpoints.busy_timeout(busy_timeout)?;
        let stop = Arc::new(());
        let alive = Arc::downgrade(&stop);
        let restart_wal = Arc::new(AtomicBool::new(false));
        let restart = restart_wal.clone();
        let limit_pages = (wal_limit / page_size.max(512)).max(1);
        std::thread::Builder::new()
            .name("souk-sqlite-checkpointer".to_owned())
            .spawn(move || checkpointer(checkpoints, alive, restart, limit_pages))
            .map_err(|e| StorageError::Config(format!("cannot start the checkpointer: {e}")))?;
        Ok(Writer {
            state: Arc::new(Mutex::new(State {
                conn,
                stats: stats.clone(),
                group: None,
                held_since: Instant::now(),
                busy_timeout,
                restart_wal,
                wal: WalBound {
                    path: wal_path(path),
                    limit: u64::try_from(wal_limit).unwrap_or(0),
                    blocked: 0,
                    tried_at: Instant::now(),
                },
            })),
            waiting: AtomicUsize::new(0),
            groups: AtomicU64::new(0),
            stats,
            acquire_timeout,
            _checkpointer: stop,
        })
    }

    /// Takes the writer and starts a transaction (a savepoint in the open group, or a new
    /// group). Waits at most the acquire timeout for the writer (then: overloaded).
    pub(crate) async fn begin(
        self: &Arc<Self>,
        durability: Durability,
    ) -> Result<SqliteTx, StorageError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let taken =
            tokio::time::timeout(self.acquire_timeout, self.state.clone().lock_owned()).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let Ok(mut guard) = taken else {
            return Err(StorageError::Database(sqlx::Error::PoolTimedOut));
        };
        guard.held_since = Instant::now();
        // A durable transaction never joins a relaxed group (its COMMIT would not flush):
        // that group commits first, which costs no flush.
        if let Some(group) = &guard.group
            && group.durability == Durability::Relaxed
            && durability == Durability::Full
        {
            guard = commit_group(guard).await;
        }
        if guard.group.is_none() {
            guard = open_group(
                guard,
                durability,
                self.groups.fetch_add(1, Ordering::Relaxed),
            )
            .await?;
        }
        guard.conn.execute_batch("SAVEPOINT souk_tx")?;
        Ok(SqliteTx {
            guard: Some(guard),
            writer: self.clone(),
        })
    }

    /// Transactions waiting for the writer now.
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    pub(crate) fn stats(&self) -> &GroupStats {
        &self.stats
    }

    /// Whether a finished transaction should leave its group open for the next one.
    fn group_stays_open(&self, group: &Group) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
            && group.members < GROUP_MAX
            && group.opened.elapsed() < GROUP_WINDOW
    }
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies committed WAL pages into the database file on its own connection, off the commit
/// path: `PRAGMA wal_checkpoint(PASSIVE)` never waits for a writer or a reader, so it only
/// copies what no reader still needs. Past `limit_pages` in the WAL it asks the writer to
/// restart the WAL (see [`restart_wal`]). Ends when the writer is gone.
fn checkpointer(
    conn: rusqlite::Connection,
    alive: std::sync::Weak<()>,
    restart: Arc<AtomicBool>,
    limit_pages: i64,
) {
    while alive.strong_count() > 0 {
        std::thread::sleep(CHECKPOINT_EVERY);
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        });
        match done {
            Ok((in_wal, copied)) => {
                metrics::gauge!("souk_db_wal_pages").set(in_wal as f64);
                metrics::gauge!("souk_db_wal_pages_behind").set((in_wal - copied) as f64);
                if in_wal > limit_pages {
                    restart.store(true, Ordering::Release);
                }
            }
            Err(e) => tracing::warn!(error = %e, "SQLite checkpoint failed"),
        }
    }
}

/// `BEGIN IMMEDIATE` at the asked durability, off the async threads (it may wait for another
/// process's write lock for the busy timeout).
async fn open_group(
    guard: OwnedMutexGuard<State>,
    durability: Durability,
    id: u64,
) -> Result<OwnedMutexGuard<State>, StorageError> {
    let begin = match durability {
        Durability::Full => "PRAGMA synchronous = FULL; BEGIN IMMEDIATE",
        Durability::Relaxed => "PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE",
    };
    let (mut guard, began) = blocking(guard, move |state| state.conn.execute_batch(begin)).await;
    began?;
    guard.group = Some(Group {
        id,
        durability,
        members: 0,
        opened: Instant::now(),
        outcome: Arc::new(watch::channel(None).0),
    });
    Ok(guard)
}

/// Commits the open group (if any) and tells its members, keeping the writer.
async fn commit_group(guard: OwnedMutexGuard<State>) -> OwnedMutexGuard<State> {
    blocking(guard, commit_now).await.0
}

/// Runs `f` on the state on a blocking thread (a flush or a lock wait must not stall the async
/// threads), keeping the writer throughout; runs it inline outside a runtime.
async fn blocking<R: Send + 'static>(
    mut guard: OwnedMutexGuard<State>,
    f: impl FnOnce(&mut State) -> R + Send + 'static,
) -> (OwnedMutexGuard<State>, R) {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::spawn_blocking(move || {
            let r = f(&mut guard);
            (guard, r)
        })
        .await
        .expect("the SQLite writer's blocking task panicked"),
        Err(_) => {
            let r = f(&mut guard);
            (guard, r)
        }
    }
}

/// `COMMIT` of the open group, its outcome sent to every member. On failure the group is
/// rolled back whole (SQLite may already have done so).
fn commit_now(state: &mut State) {
    let Some(group) = state.group.take() else {
        return;
    };
    let result = state.conn.execute_batch("COMMIT").map_err(|e| {
        let failure = Failure::of(&e);
        if !state.conn.is_autocommit() {
            let _ = state.conn.execute_batch("ROLLBACK");
        }
        failure
    });
    state.stats.groups.fetch_add(1, Ordering::Relaxed);
    state
        .stats
        .transactions
        .fetch_add(group.members as u64, Ordering::Relaxed);
    metrics::counter!("souk_db_write_groups_total").increment(1);
    metrics::counter!("souk_db_write_group_transactions_total").increment(group.members as u64);
    group.outcome.send_replace(Some(result));
    if state.restart_wal.swap(false, Ordering::AcqRel) || state.wal.over() {
        let restarted = restart_wal(state);
        state.wal.tried(restarted);
    }
}

/// The WAL file of the database file at `path` (SQLite names it so).
fn wal_path(path: &std::path::Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// How long a restart of the WAL waits for readers still reading it; writers wait meanwhile.
const RESTART_WAIT: Duration = Duration::from_millis(20);

/// Makes the WAL start again from its beginning, between two groups (holding the writer, its
/// members already answered). The WAL only restarts when a write begins with every frame
/// copied back and no reader in it; with pages being read all the time some reader always is,
/// so under a steady rush the file grew by every page written (3.4 GB in 60 s at 470 orders/s
/// on the demo shop, for a 215 MB database). `wal_checkpoint(RESTART)` copies what is left and
/// waits (at most [`RESTART_WAIT`]) for the readers of the old WAL to finish; readers starting
/// meanwhile read the database file. The next write then starts the WAL over, and
/// `journal_size_limit` trims the file back. If a reader outlasts the wait, the checkpointer
/// asks again after its next pass. Returns whether the WAL was restarted.
fn restart_wal(state: &State) -> bool {
    let _ = state.conn.busy_timeout(RESTART_WAIT);
    let done = state
        .conn
        .query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
            row.get::<_, i64>(0)
        });
    let _ = state.conn.busy_timeout(state.busy_timeout);
    match done {
        Ok(0) => {
            metrics::counter!("souk_db_wal_restarts_total").increment(1);
            true
        }
        Ok(_) => {
            metrics::counter!("souk_db_wal_restarts_blocked_total").increment(1);
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "restarting the SQLite WAL failed");
            false
        }
    }
}

/// Gives the writer back, first committing the group if nobody is left to continue it; the
/// commit runs on a blocking thread, which releases the writer when done.
fn release(writer: &Writer, mut guard: OwnedMutexGuard<State>) {
    metrics::counter!("souk_db_writer_busy_microseconds_total")
        .increment(guard.held_since.elapsed().as_micros() as u64);
    let Some(group) = &guard.group else {
        return;
    };
    if group.members == 0 {
        // Nobody in the group: nothing to make durable.
        guard.group = None;
        let _ = guard.conn.execute_batch("ROLLBACK");
        return;
    }
    if writer.group_stays_open(group) {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(_) => {
            tokio::task::spawn_blocking(move || commit_now(&mut guard));
        }
        Err(_) => commit_now(&mut guard),
    }
}

/// A write transaction on SQLite: a savepoint in a group, holding the writer.
pub struct SqliteTx {
    guard: Option<OwnedMutexGuard<State>>,
    writer: Arc<Writer>,
}

impl SqliteTx {
    pub(crate) fn conn(&self) -> &rusqlite::Connection {
        &self.guard.as_ref().expect("an open transaction").conn
    }

    /// Ends the transaction and returns once its group's commit is durable (or failed).
    pub(crate) async fn commit(mut self) -> Result<(), StorageError> {
        let mut guard = self.guard.take().expect("an open transaction");
        if let Err(e) = guard.conn.execute_batch("RELEASE souk_tx") {
            self.guard = Some(guard);
            return Err(e.into()); // dropping self rolls the savepoint back
        }
        if guard.conn.is_autocommit() {
            // An error ended the whole SQLite transaction: this one and its group are lost.
            let failure = Failure {
                code: rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                message: "the transaction was rolled back by an error".to_owned(),
            };
            if let Some(group) = guard.group.take() {
                group.outcome.send_replace(Some(Err(failure.clone())));
            }
            release(&self.writer, guard);
            return Err(failure.into());
        }
        let group = guard
            .group
            .as_mut()
            .expect("a group is open while its transaction runs");
        if group.members == 0 {
            group.opened = Instant::now();
        }
        group.members += 1;
        let id = group.id;
        let mut outcome = group.outcome.subscribe();
        release(&self.writer, guard);
        loop {
            match tokio::time::timeout(ORPHAN_CHECK, outcome.wait_for(Option::is_some)).await {
                Ok(Ok(done)) => return done.clone().expect("checked").map_err(Into::into),
                Ok(Err(_)) => {
                    return Err(StorageError::Sqlite(rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                        Some("the write group ended without a commit".to_owned()),
                    )));
                }
                // Left open for a transaction that then gave up waiting: commit it ourselves.
                Err(_) => {
                    if let Ok(guard) = self.writer.state.clone().try_lock_owned()
                        && guard.group.as_ref().is_some_and(|g| g.id == id)
                    {
                        let mut guard = guard;
                        guard.held_since = Instant::now();
                        tokio::task::spawn_blocking(move || commit_now(&mut guard));
                    }
                }
            }
        }
    }
}

impl Drop for SqliteTx {
    /// Not committed: undoes this transaction's savepoint only; the group goes on.
    fn drop(&mut self) {
        let Some(guard) = self.guard.take() else {
            return;
        };
        let _ = guard
            .conn
            .execute_batch("ROLLBACK TO souk_tx; RELEASE souk_tx");
        let mut guard = guard;
        if guard.conn.is_autocommit()
            && let Some(group) = guard.group.take()
        {
            // An error ended the whole SQLite transaction: the group's members are lost.
            group.outcome.send_replace(Some(Err(Failure {
                code: rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ABORT),
                message: "the write group was rolled back by an error".to_owned(),
            })));
        }
        release(&self.writer, guard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Commits 8,000 transactions of 8 KiB each, one after another, while another connection
    /// reads all the time (as page views do), and returns the largest size of the WAL file seen.
    async fn largest_wal_under_steady_writes(wal_limit: i64) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("souk.db");
        let writer = Arc::new(
            Writer::open(
                &path,
                Duration::from_secs(5),
                Duration::from_secs(5),
                wal_limit,
            )
            .unwrap(),
        );
        let tx = writer.begin(Durability::Relaxed).await.unwrap();
        tx.conn()
            .execute_batch("CREATE TABLE t (x BLOB NOT NULL)")
            .unwrap();
        tx.commit().await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (stop, path) = (stop.clone(), path.clone());
            std::thread::spawn(move || {
                let conn = rusqlite::Connection::open(&path).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let _: Option<i64> = conn
                        .query_row("SELECT max(rowid) FROM t", [], |row| row.get(0))
                        .unwrap();
                }
            })
        };
        let wal = dir.path().join("souk.db-wal");
        let mut largest = 0;
        for _ in 0..8_000 {
            let tx = writer.begin(Durability::Relaxed).await.unwrap();
            tx.conn()
                .execute("INSERT INTO t VALUES (randomblob(8192))", [])
                .unwrap();
            tx.commit().await.unwrap();
            largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
        stop.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        largest
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_stays_near_its_limit_while_pages_are_read_during_a_rush_of_writes() {
        const MIB: u64 = 1024 * 1024;
        // Without a limit, a reader always in the WAL keeps it from starting over: it holds
        // every page written (8,000 × about 16 KiB).
        let unbounded = largest_wal_under_steady_writes(i64::MAX).await;
        assert!(
            unbounded > 64 * MIB,
            "the WAL grew to {unbounded} bytes only"
        );
        // With one, the commit that takes it past the limit restarts it: it peaks near the
        // limit, however fast the writes come (a check every 250 ms let this rush write 55 MB
        // between two).
        let bounded = largest_wal_under_steady_writes(2 * MIB as i64).await;
        eprintln!("largest WAL: {bounded} bytes with a 2 MiB limit, {unbounded} without");
        assert!(
            bounded < unbounded / 3,
            "the WAL grew to {bounded} bytes with a 2 MiB limit ({unbounded} without)"
        );
    }
}
