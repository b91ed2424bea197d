//! Outgoing webhooks: endpoints, the messages queued for them and the delivery log.
//!
//! [`fan_out`] runs inside the transaction that records an event: it writes one message per
//! subscribed endpoint (the application's outbox queues a delivery job per message in the same
//! transaction), so a rolled-back change sends nothing and a committed one is delivered at
//! least once, whatever crashes in between.

mod messages;

pub use messages::*;

use uuid::Uuid;

use crate::db::Arg;
use crate::{Db, StorageError, Tx, now_ms};

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

#[derive(Debug, Clone, PartialEq, Eq)]
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

crate::from_row!(Endpoint {
    id,
    vendor_id,
    url,
    description,
    event_types,
    status,
    disabled_reason,
    secret_version,
    failing_since,
    created_by,
    created_at,
    updated_at
});

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
    crate::sql::query_scalar(sql)
        .bind(owner.vendor_id())
        .fetch_one(&mut *tx)
        .await
}

pub async fn create(tx: &mut Tx, new: &NewEndpoint<'_>) -> Result<Endpoint, StorageError> {
    let now = now_ms();
    let sql = format!(
        "INSERT INTO webhook_endpoints (id, vendor_id, url, description, event_types, status, secret_version, \
         created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'enabled', 1, $6, $7, $7) \
         RETURNING {ENDPOINT_COLUMNS}"
    );
    crate::sql::query_as(sql)
        .bind(Uuid::now_v7())
        .bind(new.owner.vendor_id())
        .bind(new.url)
        .bind(new.description)
        .bind(new.event_types.join(" "))
        .bind(new.created_by)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
}

/// `owner`'s endpoints, oldest first (at most [`MAX_ENDPOINTS`]).
pub async fn list(db: &Db, owner: Owner) -> Result<Vec<Endpoint>, StorageError> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE {} ORDER BY id",
        owner.filter(1)
    );
    crate::sql::query_as(sql)
        .bind(owner.vendor_id())
        .fetch_all(db)
        .await
}

/// One of `owner`'s endpoints.
pub async fn get(db: &Db, owner: Owner, id: Uuid) -> Result<Option<Endpoint>, StorageError> {
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $2 AND {}",
        owner.filter(1)
    );
    crate::sql::query_as(sql)
        .bind(owner.vendor_id())
        .bind(id)
        .fetch_optional(db)
        .await
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
    crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_optional(&mut *tx)
        .await
}

/// Deletes one of `owner`'s endpoints with its messages and log; queued deliveries find
/// nothing to send.
pub async fn delete(tx: &mut Tx, owner: Owner, id: Uuid) -> Result<bool, StorageError> {
    let sql = format!(
        "DELETE FROM webhook_endpoints WHERE id = $2 AND {}",
        owner.filter(1)
    );
    let n = crate::sql::query(sql)
        .bind(owner.vendor_id())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Whether an endpoint belongs to a suspended vendor (its messages are held back: skipped, and
/// recoverable once the vendor is reinstated).
pub async fn owner_suspended(db: &Db, endpoint: &Endpoint) -> Result<bool, StorageError> {
    let Some(vendor_id) = endpoint.vendor_id else {
        return Ok(false);
    };
    let status: Option<String> =
        crate::sql::query_scalar("SELECT status FROM vendors WHERE id = $1")
            .bind(vendor_id)
            .fetch_optional(db)
            .await?;
    Ok(status.as_deref() == Some("suspended"))
}

/// Who is told when an endpoint is disabled: a vendor endpoint's vendor owners (whoever
/// created it, perhaps with an API key) — every member if the vendor has no owner — or the
/// admin who created a platform endpoint.
pub async fn owner_emails(tx: &mut Tx, endpoint_id: Uuid) -> Result<Vec<String>, StorageError> {
    crate::sql::query_scalar(
            "SELECT u.email FROM webhook_endpoints e JOIN vendor_members m ON m.vendor_id = e.vendor_id \
             AND (m.role = 'owner' OR NOT EXISTS (SELECT 1 FROM vendor_members o WHERE o.vendor_id = e.vendor_id AND o.role = 'owner')) \
             JOIN users u ON u.id = m.user_id WHERE e.id = $1 \
             UNION SELECT u.email FROM webhook_endpoints e JOIN users u ON u.id = e.created_by \
             WHERE e.id = $1 AND e.vendor_id IS NULL ORDER BY 1",
        )
        .bind(endpoint_id)
        .fetch_all(&mut *tx)
        .await
}
