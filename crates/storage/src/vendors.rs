//! Vendors as accounts: applications, membership, moderation.

use uuid::Uuid;

use crate::catalog::VendorRecord;
use crate::db::Arg;
use crate::{Db, StorageError, Tx, now_ms};

/// Creates a pending vendor owned by `user_id`. A taken handle, or a user who already belongs to
/// a vendor, is a unique violation (see [`StorageError::is_unique_violation`]).
pub async fn apply(
    tx: &mut Tx,
    user_id: Uuid,
    handle: &str,
    name: &str,
) -> Result<VendorRecord, StorageError> {
    let now = now_ms();
    let record = VendorRecord {
        id: Uuid::now_v7(),
        handle: handle.to_owned(),
        name: name.to_owned(),
        status: "pending".to_owned(),
    };
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO vendors (id, handle, name, status, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $4)")
            .bind(record.id)
            .bind(handle)
            .bind(name)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        sqlx::query("INSERT INTO vendor_members (vendor_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(record.id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(record)
}

/// A vendor's profile as its staff edit it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VendorProfileRecord {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub description: String,
    pub status: String,
}

pub async fn profile(
    db: &Db,
    vendor_id: Uuid,
) -> Result<Option<VendorProfileRecord>, StorageError> {
    Ok(on_reader!(db, pool => {
        sqlx::query_as("SELECT id, handle, name, description, status FROM vendors WHERE id = $1")
            .bind(vendor_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// Changes a vendor's name and/or description; a new name is also written into the search
/// index of every product of the vendor, in the same transaction (shoppers find a shop's
/// products by its name).
pub async fn update_profile(
    tx: &mut Tx,
    vendor_id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<Option<VendorProfileRecord>, StorageError> {
    let now = now_ms();
    let row: Option<VendorProfileRecord> = on_tx!(tx, conn => {
        sqlx::query_as(
            "UPDATE vendors SET name = COALESCE($2, name), description = COALESCE($3, description), updated_at = $4 \
             WHERE id = $1 RETURNING id, handle, name, description, status",
        )
        .bind(vendor_id)
        .bind(name)
        .bind(description)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?
    });
    if let (Some(row), Some(_)) = (&row, name) {
        crate::catalog::reindex_vendor_name(tx, vendor_id, &row.name).await?;
    }
    Ok(row)
}

/// Makes `user_id` a member of `vendor_id` with `role` (`owner` or `staff`).
pub async fn add_member(
    tx: &mut Tx,
    vendor_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<(), StorageError> {
    let now = now_ms();
    on_tx!(tx, conn => {
        sqlx::query("INSERT INTO vendor_members (vendor_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)")
            .bind(vendor_id)
            .bind(user_id)
            .bind(role)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(())
}

pub async fn is_member_anywhere(db: &Db, user_id: Uuid) -> Result<bool, StorageError> {
    let found: Option<i64> = on_reader!(db, pool => {
        sqlx::query_scalar("SELECT 1 FROM vendor_members WHERE user_id = $1").bind(user_id).fetch_optional(pool).await?
    });
    Ok(found.is_some())
}

/// Sets a vendor's status; returns the vendor, or `None` if there is no such vendor.
pub async fn set_status(
    tx: &mut Tx,
    id: Uuid,
    status: &str,
) -> Result<Option<VendorRecord>, StorageError> {
    Ok(on_tx!(tx, conn => {
        sqlx::query_as("UPDATE vendors SET status = $2, updated_at = $3 WHERE id = $1 RETURNING id, handle, name, status")
            .bind(id)
            .bind(status)
            .bind(now_ms())
            .fetch_optional(&mut *conn)
            .await?
    }))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct VendorAdminRecord {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub status: String,
    pub created_at: i64,
    pub owner_email: Option<String>,
}

/// Vendors, newest first, optionally of one status.
pub async fn list(
    db: &Db,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<VendorAdminRecord>, StorageError> {
    let mut filters = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    if let Some(s) = status {
        args.push(Arg::Text(s.to_owned()));
        filters.push(format!("v.status = ${}", args.len()));
    }
    if let Some(b) = before {
        args.push(Arg::Uuid(b));
        filters.push(format!("v.id < ${}", args.len()));
    }
    args.push(Arg::I64(limit));
    let sql = format!(
        "SELECT v.id, v.handle, v.name, v.status, v.created_at, \
         (SELECT u.email FROM vendor_members m JOIN users u ON u.id = m.user_id WHERE m.vendor_id = v.id AND m.role = 'owner' LIMIT 1) AS owner_email \
         FROM vendors v WHERE {} ORDER BY v.id DESC LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    Ok(on_reader!(db, pool => {
        bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), args).fetch_all(pool).await?
    }))
}

/// Where a vendor's notifications go: its owners' addresses (staff if it has no owner).
pub async fn notification_emails(db: &Db, vendor_id: Uuid) -> Result<Vec<String>, StorageError> {
    Ok(on_reader!(db, pool => {
        sqlx::query_scalar(
            "SELECT u.email FROM vendor_members m JOIN users u ON u.id = m.user_id \
             WHERE m.vendor_id = $1 ORDER BY (m.role = 'owner') DESC, m.created_at LIMIT 5",
        )
        .bind(vendor_id)
        .fetch_all(pool)
        .await?
    }))
}
