//! The storefront's product listing: filters, sorts and keyset (cursor) pagination.
//!
//! Pages are cut by the sort key plus the product id (a total order), never by OFFSET, so
//! walking all pages returns every product exactly once while the catalog is unchanged, and the
//! cost of a page does not grow with its depth.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use souk_domain::catalog::{Product, ProductSort, search_terms};
use uuid::Uuid;

use super::{PRODUCT_COLUMNS, ProductRow, hydrate};
use crate::db::Arg;
use crate::dialect::{fts_query, listing_from, listing_search_cte, sqlite_top_matches};
use crate::{Backend, Db, StorageError};

/// What the storefront asked for; validated by the caller (limit 1..=100, sort allowed).
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub search: Option<String>,
    pub category: Option<String>,
    pub vendor: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: bool,
    pub sort: ProductSort,
    pub limit: u32,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// The position after the last item of a page.
#[derive(Debug, Clone, PartialEq)]
enum Key {
    Int(i64),
    Text(String),
    Score(f64),
}

fn sort_name(sort: ProductSort) -> &'static str {
    match sort {
        ProductSort::Newest => "n",
        ProductSort::PriceAsc => "pa",
        ProductSort::PriceDesc => "pd",
        ProductSort::Title => "t",
        ProductSort::Relevance => "r",
    }
}

fn encode_cursor(sort: ProductSort, key: &Key, id: Uuid) -> String {
    let key = match key {
        Key::Int(i) => i.to_string(),
        Key::Text(t) => t.clone(),
        Key::Score(f) => format!("{:x}", f.to_bits()),
    };
    URL_SAFE_NO_PAD.encode(format!("{}|{}|{key}", sort_name(sort), id.simple()))
}

fn decode_cursor(sort: ProductSort, cursor: &str) -> Result<(Key, Uuid), StorageError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StorageError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| StorageError::InvalidCursor)?;
    let mut parts = text.splitn(3, '|');
    let (Some(s), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(StorageError::InvalidCursor);
    };
    if s != sort_name(sort) {
        return Err(StorageError::InvalidCursor);
    }
    let id = Uuid::try_parse(id).map_err(|_| StorageError::InvalidCursor)?;
    let key = match sort {
        ProductSort::Newest | ProductSort::PriceAsc | ProductSort::PriceDesc => {
            Key::Int(key.parse().map_err(|_| StorageError::InvalidCursor)?)
        }
        ProductSort::Title => Key::Text(key.to_owned()),
        ProductSort::Relevance => {
            let bits = u64::from_str_radix(key, 16).map_err(|_| StorageError::InvalidCursor)?;
            let f = f64::from_bits(bits);
            if !f.is_finite() {
                return Err(StorageError::InvalidCursor);
            }
            Key::Score(f)
        }
    };
    Ok((key, id))
}

/// Where a listing without search starts. On SQLite, whose planner has no statistics to choose
/// by, any of them; PostgreSQL chooses from its own statistics between `SortOrder` and
/// `LeafCategory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lead {
    /// Walk the sort order and keep the products that pass the filters: a page costs about
    /// `limit ÷ (share of products that pass)` rows — little when many pass.
    SortOrder,
    /// Walk one category's products in the sort order (a category without sub-categories:
    /// `product_categories` holds a copy of each product's sort keys, indexed per category),
    /// so a page reads about `limit` entries whatever the category's size.
    LeafCategory,
    /// Read the first `n` (all: `None`) entries of each category of a tree in the sort order
    /// from the copied sort keys (one index range per category, no product read), keep the
    /// first `n` of them all, then look up only those products. Exact when at least a page of
    /// them passes the other checks (a suspended vendor's products do not); otherwise the
    /// listing asks again for more, then for all of them.
    CategoryCandidates(Option<u32>),
    /// Start from the category tree's products, then sort them.
    Category,
    /// Start from the variants in the price range (index on price), then sort their products.
    PriceRange,
    /// A search in relevance order with no other filter (SQLite): rank only the best `n`
    /// matches (all: `None`) and look up only their products. A common word matches thousands
    /// of products, and reading each of them cost 2 µs a match (13 ms for 5,000). Exact when
    /// fewer than `n` matched, or when the page's last row scores above the lowest score
    /// ranked (what was not ranked scores no higher, ties included); otherwise the listing
    /// asks again for all of them.
    TopMatches(Option<u32>),
}

/// A category with at most this many products starts from its products; a price range with at
/// most this many variants starts from them. Beyond, so many products pass that walking the
/// sort order finds a page quickly. When the filter is correlated with the sort (high prices
/// walked from the cheapest), the walk skips the products that cannot match from the price
/// index alone (`price_min`/`price_max`), without reading their variants.
const LEAD_MAX: i64 = 10_000;

const CATEGORY_TREE: &str = "cat(id) AS (SELECT id FROM categories WHERE handle = $1 \
     UNION ALL SELECT c.id FROM categories c JOIN cat ON c.parent_id = cat.id)";

/// Chooses the [`Lead`] of a listing by counting (at most `LEAD_MAX + 1` index entries) what
/// each selective filter would start from.
/// A tree of at most this many categories is listed from each category's own sort index
/// ([`Lead::CategoryCandidates`]).
const TREE_MAX: usize = 64;

/// Chooses the [`Lead`] of a listing, with the categories of the asked category's tree when
/// it is [`Lead::CategoryCandidates`] (else empty).
pub(super) async fn choose_lead(
    db: &Db,
    query: &ListQuery,
) -> Result<(Lead, Vec<Uuid>), StorageError> {
    if query
        .search
        .as_deref()
        .is_some_and(|q| !search_terms(q).is_empty())
    {
        // The search match leads (see `listing_from`).
        let only_search = query.category.is_none()
            && query.vendor.is_none()
            && query.min_price.is_none()
            && query.max_price.is_none()
            && !query.in_stock;
        if db.backend() == Backend::Sqlite && only_search && query.sort == ProductSort::Relevance {
            return Ok((Lead::TopMatches(Some((query.limit + 1) * 4)), Vec::new()));
        }
        return Ok((Lead::SortOrder, Vec::new()));
    }
    if let Some(category) = &query.category {
        let sql = format!(
            "WITH RECURSIVE {CATEGORY_TREE} SELECT id FROM cat LIMIT {}",
            TREE_MAX + 1
        );
        let tree: Vec<Uuid> = crate::sql::query_scalar(sql)
            .bind(category)
            .fetch_all(db)
            .await?;
        if tree.len() <= 1 {
            return Ok((Lead::LeafCategory, Vec::new()));
        }
        let only_category = query.vendor.is_none()
            && query.min_price.is_none()
            && query.max_price.is_none()
            && !query.in_stock;
        if only_category && tree.len() <= TREE_MAX {
            return Ok((Lead::CategoryCandidates(Some(query.limit + 1)), tree));
        }
    }
    Ok((choose_sqlite_lead(db, query).await?, Vec::new()))
}

/// The lead of a listing filtered by price or by a category tree with other filters.
async fn choose_sqlite_lead(db: &Db, query: &ListQuery) -> Result<Lead, StorageError> {
    if db.backend() != Backend::Sqlite {
        return Ok(Lead::SortOrder);
    }
    if let Some(category) = &query.category {
        let sql = format!(
            "WITH RECURSIVE {CATEGORY_TREE} SELECT COUNT(*) FROM (SELECT 1 FROM product_categories \
             WHERE category_id IN (SELECT id FROM cat) LIMIT {})",
            LEAD_MAX + 1
        );
        let n: i64 = crate::sql::query_scalar(sql)
            .bind(category)
            .fetch_one(db)
            .await?;
        if n <= LEAD_MAX {
            return Ok(Lead::Category);
        }
    }
    if query.min_price.is_some() || query.max_price.is_some() {
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM variants WHERE price >= $1 AND price <= $2 LIMIT {})",
            LEAD_MAX + 1
        );
        let in_range: i64 = crate::sql::query_scalar(sql)
            .bind(query.min_price.unwrap_or(0))
            .bind(query.max_price.unwrap_or(i64::MAX))
            .fetch_one(db)
            .await?;
        if in_range <= LEAD_MAX {
            return Ok(Lead::PriceRange);
        }
    }
    Ok(Lead::SortOrder)
}

/// Builds the listing query of `query` for `backend`.
fn listing_sql(
    backend: Backend,
    query: &ListQuery,
    lead: Lead,
    tree: &[Uuid],
) -> Result<ListingSql, StorageError> {
    listing_sql_for(backend, query, lead, tree, Select::Page)
}

/// What a listing query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Select {
    /// One page of products in the sort order.
    Page,
    /// Every matching product, once, as `r(id, vendor_id, price_min, available_variants)`, a
    /// `WITH` entry for the caller's query after it (the facets). No lead repeats a product: a
    /// category tree's and a price range's are `DISTINCT`.
    Matches,
}

pub(super) fn listing_sql_for(
    backend: Backend,
    query: &ListQuery,
    lead: Lead,
    tree: &[Uuid],
    select: Select,
) -> Result<ListingSql, StorageError> {
    let mut args: Vec<Arg> = Vec::new();
    let next = |args: &mut Vec<Arg>, a: Arg| {
        args.push(a);
        args.len()
    };

    let terms = query
        .search
        .as_deref()
        .map(search_terms)
        .unwrap_or_default();
    let sort = if query.sort == ProductSort::Relevance && terms.is_empty() {
        ProductSort::Newest
    } else {
        query.sort
    };

    let mut ctes: Vec<String> = Vec::new();
    let mut search_param = None;
    let mut filters = vec![
        "p.status = 'published'".to_owned(),
        "v.status = 'active'".to_owned(),
    ];

    if !terms.is_empty() {
        let n = next(&mut args, Arg::Text(fts_query(backend, &terms)));
        search_param = Some(n);
    }
    // When something else leads (the search match, a category's or a price range's
    // products), each product is then looked up by its id: conditions on its sort and price
    // columns are marked (`+`, a no-op) so that SQLite cannot choose a range of their indexes
    // inside that loop instead (products × leads: 3.6 s for a price range of 20,000).
    // PostgreSQL plans from statistics (and has no unary `+` on text).
    let p_by_id = backend == Backend::Sqlite && (lead != Lead::SortOrder || !terms.is_empty());
    let by_id = |col: &str| {
        if p_by_id {
            format!("+{col}")
        } else {
            col.to_owned()
        }
    };
    let mut lead_source = None;
    if let Some(category) = &query.category {
        let n = next(&mut args, Arg::Text(category.clone()));
        if lead == Lead::LeafCategory {
            lead_source = Some("product_categories c".to_owned());
            filters.push(format!(
                "c.category_id = (SELECT id FROM categories WHERE handle = ${n})"
            ));
            filters.push("c.status = 'published'".to_owned());
        } else if !matches!(lead, Lead::CategoryCandidates(_)) {
            ctes.push(CATEGORY_TREE.replace("$1", &format!("${n}")));
        }
        if !matches!(
            lead,
            Lead::Category | Lead::LeafCategory | Lead::CategoryCandidates(_)
        ) {
            filters.push(
                "EXISTS (SELECT 1 FROM product_categories pc WHERE pc.product_id = p.id \
                 AND pc.category_id IN (SELECT id FROM cat))"
                    .to_owned(),
            );
        }
    }
    if let Some(vendor) = &query.vendor {
        let n = next(&mut args, Arg::Text(vendor.clone()));
        // By id, so the planner starts from the vendor's own (vendor_id, status, sort) index
        // whatever the vendor's size; a join on the handle is planned for an average vendor.
        filters.push(format!(
            "p.vendor_id = (SELECT id FROM vendors WHERE handle = ${n})"
        ));
    }
    if query.min_price.is_some() || query.max_price.is_some() {
        // A product matches when one of its variants is in the price range.
        let lo = next(&mut args, Arg::I64(query.min_price.unwrap_or(0)));
        let hi = next(&mut args, Arg::I64(query.max_price.unwrap_or(i64::MAX)));
        if lead == Lead::PriceRange {
            lead_source = Some(format!(
                "(SELECT DISTINCT product_id FROM variants WHERE price >= ${lo} AND price <= ${hi}) c"
            ));
        } else {
            filters.push(format!(
                "EXISTS (SELECT 1 FROM variants x WHERE x.product_id = p.id AND x.price >= ${lo} AND x.price <= ${hi})"
            ));
        }
        // Implied by a matching variant, and read from the price index alone: a walk in price
        // order starts at the range and skips products that cannot match without reading
        // their variants.
        filters.push(format!("{} <= ${hi}", by_id("p.price_min")));
        filters.push(format!("{} >= ${lo}", by_id("p.price_max")));
    }
    if lead == Lead::Category {
        lead_source = Some(
            "(SELECT DISTINCT product_id FROM product_categories WHERE category_id IN (SELECT id FROM cat)) c"
                .to_owned(),
        );
    }
    if query.in_stock {
        // Kept by triggers on variants and by the code inserting them (migration 0026). Never
        // an index range on SQLite: a vendor's available products are walked in the sort
        // order, not gathered and sorted.
        let available = if backend == Backend::Sqlite {
            "+p.available_variants"
        } else {
            "p.available_variants"
        };
        filters.push(format!("{available} > 0"));
    }

    let (key_col, descending) = match sort {
        ProductSort::Newest => ("p.created_at", true),
        ProductSort::PriceAsc => ("p.price_min", false),
        ProductSort::PriceDesc => ("p.price_min", true),
        ProductSort::Title => ("p.title_sort", false),
        ProductSort::Relevance => ("s.score", true),
    };
    // The same values, read from the category's copy so its index gives the order.
    let (key_col, id_col) = match lead {
        Lead::LeafCategory => (key_col.replacen("p.", "c.", 1), "c.product_id"),
        Lead::CategoryCandidates(_) => ("c.k".to_owned(), "c.product_id"),
        _ => (key_col.to_owned(), "p.id"),
    };
    // The copy's column of the sort key (`created_at`, …), for the candidates' own query.
    let copied_key = key_col_of(sort);
    let mut candidates_after = String::new();
    let mut score_cursor = None;
    if let Some(cursor) = &query.cursor {
        let (key, id) = decode_cursor(sort, cursor)?;
        let k = next(
            &mut args,
            match key {
                Key::Int(i) => Arg::I64(i),
                Key::Text(t) => Arg::Text(t),
                Key::Score(f) => Arg::F64(f),
            },
        );
        if sort == ProductSort::Relevance {
            score_cursor = Some(k);
        }
        let i = next(&mut args, Arg::Uuid(id));
        let op = if descending { "<" } else { ">" };
        candidates_after = format!(
            " AND ({copied_key} {op} ${k} OR ({copied_key} = ${k} AND product_id {op} ${i}))"
        );
        let key = if key_col.starts_with("p.") {
            by_id(&key_col)
        } else {
            key_col.clone()
        };
        filters.push(format!(
            "({key} {op} ${k} OR ({key} = ${k} AND {id_col} {op} ${i}))"
        ));
    }
    let dir = if descending { "DESC" } else { "ASC" };
    if let Lead::CategoryCandidates(n) = lead {
        let limit = n.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        // One ordered index range per category, merged; DISTINCT because a product may be in
        // several categories of the tree.
        let arms: Vec<String> = tree
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let p = next(&mut args, Arg::Uuid(*id));
                format!(
                    "SELECT * FROM (SELECT product_id, {copied_key} AS k FROM product_categories \
                     WHERE category_id = ${p} AND status = 'published'{candidates_after} \
                     ORDER BY {copied_key} {dir}, product_id {dir}{limit}) a{i}"
                )
            })
            .collect();
        lead_source = Some(format!(
            "(SELECT DISTINCT product_id, k FROM ({}) u ORDER BY k {dir}, product_id {dir}{limit}) c",
            arms.join(" UNION ALL ")
        ));
    }
    ctes.extend(listing_search_cte(backend, search_param));
    let mut exactness = "";
    let from = match (lead, search_param) {
        (Lead::TopMatches(Some(n)), Some(param)) if backend == Backend::Sqlite => {
            let (cte, from, columns) = sqlite_top_matches(param, score_cursor, n);
            ctes.push(cte);
            exactness = columns;
            from
        }
        _ => listing_from(backend, search_param, lead_source.as_deref()),
    };
    if select == Select::Matches {
        ctes.push(format!(
            "r AS MATERIALIZED (SELECT p.id AS id, p.vendor_id AS vendor_id, p.price_min AS price_min, \
             p.available_variants AS available_variants FROM {from} WHERE {})",
            filters.join(" AND ")
        ));
        return Ok(ListingSql {
            sql: format!("WITH RECURSIVE {} ", ctes.join(", ")),
            args,
            sort,
        });
    }
    let limit = next(&mut args, Arg::I64(i64::from(query.limit) + 1));
    let score = if terms.is_empty() { "" } else { ", s.score" };
    // RECURSIVE allows the plain entries beside the category tree.
    let with = if ctes.is_empty() {
        String::new()
    } else {
        format!("WITH RECURSIVE {} ", ctes.join(", "))
    };
    let sql = format!(
        "{with}SELECT {PRODUCT_COLUMNS}{score}{exactness} FROM {} \
         WHERE {} ORDER BY {key_col} {dir}, {id_col} {dir} LIMIT ${limit}",
        from,
        filters.join(" AND ")
    );
    Ok(ListingSql { sql, args, sort })
}

/// The column of `product_categories` holding the sort key (relevance has none: it only
/// applies to searches, which never start from a category).
fn key_col_of(sort: ProductSort) -> &'static str {
    match sort {
        ProductSort::PriceAsc | ProductSort::PriceDesc => "price_min",
        ProductSort::Title => "title_sort",
        ProductSort::Newest | ProductSort::Relevance => "created_at",
    }
}

/// The SQL of one listing page, its arguments and the sort it really uses (relevance without
/// search terms falls back to newest).
pub(super) struct ListingSql {
    pub(super) sql: String,
    pub(super) args: Vec<Arg>,
    sort: ProductSort,
}

/// Published products of active vendors matching `query`, one page of them.
pub async fn list_products(db: &Db, query: &ListQuery) -> Result<Page<Product>, StorageError> {
    let (mut lead, tree) = choose_lead(db, query).await?;
    let (mut rows, sort) = loop {
        let ListingSql { sql, args, sort } = listing_sql(db.backend(), query, lead, &tree)?;
        let rows: Vec<ProductRow> = crate::sql::query_as(sql)
            .bind_all(args)
            .fetch_all(db)
            .await?;
        match lead {
            // Less than a page passed: the tree ran out of products, or some candidates were
            // left out (a suspended vendor's). Sixteen times as many, then all, tell which.
            Lead::CategoryCandidates(Some(n)) if rows.len() <= query.limit as usize => {
                let first = query.limit + 1;
                lead = Lead::CategoryCandidates((n == first).then_some(first * 16));
            }
            Lead::TopMatches(Some(n)) if !top_matches_exact(&rows, query.limit, n) => {
                lead = Lead::TopMatches(None);
            }
            _ => break (rows, sort),
        }
    };
    let next_cursor = if rows.len() > query.limit as usize {
        rows.truncate(query.limit as usize);
        rows.last().map(|last| {
            let key = match sort {
                ProductSort::Newest => Key::Int(last.created_at),
                ProductSort::PriceAsc | ProductSort::PriceDesc => Key::Int(last.price_min),
                ProductSort::Title => Key::Text(last.title_sort.clone()),
                ProductSort::Relevance => Key::Score(last.score.unwrap_or(0.0)),
            };
            encode_cursor(sort, &key, last.id)
        })
    } else {
        None
    };
    Ok(Page {
        items: hydrate(db, rows).await?,
        next_cursor,
    })
}

/// Whether a page read from the best `n` matches is the page all matches give: every match
/// was ranked, or the page's lookahead row (its last) scores above every match left unranked.
fn top_matches_exact(rows: &[ProductRow], limit: u32, n: u32) -> bool {
    let Some(first) = rows.first() else {
        return false;
    };
    if first.ranked.is_some_and(|ranked| ranked < i64::from(n)) {
        return true;
    }
    match (rows.get(limit as usize), first.score_floor) {
        (Some(last), Some(floor)) => last.score.is_some_and(|s| s > floor),
        _ => false,
    }
}

/// The plan the linked database library chooses for a listing page, one line per step:
/// SQLite's `EXPLAIN QUERY PLAN` indented by depth (a step below and after another at the same
/// depth runs inside its loop), or PostgreSQL's `EXPLAIN`. For the plan guard test and for
/// operators looking at a slow listing.
///
/// `price_out_seq_scans` (PostgreSQL): plan with sequential scans priced out. PostgreSQL
/// chooses by cost from statistics, so on a small catalog reading the whole table can be the
/// cheapest plan; priced out, a sequential scan that remains means no index can serve the
/// query — a plan that will grow with the catalog.
pub async fn explain_listing(
    db: &Db,
    query: &ListQuery,
    price_out_seq_scans: bool,
) -> Result<Vec<String>, StorageError> {
    let (lead, tree) = choose_lead(db, query).await?;
    let ListingSql { sql, args, .. } = listing_sql(db.backend(), query, lead, &tree)?;
    match db {
        Db::Sqlite { .. } => {
            // On a reader: the plan of the SQLite library the binary runs.
            let rows: Vec<(i64, i64, i64, String)> =
                crate::sql::query_as(format!("EXPLAIN QUERY PLAN {sql}"))
                    .bind_all(args)
                    .fetch_all(db)
                    .await?;
            let mut depth: std::collections::HashMap<i64, usize> = Default::default();
            Ok(rows
                .into_iter()
                .map(|(id, parent, _, detail)| {
                    let d = depth.get(&parent).map_or(0, |d| d + 1);
                    depth.insert(id, d);
                    format!("{}{detail}", "  ".repeat(d))
                })
                .collect())
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            if price_out_seq_scans {
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await?;
            }
            let rows: Vec<(String,)> = bind_args!(
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}"))),
                args
            )
            .fetch_all(&mut *tx)
            .await?;
            tx.rollback().await?;
            Ok(rows.into_iter().map(|(line,)| line).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_sort() {
        let id = Uuid::now_v7();
        for (sort, key) in [
            (ProductSort::Newest, Key::Int(1_700_000_000_000)),
            (ProductSort::Title, Key::Text("a|b|c".into())),
            (ProductSort::Relevance, Key::Score(0.123_456_789)),
        ] {
            let c = encode_cursor(sort, &key, id);
            assert_eq!(decode_cursor(sort, &c).unwrap(), (key, id));
            assert!(decode_cursor(ProductSort::PriceAsc, &c).is_err());
        }
        assert!(decode_cursor(ProductSort::Newest, "!!!").is_err());
        assert!(decode_cursor(ProductSort::Newest, "bnx4eHh8MQ").is_err());
    }
}
