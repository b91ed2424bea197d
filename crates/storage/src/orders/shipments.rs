//! Shipments: a vendor's part shipped in parcels, and tracking corrections.

use souk_domain::orders::{OrderEvent, OrderStatus};
use uuid::Uuid;

use super::TransitionError;
use crate::dialect::for_update;
use crate::{StorageError, Tx, now_ms};

/// Units of one order line to put in a shipment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipLine {
    pub line_id: Uuid,
    pub quantity: i64,
}

/// Why a shipment was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FulfilError {
    Transition(TransitionError),
    /// The `index`th requested line is not one of this vendor order's lines, is named twice,
    /// or asks for more units than are left to ship.
    Line {
        index: usize,
        message: String,
    },
}

/// What a shipment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// Every vendor order of the order has now shipped in full.
    pub all_shipped: bool,
    pub shipment_id: Uuid,
    pub order_status: OrderStatus,
    /// Every unit of the vendor order has now shipped.
    pub vendor_order_complete: bool,
}

/// Corrects the carrier and tracking number of one shipment of a vendor order (the latest
/// when `shipment_id` is `None`). `Ok(Ok(Some(id)))` with the shipment's id when they changed,
/// `Ok(Ok(None))` when they were already so; `InvalidState` when nothing has shipped yet.
pub async fn correct_tracking(
    tx: &mut Tx,
    vendor_id: Uuid,
    vendor_order_id: Uuid,
    shipment_id: Option<Uuid>,
    carrier: &str,
    tracking_number: &str,
) -> Result<Result<Option<Uuid>, FulfilError>, StorageError> {
    let status: Option<String> = crate::sql::query_scalar(
        "SELECT status FROM vendor_orders WHERE id = $1 AND vendor_id = $2",
    )
    .bind(vendor_order_id)
    .bind(vendor_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(status) = status else {
        return Ok(Err(FulfilError::Transition(TransitionError::NotFound)));
    };
    // The shipments of this vendor order, newest last.
    let shipments: Vec<(Uuid, String, String)> = crate::sql::query_as(
            "SELECT id, carrier, tracking_number FROM shipments WHERE vendor_order_id = $1 ORDER BY created_at, id",
        )
        .bind(vendor_order_id)
        .fetch_all(&mut *tx)
        .await?;
    let Some(latest) = shipments.last().map(|s| s.0) else {
        return Ok(Err(FulfilError::Transition(
            TransitionError::InvalidState { status },
        )));
    };
    let target = shipment_id.unwrap_or(latest);
    let Some((_, old_carrier, old_number)) = shipments.iter().find(|s| s.0 == target) else {
        return Ok(Err(FulfilError::Line {
            index: 0,
            message: "is not a shipment of this vendor order".to_owned(),
        }));
    };
    if old_carrier == carrier && old_number == tracking_number {
        return Ok(Ok(None));
    }
    let now = now_ms();
    {
        crate::sql::query("UPDATE shipments SET carrier = $2, tracking_number = $3, updated_at = $4 WHERE id = $1")
            .bind(target)
            .bind(carrier)
            .bind(tracking_number)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        // The vendor order's own tracking fields mirror its latest shipment.
        if target == latest {
            crate::sql::query(
                "UPDATE vendor_orders SET carrier = $2, tracking_number = $3 WHERE id = $1",
            )
            .bind(vendor_order_id)
            .bind(carrier)
            .bind(tracking_number)
            .execute(&mut *tx)
            .await?;
        }
    };
    Ok(Ok(Some(target)))
}

/// Records a shipment of a vendor's part: the given units of its lines (`None`: everything
/// left to ship). The vendor order becomes `fulfilled` once every unit has shipped, and the
/// order `partially_fulfilled` or `fulfilled`. Only paid orders ship.
pub async fn fulfil(
    tx: &mut Tx,
    vendor_id: Uuid,
    vendor_order_id: Uuid,
    carrier: &str,
    tracking_number: &str,
    requested: Option<&[ShipLine]>,
) -> Result<Result<Shipped, FulfilError>, StorageError> {
    let now = now_ms();
    let lock = for_update(tx.backend());
    let sql = format!(
        "SELECT o.id, o.status, vo.status FROM vendor_orders vo JOIN orders o ON o.id = vo.order_id \
         WHERE vo.id = $1 AND vo.vendor_id = $2{lock}"
    );
    let row: Option<(Uuid, String, String)> = crate::sql::query_as(sql)
        .bind(vendor_order_id)
        .bind(vendor_id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some((order_id, order_status, vo_status)) = row else {
        return Ok(Err(FulfilError::Transition(TransitionError::NotFound)));
    };
    let current = OrderStatus::parse(&order_status);
    if vo_status != "unfulfilled"
        || current
            .and_then(|s| s.next(OrderEvent::Fulfil { all: false }))
            .is_none()
    {
        return Ok(Err(FulfilError::Transition(
            TransitionError::InvalidState {
                status: if vo_status == "unfulfilled" {
                    order_status
                } else {
                    vo_status
                },
            },
        )));
    }
    let lines: Vec<(Uuid, i64, i64)> = crate::sql::query_as(
            "SELECT id, quantity, shipped_quantity FROM order_lines WHERE vendor_order_id = $1 ORDER BY position",
        )
        .bind(vendor_order_id)
        .fetch_all(&mut *tx)
        .await?;
    let parcel = match parcel_of(&lines, requested) {
        Ok(parcel) => parcel,
        Err(e) => return Ok(Err(e)),
    };
    let shipment_id = Uuid::now_v7();
    let complete = lines.iter().all(|&(id, quantity, shipped)| {
        shipped
            + parcel
                .iter()
                .find(|p| p.line_id == id)
                .map_or(0, |p| p.quantity)
            >= quantity
    });
    let next = {
        crate::sql::query(
            "INSERT INTO shipments (id, order_id, vendor_order_id, carrier, tracking_number, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(shipment_id)
        .bind(order_id)
        .bind(vendor_order_id)
        .bind(carrier)
        .bind(tracking_number)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for p in &parcel {
            crate::sql::query("INSERT INTO shipment_lines (shipment_id, order_line_id, quantity) VALUES ($1, $2, $3)")
                .bind(shipment_id)
                .bind(p.line_id)
                .bind(p.quantity)
                .execute(&mut *tx)
                .await?;
            // Guarded, so a unit can never ship twice whatever the interleaving.
            let n = crate::sql::query(
                "UPDATE order_lines SET shipped_quantity = shipped_quantity + $2 \
                 WHERE id = $1 AND shipped_quantity + $2 <= quantity",
            )
            .bind(p.line_id)
            .bind(p.quantity)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(StorageError::Conflict(
                    "a line shipped more than ordered".to_owned(),
                ));
            }
        }
        let n = crate::sql::query(
            "UPDATE vendor_orders SET status = CASE WHEN $5 THEN 'fulfilled' ELSE status END, \
             carrier = $3, tracking_number = $4, fulfilled_at = CASE WHEN $5 THEN $6 ELSE fulfilled_at END \
             WHERE id = $1 AND vendor_id = $2 AND status = 'unfulfilled'",
        )
        .bind(vendor_order_id)
        .bind(vendor_id)
        .bind(carrier)
        .bind(tracking_number)
        .bind(complete)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            None
        } else {
            let left: i64 = crate::sql::query_scalar(
                "SELECT COUNT(*) FROM vendor_orders WHERE order_id = $1 AND status = 'unfulfilled'",
            )
            .bind(order_id)
            .fetch_one(&mut *tx)
            .await?;
            let next = current
                .and_then(|s| s.next(OrderEvent::Fulfil { all: left == 0 }))
                .expect("checked above");
            crate::sql::query("UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1")
                .bind(order_id)
                .bind(next.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            Some((next, left == 0))
        }
    };
    let Some((next, all_shipped)) = next else {
        return Ok(Err(FulfilError::Transition(
            TransitionError::InvalidState {
                status: "fulfilled".to_owned(),
            },
        )));
    };
    Ok(Ok(Shipped {
        all_shipped,
        shipment_id,
        order_status: next,
        vendor_order_complete: complete,
    }))
}

/// The units a shipment takes: what was asked for, checked against what is left to ship of
/// each line (`lines`: id, ordered, shipped), or everything left.
fn parcel_of(
    lines: &[(Uuid, i64, i64)],
    requested: Option<&[ShipLine]>,
) -> Result<Vec<ShipLine>, FulfilError> {
    let Some(requested) = requested else {
        return Ok(lines
            .iter()
            .filter(|&&(_, quantity, shipped)| quantity > shipped)
            .map(|&(line_id, quantity, shipped)| ShipLine {
                line_id,
                quantity: quantity - shipped,
            })
            .collect());
    };
    let mut parcel: Vec<ShipLine> = Vec::with_capacity(requested.len());
    for (index, want) in requested.iter().enumerate() {
        let fail = |message: String| Err(FulfilError::Line { index, message });
        let Some(&(_, quantity, shipped)) = lines.iter().find(|l| l.0 == want.line_id) else {
            return fail("is not a line of this vendor order".to_owned());
        };
        if parcel.iter().any(|p| p.line_id == want.line_id) {
            return fail("is named twice".to_owned());
        }
        let left = quantity - shipped;
        if want.quantity < 1 || want.quantity > left {
            return fail(format!("{left} left to ship of this line"));
        }
        parcel.push(*want);
    }
    if parcel.is_empty() {
        return Err(FulfilError::Line {
            index: 0,
            message: "name at least one line to ship".to_owned(),
        });
    }
    Ok(parcel)
}
