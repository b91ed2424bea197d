//! A vendor adds an uploaded image to one of its products: the file is checked and re-encoded
//! ([`crate::images`]), its sizes are stored under content-addressed names, and the image is
//! added after the product's others — recorded, audited and announced in one transaction.
//! Files are written before that transaction: if it fails they stay unreferenced (they are
//! named by their bytes, so a retry reuses them), never referenced and missing.

use souk_domain::catalog::{MAX_IMAGES, Product};
use souk_storage::media::{self, MediaFile, MediaStore};
use souk_storage::now_ms;
use uuid::Uuid;

use crate::images::{self, ImageRefusal, Rendition};
use crate::{Actor, App, AppError, Kind, record_audit};

/// The URL path a stored file is served at.
pub fn media_url(name: &str) -> String {
    format!("/media/{name}")
}

fn refused(e: ImageRefusal) -> AppError {
    let code = match e {
        ImageRefusal::TooLarge { .. } => "image_too_large",
        ImageRefusal::TooManyPixels { .. } => "image_too_many_pixels",
        ImageRefusal::Empty | ImageRefusal::NotAnImage => "not_an_image",
        ImageRefusal::Damaged(_) => "image_damaged",
    };
    let mut error = AppError::refused(Kind::Unprocessable, code, "Image refused", e.to_string());
    if let AppError::Refused { fields, .. } = &mut error {
        fields.push(crate::FieldProblem {
            field: "image".into(),
            message: e.to_string(),
        });
    }
    error
}

fn stored(store: &MediaStore, r: &Rendition, original: Option<&str>) -> std::io::Result<MediaFile> {
    let name = store.put(&r.bytes, r.encoding.extension())?;
    Ok(MediaFile {
        name,
        original: original.map(str::to_owned),
        content_type: r.encoding.content_type().to_owned(),
        width: i64::from(r.width),
        height: i64::from(r.height),
        bytes: r.bytes.len() as i64,
    })
}

/// Checks and re-encodes an image and stores its sizes in `store` (blocking: the caller runs it
/// off the async threads); the display image first, then its thumbnails.
pub fn process_and_store(store: &MediaStore, bytes: Vec<u8>) -> Result<Vec<MediaFile>, AppError> {
    let processed = images::process(&bytes).map_err(refused)?;
    drop(bytes);
    let io = |e: std::io::Error| AppError::internal(format!("cannot store the image: {e}"));
    let display = stored(store, &processed.display, None).map_err(io)?;
    let mut files = vec![display.clone()];
    for t in &processed.thumbnails {
        files.push(stored(store, t, Some(&display.name)).map_err(io)?);
    }
    Ok(files)
}

/// Checks and re-encodes an upload on a blocking thread (a bounded number at once) and stores
/// its sizes; the display image first, then its thumbnails.
pub(crate) async fn store_upload(app: &App, bytes: Vec<u8>) -> Result<Vec<MediaFile>, AppError> {
    let store = app.media.clone().ok_or_else(|| {
        AppError::internal("image uploads are not configured (no media directory)")
    })?;
    let _permit = app
        .image_work
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| AppError::internal("the image pool is closed"))?;
    tokio::task::spawn_blocking(move || process_and_store(&store, bytes))
        .await
        .map_err(|e| AppError::internal(format!("the image step failed: {e}")))?
}

/// Records stored files in the transaction that refers to them.
pub(crate) async fn record_files(
    tx: &mut souk_storage::Tx,
    vendor_id: Uuid,
    files: &[MediaFile],
    now: i64,
) -> Result<(), AppError> {
    for file in files {
        media::record(tx, vendor_id, file, now).await?;
    }
    Ok(())
}

/// Adds the image in `bytes`, with its alt text, after the product's other images.
pub async fn add(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    product_id: Uuid,
    bytes: Vec<u8>,
    alt: &str,
) -> Result<Product, AppError> {
    let product = crate::products::get(app, vendor_id, product_id).await?;
    let alt = alt.trim();
    if alt.chars().count() > 512 || souk_domain::text::has_hidden_controls(alt) {
        return Err(AppError::field(
            "alt",
            "at most 512 characters, no control characters",
        ));
    }
    if product.images.len() >= MAX_IMAGES {
        return Err(AppError::refused(
            Kind::Conflict,
            "too_many_images",
            "Conflict",
            format!("a product has at most {MAX_IMAGES} images"),
        ));
    }
    let files = store_upload(app, bytes).await?;
    let display = &files[0];
    let url = media_url(&display.name);
    let now = now_ms();
    let mut tx = app.db.begin_write().await?;
    record_files(&mut tx, vendor_id, &files, now).await?;
    if !media::append_product_image(&mut tx, vendor_id, product_id, &url, alt).await? {
        return Err(AppError::not_found("no such product"));
    }
    record_audit(
        &mut tx,
        actor,
        "product.image_add",
        ("product", product_id),
        Some(vendor_id),
        serde_json::json!({"url": url, "width": display.width, "height": display.height}),
    )
    .await?;
    let data = serde_json::json!({
        "change": "image_added", "product_id": product_id, "vendor_id": vendor_id, "url": url,
    });
    crate::outbox::emit(&mut tx, "product.updated", None, Some(vendor_id), &data).await?;
    tx.commit().await?;
    app.catalog_changed();
    app.jobs_committed();
    crate::products::get(app, vendor_id, product.id).await
}
