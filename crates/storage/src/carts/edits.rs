//! Cart edits: lines added and changed, contact details, shipping choices, and a guest cart
//! merged into its customer's at sign-in. Each is one relaxed write (no follow-up jobs).

use uuid::Uuid;

use super::{MAX_LINES, MAX_QUANTITY};
use crate::{Db, StorageError, now_ms};

/// What adding a line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    Added,
    /// The cart is not open (ordered or merged).
    NotOpen,
    /// The cart already has [`MAX_LINES`] lines.
    TooManyLines,
}

/// Adds `quantity` of a variant (merging into the line with the same variant and note, capped
/// at [`MAX_QUANTITY`]). One statement: the cart must be open and below the line limit.
pub async fn add_item(
    db: &Db,
    cart_id: Uuid,
    variant_id: Uuid,
    quantity: i64,
    note: &str,
) -> Result<AddOutcome, StorageError> {
    let now = now_ms();
    let mut tx = db.begin_relaxed_write().await?;
    let changed = crate::sql::query(
            "INSERT INTO cart_items (id, cart_id, variant_id, quantity, note, created_at) \
             SELECT $1, $2, $3, $4, $5, $6 \
             WHERE EXISTS (SELECT 1 FROM carts WHERE id = $2 AND status = 'open') \
               AND ((SELECT COUNT(*) FROM cart_items WHERE cart_id = $2) < $7 \
                 OR EXISTS (SELECT 1 FROM cart_items WHERE cart_id = $2 AND variant_id = $3 AND note = $5)) \
             ON CONFLICT (cart_id, variant_id, note) DO UPDATE SET quantity = \
               CASE WHEN cart_items.quantity + excluded.quantity > $8 THEN $8 \
                    ELSE cart_items.quantity + excluded.quantity END",
        )
        .bind(Uuid::now_v7())
        .bind(cart_id)
        .bind(variant_id)
        .bind(quantity)
        .bind(note)
        .bind(now)
        .bind(MAX_LINES)
        .bind(MAX_QUANTITY)
        .execute(&mut tx)
        .await?
        .rows_affected();
    if changed == 0 {
        let open = crate::sql::query_scalar::<String>("SELECT status FROM carts WHERE id = $1")
            .bind(cart_id)
            .fetch_optional(&mut tx)
            .await?;
        return Ok(if open.as_deref() == Some("open") {
            AddOutcome::TooManyLines
        } else {
            AddOutcome::NotOpen
        });
    }
    touch(&mut tx, cart_id, now).await?;
    tx.commit().await?;
    Ok(AddOutcome::Added)
}

async fn touch(tx: &mut crate::Tx, cart_id: Uuid, now: i64) -> Result<(), StorageError> {
    crate::sql::query("UPDATE carts SET updated_at = $2 WHERE id = $1")
        .bind(cart_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

/// Sets a line's quantity (0 removes it). False when there is no such line in an open cart.
pub async fn set_quantity(
    db: &Db,
    cart_id: Uuid,
    line_id: Uuid,
    quantity: i64,
) -> Result<bool, StorageError> {
    let now = now_ms();
    let mut tx = db.begin_relaxed_write().await?;
    let changed = if quantity == 0 {
        crate::sql::query(
            "DELETE FROM cart_items WHERE id = $1 AND cart_id = $2 \
                 AND EXISTS (SELECT 1 FROM carts WHERE id = $2 AND status = 'open')",
        )
        .bind(line_id)
        .bind(cart_id)
        .execute(&mut tx)
        .await?
        .rows_affected()
    } else {
        crate::sql::query(
            "UPDATE cart_items SET quantity = $3 WHERE id = $1 AND cart_id = $2 \
                 AND EXISTS (SELECT 1 FROM carts WHERE id = $2 AND status = 'open')",
        )
        .bind(line_id)
        .bind(cart_id)
        .bind(quantity)
        .execute(&mut tx)
        .await?
        .rows_affected()
    };
    if changed == 1 {
        touch(&mut tx, cart_id, now).await?;
    }
    tx.commit().await?;
    Ok(changed == 1)
}

/// The checkout details a cart carries. `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct CartDetails {
    pub email: Option<Option<String>>,
    pub shipping_address: Option<Option<String>>,
    pub coupon_code: Option<Option<String>>,
}

/// Updates an open cart's details; false when the cart is not open.
pub async fn update_details(
    db: &Db,
    cart_id: Uuid,
    details: CartDetails,
) -> Result<bool, StorageError> {
    let mut sets = vec!["updated_at = $2".to_owned()];
    let mut args = vec![crate::db::Arg::Uuid(cart_id), crate::db::Arg::I64(now_ms())];
    for (column, value) in [
        ("email", details.email),
        ("shipping_address", details.shipping_address),
        ("coupon_code", details.coupon_code),
    ] {
        if let Some(v) = value {
            args.push(crate::db::Arg::OptText(v));
            sets.push(format!("{column} = ${}", args.len()));
        }
    }
    let sql = format!(
        "UPDATE carts SET {} WHERE id = $1 AND status = 'open'",
        sets.join(", ")
    );
    let mut tx = db.begin_relaxed_write().await?;
    let changed = crate::sql::query(sql)
        .bind_all(args)
        .execute(&mut tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(changed == 1)
}

/// What choosing a shipping option did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChooseOutcome {
    Chosen,
    NotOpen,
    /// The option does not exist or its vendor has nothing in this cart.
    UnknownOption,
}

pub async fn choose_shipping(
    db: &Db,
    cart_id: Uuid,
    rate_id: Uuid,
) -> Result<ChooseOutcome, StorageError> {
    let mut tx = db.begin_relaxed_write().await?;
    let changed = crate::sql::query(
        "INSERT INTO cart_shipping (cart_id, vendor_id, rate_id) \
             SELECT $1, sr.vendor_id, sr.id FROM shipping_rates sr WHERE sr.id = $2 \
               AND EXISTS (SELECT 1 FROM carts WHERE id = $1 AND status = 'open') \
               AND sr.vendor_id IN (SELECT p.vendor_id FROM cart_items ci \
                   JOIN variants v ON v.id = ci.variant_id JOIN products p ON p.id = v.product_id \
                   WHERE ci.cart_id = $1) \
             ON CONFLICT (cart_id, vendor_id) DO UPDATE SET rate_id = excluded.rate_id",
    )
    .bind(cart_id)
    .bind(rate_id)
    .execute(&mut tx)
    .await?
    .rows_affected();
    if changed == 0 {
        let status = crate::sql::query_scalar::<String>("SELECT status FROM carts WHERE id = $1")
            .bind(cart_id)
            .fetch_optional(&mut tx)
            .await?;
        return Ok(if status.as_deref() == Some("open") {
            ChooseOutcome::UnknownOption
        } else {
            ChooseOutcome::NotOpen
        });
    }
    tx.commit().await?;
    Ok(ChooseOutcome::Chosen)
}

/// At login: moves a guest cart's lines into the customer's open cart (adding quantities of
/// equal lines), or makes the guest cart the customer's when they have none. Returns the
/// customer's cart id, or `None` when the guest cart is not an open guest cart.
pub async fn merge_into_customer(
    db: &Db,
    guest_cart: Uuid,
    user_id: Uuid,
) -> Result<Option<Uuid>, StorageError> {
    let now = now_ms();
    let mut tx = db.begin_relaxed_write().await?;
    // The guest cart stays locked (PostgreSQL) until the merge commits: a checkout of it racing
    // the login either claims it first (then nothing merges) or waits and finds it merged.
    let read_guest = format!(
        "SELECT user_id, status FROM carts WHERE id = $1{}",
        crate::dialect::for_update(tx.backend())
    );
    let result = {
        let guest: Option<(Option<Uuid>, String)> = crate::sql::query_as(read_guest)
            .bind(guest_cart)
            .fetch_optional(&mut tx)
            .await?;
        match guest {
            Some((None, status)) if status == "open" => {
                let own: Option<Uuid> = crate::sql::query_scalar(
                    "SELECT id FROM carts WHERE user_id = $1 AND status = 'open'",
                )
                .bind(user_id)
                .fetch_optional(&mut tx)
                .await?;
                match own {
                    None => {
                        crate::sql::query(
                            "UPDATE carts SET user_id = $2, updated_at = $3 WHERE id = $1",
                        )
                        .bind(guest_cart)
                        .bind(user_id)
                        .bind(now)
                        .execute(&mut tx)
                        .await?;
                        Some(guest_cart)
                    }
                    Some(own) => {
                        // Lines both carts have: add the guest's quantity to the customer's.
                        crate::sql::query(
                            "UPDATE cart_items SET quantity = (SELECT CASE WHEN cart_items.quantity + g.quantity > $3 \
                               THEN $3 ELSE cart_items.quantity + g.quantity END FROM cart_items g \
                               WHERE g.cart_id = $1 AND g.variant_id = cart_items.variant_id AND g.note = cart_items.note) \
                             WHERE cart_id = $2 AND EXISTS (SELECT 1 FROM cart_items g WHERE g.cart_id = $1 \
                               AND g.variant_id = cart_items.variant_id AND g.note = cart_items.note)",
                        )
                        .bind(guest_cart)
                        .bind(own)
                        .bind(MAX_QUANTITY)
                        .execute(&mut tx)
                        .await?;
                        // The guest's other lines move over as they are, oldest first, as many
                        // as fit under the line cap; the rest are dropped with the guest cart.
                        let lines: i64 = crate::sql::query_scalar(
                            "SELECT COUNT(*) FROM cart_items WHERE cart_id = $1",
                        )
                        .bind(own)
                        .fetch_one(&mut tx)
                        .await?;
                        crate::sql::query(
                            "UPDATE cart_items SET cart_id = $2 WHERE id IN (SELECT g.id FROM cart_items g \
                             WHERE g.cart_id = $1 AND NOT EXISTS (SELECT 1 FROM cart_items o WHERE o.cart_id = $2 \
                               AND o.variant_id = g.variant_id AND o.note = g.note) ORDER BY g.id LIMIT $3)",
                        )
                        .bind(guest_cart)
                        .bind(own)
                        .bind((MAX_LINES - lines).max(0))
                        .execute(&mut tx)
                        .await?;
                        crate::sql::query("DELETE FROM cart_items WHERE cart_id = $1")
                            .bind(guest_cart)
                            .execute(&mut tx)
                            .await?;
                        crate::sql::query(
                            "UPDATE carts SET status = 'merged', updated_at = $2 WHERE id = $1",
                        )
                        .bind(guest_cart)
                        .bind(now)
                        .execute(&mut tx)
                        .await?;
                        crate::sql::query("UPDATE carts SET updated_at = $2 WHERE id = $1")
                            .bind(own)
                            .bind(now)
                            .execute(&mut tx)
                            .await?;
                        Some(own)
                    }
                }
            }
            _ => None,
        }
    };
    tx.commit().await?;
    Ok(result)
}
