//! `souk demo --products N [--orders M]`: a generated catalog of N products in an empty
//! database, and/or M generated orders of the catalog's products.

use std::process::ExitCode;
use std::time::Instant;

use crate::cli::{DemoArgs, GlobalArgs};
use crate::generate::{CatalogSpec, write_catalog};
use crate::generate_orders::write_orders;
use crate::startup::{database_url, describe_database, open_database};

/// Prints progress about ten times over a run of `total`.
fn progress(what: &'static str, total: usize, started: Instant) -> impl FnMut(usize) {
    let step = (total / 10).max(1);
    let mut shown = 0;
    move |n| {
        if n >= shown + step || n == total {
            shown = n;
            eprintln!(
                "{n} {what} written ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

pub async fn run(global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<ExitCode> {
    if args.products.is_none() && args.orders.is_none() {
        anyhow::bail!("say what to generate: --products N, --orders N, or both");
    }
    let url = database_url(global)?;
    let db = open_database(&url, 2).await?;
    let result = generate(global, &args, &db, &url).await;
    db.close().await;
    result?;
    Ok(ExitCode::SUCCESS)
}

async fn generate(
    global: &GlobalArgs,
    args: &DemoArgs,
    db: &souk_storage::Db,
    url: &str,
) -> anyhow::Result<()> {
    if let Some(products) = args.products {
        let spec = CatalogSpec {
            products: usize::try_from(products)?,
            vendors: usize::try_from(args.vendors)?,
            seed: args.seed,
        };
        let started = Instant::now();
        let shown = progress("products", spec.products, started);
        let written = write_catalog(db, global.currency, &spec, shown).await?;
        println!(
            "generated {written} products from {} vendors in {:.1} s ({})",
            spec.vendors.min(written),
            started.elapsed().as_secs_f64(),
            describe_database(url)
        );
    }
    if let Some(orders) = args.orders {
        let count = usize::try_from(orders)?;
        let started = Instant::now();
        let shown = progress("orders", count, started);
        let written = write_orders(
            db,
            global.currency,
            global.commission_bps,
            count,
            args.seed,
            shown,
        )
        .await?;
        println!(
            "generated {written} orders in {:.1} s ({})",
            started.elapsed().as_secs_f64(),
            describe_database(url)
        );
    }
    Ok(())
}
