//! The few places where SQLite and PostgreSQL need different SQL: full-text search.
//!
//! SQLite: an FTS5 table `product_search` (porter stemming) whose rowid is the product's rowid,
//! ranked by bm25 with column weights title 10, SKUs 4, vendor 2, description 1.
//! PostgreSQL: a `tsvector` column on `products` (GIN index) with weights A (title), B (SKUs,
//! vendor), C (description), ranked by `ts_rank`. Both rank a title match above a description match.

use uuid::Uuid;

use crate::{Backend, StorageError, Tx};

/// The search terms as the backend's full-text query language (terms are alphanumeric only,
/// so nothing here can inject query syntax). Every term must match, as a prefix.
pub(crate) fn fts_query(backend: Backend, terms: &[String]) -> String {
    match backend {
        Backend::Sqlite => terms
            .iter()
            .map(|t| format!("\"{t}\"*"))
            .collect::<Vec<_>>()
            .join(" "),
        Backend::Postgres => terms
            .iter()
            .map(|t| format!("{t}:*"))
            .collect::<Vec<_>>()
            .join(" & "),
    }
}

/// A derived table `s(sid, score)` of matching products, higher score = better match.
/// `$param` is bound to [`fts_query`]'s output.
pub(crate) fn search_join(backend: Backend, param: usize) -> String {
    match backend {
        Backend::Sqlite => format!(
            "JOIN (SELECT rowid AS sid, -bm25(product_search, 10.0, 4.0, 2.0, 1.0) AS score \
             FROM product_search WHERE product_search MATCH ${param}) s ON s.sid = p.rowid"
        ),
        Backend::Postgres => format!(
            "JOIN (SELECT id AS sid, ts_rank(search, to_tsquery('english', ${param}))::float8 AS score \
             FROM products WHERE search @@ to_tsquery('english', ${param})) s ON s.sid = p.id"
        ),
    }
}

/// The text a product is found by.
pub(crate) struct SearchDoc<'a> {
    pub title: &'a str,
    pub skus: &'a str,
    pub vendor: &'a str,
    pub body: &'a str,
}

/// Splits text into words the way shoppers' queries are split (letters and digits; anything else
/// separates), so "TEE-0" is indexed as "TEE 0" on both backends (PostgreSQL's parser would
/// otherwise read "-0" as a signed number).
/// The text a search column holds for `text` (see [`index_product`]).
pub(crate) fn search_words(text: &str) -> String {
    words(text)
}

fn words(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes a product's search entry, in the same transaction as the product itself.
pub(crate) async fn index_product(
    tx: &mut Tx,
    id: Uuid,
    doc: &SearchDoc<'_>,
) -> Result<(), StorageError> {
    let (title, skus, vendor, body) = (
        words(doc.title),
        words(doc.skus),
        words(doc.vendor),
        words(doc.body),
    );
    match tx {
        Tx::Sqlite(tx) => {
            sqlx::query("DELETE FROM product_search WHERE rowid = (SELECT rowid FROM products WHERE id = $1)")
                .bind(id)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "INSERT INTO product_search (rowid, title, skus, vendor, body) \
                 SELECT rowid, $2, $3, $4, $5 FROM products WHERE id = $1",
            )
            .bind(id)
            .bind(&title)
            .bind(&skus)
            .bind(&vendor)
            .bind(&body)
            .execute(&mut **tx)
            .await?;
        }
        Tx::Postgres(tx) => {
            sqlx::query(
                "UPDATE products SET search = \
                 setweight(to_tsvector('english', $2), 'A') || \
                 setweight(to_tsvector('simple', $3), 'B') || \
                 setweight(to_tsvector('english', $4), 'B') || \
                 setweight(to_tsvector('english', $5), 'C') \
                 WHERE id = $1",
            )
            .bind(id)
            .bind(&title)
            .bind(&skus)
            .bind(&vendor)
            .bind(&body)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Row locking for queue claims: PostgreSQL instances skip rows another is claiming; SQLite
/// has one writer at a time, so there is nothing to skip.
pub(crate) fn skip_locked(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

/// Row locking inside a write transaction: PostgreSQL locks the rows read (so a concurrent
/// transaction waits); SQLite's `BEGIN IMMEDIATE` already holds the only write lock.
pub(crate) fn for_update(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    }
}
