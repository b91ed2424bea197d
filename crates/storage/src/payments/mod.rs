//! Provider payments, incoming webhook events and refunds.
//!
//! Every path that learns something about a payment (the provider's webhook, the shopper's
//! "I have paid", the reconciliation job) calls [`apply_observation`] inside one write
//! transaction. It locks the payment row, never moves it out of a final state, and pays the order only
//! when *this* transaction moved the payment to `succeeded`: however many callers race, the
//! order is paid once, its ledger entries and emails are written once, and stock is not touched.

mod line_refunds;
mod refunds;

pub use line_refunds::*;
pub use refunds::*;

use souk_domain::payments::PaymentState;
use uuid::Uuid;

use crate::db::Exec;
use crate::dialect::for_update;
use crate::orders::{self, OrderRow, TransitionError};
use crate::{StorageError, Tx, now_ms};

#[derive(Debug, Clone)]
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

crate::from_row!(ProviderPaymentRow {
    id,
    order_id,
    provider,
    attempt,
    provider_ref,
    amount,
    currency,
    state,
    amount_refunded,
    last_error,
    created_at,
    updated_at
});

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
    crate::sql::query_as(sql)
        .bind(order_id)
        .fetch_optional(exec)
        .await
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
    crate::sql::query_scalar::<Uuid>(sql)
        .bind(order.id)
        .fetch_optional(&mut *tx)
        .await?;
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
    crate::sql::query_as(sql)
        .bind(Uuid::now_v7())
        .bind(order.id)
        .bind(provider)
        .bind(attempt)
        .bind(order.total)
        .bind(&order.currency)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
}

/// Remembers the provider's id for a payment (first answer wins; retries return the same id)
/// and returns the payment's state. `canceled` means its order was cancelled while the
/// provider was being asked: the caller must call the provider's payment off, not offer it.
pub async fn set_provider_ref(
    tx: &mut Tx,
    payment_id: Uuid,
    provider_ref: &str,
) -> Result<PaymentState, StorageError> {
    let state: String = crate::sql::query_scalar(
            "UPDATE provider_payments SET provider_ref = COALESCE(provider_ref, $2), last_error = NULL, \
             updated_at = $3 WHERE id = $1 RETURNING state",
        )
        .bind(payment_id)
        .bind(provider_ref)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
    Ok(PaymentState::parse(&state).unwrap_or(PaymentState::Pending))
}

/// Notes why the last call to the provider failed (shown to admins; retried by reconciliation).
pub async fn set_last_error(
    tx: &mut Tx,
    payment_id: Uuid,
    error: &str,
) -> Result<(), StorageError> {
    let error: String = error.chars().take(500).collect();
    crate::sql::query(
        "UPDATE provider_payments SET last_error = $2, updated_at = $3 WHERE id = $1",
    )
    .bind(payment_id)
    .bind(error)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(())
}

/// Records an incoming event id; `false` if it was processed before (do nothing more).
pub async fn record_event(
    tx: &mut Tx,
    provider: &str,
    event_id: &str,
    event_type: &str,
) -> Result<bool, StorageError> {
    let n = crate::sql::query(
            "INSERT INTO webhook_events (provider, event_id, event_type, received_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (provider, event_id) DO NOTHING",
        )
        .bind(provider)
        .bind(event_id)
        .bind(event_type)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
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
    let row: Option<ProviderPaymentRow> = crate::sql::query_as(sql)
        .bind(provider)
        .bind(provider_ref)
        .fetch_optional(&mut *tx)
        .await?;
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
    crate::sql::query("UPDATE provider_payments SET state = $2, updated_at = $3 WHERE id = $1")
        .bind(payment.id)
        .bind(next.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    payment.state = next.as_str().to_owned();
    payment.updated_at = now;
    if next != PaymentState::Succeeded {
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
    {
        crate::sql::query(
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
        .execute(&mut *tx)
        .await?;
        // The money is held; paid_at stays empty (no vendor earned anything from it).
        crate::sql::query(
            "UPDATE orders SET paid_amount = paid_amount + $2, updated_at = $3 WHERE id = $1",
        )
        .bind(payment.order_id)
        .bind(payment.amount)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };
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
    crate::sql::query_as(sql)
        .bind(now_ms() - older_than_ms)
        .bind(limit)
        .fetch_all(exec)
        .await
}

/// Stripe orders placed before `before_ms`, still unpaid, with no provider payment yet (the
/// process stopped between committing the order and asking the provider).
pub async fn orders_missing_payment(
    exec: Exec<'_>,
    provider: &str,
    before_ms: i64,
    limit: i64,
) -> Result<Vec<Uuid>, StorageError> {
    crate::sql::query_scalar(
            "SELECT o.id FROM orders o WHERE o.payment_method = $1 AND o.status = 'pending_payment' \
               AND o.placed_at < $2 AND NOT EXISTS (SELECT 1 FROM provider_payments p WHERE p.order_id = o.id) \
             ORDER BY o.placed_at LIMIT $3",
        )
        .bind(provider)
        .bind(before_ms)
        .bind(limit)
        .fetch_all(exec)
        .await
}

/// Why `mark_paid` refused, for callers that report it.
pub fn describe(e: &TransitionError) -> String {
    match e {
        TransitionError::NotFound => "no such order".to_owned(),
        TransitionError::InvalidState { status } => format!("the order is {status}"),
        TransitionError::AmountMismatch { due } => format!("the amount due is {due}"),
    }
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
    crate::sql::query_as(sql)
        .bind(order_id)
        .fetch_all(exec)
        .await
}
