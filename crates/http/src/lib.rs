//! Souk's HTTP face: the JSON API and its OpenAPI document. A handler reads the request, calls
//! one use case in `souk_app`, and renders its answer; `AppError` becomes problem+json in one
//! place (`error.rs`).

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

pub use config::{AbuseLimits, HttpConfig, WebhookSettings};
pub use router::{api_router, app};
pub use state::{AppState, metrics_handle};
