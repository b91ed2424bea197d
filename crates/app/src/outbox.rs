//! The transactional outbox: what a change tells the world is written in the change's own
//! transaction — its events (the live streams' log) and, for each, the webhook messages of the
//! endpoints subscribed to it with their delivery jobs. Commit, and all of it is there to be
//! relayed; roll back, and none of it happened.
//!
//! This module is where the event log, webhook fan-out and the job queue meet, so none of
//! storage's modules imports another: `events` writes rows, `webhooks` writes the messages of
//! subscribed endpoints, the generic queue takes their delivery jobs from here. Storage's
//! transitions return what they changed; the use case that ran one records its event here.
//! A job that gives up is itself an event (`job.failed`), recorded here with its failure.

use souk_domain::orders::OrderStatus;
use souk_storage::jobs::ScheduledJob;
use souk_storage::orders::{LowStock, OrderDetail};
use souk_storage::webhooks::Emitted;
use souk_storage::{Db, StorageError, Tx, events, jobs, now_ms, orders, webhooks};
use uuid::Uuid;

use crate::jobs::{DeliveryJob, WEBHOOK_DELIVERY_JOB, delivery_job};

/// Writes the messages of the endpoints subscribed to `kind` and queues their deliveries.
async fn fan_out(tx: &mut Tx, kind: &str, emitted: &[Emitted<'_>]) -> Result<(), StorageError> {
    let messages = webhooks::fan_out(tx, kind, emitted).await?;
    queue_deliveries(tx, &messages).await
}

/// Queues a delivery job for each webhook message in `ids`, due now.
pub async fn queue_deliveries(tx: &mut Tx, ids: &[Uuid]) -> Result<(), StorageError> {
    let now = now_ms();
    for chunk in ids.chunks(500) {
        let jobs: Vec<ScheduledJob> = chunk.iter().map(|id| delivery_job(*id, now)).collect();
        jobs::enqueue_many(tx, &jobs).await?;
    }
    Ok(())
}

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
    fan_out(tx, kind, &[Emitted { vendor_id, data }]).await?;
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
    let parts = orders::vendor_order_statuses(tx, order_id).await?;
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
    fan_out(tx, kind, &emitted).await?;
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

/// The events of a placed order: `order.created` for everyone concerned, and `stock.low` for
/// the vendor of each variant the order took down to the threshold.
pub async fn order_placed(
    tx: &mut Tx,
    order: &OrderDetail,
    low_stock: &[LowStock],
) -> Result<(), StorageError> {
    let id = order.order.id;
    order_status_event(tx, id, "order.created", &order.order.status).await?;
    for low in low_stock {
        let data = serde_json::json!({"variant_id": low.variant_id, "sku": low.sku,
            "product_title": low.product_title, "stock": low.stock});
        emit(tx, "stock.low", None, Some(low.vendor_id), &data).await?;
    }
    Ok(())
}

/// The event of an order paid (once, by the transition that paid it).
pub async fn order_paid(tx: &mut Tx, order_id: Uuid) -> Result<(), StorageError> {
    order_status_event(tx, order_id, "order.paid", "paid").await
}

/// The event of a refund booked on `order_id`, which left the order `status`.
pub async fn refund_booked(
    tx: &mut Tx,
    order_id: Uuid,
    status: OrderStatus,
) -> Result<(), StorageError> {
    let kind = if status == OrderStatus::Refunded {
        "order.refunded"
    } else {
        "order.partially_refunded"
    };
    order_status_event(tx, order_id, kind, status.as_str()).await
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
    let messages: Vec<Uuid> = dead
        .iter()
        .filter(|job| job.kind == WEBHOOK_DELIVERY_JOB)
        .filter_map(|job| serde_json::from_str::<DeliveryJob>(&job.payload).ok())
        .map(|delivery| delivery.message_id)
        .collect();
    webhooks::fail_abandoned_messages(&mut tx, &messages).await?;
    for job in &dead {
        let data = serde_json::json!({"job_id": job.id, "kind": job.kind, "error": "its last attempt never finished"});
        emit(&mut tx, "job.failed", None, None, &data).await?;
    }
    tx.commit().await?;
    Ok(dead.len() as u64)
}
