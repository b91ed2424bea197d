//! Carts. A guest's cart is reached by its id, a random UUIDv4 (a capability: 122 random bits);
//! a customer's cart belongs to them alone. Lines keep only variant and quantity: prices,
//! availability, coupon and shipping are re-read every time the cart is shown or checked out.

use std::collections::BTreeMap;

use souk_domain::orders::CouponLimits;
use souk_domain::pricing::{
    self, CartTotals, Coupon, Discount, PricedLine, PricingError, ShippingRate, TaxRule,
};
use uuid::Uuid;

use crate::db::Exec;
use crate::{Db, StorageError, now_ms};

/// Most lines one cart may hold.
pub const MAX_LINES: i64 = 100;
/// Most units of one line.
pub const MAX_QUANTITY: i64 = 1000;

#[derive(Debug, Clone, sqlx::FromRow)]
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

/// A cart line joined with what it is: the variant's current price and stock, its product and
/// vendor.
#[derive(Debug, Clone, sqlx::FromRow)]
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

#[derive(Debug, Clone, sqlx::FromRow)]
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

#[derive(Debug, Clone, sqlx::FromRow)]
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

#[derive(Debug, Clone, Copy, sqlx::FromRow)]
pub struct TaxRow {
    pub rate_bps: i64,
    pub inclusive: bool,
}

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
    let inserted = on_tx!(&mut tx, conn => {
        sqlx::query(
            "INSERT INTO carts (id, user_id, status, currency, created_at, updated_at) \
             VALUES ($1, $2, 'open', $3, $4, $4) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(user_id)
        .bind(currency)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
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
    Ok(on_reader!(db, pool => {
        sqlx::query_scalar("SELECT id FROM carts WHERE user_id = $1 AND status = 'open'")
            .bind(user_id)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn get(exec: Exec<'_>, id: Uuid) -> Result<Option<CartRow>, StorageError> {
    let sql = format!("SELECT {CART_COLUMNS} FROM carts WHERE id = $1");
    Ok(on_exec!(exec, conn => {
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&mut *conn).await?
    }))
}

/// Reads the cart's lines, shipping options, coupon and tax rule.
pub async fn snapshot(exec: Exec<'_>, cart: CartRow) -> Result<CartSnapshot, StorageError> {
    let country_region = cart
        .shipping_address
        .as_deref()
        .and_then(|a| serde_json::from_str::<souk_domain::orders::Address>(a).ok())
        .map(|a| (a.country, a.region));
    let email = cart.email.clone().unwrap_or_default();
    let (lines, rates, coupon, tax, customer_coupon_uses) = on_exec!(exec, conn => {
        let lines: Vec<CartLineRow> = sqlx::query_as(LINE_QUERY)
            .bind(cart.id)
            .fetch_all(&mut *conn)
            .await?;
        let rates: Vec<RateRow> = if lines.is_empty() {
            Vec::new()
        } else {
            sqlx::query_as(RATE_QUERY).bind(cart.id).fetch_all(&mut *conn).await?
        };
        let coupon: Option<CouponRow> = match &cart.coupon_code {
            Some(code) => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {COUPON_COLUMNS} FROM coupons WHERE code = $1"
                )))
                .bind(code)
                .fetch_optional(&mut *conn)
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
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM coupon_redemptions WHERE coupon_id = $1 AND customer = $2 \
                     AND EXISTS (SELECT 1 FROM users WHERE id = $3 AND lower(email) = lower($4))",
                )
                .bind(c.id)
                .bind(souk_domain::accounts::customer_key(&email))
                .bind(owner)
                .bind(&email)
                .fetch_one(&mut *conn)
                .await?
            }
            _ => 0,
        };
        // The most specific rate: the region's own, its parent region's (a province in its
        // community), or the country's.
        let tax: Option<TaxRow> = match &country_region {
            Some((country, region)) => {
                let parent = souk_domain::geo::parent(country, region).unwrap_or(region.as_str());
                sqlx::query_as(
                    "SELECT rate_bps, inclusive FROM tax_rates WHERE country = $1 \
                     AND region IN ($2, $3, '') \
                     ORDER BY CASE WHEN region = $2 THEN 0 WHEN region = $3 THEN 1 ELSE 2 END LIMIT 1",
                )
                .bind(country)
                .bind(region)
                .bind(parent)
                .fetch_optional(&mut *conn)
                .await?
            }
            None => None,
        };
        (lines, rates, coupon, tax, uses)
    });
    Ok(CartSnapshot {
        cart,
        lines,
        rates,
        coupon,
        tax,
        customer_coupon_uses,
    })
}

/// Why a line cannot be bought as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineProblem {
    /// The product is not published, its vendor not active, or it is priced in another currency.
    Unavailable,
    /// Fewer units in stock than the cart asks for (over all lines of the variant).
    InsufficientStock { available: i64 },
}

/// One vendor's part of a priced cart.
#[derive(Debug, Clone)]
pub struct VendorQuote {
    pub vendor_id: Uuid,
    pub vendor_name: String,
    /// The chosen option, or the cheapest when none was chosen; `None`: the vendor has no
    /// shipping options set up and ships for free.
    pub rate: Option<RateRow>,
    pub shipping: i64,
    /// What shipping rules see: the vendor's line amounts after the coupon's discount.
    pub shipping_basis: i64,
    /// The vendor's lines' weight.
    pub grams: i64,
    /// Σ line amounts after discount.
    pub goods: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    pub commission_bps: i64,
}

#[derive(Debug, Clone)]
pub struct Quote {
    pub totals: CartTotals,
    pub vendors: Vec<VendorQuote>,
    /// Per line (same order as the snapshot's lines).
    pub problems: Vec<Option<LineProblem>>,
    /// Why the cart's coupon does not apply, if it does not (a stable code).
    pub coupon_rejection: Option<&'static str>,
}

/// Prices a snapshot with the domain rules: the coupon if it is usable now, each vendor's
/// chosen (or cheapest) shipping option, the destination's tax rule.
pub fn quote(
    s: &CartSnapshot,
    now: i64,
    default_commission_bps: i64,
) -> Result<Quote, PricingError> {
    let mut per_variant: BTreeMap<Uuid, i64> = BTreeMap::new();
    for l in &s.lines {
        *per_variant.entry(l.variant_id).or_default() += l.quantity;
    }
    let problems = s
        .lines
        .iter()
        .map(|l| {
            if l.product_status != "published"
                || l.vendor_status != "active"
                || l.currency != s.cart.currency
            {
                Some(LineProblem::Unavailable)
            } else if l.track_inventory && per_variant[&l.variant_id] > l.stock {
                Some(LineProblem::InsufficientStock { available: l.stock })
            } else {
                None
            }
        })
        .collect();
    let priced: Vec<PricedLine> = s
        .lines
        .iter()
        .map(|l| PricedLine {
            vendor: l.vendor_id.to_string(),
            unit_price: l.price,
            quantity: l.quantity,
            grams: l.grams,
        })
        .collect();

    let (coupon, coupon_rejection) = match &s.coupon {
        None if s.cart.coupon_code.is_some() => (None, Some("coupon_not_found")),
        None => (None, None),
        Some(c) => match c.limits().check(now, s.customer_coupon_uses) {
            Ok(()) => (Some(c.coupon()), None),
            Err(r) => (None, Some(r.code())),
        },
    };

    // Vendors in cart order, with their goods (replaced below by the discounted amount) and weight.
    let mut vendors: Vec<(Uuid, String, i64, i64, i64)> = Vec::new();
    for l in &s.lines {
        let overflow = || PricingError::Overflow;
        let amount = l.price.checked_mul(l.quantity).ok_or_else(overflow)?;
        let grams = l.grams.checked_mul(l.quantity).ok_or_else(overflow)?;
        match vendors.iter_mut().find(|v| v.0 == l.vendor_id) {
            Some(v) => {
                v.2 = v.2.checked_add(amount).ok_or_else(overflow)?;
                v.3 = v.3.checked_add(grams).ok_or_else(overflow)?;
            }
            None => vendors.push((
                l.vendor_id,
                l.vendor_name.clone(),
                amount,
                grams,
                l.commission_bps.unwrap_or(default_commission_bps),
            )),
        }
    }
    let tax = s.tax.map(|t| TaxRule {
        rate: t.rate_bps,
        inclusive: t.inclusive,
    });
    // Shipping rules (a free-over threshold) apply to the goods after the coupon, as charged:
    // price once without shipping to learn each vendor's discounted goods, then pick options.
    let unshipped = pricing::price_cart(&priced, coupon.as_ref(), &BTreeMap::new(), tax)?;
    for v in &mut vendors {
        v.2 = s
            .lines
            .iter()
            .zip(&unshipped.lines)
            .filter(|(l, _)| l.vendor_id == v.0)
            .map(|(_, t)| t.amount - t.discount)
            .sum();
    }
    let mut chosen: BTreeMap<Uuid, RateRow> = BTreeMap::new();
    for (vendor_id, _, goods, grams, _) in &vendors {
        let options: Vec<&RateRow> = s
            .rates
            .iter()
            .filter(|r| r.vendor_id == *vendor_id)
            .collect();
        let pick = options.iter().find(|r| r.chosen).or_else(|| {
            options
                .iter()
                // An option whose cost does not fit sorts last (pricing then refuses it).
                .min_by_key(|r| {
                    pricing::shipping_cost(&r.rate(), *goods, *grams).unwrap_or(i64::MAX)
                })
        });
        if let Some(rate) = pick {
            chosen.insert(*vendor_id, (*rate).clone());
        }
    }
    let shipping: BTreeMap<String, ShippingRate> = chosen
        .iter()
        .map(|(v, r)| (v.to_string(), r.rate()))
        .collect();
    // With tax-inclusive prices a line's amount contains its tax; commission is on goods only.
    let tax_in_amount = tax.is_some_and(|t| t.inclusive);
    let mut totals = pricing::price_cart(&priced, coupon.as_ref(), &shipping, tax)?;
    let coupon_rejection = coupon_rejection.or(totals.coupon_rejected);
    if totals.coupon_rejected.is_some() {
        totals.coupon_rejected = None;
    }

    let vendor_quotes = vendors
        .into_iter()
        .map(
            |(vendor_id, vendor_name, shipping_basis, grams, commission_bps)| {
                let key = vendor_id.to_string();
                let (mut goods, mut discount, mut tax, mut lines_total) = (0i64, 0i64, 0i64, 0i64);
                for (l, t) in s.lines.iter().zip(&totals.lines) {
                    if l.vendor_id == vendor_id {
                        goods += t.amount - t.discount - if tax_in_amount { t.tax } else { 0 };
                        discount += t.discount;
                        tax += t.tax;
                        lines_total += t.total;
                    }
                }
                let shipping = totals.shipping.get(&key).copied().unwrap_or(0);
                VendorQuote {
                    vendor_id,
                    vendor_name,
                    rate: chosen.get(&vendor_id).cloned(),
                    shipping,
                    shipping_basis,
                    grams,
                    goods,
                    discount,
                    tax,
                    total: lines_total + shipping,
                    commission_bps,
                }
            },
        )
        .collect();
    Ok(Quote {
        totals,
        vendors: vendor_quotes,
        problems,
        coupon_rejection,
    })
}

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
    let changed = on_tx!(&mut tx, conn => {
        sqlx::query(
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
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    if changed == 0 {
        let open = on_tx!(&mut tx, conn => {
            sqlx::query_scalar::<_, String>("SELECT status FROM carts WHERE id = $1")
                .bind(cart_id)
                .fetch_optional(&mut *conn)
                .await?
        });
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
    on_tx!(tx, conn => {
        sqlx::query("UPDATE carts SET updated_at = $2 WHERE id = $1")
            .bind(cart_id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
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
    let changed = on_tx!(&mut tx, conn => {
        if quantity == 0 {
            sqlx::query(
                "DELETE FROM cart_items WHERE id = $1 AND cart_id = $2 \
                 AND EXISTS (SELECT 1 FROM carts WHERE id = $2 AND status = 'open')",
            )
            .bind(line_id)
            .bind(cart_id)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        } else {
            sqlx::query(
                "UPDATE cart_items SET quantity = $3 WHERE id = $1 AND cart_id = $2 \
                 AND EXISTS (SELECT 1 FROM carts WHERE id = $2 AND status = 'open')",
            )
            .bind(line_id)
            .bind(cart_id)
            .bind(quantity)
            .execute(&mut *conn)
            .await?
            .rows_affected()
        }
    });
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
    let changed = on_tx!(&mut tx, conn => {
        bind_args!(sqlx::query(sqlx::AssertSqlSafe(sql)), args)
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
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
    let changed = on_tx!(&mut tx, conn => {
        sqlx::query(
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
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    if changed == 0 {
        let status = on_tx!(&mut tx, conn => {
            sqlx::query_scalar::<_, String>("SELECT status FROM carts WHERE id = $1")
                .bind(cart_id)
                .fetch_optional(&mut *conn)
                .await?
        });
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
    let result = on_tx!(&mut tx, conn => {
        let guest: Option<(Option<Uuid>, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(read_guest))
                .bind(guest_cart)
                .fetch_optional(&mut *conn)
                .await?;
        match guest {
            Some((None, status)) if status == "open" => {
                let own: Option<Uuid> = sqlx::query_scalar(
                    "SELECT id FROM carts WHERE user_id = $1 AND status = 'open'",
                )
                .bind(user_id)
                .fetch_optional(&mut *conn)
                .await?;
                match own {
                    None => {
                        sqlx::query("UPDATE carts SET user_id = $2, updated_at = $3 WHERE id = $1")
                            .bind(guest_cart)
                            .bind(user_id)
                            .bind(now)
                            .execute(&mut *conn)
                            .await?;
                        Some(guest_cart)
                    }
                    Some(own) => {
                        // Lines both carts have: add the guest's quantity to the customer's.
                        sqlx::query(
                            "UPDATE cart_items SET quantity = (SELECT CASE WHEN cart_items.quantity + g.quantity > $3 \
                               THEN $3 ELSE cart_items.quantity + g.quantity END FROM cart_items g \
                               WHERE g.cart_id = $1 AND g.variant_id = cart_items.variant_id AND g.note = cart_items.note) \
                             WHERE cart_id = $2 AND EXISTS (SELECT 1 FROM cart_items g WHERE g.cart_id = $1 \
                               AND g.variant_id = cart_items.variant_id AND g.note = cart_items.note)",
                        )
                        .bind(guest_cart)
                        .bind(own)
                        .bind(MAX_QUANTITY)
                        .execute(&mut *conn)
                        .await?;
                        // The guest's other lines move over as they are, oldest first, as many
                        // as fit under the line cap; the rest are dropped with the guest cart.
                        let lines: i64 =
                            sqlx::query_scalar("SELECT COUNT(*) FROM cart_items WHERE cart_id = $1")
                                .bind(own)
                                .fetch_one(&mut *conn)
                                .await?;
                        sqlx::query(
                            "UPDATE cart_items SET cart_id = $2 WHERE id IN (SELECT g.id FROM cart_items g \
                             WHERE g.cart_id = $1 AND NOT EXISTS (SELECT 1 FROM cart_items o WHERE o.cart_id = $2 \
                               AND o.variant_id = g.variant_id AND o.note = g.note) ORDER BY g.id LIMIT $3)",
                        )
                        .bind(guest_cart)
                        .bind(own)
                        .bind((MAX_LINES - lines).max(0))
                        .execute(&mut *conn)
                        .await?;
                        sqlx::query("DELETE FROM cart_items WHERE cart_id = $1")
                            .bind(guest_cart)
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("UPDATE carts SET status = 'merged', updated_at = $2 WHERE id = $1")
                            .bind(guest_cart)
                            .bind(now)
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("UPDATE carts SET updated_at = $2 WHERE id = $1")
                            .bind(own)
                            .bind(now)
                            .execute(&mut *conn)
                            .await?;
                        Some(own)
                    }
                }
            }
            _ => None,
        }
    });
    tx.commit().await?;
    Ok(result)
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
