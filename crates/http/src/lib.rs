//! Souk's HTTP faces: the JSON API with its OpenAPI document (`api/`) and the HTML pages
//! (`web/`). A handler reads the request, calls one use case in `souk_app`, and renders its
//! answer; `AppError` becomes problem+json in one place (`error.rs`), or an HTML page with the
//! message beside its field.

pub mod api;
pub mod auth;
pub mod cache;
pub mod config;
pub mod error;
pub mod extract;
pub mod middleware;
mod openapi;
pub mod ops;
pub mod router;
pub mod server;
pub mod state;
pub mod web;

pub use config::{AbuseLimits, HttpConfig, StripeBrowser, WebhookSettings};
pub use router::{api_router, app};
pub use state::{AppState, metrics_handle};
