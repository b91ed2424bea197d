//! Importing a Shopify product CSV for one vendor. The file is parsed and checked first
//! ([`check_conflicts`]: handles and SKUs that belong to someone else become line problems,
//! beside the format problems), so a face can refuse the whole file or import the valid
//! products; [`import`] then writes them in small durable transactions, so a running shop
//! keeps answering, and is safe to run again (products match by handle, variants by option
//! values).

use std::collections::HashMap;

use souk_domain::catalog::Handle;
use souk_domain::shopify::{ParsedFile, ParsedProduct, RowError};
use souk_storage::catalog::{self, VendorRecord};
use souk_storage::now_ms;

use crate::{App, AppError};

/// Products per write transaction: short enough that a live server's writes are not held up.
pub const BATCH: usize = 100;

/// Moves the products whose handle or SKUs belong to another vendor's products from
/// `parsed.products` to `parsed.errors` (with their line), keeping the errors sorted by line.
pub async fn check_conflicts(
    app: &App,
    vendor: &Handle,
    parsed: &mut ParsedFile,
) -> Result<(), AppError> {
    let drafts: Vec<_> = parsed.products.iter().map(|p| &p.draft).collect();
    let conflicts = catalog::find_conflicts(&app.db, vendor.as_str(), &drafts).await?;
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
        let skus = product
            .draft
            .variants
            .iter()
            .filter_map(|v| v.sku.as_deref());
        for sku in skus {
            if let Some(other) = conflicts.skus.get(sku) {
                problems.push(format!("SKU '{sku}' is already used by product '{other}'"));
            }
        }
        if problems.is_empty() {
            keep.push(product);
        } else {
            let line = product.first_line;
            let rows = problems
                .into_iter()
                .map(|message| RowError { line, message });
            parsed.errors.extend(rows);
        }
    }
    parsed.products = keep;
    parsed.errors.sort_by_key(|e| e.line);
    Ok(())
}

/// Why an import stopped: the products before `line` were written.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: cannot import '{handle}': {source}")]
pub struct ImportStopped {
    pub line: u64,
    pub handle: String,
    #[source]
    pub source: AppError,
}

/// Writes `products` for the vendor `vendor` (made, active, with `vendor_name` if it does not
/// exist) in batches of [`BATCH`], calling `progress` with the count written after each.
pub async fn import(
    app: &App,
    vendor: &Handle,
    vendor_name: &str,
    products: &[ParsedProduct],
    mut progress: impl FnMut(usize),
) -> Result<usize, ImportStopped> {
    let mut categories = HashMap::new();
    let now = now_ms();
    let mut record: Option<VendorRecord> = None;
    let mut written = 0;
    for batch in products.chunks(BATCH) {
        let stopped = |source: AppError| ImportStopped {
            line: batch[0].first_line,
            handle: batch[0].draft.handle.to_string(),
            source,
        };
        let mut tx = app.db.begin_write().await.map_err(|e| stopped(e.into()))?;
        let v = match &record {
            Some(v) => v,
            None => record.insert(
                catalog::ensure_vendor(&mut tx, vendor, vendor_name, now)
                    .await
                    .map_err(|e| stopped(e.into()))?,
            ),
        };
        for product in batch {
            let stopped = |source: souk_storage::StorageError| ImportStopped {
                line: product.first_line,
                handle: product.draft.handle.to_string(),
                source: source.into(),
            };
            let draft = &product.draft;
            let category =
                catalog::ensure_category_path(&mut tx, &draft.category_path, &mut categories, now)
                    .await
                    .map_err(stopped)?;
            catalog::upsert_product(
                &mut tx,
                v,
                draft,
                category.as_slice(),
                app.settings.currency,
                now,
            )
            .await
            .map_err(stopped)?;
        }
        tx.commit().await.map_err(|e| stopped(e.into()))?;
        written += batch.len();
        app.catalog_changed();
        progress(written);
    }
    // The planner's statistics, for the new catalog's size; the products stand without them.
    if let Err(e) = catalog::refresh_statistics(&app.db).await {
        tracing::warn!(error = %e, "statistics not refreshed after the import");
    }
    Ok(written)
}
