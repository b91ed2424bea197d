//! `GET /api/store/facets` counts what the listing with the same filters returns: compared, for
//! searches and every filter, with counts made by walking every page of that listing on a
//! generated catalog (a suspended vendor and an archived product included, which must not
//! count).

use std::collections::BTreeMap;

use serde_json::Value;
use souk::generate::{CatalogSpec, write_catalog};
use souk_domain::money::Currency;

use crate::checkout::{checkout_body, stocked};
use crate::helpers::{TestApp, handles, walk};

/// Counts by key, as the facets give them (order aside).
type Counts = BTreeMap<String, i64>;

/// The facets computed by hand from every product the listing returns.
struct BruteForce {
    total: i64,
    in_stock: i64,
    categories: Counts,
    vendors: Counts,
    bands: Counts,
}

fn band_of(price: i64, bands: &[(i64, Option<i64>)]) -> String {
    let (min, _) = bands
        .iter()
        .find(|(min, max)| price >= *min && max.is_none_or(|max| price < max))
        .expect("every price is in a band");
    min.to_string()
}

fn brute_force(items: &[Value], bands: &[(i64, Option<i64>)]) -> BruteForce {
    let mut counted = BruteForce {
        total: items.len() as i64,
        in_stock: 0,
        categories: Counts::new(),
        vendors: Counts::new(),
        bands: Counts::new(),
    };
    for item in items {
        let variants = item["variants"].as_array().unwrap();
        if variants.iter().any(|v| v["available"] == true) {
            counted.in_stock += 1;
        }
        *counted
            .vendors
            .entry(item["vendor"]["handle"].as_str().unwrap().to_owned())
            .or_default() += 1;
        for category in item["categories"].as_array().unwrap() {
            *counted
                .categories
                .entry(category["handle"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        let lowest = variants
            .iter()
            .map(|v| v["price"]["amount"].as_i64().unwrap())
            .min()
            .unwrap();
        *counted.bands.entry(band_of(lowest, bands)).or_default() += 1;
    }
    counted
}

fn counts(values: &Value) -> Counts {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["handle"].as_str().unwrap().to_owned(),
                v["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facet_counts_match_a_count_of_every_listed_product() {
    let app = TestApp::spawn().await;
    let spec = CatalogSpec {
        products: 1500,
        vendors: 6,
        seed: 7,
    };
    write_catalog(&app.db, Currency::USD, &spec, |_| {})
        .await
        .unwrap();
    let (_, vendors) = app.get_json("/api/store/vendors?limit=100").await;
    let vendors: Vec<String> = vendors["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["handle"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(vendors.len(), 6);
    // A suspended vendor's products and an archived product are listed nowhere, counted
    // nowhere.
    let (suspended, kept) = (&vendors[5], &vendors[0]);
    let (_, first) = app.get_json("/api/store/products?limit=1").await;
    let archived = first["items"][0]["handle"].as_str().unwrap().to_owned();
    match &app.db {
        souk_storage::Db::Sqlite { write, .. } => {
            sqlx::query("UPDATE vendors SET status = 'suspended' WHERE handle = $1")
                .bind(suspended)
                .execute(write)
                .await
                .unwrap();
            sqlx::query("UPDATE products SET status = 'archived' WHERE handle = $1")
                .bind(&archived)
                .execute(write)
                .await
                .unwrap();
        }
        souk_storage::Db::Postgres(pool) => {
            sqlx::query("UPDATE vendors SET status = 'suspended' WHERE handle = $1")
                .bind(suspended)
                .execute(pool)
                .await
                .unwrap();
            sqlx::query("UPDATE products SET status = 'archived' WHERE handle = $1")
                .bind(&archived)
                .execute(pool)
                .await
                .unwrap();
        }
    }
    // A sold-out product whose one untracked variant makes it available after all.
    let untracked = "UPDATE variants SET track_inventory = false WHERE id = (SELECT v.id FROM \
         variants v JOIN products p ON p.id = v.product_id AND p.status = 'published' \
         JOIN vendors s ON s.id = p.vendor_id AND s.status = 'active' \
         WHERE v.stock = 0 AND NOT EXISTS (SELECT 1 FROM variants w \
         WHERE w.product_id = v.product_id AND (w.stock > 0 OR NOT w.track_inventory)) \
         ORDER BY v.id LIMIT 1)";
    let changed = match &app.db {
        souk_storage::Db::Sqlite { write, .. } => {
            { sqlx::query(untracked).execute(write).await.unwrap() }.rows_affected()
        }
        souk_storage::Db::Postgres(pool) => {
            { sqlx::query(untracked).execute(pool).await.unwrap() }.rows_affected()
        }
    };
    assert_eq!(changed, 1, "the catalog has a sold-out product");
    let (_, tree) = app.get_json("/api/store/categories").await;
    let department = tree["items"][0]["handle"].as_str().unwrap().to_owned();
    let leaf = tree["items"][1]["children"][0]["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    // A product filed both in the department and in one of its categories: one match, counted
    // once in each.
    let child = tree["items"][0]["children"][0]["handle"].as_str().unwrap();
    let both = "INSERT INTO product_categories (product_id, category_id) \
         SELECT pc.product_id, (SELECT id FROM categories WHERE handle = $1) \
         FROM product_categories pc JOIN categories c ON c.id = pc.category_id \
         WHERE c.handle = $2 ORDER BY pc.product_id LIMIT 1";
    let filed = match &app.db {
        souk_storage::Db::Sqlite { write, .. } => sqlx::query(both)
            .bind(&department)
            .bind(child)
            .execute(write)
            .await
            .unwrap()
            .rows_affected(),
        souk_storage::Db::Postgres(pool) => sqlx::query(both)
            .bind(&department)
            .bind(child)
            .execute(pool)
            .await
            .unwrap()
            .rows_affected(),
    };
    assert_eq!(filed, 1);

    let cases = [
        String::new(),
        "q=classic".to_owned(),
        "q=cotton+shirt".to_owned(),
        "q=linen&in_stock=true".to_owned(),
        format!("category={department}"),
        format!("category={leaf}"),
        format!("vendor={kept}"),
        format!("vendor={suspended}"),
        "min_price=2000&max_price=6000".to_owned(),
        "in_stock=true".to_owned(),
        format!("vendor={kept}&in_stock=true"),
        format!("category={department}&in_stock=true"),
        format!("category={leaf}&vendor={kept}"),
        "in_stock=true&min_price=1000&max_price=3000".to_owned(),
        format!("q=organic&category={department}&min_price=1000"),
        "q=nosuchwordanywhere".to_owned(),
    ];
    let mut nonempty = 0;
    for filters in cases {
        let (status, facets) = app.get_json(&format!("/api/store/facets?{filters}")).await;
        assert_eq!(status, 200, "{filters}: {facets}");
        let bands: Vec<(i64, Option<i64>)> = facets["price_bands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["min"]["amount"].as_i64().unwrap(),
                    b["max"]["amount"].as_i64(),
                )
            })
            .collect();
        assert!(bands.len() >= 2 && bands[0].0 == 0 && bands.last().unwrap().1.is_none());
        let items = walk(&app, &format!("/api/store/products?limit=100&{filters}")).await;
        let expected = brute_force(&items, &bands);
        assert_eq!(facets["total"], expected.total, "{filters}: total");
        if filters.is_empty() {
            assert!(
                expected.in_stock < expected.total,
                "sold-out products are counted apart"
            );
        }
        assert_eq!(facets["in_stock"], expected.in_stock, "{filters}: in stock");
        assert_eq!(
            counts(&facets["vendors"]),
            expected.vendors,
            "{filters}: vendors"
        );
        assert_eq!(
            counts(&facets["categories"]),
            expected.categories,
            "{filters}: categories"
        );
        let band_counts: Counts = facets["price_bands"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["count"].as_i64().unwrap() > 0)
            .map(|b| {
                (
                    b["min"]["amount"].as_i64().unwrap().to_string(),
                    b["count"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(band_counts, expected.bands, "{filters}: price bands");
        // Most products first.
        let vendor_counts: Vec<i64> = facets["vendors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["count"].as_i64().unwrap())
            .collect();
        assert!(vendor_counts.windows(2).all(|w| w[0] >= w[1]), "{filters}");
        assert!(
            !expected.vendors.contains_key(suspended.as_str()),
            "{filters}: a suspended vendor's products are not listed"
        );
        if expected.total > 0 {
            nonempty += 1;
        }
    }
    assert!(nonempty >= 9, "most cases match something: {nonempty}");

    // The facets are validated like the listing, and do not take page parameters.
    app.expect_problem("/api/store/facets?min_price=-1", 400, "validation_failed")
        .await;
    app.expect_problem("/api/store/facets?limit=5", 400, "invalid_query")
        .await;
}

/// What is in stock, as the in-stock listing and the facets say: the handles listed with
/// `in_stock=true` and the facets' `in_stock` count, the whole catalog's and one vendor's.
async fn in_stock(app: &TestApp) -> (Vec<String>, i64, i64) {
    let mut listed = handles(&walk(app, "/api/store/products?limit=100&in_stock=true").await);
    listed.sort();
    let (_, all) = app.get_json("/api/store/facets").await;
    let (_, acme) = app
        .get_json("/api/store/facets?vendor=acme&in_stock=true")
        .await;
    (
        listed,
        all["in_stock"].as_i64().unwrap(),
        acme["total"].as_i64().unwrap(),
    )
}

/// Selling a product's last units at checkout takes it out of the in-stock listing and counts
/// at once, and cancelling the order brings it back: whether a product can be bought is kept
/// by the database as its variants' stock changes, whatever changes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selling_the_last_unit_takes_a_product_out_of_stock_and_a_cancel_brings_it_back() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.seed(
        "acme",
        &[
            stocked("pair", &[1500, 1600], 1),
            stocked("spare", &[900], 5),
        ],
    )
    .await;
    let both = (vec!["pair".to_owned(), "spare".to_owned()], 2, 2);
    assert_eq!(in_stock(&app).await, both);
    let [first, second] = <[String; 2]>::try_from(app.variant_ids("pair").await).unwrap();

    // One variant sold out: the product can still be bought in the other.
    let cart = app.cart_with(&first, 1).await;
    let (status, _, text) = app
        .checkout(&cart, "k-first", &checkout_body("a@example.com"))
        .await;
    assert_eq!(status, 201, "{text}");
    assert_eq!(in_stock(&app).await, both);

    // Its last unit sold: out of stock everywhere at once.
    let cart = app.cart_with(&second, 1).await;
    let (status, order, text) = app
        .checkout(&cart, "k-second", &checkout_body("b@example.com"))
        .await;
    assert_eq!(status, 201, "{text}");
    assert_eq!(in_stock(&app).await, (vec!["spare".to_owned()], 1, 1));
    let (_, page) = app.get_json("/api/store/products/pair").await;
    assert!(
        page["variants"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["available"] == false)
    );

    // The order cancelled, its unit back in stock: back in the listing and the counts.
    let order_id = order["id"].as_str().unwrap();
    let (status, body) = app.cancel_order(&admin, order_id, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.stock_of(&second).await, 1);
    assert_eq!(in_stock(&app).await, both);
}
