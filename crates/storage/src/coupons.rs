//! Coupons, created by admins. Uses are counted by checkout with a conditional update.

use uuid::Uuid;

use crate::carts::{COUPON_COLUMNS, CouponRow};
use crate::{Db, StorageError, Tx, now_ms};

#[derive(Debug, Clone)]
pub struct NewCoupon {
    pub code: String,
    pub kind: String,
    pub value: i64,
    pub min_subtotal: i64,
    pub starts_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub per_customer_limit: Option<i64>,
}

/// Creates a coupon; a taken code is a unique violation.
pub async fn create(tx: &mut Tx, c: &NewCoupon) -> Result<CouponRow, StorageError> {
    let now = now_ms();
    let id = Uuid::now_v7();
    crate::sql::query(
            "INSERT INTO coupons (id, code, kind, value, min_subtotal, starts_at, expires_at, max_uses, \
             per_customer_limit, uses, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, TRUE, $10, $10)",
        )
        .bind(id)
        .bind(&c.code)
        .bind(&c.kind)
        .bind(c.value)
        .bind(c.min_subtotal)
        .bind(c.starts_at)
        .bind(c.expires_at)
        .bind(c.max_uses)
        .bind(c.per_customer_limit)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(CouponRow {
        id,
        code: c.code.clone(),
        kind: c.kind.clone(),
        value: c.value,
        min_subtotal: c.min_subtotal,
        starts_at: c.starts_at,
        expires_at: c.expires_at,
        max_uses: c.max_uses,
        per_customer_limit: c.per_customer_limit,
        uses: 0,
        active: true,
        created_at: now,
    })
}

pub async fn list(db: &Db) -> Result<Vec<CouponRow>, StorageError> {
    let sql =
        format!("SELECT {COUPON_COLUMNS} FROM coupons ORDER BY created_at DESC, id LIMIT 1000");
    crate::sql::query_as(sql).fetch_all(db).await
}

pub async fn by_code(db: &Db, code: &str) -> Result<Option<CouponRow>, StorageError> {
    let sql = format!("SELECT {COUPON_COLUMNS} FROM coupons WHERE code = $1");
    crate::sql::query_as(sql)
        .bind(code)
        .fetch_optional(db)
        .await
}

/// Turns a coupon on or off; false when there is no such coupon.
pub async fn set_active(
    tx: &mut Tx,
    id: Uuid,
    active: bool,
) -> Result<Option<CouponRow>, StorageError> {
    let sql = format!(
        "UPDATE coupons SET active = $2, updated_at = $3 WHERE id = $1 RETURNING {COUPON_COLUMNS}"
    );
    crate::sql::query_as(sql)
        .bind(id)
        .bind(active)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await
}
