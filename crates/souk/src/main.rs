//! The `souk` binary. Everything lives in the library so integration tests drive the same code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = souk::cli::Cli::parse();
    souk::run(cli)
}
