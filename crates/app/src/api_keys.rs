//! Keys for integrations, made and revoked by platform admins. The secret is returned once, at
//! creation; only its hash is stored.

use souk_domain::accounts::new_token;
use souk_storage::api_keys::{self, ApiKey};
use souk_storage::catalog;
use uuid::Uuid;

use crate::{Actor, App, AppError, FieldProblem, record_audit};

pub const API_KEY_PREFIX: &str = "souk_k_";

/// What an API key may do. Vendor keys act on a vendor's catalog and orders; admin keys read
/// what platform staff can read. Nothing else (no account changes, no admin writes) is open to keys.
pub const API_KEY_SCOPES: &[&str] = &[
    "catalog:read",
    "catalog:write",
    "orders:read",
    "orders:write",
    "admin:read",
];

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<String>,
    /// The vendor a catalog or orders key acts for.
    pub vendor_id: Option<Uuid>,
}

/// Creates a key; returns it with its secret (shown only now).
pub async fn create(
    app: &App,
    actor: &Actor,
    input: NewApiKey,
) -> Result<(ApiKey, String), AppError> {
    let mut problems = Vec::new();
    let mut fail = |field: &str, message: String| {
        problems.push(FieldProblem {
            field: field.into(),
            message,
        })
    };
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        fail("name", "must be 1 to 100 characters".into());
    }
    let mut scopes = input.scopes.clone();
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
    match (catalog_scope, input.vendor_id) {
        (true, None) => fail(
            "vendor_id",
            "catalog and orders scopes need the vendor the key acts for".into(),
        ),
        (false, Some(_)) => fail(
            "vendor_id",
            "only catalog and orders keys belong to a vendor".into(),
        ),
        (true, Some(v)) if catalog::vendor_by_id(&app.db, v).await?.is_none() => {
            fail("vendor_id", "no such vendor".into())
        }
        _ => {}
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let (secret, hash) = new_token(API_KEY_PREFIX);
    let mut tx = app.db.begin_write().await?;
    let key = api_keys::create(
        &mut tx,
        &hash,
        name,
        &scopes,
        input.vendor_id,
        actor.user_id,
    )
    .await?;
    record_audit(
        &mut tx,
        actor,
        "api_key.create",
        ("api_key", key.id),
        input.vendor_id,
        serde_json::json!({"name": name, "scopes": scopes}),
    )
    .await?;
    tx.commit().await?;
    Ok((key, secret))
}

/// Revokes a live key: it stops working at once.
pub async fn revoke(app: &App, actor: &Actor, id: Uuid) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    if !api_keys::revoke(&mut tx, id).await? {
        return Err(AppError::not_found("no such API key"));
    }
    record_audit(
        &mut tx,
        actor,
        "api_key.revoke",
        ("api_key", id),
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
