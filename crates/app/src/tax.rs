//! Tax rates by destination, set by platform staff.

use souk_storage::now_ms;
use souk_storage::rates::{self, TaxRateRow};

use crate::{Actor, App, AppError, FieldProblem, record_audit};

/// Sets the rate of a country, or of one of its regions (replacing the one there was). The
/// region is stored as its ISO 3166-2 code whatever spelling was given — the key shipping
/// addresses are normalised to, so no spelling of a taxed region escapes its rate.
pub async fn put_rate(
    app: &App,
    actor: &Actor,
    country: &str,
    region: &str,
    rate_bps: i64,
    inclusive: bool,
) -> Result<TaxRateRow, AppError> {
    let country = country.trim().to_ascii_uppercase();
    let mut code = String::new();
    let mut problems = Vec::new();
    if !souk_domain::geo::is_country(&country) {
        problems.push(FieldProblem {
            field: "country".into(),
            message: "an ISO 3166-1 alpha-2 code, like DE".into(),
        });
    } else if !region.trim().is_empty() {
        match souk_domain::geo::subdivision(&country, region) {
            Some(c) => c.clone_into(&mut code),
            None => problems.push(FieldProblem {
                field: "region".into(),
                message: format!(
                    "an ISO 3166-2 subdivision of {country} (its code or name), one of: {}",
                    souk_domain::geo::subdivision_codes(&country)
                ),
            }),
        }
    }
    if !(0..=10_000).contains(&rate_bps) {
        problems.push(FieldProblem {
            field: "rate_bps".into(),
            message: "from 0 to 10000".into(),
        });
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let row = TaxRateRow {
        country,
        region: code,
        rate_bps,
        inclusive,
        updated_at: now_ms(),
    };
    let mut tx = app.db.begin_write().await?;
    rates::put_tax_rate(&mut tx, &row).await?;
    record_audit(
        &mut tx,
        actor,
        "tax_rate.put",
        ("tax_rate", format!("{}/{}", row.country, row.region)),
        None,
        serde_json::json!({"rate_bps": rate_bps, "inclusive": inclusive}),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}
