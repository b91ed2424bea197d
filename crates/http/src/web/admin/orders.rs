//! Orders in the admin panel: the list (filters and the cursor in the URL, so a link can be
//! shared) and an order's page with its actions.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_domain::orders::{Address, OrderStatus, order_number};
use souk_storage::orders::{self, OrderDetail, OrderFilter, OrderRow};
use uuid::Uuid;

use super::{AdminForm, AdminSession, CsrfField, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
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
    before: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<ListQuery>,
) -> Response {
    let status = query.status.filter(|s| !s.is_empty());
    if let Some(s) = &status
        && OrderStatus::parse(s).is_none()
    {
        return PageError::new(
            StatusCode::BAD_REQUEST,
            "Unknown status",
            "pick a status from the list",
        )
        .render(&nonce);
    }
    let q = query
        .q
        .map(|q| q.trim().chars().take(254).collect::<String>())
        .filter(|q| !q.is_empty());
    let before = match query.before.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => match Uuid::parse_str(b) {
            Ok(id) => Some(id),
            Err(_) => {
                return PageError::new(
                    StatusCode::BAD_REQUEST,
                    "Bad page link",
                    "the page link is damaged; start from the first page",
                )
                .render(&nonce);
            }
        },
    };
    let filter = OrderFilter {
        user_id: None,
        status: status.clone(),
        // Emails are stored lower-case.
        query: q.as_ref().map(|q| q.to_lowercase()),
        before,
        limit: PAGE_SIZE,
    };
    let rows = match orders::list(&state.db, &filter).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let older = (rows.len() as i64 == PAGE_SIZE)
        .then(|| rows.last().map(|o| o.id.to_string()))
        .flatten();
    let statuses: Vec<&str> = souk_domain::orders::ORDER_STATUSES
        .iter()
        .map(|s| s.as_str())
        .collect();
    let ctx = context! {
        orders => rows.iter().map(summary).collect::<Vec<_>>(),
        statuses => statuses,
        status => status,
        q => q,
        older => older,
        first_page => before.is_none(),
        ..chrome(&session, "orders")
    };
    Page::new("admin/orders.html", ctx).render(&nonce, &flash)
}

fn order_context(d: &OrderDetail) -> Value {
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
            }
        })
        .collect();
    let currency = souk_domain::money::Currency::parse(&o.currency).ok();
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
    }
}

fn no_such_order(nonce: &CspNonce) -> Response {
    PageError::not_found("no such order").render(nonce)
}

/// The order page; `problem` (a refused action) is shown beside its form's field.
async fn order_page(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    flash: &Flash,
    id: Uuid,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let detail = match souk_app::orders::get(&state.app, id).await {
        Ok(d) => d,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (status, problem) = problem.unwrap_or((StatusCode::OK, Value::from(())));
    let ctx = context! {
        order => order_context(&detail),
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

#[derive(Debug, Deserialize)]
pub struct PaymentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
}

impl CsrfField for PaymentForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Records a manual payment; the order page again, with the outcome.
pub async fn record_payment(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<PaymentForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_order(&nonce);
    };
    let no_flash = Flash(None);
    let refused = |field: &str, message: String| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            context! { form => "payment", field => field, message => message,
            amount => form.amount, reference => form.reference },
        )
    };
    let amount = match souk_domain::money::parse_decimal(form.amount.trim(), state.config.currency)
    {
        Ok(amount) => amount,
        Err(e) => {
            let problem = refused("amount", format!("{e}"));
            return order_page(&state, &session, &nonce, &no_flash, id, Some(problem)).await;
        }
    };
    let actor = actor(&session.principal, &client);
    let result =
        souk_app::orders::record_manual_payment(&state.app, &actor, id, amount, &form.reference)
            .await;
    match result {
        Ok(_) => {
            let mut response = Redirect::to(&format!("/admin/orders/{id}")).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                Flash::set("Payment recorded: the order is paid."),
            );
            response
        }
        Err(souk_app::AppError::Refused {
            kind,
            detail,
            fields,
            ..
        }) => {
            let (field, message) = match fields.into_iter().next() {
                Some(f) => (f.field, f.message),
                None => ("amount".to_owned(), detail),
            };
            let (_, mut problem) = refused(&field, message);
            problem = context! { ..problem };
            let status = crate::error::status_of(kind);
            order_page(
                &state,
                &session,
                &nonce,
                &no_flash,
                id,
                Some((status, problem)),
            )
            .await
        }
        Err(e) => PageError::from(e).render(&nonce),
    }
}
