//! Reconciliation: asking providers about payments whose webhook never came, creating payments
//! never created, calling off payments of cancelled orders, re-sending pending refunds.

use std::time::Duration;

use serde::Serialize;
use souk_domain::payments::PaymentState;
use souk_payments::PaymentProvider;
use souk_storage::orders::{self};
use souk_storage::payments::{self as store, ProviderPaymentRow};
use souk_storage::{Db, Exec, StorageError, now_ms};

use super::{Observed, Providers, ensure_at_provider, observe, send_refund, start};
use crate::{Actor, App, AppError, record_audit};

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
