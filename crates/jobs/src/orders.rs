//! Jobs a checkout leaves behind: the confirmation emails (customer, and each vendor); and the
//! release sweep, which cancels orders still unpaid when their hold time (`orders.hold_until`)
//! runs out. (Orders placed before the sweep existed have an `order_expire` job instead.)
//!
//! The jobs carry ids only; the emails are rendered from the order as it is when they are sent.

use souk_domain::money::{Currency, format_decimal};
use souk_domain::orders::{Address, order_number};
use souk_storage::jobs::ScheduledJob;
use souk_storage::orders::{self, OrderDetail, TransitionError};
use souk_storage::{Db, Exec, StorageError, now_ms, vendors};
use uuid::Uuid;

use crate::JobError;
use crate::mail::{EmailJob, Mailer};

pub use souk_app::jobs::{ORDER_EMAIL_JOB, ORDER_EXPIRE_JOB, OrderEmail, OrderExpiry, email_job};

/// The jobs to enqueue in the checkout transaction of `order`: the confirmation emails.
pub fn checkout_jobs(order: &OrderDetail) -> Vec<ScheduledJob> {
    let mut jobs = vec![email_job(OrderEmail::Customer {
        order_id: order.order.id,
    })];
    jobs.extend(order.vendor_orders.iter().map(|vo| {
        email_job(OrderEmail::Vendor {
            order_id: order.order.id,
            vendor_order_id: vo.id,
        })
    }));
    jobs
}

/// Orders released per sweep pass at most (the next pass takes the rest).
const RELEASE_BATCH: i64 = 200;

/// One pass of the release sweep: cancels every unpaid order whose hold ran out (stock goes
/// back, the customer is emailed). Safe on several instances at once: the cancellation is a
/// conditional transition, so each order is cancelled (and emailed) once. Returns how many
/// this pass cancelled.
pub async fn release_overdue(db: &Db) -> Result<usize, StorageError> {
    let mut released = 0;
    loop {
        let due = orders::overdue_unpaid(db, now_ms(), RELEASE_BATCH).await?;
        for order_id in &due {
            match expire(
                db,
                &OrderExpiry {
                    order_id: *order_id,
                },
            )
            .await
            {
                Ok(true) => released += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(order = %order_id, error = %e, "cannot release an unpaid order; the next pass retries")
                }
            }
        }
        if (due.len() as i64) < RELEASE_BATCH {
            return Ok(released);
        }
    }
}

fn address_text(json: &str) -> String {
    match serde_json::from_str::<Address>(json) {
        Ok(a) => [
            a.name,
            a.line1,
            a.line2,
            format!("{} {}", a.postal_code, a.city),
            a.region,
            a.country,
        ]
        .into_iter()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n"),
        Err(_) => String::new(),
    }
}

fn customer_name(address: &str) -> String {
    serde_json::from_str::<Address>(address)
        .map(|a| a.name)
        .unwrap_or_default()
}

pub(crate) async fn send(
    db: &Db,
    mailer: &Mailer,
    config: &crate::WorkerConfig,
    job_id: Uuid,
    job: &OrderEmail,
) -> Result<(), JobError> {
    let retry = |e: StorageError| JobError::Retryable(e.to_string());
    let order_id = match job {
        OrderEmail::Customer { order_id }
        | OrderEmail::Vendor { order_id, .. }
        | OrderEmail::PaymentReceived { order_id }
        | OrderEmail::Refunded { order_id, .. }
        | OrderEmail::Shipped { order_id, .. }
        | OrderEmail::Cancelled { order_id }
        | OrderEmail::Link { order_id } => *order_id,
    };
    let Some(d) = orders::detail(Exec::Db(db), order_id)
        .await
        .map_err(retry)?
    else {
        return Err(JobError::Permanent(format!("no order {order_id}")));
    };
    let o = &d.order;
    let currency = Currency::parse(&o.currency)
        .map_err(|_| JobError::Permanent(format!("bad currency {}", o.currency)))?;
    let fmt = |amount: i64| format!("{} {}", format_decimal(amount, currency), o.currency);
    let line = |l: &orders::OrderLineRow| {
        serde_json::json!({
            "quantity": l.quantity, "title": l.product_title, "variant": l.variant_title,
            "sku": l.sku, "note": l.note, "total": fmt(l.total),
        })
    };
    let pending = o.status == "pending_payment";
    match job {
        OrderEmail::Customer { .. } => {
            // The deadline of an unpaid order, so the customer knows when it will be released.
            let pay_by = o.hold_until.filter(|_| pending).map(|t| {
                let at = souk_domain::time::rfc3339(t);
                format!("{} UTC", at.get(..16).unwrap_or(&at).replace('T', " "))
            });
            let name = serde_json::from_str::<Address>(&o.shipping_address)
                .map(|a| a.name)
                .unwrap_or_default();
            let email = EmailJob {
                to: o.email.clone(),
                template: "order_confirmation".to_owned(),
                vars: serde_json::json!({
                    "name": name,
                    "order_number": order_number(&o.id),
                    "order_id": o.id,
                    "lines": d.lines.iter().map(line).collect::<Vec<_>>(),
                    "subtotal": fmt(o.subtotal),
                    "has_discount": o.discount > 0,
                    "discount": fmt(o.discount),
                    "shipping": fmt(o.shipping_total),
                    "tax": fmt(o.tax),
                    "tax_inclusive": o.total == o.subtotal - o.discount + o.shipping_total && o.tax > 0,
                    "total": fmt(o.total),
                    "payment_method": o.payment_method,
                    "pending_payment": pending,
                    "pay_by": pay_by,
                    "address": address_text(&o.shipping_address),
                    "order_link": config.order_link(o.id),
                }),
            };
            mailer.send(job_id, &email).await
        }
        OrderEmail::Link { .. } => {
            let Some(link) = config.order_link(o.id) else {
                return Err(JobError::Permanent(
                    "this worker has no server key to sign order links".into(),
                ));
            };
            let email = EmailJob {
                to: o.email.clone(),
                template: "order_link".to_owned(),
                vars: serde_json::json!({
                    "name": customer_name(&o.shipping_address),
                    "order_number": order_number(&o.id),
                    "order_link": link,
                }),
            };
            mailer.send(job_id, &email).await
        }
        OrderEmail::PaymentReceived { .. } => {
            let email = EmailJob {
                to: o.email.clone(),
                template: "payment_received".to_owned(),
                vars: serde_json::json!({
                    "name": customer_name(&o.shipping_address),
                    "order_number": order_number(&o.id),
                    "order_id": o.id,
                    "total": fmt(o.paid_amount),
                }),
            };
            mailer.send(job_id, &email).await
        }
        OrderEmail::Refunded { refund_id, .. } => {
            let Some(refund) = souk_storage::payments::refund(Exec::Db(db), *refund_id)
                .await
                .map_err(retry)?
            else {
                return Err(JobError::Permanent(format!("no refund {refund_id}")));
            };
            let email = EmailJob {
                to: o.email.clone(),
                template: "order_refunded".to_owned(),
                vars: serde_json::json!({
                    "name": customer_name(&o.shipping_address),
                    "order_number": order_number(&o.id),
                    "order_id": o.id,
                    "amount": fmt(refund.amount),
                    "refunded_total": fmt(o.refunded_amount),
                    "full": o.refunded_amount >= o.paid_amount,
                    "order_cancelled": refund.reason == "order_cancelled",
                    "reason": refund.reason,
                }),
            };
            mailer.send(job_id, &email).await
        }
        OrderEmail::Shipped {
            vendor_order_id,
            shipment_id,
            corrected,
            ..
        } => {
            let Some(vo) = d.vendor_orders.iter().find(|v| v.id == *vendor_order_id) else {
                return Err(JobError::Permanent(format!(
                    "no vendor order {vendor_order_id}"
                )));
            };
            let shipment = shipment_id.and_then(|id| d.shipments.iter().find(|s| s.id == id));
            // The parcel's lines with the units in it; without one, the whole part.
            let parcel: Vec<serde_json::Value> = match shipment {
                Some(s) => s
                    .lines
                    .iter()
                    .filter_map(|sl| {
                        let l = d.lines.iter().find(|l| l.id == sl.order_line_id)?;
                        let mut v = line(l);
                        v["quantity"] = sl.quantity.into();
                        Some(v)
                    })
                    .collect(),
                None => d
                    .lines
                    .iter()
                    .filter(|l| l.vendor_order_id == vo.id)
                    .map(line)
                    .collect(),
            };
            let left: i64 = d
                .lines
                .iter()
                .filter(|l| l.vendor_order_id == vo.id)
                .map(|l| l.quantity - l.shipped_quantity)
                .sum();
            let email = EmailJob {
                to: o.email.clone(),
                template: "order_shipped".to_owned(),
                vars: serde_json::json!({
                    "name": customer_name(&o.shipping_address),
                    "order_number": order_number(&o.id),
                    "order_id": o.id,
                    "vendor_name": vo.vendor_name,
                    "carrier": shipment.map_or(vo.carrier.as_deref(), |s| Some(s.carrier.as_str())),
                    "tracking_number": shipment.map_or(vo.tracking_number.as_deref(), |s| Some(s.tracking_number.as_str())),
                    "lines": parcel,
                    "units_left": left,
                    "all_shipped": o.status == "fulfilled" || o.status == "completed",
                    "corrected": corrected,
                    "address": address_text(&o.shipping_address),
                }),
            };
            mailer.send(job_id, &email).await
        }
        OrderEmail::Cancelled { .. } => {
            let email = EmailJob {
                to: o.email.clone(),
                template: "order_cancelled".to_owned(),
                vars: serde_json::json!({
                    "name": customer_name(&o.shipping_address),
                    "order_number": order_number(&o.id),
                    "order_id": o.id,
                    "unpaid": o.cancel_reason.as_deref() == Some("payment_timeout"),
                    "was_paid": o.paid_amount > 0,
                }),
            };
            mailer.send(job_id, &email).await
        }
        OrderEmail::Vendor {
            vendor_order_id, ..
        } => {
            let Some(vo) = d.vendor_orders.iter().find(|v| v.id == *vendor_order_id) else {
                return Err(JobError::Permanent(format!(
                    "no vendor order {vendor_order_id}"
                )));
            };
            let recipients = vendors::notification_emails(db, vo.vendor_id)
                .await
                .map_err(retry)?;
            let Some(to) = recipients.into_iter().next() else {
                return Ok(()); // a vendor without people: nobody to tell
            };
            let email = EmailJob {
                to,
                template: "vendor_new_order".to_owned(),
                vars: serde_json::json!({
                    "vendor_name": vo.vendor_name,
                    "order_number": order_number(&o.id),
                    "vendor_order_id": vo.id,
                    "lines": d.lines.iter().filter(|l| l.vendor_order_id == vo.id).map(line).collect::<Vec<_>>(),
                    "total": fmt(vo.total),
                    "shipping": fmt(vo.shipping),
                    "shipping_option": vo.shipping_rate.clone().unwrap_or_else(|| "free".to_owned()),
                    "pending_payment": pending,
                    "address": address_text(&o.shipping_address),
                }),
            };
            mailer.send(job_id, &email).await
        }
    }
}

/// Cancels the order if it is still unpaid (stock goes back); a paid order is left alone.
/// `Ok(true)` when this call cancelled it.
pub(crate) async fn expire(db: &Db, job: &OrderExpiry) -> Result<bool, JobError> {
    let retry = |e: StorageError| JobError::Retryable(e.to_string());
    let mut tx = db.begin_write().await.map_err(retry)?;
    match orders::cancel(&mut tx, job.order_id, "payment_timeout")
        .await
        .map_err(retry)?
    {
        Ok(_) => {
            souk_storage::jobs::enqueue_many(
                &mut tx,
                &[email_job(OrderEmail::Cancelled {
                    order_id: job.order_id,
                })],
            )
            .await
            .map_err(retry)?;
            tx.commit().await.map_err(retry)?;
            tracing::info!(order = %job.order_id, "unpaid order cancelled after its hold time");
            Ok(true)
        }
        Err(TransitionError::NotFound) | Err(TransitionError::InvalidState { .. }) => Ok(false),
        Err(TransitionError::AmountMismatch { .. }) => Ok(false),
    }
}
