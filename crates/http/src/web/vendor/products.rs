//! The shop's products: the list, searched by words and filtered by status, newest first
//! (filters and cursor in the URL). Only this vendor's products are ever read.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use souk_storage::catalog::ProductFilter;

use super::{VendorForm, VendorSession, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::panel::{ActionForm, Confirm, bad_cursor, cursor, done, next_cursor, product_row};
use crate::web::{CspNonce, Flash, Page, PageError};

const PAGE_SIZE: i64 = 25;
const STATUSES: [&str; 3] = ["draft", "published", "archived"];

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    before: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<ListQuery>,
) -> Response {
    let text = |v: Option<String>| {
        v.map(|v| v.trim().chars().take(200).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    let q = text(query.q);
    let status = text(query.status);
    if status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return PageError::new(
            StatusCode::BAD_REQUEST,
            "Unknown status",
            "pick a status from the list",
        )
        .render(&nonce);
    }
    let Some(before) = cursor(query.before.as_deref()) else {
        return bad_cursor(&nonce);
    };
    let filter = ProductFilter {
        search: q.clone(),
        status: status.clone(),
        vendor_id: Some(session.vendor_id),
        before,
        limit: PAGE_SIZE,
    };
    let rows = match souk_storage::catalog::all_products(&state.db, &filter).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        products => rows.iter().map(product_row).collect::<Vec<_>>(),
        statuses => STATUSES,
        filters => context! { q => q, status => status },
        older => next_cursor(rows.iter().map(|p| p.id), PAGE_SIZE),
        first_page => before.is_none(),
        ..chrome(&session.principal, &session.csrf, "products")
    };
    Page::new("vendor/products.html", ctx).render(&nonce, &flash)
}

/// This vendor's product `id`, or 404 (another vendor's product is not found either).
async fn own_product(
    state: &AppState,
    session: &VendorSession,
    id: &str,
) -> Result<souk_domain::catalog::Product, PageError> {
    let id = uuid::Uuid::parse_str(id).map_err(|_| PageError::not_found("no such product"))?;
    Ok(souk_app::products::get(&state.app, session.vendor_id, id).await?)
}

/// "Archive this product?"
pub async fn confirm_archive(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let product = match own_product(&state, &session, &id).await {
        Ok(p) => p,
        Err(e) => return e.render(&nonce),
    };
    let ctx = context! {
        confirm => Confirm {
            title: format!("Archive “{}”?", product.title),
            explain: vec![
                "It leaves the shop now; orders already placed stay as they are.".to_owned(),
                "It stays in your list as archived.".to_owned(),
            ],
            action: format!("/vendor/products/{}/archive", product.id),
            button: "Archive the product".to_owned(),
            back: "/vendor/products".to_owned(),
            ..Default::default()
        },
        ..chrome(&session.principal, &session.csrf, "products")
    };
    Page::new("panel/confirm.html", ctx).render(&nonce, &Flash(None))
}

pub async fn archive(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    axum::extract::Path(id): axum::extract::Path<String>,
    VendorForm { session, form }: VendorForm<ActionForm>,
) -> Response {
    let product = match own_product(&state, &session, &id).await {
        Ok(p) => p,
        Err(e) => return e.render(&nonce),
    };
    if !form.confirmed() {
        return Redirect::to(&format!("/vendor/products/{}/archive", product.id)).into_response();
    }
    let who = actor(&session.principal, &client);
    match souk_app::products::archive(&state.app, &who, session.vendor_id, product.id).await {
        Ok(p) => done(
            "/vendor/products",
            &format!("“{}” is archived: it left the shop.", p.title),
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
