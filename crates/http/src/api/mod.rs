//! The REST API, one module per namespace (`/api/store`, later `/api/vendor`, `/api/admin`, …).

pub mod admin;
pub mod admin_categories;
pub mod admin_inventory;
pub mod admin_keys;
pub mod admin_orders;
pub mod auth;
pub mod common;
pub mod events;
pub mod payments;
pub mod schema;
pub mod store;
pub mod vendor;
pub mod vendor_orders;
pub mod vendor_products;
pub mod vocabulary;
pub mod webhooks;
