//! What an admin does to an order from its page: record a manual payment, refund (the whole
//! order, an amount, or one vendor's part), cancel an unpaid order, complete a fulfilled one.
//! Refunds and cancellations ask for confirmation first; a refused action shows the order page
//! again with the message beside the field.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::payments::RefundAsk;
use uuid::Uuid;

use super::orders::{no_such_order, order_page};
use super::{ActionForm, AdminForm, AdminSession, Confirm, CsrfField, chrome, done, refusal};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::{CspNonce, Flash, Page, PageError};

/// The order page again with `problem` beside the form's field.
async fn refused(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    id: Uuid,
    status: StatusCode,
    problem: Value,
) -> Response {
    order_page(
        state,
        session,
        nonce,
        &Flash(None),
        id,
        Some((status, problem)),
    )
    .await
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

/// Records a manual payment of the order's total.
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
    let problem = |field: &str, message: &str| {
        context! { form => "payment", field => field, message => message,
        amount => form.amount, reference => form.reference }
    };
    let amount = match souk_domain::money::parse_decimal(&form.amount, state.config.currency) {
        Ok(amount) => amount,
        Err(e) => {
            let p = problem("amount", &e.to_string());
            return refused(
                &state,
                &session,
                &nonce,
                id,
                StatusCode::UNPROCESSABLE_ENTITY,
                p,
            )
            .await;
        }
    };
    let actor = actor(&session.principal, &client);
    match souk_app::orders::record_manual_payment(&state.app, &actor, id, amount, &form.reference)
        .await
    {
        Ok(_) => done(
            &format!("/admin/orders/{id}"),
            "Payment recorded: the order is paid.",
        ),
        Err(e) => match refusal(e, "amount") {
            Ok(r) => {
                let p = problem(&r.field, &r.message);
                refused(&state, &session, &nonce, id, r.status, p).await
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

#[derive(Debug, Deserialize)]
pub struct RefundForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amount: String,
    /// A vendor order id, or empty for the whole order.
    #[serde(default)]
    part: String,
    #[serde(default)]
    reason: String,
    /// Made when the form was shown: submitting twice refunds once.
    #[serde(default)]
    key: String,
    /// `yes` once the admin has seen the confirmation.
    #[serde(default)]
    confirm: String,
}

impl CsrfField for RefundForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A refund: first the confirmation ("Refund 12.00 EUR of Acme's part?"), then the refund.
pub async fn refund(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<RefundForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_order(&nonce);
    };
    let problem = |field: &str, message: &str| {
        context! { form => "refund", field => field, message => message,
        amount => form.amount, part => form.part, reason => form.reason }
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    let amount = match souk_domain::money::parse_decimal(&form.amount, state.config.currency) {
        Ok(amount) => amount,
        Err(e) => {
            let p = problem("amount", &e.to_string());
            return refused(&state, &session, &nonce, id, unprocessable, p).await;
        }
    };
    let part = match form.part.trim() {
        "" => None,
        p => match Uuid::parse_str(p) {
            Ok(p) => Some(p),
            Err(_) => {
                let p = problem("part", "pick a vendor's part from the list");
                return refused(&state, &session, &nonce, id, unprocessable, p).await;
            }
        },
    };
    if form.key.trim().is_empty() || form.key.len() > 100 {
        let p = problem("amount", "the form was damaged; fill it in again");
        return refused(&state, &session, &nonce, id, unprocessable, p).await;
    }
    if form.confirm != "yes" {
        return confirm_refund(&state, &session, &nonce, id, amount, part, &form).await;
    }
    let actor = actor(&session.principal, &client);
    let ask = RefundAsk {
        amount: Some(amount),
        vendor_order_id: part,
        lines: None,
        reason: form.reason.clone(),
        idempotency_key: format!("{}:{}", session.principal.user_id, form.key.trim()),
    };
    match souk_app::payments::refund(&state.app, &actor, id, ask).await {
        Ok(made) => {
            let money = crate::web::money_text(made.refund.amount, &made.refund.currency);
            let message = match made.refund.status.as_str() {
                "succeeded" => format!("Refunded {money}."),
                _ => format!("Refund of {money} sent: the payment provider confirms it shortly."),
            };
            done(&format!("/admin/orders/{id}"), &message)
        }
        Err(e) => match refusal(e, "amount") {
            Ok(r) => {
                let field = if r.field == "vendor_order_id" {
                    "part"
                } else {
                    r.field.as_str()
                };
                let p = problem(field, &r.message);
                refused(&state, &session, &nonce, id, r.status, p).await
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

async fn confirm_refund(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    id: Uuid,
    amount: i64,
    part: Option<Uuid>,
    form: &RefundForm,
) -> Response {
    let detail = match souk_app::orders::get(&state.app, id).await {
        Ok(d) => d,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let o = &detail.order;
    let money = crate::web::money_text(amount, &o.currency);
    let number = souk_domain::orders::order_number(&o.id);
    let from = match part {
        None => "spread over every vendor's part".to_owned(),
        Some(p) => match detail.vendor_orders.iter().find(|vo| vo.id == p) {
            Some(vo) => format!("out of {}'s part", vo.vendor_name),
            None => {
                let p = context! { form => "refund", field => "part",
                message => "is not a vendor's part of this order",
                amount => form.amount, part => form.part, reason => form.reason };
                return refused(
                    state,
                    session,
                    nonce,
                    id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    p,
                )
                .await;
            }
        },
    };
    let mut explain = vec![format!(
        "{money} goes back to {} ({from}). The vendors' earnings and the commission are reversed \
         with it. This cannot be undone.",
        o.email
    )];
    if !form.reason.trim().is_empty() {
        explain.push(format!("Reason: {}", form.reason.trim()));
    }
    let ctx = context! {
        confirm => Confirm {
            title: format!("Refund {money} of order {number}?"),
            explain,
            action: format!("/admin/orders/{id}/refund"),
            hidden: vec![
                ("amount", form.amount.trim().to_owned()),
                ("part", form.part.trim().to_owned()),
                ("reason", form.reason.trim().to_owned()),
                ("key", form.key.trim().to_owned()),
            ],
            button: format!("Refund {money}"),
            back: format!("/admin/orders/{id}"),
            ..Default::default()
        },
        ..chrome(session, "orders")
    };
    Page::new("panel/confirm.html", ctx).render(nonce, &Flash(None))
}

/// "Cancel this order?"
pub async fn confirm_cancel(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_order(&nonce);
    };
    let detail = match souk_app::orders::get(&state.app, id).await {
        Ok(d) => d,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let number = souk_domain::orders::order_number(&id);
    let ctx = context! {
        confirm => Confirm {
            title: format!("Cancel order {number}?"),
            explain: vec![format!(
                "Its stock goes back on sale and {} is emailed. Only an unpaid order can be \
                 cancelled; this cannot be undone.",
                detail.order.email
            )],
            action: format!("/admin/orders/{id}/cancel"),
            reason: Some("Reason (optional, kept on the order)".to_owned()),
            button: format!("Cancel order {number}"),
            back: format!("/admin/orders/{id}"),
            ..Default::default()
        },
        ..chrome(&session, "orders")
    };
    Page::new("panel/confirm.html", ctx).render(&nonce, &flash)
}

#[derive(Debug, Deserialize)]
pub struct CancelForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
}

impl CsrfField for CancelForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn cancel(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<CancelForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_order(&nonce);
    };
    if form.confirm != "yes" {
        return Redirect::to(&format!("/admin/orders/{id}/cancel")).into_response();
    }
    let actor = actor(&session.principal, &client);
    match souk_app::orders::cancel(&state.app, &actor, id, &form.reason).await {
        Ok(_) => done(
            &format!("/admin/orders/{id}"),
            "Order cancelled: its stock is back on sale.",
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

pub async fn complete(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_order(&nonce);
    };
    let actor = actor(&session.principal, &client);
    match souk_app::orders::complete(&state.app, &actor, id).await {
        Ok(_) => done(&format!("/admin/orders/{id}"), "Order completed."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
