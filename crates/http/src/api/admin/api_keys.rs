//! `/api/admin/api-keys`: keys for integrations. The key is shown once, at creation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_app::api_keys::{self, NewApiKey};
use souk_domain::time::rfc3339;
use souk_storage::api_keys::ApiKey;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{actor, path_id};
use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    pub name: String,
    /// `catalog:read`, `catalog:write` (a vendor's products and stock), `orders:read`,
    /// `orders:write` (a vendor's orders, fulfilment, balance, shipping rates) — these with
    /// `vendor_id` — or `admin:read` (without).
    #[schema(value_type = Vec<crate::api::vocabulary::ApiKeyScope>)]
    pub scopes: Vec<String>,
    /// The vendor a catalog key acts for.
    pub vendor_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyBody {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = Vec<crate::api::vocabulary::ApiKeyScope>)]
    pub scopes: Vec<String>,
    pub vendor_id: Option<Uuid>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
}

impl From<&ApiKey> for ApiKeyBody {
    fn from(k: &ApiKey) -> Self {
        ApiKeyBody {
            id: k.id,
            name: k.name.clone(),
            scopes: k.scope_list().into_iter().map(str::to_owned).collect(),
            vendor_id: k.vendor_id,
            created_at: rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    #[serde(flatten)]
    pub key: ApiKeyBody,
    /// The secret: send as `Authorization: Bearer <secret>`. Shown only now; stored hashed.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyBody>,
    /// Always null: the whole list is in this page (every list has this one shape).
    pub next_cursor: Option<String>,
}

fn person_only(admin: &Admin) -> ApiResult<()> {
    if admin.0.api_key.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "Insufficient scope",
            "API keys cannot manage API keys",
        ));
    }
    Ok(())
}

/// Create an API key.
#[utoipa::path(post, path = "/api/admin/api-keys", operation_id = "admin_create_api_key", tag = "admin", request_body = ApiKeyRequest, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created; the secret is in this response only", body = ApiKeyCreated),
        (status = 400, description = "Invalid scopes or vendor (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin, or CSRF", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    ApiJson(body): ApiJson<ApiKeyRequest>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    person_only(&admin)?;
    let input = NewApiKey {
        name: body.name,
        scopes: body.scopes,
        vendor_id: body.vendor_id,
    };
    let (key, secret) = api_keys::create(&state.app, &actor(&admin.0, &client), input).await?;
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            key: (&key).into(),
            secret,
        }),
    ))
}

/// Live API keys (never their secrets).
#[utoipa::path(get, path = "/api/admin/api-keys", operation_id = "admin_list_api_keys", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "Keys", body = ApiKeyList),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(State(state): State<AppState>, _admin: Admin) -> ApiResult<Json<ApiKeyList>> {
    let keys = souk_storage::api_keys::list(&state.db).await?;
    Ok(Json(ApiKeyList {
        next_cursor: None,
        items: keys.iter().map(Into::into).collect(),
    }))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(delete, path = "/api/admin/api-keys/{id}", operation_id = "admin_revoke_api_key", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin, or CSRF", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such live key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    client: ClientInfo,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    person_only(&admin)?;
    let id = path_id(&id, "API key")?;
    api_keys::revoke(&state.app, &actor(&admin.0, &client), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
