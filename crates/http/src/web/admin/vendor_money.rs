//! A vendor's page in the admin panel: its profile and status, money (balance, commission
//! rate, payouts recorded exactly once), latest orders and products, webhook endpoints; and the
//! payout report of every vendor as CSV.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_domain::money::format_decimal;
use uuid::Uuid;

use super::{AdminForm, AdminSession, CsrfField, chrome, done, refusal};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::form::{parse_percent, percent};
use crate::web::{CspNonce, Flash, Page, PageError};

fn no_such_vendor(nonce: &CspNonce) -> Response {
    PageError::not_found("no such vendor").render(nonce)
}

/// The vendor page; `problem` (a refused form) is shown beside its field.
async fn vendor_page(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    flash: &Flash,
    id: Uuid,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let o = match souk_app::payouts::overview(&state.app, id).await {
        Ok(o) => o,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let currency = state.config.currency;
    let b = &o.balance;
    let ctx = context! {
        vendor => context! {
            id => o.vendor.id.to_string(), handle => o.vendor.handle, name => o.vendor.name,
            status => o.vendor.status, description => o.vendor.description,
        },
        commission => o.commission_bps.map(percent),
        default_commission => percent(o.default_commission_bps),
        currency => currency.code(),
        balance => context! {
            earned => b.earned, commission => b.commission, paid_out => b.paid_out,
            available => b.available, pending => b.pending,
            available_decimal => format_decimal(b.available.max(0), currency),
        },
        payouts => o.payouts.iter().map(|p| context! {
            amount => p.amount, currency => p.currency, reference => p.reference, at => p.created_at,
        }).collect::<Vec<_>>(),
        orders => o.orders.iter().map(super::orders::summary).collect::<Vec<_>>(),
        products => o.products.iter().map(|p| context! {
            title => p.title, handle => p.handle, status => p.status.as_str(),
            variants => p.variants.len(),
            stock => p.variants.iter().map(|v| v.stock.max(0)).sum::<i64>(),
        }).collect::<Vec<_>>(),
        endpoints => o.endpoints.iter().map(|e| context! {
            url => e.url, status => e.status, events => e.event_types,
            failing_since => e.failing_since, disabled_reason => e.disabled_reason,
        }).collect::<Vec<_>>(),
        payout_key => souk_domain::accounts::new_token("").0,
        problem => problem.as_ref().map(|(_, p)| p.clone()),
        ..chrome(session, "vendors")
    };
    let status = problem.map_or(StatusCode::OK, |(s, _)| s);
    Page::new("admin/vendor.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn show(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_vendor(&nonce);
    };
    vendor_page(&state, &session, &nonce, &flash, id, None).await
}

#[derive(Debug, Deserialize)]
pub struct CommissionForm {
    #[serde(default)]
    csrf: String,
    /// A percentage; empty for the platform default.
    #[serde(default)]
    commission: String,
}

impl CsrfField for CommissionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn set_commission(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<CommissionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_vendor(&nonce);
    };
    let problem = |message: &str| {
        let p = context! { form => "commission", field => "commission", message => message,
        commission => form.commission };
        Some((StatusCode::UNPROCESSABLE_ENTITY, p))
    };
    let bps = match form.commission.trim() {
        "" => None,
        text => match parse_percent(text).filter(|b| *b <= 10_000) {
            Some(bps) => Some(bps),
            None => {
                let p = problem("a percentage from 0 to 100, at most two decimals (e.g. 12.5)");
                return vendor_page(&state, &session, &nonce, &Flash(None), id, p).await;
            }
        },
    };
    let actor = actor(&session.principal, &client);
    match souk_app::payouts::set_commission(&state.app, &actor, id, bps).await {
        Ok(rate) => done(
            &format!("/admin/vendors/{id}"),
            &format!(
                "Commission set to {} % for orders placed from now on.",
                percent(rate)
            ),
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

#[derive(Debug, Deserialize)]
pub struct PayoutForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
    /// Made when the form was shown: submitting twice records one payout.
    #[serde(default)]
    key: String,
}

impl CsrfField for PayoutForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn record_payout(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<PayoutForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_vendor(&nonce);
    };
    let problem = |field: &str, message: &str| {
        let p = context! { form => "payout", field => field, message => message,
        amount => form.amount, reference => form.reference };
        Some((StatusCode::UNPROCESSABLE_ENTITY, p))
    };
    let amount = match souk_domain::money::parse_decimal(&form.amount, state.config.currency) {
        Ok(a) => a,
        Err(e) => {
            let p = problem("amount", &e.to_string());
            return vendor_page(&state, &session, &nonce, &Flash(None), id, p).await;
        }
    };
    let key = form.key.trim();
    let key = (!key.is_empty() && key.len() <= 100)
        .then(|| format!("{}:{key}", session.principal.user_id));
    let actor = actor(&session.principal, &client);
    let recorded = souk_app::payouts::record(
        &state.app,
        &actor,
        id,
        amount,
        &form.reference,
        key.as_deref(),
    )
    .await;
    match recorded {
        Ok(r) => done(
            &format!("/admin/vendors/{id}"),
            &format!(
                "Payout of {} recorded.",
                crate::web::money_text(r.payout.amount, &r.payout.currency)
            ),
        ),
        Err(e) => match refusal(e, "amount") {
            Ok(r) => {
                // Every refusal of a payout is about its amount (or the balance it exceeds).
                let p = context! { form => "payout", field => "amount", message => r.message,
                amount => form.amount, reference => form.reference };
                let problem = Some((r.status, p));
                vendor_page(&state, &session, &nonce, &Flash(None), id, problem).await
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

/// Every vendor's balance as a CSV file (amounts in minor units).
pub async fn payout_report(
    State(state): State<AppState>,
    _session: AdminSession,
    nonce: CspNonce,
) -> Response {
    let rows = match souk_storage::ledger::report(&state.db).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    match souk_app::payouts::report_csv(&rows, state.config.currency.code()) {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"payout-report.csv\"",
                ),
            ],
            csv,
        )
            .into_response(),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
