//! `/api/vendor/products`: a vendor's own catalog. Every query is scoped by the caller's
//! vendor, so another vendor's ids are simply not found.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_domain::catalog::{
    Handle, ImageDraft, MAX_STOCK, Product, ProductDraft, ProductStatus, VariantDraft,
};
use souk_domain::html;
use souk_domain::money::Currency;
use souk_storage::{catalog, now_ms};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{PageParams, audit, next_cursor, path_id};
use crate::api::schema::{CategoryRefBody, ImageBody, MoneyBody, MoneyInput, OptionBody};
use crate::auth::VendorStaff;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiQuery};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    pub sku: Option<String>,
    /// One value per product option, in order.
    #[serde(default)]
    pub options: Vec<String>,
    pub price: MoneyInput,
    pub compare_at_price: Option<MoneyInput>,
    /// Units on hand. Omitted: an existing variant keeps its current stock (a new one starts at
    /// 0), so saving a product loaded earlier does not undo the sales made since; to change only
    /// the count use `PUT /api/vendor/variants/{id}/stock`.
    #[serde(default)]
    pub stock: Option<i64>,
    /// `false`: always available, stock not counted. Default `true`.
    #[serde(default = "yes")]
    pub track_inventory: bool,
    #[serde(default)]
    pub grams: i64,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageInput {
    pub url: String,
    #[serde(default)]
    pub alt: String,
}

/// A whole product as the vendor describes it (create, or replace with PUT).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub handle: String,
    pub title: String,
    /// HTML; sanitized with an allow-list before it is stored.
    #[serde(default)]
    pub description_html: String,
    #[serde(default)]
    pub product_type: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// `draft` (default), `published` or `archived`.
    #[serde(default)]
    #[schema(value_type = Option<crate::api::vocabulary::ProductStatus>)]
    pub status: Option<String>,
    /// Category handles (they must exist).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Up to 3 option names (e.g. `Size`, `Colour`).
    #[serde(default)]
    pub options: Vec<String>,
    pub variants: Vec<VariantInput>,
    #[serde(default)]
    pub images: Vec<ImageInput>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockInput {
    /// The new quantity on hand (0 or more).
    pub stock: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorVariantBody {
    pub id: Uuid,
    pub sku: Option<String>,
    pub title: String,
    pub options: BTreeMap<String, String>,
    pub price: MoneyBody,
    pub compare_at_price: Option<MoneyBody>,
    pub stock: i64,
    pub track_inventory: bool,
    pub grams: i64,
    pub available: bool,
}

/// A product as its vendor sees it: any status, with stock levels.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorProductBody {
    pub id: Uuid,
    pub handle: String,
    pub title: String,
    #[schema(value_type = crate::api::vocabulary::ProductStatus)]
    pub status: String,
    pub description_html: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub categories: Vec<CategoryRefBody>,
    pub images: Vec<ImageBody>,
    pub options: Vec<OptionBody>,
    pub variants: Vec<VendorVariantBody>,
}

impl From<Product> for VendorProductBody {
    fn from(p: Product) -> Self {
        VendorProductBody {
            id: p.id,
            handle: p.handle,
            title: p.title,
            status: p.status.as_str().to_owned(),
            description_html: p.description_html,
            product_type: p.product_type,
            tags: p.tags,
            categories: p.categories.into_iter().map(Into::into).collect(),
            images: p.images.into_iter().map(Into::into).collect(),
            options: p.options.into_iter().map(Into::into).collect(),
            variants: p
                .variants
                .into_iter()
                .map(|v| VendorVariantBody {
                    available: v.available(),
                    id: v.id,
                    sku: v.sku,
                    title: v.title,
                    options: v.options.into_iter().collect(),
                    price: v.price.into(),
                    compare_at_price: v.compare_at_price.map(Into::into),
                    stock: v.stock,
                    track_inventory: v.track_inventory,
                    grams: v.grams,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorProductPage {
    pub items: Vec<VendorProductBody>,
    pub next_cursor: Option<String>,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Turns the input into a valid draft and its category ids, or every problem at once.
async fn to_draft(state: &AppState, input: ProductInput) -> ApiResult<(ProductDraft, Vec<Uuid>)> {
    let currency: Currency = state.config.currency;
    // Another currency is refused as a whole (422), as everywhere money is sent.
    for (i, v) in input.variants.iter().enumerate() {
        v.price
            .minor_units(&format!("variants[{i}].price"), currency)?;
        if let Some(c) = &v.compare_at_price {
            c.minor_units(&format!("variants[{i}].compare_at_price"), currency)?;
        }
    }
    let mut errors = Vec::new();
    let handle = Handle::parse(&input.handle)
        .map_err(|e| errors.push(err("handle", e.to_string())))
        .ok();
    let status = match input.status.as_deref() {
        None => ProductStatus::Draft,
        Some(s) => ProductStatus::parse(s).unwrap_or_else(|| {
            errors.push(err("status", "must be draft, published or archived"));
            ProductStatus::Draft
        }),
    };
    let mut money = |field: String, m: &MoneyInput| -> i64 {
        if m.amount < 0 {
            errors.push(err(field + ".amount", "must not be negative"));
        }
        m.amount
    };
    let variants: Vec<VariantDraft> = input
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
            price: money(format!("variants[{i}].price"), &v.price),
            compare_at_price: v
                .compare_at_price
                .as_ref()
                .map(|c| money(format!("variants[{i}].compare_at_price"), c)),
            stock: v.stock,
            track_inventory: v.track_inventory,
            grams: v.grams,
        })
        .collect();
    let categories = catalog::category_ids(&state.db, &input.categories).await?;
    for handle in &input.categories {
        if !categories.contains_key(handle) {
            errors.push(err(
                "categories",
                format!("no category with handle '{handle}'"),
            ));
        }
    }
    let Some(handle) = handle else {
        return Err(ApiError::validation(errors));
    };
    let draft = ProductDraft {
        handle,
        title: input.title.trim().to_owned(),
        description_html: html::sanitize(&input.description_html),
        product_type: input.product_type.trim().to_owned(),
        tags: input
            .tags
            .iter()
            .map(|t| t.trim().replace(',', " "))
            .filter(|t| !t.is_empty())
            .collect(),
        status,
        category_path: Vec::new(),
        option_names: input.options.iter().map(|o| o.trim().to_owned()).collect(),
        variants,
        images: input
            .images
            .into_iter()
            .map(|i| ImageDraft {
                url: i.url,
                alt: i.alt,
            })
            .collect(),
    };
    errors.extend(draft.validate().into_iter().map(|p| err("body", p)));
    if errors.is_empty() {
        Ok((
            draft,
            input
                .categories
                .iter()
                .filter_map(|h| categories.get(h).copied())
                .collect(),
        ))
    } else {
        Err(ApiError::validation(errors))
    }
}

fn conflict(code: &'static str, detail: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, code, "Conflict", detail)
}

/// Writes a draft for the caller's vendor (create or replace), with the same checks as imports.
async fn save(
    state: &AppState,
    staff: &VendorStaff,
    client: &ClientInfo,
    draft: &ProductDraft,
    categories: &[Uuid],
    action: &str,
) -> ApiResult<Uuid> {
    // Handles and SKUs are global names: a vendor awaiting approval takes none, so applying
    // cannot squat the names a real vendor's catalog needs.
    staff.require_approved()?;
    let vendor = catalog::vendor_by_id(&state.db, staff.vendor_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    let conflicts = catalog::find_conflicts(&state.db, &vendor.handle, &[draft]).await?;
    if !conflicts.handles.is_empty() {
        return Err(conflict(
            "handle_taken",
            format!("the handle '{}' is taken", draft.handle),
        ));
    }
    if let Some((sku, _)) = conflicts.skus.iter().next() {
        return Err(conflict(
            "sku_taken",
            format!("the SKU '{sku}' is used by another product"),
        ));
    }
    let mut tx = state.db.begin_write().await?;
    let id = match catalog::upsert_product(
        &mut tx,
        &vendor,
        draft,
        categories,
        state.config.currency,
        now_ms(),
    )
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
    audit(
        &mut tx,
        &staff.principal,
        &client.ip,
        action,
        "product",
        id,
        Some(vendor.id),
        serde_json::json!({"handle": draft.handle}),
    )
    .await?;
    let change = if action.ends_with("create") {
        "created"
    } else {
        "replaced"
    };
    product_updated(
        &mut tx,
        vendor.id,
        id,
        serde_json::json!({"change": change, "handle": draft.handle.as_str()}),
    )
    .await?;
    tx.commit().await?;
    state.invalidate_catalog();
    // Wakes the worker for the `product.updated` webhook deliveries.
    state.wake_jobs();
    Ok(id)
}

/// Records `product.updated` for the vendor's stream and webhooks (and platform webhooks), in
/// the transaction of the change.
async fn product_updated(
    tx: &mut souk_storage::Tx,
    vendor_id: Uuid,
    product_id: Uuid,
    mut data: serde_json::Value,
) -> ApiResult<()> {
    data["product_id"] = serde_json::json!(product_id);
    data["vendor_id"] = serde_json::json!(vendor_id);
    souk_storage::events::emit(tx, "product.updated", None, Some(vendor_id), &data).await?;
    Ok(())
}

async fn load(state: &AppState, staff: &VendorStaff, id: Uuid) -> ApiResult<Product> {
    catalog::vendor_product(&state.db, staff.vendor_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such product"))
}

/// Your products, newest first (`status`: draft, published, archived).
#[utoipa::path(get, path = "/api/vendor/products", operation_id = "vendor_list_products", tag = "vendor", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Your products", body = VendorProductPage),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff (`forbidden`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    staff: VendorStaff,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<VendorProductPage>> {
    let (limit, cursor, status) = params.parse(&crate::api::vocabulary::ProductStatus::values())?;
    let products =
        catalog::vendor_products(&state.db, staff.vendor_id, status.as_deref(), cursor, limit)
            .await?;
    let next = next_cursor(products.iter().map(|p| p.id), products.len(), limit);
    Ok(Json(VendorProductPage {
        items: products.into_iter().map(Into::into).collect(),
        next_cursor: next,
    }))
}

/// Create a product.
#[utoipa::path(post, path = "/api/vendor/products", operation_id = "vendor_create_product", tag = "vendor", request_body = ProductInput, security(("bearer" = [])),
    responses(
        (status = 422, description = "An amount in another currency than the shop's (`currency_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 201, description = "Created", body = VendorProductBody),
        (status = 400, description = "Invalid product (`validation_failed`, `invalid_json`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff, CSRF, or the vendor is not approved yet (`vendor_not_approved`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Handle or SKU taken (`handle_taken`, `sku_taken`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    ApiJson(input): ApiJson<ProductInput>,
) -> ApiResult<(StatusCode, Json<VendorProductBody>)> {
    staff.require_approved()?;
    let (draft, categories) = to_draft(&state, input).await?;
    if catalog::product_by_handle(&state.db, draft.handle.as_str(), false)
        .await?
        .is_some()
    {
        return Err(conflict(
            "handle_taken",
            format!("the handle '{}' is taken", draft.handle),
        ));
    }
    let id = save(
        &state,
        &staff,
        &client,
        &draft,
        &categories,
        "product.create",
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(load(&state, &staff, id).await?.into()),
    ))
}

/// One of your products.
#[utoipa::path(get, path = "/api/vendor/products/{id}", operation_id = "vendor_get_product", tag = "vendor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 200, description = "The product", body = VendorProductBody),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of your products", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    staff: VendorStaff,
    Path(id): Path<String>,
) -> ApiResult<Json<VendorProductBody>> {
    let id = path_id(&id, "product")?;
    Ok(Json(load(&state, &staff, id).await?.into()))
}

/// Replace one of your products (fields, variants — kept by option values — images, categories).
/// The handle cannot change.
#[utoipa::path(put, path = "/api/vendor/products/{id}", operation_id = "vendor_replace_product", tag = "vendor", request_body = ProductInput, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 422, description = "An amount in another currency than the shop's (`currency_mismatch`)", body = Problem, content_type = "application/problem+json"),
        (status = 200, description = "Updated", body = VendorProductBody),
        (status = 400, description = "Invalid product", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of your products", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken (`sku_taken`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ProductInput>,
) -> ApiResult<Json<VendorProductBody>> {
    let id = path_id(&id, "product")?;
    let existing = load(&state, &staff, id).await?;
    let (draft, categories) = to_draft(&state, input).await?;
    if draft.handle.as_str() != existing.handle {
        return Err(ApiError::validation(vec![err(
            "handle",
            "cannot be changed",
        )]));
    }
    save(
        &state,
        &staff,
        &client,
        &draft,
        &categories,
        "product.update",
    )
    .await?;
    Ok(Json(load(&state, &staff, id).await?.into()))
}

/// Archive one of your products: it leaves the storefront but stays in your catalog.
#[utoipa::path(post, path = "/api/vendor/products/{id}/archive", operation_id = "vendor_archive_product", tag = "vendor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    responses(
        (status = 200, description = "Archived", body = VendorProductBody),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of your products", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn archive(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<Json<VendorProductBody>> {
    let id = path_id(&id, "product")?;
    let mut tx = state.db.begin_write().await?;
    if !catalog::set_product_status(&mut tx, staff.vendor_id, id, "archived").await? {
        return Err(ApiError::not_found("no such product"));
    }
    audit(
        &mut tx,
        &staff.principal,
        &client.ip,
        "product.archive",
        "product",
        id,
        Some(staff.vendor_id),
        serde_json::json!({}),
    )
    .await?;
    product_updated(
        &mut tx,
        staff.vendor_id,
        id,
        serde_json::json!({"change": "archived"}),
    )
    .await?;
    tx.commit().await?;
    state.invalidate_catalog();
    // Wakes the worker for the `product.updated` webhook deliveries.
    state.wake_jobs();
    Ok(Json(load(&state, &staff, id).await?.into()))
}

/// Set the stock of one of your variants.
#[utoipa::path(put, path = "/api/vendor/variants/{id}/stock", tag = "vendor", request_body = StockInput, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Variant id")),
    responses(
        (status = 200, description = "The product with the new stock", body = VendorProductBody),
        (status = 400, description = "Negative or invalid stock", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of your variants", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_stock(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StockInput>,
) -> ApiResult<Json<VendorProductBody>> {
    let id = path_id(&id, "variant")?;
    if !(0..=MAX_STOCK).contains(&input.stock) {
        return Err(ApiError::validation(vec![err(
            "stock",
            format!("must be a whole number from 0 to {MAX_STOCK}"),
        )]));
    }
    let mut tx = state.db.begin_write().await?;
    let product_id = catalog::set_variant_stock(&mut tx, staff.vendor_id, id, input.stock)
        .await?
        .ok_or_else(|| ApiError::not_found("no such variant"))?;
    audit(
        &mut tx,
        &staff.principal,
        &client.ip,
        "variant.stock",
        "variant",
        id,
        Some(staff.vendor_id),
        serde_json::json!({"stock": input.stock}),
    )
    .await?;
    product_updated(
        &mut tx,
        staff.vendor_id,
        product_id,
        serde_json::json!({"change": "stock", "variant_id": id, "stock": input.stock}),
    )
    .await?;
    tx.commit().await?;
    state.invalidate_catalog();
    // Wakes the worker for the `product.updated` webhook deliveries.
    state.wake_jobs();
    Ok(Json(load(&state, &staff, product_id).await?.into()))
}
