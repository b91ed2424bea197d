//! API keys: long-lived credentials for integrations, scoped, revocable, stored hashed.

use uuid::Uuid;

use crate::{Db, StorageError, Tx, now_ms};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: Uuid,
    pub name: String,
    /// Comma-separated scopes.
    pub scopes: String,
    pub vendor_id: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

crate::from_row!(ApiKey {
    id,
    name,
    scopes,
    vendor_id,
    created_by,
    created_at,
    last_used_at
});

impl ApiKey {
    pub fn scope_list(&self) -> Vec<&str> {
        self.scopes.split(',').filter(|s| !s.is_empty()).collect()
    }
}

pub async fn create(
    tx: &mut Tx,
    hash: &[u8],
    name: &str,
    scopes: &[String],
    vendor_id: Option<Uuid>,
    created_by: Uuid,
) -> Result<ApiKey, StorageError> {
    let key = ApiKey {
        id: Uuid::now_v7(),
        name: name.to_owned(),
        scopes: scopes.join(","),
        vendor_id,
        created_by,
        created_at: now_ms(),
        last_used_at: None,
    };
    crate::sql::query(
            "INSERT INTO api_keys (id, token_hash, name, scopes, vendor_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.id)
        .bind(hash)
        .bind(&key.name)
        .bind(&key.scopes)
        .bind(vendor_id)
        .bind(created_by)
        .bind(key.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(key)
}

/// The live (not revoked) key with this hash.
pub async fn by_hash(db: &Db, hash: &[u8]) -> Result<Option<ApiKey>, StorageError> {
    crate::sql::query_as(
        "SELECT id, name, scopes, vendor_id, created_by, created_at, last_used_at FROM api_keys \
             WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash)
    .fetch_optional(db)
    .await
}

/// A key that is not revoked, by id.
pub async fn live_by_id(db: &Db, id: Uuid) -> Result<Option<ApiKey>, StorageError> {
    crate::sql::query_as(
        "SELECT id, name, scopes, vendor_id, created_by, created_at, last_used_at FROM api_keys \
             WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn touch(db: &Db, id: Uuid) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    crate::sql::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now_ms())
        .execute(&mut tx)
        .await?
        .rows_affected();
    tx.commit().await
}

pub async fn list(db: &Db) -> Result<Vec<ApiKey>, StorageError> {
    crate::sql::query_as(
        "SELECT id, name, scopes, vendor_id, created_by, created_at, last_used_at FROM api_keys \
             WHERE revoked_at IS NULL ORDER BY id DESC LIMIT 1000",
    )
    .fetch_all(db)
    .await
}

/// Revokes a key; false if there is no such live key.
pub async fn revoke(tx: &mut Tx, id: Uuid) -> Result<bool, StorageError> {
    let n = crate::sql::query(
        "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}
