//! `/api/vendor/products`: a vendor's own catalog. Every query is scoped by the caller's
//! vendor, so another vendor's ids are simply not found.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_domain::catalog::Product;
use souk_domain::money::Currency;
use souk_storage::catalog;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{PageParams, actor, next_cursor, path_id};
use crate::api::schema::{CategoryRefBody, ImageBody, MoneyBody, MoneyInput, OptionBody};
use crate::auth::VendorStaff;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};
use souk_app::products::{self, ProductForm, VariantForm};

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

impl ProductInput {
    /// The form the use cases take; money in another currency is refused as a whole (422), as
    /// everywhere money is sent.
    fn into_form(self, currency: Currency) -> ApiResult<ProductForm> {
        let mut variants = Vec::with_capacity(self.variants.len());
        for (i, v) in self.variants.into_iter().enumerate() {
            let price = v
                .price
                .minor_units(&format!("variants[{i}].price"), currency)?;
            let compare_at_price = match &v.compare_at_price {
                Some(c) => {
                    Some(c.minor_units(&format!("variants[{i}].compare_at_price"), currency)?)
                }
                None => None,
            };
            variants.push(VariantForm {
                sku: v.sku,
                options: v.options,
                price,
                compare_at_price,
                stock: v.stock,
                track_inventory: v.track_inventory,
                grams: v.grams,
            });
        }
        Ok(ProductForm {
            handle: self.handle,
            title: self.title,
            description_html: self.description_html,
            product_type: self.product_type,
            tags: self.tags,
            status: self.status,
            categories: self.categories,
            options: self.options,
            variants,
            images: self.images.into_iter().map(|i| (i.url, i.alt)).collect(),
        })
    }
}

async fn load(state: &AppState, staff: &VendorStaff, id: Uuid) -> ApiResult<Product> {
    Ok(products::get(&state.app, staff.vendor_id, id).await?)
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
    // Handles and SKUs are global names: a vendor awaiting approval takes none, so applying
    // cannot squat the names a real vendor's catalog needs.
    staff.require_approved()?;
    let form = input.into_form(state.config.currency)?;
    let who = actor(&staff.principal, &client);
    let product = products::create(&state.app, &who, staff.vendor_id, form).await?;
    Ok((StatusCode::CREATED, Json(product.into())))
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
    staff.require_approved()?;
    let form = input.into_form(state.config.currency)?;
    let who = actor(&staff.principal, &client);
    let product = products::replace(&state.app, &who, staff.vendor_id, id, form).await?;
    Ok(Json(product.into()))
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
    let who = actor(&staff.principal, &client);
    let product = products::archive(&state.app, &who, staff.vendor_id, id).await?;
    Ok(Json(product.into()))
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
    let who = actor(&staff.principal, &client);
    let product = products::set_stock(&state.app, &who, staff.vendor_id, id, input.stock).await?;
    Ok(Json(product.into()))
}

/// An image upload (`multipart/form-data`).
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart body for the document; the handler reads the parts.
pub struct ImageUpload {
    /// The image: JPEG, PNG or WebP (recognised by its content, not its name), at most 20 MB,
    /// 12,000 pixels on a side and 50 megapixels. It is re-encoded: metadata is not kept.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// Describes the image for shoppers who cannot see it (at most 512 characters).
    alt: Option<String>,
}

/// A multipart body that cannot be read: 413 when it is too large, else 400.
fn unreadable(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return crate::extract::payload_too_large();
    }
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_multipart",
        "Invalid multipart body",
        e.body_text(),
    )
}

/// Upload an image for one of your products; it is added after the product's other images.
/// Stored once per content (its URL names its bytes: `/media/<sha256>.jpg`) with thumbnails
/// 160, 480 and 960 pixels wide, served with a year-long cache lifetime.
#[utoipa::path(post, path = "/api/vendor/products/{id}/images", operation_id = "vendor_upload_product_image", tag = "vendor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Product id")),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "The product with the new image last", body = VendorProductBody),
        (status = 400, description = "No `file` part, or an unreadable body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not one of your products", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`too_many_images`: the product has 250", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is larger than an image may be", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`not_an_image`, `image_damaged`, `image_too_many_pixels` or `image_too_large`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn upload_image(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    Path(id): Path<String>,
    mut multipart: axum::extract::Multipart,
) -> ApiResult<(StatusCode, Json<VendorProductBody>)> {
    staff.require_approved()?;
    let id = path_id(&id, "product")?;
    let mut file = None;
    let mut alt = String::new();
    while let Some(field) = multipart.next_field().await.map_err(unreadable)? {
        match field.name() {
            Some("file") => file = Some(field.bytes().await.map_err(unreadable)?.to_vec()),
            Some("alt") => alt = field.text().await.map_err(unreadable)?,
            _ => {}
        }
    }
    let Some(file) = file else {
        return Err(ApiError::validation(vec![crate::error::FieldError {
            field: "file".into(),
            message: "attach the image as the `file` part".into(),
        }]));
    };
    let who = actor(&staff.principal, &client);
    let product =
        souk_app::product_images::add(&state.app, &who, staff.vendor_id, id, file, &alt).await?;
    Ok((StatusCode::CREATED, Json(product.into())))
}
