//! Reading products back as drafts, page by page, for the Shopify CSV export.

use std::collections::HashMap;

use souk_domain::catalog::{Category, Handle, Product, ProductDraft, VariantDraft};
use uuid::Uuid;

use super::{PRODUCT_COLUMNS, ProductRow, all_categories, hydrate};
use crate::db::Arg;
use crate::{Db, StorageError};

/// Where the next export page starts (products are exported in creation order).
pub type ExportCursor = Option<Uuid>;

/// Up to `limit` products (any status) after `after`, optionally of one vendor, each with its
/// vendor's name. Returns the cursor for the next page, `None` at the end.
pub async fn export_page(
    db: &Db,
    vendor_handle: Option<&str>,
    after: ExportCursor,
    limit: u32,
) -> Result<(Vec<(String, ProductDraft)>, ExportCursor), StorageError> {
    let mut args = Vec::new();
    let mut filters = vec!["1 = 1".to_owned()];
    if let Some(v) = vendor_handle {
        args.push(Arg::Text(v.to_owned()));
        filters.push(format!("v.handle = ${}", args.len()));
    }
    if let Some(after) = after {
        args.push(Arg::Uuid(after));
        filters.push(format!("p.id > ${}", args.len()));
    }
    args.push(Arg::I64(i64::from(limit)));
    let sql = format!(
        "SELECT {PRODUCT_COLUMNS} FROM products p JOIN vendors v ON v.id = p.vendor_id WHERE {} ORDER BY p.id LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    let rows: Vec<ProductRow> = crate::sql::query_as(sql)
        .bind_all(args)
        .fetch_all(db)
        .await?;
    let full_page = rows.len() == limit as usize;
    let products = hydrate(db, rows).await?;
    let next = if full_page {
        products.last().map(|p| p.id)
    } else {
        None
    };
    let categories = all_categories(db).await?;
    let by_id: HashMap<Uuid, &Category> = categories.iter().map(|c| (c.id, c)).collect();
    let drafts = products
        .into_iter()
        .map(|p| (p.vendor.name.clone(), to_draft(p, &by_id)))
        .collect();
    Ok((drafts, next))
}

fn category_path(id: Uuid, by_id: &HashMap<Uuid, &Category>) -> Vec<String> {
    let mut path = Vec::new();
    let mut at = by_id.get(&id);
    while let Some(c) = at {
        path.push(c.name.clone());
        if path.len() > 64 {
            break;
        }
        at = c.parent_id.and_then(|p| by_id.get(&p));
    }
    path.reverse();
    path
}

fn to_draft(p: Product, by_id: &HashMap<Uuid, &Category>) -> ProductDraft {
    // Shopify rows carry one category: the deepest the product is in.
    let category_path = p
        .categories
        .iter()
        .map(|c| category_path(c.id, by_id))
        .max_by_key(Vec::len)
        .unwrap_or_default();
    ProductDraft {
        handle: Handle::parse(&p.handle)
            .unwrap_or_else(|_| Handle::slugify(&p.handle).expect("stored handles are valid")),
        title: p.title,
        description_html: p.description_html,
        product_type: p.product_type,
        tags: p.tags,
        status: p.status,
        category_path,
        option_names: p.options.iter().map(|o| o.name.clone()).collect(),
        variants: p
            .variants
            .into_iter()
            .map(|v| VariantDraft {
                sku: v.sku,
                option_values: v.options.into_iter().map(|(_, value)| value).collect(),
                price: v.price.amount,
                compare_at_price: v.compare_at_price.map(|c| c.amount),
                stock: Some(v.stock),
                track_inventory: v.track_inventory,
                grams: v.grams,
            })
            .collect(),
        images: p.images,
    }
}
