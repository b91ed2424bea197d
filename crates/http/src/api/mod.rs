//! The REST API, one module per namespace (`/api/store`, later `/api/vendor`, `/api/admin`, …).

pub mod auth;
pub mod schema;
pub mod store;
