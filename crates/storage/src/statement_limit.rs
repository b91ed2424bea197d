//! A time limit on every statement of SQLite's reader connections.
//!
//! A request abandoned at its timeout drops its future, but SQLite keeps running the statement
//! on the connection's thread: a runaway query would hold a reader (and a core) for as long as
//! it runs, and `souk serve` could not close the pool to stop. SQLite checks a progress handler
//! every few thousand virtual-machine steps; ours interrupts the statement once it has run
//! longer than the limit (the statement fails with `SQLITE_INTERRUPT`, the connection is free
//! again).
//!
//! The handler has to know when the running statement began. SQLite says so through its trace
//! hook (`SQLITE_TRACE_STMT`, called when a statement starts to run), which sqlx does not
//! expose: this module registers it directly — the only `unsafe` in Souk, a hook without
//! context pointer that writes one thread-local. Both callbacks run on the thread that steps
//! the statement, and sqlx gives each connection its own thread, so the thread-local is the
//! connection's. (PostgreSQL has this built in: `statement_timeout`, see `db.rs`.)
#![allow(unsafe_code)]

use std::cell::Cell;
use std::ffi::{c_int, c_uint, c_void};
use std::time::{Duration, Instant};

use sqlx::SqliteConnection;

/// Virtual-machine steps between two looks at the clock: tens of microseconds of work.
const STEPS_BETWEEN_CHECKS: i32 = 20_000;

thread_local! {
    /// When the statement now running on this thread's connection began.
    static STATEMENT_STARTED: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// SQLite's trace callback: a statement begins to run.
unsafe extern "C" fn statement_started(
    _mask: c_uint,
    _context: *mut c_void,
    _statement: *mut c_void,
    _sql: *mut c_void,
) -> c_int {
    // `try_with`: never panic across the C boundary, even while the thread is exiting.
    let _ = STATEMENT_STARTED.try_with(|started| started.set(Some(Instant::now())));
    0
}

/// Limits every statement of `conn` to `limit`; call once, when the connection is opened.
pub(crate) async fn limit_statements(
    conn: &mut SqliteConnection,
    limit: Duration,
) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle();
    // SAFETY: `db` is this connection's open handle, held locked (no statement is running on
    // it while we register). The callback takes no context pointer, so nothing it refers to
    // can be freed under it; it only writes a thread-local and cannot unwind.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_trace_v2(
            db.as_ptr(),
            libsqlite3_sys::SQLITE_TRACE_STMT,
            Some(statement_started),
            std::ptr::null_mut(),
        )
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Configuration(
            format!("cannot register SQLite's statement hook (code {rc})").into(),
        ));
    }
    handle.set_progress_handler(STEPS_BETWEEN_CHECKS, move || {
        // `true` lets the statement go on.
        STATEMENT_STARTED
            .try_with(|started| started.get().is_none_or(|at| at.elapsed() < limit))
            .unwrap_or(true)
    });
    Ok(())
}
