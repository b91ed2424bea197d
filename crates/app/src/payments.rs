//! Payments: start a payment for an order at its provider, apply what providers say (webhook,
//! the shopper's confirmation, reconciliation) through the one idempotent transition in
//! `souk_storage::payments`, refund, and reconcile payments whose webhook never came. Every
//! follow-up (emails, refunds) is enqueued in the transaction that decided it.
//!
//! The user intents — [`receive_stripe_webhook`], [`refresh`], [`refund`], [`reconcile_now`] —
//! are called by the faces; [`run_refund_job`] and [`reconcile`] by the worker.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use souk_domain::accounts::token_hash;
use souk_domain::payments::PaymentState;
use souk_payments::{
    CreatePayment, PaymentProvider, ProviderError, ProviderPayment, RefundPayment, WebhookError,
};
use souk_storage::jobs::{ScheduledJob, enqueue_many};
use souk_storage::orders::{self, OrderRow};
use souk_storage::payments::{
    self as store, Applied, ProviderPaymentRow, RefundError, RefundLine, RefundRow,
};
use souk_storage::{Db, Exec, StorageError, Tx, now_ms};
use uuid::Uuid;

use crate::jobs::{JobError, OrderEmail, RefundJob, email_job, refund_job, refund_job_at};
use crate::{Actor, App, AppError, FieldProblem, Kind, record_audit};

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
        Applied::Unchanged { payment } | Applied::Advanced { payment } => payment,
        Applied::Paid { payment, order } => {
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
        if store::complete_refund(tx, r.id, None).await?.is_some() {
            jobs.push(email_job(OrderEmail::Refunded {
                order_id: payment.order_id,
                refund_id: r.id,
            }));
        }
    }
    // Beyond that: refunds made at the provider (its dashboard) that Souk did not ask for.
    if store::record_provider_refunds(
        tx,
        payment,
        remote.amount_refunded,
        remote.latest_refund_ref.as_deref(),
    )
    .await?
    .is_some()
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

/// What happened to a refund sent to its provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundSent {
    Done,
    /// The provider accepted it and is still working on it (its webhook will finish it).
    Pending,
    Failed(String),
}

/// Sends a pending refund to the provider (or, for `manual` orders, where the money went back
/// outside Souk, books it at once) and books the result with its email, once.
pub async fn send_refund(
    db: &Db,
    providers: &Providers,
    refund_id: Uuid,
) -> Result<RefundSent, JobError> {
    let retry = |e: StorageError| JobError::Retryable(e.to_string());
    let Some(refund) = store::refund(Exec::Db(db), refund_id)
        .await
        .map_err(retry)?
    else {
        return Err(JobError::Permanent(format!("no refund {refund_id}")));
    };
    if refund.status != "pending" {
        return Ok(if refund.status == "succeeded" {
            RefundSent::Done
        } else {
            RefundSent::Failed("refund failed earlier".to_owned())
        });
    }
    let mut provider_ref = None;
    if refund.provider != "manual" {
        let Some(provider) = providers.get(&refund.provider) else {
            return Err(JobError::Retryable(format!(
                "payment provider '{}' is not configured here",
                refund.provider
            )));
        };
        let payment = store::latest_for_order(Exec::Db(db), refund.order_id)
            .await
            .map_err(retry)?
            .and_then(|p| p.provider_ref)
            .ok_or_else(|| JobError::Permanent("no provider payment to refund".to_owned()))?;
        match provider
            .refund(&RefundPayment {
                provider_ref: payment,
                amount: refund.amount,
                souk_refund_id: refund.id,
                idempotency_key: refund.idempotency_key(),
            })
            .await
        {
            Ok(r) if r.succeeded => provider_ref = Some(r.refund_ref),
            Ok(r) if r.pending => {
                let mut tx = db.begin_write().await.map_err(retry)?;
                remember_refund_ref(&mut tx, refund.id, &r.refund_ref)
                    .await
                    .map_err(retry)?;
                tx.commit().await.map_err(retry)?;
                return Ok(RefundSent::Pending);
            }
            Ok(_) => return fail(db, refund.id, "the provider reports the refund failed").await,
            Err(ProviderError::Unavailable(e)) => return Err(JobError::Retryable(e)),
            Err(ProviderError::Refused(e)) => return fail(db, refund.id, &e).await,
        }
    }
    let mut tx = db.begin_write().await.map_err(retry)?;
    if store::complete_refund(&mut tx, refund.id, provider_ref.as_deref())
        .await
        .map_err(retry)?
        .is_some()
    {
        enqueue_many(
            &mut tx,
            &[email_job(OrderEmail::Refunded {
                order_id: refund.order_id,
                refund_id: refund.id,
            })],
        )
        .await
        .map_err(retry)?;
    }
    tx.commit().await.map_err(retry)?;
    Ok(RefundSent::Done)
}

async fn remember_refund_ref(
    tx: &mut Tx,
    refund_id: Uuid,
    reference: &str,
) -> Result<(), StorageError> {
    store::set_refund_ref(tx, refund_id, reference).await
}

async fn fail(db: &Db, refund_id: Uuid, why: &str) -> Result<RefundSent, JobError> {
    let retry = |e: StorageError| JobError::Retryable(e.to_string());
    let mut tx = db.begin_write().await.map_err(retry)?;
    store::fail_refund(&mut tx, refund_id)
        .await
        .map_err(retry)?;
    tx.commit().await.map_err(retry)?;
    tracing::error!(refund = %refund_id, error = why, "refund failed at the provider");
    Ok(RefundSent::Failed(why.to_owned()))
}

/// The refund job's step: send the refund; a refund still pending at the provider is looked
/// at again later.
pub async fn run_refund_job(
    db: &Db,
    providers: &Providers,
    job: &RefundJob,
) -> Result<(), JobError> {
    match send_refund(db, providers, job.refund_id).await? {
        RefundSent::Done | RefundSent::Failed(_) => Ok(()),
        // Not done yet: look again later (a webhook may finish it first).
        RefundSent::Pending => Err(JobError::Retryable(
            "refund pending at the provider".to_owned(),
        )),
    }
}

/// Figures from one reconciliation pass.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Reconciled {
    /// Payments asked about.
    pub checked: u64,
    /// Payments found succeeded by this pass (their webhook never arrived). Their orders are
    /// now paid, or — if cancelled meanwhile — being refunded.
    pub succeeded: u64,
    /// Payments created at the provider that had not been (the process stopped first).
    pub created: u64,
    /// Refunds sent or re-sent.
    pub refunds: u64,
    pub errors: u64,
}

/// One reconciliation pass: for every unpaid order whose provider payment is older than
/// `min_age`, ask the provider and apply the answer; create payments that were never created;
/// re-send refunds still pending. Safe to run anywhere, any number of times, concurrently.
pub async fn reconcile(
    db: &Db,
    providers: &Providers,
    min_age: Duration,
) -> Result<Reconciled, StorageError> {
    let mut out = Reconciled::default();
    let age = i64::try_from(min_age.as_millis()).unwrap_or(i64::MAX / 2);
    for (name, provider) in [("stripe", &providers.stripe)] {
        let Some(provider) = provider else { continue };
        for order_id in
            store::orders_missing_payment(Exec::Db(db), name, now_ms() - age, 200).await?
        {
            if let Some(order) = orders::detail(Exec::Db(db), order_id).await? {
                let status = start(db, provider.as_ref(), &order.order).await?;
                if status.last_error.is_some() {
                    out.errors += 1;
                } else {
                    out.created += 1;
                }
            }
        }
    }
    for payment in store::stale_payments(Exec::Db(db), age, 500).await? {
        let Some(provider) = providers.get(&payment.provider) else {
            continue;
        };
        out.checked += 1;
        let cancelled = orders::detail(Exec::Db(db), payment.order_id)
            .await?
            .is_some_and(|d| d.order.status == "cancelled");
        let state = if cancelled {
            settle_cancelled(db, provider.as_ref(), &payment).await?
        } else {
            let status = ensure_at_provider(db, provider.as_ref(), payment).await?;
            status.last_error.is_none().then_some(status.state)
        };
        match state {
            None => out.errors += 1,
            Some(PaymentState::Succeeded) => out.succeeded += 1,
            Some(_) => {}
        }
    }
    for refund in store::pending_refunds(Exec::Db(db), age, 200).await? {
        out.refunds += 1;
        if send_refund(db, providers, refund.id).await.is_err() {
            out.errors += 1;
        }
    }
    Ok(out)
}

/// The payment of a cancelled order: if the customer paid anyway, book it (which refunds it);
/// otherwise call it off at the provider so nobody can pay it later. `None` on a provider error.
async fn settle_cancelled(
    db: &Db,
    provider: &dyn PaymentProvider,
    payment: &ProviderPaymentRow,
) -> Result<Option<PaymentState>, StorageError> {
    let Some(reference) = &payment.provider_ref else {
        // Never created at the provider as far as Souk knows: nothing to call off.
        let mut tx = db.begin_write().await?;
        store::cancel_unsent(&mut tx, payment.id).await?;
        tx.commit().await?;
        return Ok(Some(PaymentState::Canceled));
    };
    let remote = match provider.fetch_payment(reference).await {
        Ok(remote) if remote.state.is_final() => remote,
        Ok(_) => match provider.cancel_payment(reference).await {
            Ok(remote) => remote,
            // Refused: it moved meanwhile (succeeded); look again on the next pass.
            Err(_) => return Ok(None),
        },
        Err(_) => return Ok(None),
    };
    Ok(match observe(db, provider.name(), &remote, None).await? {
        Observed::Applied(state) => Some(state),
        _ => Some(payment.state()),
    })
}

/// What a provider's webhook call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Applied to its payment (which may not have changed).
    Processed,
    /// This event id was processed before: nothing changed.
    Duplicate,
    /// Not an event Souk acts on.
    Ignored,
    /// Not a payment Souk knows.
    UnknownPayment,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Processed => "processed",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::UnknownPayment => "unknown_payment",
        }
    }
}

/// Without Stripe keys the webhook does not exist for this shop: a lasting configuration state,
/// not a temporary outage.
fn stripe_not_configured() -> AppError {
    AppError::refused(
        Kind::NotFound,
        "provider_not_configured",
        "Payment provider not configured",
        "Stripe is not configured on this server (set SOUK_STRIPE_SECRET_KEY and SOUK_STRIPE_WEBHOOK_SECRET)",
    )
}

/// Stripe's webhook: the signature is verified over the raw body before anything is parsed or
/// written (a failed check writes nothing); each event id is processed once; duplicates, late
/// and out-of-order events never move a payment out of a final state.
pub async fn receive_stripe_webhook(
    app: &App,
    signature: Option<&str>,
    body: &[u8],
) -> Result<WebhookOutcome, AppError> {
    let Some(stripe) = app.providers.stripe.clone() else {
        return Err(stripe_not_configured());
    };
    let event = stripe
        .parse_webhook(signature, body, now_ms() / 1000)
        .map_err(|e| match e {
            WebhookError::Signature(m) => {
                AppError::refused(Kind::Invalid, "invalid_signature", "Invalid signature", m)
            }
            WebhookError::Malformed(m) => {
                AppError::refused(Kind::Invalid, "invalid_event", "Invalid event", m)
            }
        })?;
    let Some(payment) = &event.payment else {
        return Ok(WebhookOutcome::Ignored);
    };
    let observed = observe(&app.db, "stripe", payment, Some((&event.id, &event.kind))).await?;
    app.jobs_committed();
    Ok(match observed {
        Observed::DuplicateEvent => WebhookOutcome::Duplicate,
        Observed::UnknownPayment => WebhookOutcome::UnknownPayment,
        Observed::Applied(_) => WebhookOutcome::Processed,
    })
}

/// Where an order's payment stands, for the shopper.
#[derive(Debug, Clone)]
pub struct PaymentView {
    /// The order as it is after this call (`paid` once the payment arrived).
    pub order: OrderRow,
    pub provider: String,
    pub state: PaymentState,
    /// For the provider's browser library to complete the payment; `None` when there is
    /// nothing to complete or the provider cannot be reached right now.
    pub client_secret: Option<String>,
}

/// The shopper's "where is my payment" and "I have paid": Souk asks the provider (never
/// trusting the client) and applies the answer through the same idempotent transition as the
/// webhook, creating the payment at the provider if checkout could not. The caller has checked
/// that the shopper may read `order`.
pub async fn refresh(app: &App, order: &OrderRow) -> Result<PaymentView, AppError> {
    let status = match app.providers.get(&order.payment_method).cloned() {
        // Manual payment: what Souk recorded is all there is.
        None => PaymentStatus {
            provider: order.payment_method.clone(),
            state: if order.paid_amount > 0 {
                PaymentState::Succeeded
            } else {
                PaymentState::Pending
            },
            client_secret: None,
            last_error: None,
        },
        // Paid, shipped or cancelled: report what is recorded, no provider call needed.
        Some(_) if order.status != "pending_payment" => {
            let payment = store::latest_for_order(Exec::Db(&app.db), order.id).await?;
            PaymentStatus {
                provider: order.payment_method.clone(),
                state: payment.map_or(PaymentState::Pending, |p| p.state()),
                client_secret: None,
                last_error: None,
            }
        }
        Some(provider) => {
            let status = start(&app.db, provider.as_ref(), order).await?;
            app.jobs_committed();
            status
        }
    };
    let order = orders::detail(Exec::Db(&app.db), order.id)
        .await?
        .ok_or_else(|| AppError::not_found("no such order"))?
        .order;
    Ok(PaymentView {
        order,
        provider: status.provider,
        state: status.state,
        client_secret: status.client_secret,
    })
}

/// An admin's refund: by amount, or aimed at units of order lines; optionally out of one
/// vendor order's part.
#[derive(Debug, Clone)]
pub struct RefundAsk {
    /// Minor units. Required unless `lines` is given; with `lines` it must be what they are worth.
    pub amount: Option<i64>,
    pub vendor_order_id: Option<Uuid>,
    pub lines: Option<Vec<RefundLine>>,
    pub reason: String,
    /// The client's `Idempotency-Key`: a retry returns the same refund.
    pub idempotency_key: String,
}

/// A refund made (or found again by its idempotency key).
#[derive(Debug, Clone)]
pub struct RefundMade {
    pub refund: RefundRow,
    /// `true` when an earlier request with the same key made it.
    pub replayed: bool,
    /// The order after the refund.
    pub order: OrderRow,
    /// Every refund line of the order: (refund, line, units, amount).
    pub refund_lines: Vec<(Uuid, Uuid, i64, i64)>,
}

fn refund_problem(e: RefundError) -> AppError {
    match e {
        RefundError::NotFound => AppError::not_found("no such order"),
        RefundError::NotRefundable { status } => AppError::refused(
            Kind::Conflict,
            "not_refundable",
            "Not refundable",
            format!("nothing to refund while the order is {status}"),
        ),
        RefundError::TooMuch { refundable } => AppError::refused(
            Kind::Conflict,
            "refund_too_large",
            "Refund too large",
            format!("at most {refundable} can still be refunded"),
        ),
        RefundError::NoSuchVendorOrder => {
            AppError::field("vendor_order_id", "is not a vendor order of this order")
        }
        RefundError::KeyReused => AppError::refused(
            Kind::Unprocessable,
            "idempotency_key_reused",
            "Idempotency key reused",
            "this Idempotency-Key was used for a refund of another amount",
        ),
        RefundError::Line { index, message } => {
            AppError::field(&format!("lines[{index}]"), message)
        }
        RefundError::AmountNotLines { worth } => AppError::field(
            "amount",
            format!("those units are worth {worth}: give that amount, or omit it"),
        ),
    }
}

/// Refunds part or all of a paid order: opens the refund with its audit entry in one
/// transaction, sends it to the provider (a manual order's refund is booked at once), and if
/// the provider cannot finish it now, queues its retry. Vendors' earnings and the platform's
/// commission are reversed in proportion, or from the vendor order aimed at; the customer is
/// emailed once the refund is done.
pub async fn refund(
    app: &App,
    actor: &Actor,
    order_id: Uuid,
    ask: RefundAsk,
) -> Result<RefundMade, AppError> {
    let reason = ask.reason.trim().to_owned();
    let mut problems = Vec::new();
    let mut problem = |field: &str, message: &str| {
        problems.push(FieldProblem {
            field: field.to_owned(),
            message: message.to_owned(),
        });
    };
    match (ask.amount, &ask.lines) {
        (None, None) => problem("amount", "give the amount to refund, or the lines"),
        (Some(a), _) if a <= 0 => problem("amount", "must be positive (minor units)"),
        (_, Some(lines)) if lines.is_empty() => {
            problem("lines", "name at least one line, or refund by amount");
        }
        _ => {}
    }
    if reason.chars().count() > 200 || souk_domain::text::has_hidden_controls(&reason) {
        problem("reason", "at most 200 characters, no control characters");
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let key_hash = Some(token_hash(&format!("admin-refund:{}", ask.idempotency_key)));
    let mut tx = app.db.begin_write().await?;
    let opened = match (&ask.lines, ask.amount) {
        (Some(lines), declared) => {
            store::begin_line_refund(
                &mut tx,
                order_id,
                ask.vendor_order_id,
                lines,
                declared,
                &reason,
                key_hash,
                Some(actor.user_id),
            )
            .await?
        }
        (None, Some(amount)) => {
            store::begin_refund_to(
                &mut tx,
                order_id,
                ask.vendor_order_id,
                amount,
                &reason,
                key_hash,
                Some(actor.user_id),
            )
            .await?
        }
        (None, None) => unreachable!("refused above"),
    };
    let (refund, replayed) = opened.map_err(refund_problem)?;
    if !replayed {
        record_audit(
            &mut tx,
            actor,
            "order.refund",
            ("order", order_id),
            None,
            serde_json::json!({"amount": ask.amount, "reason": reason, "refund_id": refund.id}),
        )
        .await?;
    }
    tx.commit().await?;
    let sent = send_refund(&app.db, &app.providers, refund.id).await;
    app.jobs_committed();
    let retry_in = match sent {
        Ok(RefundSent::Failed(why)) => {
            return Err(AppError::refused(
                Kind::Upstream,
                "refund_failed",
                "Refund failed",
                format!("the payment provider refused the refund: {why}"),
            ));
        }
        Ok(RefundSent::Done) => None,
        // Accepted by the provider, not finished: look again later (or its webhook finishes it).
        Ok(RefundSent::Pending) => Some(60_000),
        // The provider is unreachable: the refund stays pending and a job retries it.
        Err(JobError::Retryable(e)) => {
            tracing::warn!(refund = %refund.id, error = %e, "refund not sent yet; queued for retry");
            Some(5_000)
        }
        Err(JobError::Permanent(e)) => {
            return Err(AppError::internal(format!(
                "refund {} cannot be sent: {e}",
                refund.id
            )));
        }
        Err(JobError::Defer(after)) => Some(i64::try_from(after.as_millis()).unwrap_or(5_000)),
    };
    // A replay of a pending refund already has its job.
    if let Some(delay) = retry_in.filter(|_| !replayed) {
        let mut tx = app.db.begin_write().await?;
        enqueue_many(&mut tx, &[refund_job_at(refund.id, now_ms() + delay)]).await?;
        tx.commit().await?;
        app.jobs_committed();
    }
    let refund = store::refund(Exec::Db(&app.db), refund.id)
        .await?
        .ok_or_else(|| AppError::internal("a refund just made is gone"))?;
    let order = orders::detail(Exec::Db(&app.db), order_id)
        .await?
        .ok_or_else(|| AppError::internal("a refunded order is gone"))?
        .order;
    let refund_lines = store::refund_lines_of(Exec::Db(&app.db), order_id).await?;
    Ok(RefundMade {
        refund,
        replayed,
        order,
        refund_lines,
    })
}

/// An admin's "reconcile now": one [`reconcile`] pass over payments older than `min_age`,
/// with who ran it and what it did in the audit log (each payment change is also on its order).
pub async fn reconcile_now(
    app: &App,
    actor: &Actor,
    min_age: Duration,
) -> Result<Reconciled, AppError> {
    let done = reconcile(&app.db, &app.providers, min_age).await?;
    app.jobs_committed();
    let mut tx = app.db.begin_write().await?;
    record_audit(
        &mut tx,
        actor,
        "payments.reconcile",
        ("payments", "reconcile"),
        None,
        serde_json::to_value(&done).map_err(|e| AppError::internal(e.to_string()))?,
    )
    .await?;
    tx.commit().await?;
    Ok(done)
}
