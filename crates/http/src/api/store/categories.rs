//! `GET /api/store/categories`.

use axum::Json;
use axum::extract::State;
use souk_domain::catalog::category_tree;
use souk_storage::catalog;

use crate::AppState;
use crate::api::schema::CategoryTree;
use crate::error::{ApiResult, Problem};

/// The category tree.
#[utoipa::path(
    get,
    path = "/api/store/categories",
    tag = "store",
    responses(
        (status = 200, description = "Root categories with their descendants", body = CategoryTree),
        (status = 503, description = "Overloaded", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_categories(State(state): State<AppState>) -> ApiResult<Json<CategoryTree>> {
    let all = catalog::all_categories(&state.db).await?;
    Ok(Json(CategoryTree {
        next_cursor: None,
        items: category_tree(all).into_iter().map(Into::into).collect(),
    }))
}
