//! `souk demo --products N`: a generated catalog of N products in an empty database.

use std::process::ExitCode;
use std::time::Instant;

use crate::cli::{DemoArgs, GlobalArgs};
use crate::generate::{CatalogSpec, write_catalog};
use crate::startup::{database_url, describe_database, open_database};

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<ExitCode> {
    let url = database_url(global)?;
    let db = open_database(&url, 2).await?;
    let spec = CatalogSpec {
        products: usize::try_from(args.products)?,
        vendors: usize::try_from(args.vendors)?,
        seed: args.seed,
    };
    let started = Instant::now();
    let step = (spec.products / 10).max(1);
    let mut shown = 0;
    let written = write_catalog(&db, global.currency, &spec, |n| {
        if n >= shown + step || n == spec.products {
            shown = n;
            eprintln!(
                "{n} products written ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    })
    .await;
    db.close().await;
    let written = written?;
    println!(
        "generated {written} products from {} vendors in {:.1} s ({})",
        spec.vendors.min(written),
        started.elapsed().as_secs_f64(),
        describe_database(&url)
    );
    Ok(ExitCode::SUCCESS)
}
