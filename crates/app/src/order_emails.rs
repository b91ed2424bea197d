//! Order emails (confirmation to the customer and each vendor, payment received, shipped,
//! refunded, cancelled, the order link): who gets which template with which variables,
//! rendered from the order as it is when the job runs (the jobs carry ids only). The worker
//! sends what this composes.

use souk_domain::money::{Currency, format_decimal};
use souk_domain::orders::{Address, order_number};
use souk_storage::orders;
use souk_storage::{Db, Exec, StorageError, vendors};
use uuid::Uuid;

use crate::jobs::{EmailJob, JobError, OrderEmail};

/// Where the links in order emails point.
#[derive(Debug, Clone, Default)]
pub struct OrderLinks {
    /// The shop's public address, e.g. `https://shop.example`.
    pub public_url: String,
    /// The server key that signs guest order links; `None`: emails carry no order link.
    pub key: Option<std::sync::Arc<[u8]>>,
}

impl OrderLinks {
    /// The page a guest opens to see their order (the storefront's; the same token opens
    /// `GET /api/store/orders/{id}?access_token=`).
    pub fn order_link(&self, order_id: Uuid) -> Option<String> {
        let key = self.key.as_ref()?;
        Some(format!(
            "{}/orders/{order_id}?access_token={}",
            self.public_url.trim_end_matches('/'),
            souk_domain::orders::order_link_token(key, order_id.as_bytes())
        ))
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

/// The email `job` asks for, rendered from the order as it is now; `None` when there is
/// nobody to send it to (a vendor without people) or nothing to link to.
pub async fn order_email(
    db: &Db,
    links: &OrderLinks,
    job: &OrderEmail,
) -> Result<Option<EmailJob>, JobError> {
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
                    "order_link": links.order_link(o.id),
                }),
            };
            Ok(Some(email))
        }
        OrderEmail::Link { .. } => {
            let Some(link) = links.order_link(o.id) else {
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
            Ok(Some(email))
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
            Ok(Some(email))
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
            Ok(Some(email))
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
            Ok(Some(email))
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
            Ok(Some(email))
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
                return Ok(None); // a vendor without people: nobody to tell
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
            Ok(Some(email))
        }
    }
}
