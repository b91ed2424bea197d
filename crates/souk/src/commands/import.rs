//! `souk import products FILE --vendor HANDLE`: Shopify product CSV into the catalog.
//!
//! The whole file is validated first (format, then collisions with other vendors' handles and
//! SKUs); every problem is reported with its line number, and nothing is written if there is
//! any, unless `--skip-invalid`. Products are then written in small transactions so a running
//! `souk serve` on the same database keeps answering; re-running an import is safe (products
//! are matched by handle, variants by option values).

use std::collections::HashMap;
use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use souk_domain::catalog::Handle;
use souk_domain::shopify::{self, RowError};
use souk_storage::{Db, catalog, now_ms};

use crate::cli::{GlobalArgs, ImportProductsArgs};
use crate::startup::{database_url, open_database};

/// Products per write transaction: short enough that a live server's writes are not held up.
const BATCH: usize = 100;

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
    check_conflicts(&db, vendor.as_str(), &mut parsed).await?;

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
    let mut categories = HashMap::new();
    let now = now_ms();
    let mut vendor_record = None;
    for batch in parsed.products.chunks(BATCH) {
        let mut tx = db.begin_write().await?;
        let v = match &vendor_record {
            Some(v) => v,
            None => vendor_record
                .insert(catalog::ensure_vendor(&mut tx, &vendor, &vendor_name, now).await?),
        };
        for product in batch {
            let category = catalog::ensure_category_path(
                &mut tx,
                &product.draft.category_path,
                &mut categories,
                now,
            )
            .await?;
            catalog::upsert_product(
                &mut tx,
                v,
                &product.draft,
                category.as_slice(),
                global.currency,
                now,
            )
            .await
            .with_context(|| {
                format!(
                    "line {}: cannot import '{}'",
                    product.first_line, product.draft.handle
                )
            })?;
        }
        tx.commit().await?;
        progress.inc(batch.len() as u64);
    }
    progress.finish_and_clear();
    catalog::refresh_statistics(&db).await?;
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

/// Moves products whose handle or SKUs belong to someone else from `products` to `errors`.
async fn check_conflicts(
    db: &Db,
    vendor: &str,
    parsed: &mut shopify::ParsedFile,
) -> anyhow::Result<()> {
    let drafts: Vec<_> = parsed.products.iter().map(|p| &p.draft).collect();
    let conflicts = catalog::find_conflicts(db, vendor, &drafts).await?;
    if conflicts.handles.is_empty() && conflicts.skus.is_empty() {
        return Ok(());
    }
    let mut keep = Vec::new();
    for product in parsed.products.drain(..) {
        let mut problems = Vec::new();
        if let Some(owner) = conflicts.handles.get(product.draft.handle.as_str()) {
            problems.push(format!(
                "handle '{}' is already used by vendor '{owner}'",
                product.draft.handle
            ));
        }
        for sku in product
            .draft
            .variants
            .iter()
            .filter_map(|v| v.sku.as_deref())
        {
            if let Some(other) = conflicts.skus.get(sku) {
                problems.push(format!("SKU '{sku}' is already used by product '{other}'"));
            }
        }
        if problems.is_empty() {
            keep.push(product);
        } else {
            parsed
                .errors
                .extend(problems.into_iter().map(|message| RowError {
                    line: product.first_line,
                    message,
                }));
        }
    }
    parsed.products = keep;
    parsed.errors.sort_by_key(|e| e.line);
    Ok(())
}
