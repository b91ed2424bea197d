//! Carts. A guest's cart is reached by its id, a random UUIDv4 (a capability: 122 random bits);
//! a customer's cart belongs to them alone. Lines keep only variant and quantity: prices,
//! availability, coupon and shipping are re-read every time the cart is shown or checked out.

mod edits;

pub use edits::*;

use souk_domain::cart::{CartCoupon, CartLine, CartPricing, ShippingOption};
use souk_domain::orders::CouponLimits;
use souk_domain::pricing::{Coupon, Discount, ShippingRate, TaxRule};
use uuid::Uuid;

use crate::db::Exec;
use crate::{Db, StorageError, now_ms};

/// Most lines one cart may hold.
pub const MAX_LINES: i64 = 100;
/// Most units of one line.
pub const MAX_QUANTITY: i64 = 1000;

#[derive(Debug, Clone)]
pub struct CartRow {
    pub id: Uuid,
    pub user_id: Option<Uuid>,
    pub status: String,
    pub email: Option<String>,
    /// JSON of `souk_domain::orders::Address`.
    pub shipping_address: Option<String>,
    pub coupon_code: Option<String>,
    pub currency: String,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(CartRow {
    id,
    user_id,
    status,
    email,
    shipping_address,
    coupon_code,
    currency,
    created_at,
    updated_at
});

/// A cart line joined with what it is: the variant's current price and stock, its product and
/// vendor.
#[derive(Debug, Clone)]
pub struct CartLineRow {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub quantity: i64,
    pub note: String,
    pub price: i64,
    pub currency: String,
    pub stock: i64,
    pub track_inventory: bool,
    pub grams: i64,
    pub sku: Option<String>,
    pub option1: Option<String>,
    pub option2: Option<String>,
    pub option3: Option<String>,
    pub product_id: Uuid,
    pub product_title: String,
    pub product_handle: String,
    pub product_status: String,
    pub vendor_id: Uuid,
    pub vendor_name: String,
    pub vendor_status: String,
    pub commission_bps: Option<i64>,
}

crate::from_row!(CartLineRow {
    id,
    variant_id,
    quantity,
    note,
    price,
    currency,
    stock,
    track_inventory,
    grams,
    sku,
    option1,
    option2,
    option3,
    product_id,
    product_title,
    product_handle,
    product_status,
    vendor_id,
    vendor_name,
    vendor_status,
    commission_bps
});

impl CartLineRow {
    /// "Red / L", or "Default" for a single-variant product.
    pub fn variant_title(&self) -> String {
        let parts: Vec<&str> = [&self.option1, &self.option2, &self.option3]
            .into_iter()
            .filter_map(|o| o.as_deref())
            .filter(|o| !o.is_empty())
            .collect();
        if parts.is_empty() {
            "Default".to_owned()
        } else {
            parts.join(" / ")
        }
    }
}

#[derive(Debug, Clone)]
pub struct RateRow {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub name: String,
    pub kind: String,
    pub amount: i64,
    pub threshold: Option<i64>,
    pub per_kg: Option<i64>,
    pub chosen: bool,
}

crate::from_row!(RateRow {
    id,
    vendor_id,
    name,
    kind,
    amount,
    threshold,
    per_kg,
    chosen
});

impl RateRow {
    pub fn rate(&self) -> ShippingRate {
        match self.kind.as_str() {
            "free_over" => ShippingRate::FreeOver {
                amount: self.amount,
                threshold: self.threshold.unwrap_or(i64::MAX),
            },
            "by_weight" => ShippingRate::ByWeight {
                base: self.amount,
                per_kg: self.per_kg.unwrap_or(0),
            },
            _ => ShippingRate::Flat(self.amount),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CouponRow {
    pub id: Uuid,
    pub code: String,
    pub kind: String,
    pub value: i64,
    pub min_subtotal: i64,
    pub starts_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub per_customer_limit: Option<i64>,
    pub uses: i64,
    pub active: bool,
    pub created_at: i64,
}

crate::from_row!(CouponRow {
    id,
    code,
    kind,
    value,
    min_subtotal,
    starts_at,
    expires_at,
    max_uses,
    per_customer_limit,
    uses,
    active,
    created_at
});

impl CouponRow {
    pub fn coupon(&self) -> Coupon {
        Coupon {
            discount: if self.kind == "percent" {
                Discount::Percent(self.value)
            } else {
                Discount::Fixed(self.value)
            },
            min_subtotal: self.min_subtotal,
        }
    }

    pub fn limits(&self) -> CouponLimits {
        CouponLimits {
            active: self.active,
            starts_at: self.starts_at,
            expires_at: self.expires_at,
            max_uses: self.max_uses,
            uses: self.uses,
            per_customer_limit: self.per_customer_limit,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TaxRow {
    pub rate_bps: i64,
    pub inclusive: bool,
}

crate::from_row!(TaxRow {
    rate_bps,
    inclusive
});

/// Everything needed to price a cart, read at one moment.
#[derive(Debug, Clone)]
pub struct CartSnapshot {
    pub cart: CartRow,
    pub lines: Vec<CartLineRow>,
    pub rates: Vec<RateRow>,
    pub coupon: Option<CouponRow>,
    pub tax: Option<TaxRow>,
    /// How often the cart's email already used its coupon.
    pub customer_coupon_uses: i64,
}

impl CartSnapshot {
    /// The cart as the pricing rules see it ([`souk_domain::cart::quote`] prices it).
    pub fn pricing(&self) -> CartPricing {
        let lines = self
            .lines
            .iter()
            .map(|l| CartLine {
                variant_id: l.variant_id,
                vendor_id: l.vendor_id,
                vendor_name: l.vendor_name.clone(),
                unit_price: l.price,
                quantity: l.quantity,
                grams: l.grams,
                stock: l.stock,
                track_inventory: l.track_inventory,
                for_sale: l.product_status == "published"
                    && l.vendor_status == "active"
                    && l.currency == self.cart.currency,
                commission_bps: l.commission_bps,
            })
            .collect();
        let options = self
            .rates
            .iter()
            .map(|r| ShippingOption {
                id: r.id,
                vendor_id: r.vendor_id,
                name: r.name.clone(),
                rate: r.rate(),
                chosen: r.chosen,
            })
            .collect();
        let coupon = match &self.coupon {
            Some(c) => CartCoupon::Known {
                coupon: c.coupon(),
                limits: c.limits(),
            },
            None if self.cart.coupon_code.is_some() => CartCoupon::Unknown,
            None => CartCoupon::None,
        };
        CartPricing {
            lines,
            options,
            coupon,
            tax: self.tax.map(|t| TaxRule {
                rate: t.rate_bps,
                inclusive: t.inclusive,
            }),
            customer_coupon_uses: self.customer_coupon_uses,
        }
    }
}

pub const CART_COLUMNS: &str =
    "id, user_id, status, email, shipping_address, coupon_code, currency, created_at, updated_at";

const LINE_QUERY: &str = "SELECT ci.id, ci.variant_id, ci.quantity, ci.note, v.price, v.currency, v.stock, \
     v.track_inventory, v.grams, v.sku, v.option1, v.option2, v.option3, p.id AS product_id, \
     p.title AS product_title, p.handle AS product_handle, p.status AS product_status, \
     vd.id AS vendor_id, vd.name AS vendor_name, vd.status AS vendor_status, vd.commission_bps \
     FROM cart_items ci JOIN variants v ON v.id = ci.variant_id \
     JOIN products p ON p.id = v.product_id JOIN vendors vd ON vd.id = p.vendor_id \
     WHERE ci.cart_id = $1 ORDER BY ci.created_at, ci.id";

const RATE_QUERY: &str = "SELECT sr.id, sr.vendor_id, sr.name, sr.kind, sr.amount, sr.threshold, sr.per_kg, \
     (cs.rate_id IS NOT NULL) AS chosen FROM shipping_rates sr \
     LEFT JOIN cart_shipping cs ON cs.rate_id = sr.id AND cs.cart_id = $1 \
     WHERE sr.vendor_id IN (SELECT p.vendor_id FROM cart_items ci JOIN variants v ON v.id = ci.variant_id \
        JOIN products p ON p.id = v.product_id WHERE ci.cart_id = $1) \
     ORDER BY sr.vendor_id, sr.created_at, sr.id";

pub const COUPON_COLUMNS: &str = "id, code, kind, value, min_subtotal, starts_at, expires_at, max_uses, \
     per_customer_limit, uses, active, created_at";

/// Creates an empty cart. A customer has at most one open cart: theirs is returned if it exists.
pub async fn create(db: &Db, user_id: Option<Uuid>, currency: &str) -> Result<Uuid, StorageError> {
    if let Some(user) = user_id
        && let Some(existing) = open_cart_of(db, user).await?
    {
        return Ok(existing);
    }
    let id = Uuid::new_v4();
    let now = now_ms();
    let mut tx = db.begin_relaxed_write().await?;
    let inserted = crate::sql::query(
        "INSERT INTO carts (id, user_id, status, currency, created_at, updated_at) \
             VALUES ($1, $2, 'open', $3, $4, $4) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(user_id)
    .bind(currency)
    .bind(now)
    .execute(&mut tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    if inserted == 0 {
        // A concurrent request created the customer's cart first.
        if let Some(user) = user_id
            && let Some(existing) = open_cart_of(db, user).await?
        {
            return Ok(existing);
        }
    }
    Ok(id)
}

pub async fn open_cart_of(db: &Db, user_id: Uuid) -> Result<Option<Uuid>, StorageError> {
    crate::sql::query_scalar("SELECT id FROM carts WHERE user_id = $1 AND status = 'open'")
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// Units in the open cart `id` (0 for a cart checked out, merged or unknown): the count a
/// storefront shows beside its cart link.
pub async fn open_item_count(db: &Db, id: Uuid) -> Result<i64, StorageError> {
    let n: i64 = crate::sql::query_scalar(
            "SELECT CAST(COALESCE(SUM(l.quantity), 0) AS BIGINT) FROM cart_items l JOIN carts c ON c.id = l.cart_id \
             WHERE c.id = $1 AND c.status = 'open'",
        )
        .bind(id)
        .fetch_one(db)
        .await?;
    Ok(n)
}

pub async fn get(exec: Exec<'_>, id: Uuid) -> Result<Option<CartRow>, StorageError> {
    let sql = format!("SELECT {CART_COLUMNS} FROM carts WHERE id = $1");
    crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(exec)
        .await
}

/// Reads the cart's lines, shipping options, coupon and tax rule.
pub async fn snapshot(mut exec: Exec<'_>, cart: CartRow) -> Result<CartSnapshot, StorageError> {
    let country_region = cart
        .shipping_address
        .as_deref()
        .and_then(|a| serde_json::from_str::<souk_domain::orders::Address>(a).ok())
        .map(|a| (a.country, a.region));
    let email = cart.email.clone().unwrap_or_default();
    let (lines, rates, coupon, tax, customer_coupon_uses) = {
        let lines: Vec<CartLineRow> = crate::sql::query_as(LINE_QUERY)
            .bind(cart.id)
            .fetch_all(&mut exec)
            .await?;
        let rates: Vec<RateRow> = if lines.is_empty() {
            Vec::new()
        } else {
            crate::sql::query_as(RATE_QUERY)
                .bind(cart.id)
                .fetch_all(&mut exec)
                .await?
        };
        let coupon: Option<CouponRow> = match &cart.coupon_code {
            Some(code) => {
                crate::sql::query_as(format!(
                    "SELECT {COUPON_COLUMNS} FROM coupons WHERE code = $1"
                ))
                .bind(code)
                .fetch_optional(&mut exec)
                .await?
            }
            None => None,
        };
        // A cart's email is whatever its holder typed: counting that address's uses would tell
        // anyone whether it has used a coupon. So the cart counts them only when the email is
        // the logged-in owner's own account address; everyone else meets the per-customer
        // limit at checkout, where the redemption rows enforce it anyway.
        let uses: i64 = match (&coupon, email.is_empty(), cart.user_id) {
            (Some(c), false, Some(owner)) if c.per_customer_limit.is_some() => {
                crate::sql::query_scalar(
                    "SELECT COUNT(*) FROM coupon_redemptions WHERE coupon_id = $1 AND customer = $2 \
                     AND EXISTS (SELECT 1 FROM users WHERE id = $3 AND lower(email) = lower($4))",
                )
                .bind(c.id)
                .bind(souk_domain::accounts::customer_key(&email))
                .bind(owner)
                .bind(&email)
                .fetch_one(&mut exec)
                .await?
            }
            _ => 0,
        };
        // The most specific rate: the region's own, its parent region's (a province in its
        // community), or the country's.
        let tax: Option<TaxRow> = match &country_region {
            Some((country, region)) => {
                let parent = souk_domain::geo::parent(country, region).unwrap_or(region.as_str());
                crate::sql::query_as(
                    "SELECT rate_bps, inclusive FROM tax_rates WHERE country = $1 \
                     AND region IN ($2, $3, '') \
                     ORDER BY CASE WHEN region = $2 THEN 0 WHEN region = $3 THEN 1 ELSE 2 END LIMIT 1",
                )
                .bind(country)
                .bind(region)
                .bind(parent)
                .fetch_optional(&mut exec)
                .await?
            }
            None => None,
        };
        (lines, rates, coupon, tax, uses)
    };
    Ok(CartSnapshot {
        cart,
        lines,
        rates,
        coupon,
        tax,
        customer_coupon_uses,
    })
}

/// Housekeeping: forgets carts nobody has touched since `before_ms` that never became an order
/// (open guest carts, carts merged into a customer's), with their lines.
pub async fn purge_abandoned(db: &Db, before_ms: i64) -> Result<u64, StorageError> {
    db.purge_in_batches(
        "carts",
        "id",
        "status IN ('open', 'merged') AND updated_at < $1",
        before_ms,
    )
    .await
}
