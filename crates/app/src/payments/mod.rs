//! Payments: start a payment for an order at its provider, apply what providers say (webhook,
//! the shopper's confirmation, reconciliation) through the one idempotent transition in
//! `souk_storage::payments`, refund, and reconcile payments whose webhook never came. Every
//! follow-up (emails, refunds) is enqueued in the transaction that decided it.
//!
//! The user intents — [`receive_stripe_webhook`], [`refresh`], [`refund`], [`reconcile_now`] —
//! are called by the faces; [`run_refund_job`] and [`reconcile`] by the worker.

mod reconcile;
mod refunds;
mod status;
mod webhook;

use std::sync::Arc;

use souk_domain::payments::PaymentState;
use souk_payments::{CreatePayment, PaymentProvider, ProviderPayment};
use souk_storage::jobs::{ScheduledJob, enqueue_many};
use souk_storage::orders::OrderRow;
use souk_storage::payments::{self as store, Applied, ProviderPaymentRow};
use souk_storage::{Db, Exec, StorageError, Tx};

use crate::jobs::{OrderEmail, email_job, refund_job};
use crate::outbox;

pub use reconcile::{Reconciled, reconcile, reconcile_now};
pub use refunds::{RefundAsk, RefundMade, RefundSent, refund, run_refund_job, send_refund};
pub use status::{PaymentView, refresh};
pub use webhook::{WebhookOutcome, receive_stripe_webhook};

/// The payment providers this instance can talk to (`None`: not configured).
#[derive(Clone, Default)]
pub struct Providers {
    pub stripe: Option<Arc<dyn PaymentProvider>>,
}

impl Providers {
    pub fn get(&self, name: &str) -> Option<&Arc<dyn PaymentProvider>> {
        match name {
            "stripe" => self.stripe.as_ref(),
            _ => None,
        }
    }
}

/// The storefront's view of a payment after [`start`].
#[derive(Debug, Clone)]
pub struct PaymentStatus {
    pub provider: String,
    pub state: PaymentState,
    pub client_secret: Option<String>,
    /// Why the provider could not be reached (the payment will be retried).
    pub last_error: Option<String>,
}

/// Makes sure the order has a payment at its provider and returns what the storefront needs
/// to complete it. Idempotent: the provider payment is created once (the idempotency key is
/// derived from the order and attempt), later calls fetch it. A provider that is down gives a
/// `pending` answer without a client secret, never an error: reconciliation creates it later.
pub async fn start(
    db: &Db,
    provider: &dyn PaymentProvider,
    order: &OrderRow,
) -> Result<PaymentStatus, StorageError> {
    let mut tx = db.begin_write().await?;
    let payment = store::start_payment(&mut tx, order, provider.name()).await?;
    tx.commit().await?;
    ensure_at_provider(db, provider, payment).await
}

async fn ensure_at_provider(
    db: &Db,
    provider: &dyn PaymentProvider,
    payment: ProviderPaymentRow,
) -> Result<PaymentStatus, StorageError> {
    let answer = match &payment.provider_ref {
        Some(reference) => provider.fetch_payment(reference).await,
        None => {
            provider
                .create_payment(&CreatePayment {
                    order_id: payment.order_id,
                    amount: payment.amount,
                    currency: payment.currency.clone(),
                    idempotency_key: payment.idempotency_key(),
                })
                .await
        }
    };
    match answer {
        Ok(remote) => {
            if payment.provider_ref.is_none() {
                let mut tx = db.begin_write().await?;
                let now =
                    store::set_provider_ref(&mut tx, payment.id, &remote.provider_ref).await?;
                tx.commit().await?;
                if now == PaymentState::Canceled {
                    // The order was cancelled while the provider was creating this payment:
                    // nobody may pay it. Its client secret is never handed out, so even if the
                    // provider cannot be reached now, no shopper can complete it.
                    if let Err(e) = provider.cancel_payment(&remote.provider_ref).await {
                        tracing::warn!(order = %payment.order_id, error = %e,
                            "could not call off the payment of a cancelled order");
                    }
                    return Ok(PaymentStatus {
                        provider: payment.provider,
                        state: PaymentState::Canceled,
                        client_secret: None,
                        last_error: None,
                    });
                }
            }
            // What Souk recorded, not what the provider said: an observation can be refused
            // (a different amount) and then must not show as paid.
            let state = if payment.state().advance(remote.state) != payment.state() {
                match observe(db, provider.name(), &remote, None).await? {
                    Observed::Applied(state) => state,
                    _ => payment.state(),
                }
            } else {
                payment.state()
            };
            Ok(PaymentStatus {
                provider: payment.provider,
                state,
                client_secret: remote.client_secret,
                last_error: None,
            })
        }
        Err(e) => {
            tracing::warn!(order = %payment.order_id, error = %e, "payment provider call failed");
            let mut tx = db.begin_write().await?;
            store::set_last_error(&mut tx, payment.id, &e.to_string()).await?;
            tx.commit().await?;
            Ok(PaymentStatus {
                provider: payment.provider.clone(),
                state: payment.state(),
                client_secret: None,
                last_error: Some(e.to_string()),
            })
        }
    }
}

/// What [`observe`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// The event id was processed before: nothing changed.
    DuplicateEvent,
    /// Not a payment Souk knows.
    UnknownPayment,
    /// Applied; the payment is now in this state (maybe unchanged).
    Applied(PaymentState),
}

/// Applies the provider's view of a payment (and the refunds it reports) in one transaction;
/// with `event` = (id, type) the event is recorded so a redelivery changes nothing.
pub async fn observe(
    db: &Db,
    provider: &str,
    remote: &ProviderPayment,
    event: Option<(&str, &str)>,
) -> Result<Observed, StorageError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match observe_once(db, provider, remote, event).await {
            Err(e) if e.is_retryable_conflict() && attempt < 4 => continue,
            other => return other,
        }
    }
}

async fn observe_once(
    db: &Db,
    provider: &str,
    remote: &ProviderPayment,
    event: Option<(&str, &str)>,
) -> Result<Observed, StorageError> {
    let mut tx = db.begin_write().await?;
    if let Some((id, kind)) = event
        && !store::record_event(&mut tx, provider, id, kind).await?
    {
        return Ok(Observed::DuplicateEvent);
    }
    let applied = store::apply_observation(
        &mut tx,
        provider,
        &remote.provider_ref,
        remote.state,
        remote.amount,
    )
    .await?;
    let mut jobs = Vec::new();
    let payment = match applied {
        Applied::UnknownPayment => {
            tx.commit().await?; // the event id is kept: a redelivery is a duplicate too
            return Ok(Observed::UnknownPayment);
        }
        Applied::Unchanged { payment } => payment,
        Applied::Advanced { payment } => {
            if payment.state() == PaymentState::Failed {
                // The shopper's stream shows it at once (they may try another card).
                let data =
                    serde_json::json!({"order_id": payment.order_id, "payment_state": "failed"});
                outbox::emit(
                    &mut tx,
                    "payment.failed",
                    Some(payment.order_id),
                    None,
                    &data,
                )
                .await?;
            }
            payment
        }
        Applied::Paid { payment, order } => {
            outbox::order_paid(&mut tx, order.id).await?;
            jobs.push(email_job(OrderEmail::PaymentReceived {
                order_id: order.id,
            }));
            payment
        }
        Applied::MustRefund { payment, refund } => {
            jobs.push(refund_job(refund.id));
            payment
        }
    };
    if remote.amount_refunded > 0 {
        refunds_reported(&mut tx, &payment, remote, &mut jobs).await?;
    }
    enqueue_many(&mut tx, &jobs).await?;
    tx.commit().await?;
    Ok(Observed::Applied(
        PaymentState::parse(&payment.state).unwrap_or(PaymentState::Pending),
    ))
}

async fn refunds_reported(
    tx: &mut Tx,
    payment: &ProviderPaymentRow,
    remote: &ProviderPayment,
    jobs: &mut Vec<ScheduledJob>,
) -> Result<(), StorageError> {
    // Refunds Souk asked for that the provider's cumulative figure now covers are done
    // (oldest first; a Charge does not list its refunds, only their sum).
    let refunds = store::refunds_of(Exec::Tx(tx), payment.order_id).await?;
    let mut covered: i64 = refunds
        .iter()
        .filter(|r| r.status == "succeeded")
        .map(|r| r.amount)
        .sum();
    for r in refunds.iter().filter(|r| r.status == "pending") {
        if covered + r.amount > remote.amount_refunded {
            break;
        }
        covered += r.amount;
        if let Some(status) = store::complete_refund(tx, r.id, None).await? {
            outbox::refund_booked(tx, payment.order_id, status).await?;
            jobs.push(email_job(OrderEmail::Refunded {
                order_id: payment.order_id,
                refund_id: r.id,
            }));
        }
    }
    // Beyond that: refunds made at the provider (its dashboard) that Souk did not ask for.
    let booked = store::record_provider_refunds(
        tx,
        payment,
        remote.amount_refunded,
        remote.latest_refund_ref.as_deref(),
    )
    .await?;
    if let Some(status) = booked {
        outbox::refund_booked(tx, payment.order_id, status).await?;
    }
    if booked.is_some()
        && let Some(latest) = store::refunds_of(Exec::Tx(tx), payment.order_id)
            .await?
            .into_iter()
            .last()
    {
        jobs.push(email_job(OrderEmail::Refunded {
            order_id: payment.order_id,
            refund_id: latest.id,
        }));
    }
    Ok(())
}
