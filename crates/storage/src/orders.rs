//! Orders: checkout (one transaction from cart to order), reads for customers, vendors and
//! admins, and the state transitions (payment, fulfilment, cancellation), each a conditional
//! update on the current status so it happens at most once however many callers race.

use std::collections::BTreeMap;

use souk_domain::orders::{OrderEvent, OrderStatus, commission};
use uuid::Uuid;

use crate::carts::{self, CART_COLUMNS, CartRow, LineProblem};
use crate::db::{Arg, Exec};
use crate::dialect::for_update;
use crate::{Db, StorageError, Tx, now_ms};

#[derive(Debug, Clone, sqlx::FromRow)]
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

/// Stock at or below which a vendor gets a `stock.low` event (once, when an order crosses it).
pub const LOW_STOCK_THRESHOLD: i64 = 5;

const ORDER_COLUMNS: &str = "o.id, o.cart_id, o.user_id, o.email, o.shipping_address, o.status, o.payment_method, \
     o.currency, o.subtotal, o.discount, o.shipping_total, o.tax, o.total, o.paid_amount, o.refunded_amount, o.coupon_code, \
     o.access_token_hash, o.cancel_reason, o.placed_at, o.updated_at, o.paid_at, o.cancelled_at, o.hold_until";

#[derive(Debug, Clone, sqlx::FromRow)]
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

const VENDOR_ORDER_COLUMNS: &str = "vo.id, vo.order_id, vo.vendor_id, vd.name AS vendor_name, vo.status, vo.subtotal, \
     vo.discount, vo.shipping, vo.tax, vo.total, vo.shipping_rate, vo.commission_bps, vo.commission, vo.refunded, vo.carrier, \
     vo.tracking_number, vo.fulfilled_at, vo.created_at";

#[derive(Debug, Clone, sqlx::FromRow)]
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

/// Turns an open cart into an order inside the caller's write transaction: replays a stored
/// response for the same idempotency key, re-reads and re-prices the cart, takes stock with
/// conditional updates, consumes the coupon, writes the order, one vendor order per vendor and
/// the lines, and its `order.created` (and `stock.low`) events. Anything but `Placed` wrote
/// nothing the caller should keep: it must not commit then. After `Placed`, the caller adds its
/// follow-up jobs and [`store_checkout_response`] and commits, so all of it or none lands.
pub async fn place_order(
    tx: &mut Tx,
    req: &CheckoutRequest,
) -> Result<CheckoutOutcome, StorageError> {
    let now = now_ms();
    if let Some(stored) = stored_response(&mut *tx, req).await? {
        return Ok(stored);
    }
    // Claim the cart: on PostgreSQL this row lock also queues concurrent checkouts of one cart.
    let sql = format!(
        "UPDATE carts SET status = 'ordered', updated_at = $2 WHERE id = $1 AND status = 'open' \
         RETURNING {CART_COLUMNS}"
    );
    let claimed: Option<CartRow> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(req.cart_id).bind(now).fetch_optional(&mut *conn).await?
    });
    let Some(mut cart) = claimed else {
        // A concurrent request with the same key may have just committed: replay it.
        if let Some(stored) = stored_response(&mut *tx, req).await? {
            return Ok(stored);
        }
        let existing = carts::get(Exec::Tx(&mut *tx), req.cart_id).await?;
        return Ok(match existing {
            Some(c) if owned_by_other(&c, req.caller) => CheckoutOutcome::CartNotFound,
            Some(_) => CheckoutOutcome::CartNotOpen {
                order_id: on_tx!(&mut *tx, conn => {
                    sqlx::query_scalar("SELECT id FROM orders WHERE cart_id = $1")
                        .bind(req.cart_id)
                        .fetch_optional(&mut *conn)
                        .await?
                }),
            },
            None => CheckoutOutcome::CartNotFound,
        });
    };
    if owned_by_other(&cart, req.caller) {
        return Ok(CheckoutOutcome::CartNotFound);
    }
    cart.email = Some(req.email.clone());
    cart.shipping_address = Some(req.shipping_address.clone());
    let snapshot = carts::snapshot(Exec::Tx(&mut *tx), cart).await?;
    if snapshot.lines.is_empty() {
        return Ok(CheckoutOutcome::Empty);
    }
    let quote = match carts::quote(&snapshot, now, req.default_commission_bps) {
        Ok(quote) => quote,
        Err(e) => return Ok(CheckoutOutcome::Unpriceable(e.to_string())),
    };
    let invalid: Vec<(usize, &'static str)> = quote
        .problems
        .iter()
        .enumerate()
        .filter_map(|(i, p)| (*p == Some(LineProblem::Unavailable)).then_some((i, "unavailable")))
        .collect();
    if !invalid.is_empty() {
        return Ok(CheckoutOutcome::Invalid(invalid));
    }
    if let Some(code) = quote.coupon_rejection {
        return Ok(CheckoutOutcome::Coupon(code));
    }
    // Unpaid orders hold stock: one customer may hold only so many at once — a customer by
    // account, a guest by mailbox among guest orders (so guests typing someone's address
    // cannot lock that account out). Counted inside the write transaction (SQLite: the only
    // writer; PostgreSQL: a lock per customer), so parallel checkouts cannot all pass.
    if let Some(limit) = req.unpaid_limit
        && quote.totals.total > 0
    {
        // Each count stops at the limit (it reads at most `limit` index entries, however many
        // unpaid orders there are); the release time is only looked up for a refusal.
        let (lock_key, filter, key) = match req.caller {
            Some(user) => (
                format!("user:{user}"),
                "user_id = $1 AND status = 'pending_payment'",
                Arg::Uuid(user),
            ),
            None => (
                format!("guest:{}", req.customer_key),
                "customer_key = $1 AND user_id IS NULL AND status = 'pending_payment'",
                Arg::Text(req.customer_key.clone()),
            ),
        };
        if tx.backend() == crate::db::Backend::Postgres {
            on_tx!(&mut *tx, conn => {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                    .bind(&lock_key)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
            });
        }
        let count_sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM orders WHERE {filter} LIMIT $2) AS unpaid"
        );
        let args = [key.clone(), Arg::I64(limit)];
        let unpaid: i64 = on_tx!(&mut *tx, conn => {
            bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql)), args.clone())
                .fetch_one(&mut *conn)
                .await?
        });
        if unpaid >= limit {
            let oldest_sql = format!("SELECT MIN(hold_until) FROM orders WHERE {filter}");
            let released_at: Option<i64> = on_tx!(&mut *tx, conn => {
                bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(oldest_sql)), [key.clone()])
                    .fetch_one(&mut *conn)
                    .await?
            });
            return Ok(CheckoutOutcome::TooManyUnpaid { released_at });
        }
    }

    if let Some(rate) = &req.rate_limit
        && let Err(window_start) =
            crate::accounts::take_rate_limit_hit(&mut *tx, &rate.bucket, rate.window_ms, rate.limit)
                .await?
    {
        return Ok(CheckoutOutcome::TooManyCheckouts { window_start });
    }

    // Stock: one conditional decrement per tracked variant, in id order (no deadlocks between
    // concurrent checkouts); a row count of 0 means there was not enough.
    let mut wanted: BTreeMap<Uuid, i64> = BTreeMap::new();
    for l in snapshot.lines.iter().filter(|l| l.track_inventory) {
        *wanted.entry(l.variant_id).or_default() += l.quantity;
    }
    let mut short = Vec::new();
    let mut low = Vec::new();
    for (variant, qty) in &wanted {
        let left: Option<i64> = on_tx!(&mut *tx, conn => {
            sqlx::query_scalar("UPDATE variants SET stock = stock - $1 WHERE id = $2 AND stock >= $1 RETURNING stock")
                .bind(qty)
                .bind(variant)
                .fetch_optional(&mut *conn)
                .await?
        });
        match left {
            None => short.push((*variant, *qty)),
            // This order took the variant down to the threshold: tell its vendor, once.
            Some(left) if left <= LOW_STOCK_THRESHOLD && left + qty > LOW_STOCK_THRESHOLD => {
                low.push((*variant, left));
            }
            Some(_) => {}
        }
    }
    if !short.is_empty() {
        let mut shortages = Vec::with_capacity(short.len());
        for (variant_id, requested) in short {
            let available: i64 = on_tx!(&mut *tx, conn => {
                sqlx::query_scalar("SELECT stock FROM variants WHERE id = $1")
                    .bind(variant_id)
                    .fetch_optional(&mut *conn)
                    .await?
                    .unwrap_or(0)
            });
            shortages.push(Shortage {
                variant_id,
                requested,
                available,
            });
        }
        return Ok(CheckoutOutcome::OutOfStock(shortages));
    }

    if let Some(coupon) = &snapshot.coupon {
        let n = on_tx!(&mut *tx, conn => {
            sqlx::query(
                "UPDATE coupons SET uses = uses + 1, updated_at = $2 WHERE id = $1 AND active \
                 AND (max_uses IS NULL OR uses < max_uses) AND (starts_at IS NULL OR starts_at <= $2) \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(coupon.id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        });
        if n == 0 {
            return Ok(CheckoutOutcome::Coupon("coupon_exhausted"));
        }
    }

    // The order, built in memory and written in three statements.
    let order_id = req.order_id;
    let order = OrderRow {
        id: order_id,
        cart_id: snapshot.cart.id,
        user_id: req.caller.or(snapshot.cart.user_id),
        email: req.email.clone(),
        shipping_address: req.shipping_address.clone(),
        status: OrderStatus::PendingPayment.as_str().to_owned(),
        payment_method: req.payment_method.clone(),
        currency: snapshot.cart.currency.clone(),
        subtotal: quote.totals.subtotal,
        discount: quote.totals.discount,
        shipping_total: quote.totals.shipping_total,
        tax: quote.totals.tax,
        total: quote.totals.total,
        paid_amount: 0,
        refunded_amount: 0,
        coupon_code: snapshot.coupon.as_ref().map(|c| c.code.clone()),
        access_token_hash: req.access_token_hash.clone(),
        cancel_reason: None,
        placed_at: now,
        updated_at: now,
        paid_at: None,
        cancelled_at: None,
        hold_until: Some(now.saturating_add(req.hold_ms)),
    };
    let vendor_orders: Vec<VendorOrderRow> = quote
        .vendors
        .iter()
        .map(|v| VendorOrderRow {
            id: Uuid::now_v7(),
            order_id,
            vendor_id: v.vendor_id,
            vendor_name: v.vendor_name.clone(),
            status: "unfulfilled".to_owned(),
            subtotal: v.goods,
            discount: v.discount,
            shipping: v.shipping,
            tax: v.tax,
            total: v.total,
            shipping_rate: v.rate.as_ref().map(|r| r.name.clone()),
            commission_bps: v.commission_bps,
            commission: commission(v.goods, v.commission_bps, v.total),
            refunded: 0,
            carrier: None,
            tracking_number: None,
            fulfilled_at: None,
            created_at: now,
        })
        .collect();
    let lines: Vec<OrderLineRow> = snapshot
        .lines
        .iter()
        .zip(&quote.totals.lines)
        .enumerate()
        .map(|(i, (l, t))| OrderLineRow {
            id: Uuid::now_v7(),
            order_id,
            vendor_order_id: vendor_orders
                .iter()
                .find(|v| v.vendor_id == l.vendor_id)
                .map(|v| v.id)
                .expect("every line's vendor has a vendor order"),
            variant_id: Some(l.variant_id),
            position: i as i64,
            product_title: l.product_title.clone(),
            variant_title: l.variant_title(),
            sku: l.sku.clone(),
            note: l.note.clone(),
            unit_price: l.price,
            quantity: l.quantity,
            amount: t.amount,
            discount: t.discount,
            tax: t.tax,
            total: t.total,
            stock_reserved: l.track_inventory,
            shipped_quantity: 0,
            refunded_quantity: 0,
        })
        .collect();
    let detail = OrderDetail {
        order,
        vendor_orders,
        lines,
        shipments: Vec::new(),
    };
    insert_order(&mut *tx, &detail, &req.customer_key).await?;
    if let Some(coupon) = &snapshot.coupon {
        // One row per use by this customer, numbered 1, 2, …: the unique (coupon, customer,
        // seq) key is what holds the per-customer limit under concurrency. With a limit, the
        // lowest free numbers up to it are tried (a cancelled order's number is free again); a
        // concurrent checkout taking the same number first makes `ON CONFLICT DO NOTHING`
        // wait for it and insert nothing, and the next free number is tried.
        const INSERT: &str = "INSERT INTO coupon_redemptions (coupon_id, customer, seq, order_id, created_at) \
             VALUES ($1, $2, $5, $3, $4) ON CONFLICT (coupon_id, customer, seq) DO NOTHING RETURNING seq";
        let mut recorded = false;
        for _ in 0..3 {
            let taken: Vec<i64> = on_tx!(&mut *tx, conn => {
                sqlx::query_scalar(
                    "SELECT seq FROM coupon_redemptions WHERE coupon_id = $1 AND customer = $2 ORDER BY seq",
                )
                .bind(coupon.id)
                .bind(&req.customer_key)
                .fetch_all(&mut *conn)
                .await?
            });
            let next = taken.last().copied().unwrap_or(0) + 1;
            // No limit: the uses are still recorded (a limit set later counts them).
            let candidates: Vec<i64> = match coupon.per_customer_limit {
                Some(limit) => (1..=limit)
                    .filter(|n| taken.binary_search(n).is_err())
                    .take(3)
                    .collect(),
                None => vec![next],
            };
            if candidates.is_empty() {
                break;
            }
            for seq in candidates {
                let inserted: Option<i64> = on_tx!(&mut *tx, conn => {
                    sqlx::query_scalar(INSERT)
                        .bind(coupon.id)
                        .bind(&req.customer_key)
                        .bind(order_id)
                        .bind(now)
                        .bind(seq)
                        .fetch_optional(&mut *conn)
                        .await?
                });
                if inserted.is_some() {
                    recorded = true;
                    break;
                }
            }
            if recorded {
                break;
            }
        }
        if !recorded && coupon.per_customer_limit.is_some() {
            return Ok(CheckoutOutcome::Coupon("coupon_customer_limit_reached"));
        }
    }
    let mut detail = detail;
    if detail.order.total == 0 {
        // Nothing to pay (a full discount, free shipping): paid as placed, so it ships and is
        // never cancelled as unpaid. No payment row and no ledger entries: no money moved.
        on_tx!(&mut *tx, conn => {
            sqlx::query("UPDATE orders SET status = 'paid', paid_at = $2 WHERE id = $1")
                .bind(order_id)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        detail.order.status = OrderStatus::Paid.as_str().to_owned();
        detail.order.paid_at = Some(now);
    }
    crate::outbox::order_status_event(&mut *tx, order_id, "order.created", &detail.order.status)
        .await?;
    for (variant_id, left) in low {
        if let Some(l) = snapshot.lines.iter().find(|l| l.variant_id == variant_id) {
            let data = serde_json::json!({"variant_id": variant_id, "sku": l.sku,
                "product_title": l.product_title, "stock": left});
            crate::outbox::emit(&mut *tx, "stock.low", None, Some(l.vendor_id), &data).await?;
        }
    }
    Ok(CheckoutOutcome::Placed {
        order: Box::new(detail),
    })
}

/// Stores the response a placed order's checkout answered with under its idempotency key (with
/// the order id, so a face that keeps no body can render its own replay), in the transaction
/// that placed it.
pub async fn store_checkout_response(
    tx: &mut Tx,
    req: &CheckoutRequest,
    status: u16,
    body: &str,
) -> Result<(), StorageError> {
    on_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, key_hash, request_hash, response_status, response_body, order_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&req.scope)
        .bind(&req.key_hash)
        .bind(&req.request_hash)
        .bind(i64::from(status))
        .bind(body)
        .bind(req.order_id)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    Ok(())
}

fn owned_by_other(cart: &CartRow, caller: Option<Uuid>) -> bool {
    cart.user_id.is_some() && cart.user_id != caller
}

async fn stored_response(
    tx: &mut Tx,
    req: &CheckoutRequest,
) -> Result<Option<CheckoutOutcome>, StorageError> {
    let row: Option<(Vec<u8>, i64, String, Option<Uuid>)> = on_tx!(tx, conn => {
        sqlx::query_as(
            "SELECT request_hash, response_status, response_body, order_id FROM idempotency_keys \
             WHERE scope = $1 AND key_hash = $2",
        )
        .bind(&req.scope)
        .bind(&req.key_hash)
        .fetch_optional(&mut *conn)
        .await?
    });
    Ok(row.map(|(hash, status, body, order_id)| {
        if hash == req.request_hash {
            CheckoutOutcome::Replay {
                status: status as u16,
                body,
                order_id,
            }
        } else {
            CheckoutOutcome::KeyReused
        }
    }))
}

/// Unpaid orders whose stock hold ran out by `now`, longest overdue first (at most `limit`):
/// what the release sweep cancels. Reads the `orders_hold_until` index only.
pub async fn overdue_unpaid(db: &Db, now: i64, limit: i64) -> Result<Vec<Uuid>, StorageError> {
    Ok(on_reader!(db, pool => {
        sqlx::query_scalar(
            "SELECT id FROM orders WHERE status = 'pending_payment' AND hold_until <= $1 \
             ORDER BY hold_until LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// The SHA-256 of an order's guest access token (`None`: no such order).
pub async fn access_token_hash(db: &Db, order_id: Uuid) -> Result<Option<Vec<u8>>, StorageError> {
    Ok(on_reader!(db, pool => {
        sqlx::query_scalar("SELECT access_token_hash FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(pool)
            .await?
    }))
}

/// A stored idempotent response.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredResponse {
    pub request_hash: Vec<u8>,
    pub response_status: i64,
    pub response_body: String,
    pub order_id: Option<Uuid>,
}

/// The stored response for a key, read outside any transaction (the fast path of a replay).
pub async fn idempotent_response(
    db: &Db,
    scope: &str,
    key_hash: &[u8],
) -> Result<Option<StoredResponse>, StorageError> {
    Ok(on_reader!(db, pool => {
        sqlx::query_as(
            "SELECT request_hash, response_status, response_body, order_id FROM idempotency_keys \
             WHERE scope = $1 AND key_hash = $2",
        )
        .bind(scope)
        .bind(key_hash)
        .fetch_optional(pool)
        .await?
    }))
}

/// Forgets stored idempotent responses older than `before` (Unix ms).
pub async fn purge_idempotency_keys(db: &Db, before: i64) -> Result<u64, StorageError> {
    let mut tx = db.begin_write().await?;
    let n = on_tx!(&mut tx, conn => {
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(before)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    tx.commit().await?;
    Ok(n)
}

async fn insert_order(
    tx: &mut Tx,
    d: &OrderDetail,
    customer_key: &str,
) -> Result<(), StorageError> {
    let o = &d.order;
    on_tx!(&mut *tx, conn => {
        sqlx::query(
            "INSERT INTO orders (id, cart_id, user_id, email, shipping_address, status, payment_method, currency, \
             subtotal, discount, shipping_total, tax, total, paid_amount, coupon_code, access_token_hash, \
             placed_at, updated_at, customer_key, hold_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16, $16, $17, $18)",
        )
        .bind(o.id)
        .bind(o.cart_id)
        .bind(o.user_id)
        .bind(&o.email)
        .bind(&o.shipping_address)
        .bind(&o.status)
        .bind(&o.payment_method)
        .bind(&o.currency)
        .bind(o.subtotal)
        .bind(o.discount)
        .bind(o.shipping_total)
        .bind(o.tax)
        .bind(o.total)
        .bind(&o.coupon_code)
        .bind(&o.access_token_hash)
        .bind(o.placed_at)
        .bind(customer_key)
        .bind(o.hold_until)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    let mut args = Vec::new();
    for v in &d.vendor_orders {
        args.extend([
            Arg::Uuid(v.id),
            Arg::Uuid(v.order_id),
            Arg::Uuid(v.vendor_id),
            Arg::I64(v.subtotal),
            Arg::I64(v.discount),
            Arg::I64(v.shipping),
            Arg::I64(v.tax),
            Arg::I64(v.total),
            Arg::OptText(v.shipping_rate.clone()),
            Arg::I64(v.commission_bps),
            Arg::I64(v.commission),
            Arg::I64(v.created_at),
            Arg::Text(v.status.clone()),
        ]);
    }
    let sql = format!(
        "INSERT INTO vendor_orders (id, order_id, vendor_id, subtotal, discount, shipping, tax, total, shipping_rate, \
         commission_bps, commission, created_at, status) VALUES {}",
        crate::db::values_placeholders(d.vendor_orders.len(), 13)
    );
    on_tx!(&mut *tx, conn => {
        bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    let mut args = Vec::new();
    for l in &d.lines {
        args.extend([
            Arg::Uuid(l.id),
            Arg::Uuid(l.order_id),
            Arg::Uuid(l.vendor_order_id),
            Arg::OptUuid(l.variant_id),
            Arg::I64(l.position),
            Arg::Text(l.product_title.clone()),
            Arg::Text(l.variant_title.clone()),
            Arg::OptText(l.sku.clone()),
            Arg::Text(l.note.clone()),
            Arg::I64(l.unit_price),
            Arg::I64(l.quantity),
            Arg::I64(l.amount),
            Arg::I64(l.discount),
            Arg::I64(l.tax),
            Arg::I64(l.total),
            Arg::Bool(l.stock_reserved),
        ]);
    }
    let sql = format!(
        "INSERT INTO order_lines (id, order_id, vendor_order_id, variant_id, position, product_title, variant_title, \
         sku, note, unit_price, quantity, amount, discount, tax, total, stock_reserved) VALUES {}",
        crate::db::values_placeholders(d.lines.len(), 16)
    );
    on_tx!(&mut *tx, conn => {
        bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(())
}

/// An order with its vendor orders and lines.
/// The ids of the orders placed with `email` whose number (see
/// `souk_domain::orders::order_number`) is `number`, newest first. Reads the `orders_email`
/// index: at most the address's latest 500 orders are considered.
pub async fn ids_by_email_and_number(
    db: &Db,
    email: &str,
    number: &str,
) -> Result<Vec<Uuid>, StorageError> {
    let ids: Vec<Uuid> = on_reader!(db, pool => {
        sqlx::query_scalar("SELECT id FROM orders WHERE email = $1 ORDER BY placed_at DESC LIMIT 500")
            .bind(email)
            .fetch_all(pool)
            .await?
    });
    Ok(ids
        .into_iter()
        .filter(|id| souk_domain::orders::order_number(id) == number)
        .collect())
}

pub async fn detail(exec: Exec<'_>, id: Uuid) -> Result<Option<OrderDetail>, StorageError> {
    let order_sql = format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = $1");
    let vo_sql = format!(
        "SELECT {VENDOR_ORDER_COLUMNS} FROM vendor_orders vo JOIN vendors vd ON vd.id = vo.vendor_id \
         WHERE vo.order_id = $1 ORDER BY vo.id"
    );
    let line_sql = format!(
        "SELECT {LINE_COLUMNS} FROM order_lines l WHERE l.order_id = $1 ORDER BY l.position"
    );
    Ok(on_exec!(exec, conn => {
        let order: Option<OrderRow> = sqlx::query_as(sqlx::AssertSqlSafe(order_sql))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        match order {
            None => None,
            Some(order) => {
                let vendor_orders = sqlx::query_as(sqlx::AssertSqlSafe(vo_sql))
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
                let lines = sqlx::query_as(sqlx::AssertSqlSafe(line_sql))
                    .bind(id)
                    .fetch_all(&mut *conn)
                    .await?;
                let heads: Vec<ShipmentHead> = sqlx::query_as(
                    "SELECT id, order_id, vendor_order_id, carrier, tracking_number, created_at, updated_at \
                     FROM shipments WHERE order_id = $1 ORDER BY created_at, id",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                let parts: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
                    "SELECT sl.shipment_id, sl.order_line_id, sl.quantity FROM shipment_lines sl \
                     JOIN shipments s ON s.id = sl.shipment_id WHERE s.order_id = $1",
                )
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
                Some(OrderDetail { order, vendor_orders, lines, shipments: assemble_shipments(heads, parts) })
            }
        }
    }))
}

/// Filters of an order list (newest first, keyset by id).
#[derive(Debug, Default, Clone)]
pub struct OrderFilter {
    pub user_id: Option<Uuid>,
    pub status: Option<String>,
    /// Customer email (exact, lower-case) or order id prefix.
    pub query: Option<String>,
    pub before: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(db: &Db, f: &OrderFilter) -> Result<Vec<OrderRow>, StorageError> {
    let mut filters = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    if let Some(user) = f.user_id {
        args.push(Arg::Uuid(user));
        filters.push(format!("o.user_id = ${}", args.len()));
    }
    if let Some(status) = &f.status {
        args.push(Arg::Text(status.clone()));
        filters.push(format!("o.status = ${}", args.len()));
    }
    if let Some(q) = &f.query {
        match Uuid::try_parse(q) {
            Ok(id) => {
                args.push(Arg::Uuid(id));
                filters.push(format!("o.id = ${}", args.len()));
            }
            Err(_) => {
                args.push(Arg::Text(q.to_lowercase()));
                filters.push(format!("o.email = ${}", args.len()));
            }
        }
    }
    if let Some(before) = f.before {
        args.push(Arg::Uuid(before));
        filters.push(format!("o.id < ${}", args.len()));
    }
    args.push(Arg::I64(f.limit));
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders o WHERE {} ORDER BY o.id DESC LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    Ok(on_reader!(db, pool => {
        bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), args).fetch_all(pool).await?
    }))
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

#[derive(sqlx::FromRow)]
struct ShipmentHead {
    id: Uuid,
    order_id: Uuid,
    vendor_order_id: Uuid,
    carrier: String,
    tracking_number: String,
    created_at: i64,
    updated_at: i64,
}

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

pub async fn vendor_orders(
    db: &Db,
    vendor_id: Uuid,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<VendorOrderDetail>, StorageError> {
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
    let sql = format!(
        "SELECT {VENDOR_ORDER_COLUMNS} FROM vendor_orders vo JOIN vendors vd ON vd.id = vo.vendor_id \
         WHERE {} ORDER BY vo.id DESC LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    let rows: Vec<VendorOrderRow> = on_reader!(db, pool => {
        bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), args).fetch_all(pool).await?
    });
    let mut out = Vec::with_capacity(rows.len());
    for vo in rows {
        out.push(vendor_order_parts(db, vo).await?);
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
    let row: Option<VendorOrderRow> = on_reader!(db, pool => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).bind(vendor_id).fetch_optional(pool).await?
    });
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
    let (order_status, shipping_address, placed_at, lines, shipments) = on_reader!(db, pool => {
        let (status, address, placed): (String, String, i64) = sqlx::query_as(
            "SELECT status, shipping_address, placed_at FROM orders WHERE id = $1",
        )
        .bind(vo.order_id)
        .fetch_one(pool)
        .await?;
        let lines: Vec<OrderLineRow> = sqlx::query_as(sqlx::AssertSqlSafe(line_sql))
            .bind(vo.id)
            .fetch_all(pool)
            .await?;
        let heads: Vec<ShipmentHead> = sqlx::query_as(
            "SELECT id, order_id, vendor_order_id, carrier, tracking_number, created_at, updated_at \
             FROM shipments WHERE vendor_order_id = $1 ORDER BY created_at, id",
        )
        .bind(vo.id)
        .fetch_all(pool)
        .await?;
        let parts: Vec<(Uuid, Uuid, i64)> = sqlx::query_as(
            "SELECT sl.shipment_id, sl.order_line_id, sl.quantity FROM shipment_lines sl \
             JOIN shipments s ON s.id = sl.shipment_id WHERE s.vendor_order_id = $1",
        )
        .bind(vo.id)
        .fetch_all(pool)
        .await?;
        (status, address, placed, lines, assemble_shipments(heads, parts))
    });
    Ok(VendorOrderDetail {
        vendor_order: vo,
        order_status,
        shipping_address,
        placed_at,
        lines,
        shipments,
    })
}

/// Why a transition did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    NotFound,
    /// Not allowed from the current status.
    InvalidState {
        status: String,
    },
    /// A payment that is not the amount due.
    AmountMismatch {
        due: i64,
    },
}

/// Records a payment and moves the order to `paid`, once: the status check and the update are
/// one statement, so concurrent confirmations (admin, provider webhook, shopper) pay it once.
/// Writes the vendors' earnings and the platform's commission to the ledger.
pub async fn mark_paid(
    tx: &mut Tx,
    order_id: Uuid,
    provider: &str,
    amount: i64,
    reference: &str,
    recorded_by: Option<Uuid>,
) -> Result<Result<OrderRow, TransitionError>, StorageError> {
    let now = now_ms();
    let from = status_list(OrderEvent::Pay);
    let sql = format!(
        "UPDATE orders SET status = 'paid', paid_amount = total, paid_at = $2, updated_at = $2 \
         WHERE id = $1 AND total = $3 AND status IN ({from}) RETURNING {}",
        ORDER_COLUMNS.replace("o.", "")
    );
    let updated: Option<OrderRow> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(order_id).bind(now).bind(amount).fetch_optional(&mut *conn).await?
    });
    let Some(order) = updated else {
        let current: Option<(String, i64)> = on_tx!(&mut *tx, conn => {
            sqlx::query_as("SELECT status, total FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        return Ok(Err(match current {
            None => TransitionError::NotFound,
            Some((status, total)) if status == "pending_payment" && total != amount => {
                TransitionError::AmountMismatch { due: total }
            }
            Some((status, _)) => TransitionError::InvalidState { status },
        }));
    };
    on_tx!(&mut *tx, conn => {
        sqlx::query(
            "INSERT INTO payments (id, order_id, provider, amount, currency, reference, recorded_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::now_v7())
        .bind(order_id)
        .bind(provider)
        .bind(amount)
        .bind(&order.currency)
        .bind(reference)
        .bind(recorded_by)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    let parts: Vec<(Uuid, Uuid, i64, i64)> = on_tx!(&mut *tx, conn => {
        sqlx::query_as("SELECT id, vendor_id, total, commission FROM vendor_orders WHERE order_id = $1")
            .bind(order_id)
            .fetch_all(&mut *conn)
            .await?
    });
    let mut args = Vec::new();
    for (vo, vendor, total, fee) in &parts {
        for (kind, amount) in [("earning", total - fee), ("commission", *fee)] {
            args.extend([
                Arg::Uuid(Uuid::now_v7()),
                Arg::Uuid(*vendor),
                Arg::Uuid(order_id),
                Arg::Uuid(*vo),
                Arg::Text(kind.to_owned()),
                Arg::I64(amount),
                Arg::Text(order.currency.clone()),
                Arg::I64(now),
            ]);
        }
    }
    if !parts.is_empty() {
        let sql = format!(
            "INSERT INTO ledger_entries (id, vendor_id, order_id, vendor_order_id, kind, amount, currency, created_at) VALUES {}",
            crate::db::values_placeholders(parts.len() * 2, 8)
        );
        on_tx!(&mut *tx, conn => {
            bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
    }
    crate::outbox::order_status_event(tx, order_id, "order.paid", "paid").await?;
    Ok(Ok(order))
}

fn status_list(event: OrderEvent) -> String {
    OrderStatus::allowing(event)
        .into_iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Cancels an unpaid order and gives its stock and coupon use back — exactly once, because
/// only the transaction whose conditional update moved the status does the restoring.
/// (A paid order is refunded instead: payments and refunds come with the payment providers.)
pub async fn cancel(
    tx: &mut Tx,
    order_id: Uuid,
    reason: &str,
) -> Result<Result<OrderRow, TransitionError>, StorageError> {
    let now = now_ms();
    let sql = format!(
        "UPDATE orders SET status = 'cancelled', cancelled_at = $2, updated_at = $2, cancel_reason = $3 \
         WHERE id = $1 AND status = 'pending_payment' RETURNING {}",
        ORDER_COLUMNS.replace("o.", "")
    );
    let updated: Option<OrderRow> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(order_id).bind(now).bind(reason).fetch_optional(&mut *conn).await?
    });
    let Some(order) = updated else {
        let status: Option<String> = on_tx!(&mut *tx, conn => {
            sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(&mut *conn)
                .await?
        });
        return Ok(Err(match status {
            None => TransitionError::NotFound,
            Some(status) => TransitionError::InvalidState { status },
        }));
    };
    on_tx!(&mut *tx, conn => {
        sqlx::query(
            "UPDATE variants SET stock = stock + (SELECT SUM(l.quantity) FROM order_lines l \
               WHERE l.order_id = $1 AND l.stock_reserved AND l.variant_id = variants.id) \
             WHERE id IN (SELECT variant_id FROM order_lines WHERE order_id = $1 AND stock_reserved)",
        )
        .bind(order_id)
        .execute(&mut *conn)
        .await?;
        sqlx::query("UPDATE vendor_orders SET status = 'cancelled' WHERE order_id = $1")
            .bind(order_id)
            .execute(&mut *conn)
            .await?;
        if let Some(code) = &order.coupon_code {
            sqlx::query("UPDATE coupons SET uses = uses - 1, updated_at = $2 WHERE code = $1 AND uses > 0")
                .bind(code)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            sqlx::query("DELETE FROM coupon_redemptions WHERE order_id = $1")
                .bind(order_id)
                .execute(&mut *conn)
                .await?;
        }
        0u64
    });
    crate::outbox::order_status_event(tx, order_id, "order.cancelled", "cancelled").await?;
    Ok(Ok(order))
}

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
    let status: Option<String> = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar("SELECT status FROM vendor_orders WHERE id = $1 AND vendor_id = $2")
            .bind(vendor_order_id)
            .bind(vendor_id)
            .fetch_optional(&mut *conn)
            .await?
    });
    let Some(status) = status else {
        return Ok(Err(FulfilError::Transition(TransitionError::NotFound)));
    };
    // The shipments of this vendor order, newest last.
    let shipments: Vec<(Uuid, String, String)> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(
            "SELECT id, carrier, tracking_number FROM shipments WHERE vendor_order_id = $1 ORDER BY created_at, id",
        )
        .bind(vendor_order_id)
        .fetch_all(&mut *conn)
        .await?
    });
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
    on_tx!(&mut *tx, conn => {
        sqlx::query("UPDATE shipments SET carrier = $2, tracking_number = $3, updated_at = $4 WHERE id = $1")
            .bind(target)
            .bind(carrier)
            .bind(tracking_number)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        // The vendor order's own tracking fields mirror its latest shipment.
        if target == latest {
            sqlx::query("UPDATE vendor_orders SET carrier = $2, tracking_number = $3 WHERE id = $1")
                .bind(vendor_order_id)
                .bind(carrier)
                .bind(tracking_number)
                .execute(&mut *conn)
                .await?;
        }
    });
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
    let row: Option<(Uuid, String, String)> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(vendor_order_id).bind(vendor_id).fetch_optional(&mut *conn).await?
    });
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
    let lines: Vec<(Uuid, i64, i64)> = on_tx!(&mut *tx, conn => {
        sqlx::query_as(
            "SELECT id, quantity, shipped_quantity FROM order_lines WHERE vendor_order_id = $1 ORDER BY position",
        )
        .bind(vendor_order_id)
        .fetch_all(&mut *conn)
        .await?
    });
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
    let next = on_tx!(&mut *tx, conn => {
        sqlx::query(
            "INSERT INTO shipments (id, order_id, vendor_order_id, carrier, tracking_number, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(shipment_id)
        .bind(order_id)
        .bind(vendor_order_id)
        .bind(carrier)
        .bind(tracking_number)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        for p in &parcel {
            sqlx::query("INSERT INTO shipment_lines (shipment_id, order_line_id, quantity) VALUES ($1, $2, $3)")
                .bind(shipment_id)
                .bind(p.line_id)
                .bind(p.quantity)
                .execute(&mut *conn)
                .await?;
            // Guarded, so a unit can never ship twice whatever the interleaving.
            let n = sqlx::query(
                "UPDATE order_lines SET shipped_quantity = shipped_quantity + $2 \
                 WHERE id = $1 AND shipped_quantity + $2 <= quantity",
            )
            .bind(p.line_id)
            .bind(p.quantity)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if n != 1 {
                return Err(StorageError::Conflict("a line shipped more than ordered".to_owned()));
            }
        }
        let n = sqlx::query(
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
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n == 0 {
            None
        } else {
            let left: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM vendor_orders WHERE order_id = $1 AND status = 'unfulfilled'",
            )
            .bind(order_id)
            .fetch_one(&mut *conn)
            .await?;
            let next = current
                .and_then(|s| s.next(OrderEvent::Fulfil { all: left == 0 }))
                .expect("checked above");
            sqlx::query("UPDATE orders SET status = $2, updated_at = $3 WHERE id = $1")
                .bind(order_id)
                .bind(next.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?;
            Some((next, left == 0))
        }
    });
    let Some((next, all_shipped)) = next else {
        return Ok(Err(FulfilError::Transition(
            TransitionError::InvalidState {
                status: "fulfilled".to_owned(),
            },
        )));
    };
    let kind = if all_shipped {
        "order.fulfilled"
    } else {
        "order.partially_fulfilled"
    };
    crate::outbox::order_status_event(tx, order_id, kind, next.as_str()).await?;
    Ok(Ok(Shipped {
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

/// Moves a fulfilled order to `completed`.
pub async fn complete(
    tx: &mut Tx,
    order_id: Uuid,
) -> Result<Result<(), TransitionError>, StorageError> {
    let now = now_ms();
    let n = on_tx!(&mut *tx, conn => {
        // Fulfilled; or partially refunded with every vendor order that was not cancelled
        // shipped (a refund does not keep a shipped order open forever).
        sqlx::query(
            "UPDATE orders SET status = 'completed', updated_at = $2 WHERE id = $1 AND (status = 'fulfilled' \
             OR (status = 'partially_refunded' \
                 AND EXISTS (SELECT 1 FROM vendor_orders v WHERE v.order_id = $1 AND v.status = 'fulfilled') \
                 AND NOT EXISTS (SELECT 1 FROM vendor_orders v WHERE v.order_id = $1 AND v.status = 'unfulfilled')))",
        )
            .bind(order_id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    if n == 1 {
        crate::outbox::order_status_event(tx, order_id, "order.completed", "completed").await?;
        return Ok(Ok(()));
    }
    let status: Option<String> = on_tx!(&mut *tx, conn => {
        sqlx::query_scalar("SELECT status FROM orders WHERE id = $1")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?
    });
    Ok(Err(match status {
        None => TransitionError::NotFound,
        Some(status) => TransitionError::InvalidState { status },
    }))
}
