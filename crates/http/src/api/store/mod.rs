//! `/api/store`: what shoppers (and storefronts) read. No authentication.

pub mod categories;
pub mod products;
pub mod vendors;
