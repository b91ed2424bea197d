//! A vendor's money: the balance and how it is made, the commission rate, the payouts received
//! (newest first, paged), and the statement of a period as CSV.

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use minijinja::context;
use serde::Deserialize;
use souk_storage::ledger;
use uuid::Uuid;

use super::{VendorSession, chrome};
use crate::AppState;
use crate::web::form::percent;
use crate::web::panel::{bad_cursor, cursor, next_cursor};
use crate::web::{CspNonce, Flash, Page, PageError};

const PAYOUTS_PAGE: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct MoneyQuery {
    before: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<MoneyQuery>,
) -> Response {
    let Some(before) = cursor(query.before.as_deref()) else {
        return bad_cursor(&nonce);
    };
    let vendor = session.vendor_id;
    let read = async {
        let balance = ledger::balance(&state.db, vendor)
            .await?
            .ok_or_else(|| PageError::not_found("no such shop"))?;
        let rate = ledger::commission_of(&state.db, vendor).await?.flatten();
        let payouts = ledger::payouts_page(&state.db, vendor, before, PAYOUTS_PAGE).await?;
        Ok::<_, PageError>((balance, rate, payouts))
    };
    let (b, rate, payouts) = match read.await {
        Ok(read) => read,
        Err(e) => return e.render(&nonce),
    };
    let today = souk_domain::time::rfc3339(souk_storage::now_ms());
    let today = today.get(..10).unwrap_or_default().to_owned();
    let month_start = format!("{}-01", today.get(..7).unwrap_or_default());
    let ctx = context! {
        currency => state.config.currency.code(),
        balance => context! {
            earned => b.earned, commission => b.commission, paid_out => b.paid_out,
            available => b.available, pending => b.pending,
        },
        commission => percent(rate.unwrap_or(state.app.settings.commission_bps)),
        commission_is_default => rate.is_none(),
        payouts => payouts.iter().map(|p| context! {
            amount => p.amount, currency => p.currency, reference => p.reference,
            created_at => p.created_at,
        }).collect::<Vec<_>>(),
        older => next_cursor(payouts.iter().map(|p| p.id), PAYOUTS_PAGE),
        first_page => before.is_none(),
        statement => context! { from => month_start, to => today },
        ..chrome(&session.principal, &session.csrf, "money")
    };
    Page::new("vendor/money.html", ctx).render(&nonce, &flash)
}

#[derive(Debug, Default, Deserialize)]
pub struct StatementQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Entries read per query while the statement is sent.
const STATEMENT_BATCH: i64 = 1000;

/// The statement of `from`..=`to` (UTC days) as CSV, read and sent in batches: memory stays
/// flat however long the period.
pub async fn statement(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    Query(query): Query<StatementQuery>,
) -> Response {
    let day = |d: &str| {
        let d = d.trim();
        (d.len() == 10)
            .then(|| souk_domain::time::parse_rfc3339(&format!("{d}T00:00:00Z")))
            .flatten()
    };
    let (Some(from), Some(to)) = (day(&query.from), day(&query.to)) else {
        return PageError::new(
            StatusCode::BAD_REQUEST,
            "Bad dates",
            "give both dates as YYYY-MM-DD, e.g. 2026-12-01",
        )
        .render(&nonce);
    };
    if to < from {
        return PageError::new(
            StatusCode::BAD_REQUEST,
            "Bad dates",
            "the period ends before it starts",
        )
        .render(&nonce);
    }
    let until = to + DAY_MS;
    let vendor = session.vendor_id;
    let opening = match ledger::available_before(&state.db, vendor, from).await {
        Ok(v) => v,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let currency = state.config.currency.code().to_owned();
    struct Cursor {
        after: (i64, Uuid),
        balance: i64,
        first: bool,
        finished: bool,
    }
    let start = Cursor {
        after: (from - 1, Uuid::nil()),
        balance: opening,
        first: true,
        finished: false,
    };
    let db = state.db.clone();
    let body = futures_util::stream::unfold(start, move |mut c| {
        let db = db.clone();
        let currency = currency.clone();
        async move {
            if c.finished {
                return None;
            }
            match ledger::statement_page(&db, vendor, (from, until), c.after, STATEMENT_BATCH).await
            {
                Ok(entries) => {
                    c.finished = (entries.len() as i64) < STATEMENT_BATCH;
                    if let Some(last) = entries.last() {
                        c.after = (last.created_at, last.id);
                    }
                    let opening = c.first.then_some(c.balance);
                    c.first = false;
                    let chunk = souk_app::payouts::statement_csv(
                        &entries,
                        opening,
                        &mut c.balance,
                        &currency,
                    )
                    .map_err(|e| std::io::Error::other(e.to_string()));
                    Some((chunk, c))
                }
                Err(e) => {
                    tracing::error!(error = %e, "a vendor statement stopped");
                    c.finished = true;
                    Some((Err(std::io::Error::other("statement failed")), c))
                }
            }
        }
    });
    let filename = format!("statement-{}-{}.csv", query.from.trim(), query.to.trim());
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        axum::body::Body::from_stream(body.boxed()),
    )
        .into_response()
}
