//! `souk import products FILE --vendor HANDLE`: Shopify product CSV into the catalog.
//!
//! The whole file is validated first (format, then collisions with other vendors' handles and
//! SKUs); every problem is reported with its line number, and nothing is written if there is
//! any, unless `--skip-invalid`. Products are then written in small transactions so a running
//! `souk serve` on the same database keeps answering; re-running an import is safe (products
//! are matched by handle, variants by option values).

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use souk_app::catalog_import;
use souk_domain::catalog::Handle;
use souk_domain::shopify::{self, RowError};

use crate::cli::{GlobalArgs, ImportProductsArgs};
use crate::startup::{database_url, open_database};

pub async fn run(global: &GlobalArgs, args: ImportProductsArgs) -> anyhow::Result<ExitCode> {
    let vendor = Handle::parse(&args.vendor).map_err(|e| anyhow::anyhow!("--vendor: {e}"))?;
    let mut bytes = Vec::new();
    if args.file.as_os_str() == "-" {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        bytes = std::fs::read(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?;
    }
    let started = Instant::now();
    let mut parsed = shopify::parse(bytes.as_slice(), global.currency)
        .with_context(|| format!("{} is not a Shopify product CSV", args.file.display()))?;

    let url = database_url(global)?;
    let db = open_database(&url, 2).await?;
    let settings = souk_app::Settings {
        currency: global.currency,
        ..souk_app::Settings::default()
    };
    let app = souk_app::App::quiet(db.clone(), settings);
    catalog_import::check_conflicts(&app, &vendor, &mut parsed).await?;

    let invalid = parsed.errors.len();
    for RowError { line, message } in &parsed.errors {
        eprintln!("line {line}: {message}");
    }
    if invalid > 0 && !args.skip_invalid {
        eprintln!(
            "{invalid} problem(s) found in {}; nothing was imported (fix them, or pass --skip-invalid to import the valid products)",
            args.file.display()
        );
        db.close().await;
        return Ok(ExitCode::FAILURE);
    }

    let vendor_name = args
        .vendor_name
        .clone()
        .or_else(|| parsed.products.iter().find_map(|p| p.vendor_name.clone()))
        .unwrap_or_else(|| vendor.to_string());
    let progress = ProgressBar::new(parsed.products.len() as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} products {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    catalog_import::import(&app, &vendor, &vendor_name, &parsed.products, |written| {
        progress.set_position(written as u64);
    })
    .await?;
    progress.finish_and_clear();
    db.close().await;
    println!(
        "imported {} product(s) from {} row(s) for vendor '{}' in {:.1}s{}",
        parsed.products.len(),
        parsed.rows,
        vendor,
        started.elapsed().as_secs_f64(),
        if invalid > 0 {
            format!("; skipped {invalid} problem row(s)")
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
