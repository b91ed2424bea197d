//! Orders as platform staff act on them: cancel an unpaid order, record a manual payment,
//! complete a fulfilled order.

use souk_storage::orders::{self, OrderDetail, TransitionError};
use souk_storage::{Exec, jobs};
use uuid::Uuid;

use crate::jobs::{OrderEmail, email_job, payment_received_email};
use crate::{Actor, App, AppError, Kind, record_audit};

impl From<TransitionError> for AppError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::NotFound => AppError::not_found("no such order"),
            TransitionError::AmountMismatch { due } => AppError::refused(
                Kind::Unprocessable,
                "amount_mismatch",
                "Wrong amount",
                format!("the amount due is {due}"),
            ),
            TransitionError::InvalidState { status } => AppError::refused(
                Kind::Conflict,
                "invalid_transition",
                "Not possible in this state",
                format!("not possible while the order is {status}"),
            ),
        }
    }
}

/// One order in full.
pub async fn get(app: &App, id: Uuid) -> Result<OrderDetail, AppError> {
    orders::detail(Exec::Db(&app.db), id)
        .await?
        .ok_or_else(|| AppError::not_found("no such order"))
}

/// Cancels an unpaid order: stock and coupon use go back, exactly once; the customer is
/// emailed. `reason` (at most 200 characters) is kept on the order.
pub async fn cancel(
    app: &App,
    actor: &Actor,
    id: Uuid,
    reason: &str,
) -> Result<OrderDetail, AppError> {
    let reason = reason.trim();
    if reason.chars().count() > 200 {
        return Err(AppError::field("reason", "at most 200 characters"));
    }
    let reason = if reason.is_empty() {
        "cancelled_by_admin"
    } else {
        reason
    };
    let mut tx = app.db.begin_write().await?;
    orders::cancel(&mut tx, id, reason).await??;
    jobs::enqueue_many(
        &mut tx,
        &[email_job(OrderEmail::Cancelled { order_id: id })],
    )
    .await?;
    record_audit(
        &mut tx,
        actor,
        "order.cancel",
        ("order", id),
        None,
        serde_json::json!({"reason": reason}),
    )
    .await?;
    tx.commit().await?;
    // The stock that came back shows in the storefront.
    app.catalog_changed();
    app.jobs_committed();
    get(app, id).await
}

/// Records a manual payment (bank transfer, cash) of the order's total: the order becomes
/// `paid` — once — the vendors' earnings and the commission go into the ledger, and the
/// customer is emailed.
pub async fn record_manual_payment(
    app: &App,
    actor: &Actor,
    id: Uuid,
    amount: i64,
    reference: &str,
) -> Result<OrderDetail, AppError> {
    let reference = reference.trim();
    let mut problems = Vec::new();
    if amount <= 0 {
        problems.push(crate::FieldProblem {
            field: "amount".into(),
            message: "must be positive".into(),
        });
    }
    if reference.chars().count() > 200 || souk_domain::text::has_hidden_controls(reference) {
        problems.push(crate::FieldProblem {
            field: "reference".into(),
            message: "at most 200 characters".into(),
        });
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    // A provider's order is paid through its provider; recording money here as well could
    // take a payment twice.
    let method = get(app, id).await?.order.payment_method;
    if method != "manual" {
        return Err(AppError::refused(
            Kind::Conflict,
            "payment_method_mismatch",
            "Paid through a provider",
            format!(
                "this order is paid with {method}; its payment is recorded from the provider, not by hand"
            ),
        ));
    }
    let mut tx = app.db.begin_write().await?;
    orders::mark_paid(
        &mut tx,
        id,
        "manual",
        amount,
        reference,
        Some(actor.user_id),
    )
    .await??;
    record_audit(
        &mut tx,
        actor,
        "order.payment",
        ("order", id),
        None,
        serde_json::json!({"amount": amount, "reference": reference}),
    )
    .await?;
    jobs::enqueue_many(&mut tx, &[payment_received_email(id)]).await?;
    tx.commit().await?;
    app.jobs_committed();
    get(app, id).await
}

/// Closes a fulfilled order.
pub async fn complete(app: &App, actor: &Actor, id: Uuid) -> Result<OrderDetail, AppError> {
    let mut tx = app.db.begin_write().await?;
    orders::complete(&mut tx, id).await??;
    record_audit(
        &mut tx,
        actor,
        "order.complete",
        ("order", id),
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    app.jobs_committed();
    get(app, id).await
}
