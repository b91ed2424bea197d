//! The figures on the admin panel's home: what waits for someone, and sales by period. Each is
//! one indexed count or one range over `orders_placed`, so the page costs the same at any size
//! of shop except for the sales of the period itself.

use crate::{Db, StorageError};

/// What waits for a platform admin (or a vendor) to act.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waiting {
    pub orders_awaiting_payment: i64,
    /// Paid, not every vendor shipped yet.
    pub orders_to_ship: i64,
    pub vendors_awaiting_approval: i64,
    /// Jobs that gave up (dead-lettered): an email never sent, a webhook never delivered.
    pub failed_jobs: i64,
}

pub async fn waiting(db: &Db) -> Result<Waiting, StorageError> {
    let (payment, ship, vendors, jobs): (i64, i64, i64, i64) = on_reader!(db, pool => {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM orders WHERE status = 'pending_payment'), \
             (SELECT COUNT(*) FROM orders WHERE status IN ('paid', 'partially_fulfilled')), \
             (SELECT COUNT(*) FROM vendors WHERE status = 'pending'), \
             (SELECT COUNT(*) FROM jobs WHERE status = 'dead')",
        )
        .fetch_one(pool)
        .await?
    });
    Ok(Waiting {
        orders_awaiting_payment: payment,
        orders_to_ship: ship,
        vendors_awaiting_approval: vendors,
        failed_jobs: jobs,
    })
}

/// Orders placed since `since_ms` that were paid (paid, shipped, completed or refunded later),
/// and what they came to: `(count, sum of totals)`.
pub async fn sales_since(db: &Db, since_ms: i64) -> Result<(i64, i64), StorageError> {
    Ok(on_reader!(db, pool => {
        sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(total), 0) AS BIGINT) FROM orders \
             WHERE placed_at >= $1 AND status NOT IN ('pending_payment', 'cancelled')",
        )
        .bind(since_ms)
        .fetch_one(pool)
        .await?
    }))
}
