//! `/api/store`: what shoppers (and storefronts) use: the catalog (no authentication), carts
//! and checkout (guests or customers), and orders.

pub mod carts;
pub mod categories;
pub mod orders;
pub mod payments;
pub mod products;
pub mod vendors;
