//! One module per subcommand.

pub mod admin;
pub mod backup;
pub mod demo;
pub mod export;
pub mod import;
pub mod migrate;
pub mod serve;
pub mod worker;
