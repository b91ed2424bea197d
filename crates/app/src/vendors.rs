//! Vendor moderation by platform staff: approve, suspend.

use souk_storage::catalog::VendorRecord;
use souk_storage::vendors;
use uuid::Uuid;

use crate::{Actor, App, AppError, record_audit};

/// Sets a vendor's status (`active` approves or reinstates; `suspended` hides its products and
/// locks its staff out), audited; the storefront's cached pages are dropped.
async fn set_status(
    app: &App,
    actor: &Actor,
    id: Uuid,
    status: &str,
) -> Result<VendorRecord, AppError> {
    let mut tx = app.db.begin_write().await?;
    let vendor = vendors::set_status(&mut tx, id, status)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    record_audit(
        &mut tx,
        actor,
        &format!("vendor.{status}"),
        ("vendor", id),
        Some(id),
        serde_json::json!({"status": status}),
    )
    .await?;
    tx.commit().await?;
    // The vendor's products appear in or vanish from the storefront.
    app.catalog_changed();
    Ok(vendor)
}

/// Approve (or reinstate) a vendor: it becomes active and its published products are shown.
pub async fn approve(app: &App, actor: &Actor, id: Uuid) -> Result<VendorRecord, AppError> {
    set_status(app, actor, id, "active").await
}

/// Suspend a vendor: its products disappear from the storefront and its staff lose access.
pub async fn suspend(app: &App, actor: &Actor, id: Uuid) -> Result<VendorRecord, AppError> {
    set_status(app, actor, id, "suspended").await
}
