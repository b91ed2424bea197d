//! Prices and stock of many variants on one page: the bulk edit. Each row carries the values
//! it was shown with, so only what the seller changed is saved (a stock level that sales
//! moved meanwhile is not reset), all in one transaction.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use souk_app::products::VariantEdit;
use souk_app::{AppError, FieldProblem};
use souk_domain::money::{Currency, format_decimal, parse_decimal};
use souk_storage::catalog::{InventoryFilter, InventoryRow};
use uuid::Uuid;

use super::{VendorForm, VendorSession, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::panel::done;
use crate::web::session::CsrfField;
use crate::web::{CspNonce, Flash, Page, PageError};

const PAGE_SIZE: i64 = 50;

/// Which variants: the low-stock ones, one product's, and the page (`after` a variant id).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct InventoryQuery {
    #[serde(default)]
    low: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    after: String,
}

impl InventoryQuery {
    fn filter(&self, vendor_id: Uuid) -> Option<InventoryFilter> {
        let id = |text: &str| match text.trim() {
            "" => Some(None),
            t => Uuid::parse_str(t).ok().map(Some),
        };
        Some(InventoryFilter {
            product_id: id(&self.product)?,
            vendor_id: Some(vendor_id),
            max_stock: (self.low == "1").then_some(souk_domain::cart::LOW_STOCK_THRESHOLD),
            after: id(&self.after)?,
            limit: PAGE_SIZE,
        })
    }
}

/// The rows' inputs: `price:<variant id>`, `stock:<variant id>` and the values they were
/// shown with (`price_was:…`, `stock_was:…`), plus the list's filters to show it again.
#[derive(Debug, Default, Deserialize)]
pub struct InventoryForm {
    #[serde(default)]
    csrf: String,
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

impl CsrfField for InventoryForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl InventoryForm {
    fn get(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", |v| v.trim())
    }

    fn query(&self) -> InventoryQuery {
        InventoryQuery {
            low: self.get("low").to_owned(),
            product: self.get("product").to_owned(),
            after: self.get("after").to_owned(),
        }
    }

    /// The changed values, or the problems beside their fields.
    fn edits(&self, currency: Currency) -> Result<Vec<VariantEdit>, Vec<FieldProblem>> {
        let mut edits = Vec::new();
        let mut problems = Vec::new();
        for (name, was) in &self.fields {
            let Some(id) = name.strip_prefix("price_was:") else {
                continue;
            };
            let Ok(variant_id) = Uuid::parse_str(id) else {
                continue;
            };
            let mut edit = VariantEdit {
                variant_id,
                price: None,
                stock: None,
            };
            let price = self.get(&format!("price:{id}"));
            if !price.is_empty() && price != was.trim() {
                match parse_decimal(price, currency) {
                    Ok(p) => edit.price = Some(p),
                    Err(_) => problems.push(FieldProblem {
                        field: format!("{id}.price"),
                        message: "a price such as 12.50".into(),
                    }),
                }
            }
            let stock = self.get(&format!("stock:{id}"));
            if !stock.is_empty() && stock != self.get(&format!("stock_was:{id}")) {
                match stock.parse::<i64>() {
                    Ok(s) => edit.stock = Some(s),
                    Err(_) => problems.push(FieldProblem {
                        field: format!("{id}.stock"),
                        message: "a whole number of units".into(),
                    }),
                }
            }
            if edit.price.is_some() || edit.stock.is_some() {
                edits.push(edit);
            }
        }
        if problems.is_empty() {
            Ok(edits)
        } else {
            Err(problems)
        }
    }
}

fn row(r: &InventoryRow, typed: Option<&InventoryForm>) -> minijinja::Value {
    let id = r.variant_id.to_string();
    let price = Currency::parse(&r.currency)
        .map_or_else(|_| r.price.to_string(), |c| format_decimal(r.price, c));
    let shown = |name: &str, stored: String| {
        typed
            .and_then(|t| t.fields.get(&format!("{name}:{id}")).cloned())
            .unwrap_or(stored)
    };
    context! {
        id => id, product_id => r.product_id.to_string(), product => r.product_title,
        title => r.title, sku => r.sku, status => r.product_status,
        currency => r.currency, price_was => price.clone(), price => shown("price", price),
        stock_was => r.stock, stock => shown("stock", r.stock.to_string()),
        tracked => r.track_inventory,
    }
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    flash: &Flash,
    query: &InventoryQuery,
    typed: Option<&InventoryForm>,
    problems: Vec<FieldProblem>,
    status: StatusCode,
) -> Response {
    let Some(filter) = query.filter(session.vendor_id) else {
        return crate::web::panel::bad_cursor(nonce);
    };
    let rows = match souk_storage::catalog::inventory(&state.db, &filter).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let next = (rows.len() as i64 == PAGE_SIZE)
        .then(|| rows.last().map(|r| r.variant_id.to_string()))
        .flatten();
    let beside: HashMap<String, String> = problems
        .iter()
        .map(|p| (p.field.clone(), p.message.clone()))
        .collect();
    let ctx = context! {
        rows => rows.iter().map(|r| row(r, typed)).collect::<Vec<_>>(),
        filters => context! { low => query.low == "1", product => query.product.trim(), after => query.after.trim() },
        next => next,
        problems => problems.iter().map(|p| context! { field => p.field, message => p.message }).collect::<Vec<_>>(),
        beside => beside,
        ..chrome(&session.principal, &session.csrf, "products")
    };
    Page::new("vendor/inventory.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn show(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<InventoryQuery>,
) -> Response {
    page(
        &state,
        &session,
        &nonce,
        &flash,
        &query,
        None,
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

pub async fn save(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    VendorForm { session, form }: VendorForm<InventoryForm>,
) -> Response {
    let query = form.query();
    let refused = |problems, status| {
        page(
            &state,
            &session,
            &nonce,
            &Flash(None),
            &query,
            Some(&form),
            problems,
            status,
        )
    };
    let edits = match form.edits(state.app.settings.currency) {
        Ok(edits) => edits,
        Err(problems) => return refused(problems, StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    let who = actor(&session.principal, &client);
    match souk_app::products::bulk_edit(&state.app, &who, session.vendor_id, &edits).await {
        Ok(changed) => {
            let back = format!(
                "/vendor/inventory?{}",
                serde_urlencoded::to_string([
                    ("low", query.low.as_str()),
                    ("product", query.product.as_str()),
                    ("after", query.after.as_str()),
                ])
                .unwrap_or_default()
            );
            let message = match changed {
                0 => "Nothing changed.".to_owned(),
                1 => "Saved 1 variant: the shop shows it now.".to_owned(),
                n => format!("Saved {n} variants: the shop shows them now."),
            };
            done(&back, &message)
        }
        Err(AppError::Refused {
            kind,
            fields,
            detail,
            ..
        }) if kind != souk_app::Kind::NotFound => {
            let problems = if fields.is_empty() {
                vec![FieldProblem {
                    field: "variants".into(),
                    message: detail,
                }]
            } else {
                fields
            };
            refused(problems, crate::web::form_status(kind)).await
        }
        Err(e) => PageError::from(e).render(&nonce),
    }
}
