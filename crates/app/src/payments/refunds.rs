//! Refunds: an admin's refund (by amount, or units of lines, from one vendor order or spread),
//! sending a refund to its provider, and the refund job's step.

use souk_domain::accounts::token_hash;
use souk_payments::{ProviderError, RefundPayment};
use souk_storage::jobs::enqueue_many;
use souk_storage::orders::{self, OrderRow};
use souk_storage::payments::{self as store, RefundError, RefundLine, RefundRow};
use souk_storage::{Db, Exec, StorageError, Tx, now_ms};
use uuid::Uuid;

use super::Providers;
use crate::jobs::{JobError, OrderEmail, RefundJob, email_job, refund_job_at};
use crate::{Actor, App, AppError, FieldProblem, Kind, outbox, record_audit};

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
    if let Some(status) = store::complete_refund(&mut tx, refund.id, provider_ref.as_deref())
        .await
        .map_err(retry)?
    {
        outbox::refund_booked(&mut tx, refund.order_id, status)
            .await
            .map_err(retry)?;
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
