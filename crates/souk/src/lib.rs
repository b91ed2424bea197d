//! Souk's composition root: command line, configuration, wiring of storage and HTTP, the
//! commands (`serve`, `migrate`, `import`, `export`) and the demo catalog.

pub mod backup;
pub mod cli;
pub mod commands;
pub mod generate;
pub mod generate_orders;
pub mod loadtest;
pub mod seed;
pub mod startup;
pub mod telemetry;

use std::process::ExitCode;

use cli::{AdminWhat, BackupWhat, Cli, Command, ExportWhat, ImportWhat};

/// Runs a parsed command line to completion and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    telemetry::init(cli.global.log_format, &cli.global.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve::run(&cli.global, args).await,
            Command::Migrate => commands::migrate::run(&cli.global).await,
            Command::Worker => commands::worker::run(&cli.global).await,
            Command::Admin {
                what: AdminWhat::Create(args),
            } => commands::admin::create(&cli.global, args).await,
            Command::Import {
                what: ImportWhat::Products(args),
            } => commands::import::run(&cli.global, args).await,
            Command::Export {
                what: ExportWhat::Products(args),
            } => commands::export::run(&cli.global, args).await,
            Command::Demo(args) => commands::demo::run(&cli.global, args).await,
            Command::Loadtest(args) => loadtest::run(args).await,
            Command::Backup {
                what: BackupWhat::Create(args),
            } => commands::backup::create(&cli.global, args).await,
            Command::Backup {
                what: BackupWhat::Restore(args),
            } => commands::backup::restore(&cli.global, args).await,
        }
    });
    // Do not wait for tasks still running (a statement past the shutdown grace): the command
    // has finished, and `serve` already gave its work the grace period.
    runtime.shutdown_background();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
