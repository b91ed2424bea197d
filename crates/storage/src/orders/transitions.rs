//! The order's state transitions (payment, cancellation, completion), each a conditional
//! update on the current status so it happens at most once however many callers race.

use souk_domain::orders::{OrderEvent, OrderStatus};
use uuid::Uuid;

use super::{ORDER_COLUMNS, OrderRow};
use crate::db::Arg;
use crate::{StorageError, Tx, now_ms};

/// Why a transition did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    NotFound,
    /// Not allowed from the current status.
    InvalidState {
        status: String,
    },
    /// A payment that is not the amount due.
    AmountMismatch {
        due: i64,
    },
}

/// Records a payment and moves the order to `paid`, once: the status check and the update are
/// one statement, so concurrent confirmations (admin, provider webhook, shopper) pay it once.
/// Writes the vendors' earnings and the platform's commission to the ledger.
pub async fn mark_paid(
    tx: &mut Tx,
    order_id: Uuid,
    provider: &str,
    amount: i64,
    reference: &str,
    recorded_by: Option<Uuid>,
) -> Result<Result<OrderRow, TransitionError>, StorageError> {
    let now = now_ms();
    let from = status_list(OrderEvent::Pay);
    let sql = format!(
        "UPDATE orders SET status = 'paid', paid_amount = total, paid_at = $2, updated_at = $2 \
         WHERE id = $1 AND total = $3 AND status IN ({from}) RETURNING {}",
        ORDER_COLUMNS.replace("o.", "")
    );
    let updated: Option<OrderRow> = crate::sql::query_as(sql)
        .bind(order_id)
        .bind(now)
        .bind(amount)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(order) = updated else {
        let current: Option<(String, i64)> =
            crate::sql::query_as("SELECT status, total FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
        return Ok(Err(match current {
            None => TransitionError::NotFound,
            Some((status, total)) if status == "pending_payment" && total != amount => {
                TransitionError::AmountMismatch { due: total }
            }
            Some((status, _)) => TransitionError::InvalidState { status },
        }));
    };
    crate::sql::query(
            "INSERT INTO payments (id, order_id, provider, amount, currency, reference, recorded_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::now_v7())
        .bind(order_id)
        .bind(provider)
        .bind(amount)
        .bind(&order.currency)
        .bind(reference)
        .bind(recorded_by)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    let parts: Vec<(Uuid, Uuid, i64, i64)> = crate::sql::query_as(
        "SELECT id, vendor_id, total, commission FROM vendor_orders WHERE order_id = $1",
    )
    .bind(order_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut args = Vec::new();
    for (vo, vendor, total, fee) in &parts {
        for (kind, amount) in [("earning", total - fee), ("commission", *fee)] {
            args.extend([
                Arg::Uuid(Uuid::now_v7()),
                Arg::Uuid(*vendor),
                Arg::Uuid(order_id),
                Arg::Uuid(*vo),
                Arg::Text(kind.to_owned()),
                Arg::I64(amount),
                Arg::Text(order.currency.clone()),
                Arg::I64(now),
            ]);
        }
    }
    if !parts.is_empty() {
        let sql = format!(
            "INSERT INTO ledger_entries (id, vendor_id, order_id, vendor_order_id, kind, amount, currency, created_at) VALUES {}",
            crate::db::values_placeholders(parts.len() * 2, 8)
        );
        crate::sql::query(sql)
            .bind_all(args)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    Ok(Ok(order))
}

fn status_list(event: OrderEvent) -> String {
    OrderStatus::allowing(event)
        .into_iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Cancels an unpaid order and gives its stock and coupon use back — exactly once, because
/// only the transaction whose conditional update moved the status does the restoring.
/// (A paid order is refunded instead: payments and refunds come with the payment providers.)
pub async fn cancel(
    tx: &mut Tx,
    order_id: Uuid,
    reason: &str,
) -> Result<Result<OrderRow, TransitionError>, StorageError> {
    let now = now_ms();
    let sql = format!(
        "UPDATE orders SET status = 'cancelled', cancelled_at = $2, updated_at = $2, cancel_reason = $3 \
         WHERE id = $1 AND status = 'pending_payment' RETURNING {}",
        ORDER_COLUMNS.replace("o.", "")
    );
    let updated: Option<OrderRow> = crate::sql::query_as(sql)
        .bind(order_id)
        .bind(now)
        .bind(reason)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(order) = updated else {
        let status: Option<String> =
            crate::sql::query_scalar("SELECT status FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
        return Ok(Err(match status {
            None => TransitionError::NotFound,
            Some(status) => TransitionError::InvalidState { status },
        }));
    };
    {
        crate::sql::query(
            "UPDATE variants SET stock = stock + (SELECT SUM(l.quantity) FROM order_lines l \
               WHERE l.order_id = $1 AND l.stock_reserved AND l.variant_id = variants.id) \
             WHERE id IN (SELECT variant_id FROM order_lines WHERE order_id = $1 AND stock_reserved)",
        )
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        crate::sql::query("UPDATE vendor_orders SET status = 'cancelled' WHERE order_id = $1")
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
        if let Some(code) = &order.coupon_code {
            crate::sql::query(
                "UPDATE coupons SET uses = uses - 1, updated_at = $2 WHERE code = $1 AND uses > 0",
            )
            .bind(code)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            crate::sql::query("DELETE FROM coupon_redemptions WHERE order_id = $1")
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
        }
        0u64
    };
    Ok(Ok(order))
}

/// Moves a fulfilled order to `completed`.
pub async fn complete(
    tx: &mut Tx,
    order_id: Uuid,
) -> Result<Result<(), TransitionError>, StorageError> {
    let now = now_ms();
    let n = {
        // Fulfilled; or partially refunded with every vendor order that was not cancelled
        // shipped (a refund does not keep a shipped order open forever).
        crate::sql::query(
            "UPDATE orders SET status = 'completed', updated_at = $2 WHERE id = $1 AND (status = 'fulfilled' \
             OR (status = 'partially_refunded' \
                 AND EXISTS (SELECT 1 FROM vendor_orders v WHERE v.order_id = $1 AND v.status = 'fulfilled') \
                 AND NOT EXISTS (SELECT 1 FROM vendor_orders v WHERE v.order_id = $1 AND v.status = 'unfulfilled')))",
        )
            .bind(order_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    };
    if n == 1 {
        return Ok(Ok(()));
    }
    let status: Option<String> =
        crate::sql::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(Err(match status {
        None => TransitionError::NotFound,
        Some(status) => TransitionError::InvalidState { status },
    }))
}
