//! Money settings in the admin panel: coupons (create, pause, resume), tax rates by country
//! or region (the validated ISO 3166 codes), and the platform commission.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::AppError;
use souk_app::coupons::CouponDraft;
use uuid::Uuid;

use super::{AdminForm, AdminSession, CsrfField, chrome, done, refusal};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::form::{date_bound, optional_count, parse_percent, percent};
use crate::web::{CspNonce, Flash, Page, PageError};

/// The page; `problem` (a refused form) is shown beside its field.
async fn money_page(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    flash: &Flash,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let coupons = match souk_storage::coupons::list(&state.db).await {
        Ok(c) => c,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let rates = match souk_storage::rates::tax_rates(&state.db).await {
        Ok(r) => r,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let currency = state.config.currency.code();
    let coupons: Vec<Value> = coupons
        .iter()
        .map(|c| {
            let value = if c.kind == "percent" {
                format!("{} %", percent(c.value))
            } else {
                crate::web::money_text(c.value, currency)
            };
            context! {
                id => c.id.to_string(), code => c.code, value => value, active => c.active,
                min_subtotal => c.min_subtotal, starts_at => c.starts_at, expires_at => c.expires_at,
                uses => c.uses, max_uses => c.max_uses, per_customer_limit => c.per_customer_limit,
            }
        })
        .collect();
    let rates: Vec<Value> = rates
        .iter()
        .map(|r| {
            context! {
                country => r.country, region => r.region, rate => percent(r.rate_bps),
                inclusive => r.inclusive, updated_at => r.updated_at,
            }
        })
        .collect();
    let (status, problem) = super::with_problem(problem);
    let ctx = context! {
        coupons => coupons,
        rates => rates,
        currency => currency,
        commission => percent(state.app.settings.commission_bps),
        problem => problem,
        ..chrome(session, "money")
    };
    Page::new("admin/money.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn show(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    money_page(&state, &session, &nonce, &flash, None).await
}

/// A refused form: the page again, its fields as typed and the message beside `field`.
async fn refused(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    form: &str,
    typed: Value,
    e: AppError,
) -> Response {
    match refusal(e, "code") {
        Ok(r) => {
            let problem =
                context! { form => form, field => r.field, message => r.message, ..typed };
            money_page(
                state,
                session,
                nonce,
                &Flash(None),
                Some((r.status, problem)),
            )
            .await
        }
        Err(e) => PageError::from(e).render(nonce),
    }
}

#[derive(Debug, Deserialize, serde::Serialize)]
pub struct CouponForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default)]
    code: String,
    /// `percent` or `fixed`.
    #[serde(default)]
    kind: String,
    /// A percentage, or an amount in the shop currency.
    #[serde(default)]
    value: String,
    #[serde(default)]
    min_subtotal: String,
    #[serde(default)]
    starts: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    max_uses: String,
    #[serde(default)]
    per_customer_limit: String,
}

impl CsrfField for CouponForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The form as the use case takes it; what cannot be read is refused beside its field.
fn coupon_draft(
    form: &CouponForm,
    currency: souk_domain::money::Currency,
) -> Result<CouponDraft, AppError> {
    let value = match form.kind.as_str() {
        "percent" => parse_percent(&form.value)
            .ok_or_else(|| AppError::field("value", "a percentage, e.g. 10 or 12.5"))?,
        _ => souk_domain::money::parse_decimal(&form.value, currency)
            .map_err(|e| AppError::field("value", e.to_string()))?,
    };
    let min_subtotal = match form.min_subtotal.trim() {
        "" => 0,
        text => souk_domain::money::parse_decimal(text, currency)
            .map_err(|e| AppError::field("min_subtotal", e.to_string()))?,
    };
    let date = |field: &str, text: &str, end: bool| match text.trim() {
        "" => Ok(None),
        d => date_bound(d, end)
            .map(Some)
            .ok_or_else(|| AppError::field(field, "a date like 2026-12-31")),
    };
    let count = |field: &str, text: &str| {
        optional_count(text).map_err(|()| AppError::field(field, "a whole number, or empty"))
    };
    Ok(CouponDraft {
        code: form.code.clone(),
        kind: form.kind.clone(),
        value,
        min_subtotal,
        starts_at: date("starts_at", &form.starts, false)?,
        expires_at: date("expires_at", &form.expires, true)?,
        max_uses: count("max_uses", &form.max_uses)?,
        per_customer_limit: count("per_customer_limit", &form.per_customer_limit)?,
    })
}

pub async fn create_coupon(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    AdminForm { session, form }: AdminForm<CouponForm>,
) -> Response {
    let actor = actor(&session.principal, &client);
    let created = match coupon_draft(&form, state.config.currency) {
        Ok(draft) => souk_app::coupons::create(&state.app, &actor, &draft).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(c) => done("/admin/money", &format!("Coupon {} created.", c.code)),
        Err(e) => {
            let typed = Value::from_serialize(&form);
            refused(&state, &session, &nonce, "coupon", typed, e).await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    csrf: String,
    /// `true` to resume, `false` to pause.
    #[serde(default)]
    active: String,
}

impl CsrfField for ActiveForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn set_coupon_active(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<ActiveForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return PageError::not_found("no such coupon").render(&nonce);
    };
    let active = form.active == "true";
    let actor = actor(&session.principal, &client);
    match souk_app::coupons::set_active(&state.app, &actor, id, active).await {
        Ok(c) if active => done("/admin/money", &format!("Coupon {} applies again.", c.code)),
        Ok(c) => done(
            "/admin/money",
            &format!("Coupon {} is paused: carts stop applying it.", c.code),
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

#[derive(Debug, Deserialize, serde::Serialize)]
pub struct TaxForm {
    #[serde(default, skip_serializing)]
    csrf: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    region: String,
    /// A percentage.
    #[serde(default)]
    rate: String,
    /// `on` when prices include the tax.
    #[serde(default)]
    inclusive: Option<String>,
}

impl CsrfField for TaxForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn put_tax_rate(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    AdminForm { session, form }: AdminForm<TaxForm>,
) -> Response {
    let actor = actor(&session.principal, &client);
    let put = match parse_percent(&form.rate).filter(|b| *b <= 10_000) {
        Some(bps) => {
            let inclusive = form.inclusive.is_some();
            souk_app::tax::put_rate(
                &state.app,
                &actor,
                &form.country,
                &form.region,
                bps,
                inclusive,
            )
            .await
        }
        None => Err(AppError::field(
            "rate_bps",
            "a percentage from 0 to 100, e.g. 19 or 7.5",
        )),
    };
    match put {
        Ok(r) => {
            let place = if r.region.is_empty() {
                r.country.clone()
            } else {
                format!("{}-{}", r.country, r.region)
            };
            done(
                "/admin/money",
                &format!("Tax for {place} is {} % now.", percent(r.rate_bps)),
            )
        }
        Err(e) => {
            let typed = Value::from_serialize(&form);
            refused(&state, &session, &nonce, "tax", typed, e).await
        }
    }
}
