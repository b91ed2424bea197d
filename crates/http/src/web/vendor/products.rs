//! The shop's products: the list, searched by words and filtered by status, newest first
//! (filters and cursor in the URL). Only this vendor's products are ever read.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;
use souk_storage::catalog::{ProductFilter, StockLevel};

use super::editor::own_product;
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
    stock: Option<String>,
    before: Option<String>,
}

/// The stock filter's choices: (value in the URL, label).
const STOCK_LEVELS: [(&str, &str); 3] = [
    ("in_stock", "In stock"),
    ("low", "Low stock (5 or fewer)"),
    ("sold_out", "Sold out"),
];

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
    let stock = text(query.stock);
    let level = match stock.as_deref().map(StockLevel::parse) {
        None => None,
        Some(Some(level)) => Some(level),
        Some(None) => {
            return PageError::new(
                StatusCode::BAD_REQUEST,
                "Unknown stock level",
                "pick a stock level from the list",
            )
            .render(&nonce);
        }
    };
    let Some(before) = cursor(query.before.as_deref()) else {
        return bad_cursor(&nonce);
    };
    let filter = ProductFilter {
        search: q.clone(),
        status: status.clone(),
        vendor_id: Some(session.vendor_id),
        stock: level,
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
        stock_levels => STOCK_LEVELS,
        filters => context! { q => q, status => status, stock => stock },
        older => next_cursor(rows.iter().map(|p| p.id), PAGE_SIZE),
        first_page => before.is_none(),
        ..chrome(&session.principal, &session.csrf, "products")
    };
    Page::new("vendor/products.html", ctx).render(&nonce, &flash)
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
