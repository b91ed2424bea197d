//! Orders: checkout (one transaction from cart to order), reads for customers, vendors and
//! admins, and the state transitions (payment, fulfilment, cancellation), each a conditional
//! update on the current status so it happens at most once however many callers race.

mod checkout;
mod generated;
mod idempotency;
mod shipments;
mod transitions;

pub use checkout::*;
pub use generated::*;
pub use idempotency::*;
pub use shipments::*;
pub use transitions::*;

use uuid::Uuid;

use crate::db::{Arg, Exec};
use crate::{Db, StorageError, Tx};

#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: Uuid,
    pub cart_id: Uuid,
    pub user_id: Option<Uuid>,
    pub email: String,
    /// JSON of `souk_domain::orders::Address`.
    pub shipping_address: String,
    pub status: String,
    pub payment_method: String,
    pub currency: String,
    pub subtotal: i64,
    pub discount: i64,
    pub shipping_total: i64,
    pub tax: i64,
    pub total: i64,
    pub paid_amount: i64,
    pub refunded_amount: i64,
    pub coupon_code: Option<String>,
    pub access_token_hash: Vec<u8>,
    pub cancel_reason: Option<String>,
    pub placed_at: i64,
    pub updated_at: i64,
    pub paid_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    /// Until when the order keeps its stock while unpaid (`None` for orders placed before it
    /// was recorded; an `order_expire` job releases those).
    pub hold_until: Option<i64>,
}

crate::from_row!(OrderRow {
    id,
    cart_id,
    user_id,
    email,
    shipping_address,
    status,
    payment_method,
    currency,
    subtotal,
    discount,
    shipping_total,
    tax,
    total,
    paid_amount,
    refunded_amount,
    coupon_code,
    access_token_hash,
    cancel_reason,
    placed_at,
    updated_at,
    paid_at,
    cancelled_at,
    hold_until
});

const ORDER_COLUMNS: &str = "o.id, o.cart_id, o.user_id, o.email, o.shipping_address, o.status, o.payment_method, \
     o.currency, o.subtotal, o.discount, o.shipping_total, o.tax, o.total, o.paid_amount, o.refunded_amount, o.coupon_code, \
     o.access_token_hash, o.cancel_reason, o.placed_at, o.updated_at, o.paid_at, o.cancelled_at, o.hold_until";

#[derive(Debug, Clone)]
pub struct VendorOrderRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub vendor_id: Uuid,
    pub vendor_name: String,
    pub status: String,
    pub subtotal: i64,
    pub discount: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    pub shipping_rate: Option<String>,
    pub commission_bps: i64,
    pub commission: i64,
    /// Given back to the customer from this part so far.
    pub refunded: i64,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub fulfilled_at: Option<i64>,
    pub created_at: i64,
}

crate::from_row!(VendorOrderRow {
    id,
    order_id,
    vendor_id,
    vendor_name,
    status,
    subtotal,
    discount,
    shipping,
    tax,
    total,
    shipping_rate,
    commission_bps,
    commission,
    refunded,
    carrier,
    tracking_number,
    fulfilled_at,
    created_at
});

const VENDOR_ORDER_COLUMNS: &str = "vo.id, vo.order_id, vo.vendor_id, vd.name AS vendor_name, vo.status, vo.subtotal, \
     vo.discount, vo.shipping, vo.tax, vo.total, vo.shipping_rate, vo.commission_bps, vo.commission, vo.refunded, vo.carrier, \
     vo.tracking_number, vo.fulfilled_at, vo.created_at";

#[derive(Debug, Clone)]
pub struct OrderLineRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub vendor_order_id: Uuid,
    pub variant_id: Option<Uuid>,
    pub position: i64,
    pub product_title: String,
    pub variant_title: String,
    pub sku: Option<String>,
    pub note: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub amount: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    pub stock_reserved: bool,
    /// Units sent so far, over all of the vendor order's shipments.
    pub shipped_quantity: i64,
    /// Units given money back for by refunds aimed at this line (succeeded ones).
    pub refunded_quantity: i64,
}

crate::from_row!(OrderLineRow {
    id,
    order_id,
    vendor_order_id,
    variant_id,
    position,
    product_title,
    variant_title,
    sku,
    note,
    unit_price,
    quantity,
    amount,
    discount,
    tax,
    total,
    stock_reserved,
    shipped_quantity,
    refunded_quantity
});

const LINE_COLUMNS: &str = "l.id, l.order_id, l.vendor_order_id, l.variant_id, l.position, l.product_title, \
     l.variant_title, l.sku, l.note, l.unit_price, l.quantity, l.amount, l.discount, l.tax, l.total, l.stock_reserved, \
     l.shipped_quantity, CAST(COALESCE((SELECT SUM(rl.quantity) FROM refund_lines rl JOIN refunds r ON r.id = rl.refund_id \
     WHERE rl.order_line_id = l.id AND r.status = 'succeeded'), 0) AS BIGINT) AS refunded_quantity";

/// One parcel of a vendor order: its tracking and the units of each line in it.
#[derive(Debug, Clone)]
pub struct ShipmentRow {
    pub id: Uuid,
    pub order_id: Uuid,
    pub vendor_order_id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub lines: Vec<ShipmentLine>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShipmentLine {
    pub order_line_id: Uuid,
    pub quantity: i64,
}

/// An order with its vendor orders, lines and shipments.
#[derive(Debug, Clone)]
pub struct OrderDetail {
    pub order: OrderRow,
    pub vendor_orders: Vec<VendorOrderRow>,
    pub lines: Vec<OrderLineRow>,
    /// Oldest first.
    pub shipments: Vec<ShipmentRow>,
}

/// Unpaid orders whose stock hold ran out by `now`, longest overdue first (at most `limit`):
/// what the release sweep cancels. Reads the `orders_hold_until` index only.
pub async fn overdue_unpaid(db: &Db, now: i64, limit: i64) -> Result<Vec<Uuid>, StorageError> {
    crate::sql::query_scalar(
        "SELECT id FROM orders WHERE status = 'pending_payment' AND hold_until <= $1 \
             ORDER BY hold_until LIMIT $2",
    )
    .bind(now)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The SHA-256 of an order's guest access token (`None`: no such order).
pub async fn access_token_hash(db: &Db, order_id: Uuid) -> Result<Option<Vec<u8>>, StorageError> {
    crate::sql::query_scalar("SELECT access_token_hash FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_optional(db)
        .await
}

/// The ids of the orders placed with `email` whose number is `number` (the id's last four
/// bytes, as `souk_domain::orders::parse_order_number` reads it), newest first. Reads the
/// `orders_email` index: at most the address's latest 500 orders are considered.
pub async fn ids_by_email_and_number(
    db: &Db,
    email: &str,
    number: [u8; 4],
) -> Result<Vec<Uuid>, StorageError> {
    let ids: Vec<Uuid> = crate::sql::query_scalar(
        "SELECT id FROM orders WHERE email = $1 ORDER BY placed_at DESC LIMIT 500",
    )
    .bind(email)
    .fetch_all(db)
    .await?;
    Ok(ids
        .into_iter()
        .filter(|id| id.as_bytes()[12..] == number)
        .collect())
}

/// An order with its vendor orders and lines.
pub async fn detail(mut exec: Exec<'_>, id: Uuid) -> Result<Option<OrderDetail>, StorageError> {
    let order_sql = format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = $1");
    let vo_sql = format!(
        "SELECT {VENDOR_ORDER_COLUMNS} FROM vendor_orders vo JOIN vendors vd ON vd.id = vo.vendor_id \
         WHERE vo.order_id = $1 ORDER BY vo.id"
    );
    let line_sql = format!(
        "SELECT {LINE_COLUMNS} FROM order_lines l WHERE l.order_id = $1 ORDER BY l.position"
    );
    Ok({
        let order: Option<OrderRow> = crate::sql::query_as(order_sql)
            .bind(id)
            .fetch_optional(&mut exec)
            .await?;
        match order {
            None => None,
            Some(order) => {
                let vendor_orders = crate::sql::query_as(vo_sql)
                    .bind(id)
                    .fetch_all(&mut exec)
                    .await?;
                let lines = crate::sql::query_as(line_sql)
                    .bind(id)
                    .fetch_all(&mut exec)
                    .await?;
                let heads: Vec<ShipmentHead> = crate::sql::query_as(
                    "SELECT id, order_id, vendor_order_id, carrier, tracking_number, created_at, updated_at \
                     FROM shipments WHERE order_id = $1 ORDER BY created_at, id",
                )
                .bind(id)
                .fetch_all(&mut exec)
                .await?;
                let parts: Vec<(Uuid, Uuid, i64)> = crate::sql::query_as(
                    "SELECT sl.shipment_id, sl.order_line_id, sl.quantity FROM shipment_lines sl \
                     JOIN shipments s ON s.id = sl.shipment_id WHERE s.order_id = $1",
                )
                .bind(id)
                .fetch_all(&mut exec)
                .await?;
                Some(OrderDetail {
                    order,
                    vendor_orders,
                    lines,
                    shipments: assemble_shipments(heads, parts),
                })
            }
        }
    })
}

/// Filters of an order list (newest first, keyset by id).
#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub user_id: Option<Uuid>,
    pub status: Option<String>,
    /// Customer email (exact, lower-case), order id, or order number (`#A1B2C3D4`).
    pub query: Option<String>,
    /// Orders with a part sold by this vendor.
    pub vendor_id: Option<Uuid>,
    /// Placed at or after this time (Unix ms).
    pub placed_from: Option<i64>,
    /// Placed before this time (Unix ms).
    pub placed_before: Option<i64>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// The smallest time-ordered (v7) id made at `ms`: order ids grow with the time they were
/// placed, so a date range is a range of the primary key.
pub(crate) fn first_id_at(ms: i64) -> Uuid {
    let ms = ms.clamp(0, (1 << 48) - 1) as u64;
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    bytes[6] = 0x70;
    bytes[8] = 0x80;
    Uuid::from_bytes(bytes)
}

pub async fn list(db: &Db, f: &OrderFilter) -> Result<Vec<OrderRow>, StorageError> {
    let mut filters = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    // One vendor's orders are walked from its own index, newest first (SQLite keeps the
    // CROSS JOIN's order); `key` is the order id the cursor and date range apply to.
    let (from, key) = match f.vendor_id {
        Some(vendor) => {
            args.push(Arg::Uuid(vendor));
            filters.push(format!("vo.vendor_id = ${}", args.len()));
            let join = match db.backend() {
                crate::Backend::Sqlite => "CROSS JOIN",
                crate::Backend::Postgres => "JOIN",
            };
            (
                format!("vendor_orders vo {join} orders o ON o.id = vo.order_id"),
                "vo.order_id",
            )
        }
        None => ("orders o".to_owned(), "o.id"),
    };
    if let Some(user) = f.user_id {
        args.push(Arg::Uuid(user));
        filters.push(format!("o.user_id = ${}", args.len()));
    }
    if let Some(status) = &f.status {
        args.push(Arg::Text(status.clone()));
        filters.push(format!("o.status = ${}", args.len()));
    }
    if let Some(q) = &f.query {
        if let Ok(id) = Uuid::try_parse(q) {
            args.push(Arg::Uuid(id));
            filters.push(format!("o.id = ${}", args.len()));
        } else if let Some(tail) = souk_domain::orders::parse_order_number(q) {
            // The order number is the id's last four bytes, found through `orders_number`
            // (migration 0027), whose expression this must repeat exactly.
            match db.backend() {
                crate::Backend::Sqlite => {
                    args.push(Arg::Bytes(tail.to_vec()));
                    filters.push(format!("substr(o.id, 13, 4) = ${}", args.len()));
                }
                crate::Backend::Postgres => {
                    let hex: String = tail.iter().map(|b| format!("{b:02x}")).collect();
                    args.push(Arg::Text(hex));
                    filters.push(format!("right(o.id::text, 8) = ${}", args.len()));
                }
            }
        } else {
            args.push(Arg::Text(q.to_lowercase()));
            filters.push(format!("o.email = ${}", args.len()));
        }
    }
    if let Some(from) = f.placed_from {
        args.push(Arg::Uuid(first_id_at(from)));
        filters.push(format!("{key} >= ${}", args.len()));
    }
    if let Some(until) = f.placed_before {
        args.push(Arg::Uuid(first_id_at(until)));
        filters.push(format!("{key} < ${}", args.len()));
    }
    if let Some(before) = f.before {
        args.push(Arg::Uuid(before));
        filters.push(format!("{key} < ${}", args.len()));
    }
    args.push(Arg::I64(f.limit));
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM {from} WHERE {} ORDER BY {key} DESC LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    crate::sql::query_as(sql).bind_all(args).fetch_all(db).await
}

/// A vendor's part of an order: its vendor order, its lines only, and where to ship.
#[derive(Debug, Clone)]
pub struct VendorOrderDetail {
    pub vendor_order: VendorOrderRow,
    pub order_status: String,
    pub shipping_address: String,
    pub placed_at: i64,
    pub lines: Vec<OrderLineRow>,
    /// Oldest first.
    pub shipments: Vec<ShipmentRow>,
}

#[derive(Clone)]
struct ShipmentHead {
    id: Uuid,
    order_id: Uuid,
    vendor_order_id: Uuid,
    carrier: String,
    tracking_number: String,
    created_at: i64,
    updated_at: i64,
}

crate::from_row!(ShipmentHead {
    id,
    order_id,
    vendor_order_id,
    carrier,
    tracking_number,
    created_at,
    updated_at
});

/// Shipments with their lines, in the order of `heads`.
fn assemble_shipments(heads: Vec<ShipmentHead>, parts: Vec<(Uuid, Uuid, i64)>) -> Vec<ShipmentRow> {
    heads
        .into_iter()
        .map(|h| ShipmentRow {
            lines: parts
                .iter()
                .filter(|(shipment, _, _)| *shipment == h.id)
                .map(|&(_, order_line_id, quantity)| ShipmentLine {
                    order_line_id,
                    quantity,
                })
                .collect(),
            id: h.id,
            order_id: h.order_id,
            vendor_order_id: h.vendor_order_id,
            carrier: h.carrier,
            tracking_number: h.tracking_number,
            created_at: h.created_at,
            updated_at: h.updated_at,
        })
        .collect()
}

/// The arguments and `WHERE` of a page of a vendor's orders `vo` (optionally of one status,
/// before a cursor); the last argument is the page's length.
fn vendor_order_page(
    vendor_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> (Vec<Arg>, String) {
    let mut args = vec![Arg::Uuid(vendor_id)];
    let mut filters = vec!["vo.vendor_id = $1".to_owned()];
    if let Some(s) = status {
        args.push(Arg::Text(s.to_owned()));
        filters.push(format!("vo.status = ${}", args.len()));
    }
    if let Some(b) = before {
        args.push(Arg::Uuid(b));
        filters.push(format!("vo.id < ${}", args.len()));
    }
    args.push(Arg::I64(limit));
    (args, filters.join(" AND "))
}

pub async fn vendor_orders(
    db: &Db,
    vendor_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<VendorOrderDetail>, StorageError> {
    let (args, filters) = vendor_order_page(vendor_id, status, before, limit);
    let sql = format!(
        "SELECT {VENDOR_ORDER_COLUMNS} FROM vendor_orders vo JOIN vendors vd ON vd.id = vo.vendor_id \
         WHERE {filters} ORDER BY vo.id DESC LIMIT ${}",
        args.len()
    );
    let rows: Vec<VendorOrderRow> = crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    vendor_order_parts_many(db, rows).await
}

/// A vendor order as its vendor's lists show it: the customer's order, how many units were
/// bought and how many have shipped.
#[derive(Debug, Clone)]
pub struct VendorOrderSummary {
    pub id: Uuid,
    pub order_id: Uuid,
    /// The vendor order's own status (`unfulfilled`, `fulfilled`, `cancelled`).
    pub status: String,
    pub total: i64,
    pub order_status: String,
    /// The order's shipping address as stored (JSON).
    pub shipping_address: String,
    pub placed_at: i64,
    pub units: i64,
    pub shipped_units: i64,
}

crate::from_row!(VendorOrderSummary {
    id,
    order_id,
    status,
    total,
    order_status,
    shipping_address,
    placed_at,
    units,
    shipped_units
});

/// A page of a vendor's orders (newest first, optionally of one status, before a cursor) as
/// [`VendorOrderSummary`]s, in one statement: the page's ids first, then their orders and
/// their lines' units. (Reading whole vendor orders with every line and parcel in five
/// statements to show a line each was a third of the vendor's order list page.)
pub async fn vendor_order_summaries(
    db: &Db,
    vendor_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<VendorOrderSummary>, StorageError> {
    let (args, filters) = vendor_order_page(vendor_id, status, before, limit);
    let sql = format!(
        "WITH page AS MATERIALIZED (SELECT vo.id FROM vendor_orders vo WHERE {filters} \
         ORDER BY vo.id DESC LIMIT ${}) \
         SELECT vo.id, vo.order_id, vo.status, vo.total, o.status AS order_status, \
         o.shipping_address, o.placed_at, CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) AS units, \
         CAST(COALESCE(SUM(l.shipped_quantity), 0) AS BIGINT) AS shipped_units \
         FROM page JOIN vendor_orders vo ON vo.id = page.id JOIN orders o ON o.id = vo.order_id \
         LEFT JOIN order_lines l ON l.vendor_order_id = vo.id \
         GROUP BY vo.id, o.id ORDER BY vo.id DESC",
        args.len()
    );
    crate::sql::query_as(sql).bind_all(args).fetch_all(db).await
}

/// The parts of a page of vendor orders, read in four queries whatever the page's length.
async fn vendor_order_parts_many(
    db: &Db,
    rows: Vec<VendorOrderRow>,
) -> Result<Vec<VendorOrderDetail>, StorageError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let n = rows.len();
    let list = crate::catalog::placeholders(1, n);
    let orders: Vec<Arg> = rows.iter().map(|vo| Arg::Uuid(vo.order_id)).collect();
    let parts: Vec<Arg> = rows.iter().map(|vo| Arg::Uuid(vo.id)).collect();
    let order_sql =
        format!("SELECT id, status, shipping_address, placed_at FROM orders WHERE id IN ({list})");
    let line_sql = format!(
        "SELECT {LINE_COLUMNS} FROM order_lines l WHERE l.vendor_order_id IN ({list}) \
         ORDER BY l.vendor_order_id, l.position"
    );
    let head_sql = format!(
        "SELECT id, order_id, vendor_order_id, carrier, tracking_number, created_at, updated_at \
         FROM shipments WHERE vendor_order_id IN ({list}) ORDER BY created_at, id"
    );
    let part_sql = format!(
        "SELECT sl.shipment_id, sl.order_line_id, sl.quantity, s.vendor_order_id FROM shipment_lines sl \
         JOIN shipments s ON s.id = sl.shipment_id WHERE s.vendor_order_id IN ({list})"
    );
    let (heads_of_orders, lines, heads, shipment_parts) = {
        let o: Vec<(Uuid, String, String, i64)> = crate::sql::query_as(order_sql)
            .bind_all(orders.clone())
            .fetch_all(db)
            .await?;
        let l: Vec<OrderLineRow> = crate::sql::query_as(line_sql)
            .bind_all(parts.clone())
            .fetch_all(db)
            .await?;
        let h: Vec<ShipmentHead> = crate::sql::query_as(head_sql)
            .bind_all(parts.clone())
            .fetch_all(db)
            .await?;
        let p: Vec<(Uuid, Uuid, i64, Uuid)> = crate::sql::query_as(part_sql)
            .bind_all(parts.clone())
            .fetch_all(db)
            .await?;
        (o, l, h, p)
    };
    let by_order: std::collections::HashMap<Uuid, (String, String, i64)> = heads_of_orders
        .into_iter()
        .map(|(id, status, address, placed)| (id, (status, address, placed)))
        .collect();
    let mut out = Vec::with_capacity(n);
    for vo in rows {
        let (order_status, shipping_address, placed_at) =
            by_order.get(&vo.order_id).cloned().ok_or_else(|| {
                StorageError::Conflict(format!("vendor order {} has no order", vo.id))
            })?;
        let own_lines = lines
            .iter()
            .filter(|l| l.vendor_order_id == vo.id)
            .cloned()
            .collect();
        let own_heads = heads
            .iter()
            .filter(|h| h.vendor_order_id == vo.id)
            .map(ShipmentHead::clone)
            .collect();
        let own_parts = shipment_parts
            .iter()
            .filter(|p| p.3 == vo.id)
            .map(|p| (p.0, p.1, p.2))
            .collect();
        out.push(VendorOrderDetail {
            vendor_order: vo,
            order_status,
            shipping_address,
            placed_at,
            lines: own_lines,
            shipments: assemble_shipments(own_heads, own_parts),
        });
    }
    Ok(out)
}

pub async fn vendor_order(
    db: &Db,
    vendor_id: Uuid,
    id: Uuid,
) -> Result<Option<VendorOrderDetail>, StorageError> {
    let sql = format!(
        "SELECT {VENDOR_ORDER_COLUMNS} FROM vendor_orders vo JOIN vendors vd ON vd.id = vo.vendor_id \
         WHERE vo.id = $1 AND vo.vendor_id = $2"
    );
    let row: Option<VendorOrderRow> = crate::sql::query_as(sql)
        .bind(id)
        .bind(vendor_id)
        .fetch_optional(db)
        .await?;
    match row {
        Some(vo) => Ok(Some(vendor_order_parts(db, vo).await?)),
        None => Ok(None),
    }
}

async fn vendor_order_parts(
    db: &Db,
    vo: VendorOrderRow,
) -> Result<VendorOrderDetail, StorageError> {
    let line_sql = format!(
        "SELECT {LINE_COLUMNS} FROM order_lines l WHERE l.vendor_order_id = $1 ORDER BY l.position"
    );
    let (order_status, shipping_address, placed_at, lines, shipments) = {
        let (status, address, placed): (String, String, i64) = crate::sql::query_as(
            "SELECT status, shipping_address, placed_at FROM orders WHERE id = $1",
        )
        .bind(vo.order_id)
        .fetch_one(db)
        .await?;
        let lines: Vec<OrderLineRow> = crate::sql::query_as(line_sql)
            .bind(vo.id)
            .fetch_all(db)
            .await?;
        let heads: Vec<ShipmentHead> = crate::sql::query_as(
            "SELECT id, order_id, vendor_order_id, carrier, tracking_number, created_at, updated_at \
             FROM shipments WHERE vendor_order_id = $1 ORDER BY created_at, id",
        )
        .bind(vo.id)
        .fetch_all(db)
        .await?;
        let parts: Vec<(Uuid, Uuid, i64)> = crate::sql::query_as(
            "SELECT sl.shipment_id, sl.order_line_id, sl.quantity FROM shipment_lines sl \
             JOIN shipments s ON s.id = sl.shipment_id WHERE s.vendor_order_id = $1",
        )
        .bind(vo.id)
        .fetch_all(db)
        .await?;
        (
            status,
            address,
            placed,
            lines,
            assemble_shipments(heads, parts),
        )
    };
    Ok(VendorOrderDetail {
        vendor_order: vo,
        order_status,
        shipping_address,
        placed_at,
        lines,
        shipments,
    })
}

/// Each vendor order of `order_id`: its id, vendor and status.
pub async fn vendor_order_statuses(
    tx: &mut Tx,
    order_id: Uuid,
) -> Result<Vec<(Uuid, Uuid, String)>, StorageError> {
    crate::sql::query_as(
        "SELECT id, vendor_id, status FROM vendor_orders WHERE order_id = $1 ORDER BY id",
    )
    .bind(order_id)
    .fetch_all(&mut *tx)
    .await
}

/// A variant the cart wants more of than there is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shortage {
    pub variant_id: Uuid,
    pub requested: i64,
    pub available: i64,
}

/// What the caller of [`checkout`] asked for.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub cart_id: Uuid,
    /// The logged-in customer, if any.
    pub caller: Option<Uuid>,
    pub email: String,
    /// JSON of a validated `Address`.
    pub shipping_address: String,
    pub payment_method: String,
    /// Who per-customer coupon limits count this order under
    /// (`souk_domain::accounts::customer_key` of the account's or the typed address).
    pub customer_key: String,
    /// Unpaid orders the customer may hold at once (this one included); `None`: no limit.
    pub unpaid_limit: Option<i64>,
    /// How long the order keeps its stock while unpaid (ms); then the sweep cancels it.
    pub hold_ms: i64,
    /// Checkouts per window for this caller (a client address or an account); `None`: none.
    pub rate_limit: Option<CheckoutRateLimit>,
    /// Idempotency: where the key is valid (the cart), its hash, and the request's fingerprint.
    pub scope: String,
    pub key_hash: Vec<u8>,
    pub request_hash: Vec<u8>,
    /// Chosen by the caller, so the access token (derived from key and order id) is known
    /// before the order is written.
    pub order_id: Uuid,
    pub access_token_hash: Vec<u8>,
    pub default_commission_bps: i64,
}

/// A limit on placed orders per window, counted in the checkout's own transaction (so only
/// placed orders count, and parallel checkouts cannot pass it together).
#[derive(Debug, Clone)]
pub struct CheckoutRateLimit {
    pub bucket: String,
    pub window_ms: i64,
    pub limit: i64,
}

/// How a checkout ended. Everything but `Placed` wrote nothing.
#[derive(Debug)]
pub enum CheckoutOutcome {
    /// Written in the caller's transaction, not yet committed.
    Placed {
        order: Box<OrderDetail>,
        /// Variants this order took down to the low-stock threshold.
        low_stock: Vec<LowStock>,
    },
    /// The key was used before with the same request: its stored response.
    Replay {
        status: u16,
        body: String,
        order_id: Option<Uuid>,
    },
    /// The key was used before with a different request.
    KeyReused,
    CartNotFound,
    /// The cart was already checked out (or merged).
    CartNotOpen {
        order_id: Option<Uuid>,
    },
    Empty,
    /// The caller placed the most orders allowed in the window that started at `window_start`.
    TooManyCheckouts {
        window_start: i64,
    },
    /// The customer already holds the most unpaid orders allowed; the oldest is released at
    /// `released_at` (Unix ms) unless paid.
    TooManyUnpaid {
        released_at: Option<i64>,
    },
    /// The cart cannot be priced (an amount beyond the order bound).
    Unpriceable(String),
    /// Lines that cannot be bought (index, reason).
    Invalid(Vec<(usize, &'static str)>),
    OutOfStock(Vec<Shortage>),
    /// The cart's coupon cannot be used (a stable code).
    Coupon(&'static str),
}

/// A variant an order took down to the low-stock threshold: its vendor is told, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowStock {
    pub variant_id: Uuid,
    pub vendor_id: Uuid,
    pub sku: Option<String>,
    pub product_title: String,
    /// Units left.
    pub stock: i64,
}

#[cfg(test)]
mod tests {
    use super::first_id_at;

    #[test]
    fn an_id_made_at_a_time_sorts_between_the_floors_of_that_time_and_the_next() {
        let ms = 1_796_000_000_123_i64;
        let ts = uuid::Timestamp::from_unix(
            uuid::NoContext,
            (ms / 1000) as u64,
            ((ms % 1000) * 1_000_000) as u32,
        );
        let id = uuid::Uuid::new_v7(ts);
        assert!(first_id_at(ms) <= id);
        assert!(id < first_id_at(ms + 1));
        assert_eq!(first_id_at(ms).get_version_num(), 7);
    }
}
