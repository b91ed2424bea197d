//! `GET /api/admin/inventory`: stock across vendors, for staff and audits.

use reqwest::Method;
use serde_json::Value;

use crate::checkout::checkout_body;
use crate::helpers::TestApp;

fn stock_by_variant(page: &Value) -> Vec<(String, i64)> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["variant_id"].as_str().unwrap().to_owned(),
                i["stock"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_admin_sees_stock_across_vendors_and_filters_low_stock() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let shop = app.two_vendors(&admin).await;

    let (status, all) = app
        .send(Method::GET, "/api/admin/inventory", &admin, None)
        .await;
    assert_eq!(status, 200, "{all}");
    let all = stock_by_variant(&all);
    assert!(all.contains(&(shop.apple.clone(), 10)), "{all:?}");
    assert!(all.contains(&(shop.banana.clone(), 10)), "{all:?}");

    // A sale lowers the stock the admin sees; the low-stock filter finds it.
    let cart = app.cart_with(&shop.apple, 7).await;
    let (status, order, _) = app
        .checkout(&cart, "inventory-1", &checkout_body("low@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let (_, low) = app
        .send(
            Method::GET,
            "/api/admin/inventory?max_stock=3",
            &admin,
            None,
        )
        .await;
    assert_eq!(stock_by_variant(&low), vec![(shop.apple.clone(), 3)]);
    let item = &low["items"][0];
    assert_eq!(item["product_title"], "apple");
    assert_eq!(item["vendor_id"], shop.a_id.as_str());
    assert_eq!(item["track_inventory"], true);

    // One product's variants, and paging walks every variant once.
    let (_, apple) = app.get_json("/api/store/products/apple").await;
    let product_id = apple["id"].as_str().unwrap();
    let (_, one) = app
        .send(
            Method::GET,
            &format!("/api/admin/inventory?product_id={product_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(stock_by_variant(&one), vec![(shop.apple.clone(), 3)]);
    let (_, first) = app
        .send(Method::GET, "/api/admin/inventory?limit=1", &admin, None)
        .await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second) = app
        .send(
            Method::GET,
            &format!("/api/admin/inventory?limit=1&cursor={cursor}"),
            &admin,
            None,
        )
        .await;
    let mut walked = stock_by_variant(&first);
    walked.extend(stock_by_variant(&second));
    walked.sort();
    let mut expected = vec![(shop.apple.clone(), 3), (shop.banana.clone(), 10)];
    expected.sort();
    assert_eq!(walked, expected);

    // Bad filters are named; vendors and customers are not admins.
    let (status, problem) = app
        .send(
            Method::GET,
            "/api/admin/inventory?product_id=apple&max_stock=few",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["product_id", "max_stock"]);
    let (status, _) = app
        .send(Method::GET, "/api/admin/inventory", &shop.a_token, None)
        .await;
    assert_eq!(status, 403);
}
