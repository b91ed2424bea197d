//! One module per subcommand.

pub mod export;
pub mod import;
pub mod migrate;
pub mod serve;
pub mod worker;
