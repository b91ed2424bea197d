//! Provider payments, incoming webhook events and refunds.
//!
//! Every path that learns something about a payment (the provider's webhook, the shopper's
//! "I have paid", the reconciliation job) calls [`apply_observation`] inside one write
//! transaction. It locks the payment row, never moves it out of a final state, and pays the order only
//! when *this* transaction moved the payment to `succeeded`: however many callers race, the
//! order is paid once, its ledger entries and emails are written once, and stock is not touched.

use souk_domain::orders::{OrderEvent, OrderStatus};
use souk_domain::payments::{PaymentState, VendorShare, split_refund, split_refund_to};
use uuid::Uuid;

use crate::db::{Arg, Exec};
use crate::dialect::for_update;
use crate::orders::{self, OrderRow, TransitionError};
use crate::{StorageError, Tx, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderPaymentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub provider: String,
    pub attempt: i64,
    pub provider_ref: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub state: String,
    pub amount_refunded: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const PAYMENT_COLUMNS: &str = "id, order_id, provider, attempt, provider_ref, amount, currency, state, \
     amount_refunded, last_error, created_at, updated_at";

impl ProviderPaymentRow {
    pub fn state(&self) -> PaymentState {
        PaymentState::parse(&self.state).unwrap_or(PaymentState::Pending)
    }

    /// The idempotency key Souk sends the provider when creating this payment: the same for
    /// every retry of this attempt, so a crash or timeout can never create a second charge.
    pub fn idempotency_key(&self) -> String {
        format!("souk-payment-{}-{}", self.order_id, self.attempt)
    }
}

/// The order's current provider payment (its latest attempt), if any.
pub async fn latest_for_order(
    exec: Exec<'_>,
    order_id: Uuid,
) -> Result<Option<ProviderPaymentRow>, StorageError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM provider_payments WHERE order_id = $1 ORDER BY attempt DESC LIMIT 1"
    );
    Ok(on_exec!(exec, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(order_id).fetch_optional(&mut *conn).await?
    }))
}

/// The payment to collect `order`'s total through `provider`: the existing attempt unless it
/// was canceled, else a new attempt. Amount and currency come from the order, never the client.
pub async fn start_payment(
    tx: &mut Tx,
    order: &OrderRow,
    provider: &str,
) -> Result<ProviderPaymentRow, StorageError> {
    // Serialises concurrent starts for one order (checkout, a replay, the payment endpoint).
    let lock = for_update(tx.backend());
    let sql = format!("SELECT id FROM orders WHERE id = $1{lock}");
    on_tx!(&mut *tx, conn => {
        sqlx::query_scalar::<_, Uuid>(sqlx::AssertSqlSafe(sql)).bind(order.id).fetch_optional(&mut *conn).await?
    });
    if let Some(existing) = latest_for_order(Exec::Tx(tx), order.id).await?
        && existing.state() != PaymentState::Canceled
    {
        return Ok(existing);
    }
    let attempt = latest_for_order(Exec::Tx(tx), order.id)
        .await?
        .map_or(1, |p| p.attempt + 1);
    let now = now_ms();
    let sql = format!(
        "INSERT INTO provider_payments (id, order_id, provider, attempt, amount, currency, state, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $7) RETURNING {PAYMENT_COLUMNS}"
    );
    Ok(on_tx!(tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(Uuid::now_v7())
            .bind(order.id)
            .bind(provider)
            .bind(attempt)
            .bind(order.total)
            .bind(&order.currency)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?
    }))
}

/// Remembers the provider's id for a payment (first answer wins; retries return the same id)
/// and returns the payment's state. `canceled` means its order was cancelled while the
/// provider was being asked: the caller must call the provider's payment off, not offer it.
pub async fn set_provider_ref(
    tx: &mut Tx,
    payment_id: Uuid,
    provider_ref: &str,
) -> Result<PaymentState, StorageError> {
    let state: String = on_tx!(tx, conn => {
        sqlx::query_scalar(
            "UPDATE provider_payments SET provider_ref = COALESCE(provider_ref, $2), last_error = NULL, \
             updated_at = $3 WHERE id = $1 RETURNING state",
        )
        .bind(payment_id)
        .bind(provider_ref)
        .bind(now_ms())
        .fetch_one(&mut *conn)
        .await?
    });
    Ok(PaymentState::parse(&state).unwrap_or(PaymentState::Pending))
}

/// Notes why the last call to the provider failed (shown to admins; retried by reconciliation).
pub async fn set_last_error(
    tx: &mut Tx,
    payment_id: Uuid,
    error: &str,
) -> Result<(), StorageError> {
    let error: String = error.chars().take(500).collect();
    on_tx!(tx, conn => {
        sqlx::query("UPDATE provider_payments SET last_error = $2, updated_at = $3 WHERE id = $1")
            .bind(payment_id)
            .bind(error)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(())
}

/// Records an incoming event id; `false` if it was processed before (do nothing more).
pub async fn record_event(
    tx: &mut Tx,
    provider: &str,
    event_id: &str,
    event_type: &str,
) -> Result<bool, StorageError> {
    let n = on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO webhook_events (provider, event_id, event_type, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (provider, event_id) DO NOTHING",
        )
        .bind(provider)
        .bind(event_id)
        .bind(event_type)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(n == 1)
}

/// What an observation of a provider payment changed.
#[derive(Debug, Clone)]
pub enum Applied {
    /// No payment with that provider id (not ours, or not yet recorded).
    UnknownPayment,
    /// Nothing new (a duplicate, a late or out-of-order report).
    Unchanged { payment: ProviderPaymentRow },
    /// The payment changed state without paying the order (processing, failed, canceled).
    Advanced { payment: ProviderPaymentRow },
    /// This observation paid the order: exactly one caller ever gets this for a payment.
    Paid {
        payment: ProviderPaymentRow,
        order: Box<OrderRow>,
    },
    /// The money arrived for an order that can no longer be fulfilled (cancelled meanwhile):
    /// a full refund was opened (`refund`) for the caller to send to the provider.
    MustRefund {
        payment: ProviderPaymentRow,
        refund: Box<RefundRow>,
    },
}

/// Applies the provider's current view of a payment (`observed`); final states stay; see the module
/// documentation. Must run in a write transaction that also enqueues the follow-up jobs.
pub async fn apply_observation(
    tx: &mut Tx,
    provider: &str,
    provider_ref: &str,
    observed: PaymentState,
    observed_amount: i64,
) -> Result<Applied, StorageError> {
    let lock = for_update(tx.backend());
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM provider_payments WHERE provider = $1 AND provider_ref = $2{lock}"
    );
    let row: Option<ProviderPaymentRow> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(provider).bind(provider_ref).fetch_optional(&mut *conn).await?
    });
    let Some(mut payment) = row else {
        return Ok(Applied::UnknownPayment);
    };
    if observed == PaymentState::Succeeded && observed_amount != payment.amount {
        // Not the amount Souk asked for: never pay an order from it; an admin must look.
        tracing::error!(payment = %provider_ref, expected = payment.amount, reported = observed_amount,
            "provider reports a different amount; payment not applied");
        set_last_error(
            tx,
            payment.id,
            &format!(
                "provider reports amount {observed_amount}, expected {}",
                payment.amount
            ),
        )
        .await?;
        return Ok(Applied::Unchanged { payment });
    }
    let current = payment.state();
    let next = current.advance(observed);
    if next == current {
        return Ok(Applied::Unchanged { payment });
    }
    let now = now_ms();
    on_tx!(&mut *tx, conn => {
        sqlx::query("UPDATE provider_payments SET state = $2, updated_at = $3 WHERE id = $1")
            .bind(payment.id)
            .bind(next.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    payment.state = next.as_str().to_owned();
    payment.updated_at = now;
    if next != PaymentState::Succeeded {
        if next == PaymentState::Failed {
            // The shopper's stream shows it at once (they may try another card).
            let data = serde_json::json!({"order_id": payment.order_id, "payment_state": "failed"});
            crate::outbox::emit(tx, "payment.failed", Some(payment.order_id), None, &data).await?;
        }
        return Ok(Applied::Advanced { payment });
    }
    match orders::mark_paid(
        tx,
        payment.order_id,
        provider,
        payment.amount,
        provider_ref,
        None,
    )
    .await?
    {
        Ok(order) => Ok(Applied::Paid {
            payment,
            order: Box::new(order),
        }),
        Err(e) => {
            // Cancelled meanwhile (its stock is gone), or otherwise not payable: keep the
            // money on record and give it back in full.
            tracing::warn!(order = %payment.order_id, payment = %provider_ref, error = ?e,
                "payment succeeded for an order that cannot take it; refunding");
            let reason = match &e {
                TransitionError::InvalidState { status } if status == "cancelled" => {
                    "order_cancelled"
                }
                _ => "not_payable",
            };
            let refund = record_unpayable_payment(tx, &payment, provider_ref, reason).await?;
            Ok(Applied::MustRefund {
                payment,
                refund: Box::new(refund),
            })
        }
    }
}

/// Books money that arrived for an order that cannot be fulfilled, and opens its refund.
async fn record_unpayable_payment(
    tx: &mut Tx,
    payment: &ProviderPaymentRow,
    provider_ref: &str,
    reason: &str,
) -> Result<RefundRow, StorageError> {
    let now = now_ms();
    on_tx!(&mut *tx, conn => {
        sqlx::query(
            "INSERT INTO payments (id, order_id, provider, amount, currency, reference, recorded_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(payment.order_id)
        .bind(&payment.provider)
        .bind(payment.amount)
        .bind(&payment.currency)
        .bind(provider_ref)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        // The money is held; paid_at stays empty (no vendor earned anything from it).
        sqlx::query("UPDATE orders SET paid_amount = paid_amount + $2, updated_at = $3 WHERE id = $1")
            .bind(payment.order_id)
            .bind(payment.amount)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    let key = format!("auto-refund-{}", payment.id).into_bytes();
    match begin_refund(
        tx,
        payment.order_id,
        payment.amount,
        reason,
        Some(key),
        None,
    )
    .await?
    {
        Ok((refund, _)) => Ok(refund),
        Err(e) => Err(StorageError::Conflict(format!(
            "cannot open the refund of an unpayable payment: {e:?}"
        ))),
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
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

/// Units of one order line a refund gives money back for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundLine {
    pub line_id: Uuid,
    pub quantity: i64,
}

/// The refund an order already has under an idempotency key.
async fn refund_by_key(
    tx: &mut Tx,
    order_id: Uuid,
    key: &[u8],
) -> Result<Option<RefundRow>, StorageError> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 AND key_hash = $2");
    Ok(on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(order_id).bind(key).fetch_optional(&mut *conn).await?
    }))
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
    let found: Option<Uuid> = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(order_id).fetch_optional(&mut *conn).await?
    });
    if found.is_none() {
        return Ok(Err(RefundError::NotFound));
    }
    // A replay is answered before the checks: its own units are already counted as refunded.
    if let Some(key) = &key_hash
        && let Some(existing) = refund_by_key(tx, order_id, key).await?
    {
        let same: Vec<(Uuid, i64)> = on_tx!(&mut *tx, conn => {
            sqlx::query_as("SELECT order_line_id, quantity FROM refund_lines WHERE refund_id = $1")
                .bind(existing.id)
                .fetch_all(&mut *conn)
                .await?
        });
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
    let rows: Vec<(Uuid, Uuid, i64, i64, i64)> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(
            "SELECT l.id, l.vendor_order_id, l.total, l.quantity, \
             CAST(COALESCE((SELECT SUM(rl.quantity) FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id \
                            WHERE rl.order_line_id = l.id AND r.status <> 'failed'), 0) AS BIGINT) \
             FROM order_lines l WHERE l.order_id = $1",
        )
        .bind(order_id)
        .fetch_all(&mut *conn)
        .await?
    });
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
        on_tx!(&mut *tx, conn => {
            sqlx::query(
                "INSERT INTO refund_lines (refund_id, order_line_id, quantity, amount) VALUES ($1, $2, $3, $4)",
            )
            .bind(refund.id)
            .bind(line.line_id)
            .bind(line.quantity)
            .bind(*amount)
            .execute(&mut *conn)
            .await?;
        });
    }
    Ok(Ok((refund, false)))
}

/// The lines a refund was aimed at (line id, units, amount); empty for a refund by amount.
pub async fn refund_lines_of(
    exec: Exec<'_>,
    order_id: Uuid,
) -> Result<Vec<(Uuid, Uuid, i64, i64)>, StorageError> {
    Ok(on_exec!(exec, conn => {
        sqlx::query_as(
            "SELECT rl.refund_id, rl.order_line_id, rl.quantity, rl.amount FROM refund_lines rl \
             JOIN refunds r ON r.id = rl.refund_id WHERE r.order_id = $1",
        )
        .bind(order_id)
        .fetch_all(&mut *conn)
        .await?
    }))
}

pub async fn refunds_of(exec: Exec<'_>, order_id: Uuid) -> Result<Vec<RefundRow>, StorageError> {
    let sql =
        format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 ORDER BY created_at, id");
    Ok(on_exec!(exec, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(order_id).fetch_all(&mut *conn).await?
    }))
}

pub async fn refund(exec: Exec<'_>, id: Uuid) -> Result<Option<RefundRow>, StorageError> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE id = $1");
    Ok(on_exec!(exec, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?
    }))
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
    let order: Option<(String, i64, i64, String, String)> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(order_id).fetch_optional(&mut *conn).await?
    });
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
    let pending: i64 = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE order_id = $1 AND status = 'pending'",
        )
        .bind(order_id)
        .fetch_one(&mut *conn)
        .await?
    });
    let mut refundable = paid - refunded - pending;
    if let Some(target) = target {
        let part: Option<(i64, i64)> = on_tx!(&mut *tx, conn => {
            sqlx::query_as("SELECT total, refunded FROM vendor_orders WHERE id = $1 AND order_id = $2")
                .bind(target)
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        let Some((total, part_refunded)) = part else {
            return Ok(Err(RefundError::NoSuchVendorOrder));
        };
        let pending_here: i64 = on_tx!(&mut *tx, conn => {
            sqlx::query_scalar(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds \
                 WHERE vendor_order_id = $1 AND status = 'pending'",
            )
            .bind(target)
            .fetch_one(&mut *conn)
            .await?
        });
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
    let row: RefundRow = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
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
            .fetch_one(&mut *conn)
            .await?
    });
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
    let done: Option<RefundRow> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(refund_id).bind(provider_ref).bind(now).fetch_optional(&mut *conn).await?
    });
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
    let known: i64 = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM refunds WHERE order_id = $1 AND status <> 'failed'",
        )
        .bind(payment.order_id)
        .fetch_one(&mut *conn)
        .await?
    });
    let extra = total_refunded.min(payment.amount) - known;
    if extra <= 0 {
        return Ok(None);
    }
    let key = format!("provider-refund-{}-{total_refunded}", payment.id).into_bytes();
    match begin_refund(tx, payment.order_id, extra, "provider", Some(key), None).await? {
        Ok((refund, _)) => {
            // A provider refund id already booked under another refund would collide; keep
            // the id only if it is new.
            let taken: Option<Uuid> = on_tx!(&mut *tx, conn => {
                sqlx::query_scalar("SELECT id FROM refunds WHERE provider = $1 AND provider_ref = $2")
                    .bind(&payment.provider)
                    .bind(provider_refund_ref)
                    .fetch_optional(&mut *conn)
                    .await?
            });
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
    let n = on_tx!(tx, conn => {
        sqlx::query("UPDATE refunds SET status = 'failed', updated_at = $2 WHERE id = $1 AND status = 'pending'")
            .bind(refund_id)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
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
    let (status, paid, refunded, paid_at, currency): (String, i64, i64, Option<i64>, String) = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(order_id)
            .fetch_one(&mut *conn)
            .await?
    });
    let refunded = refunded + amount;
    let current = OrderStatus::parse(&status).unwrap_or(OrderStatus::Cancelled);
    let next = current
        .next(OrderEvent::Refund {
            full: refunded >= paid,
        })
        .unwrap_or(current);
    on_tx!(&mut *tx, conn => {
        sqlx::query("UPDATE orders SET refunded_amount = $2, status = $3, updated_at = $4 WHERE id = $1")
            .bind(order_id)
            .bind(refunded)
            .bind(next.as_str())
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    let kind = if next == OrderStatus::Refunded {
        "order.refunded"
    } else {
        "order.partially_refunded"
    };
    crate::outbox::order_status_event(tx, order_id, kind, next.as_str()).await?;
    if paid_at.is_none() {
        return Ok(next); // nobody earned from this order: nothing to reverse
    }
    let parts: Vec<(Uuid, Uuid, i64, i64, i64)> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(
            "SELECT id, vendor_id, total, commission, refunded FROM vendor_orders WHERE order_id = $1 ORDER BY id",
        )
        .bind(order_id)
        .fetch_all(&mut *conn)
        .await?
    });
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
        on_tx!(&mut *tx, conn => {
            sqlx::query("UPDATE vendor_orders SET refunded = refunded + $2 WHERE id = $1")
                .bind(vo)
                .bind(split.amount)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
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
        on_tx!(&mut *tx, conn => {
            bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
    }
    Ok(next)
}

/// Provider payments still `pending`/`processing`/`failed` for unpaid orders and older than
/// `older_than_ms`: candidates for reconciliation (a webhook may have been lost).
pub async fn stale_payments(
    exec: Exec<'_>,
    older_than_ms: i64,
    limit: i64,
) -> Result<Vec<ProviderPaymentRow>, StorageError> {
    let sql = format!(
        "SELECT {} FROM provider_payments p JOIN orders o ON o.id = p.order_id \
         WHERE p.state IN ('pending', 'processing', 'failed') AND o.status IN ('pending_payment', 'cancelled') \
           AND o.paid_amount = 0 AND p.created_at < $1 ORDER BY p.updated_at LIMIT $2",
        PAYMENT_COLUMNS
            .split(", ")
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(on_exec!(exec, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now_ms() - older_than_ms).bind(limit).fetch_all(&mut *conn).await?
    }))
}

/// Stripe orders placed before `before_ms`, still unpaid, with no provider payment yet (the
/// process stopped between committing the order and asking the provider).
pub async fn orders_missing_payment(
    exec: Exec<'_>,
    provider: &str,
    before_ms: i64,
    limit: i64,
) -> Result<Vec<Uuid>, StorageError> {
    Ok(on_exec!(exec, conn => {
        sqlx::query_scalar(
            "SELECT o.id FROM orders o WHERE o.payment_method = $1 AND o.status = 'pending_payment' \
               AND o.placed_at < $2 AND NOT EXISTS (SELECT 1 FROM provider_payments p WHERE p.order_id = o.id) \
             ORDER BY o.placed_at LIMIT $3",
        )
        .bind(provider)
        .bind(before_ms)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?
    }))
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
    Ok(on_exec!(exec, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now_ms() - older_than_ms).bind(limit).fetch_all(&mut *conn).await?
    }))
}

/// Why `mark_paid` refused, for callers that report it.
pub fn describe(e: &TransitionError) -> String {
    match e {
        TransitionError::NotFound => "no such order".to_owned(),
        TransitionError::InvalidState { status } => format!("the order is {status}"),
        TransitionError::AmountMismatch { due } => format!("the amount due is {due}"),
    }
}

/// Remembers the provider's id of a refund it is still processing.
pub async fn set_refund_ref(
    tx: &mut Tx,
    refund_id: Uuid,
    reference: &str,
) -> Result<(), StorageError> {
    on_tx!(tx, conn => {
        sqlx::query("UPDATE refunds SET provider_ref = $2, updated_at = $3 WHERE id = $1 AND provider_ref IS NULL")
            .bind(refund_id)
            .bind(reference)
            .bind(now_ms())
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(())
}

/// A payment never created at the provider, for an order that was cancelled: closed here.
pub async fn cancel_unsent(tx: &mut Tx, payment_id: Uuid) -> Result<(), StorageError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "UPDATE provider_payments SET state = 'canceled', updated_at = $2 \
             WHERE id = $1 AND provider_ref IS NULL AND state NOT IN ('succeeded', 'canceled')",
        )
        .bind(payment_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(())
}

/// Forgets processed webhook event ids received before `before_ms` (providers stop retrying
/// long before: Stripe after three days).
pub async fn purge_webhook_events(db: &crate::Db, before_ms: i64) -> Result<u64, StorageError> {
    db.purge(
        "DELETE FROM webhook_events WHERE received_at < $1",
        before_ms,
    )
    .await
}

/// Every provider payment attempt of an order, oldest first.
pub async fn attempts_of(
    exec: Exec<'_>,
    order_id: Uuid,
) -> Result<Vec<ProviderPaymentRow>, StorageError> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM provider_payments WHERE order_id = $1 ORDER BY attempt"
    );
    Ok(on_exec!(exec, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(order_id).fetch_all(&mut *conn).await?
    }))
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
