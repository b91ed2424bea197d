//! Vendor money as platform staff manage it: the commission rate, payouts recorded against
//! the available balance exactly once per idempotency key, and a vendor's overview.

use souk_storage::ledger::{self, Balance, PayoutError, PayoutKey, PayoutRow};
use uuid::Uuid;

use crate::{Actor, App, AppError, Kind, record_audit};

/// Sets a vendor's commission rate in basis points (`None`: the platform default). Placed
/// orders keep the rate they were placed with. Returns the rate that now applies.
pub async fn set_commission(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    bps: Option<i64>,
) -> Result<i64, AppError> {
    if bps.is_some_and(|b| !(0..=10_000).contains(&b)) {
        return Err(AppError::field(
            "commission_bps",
            "from 0 to 10000, or null",
        ));
    }
    let mut tx = app.db.begin_write().await?;
    if !ledger::set_commission(&mut tx, vendor_id, bps).await? {
        return Err(AppError::not_found("no such vendor"));
    }
    record_audit(
        &mut tx,
        actor,
        "vendor.commission",
        ("vendor", vendor_id),
        Some(vendor_id),
        serde_json::json!({"commission_bps": bps}),
    )
    .await?;
    tx.commit().await?;
    Ok(bps.unwrap_or(app.settings.commission_bps))
}

/// The payout report as a CSV file: one line per vendor, amounts in minor units of
/// `currency`, names neutralised so a spreadsheet never runs them as formulas.
pub fn report_csv(rows: &[Balance], currency: &str) -> Result<Vec<u8>, AppError> {
    let failed = |e: csv::Error| AppError::Internal(format!("payout report: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "vendor_id",
        "vendor_name",
        "currency",
        "earned",
        "commission",
        "paid_out",
        "available",
        "pending",
    ])
    .map_err(failed)?;
    for b in rows {
        w.write_record([
            b.vendor_id.to_string(),
            souk_domain::shopify::neutralise_cell(&b.vendor_name).into_owned(),
            currency.to_owned(),
            b.earned.to_string(),
            b.commission.to_string(),
            b.paid_out.to_string(),
            b.available.to_string(),
            b.pending.to_string(),
        ])
        .map_err(failed)?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(format!("payout report: {e}")))
}

/// A payout with the vendor's balance after it.
pub struct Recorded {
    pub payout: PayoutRow,
    pub balance: Balance,
}

/// Records money sent to a vendor, deducted from its available balance. With an idempotency
/// key, a retry (same key, same amount and reference) returns the payout already recorded; the
/// same key for a different payout is refused.
pub async fn record(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    amount: i64,
    reference: &str,
    idempotency_key: Option<&str>,
) -> Result<Recorded, AppError> {
    let reference = reference.trim();
    if amount <= 0 || reference.chars().count() > 200 {
        return Err(AppError::field(
            "amount",
            "must be positive (reference: at most 200 characters)",
        ));
    }
    let mut tx = app.db.begin_write().await?;
    let scope = format!("payout:{vendor_id}");
    let key_hash = idempotency_key.map(souk_domain::accounts::token_hash);
    if let Some(key_hash) = &key_hash {
        let fingerprint = souk_domain::orders::request_fingerprint(&[
            &amount.to_be_bytes(),
            reference.as_bytes(),
        ]);
        match ledger::claim_payout_key(&mut tx, &scope, key_hash, &fingerprint).await? {
            PayoutKey::New => {}
            PayoutKey::Replay(payout_id) => {
                let payout = ledger::payout(&mut tx, payout_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("no such payout"))?;
                drop(tx);
                return with_balance(app, vendor_id, payout).await;
            }
            PayoutKey::Reused => {
                return Err(AppError::refused(
                    Kind::Unprocessable,
                    "idempotency_key_reused",
                    "Idempotency key reused",
                    "this Idempotency-Key was used for a different payout; use a new key for a new payout",
                ));
            }
        }
    }
    let currency = app.settings.currency.code();
    let payout = match ledger::record_payout(
        &mut tx,
        vendor_id,
        amount,
        currency,
        reference,
        actor.user_id,
    )
    .await?
    {
        Ok(p) => p,
        Err(PayoutError::NoSuchVendor) => return Err(AppError::not_found("no such vendor")),
        Err(PayoutError::InsufficientBalance { available }) => {
            return Err(AppError::refused(
                Kind::Conflict,
                "insufficient_balance",
                "Insufficient balance",
                format!("the vendor's available balance is {available}"),
            ));
        }
    };
    record_audit(
        &mut tx,
        actor,
        "vendor.payout",
        ("payout", payout.id),
        Some(vendor_id),
        serde_json::json!({"amount": amount, "reference": reference}),
    )
    .await?;
    if let Some(key_hash) = &key_hash {
        ledger::remember_payout(&mut tx, &scope, key_hash, payout.id).await?;
    }
    tx.commit().await?;
    with_balance(app, vendor_id, payout).await
}

async fn with_balance(app: &App, vendor_id: Uuid, payout: PayoutRow) -> Result<Recorded, AppError> {
    let balance = ledger::balance(&app.db, vendor_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    Ok(Recorded { payout, balance })
}

/// A vendor as platform staff review it: its profile, money, latest payouts and orders, its
/// newest products and its webhook endpoints.
pub struct VendorOverview {
    pub vendor: souk_storage::vendors::VendorProfileRecord,
    /// `None`: the platform default applies.
    pub commission_bps: Option<i64>,
    pub default_commission_bps: i64,
    pub balance: Balance,
    pub payouts: Vec<PayoutRow>,
    pub orders: Vec<souk_storage::orders::OrderRow>,
    pub products: Vec<souk_domain::catalog::Product>,
    pub endpoints: Vec<souk_storage::webhooks::Endpoint>,
}

/// How many payouts, orders and products the overview shows (each links to its full list).
const OVERVIEW_ROWS: i64 = 10;

pub async fn overview(app: &App, vendor_id: Uuid) -> Result<VendorOverview, AppError> {
    let db = &app.db;
    let vendor = souk_storage::vendors::profile(db, vendor_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    let commission_bps = ledger::commission_of(db, vendor_id).await?.flatten();
    let balance = ledger::balance(db, vendor_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    let payouts = ledger::payouts_page(db, vendor_id, None, OVERVIEW_ROWS).await?;
    let filter = souk_storage::orders::OrderFilter {
        vendor_id: Some(vendor_id),
        limit: OVERVIEW_ROWS,
        ..Default::default()
    };
    let orders = souk_storage::orders::list(db, &filter).await?;
    let products =
        souk_storage::catalog::vendor_products(db, vendor_id, None, None, OVERVIEW_ROWS).await?;
    let endpoints =
        souk_storage::webhooks::list(db, souk_storage::webhooks::Owner::Vendor(vendor_id)).await?;
    Ok(VendorOverview {
        vendor,
        commission_bps,
        default_commission_bps: app.settings.commission_bps,
        balance,
        payouts,
        orders,
        products,
        endpoints,
    })
}

/// Lines of a vendor's statement as CSV, amounts in minor units. With `opening` (the balance
/// before the period), the header and an `opening_balance` line come first. Each entry shows
/// its UTC time, kind, order, payout reference, amount and the vendor's balance after it,
/// carried in `balance`. Commission lines are listed but move nothing: earnings are already
/// net of commission.
pub fn statement_csv(
    entries: &[souk_storage::ledger::StatementEntry],
    opening: Option<i64>,
    balance: &mut i64,
    currency: &str,
) -> Result<Vec<u8>, AppError> {
    let failed = |e: csv::Error| AppError::Internal(format!("statement: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    if let Some(opening) = opening {
        *balance = opening;
        w.write_record([
            "date",
            "kind",
            "order_number",
            "order_id",
            "payout_reference",
            "currency",
            "amount",
            "balance",
        ])
        .map_err(failed)?;
        w.write_record([
            "",
            "opening_balance",
            "",
            "",
            "",
            currency,
            "",
            &opening.to_string(),
        ])
        .map_err(failed)?;
    }
    for e in entries {
        if matches!(e.kind.as_str(), "earning" | "earning_reversal" | "payout") {
            *balance = balance.saturating_add(e.amount);
        }
        w.write_record([
            souk_domain::time::rfc3339(e.created_at),
            e.kind.clone(),
            e.order_id
                .map(|id| souk_domain::orders::order_number(&id))
                .unwrap_or_default(),
            e.order_id.map(|id| id.to_string()).unwrap_or_default(),
            souk_domain::shopify::neutralise_cell(e.payout_reference.as_deref().unwrap_or(""))
                .into_owned(),
            e.currency.clone(),
            e.amount.to_string(),
            balance.to_string(),
        ])
        .map_err(failed)?;
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(format!("statement: {e}")))
}
