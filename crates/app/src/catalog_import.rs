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

/// Most products one dashboard import may hold (the CLI has no limit).
pub const MAX_VENDOR_IMPORT: usize = 50_000;

/// A vendor imports a Shopify product CSV from the dashboard. The file is read and checked at
/// once (a file that is not a product CSV is refused whole); its valid products are then
/// written in the background in batches of [`BATCH`], the import's row recording how far it
/// has got, and its refused lines are kept for the report. Products always go to this vendor
/// (the file's `Vendor` column is ignored). Returns the import's id.
pub async fn start_for_vendor(
    app: &App,
    actor: &crate::Actor,
    vendor_id: uuid::Uuid,
    file_name: &str,
    bytes: &[u8],
) -> Result<uuid::Uuid, AppError> {
    let vendor = catalog::vendor_by_id(&app.db, vendor_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    let handle = Handle::parse(&vendor.handle)
        .map_err(|e| AppError::internal(format!("a stored vendor handle is invalid: {e}")))?;
    let mut parsed = souk_domain::shopify::parse(bytes, app.settings.currency)
        .map_err(|e| AppError::field("file", e.to_string()))?;
    if parsed.products.len() > MAX_VENDOR_IMPORT {
        return Err(AppError::field(
            "file",
            format!(
                "the file holds {} products; import at most {MAX_VENDOR_IMPORT} at a time",
                parsed.products.len()
            ),
        ));
    }
    check_conflicts(app, &handle, &mut parsed).await?;
    let rejected: Vec<serde_json::Value> = parsed
        .errors
        .iter()
        .map(|e| serde_json::json!({"line": e.line, "message": e.message}))
        .collect();
    let now = now_ms();
    let name: String = file_name.trim().chars().take(200).collect();
    let row = souk_storage::imports::ImportRow {
        id: uuid::Uuid::now_v7(),
        vendor_id,
        file_name: if name.is_empty() {
            "products.csv".into()
        } else {
            name
        },
        status: if parsed.products.is_empty() {
            "done"
        } else {
            "running"
        }
        .into(),
        rows_read: parsed.rows as i64,
        products: parsed.products.len() as i64,
        written: 0,
        rejected: serde_json::Value::Array(rejected).to_string(),
        error: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin_write().await?;
    souk_storage::imports::insert(&mut tx, &row).await?;
    crate::record_audit(
        &mut tx,
        actor,
        "product.import",
        ("product_import", row.id),
        Some(vendor_id),
        serde_json::json!({"file": row.file_name, "products": row.products, "rejected": parsed.errors.len()}),
    )
    .await?;
    tx.commit().await?;

    let id = row.id;
    let app = app.clone();
    let products = parsed.products;
    tokio::spawn(async move {
        let mut written = 0;
        for chunk in products.chunks(BATCH) {
            if let Err(e) = import(&app, &handle, &vendor.name, chunk, |_| {}).await {
                tracing::warn!(import = %id, error = %e, "a product import stopped");
                let message = e.to_string();
                let _ = souk_storage::imports::progress(
                    &app.db,
                    id,
                    written,
                    Some(("failed", Some(&message))),
                )
                .await;
                return;
            }
            written += chunk.len() as i64;
            let finished = (written == products.len() as i64).then_some(("done", None));
            if let Err(e) = souk_storage::imports::progress(&app.db, id, written, finished).await {
                tracing::warn!(import = %id, error = %e, "import progress not recorded");
            }
        }
    });
    Ok(id)
}

/// The vendor's whole catalog (any status) as a Shopify product CSV.
pub async fn vendor_csv(app: &App, vendor_id: uuid::Uuid) -> Result<Vec<u8>, AppError> {
    let vendor = catalog::vendor_by_id(&app.db, vendor_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| AppError::internal(format!("cannot write the CSV: {e}"));
    souk_domain::shopify::write_header(&mut writer).map_err(failed)?;
    let mut cursor = None;
    loop {
        let (products, next) =
            catalog::export_page(&app.db, Some(&vendor.handle), cursor, 500).await?;
        for (vendor_name, draft) in &products {
            let product = souk_domain::shopify::ExportProduct { vendor_name, draft };
            souk_domain::shopify::write_product(&mut writer, &product, app.settings.currency)
                .map_err(failed)?;
        }
        match next {
            Some(_) => cursor = next,
            None => break,
        }
    }
    writer
        .into_inner()
        .map_err(|e| AppError::internal(format!("cannot write the CSV: {}", e.error())))
}
