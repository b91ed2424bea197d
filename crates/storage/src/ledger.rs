//! Marketplace money: commission rates, vendor balances, payouts and the payout report.
//!
//! The ledger is append-only. A vendor's balance is the sum of its `earning`,
//! `earning_reversal` and `payout` entries; `commission` entries are the platform's income.

use uuid::Uuid;

use crate::{Db, StorageError, Tx, now_ms};

/// Sets a vendor's commission rate (`None`: the platform default). False: no such vendor.
pub async fn set_commission(
    tx: &mut Tx,
    vendor_id: Uuid,
    bps: Option<i64>,
) -> Result<bool, StorageError> {
    let n =
        crate::sql::query("UPDATE vendors SET commission_bps = $2, updated_at = $3 WHERE id = $1")
            .bind(vendor_id)
            .bind(bps)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(n == 1)
}

pub async fn commission_of(db: &Db, vendor_id: Uuid) -> Result<Option<Option<i64>>, StorageError> {
    crate::sql::query_scalar("SELECT commission_bps FROM vendors WHERE id = $1")
        .bind(vendor_id)
        .fetch_optional(db)
        .await
}

/// A vendor's money, in minor units of the shop currency.
#[derive(Debug, Clone, Default)]
pub struct Balance {
    pub vendor_id: Uuid,
    pub vendor_name: String,
    /// Earned from paid orders (after commission and refunds).
    pub earned: i64,
    /// The platform's commission on those orders.
    pub commission: i64,
    pub paid_out: i64,
    /// Owed to the vendor now: earned − paid out.
    pub available: i64,
    /// Vendor-order totals of orders placed but not yet paid.
    pub pending: i64,
}

crate::from_row!(Balance {
    vendor_id,
    vendor_name,
    earned,
    commission,
    paid_out,
    available,
    pending
});

/// Sums as BIGINT: PostgreSQL's SUM of BIGINT is NUMERIC.
const BALANCE_SELECT: &str = "SELECT vd.id AS vendor_id, vd.name AS vendor_name, \
     CAST(COALESCE((SELECT SUM(amount) FROM ledger_entries e WHERE e.vendor_id = vd.id \
        AND e.kind IN ('earning', 'earning_reversal')), 0) AS BIGINT) AS earned, \
     CAST(COALESCE((SELECT SUM(amount) FROM ledger_entries e WHERE e.vendor_id = vd.id \
        AND e.kind IN ('commission', 'commission_reversal')), 0) AS BIGINT) AS commission, \
     CAST(COALESCE((SELECT -SUM(amount) FROM ledger_entries e WHERE e.vendor_id = vd.id \
        AND e.kind = 'payout'), 0) AS BIGINT) AS paid_out, \
     CAST(COALESCE((SELECT SUM(amount) FROM ledger_entries e WHERE e.vendor_id = vd.id \
        AND e.kind IN ('earning', 'earning_reversal', 'payout')), 0) AS BIGINT) AS available, \
     CAST(COALESCE((SELECT SUM(vo.total) FROM vendor_orders vo JOIN orders o ON o.id = vo.order_id \
        WHERE vo.vendor_id = vd.id AND o.status = 'pending_payment'), 0) AS BIGINT) AS pending \
     FROM vendors vd";

pub async fn balance(db: &Db, vendor_id: Uuid) -> Result<Option<Balance>, StorageError> {
    let sql = format!("{BALANCE_SELECT} WHERE vd.id = $1");
    crate::sql::query_as(sql)
        .bind(vendor_id)
        .fetch_optional(db)
        .await
}

/// Every vendor's balance, by name.
pub async fn report(db: &Db) -> Result<Vec<Balance>, StorageError> {
    let sql = format!("{BALANCE_SELECT} ORDER BY vd.name, vd.id");
    crate::sql::query_as(sql).fetch_all(db).await
}

#[derive(Debug, Clone)]
pub struct PayoutRow {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub reference: String,
    pub created_at: i64,
}

crate::from_row!(PayoutRow {
    id,
    vendor_id,
    amount,
    currency,
    reference,
    created_at
});

/// Why a payout was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutError {
    NoSuchVendor,
    /// More than the vendor's available balance.
    InsufficientBalance {
        available: i64,
    },
}

/// Records money sent to a vendor. The vendor row is locked (PostgreSQL) or the write lock held
/// (SQLite) while the balance is checked, so two payouts cannot overdraw it.
pub async fn record_payout(
    tx: &mut Tx,
    vendor_id: Uuid,
    amount: i64,
    currency: &str,
    reference: &str,
    created_by: Uuid,
) -> Result<Result<PayoutRow, PayoutError>, StorageError> {
    // `NO KEY UPDATE` (PostgreSQL): serialises payouts and refunds of this vendor without
    // blocking checkouts and payments, whose rows only reference it.
    let lock = match tx.backend() {
        crate::Backend::Postgres => " FOR NO KEY UPDATE",
        crate::Backend::Sqlite => "",
    };
    let now = now_ms();
    let sql = format!("SELECT id FROM vendors WHERE id = $1{lock}");
    let exists: Option<Uuid> = crate::sql::query_scalar(sql)
        .bind(vendor_id)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_none() {
        return Ok(Err(PayoutError::NoSuchVendor));
    }
    let available: i64 = crate::sql::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries WHERE vendor_id = $1 \
             AND kind IN ('earning', 'earning_reversal', 'payout')",
    )
    .bind(vendor_id)
    .fetch_one(&mut *tx)
    .await?;
    if amount > available {
        return Ok(Err(PayoutError::InsufficientBalance { available }));
    }
    let payout = PayoutRow {
        id: Uuid::now_v7(),
        vendor_id,
        amount,
        currency: currency.to_owned(),
        reference: reference.to_owned(),
        created_at: now,
    };
    {
        crate::sql::query(
            "INSERT INTO payouts (id, vendor_id, amount, currency, reference, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(payout.id)
        .bind(vendor_id)
        .bind(amount)
        .bind(currency)
        .bind(reference)
        .bind(created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        crate::sql::query(
            "INSERT INTO ledger_entries (id, vendor_id, payout_id, kind, amount, currency, created_at) \
             VALUES ($1, $2, $3, 'payout', $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(vendor_id)
        .bind(payout.id)
        .bind(-amount)
        .bind(currency)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    };
    Ok(Ok(payout))
}

/// A vendor's payouts, newest first, before the payout `before` (a cursor).
pub async fn payouts_page(
    db: &Db,
    vendor_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<PayoutRow>, StorageError> {
    crate::sql::query_as(
        "SELECT id, vendor_id, amount, currency, reference, created_at FROM payouts \
             WHERE vendor_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(vendor_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn payouts(db: &Db, vendor_id: Uuid) -> Result<Vec<PayoutRow>, StorageError> {
    crate::sql::query_as(
        "SELECT id, vendor_id, amount, currency, reference, created_at FROM payouts \
             WHERE vendor_id = $1 ORDER BY created_at DESC, id LIMIT 200",
    )
    .bind(vendor_id)
    .fetch_all(db)
    .await
}

/// What an `Idempotency-Key` sent with a payout stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutKey {
    /// Not seen before: now held by this transaction; record the payout and call
    /// [`remember_payout`].
    New,
    /// A payout was already recorded with this key and the same request.
    Replay(Uuid),
    /// The key was used for a different payout request.
    Reused,
}

/// Claims an idempotency key for a payout inside `tx` (stored with checkout's keys, purged
/// after 48 hours). A concurrent request with the same key waits on the claim (PostgreSQL's
/// unique index; SQLite's one writer) and then finds the recorded payout: one payout per key.
pub async fn claim_payout_key(
    tx: &mut Tx,
    scope: &str,
    key_hash: &[u8],
    request_hash: &[u8],
) -> Result<PayoutKey, StorageError> {
    let claimed: Option<i64> = crate::sql::query_scalar(
            "INSERT INTO idempotency_keys (scope, key_hash, request_hash, response_status, response_body, created_at) \
             VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (scope, key_hash) DO NOTHING RETURNING response_status",
        )
        .bind(scope)
        .bind(key_hash)
        .bind(request_hash)
        .bind(now_ms())
        .fetch_optional(&mut *tx)
        .await?;
    if claimed.is_some() {
        return Ok(PayoutKey::New);
    }
    let (stored_hash, body): (Vec<u8>, String) = crate::sql::query_as("SELECT request_hash, response_body FROM idempotency_keys WHERE scope = $1 AND key_hash = $2")
            .bind(scope)
            .bind(key_hash)
            .fetch_one(&mut *tx)
            .await?;
    Ok(match Uuid::parse_str(&body) {
        Ok(id) if stored_hash == request_hash => PayoutKey::Replay(id),
        _ => PayoutKey::Reused,
    })
}

/// Stores the payout recorded under a key claimed with [`claim_payout_key`].
pub async fn remember_payout(
    tx: &mut Tx,
    scope: &str,
    key_hash: &[u8],
    payout_id: Uuid,
) -> Result<(), StorageError> {
    crate::sql::query(
            "UPDATE idempotency_keys SET response_status = 201, response_body = $3 WHERE scope = $1 AND key_hash = $2",
        )
        .bind(scope)
        .bind(key_hash)
        .bind(payout_id.to_string())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

/// One payout by id (for replaying an idempotent payout request).
pub async fn payout(tx: &mut Tx, id: Uuid) -> Result<Option<PayoutRow>, StorageError> {
    crate::sql::query_as(
        "SELECT id, vendor_id, amount, currency, reference, created_at FROM payouts WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
}

/// One line of a vendor's statement: a ledger entry, with the order it came from or the
/// payout's reference.
#[derive(Debug, Clone)]
pub struct StatementEntry {
    pub id: Uuid,
    pub created_at: i64,
    pub kind: String,
    pub amount: i64,
    pub currency: String,
    pub order_id: Option<Uuid>,
    pub payout_reference: Option<String>,
}

crate::from_row!(StatementEntry {
    id,
    created_at,
    kind,
    amount,
    currency,
    order_id,
    payout_reference
});

/// A vendor's ledger entries made in `[from_ms, until_ms)`, oldest first, after the entry
/// `after` (its time and id; `(from_ms - 1, nil)` for the first page).
pub async fn statement_page(
    db: &Db,
    vendor_id: Uuid,
    (from_ms, until_ms): (i64, i64),
    after: (i64, Uuid),
    limit: i64,
) -> Result<Vec<StatementEntry>, StorageError> {
    crate::sql::query_as(
        "SELECT e.id, e.created_at, e.kind, e.amount, e.currency, e.order_id, \
             p.reference AS payout_reference \
             FROM ledger_entries e LEFT JOIN payouts p ON p.id = e.payout_id \
             WHERE e.vendor_id = $1 AND e.created_at >= $2 AND e.created_at < $3 \
             AND (e.created_at > $4 OR (e.created_at = $4 AND e.id > $5)) \
             ORDER BY e.created_at, e.id LIMIT $6",
    )
    .bind(vendor_id)
    .bind(from_ms)
    .bind(until_ms)
    .bind(after.0)
    .bind(after.1)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// What a vendor was owed just before `at_ms`: its earnings, their reversals and its payouts
/// until then.
pub async fn available_before(db: &Db, vendor_id: Uuid, at_ms: i64) -> Result<i64, StorageError> {
    crate::sql::query_scalar(
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries \
             WHERE vendor_id = $1 AND created_at < $2 \
             AND kind IN ('earning', 'earning_reversal', 'payout')",
    )
    .bind(vendor_id)
    .bind(at_ms)
    .fetch_one(db)
    .await
}
