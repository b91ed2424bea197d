//! Souk's storage layer: one code path over SQLite and PostgreSQL.
//!
//! Every query is written once with `$N` placeholders and run on either backend through the
//! query builders of `sql.rs` (`query`, `query_as`, `query_scalar`) on a [`Db`] (a read) or a
//! [`Tx`] (inside a write transaction); the driver that holds the connection runs it. Where SQL differs (full-text search,
//! pragmas), the difference lives in [`dialect`].

#[macro_use]
mod db;
pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod backup;
pub mod carts;
pub mod catalog;
pub mod coupons;
pub mod customers;
pub mod dashboard;
pub mod dialect;
mod error;
pub mod events;
pub mod imports;
pub mod jobs;
pub mod ledger;
pub mod media;
mod migrate;
pub mod orders;
pub mod payments;
pub mod rates;
pub mod shop;
#[macro_use]
pub mod sql;
mod readers;
pub mod vendors;
pub mod webhooks;
mod writer;

pub use db::{
    Backend, Db, DbOptions, Exec, PoolStats, Tx, WriteGroups, commit_log, now_ms, redact_url,
};
pub use error::StorageError;
