//! A vendor's shipping options: add, remove.

use souk_storage::rates::{self, NewShippingRate, ShippingRateRow};
use uuid::Uuid;

use crate::{Actor, App, AppError, FieldProblem, Kind, record_audit};

/// A shipping option as asked for; amounts in minor units of the shop's currency.
#[derive(Debug, Clone)]
pub struct RateDraft {
    pub name: String,
    /// `flat`, `free_over` (needs `threshold`) or `by_weight` (needs `per_kg`).
    pub kind: String,
    pub amount: i64,
    pub threshold: Option<i64>,
    pub per_kg: Option<i64>,
}

fn validate(draft: &RateDraft) -> Result<NewShippingRate, AppError> {
    let mut problems = Vec::new();
    let mut err = |field: &str, message: &str| {
        problems.push(FieldProblem {
            field: field.into(),
            message: message.into(),
        })
    };
    let name = draft.name.trim();
    if name.is_empty() || name.chars().count() > 100 || souk_domain::text::has_hidden_controls(name)
    {
        err("name", "1–100 characters");
    }
    let money_ok = |v: i64| (0..=1_000_000_000_000).contains(&v);
    if !money_ok(draft.amount) {
        err("amount", "must be from 0 to 10^12 minor units");
    }
    match draft.kind.as_str() {
        "flat" => {}
        "free_over" => {
            if !draft.threshold.is_some_and(money_ok) {
                err("threshold", "required for free_over, ≥ 0");
            }
        }
        "by_weight" => {
            if !draft.per_kg.is_some_and(money_ok) {
                err("per_kg", "required for by_weight, ≥ 0");
            }
        }
        _ => err("kind", "must be flat, free_over or by_weight"),
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    Ok(NewShippingRate {
        name: name.to_owned(),
        kind: draft.kind.clone(),
        amount: draft.amount,
        threshold: (draft.kind == "free_over")
            .then_some(draft.threshold)
            .flatten(),
        per_kg: (draft.kind == "by_weight")
            .then_some(draft.per_kg)
            .flatten(),
    })
}

/// Adds a shipping option (at most [`rates::MAX_SHIPPING_RATES`] per vendor).
pub async fn create(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    draft: &RateDraft,
) -> Result<ShippingRateRow, AppError> {
    let new = validate(draft)?;
    let mut tx = app.db.begin_write().await?;
    let row = rates::create_shipping_rate(&mut tx, vendor_id, &new)
        .await?
        .ok_or_else(|| {
            AppError::refused(
                Kind::Conflict,
                "too_many_shipping_rates",
                "Too many shipping options",
                format!("at most {} options per vendor", rates::MAX_SHIPPING_RATES),
            )
        })?;
    record_audit(
        &mut tx,
        actor,
        "shipping_rate.create",
        ("shipping_rate", row.id),
        Some(vendor_id),
        serde_json::json!({"name": row.name, "kind": row.kind, "amount": row.amount}),
    )
    .await?;
    tx.commit().await?;
    Ok(row)
}

/// Removes a shipping option; carts that chose it fall back to the cheapest.
pub async fn delete(app: &App, actor: &Actor, vendor_id: Uuid, id: Uuid) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    if !rates::delete_shipping_rate(&mut tx, vendor_id, id).await? {
        return Err(AppError::not_found("no such shipping option"));
    }
    record_audit(
        &mut tx,
        actor,
        "shipping_rate.delete",
        ("shipping_rate", id),
        Some(vendor_id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
