//! Orders after checkout: what platform staff do to them (cancel an unpaid order, record a
//! manual payment, complete a fulfilled order), the release of unpaid orders whose hold ran
//! out, and a guest's request for their order link.

use souk_storage::audit::{AuditFilter, AuditRecord};
use souk_storage::events::EventRow;
use souk_storage::orders::{self, OrderDetail, OrderRow, TransitionError};
use souk_storage::payments::{self, ProviderPaymentRow, RefundRow};
use souk_storage::{Exec, StorageError, Tx, jobs};
use uuid::Uuid;

use crate::jobs::{OrderEmail, email_job, payment_received_email};
use crate::{Actor, App, AppError, Kind, outbox, record_audit};

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

/// An order as its customer may read it: the signed-in customer who placed it, or anyone
/// holding its checkout token or the token of its emailed link. Anyone else is told there is no
/// such order, exactly as for an unknown id.
pub async fn readable(
    app: &App,
    customer: Option<Uuid>,
    token: Option<&str>,
    id: Uuid,
) -> Result<OrderDetail, AppError> {
    use souk_domain::accounts::{secure_eq, token_hash};
    let not_found = || AppError::not_found("no such order");
    let detail = orders::detail(Exec::Db(&app.db), id)
        .await?
        .ok_or_else(not_found)?;
    let owner = customer.is_some() && detail.order.user_id == customer;
    // The checkout's token (its hash is stored), or the emailed link's (derived, not stored).
    let token_ok = token.is_some_and(|t| {
        secure_eq(&token_hash(t), &detail.order.access_token_hash)
            || secure_eq(
                t.as_bytes(),
                souk_domain::orders::order_link_token(
                    &app.settings.webhooks.server_key,
                    id.as_bytes(),
                )
                .as_bytes(),
            )
    });
    if owner || token_ok {
        Ok(detail)
    } else {
        Err(not_found())
    }
}

/// An order as platform staff review it: the order, its payment attempts and refunds, and its
/// timeline (the events it caused and the audit entries of what staff did to it).
pub struct OrderHistory {
    pub detail: OrderDetail,
    pub attempts: Vec<ProviderPaymentRow>,
    pub refunds: Vec<RefundRow>,
    pub events: Vec<EventRow>,
    pub audit: Vec<AuditRecord>,
}

/// At most this many events and audit entries on an order's timeline.
const TIMELINE_LIMIT: i64 = 200;

pub async fn history(app: &App, id: Uuid) -> Result<OrderHistory, AppError> {
    let detail = get(app, id).await?;
    let attempts = payments::attempts_of(Exec::Db(&app.db), id).await?;
    let refunds = payments::refunds_of(Exec::Db(&app.db), id).await?;
    let events = souk_storage::events::of_order(&app.db, id, TIMELINE_LIMIT).await?;
    let filter = AuditFilter {
        subject: Some(("order".to_owned(), id.to_string())),
        limit: TIMELINE_LIMIT,
        ..Default::default()
    };
    let audit = souk_storage::audit::list(&app.db, &filter).await?;
    Ok(OrderHistory {
        detail,
        attempts,
        refunds,
        events,
        audit,
    })
}

/// Orders as CSV lines (amounts in minor units, times in RFC 3339 UTC), with the header line
/// first when `header`; emails neutralised so a spreadsheet never runs them as formulas.
pub fn orders_csv(rows: &[OrderRow], header: bool) -> Result<Vec<u8>, AppError> {
    let failed = |e: csv::Error| AppError::Internal(format!("order export: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    if header {
        w.write_record([
            "order_id",
            "number",
            "placed_at",
            "email",
            "status",
            "payment_method",
            "currency",
            "subtotal",
            "discount",
            "shipping",
            "tax",
            "total",
            "paid",
            "refunded",
            "coupon",
        ])
        .map_err(failed)?;
    }
    for o in rows {
        w.write_record([
            o.id.to_string(),
            souk_domain::orders::order_number(&o.id),
            souk_domain::time::rfc3339(o.placed_at),
            souk_domain::shopify::neutralise_cell(&o.email).into_owned(),
            o.status.clone(),
            o.payment_method.clone(),
            o.currency.clone(),
            o.subtotal.to_string(),
            o.discount.to_string(),
            o.shipping_total.to_string(),
            o.tax.to_string(),
            o.total.to_string(),
            o.paid_amount.to_string(),
            o.refunded_amount.to_string(),
            souk_domain::shopify::neutralise_cell(o.coupon_code.as_deref().unwrap_or(""))
                .into_owned(),
        ])
        .map_err(failed)?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(format!("order export: {e}")))
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
    cancelled(&mut tx, id).await?;
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

/// What follows a cancellation, in its transaction: the event and the customer's email.
async fn cancelled(tx: &mut Tx, order_id: Uuid) -> Result<(), StorageError> {
    outbox::order_status_event(tx, order_id, "order.cancelled", "cancelled").await?;
    jobs::enqueue_many(tx, &[email_job(OrderEmail::Cancelled { order_id })]).await
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
    let paid = orders::mark_paid(
        &mut tx,
        id,
        "manual",
        amount,
        reference,
        Some(actor.user_id),
    )
    .await?;
    if let Err(TransitionError::AmountMismatch { due }) = paid {
        // Said in money, not minor units: a person reads it beside the amount they typed.
        let currency = app.settings.currency;
        let due = souk_domain::money::format_decimal(due, currency);
        return Err(AppError::refused(
            Kind::Unprocessable,
            "amount_mismatch",
            "Wrong amount",
            format!("the amount due is {due} {}", currency.code()),
        ));
    }
    paid?;
    outbox::order_paid(&mut tx, id).await?;
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
    outbox::order_status_event(&mut tx, id, "order.completed", "completed").await?;
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

/// Cancels the order if it is still unpaid (its stock goes back, the customer is emailed); a
/// paid order is left alone. `Ok(true)` when this call cancelled it: the cancellation is a
/// conditional transition, so on several workers at once each order is cancelled once.
pub async fn expire_unpaid(
    db: &souk_storage::Db,
    order_id: Uuid,
) -> Result<bool, souk_storage::StorageError> {
    let mut tx = db.begin_write().await?;
    match orders::cancel(&mut tx, order_id, "payment_timeout").await? {
        Ok(_) => {
            cancelled(&mut tx, order_id).await?;
            tx.commit().await?;
            tracing::info!(order = %order_id, "unpaid order cancelled after its hold time");
            Ok(true)
        }
        Err(
            TransitionError::NotFound
            | TransitionError::InvalidState { .. }
            | TransitionError::AmountMismatch { .. },
        ) => Ok(false),
    }
}

/// Orders released per sweep pass at most (the next pass takes the rest).
const RELEASE_BATCH: i64 = 200;

/// One pass of the release sweep: cancels every unpaid order whose hold ran out. Returns how
/// many this pass cancelled.
pub async fn release_overdue(db: &souk_storage::Db) -> Result<usize, souk_storage::StorageError> {
    let mut released = 0;
    loop {
        let due = orders::overdue_unpaid(db, souk_storage::now_ms(), RELEASE_BATCH).await?;
        for order_id in &due {
            match expire_unpaid(db, *order_id).await {
                Ok(true) => released += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(order = %order_id, error = %e, "cannot release an unpaid order; the next pass retries");
                }
            }
        }
        if (due.len() as i64) < RELEASE_BATCH {
            return Ok(released);
        }
    }
}

/// Order links emailed per address, and lookups per client address, per hour.
const LOOKUPS_PER_EMAIL: i64 = 5;
const LOOKUPS_PER_ADDRESS: i64 = 30;
const LOOKUP_WINDOW_MS: i64 = 3_600_000;

/// A guest asks for their order link again with the order's email and number (`#1A2B3C4D`; the
/// `#` and case optional): if an order matches, its link is emailed to the order's address.
/// The caller learns nothing either way — same answer, and the rate limits are counted before
/// the lookup, matched or not — so nobody can probe which addresses ordered.
pub async fn request_order_link(
    app: &App,
    email: &str,
    number: &str,
    client_address_key: &str,
) -> Result<(), AppError> {
    use souk_storage::accounts::rate_limit_hit;
    let Ok(email) = souk_domain::accounts::Email::parse(email) else {
        return Ok(());
    };
    let Some(number) = souk_domain::orders::parse_order_number(number) else {
        return Ok(());
    };
    let (by_address, _) = rate_limit_hit(
        &app.db,
        &format!("order-link:address:{client_address_key}"),
        LOOKUP_WINDOW_MS,
    )
    .await?;
    if by_address > LOOKUPS_PER_ADDRESS {
        return Ok(());
    }
    let (by_email, _) = rate_limit_hit(
        &app.db,
        &format!("order-link:email:{email}"),
        LOOKUP_WINDOW_MS,
    )
    .await?;
    if by_email > LOOKUPS_PER_EMAIL {
        return Ok(());
    }
    let ids = orders::ids_by_email_and_number(&app.db, email.as_str(), number).await?;
    if ids.is_empty() {
        return Ok(());
    }
    let emails: Vec<_> = ids
        .into_iter()
        .map(|order_id| email_job(OrderEmail::Link { order_id }))
        .collect();
    let mut tx = app.db.begin_write().await?;
    jobs::enqueue_many(&mut tx, &emails).await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(())
}
