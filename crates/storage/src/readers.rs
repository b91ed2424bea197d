//! SQLite's readers on rusqlite: a few threads, each owning a connection, taking read
//! statements from one bounded queue (docs/storage.md, "SQLite's readers").
//!
//! A statement travels to a reader thread once and its decoded rows come back in one message
//! (sqlx sent every row over a channel). A full queue, or a statement that waited past the
//! acquire timeout, is refused as overloaded (503); a statement running past the statement
//! limit is interrupted by SQLite's progress handler. A statement whose request was abandoned
//! (its client hung up, or it answered 503 at the request timeout) is skipped if it has not
//! started, and interrupted if it has: under overload the readers do not work for nobody.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use crate::StorageError;

/// Statements that may wait for a reader; past this, requests are refused (overloaded).
const QUEUE: usize = 1024;
/// How often (in SQLite virtual-machine steps) a running statement checks its deadline.
const PROGRESS_STEPS: std::ffi::c_int = 20_000;

type Job = Box<dyn FnOnce(&rusqlite::Connection) + Send>;

/// A statement waiting for a reader.
struct Queued {
    at: Instant,
    /// Set when whoever asked stopped waiting for the answer.
    abandoned: Arc<AtomicBool>,
    job: Job,
}

/// Marks a statement abandoned when the future waiting for it is dropped unanswered.
struct Waiting(Arc<AtomicBool>, bool);

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

pub struct Readers {
    queue: std::sync::Mutex<Option<Sender<Queued>>>,
    // Kept so the threads are owned; they end when the queue closes.
    _threads: Vec<JoinHandle<()>>,
    busy: Arc<AtomicUsize>,
    size: usize,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The overloaded error of a full or slow read queue (the same as a pool's timeout).
fn overloaded() -> StorageError {
    StorageError::Database(sqlx::Error::PoolTimedOut)
}

impl Readers {
    /// Opens `size` reader connections to the database at `path` and their threads. Each
    /// statement may run at most `statement_limit` (`None`: unbounded); each reader maps up to
    /// `mmap` bytes of the file.
    pub(crate) fn open(
        path: &std::path::Path,
        size: usize,
        busy_timeout: Duration,
        acquire_timeout: Duration,
        statement_limit: Option<Duration>,
        mmap: i64,
    ) -> Result<Readers, StorageError> {
        let (queue, jobs) = crossbeam_channel::bounded::<Queued>(QUEUE);
        let mut threads = Vec::with_capacity(size);
        let busy = Arc::new(AtomicUsize::new(0));
        for n in 0..size.max(1) {
            let conn = rusqlite::Connection::open(path)?;
            conn.busy_timeout(busy_timeout)?;
            conn.execute_batch("PRAGMA query_only = ON; PRAGMA foreign_keys = ON;")?;
            conn.execute_batch(&format!("PRAGMA mmap_size = {mmap};"))?;
            conn.set_prepared_statement_cache_capacity(256);
            // Plans never depend on a bound value. With the value-based statistics of `ANALYZE`
            // (STAT4), SQLite otherwise compiles a cached statement again whenever one of its
            // parameters gets a new value (a category id, a page's product ids): 5 % of a
            // category page's time. The listings choose their plans themselves
            // (`catalog::list`), from counts, not from SQLite's guesses.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )?;
            let jobs = jobs.clone();
            let busy = busy.clone();
            let thread = std::thread::Builder::new()
                .name(format!("souk-sqlite-reader-{n}"))
                .spawn(move || serve(conn, jobs, busy, acquire_timeout, statement_limit))
                .map_err(|e| StorageError::Config(format!("cannot start a reader thread: {e}")))?;
            threads.push(thread);
        }
        Ok(Readers {
            queue: std::sync::Mutex::new(Some(queue)),
            _threads: threads,
            busy,
            size: size.max(1),
        })
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Readers running a statement now.
    pub(crate) fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Option<Sender<Queued>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Runs `read` on a reader connection and returns its result.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> Result<R, StorageError> + Send + 'static,
    ) -> Result<R, StorageError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = answer.send(read(conn));
        });
        let queue = self
            .sender()
            .ok_or(StorageError::Database(sqlx::Error::PoolClosed))?;
        let abandoned = Arc::new(AtomicBool::new(false));
        let queued = Queued {
            at: Instant::now(),
            abandoned: abandoned.clone(),
            job,
        };
        match queue.try_send(queued) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(overloaded()),
            Err(TrySendError::Disconnected(_)) => {
                return Err(StorageError::Database(sqlx::Error::PoolClosed));
            }
        }
        let mut waiting = Waiting(abandoned, false);
        // Dropped unanswered: the job waited past the acquire timeout (or the readers stopped).
        let answer = answered.await;
        waiting.1 = true;
        answer.map_err(|_| overloaded())?
    }

    /// Takes no more statements; the reader threads end once the queue is done.
    pub(crate) fn close(&self) {
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// A reader thread: runs queued statements until the queue closes.
fn serve(
    conn: rusqlite::Connection,
    jobs: Receiver<Queued>,
    busy: Arc<AtomicUsize>,
    acquire_timeout: Duration,
    statement_limit: Option<Duration>,
) {
    // The running statement's deadline, in microseconds since `base` (0: none), and whether
    // its request was abandoned.
    let base = Instant::now();
    let deadline = Arc::new(AtomicU64::new(0));
    let running: Arc<std::sync::Mutex<Arc<AtomicBool>>> = Arc::default();
    {
        let deadline = deadline.clone();
        let running = running.clone();
        let installed = conn.progress_handler(
            PROGRESS_STEPS,
            Some(move || {
                let at = deadline.load(Ordering::Relaxed);
                (at != 0 && base.elapsed().as_micros() as u64 > at)
                    || running
                        .lock()
                        .is_ok_and(|abandoned| abandoned.load(Ordering::Relaxed))
            }),
        );
        if let Err(e) = installed {
            tracing::error!(error = %e, "SQLite reader without a statement time limit");
        }
    }
    while let Ok(queued) = jobs.recv() {
        // Too late (its caller is told: overloaded), or nobody waits for it any more.
        if queued.at.elapsed() > acquire_timeout || queued.abandoned.load(Ordering::Relaxed) {
            continue;
        }
        if let Some(limit) = statement_limit {
            let at = (base.elapsed() + limit).as_micros() as u64;
            deadline.store(at.max(1), Ordering::Relaxed);
        }
        if let Ok(mut slot) = running.lock() {
            *slot = queued.abandoned;
        }
        busy.fetch_add(1, Ordering::Relaxed);
        // A panic in one statement's decoding must not take the reader down with it.
        let job = queued.job;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&conn)));
        busy.fetch_sub(1, Ordering::Relaxed);
        deadline.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readers(dir: &tempfile::TempDir) -> Readers {
        let path = dir.path().join("r.db");
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let second = Duration::from_secs(1);
        Readers::open(&path, 1, second, 10 * second, None, 0).unwrap()
    }

    #[tokio::test]
    async fn an_abandoned_statement_is_interrupted_and_the_reader_serves_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let readers = Arc::new(readers(&dir));
        // Counts for ever: only an interruption ends it (there is no statement limit here).
        let endless = tokio::spawn({
            let readers = readers.clone();
            async move {
                readers
                    .run(|conn| {
                        Ok(conn.query_row(
                            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
                             SELECT count(*) FROM c",
                            [],
                            |r| r.get::<_, i64>(0),
                        )?)
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(readers.busy(), 1);
        endless.abort();
        let next = readers.run(|conn| Ok(conn.query_row("SELECT 7", [], |r| r.get::<_, i64>(0))?));
        let answer = tokio::time::timeout(Duration::from_secs(5), next).await;
        assert_eq!(answer.expect("the one reader was freed").unwrap(), 7);
    }

    #[tokio::test]
    async fn a_statement_abandoned_while_it_waits_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let readers = Arc::new(readers(&dir));
        let (release, released) = std::sync::mpsc::channel::<()>();
        // Holds the only reader until released.
        let holding = tokio::spawn({
            let readers = readers.clone();
            async move {
                readers
                    .run(move |_| {
                        released.recv().ok();
                        Ok(())
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ran = Arc::new(AtomicBool::new(false));
        let waiting = tokio::spawn({
            let (readers, ran) = (readers.clone(), ran.clone());
            async move {
                readers
                    .run(move |_| {
                        ran.store(true, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        waiting.abort();
        let _ = waiting.await;
        release.send(()).unwrap();
        holding.await.unwrap().unwrap();
        // The reader has gone past the abandoned statement: a later one is answered.
        readers.run(|_| Ok(())).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst), "an abandoned statement ran");
    }
}
