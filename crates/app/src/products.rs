//! A vendor's own catalog: create or replace a product, archive it, set a variant's stock.
//! Every write is scoped by the vendor, audited, and announced as `product.updated` (stream and
//! webhooks) in its transaction; the storefront's cached pages are dropped after it.

use souk_domain::catalog::{
    Handle, ImageDraft, MAX_STOCK, Product, ProductDraft, ProductStatus, VariantDraft,
};
use souk_domain::html;
use souk_storage::{Tx, catalog, now_ms};
use uuid::Uuid;

use crate::{Actor, App, AppError, FieldProblem, Kind, record_audit};

/// A variant as the vendor describes it; prices in minor units of the shop's currency.
#[derive(Debug, Clone)]
pub struct VariantForm {
    pub sku: Option<String>,
    pub options: Vec<String>,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    /// `None`: an existing variant keeps its stock (a new one starts at 0).
    pub stock: Option<i64>,
    pub track_inventory: bool,
    pub grams: i64,
}

/// A whole product as the vendor describes it.
#[derive(Debug, Clone)]
pub struct ProductForm {
    pub handle: String,
    pub title: String,
    /// HTML; sanitized with an allow-list before it is stored.
    pub description_html: String,
    pub product_type: String,
    pub tags: Vec<String>,
    /// `draft` (default), `published` or `archived`.
    pub status: Option<String>,
    /// Category handles (they must exist).
    pub categories: Vec<String>,
    pub options: Vec<String>,
    pub variants: Vec<VariantForm>,
    /// (url, alt text)
    pub images: Vec<(String, String)>,
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        message: message.into(),
    }
}

fn conflict(code: &'static str, detail: String) -> AppError {
    AppError::refused(Kind::Conflict, code, "Conflict", detail)
}

/// Turns the form into a valid draft and its category ids, or every problem at once.
async fn to_draft(app: &App, form: ProductForm) -> Result<(ProductDraft, Vec<Uuid>), AppError> {
    let mut problems = Vec::new();
    let handle = Handle::parse(&form.handle)
        .map_err(|e| problems.push(problem("handle", e.to_string())))
        .ok();
    let status = match form.status.as_deref() {
        None => ProductStatus::Draft,
        Some(s) => ProductStatus::parse(s).unwrap_or_else(|| {
            problems.push(problem("status", "must be draft, published or archived"));
            ProductStatus::Draft
        }),
    };
    let mut money = |field: String, amount: i64| -> i64 {
        if amount < 0 {
            problems.push(problem(field + ".amount", "must not be negative"));
        }
        amount
    };
    let variants: Vec<VariantDraft> = form
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| VariantDraft {
            sku: v
                .sku
                .as_ref()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            option_values: v.options.iter().map(|o| o.trim().to_owned()).collect(),
            price: money(format!("variants[{i}].price"), v.price),
            compare_at_price: v
                .compare_at_price
                .map(|c| money(format!("variants[{i}].compare_at_price"), c)),
            stock: v.stock,
            track_inventory: v.track_inventory,
            grams: v.grams,
        })
        .collect();
    let categories = catalog::category_ids(&app.db, &form.categories).await?;
    for handle in &form.categories {
        if !categories.contains_key(handle) {
            problems.push(problem(
                "categories",
                format!("no category with handle '{handle}'"),
            ));
        }
    }
    let Some(handle) = handle else {
        return Err(AppError::invalid(problems));
    };
    let draft = ProductDraft {
        handle,
        title: form.title.trim().to_owned(),
        description_html: html::sanitize(&form.description_html),
        product_type: form.product_type.trim().to_owned(),
        tags: form
            .tags
            .iter()
            .map(|t| t.trim().replace(',', " "))
            .filter(|t| !t.is_empty())
            .collect(),
        status,
        category_path: Vec::new(),
        option_names: form.options.iter().map(|o| o.trim().to_owned()).collect(),
        variants,
        images: form
            .images
            .into_iter()
            .map(|(url, alt)| ImageDraft { url, alt })
            .collect(),
    };
    problems.extend(draft.validate().into_iter().map(|p| problem("body", p)));
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let ids = form
        .categories
        .iter()
        .filter_map(|h| categories.get(h).copied())
        .collect();
    Ok((draft, ids))
}

/// Records `product.updated` for the vendor's stream and webhooks (and platform webhooks), in
/// the transaction of the change.
async fn announce(
    tx: &mut Tx,
    vendor_id: Uuid,
    product_id: Uuid,
    mut data: serde_json::Value,
) -> Result<(), AppError> {
    data["product_id"] = serde_json::json!(product_id);
    data["vendor_id"] = serde_json::json!(vendor_id);
    crate::outbox::emit(tx, "product.updated", None, Some(vendor_id), &data).await?;
    Ok(())
}

/// Writes a draft for the vendor (create or replace), with the same checks as imports.
async fn save(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    draft: &ProductDraft,
    categories: &[Uuid],
    action: &str,
) -> Result<Uuid, AppError> {
    let vendor = catalog::vendor_by_id(&app.db, vendor_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    let conflicts = catalog::find_conflicts(&app.db, &vendor.handle, &[draft]).await?;
    if !conflicts.handles.is_empty() {
        return Err(AppError::handle_taken(&draft.handle));
    }
    if let Some((sku, _)) = conflicts.skus.iter().next() {
        return Err(conflict(
            "sku_taken",
            format!("the SKU '{sku}' is used by another product"),
        ));
    }
    let currency = app.settings.currency;
    let mut tx = app.db.begin_write().await?;
    let id = match catalog::upsert_product(&mut tx, &vendor, draft, categories, currency, now_ms())
        .await
    {
        Ok(id) => id,
        Err(e) if e.is_unique_violation() => {
            return Err(conflict(
                "conflict",
                "a handle or SKU was taken meanwhile; retry".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    record_audit(
        &mut tx,
        actor,
        action,
        ("product", id),
        Some(vendor.id),
        serde_json::json!({"handle": draft.handle}),
    )
    .await?;
    let change = if action.ends_with("create") {
        "created"
    } else {
        "replaced"
    };
    let data = serde_json::json!({"change": change, "handle": draft.handle.as_str()});
    announce(&mut tx, vendor.id, id, data).await?;
    tx.commit().await?;
    app.catalog_changed();
    // Wakes the worker for the `product.updated` webhook deliveries.
    app.jobs_committed();
    Ok(id)
}

/// One of the vendor's products, in any status.
pub async fn get(app: &App, vendor_id: Uuid, id: Uuid) -> Result<Product, AppError> {
    catalog::vendor_product(&app.db, vendor_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such product"))
}

pub async fn create(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    form: ProductForm,
) -> Result<Product, AppError> {
    let (draft, categories) = to_draft(app, form).await?;
    if catalog::product_by_handle(&app.db, draft.handle.as_str(), false)
        .await?
        .is_some()
    {
        return Err(AppError::handle_taken(&draft.handle));
    }
    let id = save(app, actor, vendor_id, &draft, &categories, "product.create").await?;
    get(app, vendor_id, id).await
}

/// Replaces a product (fields, variants — kept by option values — images, categories); the
/// handle cannot change.
pub async fn replace(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    id: Uuid,
    form: ProductForm,
) -> Result<Product, AppError> {
    let existing = get(app, vendor_id, id).await?;
    let (draft, categories) = to_draft(app, form).await?;
    if draft.handle.as_str() != existing.handle {
        return Err(AppError::field("handle", "cannot be changed"));
    }
    save(app, actor, vendor_id, &draft, &categories, "product.update").await?;
    get(app, vendor_id, id).await
}

/// Archives a product: it leaves the storefront but stays in the vendor's catalog.
pub async fn archive(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    id: Uuid,
) -> Result<Product, AppError> {
    let mut tx = app.db.begin_write().await?;
    if !catalog::set_product_status(&mut tx, vendor_id, id, "archived").await? {
        return Err(AppError::not_found("no such product"));
    }
    record_audit(
        &mut tx,
        actor,
        "product.archive",
        ("product", id),
        Some(vendor_id),
        serde_json::json!({}),
    )
    .await?;
    announce(
        &mut tx,
        vendor_id,
        id,
        serde_json::json!({"change": "archived"}),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    app.jobs_committed();
    get(app, vendor_id, id).await
}

/// Platform staff take a product off sale (`draft`: unpublished, `archived`) or put it back
/// (`published`), with the reason the vendor is told (required to take it off sale).
pub async fn set_status_by_staff(
    app: &App,
    actor: &Actor,
    id: Uuid,
    status: ProductStatus,
    reason: &str,
) -> Result<Product, AppError> {
    let reason = reason.trim();
    if reason.chars().count() > 200 || souk_domain::text::has_hidden_controls(reason) {
        return Err(AppError::field(
            "reason",
            "at most 200 characters, no control characters",
        ));
    }
    if reason.is_empty() && status != ProductStatus::Published {
        return Err(AppError::field("reason", "say why: the vendor is told"));
    }
    let vendor_id = catalog::product_vendor(&app.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such product"))?;
    let mut tx = app.db.begin_write().await?;
    if !catalog::set_product_status(&mut tx, vendor_id, id, status.as_str()).await? {
        return Err(AppError::not_found("no such product"));
    }
    record_audit(
        &mut tx,
        actor,
        "product.status",
        ("product", id),
        Some(vendor_id),
        serde_json::json!({"status": status.as_str(), "reason": reason}),
    )
    .await?;
    announce(
        &mut tx,
        vendor_id,
        id,
        serde_json::json!({"change": status.as_str(), "by": "platform", "reason": reason}),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    app.jobs_committed();
    get(app, vendor_id, id).await
}

/// Sets the stock of one of the vendor's variants; returns its product.
pub async fn set_stock(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    variant_id: Uuid,
    stock: i64,
) -> Result<Product, AppError> {
    if !(0..=MAX_STOCK).contains(&stock) {
        return Err(AppError::field(
            "stock",
            format!("must be a whole number from 0 to {MAX_STOCK}"),
        ));
    }
    let mut tx = app.db.begin_write().await?;
    let product_id = catalog::set_variant_stock(&mut tx, vendor_id, variant_id, stock)
        .await?
        .ok_or_else(|| AppError::not_found("no such variant"))?;
    record_audit(
        &mut tx,
        actor,
        "variant.stock",
        ("variant", variant_id),
        Some(vendor_id),
        serde_json::json!({"stock": stock}),
    )
    .await?;
    let data = serde_json::json!({"change": "stock", "variant_id": variant_id, "stock": stock});
    announce(&mut tx, vendor_id, product_id, data).await?;
    tx.commit().await?;
    app.catalog_changed();
    app.jobs_committed();
    get(app, vendor_id, product_id).await
}

/// One variant's new price and/or stock in a bulk edit (`None`: unchanged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantEdit {
    pub variant_id: Uuid,
    pub price: Option<i64>,
    pub stock: Option<i64>,
}

/// Most variants one bulk edit changes (a page of the prices-and-stock list is 50).
pub const MAX_BULK_EDITS: usize = 200;

/// Sets the prices and stock of many of the vendor's variants at once, all or nothing: one
/// unknown (or another vendor's) variant refuses the whole edit. Returns how many variants
/// changed. One audit entry for the edit, one `product.updated` per product touched.
pub async fn bulk_edit(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    edits: &[VariantEdit],
) -> Result<usize, AppError> {
    let mut problems = Vec::new();
    if edits.len() > MAX_BULK_EDITS {
        problems.push(problem(
            "variants",
            format!("at most {MAX_BULK_EDITS} variants at once"),
        ));
    }
    for e in edits {
        let field = |name: &str| format!("{}.{name}", e.variant_id);
        if e.price
            .is_some_and(|p| !(0..=souk_domain::catalog::MAX_PRICE).contains(&p))
        {
            problems.push(problem(
                field("price"),
                format!(
                    "a price from 0 to {}",
                    souk_domain::money::format_decimal(
                        souk_domain::catalog::MAX_PRICE,
                        app.settings.currency
                    )
                ),
            ));
        }
        if e.stock.is_some_and(|s| !(0..=MAX_STOCK).contains(&s)) {
            problems.push(problem(
                field("stock"),
                format!("a whole number from 0 to {MAX_STOCK}"),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let changes: Vec<&VariantEdit> = edits
        .iter()
        .filter(|e| e.price.is_some() || e.stock.is_some())
        .collect();
    if changes.is_empty() {
        return Ok(0);
    }
    let mut tx = app.db.begin_write().await?;
    let mut products: Vec<Uuid> = Vec::new();
    for e in &changes {
        let missing = || AppError::not_found(format!("no variant {} in your shop", e.variant_id));
        let mut product = None;
        if let Some(price) = e.price {
            product = Some(
                catalog::set_variant_price(&mut tx, vendor_id, e.variant_id, price)
                    .await?
                    .ok_or_else(missing)?,
            );
        }
        if let Some(stock) = e.stock {
            product = Some(
                catalog::set_variant_stock(&mut tx, vendor_id, e.variant_id, stock)
                    .await?
                    .ok_or_else(missing)?,
            );
        }
        if let Some(p) = product
            && !products.contains(&p)
        {
            products.push(p);
        }
    }
    let detail: Vec<serde_json::Value> = changes
        .iter()
        .map(
            |e| serde_json::json!({"variant_id": e.variant_id, "price": e.price, "stock": e.stock}),
        )
        .collect();
    record_audit(
        &mut tx,
        actor,
        "variant.bulk_edit",
        ("vendor", vendor_id),
        Some(vendor_id),
        serde_json::json!({"variants": detail}),
    )
    .await?;
    for product in &products {
        let data = serde_json::json!({"change": "variants"});
        announce(&mut tx, vendor_id, *product, data).await?;
    }
    tx.commit().await?;
    app.catalog_changed();
    app.jobs_committed();
    Ok(changes.len())
}
