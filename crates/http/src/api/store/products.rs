//! `GET /api/store/products` and `GET /api/store/products/{handle}`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use souk_domain::catalog::{Handle, ProductSort};
use souk_storage::catalog::{self, ListQuery};
use utoipa::IntoParams;

use crate::AppState;
use crate::api::schema::{FacetsBody, ProductBody, ProductPage};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::ApiQuery;

pub const MAX_LIMIT: u32 = 100;
pub const DEFAULT_LIMIT: u32 = 20;

/// Listing parameters. Values arrive as text and are validated together, so every bad parameter
/// is reported at once.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Full-text search over title, description, SKUs and vendor name; every word must match
    /// (as a prefix). Without `sort`, results are ranked best match first. When nothing
    /// matches, a word of 5+ letters with a one-letter slip is corrected (see `corrected_q`).
    q: Option<String>,
    /// Category handle; includes its descendant categories.
    category: Option<String>,
    /// Vendor handle.
    vendor: Option<String>,
    /// Lowest variant price to match, in minor units.
    #[param(value_type = Option<i64>, minimum = 0)]
    min_price: Option<String>,
    /// Highest variant price to match, in minor units.
    #[param(value_type = Option<i64>, minimum = 0)]
    max_price: Option<String>,
    /// `true`: only products with at least one variant available now.
    #[param(value_type = Option<bool>)]
    in_stock: Option<String>,
    /// `newest` (default without `q`), `price_asc`, `price_desc` (by lowest variant price),
    /// `title`, `relevance` (default with `q`).
    #[param(value_type = Option<crate::api::vocabulary::ProductSort>)]
    sort: Option<String>,
}

impl ListParams {
    fn validate(self) -> Result<ListQuery, ApiError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: &str| {
            errors.push(FieldError {
                field: field.to_owned(),
                message: message.to_owned(),
            })
        };
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(l) => match l.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    fail("limit", "must be a whole number from 1 to 100");
                    DEFAULT_LIMIT
                }
            },
        };
        let mut price = |field: &str, v: Option<String>| -> Option<i64> {
            let v = v?;
            match v.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => {
                    fail(
                        field,
                        "must be a whole number of minor units (cents), 0 or more",
                    );
                    None
                }
            }
        };
        let min_price = price("min_price", self.min_price);
        let max_price = price("max_price", self.max_price);
        if let (Some(min), Some(max)) = (min_price, max_price)
            && min > max
        {
            fail("max_price", "must not be less than min_price");
        }
        let in_stock = match self.in_stock.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                fail("in_stock", "must be true or false");
                false
            }
        };
        let search = self.q.filter(|q| !q.trim().is_empty());
        if search.as_ref().is_some_and(|q| q.len() > 500) {
            fail("q", "must be at most 500 characters");
        }
        let sort = match self.sort.as_deref() {
            None if search.is_some() => ProductSort::Relevance,
            None => ProductSort::Newest,
            Some(s) => match ProductSort::parse(s) {
                Some(ProductSort::Relevance) if search.is_none() => {
                    fail("sort", "relevance needs a search query q");
                    ProductSort::Newest
                }
                Some(sort) => sort,
                None => {
                    fail(
                        "sort",
                        "must be one of newest, price_asc, price_desc, title, relevance",
                    );
                    ProductSort::Newest
                }
            },
        };
        let too_long = |v: &Option<String>| v.as_ref().is_some_and(|s| s.len() > 255);
        if too_long(&self.category) {
            fail("category", "must be at most 255 characters");
        }
        if too_long(&self.vendor) {
            fail("vendor", "must be at most 255 characters");
        }
        if self.cursor.as_ref().is_some_and(|c| c.len() > 1024) {
            fail("cursor", "is not a cursor this API returned");
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(ListQuery {
            search,
            category: self.category,
            vendor: self.vendor,
            min_price,
            max_price,
            in_stock,
            sort,
            limit,
            cursor: self.cursor,
        })
    }
}

/// List published products.
///
/// Only published products of active vendors. Pagination is by cursor: follow `next_cursor`
/// until it is `null` to see every matching product exactly once.
#[utoipa::path(
    get,
    path = "/api/store/products",
    tag = "store",
    params(ListParams),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 400, description = "Invalid parameter (`validation_failed`, `invalid_query`, `invalid_cursor`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_products(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ProductPage>> {
    let query = params.validate()?;
    let found = catalog::search_products(&state.db, &query).await?;
    Ok(Json(ProductPage {
        items: found.page.items.into_iter().map(Into::into).collect(),
        next_cursor: found.page.next_cursor,
        corrected_q: found.corrected_q,
    }))
}

/// What facets are counted over: the listing's filters, without page, cursor or sort.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FacetParams {
    /// Full-text search, as for `GET /api/store/products`.
    q: Option<String>,
    /// Category handle; includes its descendant categories.
    category: Option<String>,
    /// Vendor handle.
    vendor: Option<String>,
    /// Lowest variant price to match, in minor units.
    #[param(value_type = Option<i64>, minimum = 0)]
    min_price: Option<String>,
    /// Highest variant price to match, in minor units.
    #[param(value_type = Option<i64>, minimum = 0)]
    max_price: Option<String>,
    /// `true`: only products with at least one variant available now.
    #[param(value_type = Option<bool>)]
    in_stock: Option<String>,
}

/// Facet counts of a product listing.
///
/// For everything `GET /api/store/products` would list with the same filters (all pages): the
/// number of matching products, how many are in stock, and how many are in each category (the
/// ones they are filed in directly), from each vendor and in each price band (by lowest
/// variant price). A shop shows them beside search results as filters with counts.
#[utoipa::path(
    get,
    path = "/api/store/facets",
    tag = "store",
    params(FacetParams),
    responses(
        (status = 200, description = "The counts", body = FacetsBody),
        (status = 400, description = "Invalid parameter (`validation_failed`, `invalid_query`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded; retry after `Retry-After` seconds", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn product_facets(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<FacetParams>,
) -> ApiResult<Json<FacetsBody>> {
    let query = ListParams {
        q: params.q,
        category: params.category,
        vendor: params.vendor,
        min_price: params.min_price,
        max_price: params.max_price,
        in_stock: params.in_stock,
        ..ListParams::default()
    }
    .validate()?;
    let mut facets = catalog::product_facets(&state.db, &query).await?;
    // The facets of what the listing shows: the corrected search when `q` found nothing.
    if facets.total == 0
        && let Some(corrected) = catalog::corrected_search(&state.db, &query).await?
    {
        facets = catalog::product_facets(&state.db, &corrected).await?;
    }
    Ok(Json(FacetsBody::new(facets, state.config.currency.code())))
}

/// Get a published product by handle.
#[utoipa::path(
    get,
    path = "/api/store/products/{handle}",
    tag = "store",
    params(("handle" = String, Path, description = "The product's handle")),
    responses(
        (status = 200, description = "The product", body = ProductBody),
        (status = 404, description = "No such published product (`not_found`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Overloaded", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_product(
    State(state): State<AppState>,
    Path(handle): Path<String>,
) -> ApiResult<Json<ProductBody>> {
    let not_found = || {
        ApiError::not_found(format!(
            "no product with handle '{}'",
            handle.escape_debug()
        ))
    };
    // A string that is not a valid handle cannot name a product (and never reaches the database).
    Handle::parse(&handle).map_err(|_| not_found())?;
    let product = catalog::product_by_handle(&state.db, &handle, true)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(product.into()))
}
