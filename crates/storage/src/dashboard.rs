//! The figures on the admin panel's home: what waits for someone, and sales by day. Each is
//! one indexed count or one range over `orders_placed`, so the page costs the same at any size
//! of shop except for the sales of the last 30 days themselves.

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
    /// Webhook endpoints failing now or disabled after failing.
    pub failing_endpoints: i64,
    /// Stock-tracked variants at or below the low-stock threshold, counted up to
    /// [`LOW_STOCK_COUNTED`] (a 100,000-product catalog has tens of thousands: 1 ms a view).
    pub low_stock_variants: i64,
}

pub async fn waiting(db: &Db) -> Result<Waiting, StorageError> {
    type Counts = (i64, i64, i64, i64, i64, i64);
    let (payment, ship, vendors, jobs, endpoints, low): Counts = crate::sql::query_as(
            "SELECT (SELECT COUNT(*) FROM orders WHERE status = 'pending_payment'), \
             (SELECT COUNT(*) FROM orders WHERE status IN ('paid', 'partially_fulfilled')), \
             (SELECT COUNT(*) FROM vendors WHERE status = 'pending'), \
             (SELECT COUNT(*) FROM jobs WHERE status = 'dead'), \
             (SELECT COUNT(*) FROM webhook_endpoints WHERE failing_since IS NOT NULL OR status = 'disabled'), \
             (SELECT COUNT(*) FROM (SELECT 1 FROM variants WHERE track_inventory AND stock <= 5 \
               LIMIT $1) AS low)",
        )
        .bind(LOW_STOCK_COUNTED)
        .fetch_one(db)
        .await?;
    Ok(Waiting {
        orders_awaiting_payment: payment,
        orders_to_ship: ship,
        vendors_awaiting_approval: vendors,
        failed_jobs: jobs,
        failing_endpoints: endpoints,
        low_stock_variants: low,
    })
}

/// Paid orders per UTC day since `since_ms`, oldest first: `(day number since the epoch,
/// count, sum of totals)`; days without sales are absent.
pub async fn sales_by_day(db: &Db, since_ms: i64) -> Result<Vec<(i64, i64, i64)>, StorageError> {
    crate::sql::query_as(
        "SELECT CAST(placed_at / 86400000 AS BIGINT) AS day, COUNT(*), \
             CAST(COALESCE(SUM(total), 0) AS BIGINT) FROM orders \
             WHERE placed_at >= $1 AND status NOT IN ('pending_payment', 'cancelled') \
             GROUP BY day ORDER BY day",
    )
    .bind(since_ms)
    .fetch_all(db)
    .await
}

/// What waits for a vendor: its parts of paid orders not shipped yet, and its stock-tracked
/// variants at or below the low-stock threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VendorWaiting {
    pub orders_to_ship: i64,
    pub orders_awaiting_payment: i64,
    pub low_stock_variants: i64,
}

/// Low-stock variants are counted up to [`LOW_STOCK_COUNTED`] (the page says "or more"):
/// counting every one of a 20,000-product shop's 6,000 cost 16 ms for a number nobody needs
/// exactly; the first hundred are found within a few hundred products.
pub const LOW_STOCK_COUNTED: i64 = 100;

pub async fn vendor_waiting(db: &Db, vendor_id: uuid::Uuid) -> Result<VendorWaiting, StorageError> {
    let (ship, payment, low): (i64, i64, i64) = crate::sql::query_as(
            "SELECT (SELECT COUNT(*) FROM vendor_orders vo JOIN orders o ON o.id = vo.order_id \
               WHERE vo.vendor_id = $1 AND vo.status = 'unfulfilled' \
               AND o.status IN ('paid', 'partially_fulfilled')), \
             (SELECT COUNT(*) FROM vendor_orders vo JOIN orders o ON o.id = vo.order_id \
               WHERE vo.vendor_id = $1 AND vo.status = 'unfulfilled' AND o.status = 'pending_payment'), \
             (SELECT COUNT(*) FROM (SELECT 1 FROM products p JOIN variants v ON v.product_id = p.id \
               WHERE p.vendor_id = $1 AND p.status <> 'archived' AND v.track_inventory AND v.stock <= 5 \
               LIMIT $2) AS low)",
        )
        .bind(vendor_id)
        .bind(LOW_STOCK_COUNTED)
        .fetch_one(db)
        .await?;
    Ok(VendorWaiting {
        orders_to_ship: ship,
        orders_awaiting_payment: payment,
        low_stock_variants: low,
    })
}

/// A vendor's paid parts of orders per UTC day since `since_ms`, oldest first: `(day number,
/// count, sum of the vendor orders' totals)`; days without sales are absent. Walks the
/// vendor's orders from the first one of the period (order ids grow with time).
pub async fn vendor_sales_by_day(
    db: &Db,
    vendor_id: uuid::Uuid,
    since_ms: i64,
) -> Result<Vec<(i64, i64, i64)>, StorageError> {
    crate::sql::query_as(
        "SELECT CAST(o.placed_at / 86400000 AS BIGINT) AS day, COUNT(*), \
             CAST(COALESCE(SUM(vo.total), 0) AS BIGINT) \
             FROM vendor_orders vo JOIN orders o ON o.id = vo.order_id \
             WHERE vo.vendor_id = $1 AND vo.order_id >= $2 AND o.placed_at >= $3 \
             AND o.status NOT IN ('pending_payment', 'cancelled') AND vo.status <> 'cancelled' \
             GROUP BY day ORDER BY day",
    )
    .bind(vendor_id)
    .bind(crate::orders::first_id_at(since_ms))
    .bind(since_ms)
    .fetch_all(db)
    .await
}
