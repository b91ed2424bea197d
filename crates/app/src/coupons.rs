//! Coupons, made and switched on or off by platform staff.

use souk_domain::orders::normalise_coupon_code;
use souk_storage::carts::CouponRow;
use souk_storage::coupons::{self, NewCoupon};
use uuid::Uuid;

use crate::{Actor, App, AppError, FieldProblem, Kind, record_audit};

/// A coupon as asked for; times are RFC 3339 text, amounts minor units of the shop's currency.
#[derive(Debug, Clone, Default)]
pub struct CouponDraft {
    pub code: String,
    /// `percent` (value in basis points) or `fixed` (value in minor units).
    pub kind: String,
    pub value: i64,
    pub min_subtotal: i64,
    pub starts_at: Option<String>,
    pub expires_at: Option<String>,
    pub max_uses: Option<i64>,
    pub per_customer_limit: Option<i64>,
}

fn validate(draft: &CouponDraft) -> Result<NewCoupon, AppError> {
    let mut problems = Vec::new();
    let mut err = |field: &str, message: &str| {
        problems.push(FieldProblem {
            field: field.into(),
            message: message.into(),
        })
    };
    let code = normalise_coupon_code(&draft.code);
    if code.is_none() {
        err("code", "1–64 letters, digits, '-' or '_'");
    }
    match draft.kind.as_str() {
        "percent" if !(1..=10_000).contains(&draft.value) => {
            err("value", "basis points from 1 to 10000")
        }
        "fixed" if !(1..=1_000_000_000_000).contains(&draft.value) => {
            err("value", "minor units, at least 1")
        }
        "percent" | "fixed" => {}
        _ => err("kind", "must be percent or fixed"),
    }
    if !(0..=1_000_000_000_000).contains(&draft.min_subtotal) {
        err("min_subtotal", "minor units, ≥ 0");
    }
    let mut time = |field: &str, v: &Option<String>| -> Option<i64> {
        let v = v.as_deref()?;
        let parsed = souk_domain::time::parse_rfc3339(v);
        if parsed.is_none() {
            err(field, "an RFC 3339 time like 2026-12-31T23:59:59Z");
        }
        parsed
    };
    let starts_at = time("starts_at", &draft.starts_at);
    let expires_at = time("expires_at", &draft.expires_at);
    if let (Some(s), Some(e)) = (starts_at, expires_at)
        && e <= s
    {
        err("expires_at", "must be after starts_at");
    }
    if draft
        .max_uses
        .is_some_and(|m| !(0..=1_000_000_000).contains(&m))
    {
        err("max_uses", "from 0 to 10^9");
    }
    if draft
        .per_customer_limit
        .is_some_and(|m| !(1..=1_000_000).contains(&m))
    {
        err("per_customer_limit", "from 1 to 10^6");
    }
    match code.filter(|_| problems.is_empty()) {
        Some(code) => Ok(NewCoupon {
            code,
            kind: draft.kind.clone(),
            value: draft.value,
            min_subtotal: draft.min_subtotal,
            starts_at,
            expires_at,
            max_uses: draft.max_uses,
            per_customer_limit: draft.per_customer_limit,
        }),
        None => Err(AppError::invalid(problems)),
    }
}

pub async fn create(app: &App, actor: &Actor, draft: &CouponDraft) -> Result<CouponRow, AppError> {
    let new = validate(draft)?;
    let mut tx = app.db.begin_write().await?;
    let c = match coupons::create(&mut tx, &new).await {
        Ok(c) => c,
        Err(e) if e.is_unique_violation() => {
            return Err(AppError::refused(
                Kind::Conflict,
                "coupon_code_taken",
                "Code taken",
                "a coupon with this code exists",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    record_audit(
        &mut tx,
        actor,
        "coupon.create",
        ("coupon", c.id),
        None,
        serde_json::json!({"code": c.code, "kind": c.kind, "value": c.value}),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}

/// Switches a coupon on or off.
pub async fn set_active(
    app: &App,
    actor: &Actor,
    id: Uuid,
    active: bool,
) -> Result<CouponRow, AppError> {
    let mut tx = app.db.begin_write().await?;
    let c = coupons::set_active(&mut tx, id, active)
        .await?
        .ok_or_else(|| AppError::not_found("no such coupon"))?;
    let action = if active {
        "coupon.activate"
    } else {
        "coupon.deactivate"
    };
    record_audit(
        &mut tx,
        actor,
        action,
        ("coupon", id),
        None,
        serde_json::json!({"code": c.code}),
    )
    .await?;
    tx.commit().await?;
    Ok(c)
}
