//! Checkout: one transaction from an open cart to an order — the cart claimed, re-read and
//! re-priced, stock taken with conditional updates, the coupon consumed, the order written with
//! one vendor order per vendor and its lines.

use souk_domain::orders::OrderStatus;
use uuid::Uuid;

use super::{
    CheckoutOutcome, CheckoutRequest, LowStock, OrderDetail, OrderLineRow, OrderRow, Shortage,
    VendorOrderRow, stored_response,
};
use souk_domain::cart::{self, NotOrderable};

use crate::carts::{self, CART_COLUMNS, CartRow};
use crate::db::{Arg, Exec};
use crate::{StorageError, Tx, now_ms};

/// Turns an open cart into an order inside the caller's write transaction: replays a stored
/// response for the same idempotency key, re-reads and re-prices the cart, takes stock with
/// conditional updates, consumes the coupon, writes the order, one vendor order per vendor and
/// the lines. Anything but `Placed` wrote
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
    let claimed: Option<CartRow> = crate::sql::query_as(sql)
        .bind(req.cart_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(mut cart) = claimed else {
        // A concurrent request with the same key may have just committed: replay it.
        if let Some(stored) = stored_response(&mut *tx, req).await? {
            return Ok(stored);
        }
        let existing = carts::get(Exec::Tx(&mut *tx), req.cart_id).await?;
        return Ok(match existing {
            Some(c) if owned_by_other(&c, req.caller) => CheckoutOutcome::CartNotFound,
            Some(_) => CheckoutOutcome::CartNotOpen {
                order_id: crate::sql::query_scalar("SELECT id FROM orders WHERE cart_id = $1")
                    .bind(req.cart_id)
                    .fetch_optional(&mut *tx)
                    .await?,
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
    let pricing = snapshot.pricing();
    let quote = match cart::quote(&pricing, now, req.default_commission_bps) {
        Ok(quote) => quote,
        Err(e) => return Ok(CheckoutOutcome::Unpriceable(e.to_string())),
    };
    let plan = match cart::plan_order(&pricing, &quote) {
        Ok(plan) => plan,
        Err(NotOrderable::Unavailable(lines)) => {
            return Ok(CheckoutOutcome::Invalid(
                lines.into_iter().map(|i| (i, "unavailable")).collect(),
            ));
        }
        Err(NotOrderable::Coupon(code)) => return Ok(CheckoutOutcome::Coupon(code)),
    };
    // Unpaid orders hold stock: one customer may hold only so many at once — a customer by
    // account, a guest by mailbox among guest orders (so guests typing someone's address
    // cannot lock that account out). Counted inside the write transaction (SQLite: the only
    // writer; PostgreSQL: a lock per customer), so parallel checkouts cannot all pass.
    if let Some(limit) = req.unpaid_limit
        && !plan.nothing_to_pay()
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
            crate::sql::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(&lock_key)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        let count_sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM orders WHERE {filter} LIMIT $2) AS unpaid"
        );
        let args = [key.clone(), Arg::I64(limit)];
        let unpaid: i64 = crate::sql::query_scalar(count_sql)
            .bind_all(args.clone())
            .fetch_one(&mut *tx)
            .await?;
        if unpaid >= limit {
            let oldest_sql = format!("SELECT MIN(hold_until) FROM orders WHERE {filter}");
            let released_at: Option<i64> = crate::sql::query_scalar(oldest_sql)
                .bind_all([key.clone()])
                .fetch_one(&mut *tx)
                .await?;
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
    let wanted = cart::tracked_units(&pricing.lines);
    let mut short = Vec::new();
    let mut low = Vec::new();
    for (variant, qty) in &wanted {
        let left: Option<i64> = crate::sql::query_scalar(
            "UPDATE variants SET stock = stock - $1 WHERE id = $2 AND stock >= $1 RETURNING stock",
        )
        .bind(qty)
        .bind(variant)
        .fetch_optional(&mut *tx)
        .await?;
        match left {
            None => short.push((*variant, *qty)),
            // This order took the variant down to the threshold: tell its vendor, once.
            Some(left) if cart::crossed_low_stock(left, *qty) => {
                low.push((*variant, left));
            }
            Some(_) => {}
        }
    }
    if !short.is_empty() {
        let mut shortages = Vec::with_capacity(short.len());
        for (variant_id, requested) in short {
            let available: i64 =
                crate::sql::query_scalar("SELECT stock FROM variants WHERE id = $1")
                    .bind(variant_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .unwrap_or(0);
            shortages.push(Shortage {
                variant_id,
                requested,
                available,
            });
        }
        return Ok(CheckoutOutcome::OutOfStock(shortages));
    }

    if let Some(coupon) = &snapshot.coupon {
        let n = crate::sql::query(
                "UPDATE coupons SET uses = uses + 1, updated_at = $2 WHERE id = $1 AND active \
                 AND (max_uses IS NULL OR uses < max_uses) AND (starts_at IS NULL OR starts_at <= $2) \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(coupon.id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
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
        subtotal: plan.subtotal,
        discount: plan.discount,
        shipping_total: plan.shipping_total,
        tax: plan.tax,
        total: plan.total,
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
    let vendor_orders: Vec<VendorOrderRow> = plan
        .parts
        .iter()
        .map(|p| VendorOrderRow {
            id: Uuid::now_v7(),
            order_id,
            vendor_id: p.vendor_id,
            vendor_name: p.vendor_name.clone(),
            status: "unfulfilled".to_owned(),
            subtotal: p.subtotal,
            discount: p.discount,
            shipping: p.shipping,
            tax: p.tax,
            total: p.total,
            shipping_rate: p.shipping_option.clone(),
            commission_bps: p.commission_bps,
            commission: p.commission,
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
        .zip(&plan.lines)
        .enumerate()
        .map(|(i, (l, p))| OrderLineRow {
            id: Uuid::now_v7(),
            order_id,
            vendor_order_id: vendor_orders[p.part].id,
            variant_id: Some(l.variant_id),
            position: i as i64,
            product_title: l.product_title.clone(),
            variant_title: l.variant_title(),
            sku: l.sku.clone(),
            note: l.note.clone(),
            unit_price: p.unit_price,
            quantity: p.quantity,
            amount: p.amount,
            discount: p.discount,
            tax: p.tax,
            total: p.total,
            stock_reserved: p.stock_reserved,
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
            let taken: Vec<i64> = crate::sql::query_scalar(
                    "SELECT seq FROM coupon_redemptions WHERE coupon_id = $1 AND customer = $2 ORDER BY seq",
                )
                .bind(coupon.id)
                .bind(&req.customer_key)
                .fetch_all(&mut *tx)
                .await?;
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
                let inserted: Option<i64> = crate::sql::query_scalar(INSERT)
                    .bind(coupon.id)
                    .bind(&req.customer_key)
                    .bind(order_id)
                    .bind(now)
                    .bind(seq)
                    .fetch_optional(&mut *tx)
                    .await?;
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
    if plan.nothing_to_pay() {
        // Paid as placed. No payment row and no ledger entries: no money moved.
        crate::sql::query("UPDATE orders SET status = 'paid', paid_at = $2 WHERE id = $1")
            .bind(order_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        detail.order.status = OrderStatus::Paid.as_str().to_owned();
        detail.order.paid_at = Some(now);
    }
    let low_stock = low
        .into_iter()
        .filter_map(|(variant_id, stock)| {
            let l = snapshot.lines.iter().find(|l| l.variant_id == variant_id)?;
            Some(LowStock {
                variant_id,
                vendor_id: l.vendor_id,
                sku: l.sku.clone(),
                product_title: l.product_title.clone(),
                stock,
            })
        })
        .collect();
    Ok(CheckoutOutcome::Placed {
        order: Box::new(detail),
        low_stock,
    })
}

fn owned_by_other(cart: &CartRow, caller: Option<Uuid>) -> bool {
    cart.user_id.is_some() && cart.user_id != caller
}

async fn insert_order(
    tx: &mut Tx,
    d: &OrderDetail,
    customer_key: &str,
) -> Result<(), StorageError> {
    let o = &d.order;
    crate::sql::query(
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
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
    crate::sql::query(sql)
        .bind_all(args)
        .execute(&mut *tx)
        .await?
        .rows_affected();
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
    crate::sql::query(sql)
        .bind_all(args)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}
