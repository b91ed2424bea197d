//! Customers in the admin panel: search by email, a customer's orders and sessions, disabling
//! an account (after confirmation) or enabling it again; and the admin's own sessions.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_storage::accounts::SessionRecord;
use souk_storage::customers::CustomerRow;
use uuid::Uuid;

use super::{ActionForm, AdminForm, AdminSession, Confirm, chrome, done};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::{CspNonce, Flash, Page, PageError};

const PAGE_SIZE: i64 = 25;

fn row(c: &CustomerRow) -> Value {
    context! {
        id => c.id.to_string(), email => c.email, name => c.name, created_at => c.created_at,
        verified => c.email_verified_at.is_some(), is_admin => c.is_admin,
        disabled_at => c.disabled_at, orders => c.orders, vendor => c.vendor_name,
    }
}

fn sessions(list: &[SessionRecord], current: Option<Uuid>) -> Vec<Value> {
    list.iter()
        .map(|s| {
            context! {
                id => s.id.to_string(), created_at => s.created_at, last_seen_at => s.last_seen_at,
                expires_at => s.expires_at, user_agent => s.user_agent, ip => s.ip,
                current => Some(s.id) == current,
            }
        })
        .collect()
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    after: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<ListQuery>,
) -> Response {
    let q = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let after = query.after.as_deref().filter(|a| !a.is_empty());
    let rows = match souk_app::customers::search(&state.app, q, after, PAGE_SIZE).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    // By email when searching, newest first otherwise: the next page starts after the last.
    let next = (rows.len() as i64 == PAGE_SIZE)
        .then(|| rows.last())
        .flatten()
        .map(|c| {
            if q.is_some() {
                c.email.clone()
            } else {
                c.id.to_string()
            }
        });
    let ctx = context! {
        customers => rows.iter().map(row).collect::<Vec<_>>(),
        q => q,
        next => next,
        first_page => after.is_none(),
        ..chrome(&session, "customers")
    };
    Page::new("admin/customers.html", ctx).render(&nonce, &flash)
}

fn no_such_customer(nonce: &CspNonce) -> Response {
    PageError::not_found("no such customer").render(nonce)
}

pub async fn show(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_customer(&nonce);
    };
    let o = match souk_app::customers::overview(&state.app, id).await {
        Ok(o) => o,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        customer => row(&o.customer),
        orders => o.orders.iter().map(super::orders::summary).collect::<Vec<_>>(),
        sessions => sessions(&o.sessions, Some(session.principal.session_id)),
        is_me => id == session.principal.user_id,
        ..chrome(&session, "customers")
    };
    Page::new("admin/customer.html", ctx).render(&nonce, &flash)
}

/// "Disable this account?"
pub async fn confirm_disable(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_customer(&nonce);
    };
    let customer = match souk_storage::customers::get(&state.db, id).await {
        Ok(Some(c)) => c,
        Ok(None) => return no_such_customer(&nonce),
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        confirm => Confirm {
            title: format!("Disable {}?", customer.email),
            explain: vec![
                "Every session of the account ends now and it cannot sign in until you enable \
                 it again. Its orders stay as they are."
                    .to_owned(),
            ],
            action: format!("/admin/customers/{id}/disable"),
            button: format!("Disable {}", customer.email),
            back: format!("/admin/customers/{id}"),
            ..Default::default()
        },
        ..chrome(&session, "customers")
    };
    Page::new("panel/confirm.html", ctx).render(&nonce, &flash)
}

pub async fn disable(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<ActionForm>,
) -> Response {
    if !form.confirmed() {
        return Redirect::to(&format!("/admin/customers/{id}/disable")).into_response();
    }
    set_disabled(&state, &session, &client, &nonce, &id, true).await
}

pub async fn enable(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    set_disabled(&state, &session, &client, &nonce, &id, false).await
}

async fn set_disabled(
    state: &AppState,
    session: &AdminSession,
    client: &ClientInfo,
    nonce: &CspNonce,
    id: &str,
    disabled: bool,
) -> Response {
    let Ok(id) = Uuid::parse_str(id) else {
        return no_such_customer(nonce);
    };
    let actor = actor(&session.principal, client);
    match souk_app::customers::set_disabled(&state.app, &actor, id, disabled).await {
        Ok(c) if disabled => done(
            &format!("/admin/customers/{id}"),
            &format!("{} is disabled: its sessions have ended.", c.email),
        ),
        Ok(c) => done(
            &format!("/admin/customers/{id}"),
            &format!("{} can sign in again.", c.email),
        ),
        Err(e) => PageError::from(e).render(nonce),
    }
}

/// Ends one of a customer's sessions.
pub async fn end_session(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path((id, session_id)): Path<(String, String)>,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    let (Ok(id), Ok(session_id)) = (Uuid::parse_str(&id), Uuid::parse_str(&session_id)) else {
        return PageError::not_found("no such session").render(&nonce);
    };
    let actor = actor(&session.principal, &client);
    match souk_app::customers::end_session(&state.app, &actor, id, session_id).await {
        Ok(()) => done(&format!("/admin/customers/{id}"), "Session ended."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

/// The signed-in admin's own sessions: where else this account is signed in.
pub async fn my_sessions(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    let p = &session.principal;
    let list = match souk_storage::accounts::list_sessions(&state.db, p.user_id).await {
        Ok(list) => list,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        sessions => sessions(&list, Some(p.session_id)),
        ..chrome(&session, "sessions")
    };
    Page::new("admin/sessions.html", ctx).render(&nonce, &flash)
}

/// Ends another session of the signed-in admin (a browser left signed in elsewhere).
pub async fn end_my_session(
    State(state): State<AppState>,
    nonce: CspNonce,
    Path(session_id): Path<String>,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    let p = &session.principal;
    let Ok(session_id) = Uuid::parse_str(&session_id) else {
        return PageError::not_found("no such session").render(&nonce);
    };
    match souk_app::accounts::end_session(&state.app, p.user_id, session_id).await {
        Ok(true) => done("/admin/sessions", "Session ended."),
        Ok(false) => PageError::not_found("no such session").render(&nonce),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
