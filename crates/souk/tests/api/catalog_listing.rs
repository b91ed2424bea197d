//! `GET /api/store/products`: pagination, filters, sorts, search.

use std::collections::HashSet;

use souk_domain::catalog::ProductStatus;

use crate::admin_panel::signed_in_at;
use crate::helpers::{TestApp, handles, product, walk};
use crate::vendor_products::{borrowed, form_of, set};

/// 45 products with repeated prices and titles, so sort keys tie and the id must break ties.
async fn catalog_with_ties(app: &TestApp) -> Vec<String> {
    let products: Vec<_> = (0..45)
        .map(|i| {
            let title = format!(
                "Item {}",
                ["Alpha", "beta", "Gamma", "delta", "Alpha"][i % 5]
            );
            product(
                &format!("item-{i:02}"),
                &title,
                &[100 * (i as i64 % 4) + 500, 900],
            )
        })
        .collect();
    app.seed("acme", &products).await;
    products.iter().map(|p| p.handle.to_string()).collect()
}

#[tokio::test]
async fn pagination_walks_every_product_exactly_once_in_every_sort() {
    let app = TestApp::spawn().await;
    let all: HashSet<String> = catalog_with_ties(&app).await.into_iter().collect();
    for sort in ["newest", "price_asc", "price_desc", "title"] {
        let items = walk(&app, &format!("/api/store/products?limit=7&sort={sort}")).await;
        let seen = handles(&items);
        assert_eq!(seen.len(), 45, "{sort}: {seen:?}");
        assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), all, "{sort}");
        // Pages are in the sort's order across page boundaries.
        let min_price = |p: &serde_json::Value| {
            p["variants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["price"]["amount"].as_i64().unwrap())
                .min()
                .unwrap()
        };
        for pair in items.windows(2) {
            match sort {
                "price_asc" => assert!(min_price(&pair[0]) <= min_price(&pair[1]), "{sort}"),
                "price_desc" => assert!(min_price(&pair[0]) >= min_price(&pair[1]), "{sort}"),
                "title" => assert!(
                    pair[0]["title"].as_str().unwrap().to_lowercase()
                        <= pair[1]["title"].as_str().unwrap().to_lowercase(),
                    "{sort}"
                ),
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn newest_lists_latest_first_and_default_page_is_20() {
    let app = TestApp::spawn().await;
    let seeded = catalog_with_ties(&app).await;
    let (status, body) = app.get_json("/api/store/products").await;
    assert_eq!(status, 200);
    let first = handles(body["items"].as_array().unwrap());
    assert_eq!(first.len(), 20);
    assert_eq!(first[0], seeded[44], "the last created comes first");
    assert!(body["next_cursor"].is_string());
}

#[tokio::test]
async fn shoppers_see_only_published_products_of_active_vendors() {
    let app = TestApp::spawn().await;
    let mut draft = product("draft-thing", "Draft thing", &[100]);
    draft.status = ProductStatus::Draft;
    let mut archived = product("old-thing", "Old thing", &[100]);
    archived.status = ProductStatus::Archived;
    app.seed(
        "acme",
        &[product("live-thing", "Live thing", &[100]), draft, archived],
    )
    .await;
    app.seed("shady", &[product("shady-thing", "Shady thing", &[100])])
        .await;
    let db = &app.db;
    souk_storage_set_vendor_status(db, "shady", "suspended").await;

    let items = walk(&app, "/api/store/products?limit=100").await;
    assert_eq!(handles(&items), vec!["live-thing"]);
    app.expect_problem("/api/store/products/draft-thing", 404, "not_found")
        .await;
    app.expect_problem("/api/store/products/shady-thing", 404, "not_found")
        .await;
    app.expect_problem("/api/store/vendors/shady", 404, "not_found")
        .await;
    let (_, vendor) = app.get_json("/api/store/vendors/acme").await;
    assert_eq!(vendor["product_count"], 1);
    // Search must not leak hidden products either.
    let items = walk(&app, "/api/store/products?q=thing").await;
    assert_eq!(handles(&items), vec!["live-thing"]);
}

/// `GET /api/store/vendors` lists the active vendors by handle, page by page, each with its
/// published products counted; suspended ones are not listed.
#[tokio::test]
async fn the_vendor_list_shows_active_vendors_by_handle_page_by_page() {
    let app = TestApp::spawn().await;
    let mut draft = product("draft-thing", "Draft thing", &[100]);
    draft.status = ProductStatus::Draft;
    app.seed("zeta", &[product("z-thing", "Z thing", &[100]), draft])
        .await;
    app.seed("alpha", &[product("a-thing", "A thing", &[100])])
        .await;
    app.seed("mid", &[product("m-thing", "M thing", &[100])])
        .await;
    app.seed("shady", &[product("s-thing", "S thing", &[100])])
        .await;
    souk_storage_set_vendor_status(&app.db, "shady", "suspended").await;

    let (status, page) = app.get_json("/api/store/vendors?limit=2").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());
    let vendors = walk(&app, "/api/store/vendors?limit=1").await;
    assert_eq!(handles(&vendors), vec!["alpha", "mid", "zeta"]);
    assert_eq!(
        vendors[2]["product_count"], 1,
        "only published products count"
    );
    app.expect_problem(
        "/api/store/vendors?cursor=nonsense",
        400,
        "validation_failed",
    )
    .await;
}

async fn souk_storage_set_vendor_status(db: &souk_storage::Db, handle: &str, status: &str) {
    // Vendor moderation arrives with the admin API; until then tests change the row directly.
    match db {
        souk_storage::Db::Sqlite { write, .. } => {
            sqlx::query("UPDATE vendors SET status = $1 WHERE handle = $2")
                .bind(status)
                .bind(handle)
                .execute(write)
                .await
                .unwrap();
        }
        souk_storage::Db::Postgres(pool) => {
            sqlx::query("UPDATE vendors SET status = $1 WHERE handle = $2")
                .bind(status)
                .bind(handle)
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn filters_by_vendor_price_stock_and_category_with_descendants() {
    let app = TestApp::spawn().await;
    let mut shirt = product("shirt", "Shirt", &[1500, 2500]);
    shirt.category_path = vec!["Apparel".into(), "Tops".into(), "Shirts".into()];
    let mut coat = product("coat", "Coat", &[9000]);
    coat.category_path = vec!["Apparel".into(), "Outerwear".into()];
    let mut sold_out = product("sold-out", "Sold out", &[3000]);
    sold_out.variants[0].stock = Some(0);
    let mut untracked = product("untracked", "Untracked", &[3000]);
    untracked.variants[0].stock = Some(0);
    untracked.variants[0].track_inventory = false;
    app.seed("acme", &[shirt, coat]).await;
    app.seed(
        "bolt",
        &[sold_out, untracked, product("mug", "Mug", &[800])],
    )
    .await;

    let set = |items: Vec<serde_json::Value>| {
        let mut h = handles(&items);
        h.sort();
        h
    };
    let q = |s: &str| format!("/api/store/products?limit=100&{s}");
    assert_eq!(set(walk(&app, &q("vendor=acme")).await), ["coat", "shirt"]);
    assert_eq!(
        set(walk(&app, &q("vendor=nobody")).await),
        Vec::<String>::new()
    );
    assert_eq!(
        set(walk(&app, &q("category=apparel")).await),
        ["coat", "shirt"]
    );
    assert_eq!(set(walk(&app, &q("category=tops")).await), ["shirt"]);
    assert_eq!(set(walk(&app, &q("category=shirts")).await), ["shirt"]);
    assert_eq!(set(walk(&app, &q("category=outerwear")).await), ["coat"]);
    // A product matches a price range when one of its variants is in it.
    assert_eq!(
        set(walk(&app, &q("min_price=2000&max_price=2600")).await),
        ["shirt"]
    );
    assert_eq!(set(walk(&app, &q("max_price=1000")).await), ["mug"]);
    assert_eq!(set(walk(&app, &q("min_price=9000")).await), ["coat"]);
    assert_eq!(
        set(walk(&app, &q("in_stock=true")).await),
        ["coat", "mug", "shirt", "untracked"],
        "sold-out tracked products are hidden, untracked ones stay"
    );
    assert_eq!(set(walk(&app, &q("in_stock=false")).await).len(), 5);
    assert_eq!(
        set(walk(&app, &q("vendor=bolt&in_stock=true&max_price=1000")).await),
        ["mug"]
    );

    let (_, body) = app.get_json("/api/store/products/sold-out").await;
    assert_eq!(body["variants"][0]["available"], false);
    let (_, body) = app.get_json("/api/store/products/untracked").await;
    assert_eq!(body["variants"][0]["available"], true);
}

#[tokio::test]
async fn search_ranks_a_title_match_first() {
    let app = TestApp::spawn().await;
    let mut described = product("plain-box", "Plain box", &[100]);
    described.description_html =
        "<p>Pairs well with a lantern on a dark night, lantern lovers.</p>".into();
    let titled = product("storm-lantern", "Storm Lantern", &[100]);
    let other = product("teapot", "Teapot", &[100]);
    // Seed the description match first so insertion order cannot explain the ranking.
    app.seed("acme", &[described, other, titled]).await;

    let items = walk(&app, "/api/store/products?q=lantern").await;
    assert_eq!(handles(&items), vec!["storm-lantern", "plain-box"]);
    // Prefix, case-insensitive, stemmed, and every word must match.
    assert_eq!(
        handles(&walk(&app, "/api/store/products?q=LANTERNS").await),
        vec!["storm-lantern", "plain-box"]
    );
    assert_eq!(
        handles(&walk(&app, "/api/store/products?q=tea").await),
        vec!["teapot"]
    );
    assert_eq!(
        handles(&walk(&app, "/api/store/products?q=storm%20lantern").await),
        vec!["storm-lantern"]
    );
    // SKU and vendor name are searchable.
    assert_eq!(
        handles(&walk(&app, "/api/store/products?q=TEAPOT-0").await),
        vec!["teapot"]
    );
    assert_eq!(
        handles(&walk(&app, "/api/store/products?q=vendor%20acme&sort=title").await).len(),
        3
    );
    // Query syntax is not interpreted.
    assert_eq!(
        handles(&walk(&app, "/api/store/products?q=%22lantern%22%20*%20(%3A").await),
        vec!["storm-lantern", "plain-box"]
    );
    assert!(walk(&app, "/api/store/products?q=zzzzqqq").await.is_empty());
}

#[tokio::test]
async fn search_results_paginate_completely() {
    let app = TestApp::spawn().await;
    let products: Vec<_> = (0..25)
        .map(|i| {
            let mut p = product(
                &format!("candle-{i:02}"),
                &format!("Candle {}", "wax ".repeat(i % 4 + 1)),
                &[100],
            );
            p.description_html = format!("<p>{}</p>", "candle ".repeat(i % 3 + 1));
            p
        })
        .collect();
    app.seed("acme", &products).await;
    let items = walk(&app, "/api/store/products?q=candle&limit=4").await;
    let seen = handles(&items);
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25);
}

/// A category's listing reads the copy of each product's sort keys kept in `product_categories`
/// (a category without sub-categories walks it in order; a small tree takes its first entries
/// as candidates). Every lamp is in the category, so its pages must be the whole catalog's,
/// read from `products`, while a vendor adds, re-prices, renames and archives — with a
/// suspended vendor's lamps (left out after being read as candidates) and a lamp in both the
/// tree's categories (listed once).
#[tokio::test]
async fn a_category_lists_like_the_whole_catalog_while_products_change() {
    let app = TestApp::spawn().await;
    let products: Vec<_> = (0..12)
        .map(|i| {
            let mut p = product(
                &format!("lamp-{i:02}"),
                &format!("Lamp {}", ["Brass", "oak", "Zinc"][i % 3]),
                &[100 * (i as i64 % 4) + 500, 900],
            );
            p.category_path = vec!["Lighting".into(), "Lamps".into()];
            p
        })
        .collect();
    app.seed("acme", &products).await;
    let hidden: Vec<_> = (0..3)
        .map(|i| {
            let mut p = product(&format!("shady-lamp-{i}"), "Lamp shady", &[100]);
            p.category_path = vec!["Lighting".into(), "Lamps".into()];
            p
        })
        .collect();
    app.seed("shady", &hidden).await;
    souk_storage_set_vendor_status(&app.db, "shady", "suspended").await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "lamps@example.com", "lamp-maker")
        .await;

    let same_order = async |when: &str| {
        for sort in ["newest", "price_asc", "price_desc", "title"] {
            let leaf = handles(
                &walk(
                    &app,
                    &format!("/api/store/products?limit=5&category=lamps&sort={sort}"),
                )
                .await,
            );
            let parent = handles(
                &walk(
                    &app,
                    &format!("/api/store/products?limit=5&category=lighting&sort={sort}"),
                )
                .await,
            );
            let all =
                handles(&walk(&app, &format!("/api/store/products?limit=5&sort={sort}")).await);
            assert_eq!(leaf, all, "{when}, {sort}: the leaf category");
            assert_eq!(parent, all, "{when}, {sort}: the category tree");
        }
        handles(
            &walk(
                &app,
                "/api/store/products?limit=100&category=lamps&sort=price_asc",
            )
            .await,
        )
    };
    assert_eq!(same_order("seeded").await.len(), 12);

    let input = |title: &str, price: i64| {
        serde_json::json!({
            "handle": "new-lamp",
            "title": title,
            "status": "published",
            "categories": ["lamps", "lighting"],
            "options": ["Size"],
            "variants": [
                {"sku": "NEW-LAMP", "options": ["S"], "price": {"amount": price, "currency": "USD"}, "stock": 3}
            ]
        })
    };
    let (status, created) = app
        .send(
            reqwest::Method::POST,
            "/api/vendor/products",
            &vendor,
            Some(input("Lamp middle", 650)),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let listed = same_order("added").await;
    assert_eq!(listed.len(), 13);
    assert_ne!(listed[0], "new-lamp");

    // Re-priced below every other lamp and renamed: first by price and by title at once.
    let (status, updated) = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/vendor/products/{id}"),
            &vendor,
            Some(input("A lamp", 100)),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(same_order("re-priced").await[0], "new-lamp");
    let by_title = walk(
        &app,
        "/api/store/products?limit=100&category=lamps&sort=title",
    )
    .await;
    assert_eq!(handles(&by_title)[0], "new-lamp");

    // The bulk price edit changes variants only (the product's categories are not rewritten):
    // dearer than every other lamp, it is listed last by price.
    let variant = updated["variants"][0]["id"].as_str().unwrap();
    let seller = signed_in_at(&app, "/vendor/sign-in", "lamps@example.com").await;
    let page = seller
        .get(app.url(&format!("/vendor/inventory?product={id}")))
        .await
        .text()
        .await
        .unwrap();
    let mut form = form_of(&page);
    set(&mut form, &format!("price:{variant}"), "99.00");
    let saved = seller
        .post(app.url("/vendor/inventory"), &borrowed(&form), None)
        .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(
        same_order("re-priced in bulk").await.last().unwrap(),
        "new-lamp"
    );

    let (status, _) = app
        .send(
            reqwest::Method::POST,
            &format!("/api/vendor/products/{id}/archive"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let listed = same_order("archived").await;
    assert_eq!(listed.len(), 12);
    assert!(!listed.contains(&"new-lamp".to_owned()));
}

/// A search in relevance order, walked in small pages, gives exactly the order one page of
/// everything gives — also where only the best matches are ranked for a page (SQLite): with
/// scores tied across the ranked/unranked boundary, and with hidden products among the best
/// matches, the page asks again for all of them.
#[tokio::test]
async fn a_search_walked_page_by_page_ranks_like_one_page_of_everything() {
    let app = TestApp::spawn().await;
    let mut products = Vec::new();
    for i in 0..40 {
        // Tied groups of titles, and weaker matches through the description only.
        let title = match i % 4 {
            0 => "Brass Lantern".to_owned(),
            1 => "Old Brass Lantern".to_owned(),
            2 => format!("Camp Light {i}"),
            _ => "Storm Lantern Hook".to_owned(),
        };
        let mut p = product(&format!("lantern-{i:02}"), &title, &[1000 + i]);
        p.description_html = "<p>Goes with any lantern.</p>".to_owned();
        if i % 10 == 0 {
            p.status = ProductStatus::Draft;
        }
        products.push(p);
    }
    app.seed("acme", &products).await;
    app.seed(
        "shady",
        &[
            product("shady-lantern", "Brass Lantern", &[900]),
            product("shady-lantern-2", "Lantern", &[900]),
        ],
    )
    .await;
    souk_storage_set_vendor_status(&app.db, "shady", "suspended").await;

    let (status, everything) = app
        .get_json("/api/store/products?q=lantern&limit=100")
        .await;
    assert_eq!(status, 200, "{everything}");
    let expected = handles(everything["items"].as_array().unwrap());
    assert_eq!(
        expected.len(),
        36,
        "published, of active vendors: {expected:?}"
    );
    assert!(!expected.iter().any(|h| h.starts_with("shady")));
    for limit in [1, 2, 3, 5, 7] {
        let walked = handles(
            &walk(
                &app,
                &format!("/api/store/products?q=lantern&sort=relevance&limit={limit}"),
            )
            .await,
        );
        assert_eq!(walked, expected, "pages of {limit}");
    }
}
