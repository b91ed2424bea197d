//! Housekeeping that keeps tables from growing without bound: stored idempotent responses
//! past their replay window, finished jobs, old webhook event ids, live events and outgoing
//! webhook messages.

use std::time::Duration;

use souk_storage::{Db, StorageError, events, jobs, now_ms, orders, payments, webhooks};

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

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    pub idempotency_keys: u64,
    pub done_jobs: u64,
    pub webhook_events: u64,
    pub events: u64,
    pub webhook_messages: u64,
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
    })
}

/// Runs [`run_once`] every `every` until `shutdown` turns true.
pub async fn run_forever(db: Db, every: Duration, shutdown: tokio::sync::watch::Receiver<bool>) {
    crate::every(every, shutdown, || async {
        match run_once(&db).await {
            Ok(p) if p != Purged::default() => tracing::info!(?p, "housekeeping"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed; will retry"),
        }
    })
    .await;
}
