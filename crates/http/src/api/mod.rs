//! The JSON API, by audience and then resource: `store/` (shoppers), `vendor/` (a vendor's
//! staff), `admin/` (platform admins), `auth` (accounts and sessions), `hooks` (payment
//! providers), `events` (the live streams) and `webhooks` (endpoints, shared by vendors and the
//! platform: one implementation, two route sets). `common`, `schema` and `vocabulary` are the
//! shared request and response pieces.

pub mod admin;
pub mod auth;
pub mod common;
pub mod events;
pub mod hooks;
pub mod schema;
pub mod store;
pub mod vendor;
pub mod vocabulary;
pub mod webhooks;
