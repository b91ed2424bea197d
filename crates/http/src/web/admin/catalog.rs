//! Catalog oversight in the admin panel: every vendor's products (search, status and vendor
//! filters), taking one off sale or putting it back with a reason the vendor is told, and the
//! category tree (create, rename, move, delete).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_domain::catalog::{CategoryNode, ProductStatus, category_tree};
use souk_storage::catalog::ProductFilter;
use uuid::Uuid;

use super::{AdminForm, AdminSession, Confirm, CsrfField, chrome, done, refusal};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::panel::product_row;
use crate::web::{CspNonce, Flash, Page, PageError};

const PAGE_SIZE: i64 = 25;
const STATUSES: [&str; 3] = ["draft", "published", "archived"];

#[derive(Debug, Default, Deserialize)]
pub struct ProductsQuery {
    q: Option<String>,
    status: Option<String>,
    vendor: Option<String>,
    before: Option<String>,
}

pub async fn products(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<ProductsQuery>,
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
    let vendor = match text(query.vendor).map(|v| Uuid::parse_str(&v)) {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            return PageError::new(
                StatusCode::BAD_REQUEST,
                "Bad vendor",
                "pick the vendor again",
            )
            .render(&nonce);
        }
    };
    let Some(before) = super::cursor(query.before.as_deref()) else {
        return super::bad_cursor(&nonce);
    };
    let filter = ProductFilter {
        search: q.clone(),
        status: status.clone(),
        vendor_id: vendor,
        stock: None,
        before,
        limit: PAGE_SIZE,
    };
    let rows = match souk_storage::catalog::all_products(&state.db, &filter).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let older = super::next_cursor(rows.iter().map(|p| p.id), PAGE_SIZE);
    let products: Vec<Value> = rows.iter().map(product_row).collect();
    let ctx = context! {
        products => products,
        statuses => STATUSES,
        filters => context! { q => q, status => status, vendor => vendor.map(|v| v.to_string()) },
        older => older,
        first_page => before.is_none(),
        ..chrome(&session, "products")
    };
    Page::new("admin/products.html", ctx).render(&nonce, &flash)
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusQuery {
    to: Option<String>,
}

/// What taking a product to `status` means, for the confirmation.
fn status_words(status: ProductStatus) -> (&'static str, &'static str) {
    match status {
        ProductStatus::Draft => (
            "Unpublish",
            "It leaves the shop now and stays a draft the vendor can edit and publish again.",
        ),
        ProductStatus::Archived => (
            "Archive",
            "It leaves the shop now; the vendor sees it archived. Orders already placed stay as they are.",
        ),
        ProductStatus::Published => ("Publish", "It is on sale in the shop again."),
    }
}

async fn status_confirm(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    id: Uuid,
    to: ProductStatus,
    problem: Option<String>,
) -> Response {
    let vendor = match souk_storage::catalog::product_vendor(&state.db, id).await {
        Ok(Some(v)) => v,
        Ok(None) => return PageError::not_found("no such product").render(nonce),
        Err(e) => return PageError::from(e).render(nonce),
    };
    let product = match souk_app::products::get(&state.app, vendor, id).await {
        Ok(p) => p,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (verb, explain) = status_words(to);
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let ctx = context! {
        confirm => Confirm {
            title: format!("{verb} “{}” by {}?", product.title, product.vendor.name),
            explain: vec![explain.to_owned()],
            action: format!("/admin/products/{id}/status"),
            hidden: vec![("to", to.as_str().to_owned())],
            reason: Some(if to == ProductStatus::Published {
                "Note to the vendor (optional)".to_owned()
            } else {
                "Reason (the vendor is told)".to_owned()
            }),
            problem,
            button: format!("{verb} the product"),
            back: "/admin/products".to_owned(),
        },
        ..chrome(session, "products")
    };
    Page::new("panel/confirm.html", ctx)
        .with_status(status)
        .render(nonce, &Flash(None))
}

fn parse_status(to: Option<&str>) -> Option<ProductStatus> {
    to.and_then(ProductStatus::parse)
}

/// "Archive this product?", with the reason to give.
pub async fn confirm_status(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    Path(id): Path<String>,
    Query(query): Query<StatusQuery>,
) -> Response {
    let (Ok(id), Some(to)) = (Uuid::parse_str(&id), parse_status(query.to.as_deref())) else {
        return PageError::not_found("no such product or status").render(&nonce);
    };
    status_confirm(&state, &session, &nonce, id, to, None).await
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    confirm: String,
}

impl CsrfField for StatusForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn set_status(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<StatusForm>,
) -> Response {
    let (Ok(id), Some(to)) = (Uuid::parse_str(&id), parse_status(Some(&form.to))) else {
        return PageError::not_found("no such product or status").render(&nonce);
    };
    if form.confirm != "yes" {
        let back = format!("/admin/products/{id}/status?to={}", to.as_str());
        return Redirect::to(&back).into_response();
    }
    let actor = actor(&session.principal, &client);
    match souk_app::products::set_status_by_staff(&state.app, &actor, id, to, &form.reason).await {
        Ok(p) => done(
            "/admin/products",
            &format!("“{}” is {} now.", p.title, to.as_str()),
        ),
        Err(souk_app::AppError::Refused { fields, detail, .. }) if !fields.is_empty() => {
            let message = fields.into_iter().next().map_or(detail, |f| f.message);
            status_confirm(&state, &session, &nonce, id, to, Some(message)).await
        }
        Err(e) => PageError::from(e).render(&nonce),
    }
}

/// The tree as rows in reading order, each with its depth (for indentation and the parent
/// picker).
fn flatten(
    nodes: &[CategoryNode],
    depth: usize,
    parent: Option<&str>,
    positions: &HashMap<Uuid, i64>,
    out: &mut Vec<Value>,
) {
    for n in nodes {
        out.push(context! {
            id => n.id.to_string(), name => n.name, handle => n.handle, depth => depth,
            indent => "— ".repeat(depth), parent => parent, children => n.children.len(),
            position => positions.get(&n.id).copied().unwrap_or(0),
        });
        flatten(&n.children, depth + 1, Some(&n.handle), positions, out);
    }
}

/// The category page; `problem` (a refused form) is shown beside its field.
async fn categories_page(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    flash: &Flash,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let all = match souk_storage::catalog::all_categories(&state.db).await {
        Ok(all) => all,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let positions: HashMap<Uuid, i64> = all.iter().map(|c| (c.id, c.position)).collect();
    let mut rows = Vec::new();
    flatten(&category_tree(all), 0, None, &positions, &mut rows);
    let (status, problem) = super::with_problem(problem);
    let ctx = context! {
        categories => rows,
        problem => problem,
        ..chrome(session, "categories")
    };
    Page::new("admin/categories.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn categories(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    categories_page(&state, &session, &nonce, &flash, None).await
}

#[derive(Debug, Deserialize)]
pub struct CategoryForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    handle: String,
    /// Handle of the parent; empty for a root.
    #[serde(default)]
    parent: String,
    #[serde(default)]
    position: String,
}

impl CsrfField for CategoryForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// A refused category form: the page again with the message beside the field.
async fn category_refused(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    form_name: &str,
    id: Option<Uuid>,
    form: &CategoryForm,
    e: souk_app::AppError,
) -> Response {
    match refusal(e, "name") {
        Ok(r) => {
            let problem = context! {
                form => form_name, id => id.map(|i| i.to_string()), field => r.field,
                message => r.message, name => form.name, handle => form.handle,
                parent => form.parent, position => form.position,
            };
            categories_page(
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

fn position_of(text: &str) -> Result<i64, souk_app::AppError> {
    match text.trim() {
        "" => Ok(0),
        t => t
            .parse::<i64>()
            .ok()
            .filter(|p| (0..=1_000_000).contains(p))
            .ok_or_else(|| souk_app::AppError::field("position", "a whole number from 0")),
    }
}

pub async fn create_category(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    AdminForm { session, form }: AdminForm<CategoryForm>,
) -> Response {
    let actor = actor(&session.principal, &client);
    let created = match position_of(&form.position) {
        Ok(position) => {
            let input = souk_app::categories::NewCategory {
                name: form.name.clone(),
                handle: optional(&form.handle),
                parent: optional(&form.parent),
                position,
            };
            souk_app::categories::create(&state.app, &actor, input).await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(c) => done(
            "/admin/categories",
            &format!("Category “{}” created.", c.name),
        ),
        Err(e) => category_refused(&state, &session, &nonce, "create", None, &form, e).await,
    }
}

pub async fn update_category(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<CategoryForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return PageError::not_found("no such category").render(&nonce);
    };
    let actor = actor(&session.principal, &client);
    let updated = match position_of(&form.position) {
        Ok(position) => {
            let change = souk_app::categories::CategoryChange {
                name: form.name.clone(),
                parent: optional(&form.parent),
                position,
            };
            souk_app::categories::update(&state.app, &actor, id, change).await
        }
        Err(e) => Err(e),
    };
    match updated {
        Ok(c) => done(
            "/admin/categories",
            &format!("Category “{}” saved.", c.name),
        ),
        Err(e) => category_refused(&state, &session, &nonce, "edit", Some(id), &form, e).await,
    }
}

/// "Delete this category?"
pub async fn confirm_delete_category(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    Path(id): Path<String>,
) -> Response {
    let found = match Uuid::parse_str(&id) {
        Ok(id) => souk_app::categories::get(&state.app, id).await,
        Err(_) => Err(souk_app::AppError::not_found("no such category")),
    };
    let category = match found {
        Ok(c) => c,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        confirm => Confirm {
            title: format!("Delete the category “{}”?", category.name),
            explain: vec![
                "Its products stay on sale and simply lose this category. A category with \
                 subcategories cannot be deleted: move or delete those first."
                    .to_owned(),
            ],
            action: format!("/admin/categories/{}/delete", category.id),
            button: format!("Delete “{}”", category.name),
            back: "/admin/categories".to_owned(),
            ..Default::default()
        },
        ..chrome(&session, "categories")
    };
    Page::new("panel/confirm.html", ctx).render(&nonce, &Flash(None))
}

pub async fn delete_category(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<super::ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return PageError::not_found("no such category").render(&nonce);
    };
    if !form.confirmed() {
        return Redirect::to(&format!("/admin/categories/{id}/delete")).into_response();
    }
    let actor = actor(&session.principal, &client);
    match souk_app::categories::delete(&state.app, &actor, id).await {
        Ok(()) => done("/admin/categories", "Category deleted."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
