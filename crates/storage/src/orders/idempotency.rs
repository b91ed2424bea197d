//! The answers stored under checkout idempotency keys, so a retried request gets the same
//! answer and never a second order.

use uuid::Uuid;

use super::{CheckoutOutcome, CheckoutRequest};
use crate::{Db, StorageError, Tx, now_ms};

/// Stores the response a placed order's checkout answered with under its idempotency key (with
/// the order id, so a face that keeps no body can render its own replay), in the transaction
/// that placed it.
pub async fn store_checkout_response(
    tx: &mut Tx,
    req: &CheckoutRequest,
    status: u16,
    body: &str,
) -> Result<(), StorageError> {
    crate::sql::query(
            "INSERT INTO idempotency_keys (scope, key_hash, request_hash, response_status, response_body, order_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&req.scope)
        .bind(&req.key_hash)
        .bind(&req.request_hash)
        .bind(i64::from(status))
        .bind(body)
        .bind(req.order_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

pub(super) async fn stored_response(
    tx: &mut Tx,
    req: &CheckoutRequest,
) -> Result<Option<CheckoutOutcome>, StorageError> {
    let row: Option<(Vec<u8>, i64, String, Option<Uuid>)> = crate::sql::query_as(
        "SELECT request_hash, response_status, response_body, order_id FROM idempotency_keys \
             WHERE scope = $1 AND key_hash = $2",
    )
    .bind(&req.scope)
    .bind(&req.key_hash)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|(hash, status, body, order_id)| {
        if hash == req.request_hash {
            CheckoutOutcome::Replay {
                status: status as u16,
                body,
                order_id,
            }
        } else {
            CheckoutOutcome::KeyReused
        }
    }))
}

/// A stored idempotent response.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub response_status: i64,
    pub response_body: String,
    pub order_id: Option<Uuid>,
}

crate::from_row!(StoredResponse {
    request_hash,
    response_status,
    response_body,
    order_id
});

/// The stored response for a key, read outside any transaction (the fast path of a replay).
pub async fn idempotent_response(
    db: &Db,
    scope: &str,
    key_hash: &[u8],
) -> Result<Option<StoredResponse>, StorageError> {
    crate::sql::query_as(
        "SELECT request_hash, response_status, response_body, order_id FROM idempotency_keys \
             WHERE scope = $1 AND key_hash = $2",
    )
    .bind(scope)
    .bind(key_hash)
    .fetch_optional(db)
    .await
}

/// Forgets stored idempotent responses older than `before` (Unix ms).
pub async fn purge_idempotency_keys(db: &Db, before: i64) -> Result<u64, StorageError> {
    let mut tx = db.begin_write().await?;
    let n = crate::sql::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(before)
        .execute(&mut tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n)
}
