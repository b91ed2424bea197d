//! Refunds aimed at given lines: each unit is worth its share of the line's total (so every
//! unit, refunded in any steps, gives back exactly the line's total), and units are reserved
//! while their refund is pending so none is refunded twice.

use uuid::Uuid;

use super::{RefundError, RefundRow, begin_refund_to, refund_by_key};
use crate::db::Exec;
use crate::dialect::for_update;
use crate::{StorageError, Tx};

/// Units of one order line a refund gives money back for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundLine {
    pub line_id: Uuid,
    pub quantity: i64,
}

/// What `units` more units of a line are worth when `before` were refunded already: the
/// line's total spread over its units so that refunding every unit, in any steps, gives back
/// exactly the line's total (floor of the running share).
pub fn units_worth(line_total: i64, quantity: i64, before: i64, units: i64) -> i64 {
    let share =
        |n: i64| (i128::from(line_total) * i128::from(n) / i128::from(quantity.max(1))) as i64;
    share(before + units) - share(before)
}

/// Opens a refund aimed at order lines (all of one vendor order): the amount is what the units
/// are worth (line totals, tax and discount included; shipping is refunded by amount). With
/// `declared`, the caller's amount must be exactly that. Idempotent by `key_hash` like
/// [`begin_refund`].
#[allow(clippy::too_many_arguments)]
pub async fn begin_line_refund(
    tx: &mut Tx,
    order_id: Uuid,
    target: Option<Uuid>,
    lines: &[RefundLine],
    declared: Option<i64>,
    reason: &str,
    key_hash: Option<Vec<u8>>,
    created_by: Option<Uuid>,
) -> Result<Result<(RefundRow, bool), RefundError>, StorageError> {
    let lock = for_update(tx.backend());
    let sql = format!("SELECT id FROM orders WHERE id = $1{lock}");
    let found: Option<Uuid> = crate::sql::query_scalar(sql)
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?;
    if found.is_none() {
        return Ok(Err(RefundError::NotFound));
    }
    // A replay is answered before the checks: its own units are already counted as refunded.
    if let Some(key) = &key_hash
        && let Some(existing) = refund_by_key(tx, order_id, key).await?
    {
        let same: Vec<(Uuid, i64)> = crate::sql::query_as(
            "SELECT order_line_id, quantity FROM refund_lines WHERE refund_id = $1",
        )
        .bind(existing.id)
        .fetch_all(&mut *tx)
        .await?;
        let matches = same.len() == lines.len()
            && lines
                .iter()
                .all(|l| same.contains(&(l.line_id, l.quantity)))
            && declared.is_none_or(|d| d == existing.amount);
        return Ok(if matches {
            Ok((existing, true))
        } else {
            Err(RefundError::KeyReused)
        });
    }
    // Each line of the order: its vendor order, total, units, and units refunded or being
    // refunded (failed refunds give their units back).
    let rows: Vec<(Uuid, Uuid, i64, i64, i64)> = crate::sql::query_as(
            "SELECT l.id, l.vendor_order_id, l.total, l.quantity, \
             CAST(COALESCE((SELECT SUM(rl.quantity) FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id \
                            WHERE rl.order_line_id = l.id AND r.status <> 'failed'), 0) AS BIGINT) \
             FROM order_lines l WHERE l.order_id = $1",
        )
        .bind(order_id)
        .fetch_all(&mut *tx)
        .await?;
    let mut part = target;
    let mut priced: Vec<(RefundLine, i64)> = Vec::with_capacity(lines.len());
    for (index, want) in lines.iter().enumerate() {
        let fail = |message: String| Ok(Err(RefundError::Line { index, message }));
        let Some(&(_, vendor_order, total, quantity, refunded)) =
            rows.iter().find(|r| r.0 == want.line_id)
        else {
            return fail("is not a line of this order".to_owned());
        };
        if priced.iter().any(|(p, _)| p.line_id == want.line_id) {
            return fail("is named twice".to_owned());
        }
        match part {
            Some(p) if p != vendor_order => {
                return fail(
                    "belongs to another vendor order: one refund is aimed at one vendor order's lines"
                        .to_owned(),
                );
            }
            _ => part = Some(vendor_order),
        }
        let left = quantity - refunded;
        if want.quantity < 1 || want.quantity > left {
            return fail(format!("{left} units of this line can still be refunded"));
        }
        priced.push((*want, units_worth(total, quantity, refunded, want.quantity)));
    }
    let worth: i64 = priced.iter().map(|(_, amount)| amount).sum();
    if declared.is_some_and(|d| d != worth) {
        return Ok(Err(RefundError::AmountNotLines { worth }));
    }
    if worth <= 0 {
        return Ok(Err(RefundError::AmountNotLines { worth }));
    }
    let opened = begin_refund_to(tx, order_id, part, worth, reason, key_hash, created_by).await?;
    let (refund, existed) = match opened {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    if existed {
        // A replay whose lines differ is caught above; this one made the refund itself.
        return Ok(Ok((refund, true)));
    }
    for (line, amount) in &priced {
        {
            crate::sql::query(
                "INSERT INTO refund_lines (refund_id, order_line_id, quantity, amount) VALUES ($1, $2, $3, $4)",
            )
            .bind(refund.id)
            .bind(line.line_id)
            .bind(line.quantity)
            .bind(*amount)
            .execute(&mut *tx)
            .await?;
        };
    }
    Ok(Ok((refund, false)))
}

/// The lines a refund was aimed at (line id, units, amount); empty for a refund by amount.
pub async fn refund_lines_of(
    exec: Exec<'_>,
    order_id: Uuid,
) -> Result<Vec<(Uuid, Uuid, i64, i64)>, StorageError> {
    crate::sql::query_as(
        "SELECT rl.refund_id, rl.order_line_id, rl.quantity, rl.amount FROM refund_lines rl \
             JOIN refunds r ON r.id = rl.refund_id WHERE r.order_id = $1",
    )
    .bind(order_id)
    .fetch_all(exec)
    .await
}

#[cfg(test)]
mod tests {
    use super::units_worth;

    #[test]
    fn refunding_every_unit_in_any_steps_gives_back_the_line_total() {
        // 10.00 over 3 units: 3.33, 3.33, 3.34 in whichever steps.
        assert_eq!(units_worth(1000, 3, 0, 1), 333);
        assert_eq!(units_worth(1000, 3, 1, 1), 333);
        assert_eq!(units_worth(1000, 3, 2, 1), 334);
        assert_eq!(
            units_worth(1000, 3, 0, 2) + units_worth(1000, 3, 2, 1),
            1000
        );
        assert_eq!(units_worth(1000, 3, 0, 3), 1000);
        assert_eq!(units_worth(0, 2, 0, 2), 0);
        // No overflow on large totals.
        assert_eq!(units_worth(i64::MAX / 2, 7, 0, 7), i64::MAX / 2);
    }
}
