//! `/api/admin/categories`: the category tree shoppers browse.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_app::categories::{self, CategoryChange, NewCategory};
use souk_domain::catalog::Category;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{actor, path_id};
use crate::auth::Admin;
use crate::error::{ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    pub name: String,
    /// Default: derived from the name.
    pub handle: Option<String>,
    /// Handle of the parent category; none for a root.
    pub parent: Option<String>,
    /// Order among siblings (ascending).
    #[serde(default)]
    pub position: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryUpdate {
    pub name: String,
    pub parent: Option<String>,
    #[serde(default)]
    pub position: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryBody {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub position: i64,
}

impl From<Category> for CategoryBody {
    fn from(c: Category) -> Self {
        CategoryBody {
            id: c.id,
            handle: c.handle,
            name: c.name,
            parent_id: c.parent_id,
            position: c.position,
        }
    }
}

/// Create a category.
#[utoipa::path(post, path = "/api/admin/categories", operation_id = "admin_create_category", tag = "admin", request_body = CategoryInput, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = CategoryBody),
        (status = 400, description = "Invalid input", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Handle taken (`handle_taken`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    ApiJson(body): ApiJson<CategoryInput>,
) -> ApiResult<(StatusCode, Json<CategoryBody>)> {
    let input = NewCategory {
        name: body.name,
        handle: body.handle,
        parent: body.parent,
        position: body.position,
    };
    let category = categories::create(&state.app, &actor(&admin.0, &client), input).await?;
    Ok((StatusCode::CREATED, Json(category.into())))
}

/// Rename, move or reorder a category.
#[utoipa::path(put, path = "/api/admin/categories/{id}", operation_id = "admin_update_category", tag = "admin", request_body = CategoryUpdate, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")),
    responses(
        (status = 200, description = "Updated", body = CategoryBody),
        (status = 400, description = "Invalid input, or a move under itself", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CategoryUpdate>,
) -> ApiResult<Json<CategoryBody>> {
    let change = CategoryChange {
        name: body.name,
        parent: body.parent,
        position: body.position,
    };
    let id = path_id(&id, "category")?;
    let category = categories::update(&state.app, &actor(&admin.0, &client), id, change).await?;
    Ok(Json(category.into()))
}

/// Delete a category that has no children; its products just lose it.
#[utoipa::path(delete, path = "/api/admin/categories/{id}", operation_id = "admin_delete_category", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Category id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "It has subcategories (`category_not_empty`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_id(&id, "category")?;
    categories::delete(&state.app, &actor(&admin.0, &client), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
