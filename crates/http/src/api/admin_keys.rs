//! `/api/admin/api-keys`: keys for integrations. The key is shown once, at creation.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use souk_domain::accounts::new_token;
use souk_domain::time::rfc3339;
use souk_storage::api_keys::{self, ApiKey};
use souk_storage::catalog;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{audit, path_id};
use crate::auth::{API_KEY_PREFIX, API_KEY_SCOPES, Admin};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
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
    let mut errors = Vec::new();
    let mut fail = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        fail("name", "must be 1 to 100 characters".into());
    }
    let mut scopes: Vec<String> = body.scopes.clone();
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        fail("scopes", "name at least one scope".into());
    }
    for s in &scopes {
        if !API_KEY_SCOPES.contains(&s.as_str()) {
            fail(
                "scopes",
                format!("unknown scope '{s}'; use {}", API_KEY_SCOPES.join(", ")),
            );
        }
    }
    let catalog_scope = scopes
        .iter()
        .any(|s| s.starts_with("catalog:") || s.starts_with("orders:"));
    let admin_scope = scopes.iter().any(|s| s.starts_with("admin:"));
    if catalog_scope && admin_scope {
        fail(
            "scopes",
            "a key is either a vendor's key (catalog, orders) or an admin key".into(),
        );
    }
    match (catalog_scope, body.vendor_id) {
        (true, None) => fail(
            "vendor_id",
            "catalog and orders scopes need the vendor the key acts for".into(),
        ),
        (false, Some(_)) => fail(
            "vendor_id",
            "only catalog and orders keys belong to a vendor".into(),
        ),
        (true, Some(v)) if catalog::vendor_by_id(&state.db, v).await?.is_none() => {
            fail("vendor_id", "no such vendor".into())
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (secret, hash) = new_token(API_KEY_PREFIX);
    let mut tx = state.db.begin_write().await?;
    let key = api_keys::create(
        &mut tx,
        &hash,
        name,
        &scopes,
        body.vendor_id,
        admin.0.user_id,
    )
    .await?;
    audit(
        &mut tx,
        &admin.0,
        &client.ip,
        "api_key.create",
        "api_key",
        key.id,
        body.vendor_id,
        serde_json::json!({"name": name, "scopes": scopes}),
    )
    .await?;
    tx.commit().await?;
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
    let keys = api_keys::list(&state.db).await?;
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
    let mut tx = state.db.begin_write().await?;
    if !api_keys::revoke(&mut tx, id).await? {
        return Err(ApiError::not_found("no such API key"));
    }
    audit(
        &mut tx,
        &admin.0,
        &client.ip,
        "api_key.revoke",
        "api_key",
        id,
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
