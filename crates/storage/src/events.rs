//! The durable event log behind live streams: one row per change and audience, written in the
//! transaction of the change. Readers follow it by id (`after`), so a client that reconnects
//! with the last id it saw gets exactly what it missed. Events are written through
//! the application's outbox, which also queues their webhook deliveries in the same transaction.

use uuid::Uuid;

use crate::db::{Arg, Exec};
use crate::{Db, StorageError, Tx, now_ms};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub order_id: Option<Uuid>,
    /// `None`: for the order's customer and admins; `Some`: for this vendor only.
    pub vendor_id: Option<Uuid>,
    /// JSON.
    pub data: String,
    pub created_at: i64,
}

crate::from_row!(EventRow {
    id,
    kind,
    order_id,
    vendor_id,
    data,
    created_at
});

const EVENT_COLUMNS: &str = "id, kind, order_id, vendor_id, data, created_at";

/// Inserts one event row in `tx` (no webhook fan-out: the outbox adds that).
pub async fn insert(
    tx: &mut Tx,
    kind: &str,
    order_id: Option<Uuid>,
    vendor_id: Option<Uuid>,
    data: &serde_json::Value,
) -> Result<(), StorageError> {
    crate::sql::query("INSERT INTO events (kind, order_id, vendor_id, data, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(kind)
            .bind(order_id)
            .bind(vendor_id)
            .bind(data.to_string())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(())
}

/// Inserts an order event's rows in `tx`: one per audience (`None`: the customer and admins;
/// `Some(vendor)`: that vendor only).
pub async fn insert_order_rows(
    tx: &mut Tx,
    order_id: Uuid,
    kind: &str,
    rows: &[(Option<Uuid>, &serde_json::Value)],
) -> Result<(), StorageError> {
    let now = now_ms();
    let mut args = Vec::with_capacity(rows.len() * 5);
    for (vendor_id, data) in rows {
        args.extend([
            Arg::Text(kind.to_owned()),
            Arg::Uuid(order_id),
            Arg::OptUuid(*vendor_id),
            Arg::Text(data.to_string()),
            Arg::I64(now),
        ]);
    }
    let sql = format!(
        "INSERT INTO events (kind, order_id, vendor_id, data, created_at) VALUES {}",
        crate::db::values_placeholders(rows.len(), 5)
    );
    crate::sql::query(sql)
        .bind_all(args)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

/// Events after `cursor` (any audience), oldest first: what the process-wide poller reads.
pub async fn after(db: &Db, cursor: i64, limit: i64) -> Result<Vec<EventRow>, StorageError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2");
    crate::sql::query_as(sql)
        .bind(cursor)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// An order's events (every audience), oldest first, at most `limit`: its timeline. Events
/// older than the retention period have been purged; the audit log keeps who did what.
pub async fn of_order(db: &Db, order_id: Uuid, limit: i64) -> Result<Vec<EventRow>, StorageError> {
    let sql =
        format!("SELECT {EVENT_COLUMNS} FROM events WHERE order_id = $1 ORDER BY id LIMIT $2");
    crate::sql::query_as(sql)
        .bind(order_id)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// The newest events (every audience), newest first: the admin feed before it goes live.
pub async fn latest(db: &Db, limit: i64) -> Result<Vec<EventRow>, StorageError> {
    let sql = format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY id DESC LIMIT $1");
    crate::sql::query_as(sql).bind(limit).fetch_all(db).await
}

/// Ids of the events after `after` that are committed now, oldest first, at most `limit`.
pub async fn ids_after(db: &Db, after: i64, limit: i64) -> Result<Vec<i64>, StorageError> {
    crate::sql::query_scalar("SELECT id FROM events WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// The newest event id (0 when there is none): where a fresh poller starts.
pub async fn latest_id(db: &Db) -> Result<i64, StorageError> {
    Ok(
        crate::sql::query_scalar::<Option<i64>>("SELECT MAX(id) FROM events")
            .fetch_one(db)
            .await?
            .unwrap_or(0),
    )
}

/// Who a stream is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// One order's customer (the rows without a vendor).
    Order(Uuid),
    /// One vendor's rows.
    Vendor(Uuid),
    /// Platform admins: every row without a vendor.
    Admin,
}

impl Audience {
    pub fn admits(&self, e: &EventRow) -> bool {
        match self {
            Audience::Order(id) => e.vendor_id.is_none() && e.order_id == Some(*id),
            Audience::Vendor(id) => e.vendor_id == Some(*id),
            Audience::Admin => e.vendor_id.is_none(),
        }
    }
}

/// An audience's events after `cursor` and up to `upto`, created after `since_ms` (the replay
/// window), oldest first: what a reconnecting client missed.
pub async fn backlog(
    exec: Exec<'_>,
    audience: Audience,
    cursor: i64,
    upto: i64,
    since_ms: i64,
    limit: i64,
) -> Result<Vec<EventRow>, StorageError> {
    let (filter, id) = match audience {
        Audience::Order(id) => ("order_id = $4 AND vendor_id IS NULL", Some(id)),
        Audience::Vendor(id) => ("vendor_id = $4", Some(id)),
        Audience::Admin => ("vendor_id IS NULL AND $4 IS NULL", None),
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 AND created_at >= $2 AND {filter} AND id <= $5 ORDER BY id LIMIT $3"
    );
    crate::sql::query_as(sql)
        .bind(cursor)
        .bind(since_ms)
        .bind(limit)
        .bind(id)
        .bind(upto)
        .fetch_all(exec)
        .await
}

/// Forgets events created before `before_ms` (past the replay window).
pub async fn purge(db: &Db, before_ms: i64) -> Result<u64, StorageError> {
    db.purge("DELETE FROM events WHERE created_at < $1", before_ms)
        .await
}
