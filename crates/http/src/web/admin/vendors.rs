//! Vendors in the admin panel: the list by status, approval, and suspension behind a
//! confirmation page (it stops a seller's sales and webhooks).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_storage::vendors::{self, VendorAdminRecord};
use uuid::Uuid;

use super::{ActionForm, AdminForm, AdminSession, Confirm, chrome, done};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::{CspNonce, Flash, Page, PageError};

const PAGE_SIZE: i64 = 25;
const STATUSES: [&str; 3] = ["pending", "active", "suspended"];

fn row(v: &VendorAdminRecord) -> Value {
    context! {
        id => v.id.to_string(), handle => v.handle, name => v.name, status => v.status,
        owner_email => v.owner_email, created_at => v.created_at,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
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
    if status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return PageError::new(
            StatusCode::BAD_REQUEST,
            "Unknown status",
            "pick a status from the list",
        )
        .render(&nonce);
    }
    let Some(before) = super::cursor(query.before.as_deref()) else {
        return super::bad_cursor(&nonce);
    };
    let rows = match vendors::list(&state.db, status.as_deref(), before, PAGE_SIZE).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let older = super::next_cursor(rows.iter().map(|v| v.id), PAGE_SIZE);
    let ctx = context! {
        vendors => rows.iter().map(row).collect::<Vec<_>>(),
        statuses => STATUSES,
        status => status,
        older => older,
        first_page => before.is_none(),
        ..chrome(&session, "vendors")
    };
    Page::new("admin/vendors.html", ctx).render(&nonce, &flash)
}

pub async fn approve(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    set_status(&state, &session, &client, &nonce, &id, Status::Active).await
}

/// "Suspend this vendor?": the confirmation a destructive action asks for first.
pub async fn confirm_suspend(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let found = match Uuid::parse_str(&id) {
        Ok(id) => souk_storage::catalog::vendor_by_id(&state.db, id).await,
        Err(_) => Ok(None),
    };
    let vendor = match found {
        Ok(Some(v)) => v,
        Ok(None) => return PageError::not_found("no such vendor").render(&nonce),
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        confirm => Confirm {
            title: format!("Suspend {}?", vendor.name),
            explain: vec![
                "Its products leave the shop, its staff cannot sell, and its webhooks stop until \
                 you reinstate it. Orders already placed stay as they are."
                    .to_owned(),
            ],
            action: format!("/admin/vendors/{}/suspend", vendor.id),
            button: format!("Suspend {}", vendor.name),
            back: format!("/admin/vendors/{}", vendor.id),
            ..Default::default()
        },
        ..chrome(&session, "vendors")
    };
    Page::new("panel/confirm.html", ctx).render(&nonce, &flash)
}

pub async fn suspend(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<ActionForm>,
) -> Response {
    if !form.confirmed() {
        return Redirect::to(&format!("/admin/vendors/{id}/suspend")).into_response();
    }
    set_status(&state, &session, &client, &nonce, &id, Status::Suspended).await
}

#[derive(Clone, Copy)]
enum Status {
    Active,
    Suspended,
}

/// Approves (or reinstates) or suspends a vendor, then back to the list with what it did.
async fn set_status(
    state: &AppState,
    session: &AdminSession,
    client: &ClientInfo,
    nonce: &CspNonce,
    id: &str,
    to: Status,
) -> Response {
    let Ok(id) = Uuid::parse_str(id) else {
        return PageError::not_found("no such vendor").render(nonce);
    };
    let actor = actor(&session.principal, client);
    let changed = match to {
        Status::Active => souk_app::vendors::approve(&state.app, &actor, id).await,
        Status::Suspended => souk_app::vendors::suspend(&state.app, &actor, id).await,
    };
    match (changed, to) {
        (Ok(v), Status::Active) => done(
            "/admin/vendors",
            &format!("{} is approved and can sell.", v.name),
        ),
        (Ok(v), Status::Suspended) => done(
            "/admin/vendors",
            &format!("{} is suspended: its products are hidden.", v.name),
        ),
        (Err(e), _) => PageError::from(e).render(nonce),
    }
}
