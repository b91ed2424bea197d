//! Orders written in bulk for benchmarks and trials (`souk demo --orders N`): rows as checkout
//! would have left them (orders, vendor orders, lines), without carts, stock or events. Never
//! used by a shopper's path.

use uuid::Uuid;

use crate::db::{Arg, values_placeholders};
use crate::{Db, StorageError, Tx};

/// A variant orders can be generated from.
#[derive(Debug, Clone)]
pub struct SampleVariant {
    pub variant_id: Uuid,
    pub vendor_id: Uuid,
    pub product_title: String,
    pub variant_title: String,
    pub sku: Option<String>,
    pub price: i64,
}

crate::from_row!(SampleVariant {
    variant_id,
    vendor_id,
    product_title,
    variant_title,
    sku,
    price
});

/// Up to `limit` variants of published products, spread over the catalog.
pub async fn sample_variants(db: &Db, limit: i64) -> Result<Vec<SampleVariant>, StorageError> {
    crate::sql::query_as(
        "SELECT v.id AS variant_id, p.vendor_id, p.title AS product_title, \
             COALESCE(v.option1 || COALESCE(' / ' || v.option2, ''), 'Default') AS variant_title, \
             v.sku, v.price FROM variants v JOIN products p ON p.id = v.product_id \
             WHERE p.status = 'published' ORDER BY v.id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One generated order with its parts and lines, amounts already computed.
#[derive(Debug, Clone)]
pub struct GeneratedOrder {
    pub id: Uuid,
    pub email: String,
    /// JSON, as checkout stores it.
    pub shipping_address: String,
    pub status: &'static str,
    pub currency: String,
    pub subtotal: i64,
    pub shipping: i64,
    pub total: i64,
    pub paid: i64,
    pub placed_at: i64,
    pub paid_at: Option<i64>,
    pub parts: Vec<GeneratedPart>,
}

#[derive(Debug, Clone)]
pub struct GeneratedPart {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub status: &'static str,
    pub subtotal: i64,
    pub shipping: i64,
    pub total: i64,
    pub commission_bps: i64,
    pub commission: i64,
    pub lines: Vec<GeneratedLine>,
}

#[derive(Debug, Clone)]
pub struct GeneratedLine {
    pub variant: SampleVariant,
    pub quantity: i64,
    pub shipped: i64,
}

const ORDER_COLUMNS: usize = 18;

/// Writes `orders` in `tx`, in multi-row statements.
pub async fn insert_generated(tx: &mut Tx, orders: &[GeneratedOrder]) -> Result<(), StorageError> {
    // sqlx looks SQLite parameters up by name (quadratic in their number): small statements there.
    let chunk_len = match tx.backend() {
        crate::Backend::Sqlite => 12,
        crate::Backend::Postgres => 100,
    };
    for chunk in orders.chunks(chunk_len) {
        let mut order_args = Vec::with_capacity(chunk.len() * ORDER_COLUMNS);
        let mut part_args = Vec::new();
        let mut line_args = Vec::new();
        let (mut parts, mut lines) = (0, 0);
        for o in chunk {
            order_args.extend([
                Arg::Uuid(o.id),
                // A generated order has no cart; its own id stands in (the column is unique).
                Arg::Uuid(o.id),
                Arg::Text(o.email.clone()),
                Arg::Text(o.shipping_address.clone()),
                Arg::Text(o.status.to_owned()),
                Arg::Text("manual".to_owned()),
                Arg::Text(o.currency.clone()),
                Arg::I64(o.subtotal),
                Arg::I64(0),
                Arg::I64(o.shipping),
                Arg::I64(0),
                Arg::I64(o.total),
                Arg::I64(o.paid),
                Arg::Bytes(souk_domain::accounts::token_hash(&o.id.to_string())),
                Arg::I64(o.placed_at),
                Arg::I64(o.placed_at),
                Arg::OptI64(o.paid_at),
                Arg::Text(souk_domain::accounts::customer_key(&o.email)),
            ]);
            for part in &o.parts {
                parts += 1;
                part_args.extend([
                    Arg::Uuid(part.id),
                    Arg::Uuid(o.id),
                    Arg::Uuid(part.vendor_id),
                    Arg::Text(part.status.to_owned()),
                    Arg::I64(part.subtotal),
                    Arg::I64(0),
                    Arg::I64(part.shipping),
                    Arg::I64(0),
                    Arg::I64(part.total),
                    Arg::I64(part.commission_bps),
                    Arg::I64(part.commission),
                    Arg::I64(o.placed_at),
                ]);
                for (position, line) in part.lines.iter().enumerate() {
                    lines += 1;
                    let amount = line.variant.price * line.quantity;
                    line_args.extend([
                        Arg::Uuid(Uuid::now_v7()),
                        Arg::Uuid(o.id),
                        Arg::Uuid(part.id),
                        Arg::Uuid(line.variant.variant_id),
                        Arg::I64(position as i64),
                        Arg::Text(line.variant.product_title.clone()),
                        Arg::Text(line.variant.variant_title.clone()),
                        Arg::OptText(line.variant.sku.clone()),
                        Arg::I64(line.variant.price),
                        Arg::I64(line.quantity),
                        Arg::I64(amount),
                        Arg::I64(0),
                        Arg::I64(0),
                        Arg::I64(amount),
                        Arg::I64(line.shipped),
                        Arg::Bool(false),
                    ]);
                }
            }
        }
        let orders_sql = format!(
            "INSERT INTO orders (id, cart_id, email, shipping_address, status, payment_method, currency, \
             subtotal, discount, shipping_total, tax, total, paid_amount, access_token_hash, placed_at, \
             updated_at, paid_at, customer_key) VALUES {}",
            values_placeholders(chunk.len(), ORDER_COLUMNS)
        );
        let parts_sql = format!(
            "INSERT INTO vendor_orders (id, order_id, vendor_id, status, subtotal, discount, shipping, tax, \
             total, commission_bps, commission, created_at) VALUES {}",
            values_placeholders(parts, 12)
        );
        let lines_sql = format!(
            "INSERT INTO order_lines (id, order_id, vendor_order_id, variant_id, position, product_title, \
             variant_title, sku, unit_price, quantity, amount, discount, tax, total, shipped_quantity, \
             stock_reserved) VALUES {}",
            values_placeholders(lines, 16)
        );
        for (sql, args) in [
            (orders_sql, order_args),
            (parts_sql, part_args),
            (lines_sql, line_args),
        ] {
            crate::sql::query(sql.clone())
                .bind_all(args.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
    }
    Ok(())
}

/// After a bulk load of orders: PostgreSQL's statistics and visibility map brought up to date
/// (as autovacuum would a minute later), so counts read the indexes alone from the first query.
pub async fn refresh_order_statistics(db: &Db) -> Result<(), StorageError> {
    if let Db::Postgres(pool) = db {
        sqlx::query("VACUUM (ANALYZE) orders, vendor_orders, order_lines")
            .execute(pool)
            .await?;
    }
    Ok(())
}
