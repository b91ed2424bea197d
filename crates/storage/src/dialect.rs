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

/// The `FROM` of a product listing: products `p` with their vendor `v`, and, with a search
/// (`$param` bound to [`fts_query`]'s output), the derived table `s(sid, score)` of matching
/// products, higher score = better match.
///
/// On SQLite the match is the outer loop, forced with `CROSS JOIN` (SQLite never reorders its
/// operands): left to itself, the planner may walk products in sort order and run the
/// full-text query once per product — products × matches, 7 s for one search on 20,000
/// products. Starting from the match costs what the match returns, whatever the catalog size.
///
/// `lead` (no search): a table `c` with a `product_id` column to start from instead, then each
/// product by id: one category's `product_categories` rows walked in the sort order (both
/// databases), or on SQLite a small category tree's or a narrow price range's products, sorted
/// afterwards.
pub(crate) fn listing_from(
    backend: Backend,
    search_param: Option<usize>,
    lead: Option<&str>,
) -> String {
    match (backend, search_param) {
        (Backend::Sqlite, None) if lead.is_some() => format!(
            "{} CROSS JOIN products p ON p.id = c.product_id JOIN vendors v ON v.id = p.vendor_id",
            lead.unwrap_or_default()
        ),
        (Backend::Postgres, None) if lead.is_some() => format!(
            "{} JOIN products p ON p.id = c.product_id JOIN vendors v ON v.id = p.vendor_id",
            lead.unwrap_or_default()
        ),
        (_, None) => "products p JOIN vendors v ON v.id = p.vendor_id".to_owned(),
        (Backend::Sqlite, Some(param)) => format!(
            "(SELECT rowid AS sid, -{SQLITE_RANK} AS score \
             FROM product_search WHERE product_search MATCH ${param}) s \
             CROSS JOIN products p ON p.rowid = s.sid JOIN vendors v ON v.id = p.vendor_id"
        ),
        // `s` is the query's `WITH` entry [`listing_search_cte`].
        (Backend::Postgres, Some(_)) => {
            "s JOIN products p ON p.id = s.sid JOIN vendors v ON v.id = p.vendor_id".to_owned()
        }
    }
}

/// SQLite's relevance of a match (lower is better): BM25 with the title weighted most, then
/// the SKUs, the vendor's name and the description.
const SQLITE_RANK: &str = "bm25(product_search, 10.0, 4.0, 2.0, 1.0)";

/// SQLite, a search in relevance order with no other filter: only the best `n` matches (below
/// the cursor's score `$below`, if any) are ranked — FTS5 keeps the top `n` instead of sorting
/// every match — and only their products are read. Returns the `WITH` entry `s`, the `FROM`
/// starting from it, and the columns telling the caller whether that was exact
/// (`score_floor`, the lowest score ranked, and `ranked`, how many were).
pub(crate) fn sqlite_top_matches(
    param: usize,
    below: Option<usize>,
    n: u32,
) -> (String, String, &'static str) {
    let below = below
        .map(|k| format!(" AND -{SQLITE_RANK} <= ${k}"))
        .unwrap_or_default();
    (
        format!(
            "s AS MATERIALIZED (SELECT rowid AS sid, -{SQLITE_RANK} AS score FROM product_search \
             WHERE product_search MATCH ${param}{below} ORDER BY {SQLITE_RANK} LIMIT {n})"
        ),
        "s CROSS JOIN products p ON p.rowid = s.sid JOIN vendors v ON v.id = p.vendor_id"
            .to_owned(),
        ", (SELECT MIN(score) FROM s) AS score_floor, (SELECT COUNT(*) FROM s) AS ranked",
    )
}

/// PostgreSQL: the search match as a `WITH` entry of its own, `MATERIALIZED` so it is planned
/// alone (from the full-text index) and then leads: inlined, the planner may instead walk
/// products in sort order and test each one (it did, on 20,000 products). `None` on SQLite,
/// where [`listing_from`] orders the loops.
pub(crate) fn listing_search_cte(backend: Backend, search_param: Option<usize>) -> Option<String> {
    match (backend, search_param) {
        (Backend::Postgres, Some(param)) => Some(format!(
            "s AS MATERIALIZED (SELECT id AS sid, ts_rank(search, to_tsquery('english', ${param}))::float8 AS score \
             FROM products WHERE search @@ to_tsquery('english', ${param}))"
        )),
        _ => None,
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
    match tx.backend() {
        Backend::Sqlite => {
            crate::sql::query("DELETE FROM product_search WHERE rowid = (SELECT rowid FROM products WHERE id = $1)")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            crate::sql::query(
                "INSERT INTO product_search (rowid, title, skus, vendor, body) \
                 SELECT rowid, $2, $3, $4, $5 FROM products WHERE id = $1",
            )
            .bind(id)
            .bind(&title)
            .bind(&skus)
            .bind(&vendor)
            .bind(&body)
            .execute(&mut *tx)
            .await?;
        }
        Backend::Postgres => {
            crate::sql::query(
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
            .execute(&mut *tx)
            .await?;
        }
    }
    crate::catalog::typos::remember_title_words(tx, &[doc.title]).await
}

/// A join whose left side must drive the loop: SQLite's `CROSS JOIN` (never reordered; its
/// planner, without statistics, may otherwise start from the bigger table), PostgreSQL's plain
/// `JOIN` (it plans from its statistics; `CROSS JOIN` takes no `ON` there).
pub(crate) fn join_in_order(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "CROSS JOIN",
        Backend::Postgres => "JOIN",
    }
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
