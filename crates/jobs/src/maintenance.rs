//! Housekeeping that keeps tables from growing without bound: stored idempotent responses
//! past their replay window, finished jobs, old webhook event ids, live events, outgoing
//! webhook messages, expired sessions and sign-in links, old rate-limit windows and abandoned
//! carts. It also dead-letters jobs whose last attempt never finished.

use std::time::Duration;

use souk_storage::{
    Db, StorageError, accounts, carts, events, jobs, now_ms, orders, payments, webhooks,
};

/// Checkout responses are replayed for 48 hours (docs/orders.md).
pub const IDEMPOTENCY_WINDOW: Duration = Duration::from_secs(48 * 3600);
/// Done jobs stay visible to admins for a week.
pub const DONE_JOBS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
/// The live-event log is kept a week (streams replay the last 24 hours of it).
pub const EVENTS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
/// Event ids are remembered for 30 days (Stripe retries for three).
pub const WEBHOOK_EVENTS_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);

/// Outgoing webhook messages and their delivery log stay 30 days (pending ones until sent).
pub const WEBHOOK_MESSAGES_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Expired sessions and links, and rate-limit windows (15 minutes to an hour long), go after a day.
pub const EXPIRED_KEPT: Duration = Duration::from_secs(24 * 3600);
/// A cart nobody touched for 30 days, and that never became an order, is forgotten.
pub const ABANDONED_CARTS_KEPT: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: u64,
    pub done_jobs: u64,
    pub webhook_events: u64,
    pub events: u64,
    pub webhook_messages: u64,
    pub expired_sign_ins: u64,
    pub abandoned_carts: u64,
    pub abandoned_jobs: u64,
}

fn ago(d: Duration) -> i64 {
    now_ms() - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// One housekeeping pass.
pub async fn run_once(db: &Db) -> Result<Purged, StorageError> {
    Ok(Purged {
        idempotency_keys: orders::purge_idempotency_keys(db, ago(IDEMPOTENCY_WINDOW)).await?,
        done_jobs: jobs::purge_done(db, ago(DONE_JOBS_KEPT)).await?,
        webhook_events: payments::purge_webhook_events(db, ago(WEBHOOK_EVENTS_KEPT)).await?,
        events: events::purge(db, ago(EVENTS_KEPT)).await?,
        webhook_messages: webhooks::purge(db, ago(WEBHOOK_MESSAGES_KEPT)).await?,
        expired_sign_ins: accounts::purge_expired(db, ago(EXPIRED_KEPT)).await?,
        abandoned_carts: carts::purge_abandoned(db, ago(ABANDONED_CARTS_KEPT)).await?,
        abandoned_jobs: souk_app::outbox::dead_letter_abandoned(db).await?,
    })
}

/// Runs [`run_once`] every `every` until `shutdown` turns true.
/// The first pass runs a minute after start (or sooner if `every` is shorter), so instances
/// restarted more often than `every` still clean up, without adding writes to the busy moment
/// of start-up (other processes — `souk admin`, `souk import` — often write to the database then).
pub async fn run_forever(
    db: Db,
    every: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let pass = || async {
        match run_once(&db).await {
            Ok(p) if p != Purged::default() => tracing::info!(?p, "housekeeping"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
        }
    };
    tokio::select! {
        () = tokio::time::sleep(FIRST_PASS_AFTER.min(every)) => {}
        _ = shutdown.changed() => return,
    }
    if *shutdown.borrow() {
        return;
    }
    pass().await;
    crate::every(every, shutdown, pass).await;
}

/// When the first housekeeping pass runs after start.
pub const FIRST_PASS_AFTER: Duration = Duration::from_secs(60);
