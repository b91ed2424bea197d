//! Outgoing webhooks: endpoints, the messages queued for them and the delivery log.
//!
//! [`fan_out`] runs inside the transaction that records an event: it writes one message per
//! subscribed endpoint and one delivery job per message, so a rolled-back change sends nothing
//! and a committed one is delivered at least once, whatever crashes in between.

use souk_domain::webhooks::{VENDOR_ONLY_TYPES, is_event_type};
use uuid::Uuid;

use crate::db::Arg;
use crate::jobs::{NewJob, ScheduledJob};
use crate::{Db, StorageError, Tx, now_ms};

pub use souk_domain::webhooks::{DELIVERY_JOB, DELIVERY_MAX_ATTEMPTS, DeliveryJob};
/// Endpoints per owner (a vendor, or the platform).
pub const MAX_ENDPOINTS: i64 = 20;

/// Whose an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A vendor's: it receives that vendor's events only.
    Vendor(Uuid),
    /// The platform's (admins): it receives every event.
    Platform,
}

impl Owner {
    fn vendor_id(self) -> Option<Uuid> {
        match self {
            Owner::Vendor(id) => Some(id),
            Owner::Platform => None,
        }
    }

    /// SQL condition on `vendor_id` for this owner, binding `$n` when it is a vendor.
    fn filter(self, n: usize) -> String {
        match self {
            Owner::Vendor(_) => format!("vendor_id = ${n}"),
            Owner::Platform => format!("vendor_id IS NULL AND ${n} IS NULL"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Endpoint {
    pub id: Uuid,
    pub vendor_id: Option<Uuid>,
    pub url: String,
    pub description: String,
    /// Space-separated.
    pub event_types: String,
    pub status: String,
    pub disabled_reason: Option<String>,
    pub secret_version: i64,
    pub failing_since: Option<i64>,
    pub created_by: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    pub fn event_list(&self) -> Vec<&str> {
        self.event_types.split_whitespace().collect()
    }

    pub fn subscribes_to(&self, kind: &str) -> bool {
        self.event_types.split_whitespace().any(|t| t == kind)
    }

    pub fn enabled(&self) -> bool {
        self.status == "enabled"
    }
}

const ENDPOINT_COLUMNS: &str = "id, vendor_id, url, description, event_types, status, disabled_reason, \
     secret_version, failing_since, created_by, created_at, updated_at";

pub struct NewEndpoint<'a> {
    pub owner: Owner,
    pub url: &'a str,
    pub description: &'a str,
    pub event_types: &'a [String],
    pub created_by: Uuid,
}

/// How many endpoints `owner` has.
pub async fn count(tx: &mut Tx, owner: Owner) -> Result<i64, StorageError> {
    let sql = format!(
        "SELECT COUNT(*) FROM webhook_endpoints WHERE {}",
        owner.filter(1)
    );
    Ok(on_tx!(tx, conn => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(owner.vendor_id()).fetch_one(&mut *conn).await?
    }))
}

pub async fn create(tx: &mut Tx, new: &NewEndpoint<'_>) -> Result<Endpoint, StorageError> {
    let now = now_ms();
    let sql = format!(
        "INSERT INTO webhook_endpoints (id, vendor_id, url, description, event_types, status, secret_version, \
         created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'enabled', 1, $6, $7, $7) \
         RETURNING {ENDPOINT_COLUMNS}"
    );
    Ok(on_tx!(tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Uuid::now_v7())
            .bind(new.owner.vendor_id())
            .bind(new.url)
            .bind(new.description)
            .bind(new.event_types.join(" "))
            .bind(new.created_by)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?
    }))
}

/// `owner`'s endpoints, oldest first (at most [`MAX_ENDPOINTS`]).
pub async fn list(db: &Db, owner: Owner) -> Result<Vec<Endpoint>, StorageError> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {} ORDER BY id",
        owner.filter(1)
    );
    Ok(on_reader!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(owner.vendor_id()).fetch_all(pool).await?
    }))
}

/// One of `owner`'s endpoints.
pub async fn get(db: &Db, owner: Owner, id: Uuid) -> Result<Option<Endpoint>, StorageError> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $2 AND {}",
        owner.filter(1)
    );
    Ok(on_reader!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(owner.vendor_id()).bind(id).fetch_optional(pool).await?
    }))
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// `Some(true)` re-enables (and forgets past failures); `Some(false)` disables.
    pub enabled: Option<bool>,
    /// A new secret: the version goes up by one.
    pub rotate_secret: bool,
}

/// Applies `changes` to one of `owner`'s endpoints; `None` if there is no such endpoint.
pub async fn update(
    tx: &mut Tx,
    owner: Owner,
    id: Uuid,
    changes: &EndpointChanges,
) -> Result<Option<Endpoint>, StorageError> {
    let mut sets = vec!["updated_at = $3".to_owned()];
    let mut args = vec![
        Arg::OptUuid(owner.vendor_id()),
        Arg::Uuid(id),
        Arg::I64(now_ms()),
    ];
    if let Some(url) = &changes.url {
        args.push(Arg::Text(url.clone()));
        sets.push(format!("url = ${}", args.len()));
    }
    if let Some(description) = &changes.description {
        args.push(Arg::Text(description.clone()));
        sets.push(format!("description = ${}", args.len()));
    }
    if let Some(types) = &changes.event_types {
        args.push(Arg::Text(types.join(" ")));
        sets.push(format!("event_types = ${}", args.len()));
    }
    match changes.enabled {
        Some(true) => {
            sets.push("status = 'enabled', disabled_reason = NULL, failing_since = NULL".to_owned())
        }
        Some(false) => sets.push(
            "status = 'disabled', disabled_reason = 'disabled by its owner', failing_since = NULL"
                .to_owned(),
        ),
        None => {}
    }
    if changes.rotate_secret {
        sets.push("secret_version = secret_version + 1".to_owned());
    }
    let sql = format!(
        "UPDATE webhook_endpoints SET {} WHERE id = $2 AND {} RETURNING {ENDPOINT_COLUMNS}",
        sets.join(", "),
        owner.filter(1)
    );
    Ok(on_tx!(tx, conn => {
        bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), args).fetch_optional(&mut *conn).await?
    }))
}

/// Deletes one of `owner`'s endpoints with its messages and log; queued deliveries find
/// nothing to send.
pub async fn delete(tx: &mut Tx, owner: Owner, id: Uuid) -> Result<bool, StorageError> {
    let sql = format!(
        "DELETE FROM webhook_endpoints WHERE id = $2 AND {}",
        owner.filter(1)
    );
    let n = on_tx!(tx, conn => {
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(owner.vendor_id()).bind(id).execute(&mut *conn).await?.rows_affected()
    });
    Ok(n == 1)
}

/// One recorded event for one audience: `vendor_id` set for that vendor's copy.
pub struct Emitted<'a> {
    pub vendor_id: Option<Uuid>,
    pub data: &'a serde_json::Value,
}

/// Queues `kind` for every enabled endpoint subscribed to it, inside the event's transaction.
/// A vendor's endpoints get that vendor's copy only; platform endpoints get the platform copy,
/// or every vendor's copy of a vendor-only event type. Returns the messages queued.
pub async fn fan_out(
    tx: &mut Tx,
    kind: &str,
    emitted: &[Emitted<'_>],
) -> Result<usize, StorageError> {
    if !is_event_type(kind) || emitted.is_empty() {
        return Ok(0);
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
    let endpoints: Vec<(Uuid, Option<Uuid>, String)> = on_tx!(&mut *tx, conn => {
        bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), args.drain(..)).fetch_all(&mut *conn).await?
    });
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
        on_tx!(&mut *tx, conn => {
            bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args).execute(&mut *conn).await?.rows_affected()
        });
        let jobs: Vec<ScheduledJob> = chunk
            .iter()
            .map(|(id, _, _)| delivery_job(*id, now))
            .collect();
        crate::jobs::enqueue_many(tx, &jobs).await?;
    }
    Ok(messages.len())
}

fn delivery_job(message_id: Uuid, run_at: i64) -> ScheduledJob {
    ScheduledJob {
        job: NewJob {
            kind: DELIVERY_JOB.to_owned(),
            payload: serde_json::to_value(DeliveryJob { message_id }).expect("serializes"),
            max_attempts: DELIVERY_MAX_ATTEMPTS,
        },
        run_at,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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

const MESSAGE_COLUMNS: &str =
    "id, endpoint_id, event_type, payload, status, attempts, created_at, updated_at, delivered_at";

/// Whether an endpoint belongs to a suspended vendor (its messages are held back: skipped, and
/// recoverable once the vendor is reinstated).
pub async fn owner_suspended(db: &Db, endpoint: &Endpoint) -> Result<bool, StorageError> {
    let Some(vendor_id) = endpoint.vendor_id else {
        return Ok(false);
    };
    let status: Option<String> = on_reader!(db, pool => {
        sqlx::query_scalar("SELECT status FROM vendors WHERE id = $1").bind(vendor_id).fetch_optional(pool).await?
    });
    Ok(status.as_deref() == Some("suspended"))
}

/// How many of an endpoint's messages wait to be delivered (its backlog).
pub async fn pending_count(db: &Db, endpoint_id: Uuid) -> Result<i64, StorageError> {
    Ok(on_reader!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM webhook_messages WHERE endpoint_id = $1 AND status = 'pending'")
            .bind(endpoint_id)
            .fetch_one(pool)
            .await?
    }))
}

/// A message with its endpoint, for the delivery job.
pub async fn message_for_delivery(
    db: &Db,
    message_id: Uuid,
) -> Result<Option<(Message, Endpoint)>, StorageError> {
    let message: Option<Message> = {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM webhook_messages WHERE id = $1");
        on_reader!(db, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(message_id).fetch_optional(pool).await?
        })
    };
    let Some(message) = message else {
        return Ok(None);
    };
    let sql = format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1");
    let endpoint: Option<Endpoint> = on_reader!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(message.endpoint_id).fetch_optional(pool).await?
    });
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
    Ok(on_reader!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(endpoint_id)
            .bind(before)
            .bind(status)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
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
    Ok(on_reader!(db, pool => {
        sqlx::query_as(sql)
            .bind(endpoint_id)
            .bind(message_id)
            .bind(before)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// Queues one of an endpoint's messages again (same message id, so receivers that already
/// have it can tell). `None` if there is no such message.
pub async fn redeliver(
    tx: &mut Tx,
    endpoint_id: Uuid,
    message_id: Uuid,
) -> Result<Option<Uuid>, StorageError> {
    let now = now_ms();
    // A finished message goes back to pending here, once: of two redeliveries at the same
    // time, the second finds it pending (PostgreSQL re-checks after the row lock) and only
    // brings the queued job forward, so the message is not sent twice.
    let reset: Option<Uuid> = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar(
            "UPDATE webhook_messages SET status = 'pending', updated_at = $3 \
             WHERE id = $1 AND endpoint_id = $2 AND status <> 'pending' RETURNING id",
        )
        .bind(message_id)
        .bind(endpoint_id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
    });
    if reset.is_none() {
        let exists: Option<Uuid> = on_tx!(&mut *tx, conn => {
            sqlx::query_scalar("SELECT id FROM webhook_messages WHERE id = $1 AND endpoint_id = $2")
                .bind(message_id)
                .bind(endpoint_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        if exists.is_none() {
            return Ok(None);
        }
    }
    let job = delivery_job(message_id, now);
    if reset.is_none() {
        // Still waiting for a retry: bring that job forward rather than queue a second one.
        let moved = on_tx!(&mut *tx, conn => {
            sqlx::query(
                "UPDATE jobs SET run_at = $3, updated_at = $3 WHERE kind = $1 AND payload = $2 AND status = 'pending'",
            )
            .bind(DELIVERY_JOB)
            .bind(job.job.payload.to_string())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if moved > 0 {
            return Ok(Some(message_id));
        }
        // Being sent right now, with attempts left: that attempt delivers it or schedules its
        // retry; a second job would send it twice. (A last attempt, or one whose worker died,
        // may end without either: then a new job is queued.)
        let running: i64 = on_tx!(&mut *tx, conn => {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM jobs WHERE kind = $1 AND payload = $2 AND status = 'running' \
                 AND locked_until >= $3 AND attempts < max_attempts",
            )
            .bind(DELIVERY_JOB)
            .bind(job.job.payload.to_string())
            .bind(now)
            .fetch_one(&mut *conn)
            .await?
        });
        if running > 0 {
            return Ok(Some(message_id));
        }
    }
    crate::jobs::enqueue(tx, &job.job).await?;
    Ok(Some(message_id))
}

/// Queues a `webhook.test` message for one endpoint, whatever its event filter. Returns the
/// message id.
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
    on_tx!(&mut *tx, conn => {
        sqlx::query(
            "INSERT INTO webhook_messages (id, endpoint_id, event_type, payload, status, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)",
        )
        .bind(id)
        .bind(endpoint_id)
        .bind(TEST_EVENT)
        .bind(body)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    crate::jobs::enqueue_many(tx, &[delivery_job(id, now)]).await?;
    Ok(id)
}

/// The event type of test messages (sent on request, never by a change).
pub const TEST_EVENT: &str = "webhook.test";

/// Messages re-queued by one recovery call at most.
pub const RECOVER_MAX: i64 = 1000;

/// Queues again an endpoint's `failed` and `skipped` messages created at or after `since_ms`,
/// oldest first, at most [`RECOVER_MAX`]. Returns how many were queued.
pub async fn recover(tx: &mut Tx, endpoint_id: Uuid, since_ms: i64) -> Result<usize, StorageError> {
    let now = now_ms();
    let ids: Vec<Uuid> = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar(
            "SELECT id FROM webhook_messages WHERE endpoint_id = $1 AND status IN ('failed', 'skipped') \
             AND created_at >= $2 ORDER BY id LIMIT $3",
        )
        .bind(endpoint_id)
        .bind(since_ms)
        .bind(RECOVER_MAX)
        .fetch_all(&mut *conn)
        .await?
    });
    let mut queued = 0;
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
        let reset: Vec<Uuid> = on_tx!(&mut *tx, conn => {
            bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), args).fetch_all(&mut *conn).await?
        });
        let jobs: Vec<ScheduledJob> = reset.iter().map(|id| delivery_job(*id, now)).collect();
        crate::jobs::enqueue_many(tx, &jobs).await?;
        queued += reset.len();
    }
    Ok(queued)
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
    let attempt: i64 = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar(
            "UPDATE webhook_messages SET attempts = attempts + 1, status = $2, updated_at = $3, \
             delivered_at = CASE WHEN $2 = 'delivered' THEN $3 ELSE delivered_at END \
             WHERE id = $1 RETURNING attempts",
        )
        .bind(record.message_id)
        .bind(status)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
        .unwrap_or(1)
    });
    on_tx!(&mut *tx, conn => {
        sqlx::query(
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
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    if record.delivered {
        on_tx!(&mut *tx, conn => {
            sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
                .bind(record.endpoint_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        return Ok(AfterAttempt::Delivered);
    }
    let failing_since: Option<Option<i64>> = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1 AND status = 'enabled' \
             RETURNING failing_since",
        )
        .bind(record.endpoint_id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
    });
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
        on_tx!(&mut *tx, conn => {
            sqlx::query(
                "UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(record.endpoint_id)
            .bind(reason.chars().take(500).collect::<String>())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        // This message is not tried again (its owner can redeliver it once the endpoint works).
        on_tx!(&mut *tx, conn => {
            sqlx::query("UPDATE webhook_messages SET status = 'failed' WHERE id = $1 AND status = 'pending'")
                .bind(record.message_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
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
    on_tx!(&mut tx, conn => {
        sqlx::query("UPDATE webhook_messages SET status = 'skipped', updated_at = $2 WHERE id = $1 AND status = 'pending'")
            .bind(message_id)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    tx.commit().await?;
    Ok(())
}

/// Who is told when an endpoint is disabled: a vendor endpoint's vendor owners (whoever
/// created it, perhaps with an API key) — every member if the vendor has no owner — or the
/// admin who created a platform endpoint.
pub async fn owner_emails(tx: &mut Tx, endpoint_id: Uuid) -> Result<Vec<String>, StorageError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query_scalar(
            "SELECT u.email FROM webhook_endpoints e JOIN vendor_members m ON m.vendor_id = e.vendor_id \
             AND (m.role = 'owner' OR NOT EXISTS (SELECT 1 FROM vendor_members o WHERE o.vendor_id = e.vendor_id AND o.role = 'owner')) \
             JOIN users u ON u.id = m.user_id WHERE e.id = $1 \
             UNION SELECT u.email FROM webhook_endpoints e JOIN users u ON u.id = e.created_by \
             WHERE e.id = $1 AND e.vendor_id IS NULL ORDER BY 1",
        )
        .bind(endpoint_id)
        .fetch_all(&mut *conn)
        .await?
    }))
}

/// Forgets finished messages (and their log) created before `before_ms`.
pub async fn purge(db: &Db, before_ms: i64) -> Result<u64, StorageError> {
    db.purge(
        "DELETE FROM webhook_messages WHERE created_at < $1 AND status <> 'pending'",
        before_ms,
    )
    .await
}

/// Marks failed (recoverable) the messages whose delivery jobs were dead-lettered because their
/// last attempt never finished, rather than leaving them pending for ever.
pub async fn fail_abandoned_deliveries(
    tx: &mut Tx,
    dead: &[crate::jobs::DeadJob],
) -> Result<(), StorageError> {
    let now = now_ms();
    for job in dead.iter().filter(|j| j.kind == DELIVERY_JOB) {
        let Ok(delivery) = serde_json::from_str::<DeliveryJob>(&job.payload) else {
            continue;
        };
        on_tx!(&mut *tx, conn => {
            sqlx::query("UPDATE webhook_messages SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'pending'")
                .bind(delivery.message_id)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
    }
    Ok(())
}
