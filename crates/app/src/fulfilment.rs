//! A vendor ships its part of an order, whole or in parcels, and corrects tracking numbers.
//! Each parcel is audited and the customer emailed about it in the same transaction.

use souk_storage::orders::{self, FulfilError, ShipLine, TransitionError, VendorOrderDetail};
use souk_storage::{Tx, jobs};
use uuid::Uuid;

use crate::jobs::{OrderEmail, email_job};
use crate::{Actor, App, AppError, FieldProblem, outbox, record_audit};

/// A carrier and tracking number as given.
#[derive(Debug, Clone)]
pub struct Tracking {
    pub carrier: String,
    pub tracking_number: String,
}

impl Tracking {
    /// The trimmed carrier and number, or every problem with them.
    fn checked(&self) -> Result<(&str, &str), AppError> {
        let mut problems = Vec::new();
        for (field, value) in [
            ("carrier", &self.carrier),
            ("tracking_number", &self.tracking_number),
        ] {
            let v = value.trim();
            if v.is_empty() || v.chars().count() > 100 || souk_domain::text::has_hidden_controls(v)
            {
                problems.push(FieldProblem {
                    field: field.into(),
                    message: "1–100 characters, no control characters".into(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(AppError::invalid(problems));
        }
        Ok((self.carrier.trim(), self.tracking_number.trim()))
    }
}

/// A refused shipment or correction; `field` names what a line problem points at (`lines`
/// for a shipment, `shipment_id` for a correction).
fn refused(e: FulfilError, field: &str) -> AppError {
    match e {
        FulfilError::Transition(TransitionError::NotFound) => {
            AppError::not_found("no such vendor order")
        }
        FulfilError::Transition(e) => e.into(),
        FulfilError::Line { index, message } => AppError::field(
            &if field == "lines" {
                format!("lines[{index}]")
            } else {
                field.to_owned()
            },
            message,
        ),
    }
}

/// One of the vendor's orders, as it is now.
pub async fn vendor_order(
    app: &App,
    vendor_id: Uuid,
    id: Uuid,
) -> Result<VendorOrderDetail, AppError> {
    orders::vendor_order(&app.db, vendor_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor order"))
}

/// Audits a shipment (or its corrected tracking) and queues the customer's email, in `tx`.
async fn announce(
    tx: &mut Tx,
    actor: &Actor,
    vendor_id: Uuid,
    (order_id, vendor_order_id, shipment_id): (Uuid, Uuid, Uuid),
    carrier: &str,
    corrected: bool,
) -> Result<(), AppError> {
    let action = if corrected {
        "vendor_order.tracking"
    } else {
        "vendor_order.fulfil"
    };
    record_audit(
        tx,
        actor,
        action,
        ("vendor_order", vendor_order_id),
        Some(vendor_id),
        serde_json::json!({"carrier": carrier, "shipment_id": shipment_id}),
    )
    .await?;
    let email = OrderEmail::Shipped {
        order_id,
        vendor_order_id,
        shipment_id: Some(shipment_id),
        corrected,
    };
    jobs::enqueue_many(tx, &[email_job(email)]).await?;
    Ok(())
}

/// Ships one parcel of `vendor_id`'s part: the given units (`lines`), or everything left to
/// ship. The vendor order is `fulfilled` at its last unit; the order `partially_fulfilled`,
/// or `fulfilled` when every vendor shipped everything. Only paid orders ship.
pub async fn fulfil(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    id: Uuid,
    tracking: &Tracking,
    lines: Option<Vec<ShipLine>>,
) -> Result<VendorOrderDetail, AppError> {
    let (carrier, number) = tracking.checked()?;
    if lines.as_ref().is_some_and(Vec::is_empty) {
        return Err(AppError::field(
            "lines",
            "name at least one line, or omit it to ship everything left",
        ));
    }
    let order_id = vendor_order(app, vendor_id, id)
        .await?
        .vendor_order
        .order_id;
    let mut tx = app.db.begin_write().await?;
    let shipped = orders::fulfil(&mut tx, vendor_id, id, carrier, number, lines.as_deref())
        .await?
        .map_err(|e| refused(e, "lines"))?;
    let kind = if shipped.all_shipped {
        "order.fulfilled"
    } else {
        "order.partially_fulfilled"
    };
    outbox::order_status_event(&mut tx, order_id, kind, shipped.order_status.as_str()).await?;
    let parcel = (order_id, id, shipped.shipment_id);
    announce(&mut tx, actor, vendor_id, parcel, carrier, false).await?;
    tx.commit().await?;
    app.jobs_committed();
    vendor_order(app, vendor_id, id).await
}

/// Corrects the carrier and tracking number of a shipment already sent (the latest, or
/// `shipment_id`); the customer is emailed the corrected details. The same details again
/// change nothing and send nothing.
pub async fn correct_tracking(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    id: Uuid,
    tracking: &Tracking,
    shipment_id: Option<Uuid>,
) -> Result<VendorOrderDetail, AppError> {
    let (carrier, number) = tracking.checked()?;
    let order_id = vendor_order(app, vendor_id, id)
        .await?
        .vendor_order
        .order_id;
    let mut tx = app.db.begin_write().await?;
    let changed = orders::correct_tracking(&mut tx, vendor_id, id, shipment_id, carrier, number)
        .await?
        .map_err(|e| refused(e, "shipment_id"))?;
    if let Some(shipment_id) = changed {
        let parcel = (order_id, id, shipment_id);
        announce(&mut tx, actor, vendor_id, parcel, carrier, true).await?;
    }
    tx.commit().await?;
    app.jobs_committed();
    vendor_order(app, vendor_id, id).await
}
