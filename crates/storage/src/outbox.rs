//! The transactional outbox: what a change tells the world is written in the change's own
//! transaction — its events (the live streams' log) and, for each, the webhook messages of the
//! endpoints subscribed to it with their delivery jobs. Commit, and all of it is there to be
//! relayed; roll back, and none of it happened.
//!
//! This module is where the event log, webhook fan-out and the job queue meet, so none of them
//! imports another: `events` writes rows, `webhooks` fans out (and queues its delivery jobs on
//! the generic queue), `jobs` knows nothing of either. A job that gives up is itself an event
//! (`job.failed`), recorded here with its failure.

use uuid::Uuid;

use crate::webhooks::Emitted;
use crate::{Db, StorageError, Tx, events, jobs, webhooks};

/// Records one event in `tx` for one audience — `vendor_id` set: that vendor only; unset: the
/// customer of `order_id` (if any) and admins — and queues it for subscribed endpoints.
pub async fn emit(
    tx: &mut Tx,
    kind: &str,
    order_id: Option<Uuid>,
    vendor_id: Option<Uuid>,
    data: &serde_json::Value,
) -> Result<(), StorageError> {
    events::insert(tx, kind, order_id, vendor_id, data).await?;
    webhooks::fan_out(tx, kind, &[Emitted { vendor_id, data }]).await?;
    Ok(())
}

/// Records an order event in `tx`: one row for the customer and admins with `data`, and one
/// per vendor of the order with that vendor's part (`vendor_data` is called per vendor order:
/// `(vendor_order_id, vendor_order_status)`), so no vendor ever sees another's.
pub async fn emit_order_event(
    tx: &mut Tx,
    order_id: Uuid,
    kind: &str,
    data: serde_json::Value,
    vendor_data: impl Fn(Uuid, &str) -> serde_json::Value,
) -> Result<(), StorageError> {
    let parts: Vec<(Uuid, Uuid, String)> = on_tx!(&mut *tx, conn => {
        sqlx::query_as("SELECT id, vendor_id, status FROM vendor_orders WHERE order_id = $1 ORDER BY id")
            .bind(order_id)
            .fetch_all(&mut *conn)
            .await?
    });
    let vendor_parts: Vec<(Uuid, serde_json::Value)> = parts
        .iter()
        .map(|(vendor_order_id, vendor_id, status)| {
            (*vendor_id, vendor_data(*vendor_order_id, status))
        })
        .collect();
    let mut rows: Vec<(Option<Uuid>, &serde_json::Value)> = vec![(None, &data)];
    rows.extend(vendor_parts.iter().map(|(v, d)| (Some(*v), d)));
    events::insert_order_rows(tx, order_id, kind, &rows).await?;
    let emitted: Vec<Emitted<'_>> = rows
        .iter()
        .map(|(vendor_id, data)| Emitted {
            vendor_id: *vendor_id,
            data,
        })
        .collect();
    webhooks::fan_out(tx, kind, &emitted).await?;
    Ok(())
}

/// The standard order event: the order's new status for everyone, and each vendor's own
/// vendor order status for that vendor.
pub async fn order_status_event(
    tx: &mut Tx,
    order_id: Uuid,
    kind: &str,
    status: &str,
) -> Result<(), StorageError> {
    emit_order_event(
        tx,
        order_id,
        kind,
        serde_json::json!({"order_id": order_id, "status": status}),
        |vendor_order_id, vo_status| {
            serde_json::json!({"order_id": order_id, "vendor_order_id": vendor_order_id,
                               "status": vo_status, "order_status": status})
        },
    )
    .await
}

/// Records a failed run of a claimed job: back to `pending` at `retry_at`, or `dead` when
/// `retry_at` is `None` — then with a `job.failed` event for the admins' live feed (an email
/// that will never be sent), in the same transaction.
pub async fn fail_job(
    db: &Db,
    id: Uuid,
    worker: &str,
    error: &str,
    retry_at: Option<i64>,
) -> Result<(), StorageError> {
    let mut tx = db.begin_relaxed_write().await?;
    if let Some(dead) = jobs::fail(&mut tx, id, worker, error, retry_at).await? {
        let data = serde_json::json!({"job_id": id, "kind": dead.kind, "error": dead.error});
        emit(&mut tx, "job.failed", None, None, &data).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Dead-letters jobs whose last allowed attempt never finished (the worker crashed or was
/// killed and the lease ran out), each with its `job.failed` event; a webhook message whose
/// last delivery never finished is marked failed (recoverable) rather than pending for ever.
/// Returns how many.
pub async fn dead_letter_abandoned(db: &Db) -> Result<u64, StorageError> {
    let mut tx = db.begin_relaxed_write().await?;
    let dead = jobs::dead_letter_abandoned(&mut tx).await?;
    webhooks::fail_abandoned_deliveries(&mut tx, &dead).await?;
    for job in &dead {
        let data = serde_json::json!({"job_id": job.id, "kind": job.kind, "error": "its last attempt never finished"});
        emit(&mut tx, "job.failed", None, None, &data).await?;
    }
    tx.commit().await?;
    Ok(dead.len() as u64)
}
