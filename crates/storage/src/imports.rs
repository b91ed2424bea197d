//! A vendor's product imports from the dashboard: one row each, updated as its batches are
//! written, so whichever instance serves the progress page reads how far it has got.

use uuid::Uuid;

use crate::{Db, StorageError, Tx, now_ms};

/// An import as its page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub file_name: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Data rows in the file.
    pub rows_read: i64,
    /// Valid products to write.
    pub products: i64,
    pub written: i64,
    /// JSON array of `{"line": n, "message": "…"}`: the file's refused lines.
    pub rejected: String,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

crate::from_row!(ImportRow {
    id,
    vendor_id,
    file_name,
    status,
    rows_read,
    products,
    written,
    rejected,
    error,
    created_at,
    updated_at
});

const COLUMNS: &str = "id, vendor_id, file_name, status, rows_read, products, written, rejected, error, \
                       created_at, updated_at";

pub async fn insert(tx: &mut Tx, row: &ImportRow) -> Result<(), StorageError> {
    crate::sql::query(
            "INSERT INTO product_imports (id, vendor_id, file_name, status, rows_read, products, written, \
             rejected, error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(row.id)
        .bind(row.vendor_id)
        .bind(&row.file_name)
        .bind(&row.status)
        .bind(row.rows_read)
        .bind(row.products)
        .bind(row.written)
        .bind(&row.rejected)
        .bind(&row.error)
        .bind(row.created_at)
        .bind(row.updated_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

/// Records how many products are written; with `finished`, the final status and error.
pub async fn progress(
    db: &Db,
    id: Uuid,
    written: i64,
    finished: Option<(&str, Option<&str>)>,
) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    let (status, error) = finished.unwrap_or(("running", None));
    crate::sql::query(
            "UPDATE product_imports SET written = $2, status = $3, error = $4, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(written)
        .bind(status)
        .bind(error)
        .bind(now_ms())
        .execute(&mut tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(())
}

/// The vendor's import `id` (`None`: not the vendor's).
pub async fn get(db: &Db, vendor_id: Uuid, id: Uuid) -> Result<Option<ImportRow>, StorageError> {
    let sql = format!("SELECT {COLUMNS} FROM product_imports WHERE id = $1 AND vendor_id = $2");
    crate::sql::query_as(sql)
        .bind(id)
        .bind(vendor_id)
        .fetch_optional(db)
        .await
}

/// The vendor's latest imports, newest first.
pub async fn recent(db: &Db, vendor_id: Uuid, limit: i64) -> Result<Vec<ImportRow>, StorageError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM product_imports WHERE vendor_id = $1 ORDER BY created_at DESC LIMIT $2"
    );
    crate::sql::query_as(sql)
        .bind(vendor_id)
        .bind(limit)
        .fetch_all(db)
        .await
}
