//! Webhook messages: written per subscribed endpoint in the transaction of their event, then
//! delivered, logged per attempt, redelivered and recovered.

use souk_domain::webhooks::{VENDOR_ONLY_TYPES, is_event_type};
use uuid::Uuid;

use super::{ENDPOINT_COLUMNS, Endpoint};
use crate::db::Arg;
use crate::jobs::NewJob;
use crate::{Db, StorageError, Tx, now_ms};

/// One recorded event for one audience: `vendor_id` set for that vendor's copy.
pub struct Emitted<'a> {
    pub vendor_id: Option<Uuid>,
    pub data: &'a serde_json::Value,
}

/// Queues `kind` for every enabled endpoint subscribed to it, inside the event's transaction.
/// A vendor's endpoints get that vendor's copy only; platform endpoints get the platform copy,
/// or every vendor's copy of a vendor-only event type. Returns the ids of the messages
/// written, for the caller to queue their deliveries in the same transaction.
pub async fn fan_out(
    tx: &mut Tx,
    kind: &str,
    emitted: &[Emitted<'_>],
) -> Result<Vec<Uuid>, StorageError> {
    if !is_event_type(kind) || emitted.is_empty() {
        return Ok(Vec::new());
    }
    let mut vendors: Vec<Uuid> = emitted.iter().filter_map(|e| e.vendor_id).collect();
    vendors.sort_unstable();
    vendors.dedup();
    let mut args: Vec<Arg> = vendors.iter().map(|v| Arg::Uuid(*v)).collect();
    let vendor_filter = if vendors.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = (1..=vendors.len()).map(|n| format!("${n}")).collect();
        format!(" OR vendor_id IN ({})", list.join(", "))
    };
    // A suspended vendor's endpoints receive nothing.
    let sql = format!(
        "SELECT id, vendor_id, event_types FROM webhook_endpoints \
         WHERE status = 'enabled' AND (vendor_id IS NULL{vendor_filter}) \
         AND (vendor_id IS NULL OR vendor_id NOT IN (SELECT id FROM vendors WHERE status = 'suspended'))"
    );
    let endpoints: Vec<(Uuid, Option<Uuid>, String)> = crate::sql::query_as(sql)
        .bind_all(args.drain(..))
        .fetch_all(&mut *tx)
        .await?;
    let vendor_only = VENDOR_ONLY_TYPES.contains(&kind);
    let now = now_ms();
    let timestamp = souk_domain::time::rfc3339(now);
    // One event id per audience copy, shared by every endpoint that receives that copy.
    let bodies: Vec<String> = emitted
        .iter()
        .map(|e| {
            serde_json::json!({
                "id": format!("evt_{}", Uuid::now_v7().simple()),
                "type": kind,
                "timestamp": timestamp,
                "data": e.data,
            })
            .to_string()
        })
        .collect();
    let mut messages: Vec<(Uuid, Uuid, &str)> = Vec::new();
    for (endpoint_id, endpoint_vendor, types) in &endpoints {
        if !types.split_whitespace().any(|t| t == kind) {
            continue;
        }
        for (e, body) in emitted.iter().zip(&bodies) {
            let receives = match endpoint_vendor {
                Some(v) => e.vendor_id == Some(*v),
                None => e.vendor_id.is_none() || vendor_only,
            };
            if receives {
                messages.push((Uuid::now_v7(), *endpoint_id, body));
            }
        }
    }
    for chunk in messages.chunks(500) {
        let mut args = Vec::with_capacity(chunk.len() * 5);
        for (id, endpoint_id, body) in chunk {
            args.extend([
                Arg::Uuid(*id),
                Arg::Uuid(*endpoint_id),
                Arg::Text(kind.to_owned()),
                Arg::Text((*body).to_owned()),
                Arg::I64(now),
            ]);
        }
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let b = r * 5;
                format!(
                    "(${}, ${}, ${}, ${}, 'pending', 0, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO webhook_messages (id, endpoint_id, event_type, payload, status, attempts, created_at, updated_at) \
             VALUES {}",
            rows.join(", ")
        );
        crate::sql::query(sql)
            .bind_all(args)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    Ok(messages.iter().map(|(id, _, _)| *id).collect())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_type: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

crate::from_row!(Message {
    id,
    endpoint_id,
    event_type,
    payload,
    status,
    attempts,
    created_at,
    updated_at,
    delivered_at
});

const MESSAGE_COLUMNS: &str =
    "id, endpoint_id, event_type, payload, status, attempts, created_at, updated_at, delivered_at";

/// How many of an endpoint's messages wait to be delivered (its backlog).
pub async fn pending_count(db: &Db, endpoint_id: Uuid) -> Result<i64, StorageError> {
    crate::sql::query_scalar(
        "SELECT COUNT(*) FROM webhook_messages WHERE endpoint_id = $1 AND status = 'pending'",
    )
    .bind(endpoint_id)
    .fetch_one(db)
    .await
}

/// A message with its endpoint, for the delivery job.
pub async fn message_for_delivery(
    db: &Db,
    message_id: Uuid,
) -> Result<Option<(Message, Endpoint)>, StorageError> {
    let message: Option<Message> = {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE id = $1");
        crate::sql::query_as(sql)
            .bind(message_id)
            .fetch_optional(db)
            .await?
    };
    let Some(message) = message else {
        return Ok(None);
    };
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
    let endpoint: Option<Endpoint> = crate::sql::query_as(sql)
        .bind(message.endpoint_id)
        .fetch_optional(db)
        .await?;
    Ok(endpoint.map(|e| (message, e)))
}

/// An endpoint's messages, newest first; `before` continues a page.
pub async fn messages(
    db: &Db,
    endpoint_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Message>, StorageError> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE endpoint_id = $1 \
         AND ($2 IS NULL OR id < $2) AND ($3 IS NULL OR status = $3) ORDER BY id DESC LIMIT $4"
    );
    crate::sql::query_as(sql)
        .bind(endpoint_id)
        .bind(before)
        .bind(status)
        .bind(limit)
        .fetch_all(db)
        .await
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: Uuid,
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
    pub attempt: i64,
    /// `None`: no HTTP response (refused, timed out, blocked address).
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub response_snippet: Option<String>,
    pub latency_ms: i64,
    pub created_at: i64,
}

crate::from_row!(Attempt {
    id,
    message_id,
    endpoint_id,
    attempt,
    status_code,
    error,
    response_snippet,
    latency_ms,
    created_at
});

/// An endpoint's delivery log, newest first, optionally for one message.
pub async fn attempts(
    db: &Db,
    endpoint_id: Uuid,
    message_id: Option<Uuid>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Attempt>, StorageError> {
    let sql = "SELECT id, message_id, endpoint_id, attempt, status_code, error, response_snippet, latency_ms, created_at \
               FROM webhook_attempts WHERE endpoint_id = $1 AND ($2 IS NULL OR message_id = $2) \
               AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4";
    crate::sql::query_as(sql)
        .bind(endpoint_id)
        .bind(message_id)
        .bind(before)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Queues one of an endpoint's messages again (same message id, so receivers that already
/// have it can tell) with `job`, the job that delivers it. `None` if there is no such message.
pub async fn redeliver(
    tx: &mut Tx,
    endpoint_id: Uuid,
    message_id: Uuid,
    job: &NewJob,
) -> Result<Option<Uuid>, StorageError> {
    let now = now_ms();
    // A finished message goes back to pending here, once: of two redeliveries at the same
    // time, the second finds it pending (PostgreSQL re-checks after the row lock) and only
    // brings the queued job forward, so the message is not sent twice.
    let reset: Option<Uuid> = crate::sql::query_scalar(
        "UPDATE webhook_messages SET status = 'pending', updated_at = $3 \
             WHERE id = $1 AND endpoint_id = $2 AND status <> 'pending' RETURNING id",
    )
    .bind(message_id)
    .bind(endpoint_id)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    if reset.is_none() {
        let exists: Option<Uuid> = crate::sql::query_scalar(
            "SELECT id FROM webhook_messages WHERE id = $1 AND endpoint_id = $2",
        )
        .bind(message_id)
        .bind(endpoint_id)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Ok(None);
        }
    }
    if reset.is_none() {
        // Still waiting for a retry: bring that job forward rather than queue a second one.
        let moved = crate::sql::query(
                "UPDATE jobs SET run_at = $3, updated_at = $3 WHERE kind = $1 AND payload = $2 AND status = 'pending'",
            )
            .bind(&job.kind)
            .bind(job.payload.to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved > 0 {
            return Ok(Some(message_id));
        }
        // Being sent right now, with attempts left: that attempt delivers it or schedules its
        // retry; a second job would send it twice. (A last attempt, or one whose worker died,
        // may end without either: then a new job is queued.)
        let running: i64 = crate::sql::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND payload = $2 AND status = 'running' \
                 AND locked_until >= $3 AND attempts < max_attempts",
        )
        .bind(&job.kind)
        .bind(job.payload.to_string())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if running > 0 {
            return Ok(Some(message_id));
        }
    }
    crate::jobs::enqueue(tx, job).await?;
    Ok(Some(message_id))
}

/// Writes a `webhook.test` message for one endpoint, whatever its event filter. Returns the
/// message id, for the caller to queue its delivery in the same transaction.
pub async fn queue_test(tx: &mut Tx, endpoint_id: Uuid) -> Result<Uuid, StorageError> {
    let now = now_ms();
    let id = Uuid::now_v7();
    let body = serde_json::json!({
        "id": format!("evt_{}", Uuid::now_v7().simple()),
        "type": TEST_EVENT,
        "timestamp": souk_domain::time::rfc3339(now),
        "data": {"endpoint_id": endpoint_id, "message": "a test event from Souk"},
    })
    .to_string();
    crate::sql::query(
            "INSERT INTO webhook_messages (id, endpoint_id, event_type, payload, status, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(id)
        .bind(endpoint_id)
        .bind(TEST_EVENT)
        .bind(body)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(id)
}

/// The event type of test messages (sent on request, never by a change).
pub const TEST_EVENT: &str = "webhook.test";

/// Messages re-queued by one recovery call at most.
pub const RECOVER_MAX: i64 = 1000;

/// Puts back to pending an endpoint's `failed` and `skipped` messages created at or after
/// `since_ms`, oldest first, at most [`RECOVER_MAX`]. Returns their ids, for the caller to
/// queue their deliveries in the same transaction.
pub async fn recover(
    tx: &mut Tx,
    endpoint_id: Uuid,
    since_ms: i64,
) -> Result<Vec<Uuid>, StorageError> {
    let now = now_ms();
    let ids: Vec<Uuid> = crate::sql::query_scalar(
            "SELECT id FROM webhook_messages WHERE endpoint_id = $1 AND status IN ('failed', 'skipped') \
             AND created_at >= $2 ORDER BY id LIMIT $3",
        )
        .bind(endpoint_id)
        .bind(since_ms)
        .bind(RECOVER_MAX)
        .fetch_all(&mut *tx)
        .await?;
    let mut recovered = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let list: Vec<String> = (2..chunk.len() + 2).map(|n| format!("${n}")).collect();
        // Only messages still failed or skipped: a concurrent recovery or redelivery that got
        // there first (PostgreSQL re-checks the condition after waiting for its row lock)
        // already queued them, so nothing is sent twice.
        let sql = format!(
            "UPDATE webhook_messages SET status = 'pending', updated_at = $1 WHERE id IN ({}) \
             AND status IN ('failed', 'skipped') RETURNING id",
            list.join(", ")
        );
        let mut args = vec![Arg::I64(now)];
        args.extend(chunk.iter().map(|id| Arg::Uuid(*id)));
        let reset: Vec<Uuid> = crate::sql::query_scalar(sql)
            .bind_all(args)
            .fetch_all(&mut *tx)
            .await?;
        recovered.extend(reset);
    }
    Ok(recovered)
}

/// What one HTTP attempt gave.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub message_id: Uuid,
    pub endpoint_id: Uuid,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    pub response_snippet: Option<String>,
    pub latency_ms: i64,
    pub delivered: bool,
    /// No attempt will follow (a failure on the last attempt).
    pub last: bool,
}

/// What recording an attempt changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    WillRetry,
    /// The message will not be tried again.
    GaveUp,
    /// The endpoint had been failing for longer than allowed and is now disabled.
    EndpointDisabled,
}

/// Logs an attempt and updates the message and the endpoint's health, in `tx`. A failure on an
/// endpoint failing since more than `disable_after_ms` ago disables the endpoint.
pub async fn record_attempt(
    tx: &mut Tx,
    record: &AttemptRecord,
    disable_after_ms: i64,
) -> Result<AfterAttempt, StorageError> {
    let now = now_ms();
    let status = if record.delivered {
        "delivered"
    } else if record.last {
        "failed"
    } else {
        "pending"
    };
    let attempt: i64 = crate::sql::query_scalar(
        "UPDATE webhook_messages SET attempts = attempts + 1, status = $2, updated_at = $3, \
             delivered_at = CASE WHEN $2 = 'delivered' THEN $3 ELSE delivered_at END \
             WHERE id = $1 RETURNING attempts",
    )
    .bind(record.message_id)
    .bind(status)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?
    .unwrap_or(1);
    crate::sql::query(
            "INSERT INTO webhook_attempts (id, message_id, endpoint_id, attempt, status_code, error, response_snippet, \
             latency_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::now_v7())
        .bind(record.message_id)
        .bind(record.endpoint_id)
        .bind(attempt)
        .bind(record.status_code)
        .bind(record.error.as_deref())
        .bind(record.response_snippet.as_deref())
        .bind(record.latency_ms.max(0))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if record.delivered {
        crate::sql::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
                .bind(record.endpoint_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        return Ok(AfterAttempt::Delivered);
    }
    let failing_since: Option<Option<i64>> = crate::sql::query_scalar(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1 AND status = 'enabled' \
             RETURNING failing_since",
        )
        .bind(record.endpoint_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(Some(since)) = failing_since
        && now - since >= disable_after_ms
    {
        let reason = format!(
            "every delivery failed for {} hours (last: {})",
            (now - since) / 3_600_000,
            record.status_code.map_or_else(
                || record.error.clone().unwrap_or_default(),
                |c| format!("HTTP {c}")
            )
        );
        crate::sql::query(
                "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(record.endpoint_id)
            .bind(reason.chars().take(500).collect::<String>())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        // This message is not tried again (its owner can redeliver it once the endpoint works).
        crate::sql::query(
            "UPDATE webhook_messages SET status = 'failed' WHERE id = $1 AND status = 'pending'",
        )
        .bind(record.message_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        return Ok(AfterAttempt::EndpointDisabled);
    }
    Ok(if record.last {
        AfterAttempt::GaveUp
    } else {
        AfterAttempt::WillRetry
    })
}

/// Marks a message that will not be sent (its endpoint is disabled).
pub async fn skip(db: &Db, message_id: Uuid) -> Result<(), StorageError> {
    let mut tx = db.begin_relaxed_write().await?;
    crate::sql::query("UPDATE webhook_messages SET status = 'skipped', updated_at = $2 WHERE id = $1 AND status = 'pending'")
            .bind(message_id)
            .bind(now_ms())
            .execute(&mut tx)
            .await?
            .rows_affected();
    tx.commit().await?;
    Ok(())
}

/// Forgets finished messages (and their log) created before `before_ms`.
pub async fn purge(db: &Db, before_ms: i64) -> Result<u64, StorageError> {
    db.purge(
        "DELETE FROM webhook_messages WHERE created_at < $1 AND status <> 'pending'",
        before_ms,
    )
    .await
}

/// Marks failed (recoverable) the pending messages `ids`, whose delivery jobs were
/// dead-lettered because their last attempt never finished, rather than leaving them pending
/// for ever.
pub async fn fail_abandoned_messages(tx: &mut Tx, ids: &[Uuid]) -> Result<(), StorageError> {
    let now = now_ms();
    for id in ids {
        crate::sql::query("UPDATE webhook_messages SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'pending'")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
    }
    Ok(())
}
