//! Browsing: the home page, search with filters, category and vendor pages, the product page.
//! Filters, sort and page live in the URL, so every list can be shared and works without
//! JavaScript.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use souk_domain::catalog::{Category, CategoryNode, Handle, Product, ProductSort, category_tree};
use souk_domain::money::{Currency, format_decimal, parse_decimal};
use souk_storage::catalog::{self, ListQuery};
use souk_storage::media::{self, MediaFile};

use super::shared::public_page;
use super::{ShopError, Shopper, cached, chrome, json_ld};
use crate::AppState;
use crate::web::{CspNonce, Flash, Page, revalidated};

/// Products per list page.
const PAGE_SIZE: u32 = 24;
/// Products on the home page.
const FEATURED: u32 = 8;

/// Display images' sizes, by display image name (only uploads have any).
type Sizes = HashMap<String, Vec<MediaFile>>;

/// The name of an uploaded image from its URL (`/media/{name}`).
fn media_name(url: &str) -> Option<&str> {
    url.strip_prefix("/media/").filter(|n| !n.contains('/'))
}

/// The sizes of the first image of each product, and of every image of one product page.
async fn sizes_for<'a>(
    state: &AppState,
    urls: impl Iterator<Item = &'a str>,
) -> Result<Sizes, ShopError> {
    let names: Vec<String> = urls.filter_map(media_name).map(str::to_owned).collect();
    Ok(media::sizes_of(&state.db, &names).await?)
}

/// An image as `<img>` shows it: the source, and for uploads a `srcset` of the thumbnails
/// with the display size's width and height (so the page does not shift as it loads).
fn picture(url: &str, alt: &str, sizes: &Sizes) -> Value {
    let files = media_name(url).and_then(|n| sizes.get(n));
    match files {
        Some(files) if !files.is_empty() => {
            let display = files.iter().max_by_key(|f| f.width).expect("not empty");
            let srcset: Vec<String> = files
                .iter()
                .map(|f| format!("/media/{} {}w", f.name, f.width))
                .collect();
            context! {
                src => url, alt => alt, srcset => srcset.join(", "),
                width => display.width, height => display.height,
            }
        }
        _ => context! { src => url, alt => alt, width => 800, height => 800 },
    }
}

/// One product as a card in a grid.
fn card(p: &Product, sizes: &Sizes) -> Value {
    let prices: Vec<i64> = p.variants.iter().map(|v| v.price.amount).collect();
    let currency = p.variants.first().map(|v| v.price.currency);
    let compare = p
        .variants
        .iter()
        .filter_map(|v| v.compare_at_price.map(|c| c.amount))
        .max();
    let min = prices.iter().min().copied().unwrap_or(0);
    let max = prices.iter().max().copied().unwrap_or(0);
    context! {
        title => p.title, handle => p.handle, vendor => p.vendor.name,
        vendor_handle => p.vendor.handle,
        price => currency.map(|c| price_text(min, max, c)),
        compare_at => currency.and_then(|c| compare.filter(|x| *x > min).map(|x| money(x, c))),
        available => p.variants.iter().any(|v| v.available()),
        image => p.images.first().map(|i| picture(&i.url, &i.alt, sizes)),
    }
}

fn money(amount: i64, currency: Currency) -> String {
    crate::web::money_text(amount, currency.code())
}

/// "12.00 USD", or "from 12.00 USD" when variants differ in price.
fn price_text(min: i64, max: i64, currency: Currency) -> String {
    if min == max {
        money(min, currency)
    } else {
        format!("from {}", money(min, currency))
    }
}

fn cards(listed: &Listed) -> Vec<Value> {
    listed
        .page
        .items
        .iter()
        .map(|p| card(p, &listed.sizes))
        .collect()
}

/// A page of products with the sizes of their first images.
pub(super) struct Listed {
    page: catalog::Page<Product>,
    /// The search shown instead of `q`, which found nothing (a corrected slip).
    corrected_q: Option<String>,
    sizes: Sizes,
}

/// Roughly the bytes a product takes in memory (what the cache counts).
fn weight(p: &Product) -> usize {
    512 + p.title.len()
        + p.description_html.len()
        + 256 * (p.variants.len() + p.images.len() + p.categories.len())
}

/// A list page, from the catalog cache.
async fn listed(state: &AppState, query: &ListQuery) -> Result<Arc<Listed>, ShopError> {
    cached(state, format!("store:list:{query:?}"), || {
        let (state, query) = (state.clone(), query.clone());
        async move { listed_now(&state, &query).await }
    })
    .await
}

/// A list page, from the database.
async fn listed_now(state: &AppState, query: &ListQuery) -> Result<(Listed, usize), ShopError> {
    let (page, corrected_q) = match catalog::search_products(&state.db, query).await {
        Ok(found) => (found.page, found.corrected_q),
        // A damaged or foreign cursor: say so, and offer the first page.
        Err(souk_storage::StorageError::InvalidCursor) => {
            return Err(ShopError {
                status: StatusCode::BAD_REQUEST,
                title: "Bad page link",
                detail: "this page link is damaged; start again from the first page".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let sizes = sizes_for(
        state,
        page.items
            .iter()
            .filter_map(|p| p.images.first().map(|i| i.url.as_str())),
    )
    .await?;
    let bytes = page.items.iter().map(weight).sum::<usize>() + 512 * sizes.len();
    Ok((
        Listed {
            page,
            corrected_q,
            sizes,
        },
        bytes,
    ))
}

/// Every category, from the catalog cache.
async fn categories(state: &AppState) -> Result<Arc<Vec<Category>>, ShopError> {
    cached(state, "store:categories".to_owned(), || {
        let db = state.db.clone();
        async move {
            let all = catalog::all_categories(&db).await?;
            let bytes = all.len() * 160;
            Ok((all, bytes))
        }
    })
    .await
}

/// The first active vendors by handle (the choices of the shop filter), from the cache.
const VENDOR_CHOICES: i64 = 100;

async fn vendors(state: &AppState) -> Result<Arc<Vec<catalog::VendorChoice>>, ShopError> {
    cached(state, "store:vendors".to_owned(), || {
        let db = state.db.clone();
        async move {
            let all = catalog::vendor_choices(&db, VENDOR_CHOICES).await?;
            let bytes = all.len() * 256;
            Ok((all, bytes))
        }
    })
    .await
}

fn tree_value(nodes: &[CategoryNode]) -> Vec<Value> {
    nodes
        .iter()
        .map(|n| context! { handle => n.handle, name => n.name, children => tree_value(&n.children) })
        .collect()
}

pub async fn home(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    uri: Uri,
) -> Response {
    let page = public_page(&state, &shopper, &nonce, &uri, {
        let state = state.clone();
        move |shopper, nonce| async move {
            let (shopper, nonce) = (&shopper, &nonce);
            home_page(&state, shopper, nonce).await
        }
    })
    .await;
    match page {
        Ok(r) => revalidated(r),
        Err(e) => e.render(&state, &shopper, &nonce).await,
    }
}

async fn home_page(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
) -> Result<Response, ShopError> {
    let newest = listed(
        state,
        &ListQuery {
            search: None,
            category: None,
            vendor: None,
            min_price: None,
            max_price: None,
            in_stock: true,
            sort: ProductSort::Newest,
            limit: FEATURED,
            cursor: None,
        },
    )
    .await?;
    let categories = category_tree(categories(state).await?.to_vec());
    let vendors = vendors(state).await?;
    let ctx = context! {
        description => "Independent shops, one cart, one checkout.",
        canonical => format!("{}/", shopper.base),
        products => cards(&newest),
        categories => tree_value(&categories),
        vendors => vendors.iter().take(12).map(|v| context! {
            handle => v.handle, name => v.name, logo => v.logo_url,
        }).collect::<Vec<_>>(),
        ..chrome(state, shopper).await
    };
    Ok(Page::new("store/home.html", ctx).render(nonce, &Flash(None)))
}

/// A list's filters and page, as they arrive in the URL (all optional, all text: a bad one is
/// reported beside its field, the others still apply).
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    q: Option<String>,
    category: Option<String>,
    vendor: Option<String>,
    /// Lowest price in the shop's currency, as a shopper types it (`25`, `25.50`).
    min_price: Option<String>,
    max_price: Option<String>,
    in_stock: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

/// What a list page shows: where it is, the query it ran and the problems with its filters.
struct Listing {
    query: ListQuery,
    problems: HashMap<&'static str, String>,
    /// The URL's query without the cursor (for the next page's link).
    base_query: String,
}

const SORTS: [(&str, &str); 5] = [
    ("relevance", "Best match"),
    ("newest", "Newest"),
    ("price_asc", "Price, low to high"),
    ("price_desc", "Price, high to low"),
    ("title", "Name"),
];

fn clean(v: Option<String>) -> Option<String> {
    v.map(|v| v.trim().chars().take(200).collect::<String>())
        .filter(|v| !v.is_empty())
}

fn listing(params: ListParams, currency: Currency) -> Listing {
    let mut problems = HashMap::new();
    let q = clean(params.q);
    let mut price = |field: &'static str, v: Option<String>| {
        let v = clean(v)?;
        match parse_decimal(&v, currency) {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                problems.insert(
                    field,
                    format!("enter an amount in {}, like 25 or 25.50", currency.code()),
                );
                None
            }
        }
    };
    let min_price = price("min_price", params.min_price);
    let mut max_price = price("max_price", params.max_price);
    if let (Some(min), Some(max)) = (min_price, max_price)
        && min > max
    {
        problems.insert("max_price", "must not be below the lowest price".into());
        max_price = None;
    }
    let sort_given = params.sort.is_some();
    let sort = match clean(params.sort).as_deref() {
        None => None,
        Some(s) => match ProductSort::parse(s) {
            Some(ProductSort::Relevance) if q.is_none() => None,
            Some(sort) => Some(sort),
            None => {
                problems.insert("sort", "pick an order from the list".into());
                None
            }
        },
    };
    let sort = sort.unwrap_or(if q.is_some() {
        ProductSort::Relevance
    } else {
        ProductSort::Newest
    });
    let handle = |v: Option<String>| clean(v).filter(|h| Handle::parse(h).is_ok());
    let category = handle(params.category);
    let vendor = handle(params.vendor);
    let in_stock = matches!(params.in_stock.as_deref(), Some("1" | "true" | "on"));
    let mut pairs = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("q", q.clone()),
        ("category", category.clone()),
        ("vendor", vendor.clone()),
        ("min_price", min_price.map(|n| format_decimal(n, currency))),
        ("max_price", max_price.map(|n| format_decimal(n, currency))),
        ("in_stock", in_stock.then(|| "1".to_owned())),
        (
            "sort",
            Some(sort.as_str().to_owned()).filter(|_| sort_given),
        ),
    ] {
        if let Some(v) = v {
            pairs.append_pair(k, &v);
        }
    }
    Listing {
        query: ListQuery {
            search: q,
            category,
            vendor,
            min_price,
            max_price,
            in_stock,
            sort,
            limit: PAGE_SIZE,
            // Not cut like the other values: a cursor longer than the limit is refused whole.
            cursor: params
                .cursor
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty() && c.len() <= 1024),
        },
        problems,
        base_query: pairs.finish(),
    }
}

/// Where a list page is: search, a category or a vendor.
enum Place {
    Search,
    Category(Vec<souk_domain::catalog::Category>, CategoryNode),
    Vendor(catalog::VendorProfile),
}

pub async fn search(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    uri: Uri,
    Query(params): Query<ListParams>,
) -> Response {
    let page = public_page(&state, &shopper, &nonce, &uri, {
        let (state, uri) = (state.clone(), uri.clone());
        move |shopper, nonce| async move {
            let (shopper, nonce) = (&shopper, &nonce);
            let listing = listing(params, state.config.currency);
            list_page(&state, shopper, nonce, &uri, listing, Place::Search).await
        }
    })
    .await;
    match page {
        Ok(r) => revalidated(r),
        Err(e) => e.render(&state, &shopper, &nonce).await,
    }
}

pub async fn category(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    uri: Uri,
    Path(handle): Path<String>,
    Query(params): Query<ListParams>,
) -> Response {
    let result = public_page(&state, &shopper, &nonce, &uri, {
        let (state, uri) = (state.clone(), uri.clone());
        move |shopper, nonce| async move {
            let (shopper, nonce) = (&shopper, &nonce);
            let all = categories(&state).await?.to_vec();
            let node = find_node(&category_tree(all.clone()), &handle)
                .cloned()
                .ok_or_else(|| ShopError::not_found("there is no such category"))?;
            let mut listing = listing(params, state.config.currency);
            listing.query.category = Some(node.handle.clone());
            list_page(
                &state,
                shopper,
                nonce,
                &uri,
                listing,
                Place::Category(all, node),
            )
            .await
        }
    })
    .await;
    match result {
        Ok(r) => revalidated(r),
        Err(e) => e.render(&state, &shopper, &nonce).await,
    }
}

fn find_node<'a>(nodes: &'a [CategoryNode], handle: &str) -> Option<&'a CategoryNode> {
    nodes.iter().find_map(|n| {
        if n.handle == handle {
            Some(n)
        } else {
            find_node(&n.children, handle)
        }
    })
}

/// The categories from the top down to `node`.
fn ancestors(all: &[souk_domain::catalog::Category], node: uuid::Uuid) -> Vec<Value> {
    let mut chain = Vec::new();
    let mut at = all.iter().find(|c| c.id == node);
    while let Some(c) = at {
        if chain.len() > 64 {
            break;
        }
        chain.push(context! { handle => c.handle, name => c.name });
        at = c
            .parent_id
            .and_then(|p| all.iter().find(|parent| parent.id == p));
    }
    chain.reverse();
    chain
}

pub async fn vendor(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    uri: Uri,
    Path(handle): Path<String>,
    Query(params): Query<ListParams>,
) -> Response {
    let result = public_page(&state, &shopper, &nonce, &uri, {
        let (state, uri) = (state.clone(), uri.clone());
        move |shopper, nonce| async move {
            let (shopper, nonce) = (&shopper, &nonce);
            let not_found = || ShopError::not_found("there is no such shop");
            Handle::parse(&handle).map_err(|_| not_found())?;
            let profile = cached(&state, format!("store:vendor:{handle}"), || {
                let (db, handle) = (state.db.clone(), handle.clone());
                async move {
                    let found = catalog::vendor_by_handle(&db, &handle, true).await?;
                    Ok((found, 1024))
                }
            })
            .await?
            .as_ref()
            .clone()
            .ok_or_else(not_found)?;
            let mut listing = listing(params, state.config.currency);
            listing.query.vendor = Some(profile.handle.clone());
            list_page(
                &state,
                shopper,
                nonce,
                &uri,
                listing,
                Place::Vendor(profile),
            )
            .await
        }
    })
    .await;
    match result {
        Ok(r) => revalidated(r),
        Err(e) => e.render(&state, &shopper, &nonce).await,
    }
}

async fn list_page(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
    uri: &Uri,
    listing: Listing,
    place: Place,
) -> Result<Response, ShopError> {
    let Listing {
        query,
        problems,
        base_query,
    } = listing;
    let listed = listed(state, &query).await?;
    let page = &listed.page;
    let all_categories = categories(state).await?.to_vec();
    let vendors = vendors(state).await?;
    let currency = state.config.currency;
    let path = uri.path();
    let next = page.next_cursor.as_ref().map(|c| {
        let mut q = form_urlencoded::Serializer::new(base_query.clone());
        q.append_pair("cursor", c);
        format!("{path}?{}", q.finish())
    });
    let (title, heading, description, crumbs, subcategories, vendor) = match &place {
        Place::Search => {
            let heading = match (&listed.corrected_q, &query.search) {
                (Some(corrected), _) => format!("Results for “{corrected}”"),
                (None, Some(q)) => format!("Results for “{q}”"),
                (None, None) => "All products".to_owned(),
            };
            (
                heading.clone(),
                heading,
                "Every product of every shop, with filters and sorting.".to_owned(),
                Vec::new(),
                Vec::new(),
                None,
            )
        }
        Place::Category(all, node) => (
            node.name.clone(),
            node.name.clone(),
            format!("{}: products from independent shops.", node.name),
            ancestors(all, node.id),
            tree_value(&node.children),
            None,
        ),
        Place::Vendor(v) => (
            v.name.clone(),
            v.name.clone(),
            if v.description.is_empty() {
                format!("{}: the shop's products.", v.name)
            } else {
                v.description.chars().take(160).collect()
            },
            Vec::new(),
            Vec::new(),
            Some(
                context! { name => v.name, description => v.description, logo => v.logo_url,
                products => v.product_count },
            ),
        ),
    };
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    // Search results and filtered or later pages are not pages of their own for a search
    // engine: each canonical URL is the first, unfiltered page of its place.
    let canonical = match &place {
        Place::Search => format!("{}/search", shopper.base),
        _ => format!("{}{path}", shopper.base),
    };
    let ctx = context! {
        title => title, heading => heading, description => description,
        crumbs => crumbs, subcategories => subcategories, vendor => vendor,
        place => match place { Place::Search => "search", Place::Category(..) => "category", Place::Vendor(_) => "vendor" },
        action => path,
        products => cards(&listed),
        corrected_from => listed.corrected_q.as_ref().and(query.search.as_ref()),
        next => next,
        first => query.cursor.is_some().then(|| if base_query.is_empty() { path.to_owned() } else { format!("{path}?{base_query}") }),
        canonical => canonical,
        noindex => query.search.is_some() || query.cursor.is_some(),
        filters => context! {
            q => query.search,
            category => query.category,
            vendor => query.vendor,
            min_price => query.min_price.map(|n| format_decimal(n, currency)),
            max_price => query.max_price.map(|n| format_decimal(n, currency)),
            in_stock => query.in_stock,
            sort => query.sort.as_str(),
        },
        problems => problems,
        currency => currency.code(),
        sorts => SORTS.iter().filter(|(s, _)| *s != "relevance" || query.search.is_some()).collect::<Vec<_>>(),
        category_choices => flat_categories(&category_tree(all_categories)),
        vendor_choices => vendors.iter().map(|v| (v.handle.clone(), v.name.clone())).collect::<Vec<_>>(),
        ..chrome(state, shopper).await
    };
    Ok(Page::new("store/list.html", ctx)
        .with_status(status)
        .render(nonce, &Flash(None)))
}

/// Categories as (handle, indented name), depth first, for a `<select>`.
fn flat_categories(nodes: &[CategoryNode]) -> Vec<(String, String)> {
    fn walk(nodes: &[CategoryNode], depth: usize, out: &mut Vec<(String, String)>) {
        for n in nodes {
            out.push((
                n.handle.clone(),
                format!("{}{}", "\u{2003}".repeat(depth), n.name),
            ));
            walk(&n.children, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    walk(nodes, 0, &mut out);
    out
}

pub async fn product(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
    uri: Uri,
    Path(handle): Path<String>,
) -> Response {
    // A message after an action is this shopper's alone.
    let page = if flash.0.is_some() {
        product_page(&state, &shopper, &nonce, &flash, &handle).await
    } else {
        public_page(&state, &shopper, &nonce, &uri, {
            let state = state.clone();
            move |shopper, nonce| async move {
                let (shopper, nonce) = (&shopper, &nonce);
                product_page(&state, shopper, nonce, &flash, &handle).await
            }
        })
        .await
    };
    match page {
        Ok(r) => revalidated(r),
        Err(e) => e.render(&state, &shopper, &nonce).await,
    }
}

/// A product by its handle, from the database.
async fn looked_up(state: &AppState, handle: &str) -> Result<(Lookup, usize), ShopError> {
    if let Some(p) = catalog::product_by_handle(&state.db, handle, true).await? {
        let sizes = sizes_for(state, p.images.iter().map(|i| i.url.as_str())).await?;
        let bytes = weight(&p) + 512 * sizes.len();
        return Ok((Lookup::Found(Box::new((p, sizes))), bytes));
    }
    // A product that was sold here and is gone for good says so (410), so search engines
    // drop it; one that never existed (or is a draft) is simply not found.
    let gone = catalog::product_by_handle(&state.db, handle, false)
        .await?
        .is_some_and(|p| p.status == souk_domain::catalog::ProductStatus::Archived);
    Ok((if gone { Lookup::Gone } else { Lookup::Missing }, 64))
}

async fn product_page(
    state: &AppState,
    shopper: &Shopper,
    nonce: &CspNonce,
    flash: &Flash,
    handle: &str,
) -> Result<Response, ShopError> {
    let not_found = || ShopError::not_found("there is no such product");
    Handle::parse(handle).map_err(|_| not_found())?;
    let lookup = cached(state, format!("store:product:{handle}"), || {
        let (state, handle) = (state.clone(), handle.to_owned());
        async move { looked_up(&state, &handle).await }
    })
    .await?;
    let (p, sizes) = match lookup.as_ref() {
        Lookup::Found(found) => (&found.0, &found.1),
        Lookup::Gone => {
            return Err(ShopError {
                status: StatusCode::GONE,
                title: "No longer sold",
                detail: "this product is no longer sold here".into(),
            });
        }
        Lookup::Missing => return Err(not_found()),
    };
    let images: Vec<Value> = p
        .images
        .iter()
        .map(|i| picture(&i.url, &i.alt, sizes))
        .collect();
    let all = categories(state).await?;
    let crumbs = p
        .categories
        .first()
        .map(|c| ancestors(&all, c.id))
        .unwrap_or_default();
    let base = shopper.base.clone();
    let url = format!("{base}/products/{}", p.handle);
    let first_available = p.variants.iter().position(|v| v.available());
    let variants: Vec<Value> = p
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            context! {
                id => v.id.to_string(), title => v.title, sku => v.sku,
                price => money(v.price.amount, v.price.currency),
                compare_at => v.compare_at_price.filter(|c| c.amount > v.price.amount).map(|c| money(c.amount, c.currency)),
                available => v.available(),
                stock_note => stock_note(v),
                checked => Some(i) == first_available,
                options => v.options.iter().map(|(n, val)| context! { name => n, value => val }).collect::<Vec<_>>(),
            }
        })
        .collect();
    let description = summary(&p.description_html, 300);
    let ld = product_ld(p, &url, &base, &crumbs);
    let ctx = context! {
        title => p.title, description => description, canonical => url,
        product => context! {
            title => p.title, handle => p.handle,
            description_html => Value::from_safe_string(souk_domain::html::with_image_alts(
                &souk_domain::html::sanitize(&p.description_html),
            )),
            vendor => p.vendor.name, vendor_handle => p.vendor.handle,
            options => p.options.iter().map(|o| context! { name => o.name, values => o.values }).collect::<Vec<_>>(),
            single => p.variants.len() == 1,
            available => first_available.is_some(),
        },
        og_image => p.images.first().map(|i| if i.url.starts_with('/') { format!("{base}{}", i.url) } else { i.url.clone() }),
        images => images,
        variants => variants,
        crumbs => crumbs,
        json_ld => json_ld(&ld),
        ..chrome(state, shopper).await
    };
    Ok(Page::new("store/product.html", ctx).render(nonce, flash))
}

/// The first `max` characters of a description as plain text, on one line.
fn summary(html: &str, max: usize) -> String {
    let text = souk_domain::html::to_text(html);
    let words: Vec<&str> = text.split_whitespace().collect();
    let line = words.join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let cut: String = line.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

/// A product page's product, as the catalog has it now.
enum Lookup {
    Found(Box<(Product, Sizes)>),
    /// Archived: sold here once, never again.
    Gone,
    Missing,
}

/// "Only 3 left", "Sold out", or nothing when plenty.
fn stock_note(v: &souk_domain::catalog::Variant) -> Option<String> {
    if !v.available() {
        Some("Sold out".to_owned())
    } else if v.track_inventory && v.stock <= 5 {
        Some(format!("Only {} left", v.stock))
    } else {
        None
    }
}

/// schema.org `Product` with an `Offer` per variant, and the `BreadcrumbList` to it.
fn product_ld(p: &Product, url: &str, base: &str, crumbs: &[Value]) -> serde_json::Value {
    let offers: Vec<serde_json::Value> = p
        .variants
        .iter()
        .map(|v| {
            serde_json::json!({
                "@type": "Offer",
                "sku": v.sku,
                "name": v.title,
                "price": format_decimal(v.price.amount, v.price.currency),
                "priceCurrency": v.price.currency.code(),
                "availability": if v.available() { "https://schema.org/InStock" } else { "https://schema.org/OutOfStock" },
                "url": url,
            })
        })
        .collect();
    let mut items: Vec<serde_json::Value> = crumbs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::json!({
                "@type": "ListItem",
                "position": i + 1,
                "name": c.get_attr("name").map(|v| v.to_string()).unwrap_or_default(),
                "item": format!("{base}/categories/{}", c.get_attr("handle").map(|v| v.to_string()).unwrap_or_default()),
            })
        })
        .collect();
    items.push(serde_json::json!({
        "@type": "ListItem", "position": items.len() + 1, "name": p.title, "item": url,
    }));
    serde_json::json!({
        "@context": "https://schema.org",
        "@graph": [
            {
                "@type": "Product",
                "name": p.title,
                "description": summary(&p.description_html, 5000),
                "image": p.images.iter().map(|i| if i.url.starts_with('/') { format!("{base}{}", i.url) } else { i.url.clone() }).collect::<Vec<_>>(),
                "brand": { "@type": "Brand", "name": p.vendor.name },
                "offers": offers,
                "url": url,
            },
            { "@type": "BreadcrumbList", "itemListElement": items },
        ]
    })
}

/// The storefront's 404, for any path no route serves (outside the API).
pub async fn not_found_page(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
) -> Response {
    ShopError::not_found("there is nothing at this address; try the search or the home page")
        .render(&state, &shopper, &nonce)
        .await
}
