//! `/api/vendor`: what vendor staff do for their own vendor, one module per resource. Every
//! handler here acts on the caller's vendor only (`VendorStaff`).

pub mod money;
pub mod orders;
pub mod products;
pub mod profile;
pub mod shipping;
pub mod team;

use axum::http::StatusCode;

use crate::auth::VendorStaff;
use crate::error::{ApiError, ApiResult};

/// Refuses (403 `forbidden`) vendor staff who are not owners.
fn require_owner(staff: &VendorStaff, why: &str) -> ApiResult<()> {
    let owner = staff
        .principal
        .vendor
        .as_ref()
        .is_some_and(|m| m.role == "owner");
    if owner {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            why.to_owned(),
        ))
    }
}
