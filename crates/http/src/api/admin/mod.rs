//! `/api/admin`: what platform admins do, one module per resource.

pub mod api_keys;
pub mod audit;
pub mod categories;
pub mod coupons;
pub mod inventory;
pub mod jobs;
pub mod orders;
pub mod payments;
pub mod payouts;
pub mod tax;
pub mod vendors;
