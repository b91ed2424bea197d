//! Souk's domain: the rules of the marketplace, free of storage and delivery concerns.
//!
//! Everything here is pure: no database, no network, no clock. Storage and HTTP depend on this
//! crate; it depends on neither.

pub mod accounts;
pub mod branding;
pub mod cart;
pub mod catalog;
pub mod geo;
pub mod html;
pub mod money;
pub mod orders;
pub mod payments;
pub mod pricing;
pub mod shopify;
pub mod text;
pub mod time;
pub mod webhooks;
