//! Uploaded files: stored under a directory by content-addressed names (the SHA-256 of their
//! bytes), so a file is written once however often it is uploaded, never changes once named
//! (it can be cached for a year), and instances on PostgreSQL share files through one
//! configured directory. The `media` table records each file's size and which display image a
//! thumbnail belongs to.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Db, StorageError, Tx};

/// The directory uploaded files live in.
#[derive(Debug, Clone)]
pub struct MediaStore {
    dir: PathBuf,
}

/// The extensions stored files have (and the content type each is served with).
const KINDS: [(&str, &str); 2] = [("jpg", "image/jpeg"), ("png", "image/png")];

impl MediaStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        MediaStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stores `bytes` (durably: written beside, synced, renamed into place) and returns the
    /// file's name, `<sha256 hex>.<extension>`.
    pub fn put(&self, bytes: &[u8], extension: &str) -> std::io::Result<String> {
        let hex: String = Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = format!("{hex}.{extension}");
        let path = self.path(&name).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "unknown file type")
        })?;
        if path.is_file() {
            return Ok(name);
        }
        let folder = path.parent().expect("a stored file has a folder");
        std::fs::create_dir_all(folder)?;
        let partial = folder.join(format!(".{name}.{}", Uuid::now_v7().simple()));
        let written = (|| {
            let mut file = std::fs::File::create(&partial)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&partial, &path)?;
            std::fs::File::open(folder)?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        written.map(|()| name)
    }

    /// Where the file `name` is, when `name` is one this store could have made (so no name
    /// from a URL reaches outside the directory).
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        content_type(name)?;
        Some(self.dir.join(&name[..2]).join(name))
    }
}

/// The content type of a stored file's name; `None` for a name no stored file has.
pub fn content_type(name: &str) -> Option<&'static str> {
    let (hash, extension) = name.split_once('.')?;
    let hex = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex {
        return None;
    }
    KINDS
        .iter()
        .find(|(ext, _)| *ext == extension)
        .map(|(_, t)| *t)
}

/// A stored file's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub name: String,
    /// For a thumbnail: the display image it was made from.
    pub original: Option<String>,
    pub content_type: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
}

/// Records a stored file (once: the same bytes uploaded again keep the first record).
pub async fn record(
    tx: &mut Tx,
    vendor_id: Uuid,
    file: &MediaFile,
    now: i64,
) -> Result<(), StorageError> {
    crate::sql::query(
            "INSERT INTO media (name, original, vendor_id, content_type, width, height, bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (name) DO NOTHING",
        )
        .bind(&file.name)
        .bind(&file.original)
        .bind(vendor_id)
        .bind(&file.content_type)
        .bind(file.width)
        .bind(file.height)
        .bind(file.bytes)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

/// The display image `name` and its thumbnails, narrowest first (empty: not an upload).
pub async fn sizes(db: &Db, name: &str) -> Result<Vec<MediaFile>, StorageError> {
    type Row = (String, Option<String>, String, i64, i64, i64);
    let rows: Vec<Row> = crate::sql::query_as(
        "SELECT name, original, content_type, width, height, bytes FROM media \
             WHERE name = $1 OR original = $1 ORDER BY width",
    )
    .bind(name)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(name, original, content_type, width, height, bytes)| MediaFile {
                name,
                original,
                content_type,
                width,
                height,
                bytes,
            },
        )
        .collect())
}

/// The sizes of several display images at once (see [`sizes`]), by display image name; names
/// that are not uploads are absent.
pub async fn sizes_of(
    db: &Db,
    names: &[String],
) -> Result<std::collections::HashMap<String, Vec<MediaFile>>, StorageError> {
    let mut by_name: std::collections::HashMap<String, Vec<MediaFile>> = Default::default();
    if names.is_empty() {
        return Ok(by_name);
    }
    let list = crate::catalog::placeholders(1, names.len());
    let sql = format!(
        "SELECT name, original, content_type, width, height, bytes FROM media \
         WHERE name IN ({list}) OR original IN ({list}) ORDER BY width"
    );
    type Row = (String, Option<String>, String, i64, i64, i64);
    let args: Vec<crate::db::Arg> = names.iter().cloned().map(crate::db::Arg::Text).collect();
    let rows: Vec<Row> = crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    for (name, original, content_type, width, height, bytes) in rows {
        let display = original.clone().unwrap_or_else(|| name.clone());
        by_name.entry(display).or_default().push(MediaFile {
            name,
            original,
            content_type,
            width,
            height,
            bytes,
        });
    }
    Ok(by_name)
}

/// Adds an image at the end of one of the vendor's products; `false` when the product is not
/// the vendor's.
pub async fn append_product_image(
    tx: &mut Tx,
    vendor_id: Uuid,
    product_id: Uuid,
    url: &str,
    alt: &str,
) -> Result<bool, StorageError> {
    let inserted = crate::sql::query(
            "INSERT INTO product_images (id, product_id, position, url, alt) \
             SELECT $1, p.id, COALESCE((SELECT MAX(position) + 1 FROM product_images WHERE product_id = p.id), 0), $3, $4 \
             FROM products p WHERE p.id = $2 AND p.vendor_id = $5",
        )
        .bind(Uuid::now_v7())
        .bind(product_id)
        .bind(url)
        .bind(alt)
        .bind(vendor_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if inserted == 1 {
        crate::sql::query("UPDATE products SET updated_at = $2 WHERE id = $1")
            .bind(product_id)
            .bind(crate::now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    Ok(inserted == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_content_addresses_and_nothing_else_maps_to_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = MediaStore::new(dir.path());
        let name = store.put(b"pixels", "jpg").unwrap();
        assert_eq!(store.put(b"pixels", "jpg").unwrap(), name, "stored once");
        assert_eq!(
            std::fs::read(store.path(&name).unwrap()).unwrap(),
            b"pixels"
        );
        assert_eq!(content_type(&name), Some("image/jpeg"));
        for bad in [
            "../secret.key",
            "ab.jpg",
            &name.replace(".jpg", ".svg"),
            &name.replace(".jpg", ".jpg/../../x"),
            &name.to_uppercase(),
        ] {
            assert_eq!(store.path(bad), None, "{bad}");
        }
    }
}
