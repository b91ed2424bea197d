//! Orders in the admin panel: the list (filters and the cursor in the URL, so a link can be
//! shared) and an order's page with its actions.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::orders::OrderHistory;
use souk_domain::money::format_decimal;
use souk_domain::orders::{Address, OrderStatus, order_number};
use souk_storage::orders::{self, OrderFilter, OrderRow};
use uuid::Uuid;

use super::{AdminSession, chrome};
use crate::AppState;
use crate::web::{CspNonce, Flash, Page, PageError};

const PAGE_SIZE: i64 = 25;

/// One order in a list.
pub fn summary(o: &OrderRow) -> Value {
    context! {
        id => o.id.to_string(),
        number => order_number(&o.id),
        email => o.email,
        status => o.status,
        total => o.total,
        currency => o.currency,
        placed_at => o.placed_at,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    q: Option<String>,
    vendor: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    from: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    to: Option<String>,
    before: Option<String>,
}

/// The filters of the list, as read from the URL and as shown back in the form.
struct Filters {
    filter: OrderFilter,
    /// What the form shows and the links carry.
    shown: Value,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

fn bad_filter(title: &'static str, detail: &str) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, title, detail)
}

/// Midnight UTC at the start of `YYYY-MM-DD`.
fn day_start(date: &str) -> Option<i64> {
    if date.len() != 10 {
        return None;
    }
    souk_domain::time::parse_rfc3339(&format!("{date}T00:00:00Z"))
}

fn filters(query: ListQuery, limit: i64) -> Result<Filters, PageError> {
    let text = |v: Option<String>| {
        v.map(|v| v.trim().chars().take(254).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    let status = text(query.status);
    if status
        .as_deref()
        .is_some_and(|s| OrderStatus::parse(s).is_none())
    {
        return Err(bad_filter("Unknown status", "pick a status from the list"));
    }
    let q = text(query.q);
    let vendor = match text(query.vendor) {
        None => None,
        Some(v) => Some(Uuid::parse_str(&v).map_err(|_| {
            bad_filter(
                "Bad vendor",
                "the vendor filter takes a vendor id; pick the vendor again",
            )
        })?),
    };
    let date = |v: Option<String>| match text(v) {
        None => Ok(None),
        Some(d) => day_start(&d)
            .map(|ms| Some((d, ms)))
            .ok_or_else(|| bad_filter("Bad date", "dates are written YYYY-MM-DD, e.g. 2026-12-04")),
    };
    let from = date(query.from)?;
    let to = date(query.to)?;
    let Some(before) = super::cursor(query.before.as_deref()) else {
        return Err(bad_filter(
            "Bad page link",
            "the page link is damaged; start from the first page",
        ));
    };
    let shown = context! {
        status => status, q => q, vendor => vendor.map(|v| v.to_string()),
        from => from.as_ref().map(|(d, _)| d.clone()), to => to.as_ref().map(|(d, _)| d.clone()),
    };
    Ok(Filters {
        filter: OrderFilter {
            user_id: None,
            status,
            // Emails are stored lower-case.
            query: q.map(|q| q.to_lowercase()),
            vendor_id: vendor,
            placed_from: from.map(|(_, ms)| ms),
            // `to` is inclusive: before the start of the next day.
            placed_before: to.map(|(_, ms)| ms + DAY_MS),
            before,
            limit,
        },
        shown,
    })
}

pub async fn list(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<ListQuery>,
) -> Response {
    let Filters { filter, shown } = match filters(query, PAGE_SIZE) {
        Ok(f) => f,
        Err(e) => return e.render(&nonce),
    };
    let rows = match orders::list(&state.db, &filter).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let vendor_name = match filter.vendor_id {
        None => None,
        Some(v) => match souk_storage::catalog::vendor_by_id(&state.db, v).await {
            Ok(found) => found.map(|v| v.name),
            Err(e) => return PageError::from(e).render(&nonce),
        },
    };
    let older = super::next_cursor(rows.iter().map(|o| o.id), PAGE_SIZE);
    let statuses: Vec<&str> = souk_domain::orders::ORDER_STATUSES
        .iter()
        .map(|s| s.as_str())
        .collect();
    let ctx = context! {
        orders => rows.iter().map(summary).collect::<Vec<_>>(),
        statuses => statuses,
        filters => shown,
        vendor_name => vendor_name,
        older => older,
        first_page => filter.before.is_none(),
        ..chrome(&session, "orders")
    };
    Page::new("admin/orders.html", ctx).render(&nonce, &flash)
}

/// At most this many orders in one CSV export (narrow the filters for more).
const EXPORT_LIMIT: usize = 100_000;
const EXPORT_BATCH: i64 = 500;

/// The filtered list as a CSV file, read and sent in batches: memory stays flat however many
/// orders match.
pub async fn export(
    State(state): State<AppState>,
    _session: AdminSession,
    nonce: CspNonce,
    Query(query): Query<ListQuery>,
) -> Response {
    let Filters { filter, .. } = match filters(query, EXPORT_BATCH) {
        Ok(f) => f,
        Err(e) => return e.render(&nonce),
    };
    let header = souk_app::orders::orders_csv(&[], true).unwrap_or_default();
    let start = (state.db.clone(), filter, 0usize, false);
    let body = futures_util::stream::unfold(start, |(db, mut filter, sent, finished)| async move {
        if finished || sent >= EXPORT_LIMIT {
            return None;
        }
        match orders::list(&db, &filter).await {
            Ok(rows) if rows.is_empty() => None,
            Ok(rows) => {
                let finished = (rows.len() as i64) < filter.limit;
                filter.before = rows.last().map(|o| o.id);
                let sent = sent + rows.len();
                let chunk = souk_app::orders::orders_csv(&rows, false)
                    .map_err(|e| std::io::Error::other(e.to_string()));
                Some((chunk, (db, filter, sent, finished)))
            }
            Err(e) => {
                tracing::error!(error = %e, "the order export stopped");
                Some((
                    Err(std::io::Error::other("export failed")),
                    (db, filter, sent, true),
                ))
            }
        }
    });
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(header)]).chain(body);
    let filename = format!(
        "orders-{}.csv",
        souk_domain::time::rfc3339(souk_storage::now_ms())
            .get(..10)
            .unwrap_or("export")
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response()
}

fn order_context(h: &OrderHistory) -> Value {
    let d = &h.detail;
    let o = &d.order;
    let address = serde_json::from_str::<Address>(&o.shipping_address).ok();
    let parts: Vec<Value> = d
        .vendor_orders
        .iter()
        .map(|vo| {
            let lines: Vec<Value> = d
                .lines
                .iter()
                .filter(|l| l.vendor_order_id == vo.id)
                .map(|l| {
                    context! {
                        title => l.product_title, variant => l.variant_title, sku => l.sku,
                        quantity => l.quantity, unit_price => l.unit_price, total => l.total,
                        shipped => l.shipped_quantity, refunded => l.refunded_quantity,
                    }
                })
                .collect();
            context! {
                vendor => vo.vendor_name, status => vo.status, total => vo.total,
                shipping => vo.shipping, commission => vo.commission, refunded => vo.refunded,
                carrier => vo.carrier, tracking => vo.tracking_number, lines => lines,
                id => vo.id.to_string(), refundable => (vo.total - vo.refunded).max(0),
                refundable_decimal => currency_of(&o.currency)
                    .map(|c| format_decimal((vo.total - vo.refunded).max(0), c)),
            }
        })
        .collect();
    let currency = currency_of(&o.currency);
    let refundable = (o.paid_amount - o.refunded_amount).max(0);
    let vendor_names: std::collections::HashMap<Uuid, &str> = d
        .vendor_orders
        .iter()
        .map(|vo| (vo.id, vo.vendor_name.as_str()))
        .collect();
    let refunds: Vec<Value> = h
        .refunds
        .iter()
        .map(|r| {
            context! {
                amount => r.amount, currency => r.currency, status => r.status, reason => r.reason,
                provider => r.provider, at => r.created_at,
                vendor => r.vendor_order_id.and_then(|v| vendor_names.get(&v).copied()),
            }
        })
        .collect();
    let attempts: Vec<Value> = h
        .attempts
        .iter()
        .map(|p| {
            context! {
                attempt => p.attempt, provider => p.provider, state => p.state,
                amount => p.amount, currency => p.currency, reference => p.provider_ref,
                error => p.last_error, at => p.created_at,
            }
        })
        .collect();
    context! {
        id => o.id.to_string(),
        number => order_number(&o.id),
        email => o.email,
        status => o.status,
        payment_method => o.payment_method,
        currency => o.currency,
        subtotal => o.subtotal, discount => o.discount, shipping => o.shipping_total,
        tax => o.tax, total => o.total, paid => o.paid_amount, refunded => o.refunded_amount,
        total_decimal => currency.map(|c| souk_domain::money::format_decimal(o.total, c)),
        coupon => o.coupon_code,
        placed_at => o.placed_at,
        paid_at => o.paid_at,
        cancel_reason => o.cancel_reason,
        address => address.map(|a| context! {
            name => a.name, line1 => a.line1, line2 => a.line2, postal_code => a.postal_code,
            city => a.city, region => a.region, country => a.country,
        }),
        parts => parts,
        can_record_payment => o.status == "pending_payment" && o.payment_method == "manual",
        can_cancel => o.status == "pending_payment",
        can_complete => o.status == "fulfilled" || o.status == "partially_refunded",
        refundable => refundable,
        refundable_decimal => currency.map(|c| format_decimal(refundable, c)),
        attempts => attempts,
        refunds => refunds,
        timeline => timeline(h),
    }
}

fn currency_of(code: &str) -> Option<souk_domain::money::Currency> {
    souk_domain::money::Currency::parse(code).ok()
}

/// The order's events and its audit entries, oldest first. An event written once per audience
/// (the customer's and each vendor's copy) shows once.
fn timeline(h: &OrderHistory) -> Vec<Value> {
    let mut seen = std::collections::HashSet::new();
    let mut entries: Vec<(i64, Value)> = h
        .events
        .iter()
        .filter(|e| seen.insert((e.kind.clone(), e.created_at)))
        .map(|e| {
            let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
            let status = data
                .get("status")
                .and_then(|s| s.as_str())
                .map(str::to_owned);
            (
                e.created_at,
                context! { at => e.created_at, what => e.kind, who => Value::from(()),
                detail => status },
            )
        })
        .collect();
    entries.extend(h.audit.iter().map(|a| {
        (
            a.created_at,
            context! { at => a.created_at, what => a.action, who => a.actor_email,
            detail => (a.details != "{}").then_some(a.details.as_str()) },
        )
    }));
    entries.sort_by_key(|(at, _)| *at);
    entries.into_iter().map(|(_, v)| v).collect()
}

pub(super) fn no_such_order(nonce: &CspNonce) -> Response {
    PageError::not_found("no such order").render(nonce)
}

/// The order page; `problem` (a refused action) is shown beside its form's field.
pub(super) async fn order_page(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    flash: &Flash,
    id: Uuid,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let history = match souk_app::orders::history(&state.app, id).await {
        Ok(h) => h,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (status, problem) = problem.unwrap_or((StatusCode::OK, Value::from(())));
    let ctx = context! {
        order => order_context(&history),
        refund_key => souk_domain::accounts::new_token("").0,
        problem => problem,
        ..chrome(session, "orders")
    };
    Page::new("admin/order.html", ctx)
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
        return no_such_order(&nonce);
    };
    order_page(&state, &session, &nonce, &flash, id, None).await
}
