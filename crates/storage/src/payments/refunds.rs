//! Refunds: opened against what is refundable (whole, an amount, a vendor order, given lines),
//! sent to the provider by a job, and booked once when done — the order's refunded amount and
//! status, each vendor order's share and the ledger reversals.

use souk_domain::orders::{OrderEvent, OrderStatus};
use souk_domain::payments::{VendorShare, split_refund, split_refund_to};
use uuid::Uuid;

use super::ProviderPaymentRow;
use crate::db::{Arg, Exec};
use crate::dialect::for_update;
use crate::{StorageError, Tx, now_ms};

#[derive(Debug, Clone)]
pub struct RefundRow {
    pub id: Uuid,
    pub order_id: Uuid,
    /// The vendor order the refund is aimed at (`None`: spread over all of them).
    pub vendor_order_id: Option<Uuid>,
    pub provider: String,
    pub provider_ref: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub status: String,
    pub created_by: Option<Uuid>,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(RefundRow {
    id,
    order_id,
    vendor_order_id,
    provider,
    provider_ref,
    amount,
    currency,
    reason,
    status,
    created_by,
    created_at,
    updated_at
});

const REFUND_COLUMNS: &str = "id, order_id, vendor_order_id, provider, provider_ref, amount, currency, reason, status, \
     created_by, created_at, updated_at";

impl RefundRow {
    /// The idempotency key sent to the provider for this refund.
    pub fn idempotency_key(&self) -> String {
        format!("souk-refund-{}", self.id)
    }
}

/// Why a refund cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundError {
    NotFound,
    /// The order's status does not allow refunds (nothing paid yet).
    NotRefundable {
        status: String,
    },
    /// More than what was paid and not yet refunded (or being refunded).
    TooMuch {
        refundable: i64,
    },
    /// The idempotency key was used before for another amount or vendor order.
    KeyReused,
    /// The vendor order aimed at is not one of this order's.
    NoSuchVendorOrder,
    /// The `index`th line of a refund aimed at lines cannot be refunded so (not a line of the
    /// order, of another vendor order than the rest, named twice, or more units than are left).
    Line {
        index: usize,
        message: String,
    },
    /// The amount given with lines is not what those units are worth.
    AmountNotLines {
        worth: i64,
    },
}

/// The refund an order already has under an idempotency key.
pub(super) async fn refund_by_key(
    tx: &mut Tx,
    order_id: Uuid,
    key: &[u8],
) -> Result<Option<RefundRow>, StorageError> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 AND key_hash = $2");
    crate::sql::query_as(sql)
        .bind(order_id)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
}

pub async fn refunds_of(exec: Exec<'_>, order_id: Uuid) -> Result<Vec<RefundRow>, StorageError> {
    let sql =
        format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 ORDER BY created_at, id");
    crate::sql::query_as(sql)
        .bind(order_id)
        .fetch_all(exec)
        .await
}

pub async fn refund(exec: Exec<'_>, id: Uuid) -> Result<Option<RefundRow>, StorageError> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(exec)
        .await
}

/// Opens a refund of `amount` (pending until the provider confirms it). With a `key_hash`, a
/// repeated request returns the refund it opened before (`true`) instead of a second one.
pub async fn begin_refund(
    tx: &mut Tx,
    order_id: Uuid,
    amount: i64,
    reason: &str,
    key_hash: Option<Vec<u8>>,
    created_by: Option<Uuid>,
) -> Result<Result<(RefundRow, bool), RefundError>, StorageError> {
    begin_refund_to(tx, order_id, None, amount, reason, key_hash, created_by).await
}

/// [`begin_refund`], optionally aimed at one vendor order of the order (`target`): the amount
/// must then fit what that vendor order can still give back.
pub async fn begin_refund_to(
    tx: &mut Tx,
    order_id: Uuid,
    target: Option<Uuid>,
    amount: i64,
    reason: &str,
    key_hash: Option<Vec<u8>>,
    created_by: Option<Uuid>,
) -> Result<Result<(RefundRow, bool), RefundError>, StorageError> {
    let lock = for_update(tx.backend());
    let sql = format!(
        "SELECT status, paid_amount, refunded_amount, currency, payment_method FROM orders WHERE id = $1{lock}"
    );
    let order: Option<(String, i64, i64, String, String)> = crate::sql::query_as(sql)
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((status, paid, refunded, currency, provider)) = order else {
        return Ok(Err(RefundError::NotFound));
    };
    if let Some(key) = &key_hash
        && let Some(existing) = refund_by_key(tx, order_id, key).await?
    {
        return Ok(
            if existing.amount == amount && existing.vendor_order_id == target {
                Ok((existing, true))
            } else {
                Err(RefundError::KeyReused)
            },
        );
    }
    let allowed = OrderStatus::parse(&status)
        .is_some_and(|s| s.next(OrderEvent::Refund { full: false }).is_some());
    if !allowed || paid == 0 {
        return Ok(Err(RefundError::NotRefundable { status }));
    }
    let pending: i64 = crate::sql::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE order_id = $1 AND status = 'pending'",
        )
        .bind(order_id)
        .fetch_one(&mut *tx)
        .await?;
    let mut refundable = paid - refunded - pending;
    if let Some(target) = target {
        let part: Option<(i64, i64)> = crate::sql::query_as(
            "SELECT total, refunded FROM vendor_orders WHERE id = $1 AND order_id = $2",
        )
        .bind(target)
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((total, part_refunded)) = part else {
            return Ok(Err(RefundError::NoSuchVendorOrder));
        };
        let pending_here: i64 = crate::sql::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds \
                 WHERE vendor_order_id = $1 AND status = 'pending'",
        )
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
        refundable = refundable.min(total - part_refunded - pending_here);
    }
    if amount > refundable {
        return Ok(Err(RefundError::TooMuch {
            refundable: refundable.max(0),
        }));
    }
    let now = now_ms();
    let sql = format!(
        "INSERT INTO refunds (id, order_id, vendor_order_id, provider, amount, currency, reason, status, key_hash, created_by, created_at, updated_at) \
         VALUES ($1, $2, $10, $3, $4, $5, $6, 'pending', $7, $8, $9, $9) RETURNING {REFUND_COLUMNS}"
    );
    let row: RefundRow = crate::sql::query_as(sql)
        .bind(Uuid::now_v7())
        .bind(order_id)
        .bind(provider)
        .bind(amount)
        .bind(currency)
        .bind(reason)
        .bind(key_hash)
        .bind(created_by)
        .bind(now)
        .bind(target)
        .fetch_one(&mut *tx)
        .await?;
    Ok(Ok((row, false)))
}

/// Marks a refund done (once) and books it: the order's refunded amount and status, each
/// vendor order's share, and — if vendors had earned from the order — ledger reversals of
/// earning and commission in proportion. Returns the order's new status, or `None` if the
/// refund was already complete.
pub async fn complete_refund(
    tx: &mut Tx,
    refund_id: Uuid,
    provider_ref: Option<&str>,
) -> Result<Option<OrderStatus>, StorageError> {
    let now = now_ms();
    let sql = format!(
        "UPDATE refunds SET status = 'succeeded', provider_ref = COALESCE($2, provider_ref), updated_at = $3 \
         WHERE id = $1 AND status = 'pending' RETURNING {REFUND_COLUMNS}"
    );
    let done: Option<RefundRow> = crate::sql::query_as(sql)
        .bind(refund_id)
        .bind(provider_ref)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(refund) = done else {
        return Ok(None);
    };
    book_refund(
        tx,
        refund.order_id,
        refund.vendor_order_id,
        refund.amount,
        now,
    )
    .await
    .map(Some)
}

/// A refund the provider reports that Souk did not ask for (made in the provider's
/// dashboard): `total_refunded` is the provider's cumulative figure for the payment; whatever
/// exceeds what Souk knows of is recorded and booked now.
pub async fn record_provider_refunds(
    tx: &mut Tx,
    payment: &ProviderPaymentRow,
    total_refunded: i64,
    provider_refund_ref: Option<&str>,
) -> Result<Option<OrderStatus>, StorageError> {
    let known: i64 = crate::sql::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE order_id = $1 AND status <> 'failed'",
        )
        .bind(payment.order_id)
        .fetch_one(&mut *tx)
        .await?;
    let extra = total_refunded.min(payment.amount) - known;
    if extra <= 0 {
        return Ok(None);
    }
    let key = format!("provider-refund-{}-{total_refunded}", payment.id).into_bytes();
    match begin_refund(tx, payment.order_id, extra, "provider", Some(key), None).await? {
        Ok((refund, _)) => {
            // A provider refund id already booked under another refund would collide; keep
            // the id only if it is new.
            let taken: Option<Uuid> = crate::sql::query_scalar(
                "SELECT id FROM refunds WHERE provider = $1 AND provider_ref = $2",
            )
            .bind(&payment.provider)
            .bind(provider_refund_ref)
            .fetch_optional(&mut *tx)
            .await?;
            let reference = if taken.is_some() {
                None
            } else {
                provider_refund_ref
            };
            complete_refund(tx, refund.id, reference).await
        }
        Err(e) => {
            tracing::warn!(order = %payment.order_id, error = ?e, "provider refund not bookable");
            Ok(None)
        }
    }
}

/// A refund that failed at the provider: it no longer holds back the refundable amount.
pub async fn fail_refund(tx: &mut Tx, refund_id: Uuid) -> Result<bool, StorageError> {
    let n = crate::sql::query("UPDATE refunds SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'pending'")
            .bind(refund_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(n == 1)
}

async fn book_refund(
    tx: &mut Tx,
    order_id: Uuid,
    target: Option<Uuid>,
    amount: i64,
    now: i64,
) -> Result<OrderStatus, StorageError> {
    // The order row stays locked (PostgreSQL) until commit: two refunds completing at once add
    // up instead of the second overwriting the first's total.
    let sql = format!(
        "SELECT status, paid_amount, refunded_amount, paid_at, currency FROM orders WHERE id = $1{}",
        for_update(tx.backend())
    );
    let (status, paid, refunded, paid_at, currency): (String, i64, i64, Option<i64>, String) =
        crate::sql::query_as(sql)
            .bind(order_id)
            .fetch_one(&mut *tx)
            .await?;
    let refunded = refunded + amount;
    let current = OrderStatus::parse(&status).unwrap_or(OrderStatus::Cancelled);
    let next = current
        .next(OrderEvent::Refund {
            full: refunded >= paid,
        })
        .unwrap_or(current);
    crate::sql::query(
        "UPDATE orders SET refunded_amount = $2, status = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(order_id)
    .bind(refunded)
    .bind(next.as_str())
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if paid_at.is_none() {
        return Ok(next); // nobody earned from this order: nothing to reverse
    }
    let parts: Vec<(Uuid, Uuid, i64, i64, i64)> = crate::sql::query_as(
            "SELECT id, vendor_id, total, commission, refunded FROM vendor_orders WHERE order_id = $1 ORDER BY id",
        )
        .bind(order_id)
        .fetch_all(&mut *tx)
        .await?;
    let shares: Vec<VendorShare> = parts
        .iter()
        .map(|(_, _, total, commission, refunded)| VendorShare {
            total: *total,
            commission: *commission,
            refunded: *refunded,
        })
        .collect();
    let split = match target.and_then(|t| parts.iter().position(|(id, ..)| *id == t)) {
        Some(index) => split_refund_to(amount, &shares, index),
        None => split_refund(amount, &shares),
    };
    let Some(splits) = split else {
        return Err(StorageError::Conflict(
            "refund exceeds what the vendor orders can give back".to_owned(),
        ));
    };
    // Reversals lower vendor balances: take the vendor rows' locks, in id order, as a payout
    // does (`ledger::record_payout`), so a payout never draws on money being refunded. `NO KEY`:
    // rows that only reference a vendor (orders, ledger entries) can still be inserted meanwhile.
    let mut vendors: Vec<Uuid> = parts.iter().map(|(_, vendor, ..)| *vendor).collect();
    vendors.sort();
    vendors.dedup();
    if let Tx::Postgres(pg) = &mut *tx {
        sqlx::query("SELECT id FROM vendors WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE")
            .bind(&vendors)
            .fetch_all(&mut **pg)
            .await?;
    }
    let mut args = Vec::new();
    let mut rows = 0;
    for ((vo, vendor, ..), split) in parts.iter().zip(&splits) {
        if split.amount == 0 {
            continue;
        }
        crate::sql::query("UPDATE vendor_orders SET refunded = refunded + $2 WHERE id = $1")
            .bind(vo)
            .bind(split.amount)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for (kind, value) in [
            ("earning_reversal", split.earning_reversal),
            ("commission_reversal", split.commission_reversal),
        ] {
            if value == 0 {
                continue;
            }
            rows += 1;
            args.extend([
                Arg::Uuid(Uuid::now_v7()),
                Arg::Uuid(*vendor),
                Arg::Uuid(order_id),
                Arg::Uuid(*vo),
                Arg::Text(kind.to_owned()),
                Arg::I64(-value),
                Arg::Text(currency.clone()),
                Arg::I64(now),
            ]);
        }
    }
    if rows > 0 {
        let sql = format!(
            "INSERT INTO ledger_entries (id, vendor_id, order_id, vendor_order_id, kind, amount, currency, created_at) VALUES {}",
            crate::db::values_placeholders(rows, 8)
        );
        crate::sql::query(sql)
            .bind_all(args)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    Ok(next)
}

/// Refunds still waiting for the provider, older than `older_than_ms`.
pub async fn pending_refunds(
    exec: Exec<'_>,
    older_than_ms: i64,
    limit: i64,
) -> Result<Vec<RefundRow>, StorageError> {
    let sql = format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE status = 'pending' AND created_at < $1 ORDER BY created_at LIMIT $2"
    );
    crate::sql::query_as(sql)
        .bind(now_ms() - older_than_ms)
        .bind(limit)
        .fetch_all(exec)
        .await
}

/// Remembers the provider's id of a refund it is still processing.
pub async fn set_refund_ref(
    tx: &mut Tx,
    refund_id: Uuid,
    reference: &str,
) -> Result<(), StorageError> {
    crate::sql::query("UPDATE refunds SET provider_ref = $2, updated_at = $3 WHERE id = $1 AND provider_ref IS NULL")
            .bind(refund_id)
            .bind(reference)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(())
}

/// A payment never created at the provider, for an order that was cancelled: closed here.
pub async fn cancel_unsent(tx: &mut Tx, payment_id: Uuid) -> Result<(), StorageError> {
    crate::sql::query(
        "UPDATE provider_payments SET state = 'canceled', updated_at = $2 \
             WHERE id = $1 AND provider_ref IS NULL AND state NOT IN ('succeeded', 'canceled')",
    )
    .bind(payment_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(())
}
