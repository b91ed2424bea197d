//! Shipping options (per vendor) and tax rates (per destination).

use uuid::Uuid;

use crate::{Db, StorageError, Tx, now_ms};

#[derive(Debug, Clone)]
pub struct ShippingRateRow {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub name: String,
    pub kind: String,
    pub amount: i64,
    pub threshold: Option<i64>,
    pub per_kg: Option<i64>,
    pub created_at: i64,
}

crate::from_row!(ShippingRateRow {
    id,
    vendor_id,
    name,
    kind,
    amount,
    threshold,
    per_kg,
    created_at
});

/// Most shipping options one vendor may have.
pub const MAX_SHIPPING_RATES: i64 = 20;

#[derive(Debug, Clone)]
pub struct NewShippingRate {
    pub name: String,
    pub kind: String,
    pub amount: i64,
    pub threshold: Option<i64>,
    pub per_kg: Option<i64>,
}

/// Adds an option; `None` when the vendor already has [`MAX_SHIPPING_RATES`].
pub async fn create_shipping_rate(
    tx: &mut Tx,
    vendor_id: Uuid,
    rate: &NewShippingRate,
) -> Result<Option<ShippingRateRow>, StorageError> {
    let row = ShippingRateRow {
        id: Uuid::now_v7(),
        vendor_id,
        name: rate.name.clone(),
        kind: rate.kind.clone(),
        amount: rate.amount,
        threshold: rate.threshold,
        per_kg: rate.per_kg,
        created_at: now_ms(),
    };
    let n = crate::sql::query(
            "INSERT INTO shipping_rates (id, vendor_id, name, kind, amount, threshold, per_kg, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
             WHERE (SELECT COUNT(*) FROM shipping_rates WHERE vendor_id = $2) < $9",
        )
        .bind(row.id)
        .bind(row.vendor_id)
        .bind(&row.name)
        .bind(&row.kind)
        .bind(row.amount)
        .bind(row.threshold)
        .bind(row.per_kg)
        .bind(row.created_at)
        .bind(MAX_SHIPPING_RATES)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok((n == 1).then_some(row))
}

pub async fn shipping_rates(
    db: &Db,
    vendor_id: Uuid,
) -> Result<Vec<ShippingRateRow>, StorageError> {
    crate::sql::query_as(
            "SELECT id, vendor_id, name, kind, amount, threshold, per_kg, created_at FROM shipping_rates \
             WHERE vendor_id = $1 ORDER BY created_at, id",
        )
        .bind(vendor_id)
        .fetch_all(db)
        .await
}

/// Deletes a vendor's option; false when it is not theirs or does not exist.
pub async fn delete_shipping_rate(
    tx: &mut Tx,
    vendor_id: Uuid,
    id: Uuid,
) -> Result<bool, StorageError> {
    let n = crate::sql::query("DELETE FROM shipping_rates WHERE id = $1 AND vendor_id = $2")
        .bind(id)
        .bind(vendor_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

#[derive(Debug, Clone)]
pub struct TaxRateRow {
    pub country: String,
    pub region: String,
    pub rate_bps: i64,
    pub inclusive: bool,
    pub updated_at: i64,
}

crate::from_row!(TaxRateRow {
    country,
    region,
    rate_bps,
    inclusive,
    updated_at
});

pub async fn put_tax_rate(tx: &mut Tx, rate: &TaxRateRow) -> Result<(), StorageError> {
    crate::sql::query(
            "INSERT INTO tax_rates (country, region, rate_bps, inclusive, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (country, region) DO UPDATE SET rate_bps = excluded.rate_bps, \
             inclusive = excluded.inclusive, updated_at = excluded.updated_at",
        )
        .bind(&rate.country)
        .bind(&rate.region)
        .bind(rate.rate_bps)
        .bind(rate.inclusive)
        .bind(rate.updated_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

/// Whether `country` has tax rates per region: then an address there must name its region by
/// a known ISO 3166-2 code (or name), or it could escape them.
pub async fn has_regional_tax(db: &Db, country: &str) -> Result<bool, StorageError> {
    let found: Option<i32> = crate::sql::query_scalar(
        "SELECT 1 FROM tax_rates WHERE country = $1 AND region <> '' LIMIT 1",
    )
    .bind(country)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

pub async fn tax_rates(db: &Db) -> Result<Vec<TaxRateRow>, StorageError> {
    crate::sql::query_as(
            "SELECT country, region, rate_bps, inclusive, updated_at FROM tax_rates ORDER BY country, region",
        )
        .fetch_all(db)
        .await
}
