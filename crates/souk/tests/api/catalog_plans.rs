//! The plan guard: every shape of the storefront listing (each filter, each sort, search,
//! cursor pages) is planned by the database library Souk links against a generated catalog,
//! and the test fails on a plan whose cost grows with the catalog — a full scan of products,
//! or the full-text index searched inside a loop over products (the SQLite plan that made a
//! search on 20,000 products take 7 s).

use souk::generate::{CatalogSpec, write_catalog};
use souk_domain::catalog::ProductSort;
use souk_domain::money::Currency;
use souk_storage::catalog::{ListQuery, explain_listing, list_products};

use crate::helpers::{TestApp, on_postgres};

fn query() -> ListQuery {
    ListQuery {
        search: None,
        category: None,
        vendor: None,
        min_price: None,
        max_price: None,
        in_stock: false,
        sort: ProductSort::Newest,
        limit: 20,
        cursor: None,
    }
}

/// Every query shape the listing has, named.
fn shapes() -> Vec<(String, ListQuery)> {
    let mut out = Vec::new();
    let sorts = [
        ProductSort::Newest,
        ProductSort::PriceAsc,
        ProductSort::PriceDesc,
        ProductSort::Title,
    ];
    for sort in sorts {
        out.push((format!("all, {sort:?}"), ListQuery { sort, ..query() }));
        out.push((
            format!("search, {sort:?}"),
            ListQuery {
                search: Some("classic linen".into()),
                sort,
                ..query()
            },
        ));
        out.push((
            format!("vendor, {sort:?}"),
            ListQuery {
                vendor: Some("gen-vendor-007".into()),
                sort,
                ..query()
            },
        ));
        out.push((
            format!("category, {sort:?}"),
            ListQuery {
                category: Some("kitchen".into()),
                sort,
                ..query()
            },
        ));
    }
    out.push((
        "search, Relevance".into(),
        ListQuery {
            search: Some("classic".into()),
            sort: ProductSort::Relevance,
            ..query()
        },
    ));
    out.push((
        "top category".into(),
        ListQuery {
            category: Some("home".into()),
            ..query()
        },
    ));
    out.push((
        "price range".into(),
        ListQuery {
            min_price: Some(3000),
            max_price: Some(4000),
            ..query()
        },
    ));
    out.push((
        "narrow price range, price_desc".into(),
        ListQuery {
            min_price: Some(12_345),
            max_price: Some(12_400),
            sort: ProductSort::PriceDesc,
            ..query()
        },
    ));
    out.push((
        "in stock".into(),
        ListQuery {
            in_stock: true,
            ..query()
        },
    ));
    out.push((
        "search, price, price_asc".into(),
        ListQuery {
            search: Some("silk".into()),
            min_price: Some(3000),
            sort: ProductSort::PriceAsc,
            ..query()
        },
    ));
    out.push((
        "search, category, vendor, in stock, title".into(),
        ListQuery {
            search: Some("mug".into()),
            category: Some("home".into()),
            vendor: Some("gen-vendor-003".into()),
            in_stock: true,
            sort: ProductSort::Title,
            ..query()
        },
    ));
    out
}

/// What is wrong with one plan, if anything.
fn plan_problems(name: &str, q: &ListQuery, plan: &[String], postgres: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let searching = q.search.is_some();
    if postgres {
        if plan.iter().any(|l| l.contains("Seq Scan on products")) {
            problems.push("reads every product (Seq Scan on products)".to_owned());
        }
        if searching && !plan.iter().any(|l| l.contains("products_search")) {
            problems.push("the search does not use the full-text index".to_owned());
        }
        if q.vendor.is_some() && !searching && !plan.iter().any(|l| l.contains("products_vendor_"))
        {
            problems.push("the vendor filter does not start from the vendor's products".to_owned());
        }
        if q.category.as_deref() == Some("kitchen")
            && !searching
            && (!plan.iter().any(|l| l.contains("product_categories_"))
                || plan.iter().any(|l| l.trim_start().starts_with("Sort")))
        {
            problems.push(
                "a category without sub-categories does not walk its products in the sort order"
                    .to_owned(),
            );
        }
    } else {
        let top: Vec<&str> = plan
            .iter()
            .filter(|l| !l.starts_with(' '))
            .map(String::as_str)
            .collect();
        if plan.iter().any(|l| {
            let l = l.trim_start();
            (l.starts_with("SCAN p ") || l == "SCAN p") && !l.contains("INDEX")
        }) {
            problems.push("reads every product (SCAN p)".to_owned());
        }
        // Started from a category's or a price range's products (c) or from the search match,
        // each product must then be looked up by its id: a range of an index of products
        // inside that loop reads products × leads (3.6 s for a price range of 20,000).
        let lead = top.iter().position(|l| {
            l.starts_with("SCAN c") || l.starts_with("SEARCH c ") || l.contains("VIRTUAL TABLE")
        });
        let ranged = top
            .iter()
            .position(|l| l.starts_with("SEARCH p ") && (l.contains("<?") || l.contains(">?")));
        if let (Some(lead), Some(ranged)) = (lead, ranged)
            && lead < ranged
        {
            problems.push(format!(
                "products are searched by a range once per row of the lead: {}",
                top[ranged]
            ));
        }
        if searching {
            // The match must run once: no loop over products around it (a one-row lookup of
            // the named vendor may come first).
            // (Or first, in a `WITH` entry of its own: the best matches ranked, then read.)
            let fts = top.iter().position(|l| {
                l.contains("product_search VIRTUAL TABLE")
                    || (*l == "MATERIALIZE s"
                        && plan
                            .iter()
                            .any(|l| l.starts_with("  SCAN product_search VIRTUAL TABLE")))
            });
            let products = top
                .iter()
                .position(|l| l.starts_with("SEARCH p ") || l.starts_with("SCAN p"));
            if fts.is_none() || products.is_some_and(|p| Some(p) < fts) {
                problems.push(
                    "the full-text match is not outside the loop over products: it would run once per product"
                        .to_owned(),
                );
            }
        } else if q.vendor.is_some() && !plan.iter().any(|l| l.contains("products_vendor_")) {
            problems.push("the vendor filter does not start from the vendor's products".to_owned());
        } else if q.category.as_deref() == Some("kitchen") && {
            let walks_its_index = top.first().is_some_and(|l| {
                l.starts_with("SEARCH c ") && l.contains("INDEX product_categories_")
            });
            let sorts = plan.iter().any(|l| l.contains("TEMP B-TREE"));
            !walks_its_index || sorts
        } {
            problems.push(
                "a category without sub-categories does not walk its products in the sort order"
                    .to_owned(),
            );
        } else if q.min_price == Some(12_345)
            && !plan
                .iter()
                .any(|l| l.contains("USING COVERING INDEX variants_price"))
        {
            problems.push("a narrow price range does not start from its variants".to_owned());
        }
    }
    problems
        .into_iter()
        .map(|p| format!("{name}: {p}\n{}", plan.join("\n")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listing_shape_has_a_plan_that_does_not_grow_with_the_catalog() {
    let app = TestApp::spawn().await;
    let spec = CatalogSpec {
        products: 20_000,
        vendors: 20,
        seed: 11,
    };
    write_catalog(&app.db, Currency::USD, &spec, |_| {})
        .await
        .unwrap();
    let mut report = String::new();
    let mut shapes = shapes();
    // Second pages: every shape again from the cursor of its first page.
    for (name, q) in shapes.clone() {
        let page = list_products(&app.db, &q).await.unwrap();
        assert!(
            !page.items.is_empty() || name.starts_with("narrow"),
            "{name}: no products"
        );
        if let Some(cursor) = page.next_cursor {
            shapes.push((
                format!("{name}, next page"),
                ListQuery {
                    cursor: Some(cursor),
                    ..q
                },
            ));
        }
    }
    let mut problems = Vec::new();
    for (name, q) in &shapes {
        let plan = explain_listing(&app.db, q, true).await.unwrap();
        report.push_str(&format!("== {name}\n{}\n", plan.join("\n")));
        problems.extend(plan_problems(name, q, &plan, on_postgres()));
    }
    assert!(shapes.len() > 40, "{} shapes", shapes.len());
    assert!(
        problems.is_empty(),
        "{} plan(s) grow with the catalog:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
    // Shown with --no-capture, for whoever changes a listing query.
    eprintln!("{report}");
}
