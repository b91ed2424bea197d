//! `/api/admin/categories`: the category tree shoppers browse.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_domain::accounts::validate_name;
use souk_domain::catalog::Handle;
use souk_storage::catalog::{self, DeleteCategory};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{audit, path_id};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, FieldError, Problem};
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

async fn parent_id(
    state: &AppState,
    parent: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> ApiResult<Option<Uuid>> {
    let Some(handle) = parent else {
        return Ok(None);
    };
    let ids = catalog::category_ids(&state.db, &[handle.to_owned()]).await?;
    match ids.get(handle) {
        Some(id) => Ok(Some(*id)),
        None => {
            errors.push(FieldError {
                field: "parent".into(),
                message: format!("no category with handle '{handle}'"),
            });
            Ok(None)
        }
    }
}

async fn body_of(state: &AppState, id: Uuid) -> ApiResult<CategoryBody> {
    let c = catalog::all_categories(&state.db)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| ApiError::not_found("no such category"))?;
    Ok(CategoryBody {
        id: c.id,
        handle: c.handle,
        name: c.name,
        parent_id: c.parent_id,
        position: c.position,
    })
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
    let mut errors = Vec::new();
    let name = validate_name(&body.name)
        .map_err(|m| {
            errors.push(FieldError {
                field: "name".into(),
                message: m.into(),
            })
        })
        .ok();
    let handle = match &body.handle {
        Some(h) => Handle::parse(h)
            .map_err(|e| {
                errors.push(FieldError {
                    field: "handle".into(),
                    message: e.to_string(),
                })
            })
            .ok(),
        None => name.as_deref().and_then(Handle::slugify),
    };
    let parent = parent_id(&state, body.parent.as_deref(), &mut errors).await?;
    let (Some(name), Some(handle), true) = (name, handle, errors.is_empty()) else {
        if errors.is_empty() {
            errors.push(FieldError {
                field: "handle".into(),
                message: "give a handle; none can be derived from the name".into(),
            });
        }
        return Err(ApiError::validation(errors));
    };
    let mut tx = state.db.begin_write().await?;
    let id = match catalog::create_category(&mut tx, parent, handle.as_str(), &name, body.position)
        .await
    {
        Ok(id) => id,
        Err(e) if e.is_unique_violation() => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "handle_taken",
                "Handle taken",
                format!("the handle '{handle}' is taken"),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    audit(
        &mut tx,
        &admin.0,
        &client.ip,
        "category.create",
        "category",
        id,
        None,
        serde_json::json!({"handle": handle}),
    )
    .await?;
    tx.commit().await?;
    state.invalidate_catalog();
    Ok((StatusCode::CREATED, Json(body_of(&state, id).await?)))
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
    let id = path_id(&id, "category")?;
    body_of(&state, id).await?;
    let mut errors = Vec::new();
    let name = validate_name(&body.name)
        .map_err(|m| {
            errors.push(FieldError {
                field: "name".into(),
                message: m.into(),
            })
        })
        .ok();
    let parent = parent_id(&state, body.parent.as_deref(), &mut errors).await?;
    if let Some(p) = parent
        && catalog::would_cycle(&state.db, id, p).await?
    {
        errors.push(FieldError {
            field: "parent".into(),
            message: "a category cannot be moved under itself".into(),
        });
    }
    let (Some(name), true) = (name, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    let mut tx = state.db.begin_write().await?;
    catalog::update_category(&mut tx, id, &name, parent, body.position).await?;
    audit(
        &mut tx,
        &admin.0,
        &client.ip,
        "category.update",
        "category",
        id,
        None,
        serde_json::json!({"name": name}),
    )
    .await?;
    tx.commit().await?;
    state.invalidate_catalog();
    Ok(Json(body_of(&state, id).await?))
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
    let mut tx = state.db.begin_write().await?;
    match catalog::delete_category(&mut tx, id).await? {
        DeleteCategory::Deleted => {}
        DeleteCategory::NotFound => return Err(ApiError::not_found("no such category")),
        DeleteCategory::HasChildren => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "category_not_empty",
                "Category not empty",
                "move or delete its subcategories first",
            ));
        }
    }
    audit(
        &mut tx,
        &admin.0,
        &client.ip,
        "category.delete",
        "category",
        id,
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    state.invalidate_catalog();
    Ok(StatusCode::NO_CONTENT)
}
