//! `/api/admin/inventory`: stock levels across every vendor (low-stock lists, audits).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use souk_storage::catalog::{self, InventoryFilter, InventoryRow};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::ApiQuery;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InventoryParams {
    /// 1–100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only this product's variants.
    #[param(value_type = Option<Uuid>)]
    pub product_id: Option<String>,
    /// Only this vendor's variants.
    #[param(value_type = Option<Uuid>)]
    pub vendor_id: Option<String>,
    /// Only variants that track inventory and hold at most this many units (low stock).
    #[param(value_type = Option<i64>)]
    pub max_stock: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryItemBody {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub product_title: String,
    #[schema(value_type = crate::api::vocabulary::ProductStatus)]
    pub product_status: String,
    pub vendor_id: Uuid,
    pub sku: Option<String>,
    /// The variant's option values ("Red / L"), or "Default".
    pub title: String,
    /// Units on hand (not meaningful when `track_inventory` is false).
    pub stock: i64,
    pub track_inventory: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InventoryPage {
    pub items: Vec<InventoryItemBody>,
    pub next_cursor: Option<String>,
}

impl From<InventoryRow> for InventoryItemBody {
    fn from(r: InventoryRow) -> Self {
        InventoryItemBody {
            variant_id: r.variant_id,
            product_id: r.product_id,
            product_title: r.product_title,
            product_status: r.product_status,
            vendor_id: r.vendor_id,
            sku: r.sku,
            title: r.title,
            stock: r.stock,
            track_inventory: r.track_inventory,
        }
    }
}

impl InventoryParams {
    fn parse(&self) -> ApiResult<InventoryFilter> {
        let mut errors = Vec::new();
        let mut bad = |field: &str, message: &str| {
            errors.push(FieldError {
                field: field.into(),
                message: message.into(),
            })
        };
        let mut id = |field: &str, value: &Option<String>, message: &str| {
            value.as_deref().and_then(|v| match Uuid::try_parse(v) {
                Ok(id) => Some(id),
                Err(_) => {
                    bad(field, message);
                    None
                }
            })
        };
        let product_id = id("product_id", &self.product_id, "is not a product id");
        let vendor_id = id("vendor_id", &self.vendor_id, "is not a vendor id");
        let after = id("cursor", &self.cursor, "is not a cursor this API returned");
        let limit = match self.limit.as_deref().map(str::parse::<i64>) {
            None => 50,
            Some(Ok(n)) if (1..=100).contains(&n) => n,
            Some(_) => {
                bad("limit", "must be a whole number from 1 to 100");
                50
            }
        };
        let max_stock = match self.max_stock.as_deref().map(str::parse::<i64>) {
            None => None,
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => {
                bad("max_stock", "must be a whole number");
                None
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(InventoryFilter {
            product_id,
            vendor_id,
            max_stock,
            after,
            limit,
        })
    }
}

/// Stock of every variant across vendors, in a stable order; filter by product, vendor, or
/// low stock (`max_stock`).
#[utoipa::path(get, path = "/api/admin/inventory", tag = "admin", params(InventoryParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Variants with their stock", body = InventoryPage),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin (`forbidden`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(params): ApiQuery<InventoryParams>,
) -> ApiResult<Json<InventoryPage>> {
    let filter = params.parse()?;
    let rows = catalog::inventory(&state.db, &filter).await?;
    let next_cursor = (rows.len() as i64 == filter.limit)
        .then(|| rows.last().map(|r| r.variant_id.to_string()))
        .flatten();
    Ok(Json(InventoryPage {
        items: rows.into_iter().map(InventoryItemBody::from).collect(),
        next_cursor,
    }))
}
