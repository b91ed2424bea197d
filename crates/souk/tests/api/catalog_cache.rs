//! The per-instance catalog response cache: hits are identical, staleness is bounded by the TTL.

use std::time::Duration;

use souk_http::HttpConfig;

use crate::helpers::{TestApp, product};

#[tokio::test]
async fn repeated_reads_are_served_from_cache_until_the_ttl_passes() {
    let app = TestApp::spawn_with(HttpConfig {
        catalog_cache_ttl: Duration::from_millis(400),
        ..HttpConfig::default()
    })
    .await;
    app.seed("acme", &[product("one", "One", &[100])]).await;
    let path = "/api/store/products?limit=10";
    let first = app.get(path).await;
    assert_eq!(first.headers()["x-cache"], "miss");
    let first_body = first.text().await.unwrap();
    let second = app.get(path).await;
    assert_eq!(second.headers()["x-cache"], "hit");
    assert_eq!(second.headers()["content-type"], "application/json");
    assert!(second.headers().contains_key("x-request-id"));
    assert_eq!(
        second.text().await.unwrap(),
        first_body,
        "a hit is byte-identical"
    );

    // A write by someone else shows up once the entry expires.
    app.seed("acme", &[product("two", "Two", &[100])]).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let (_, body) = app.get_json(path).await;
    assert_eq!(body["items"].as_array().unwrap().len(), 2);

    // Errors are never cached: the second 404 is not a hit, and a product created right
    // after a 404 for it is found at once (within the TTL); metrics count hits like any request.
    for _ in 0..2 {
        let response = app.get("/api/store/products/nope").await;
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers().get("x-cache"),
            None,
            "an error is not cached"
        );
    }
    app.seed("acme", &[product("nope", "Nope", &[100])]).await;
    assert_eq!(app.get("/api/store/products/nope").await.status(), 200);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"souk_http_requests_total{method="GET",route="/api/store/products",status="200"} 3"#
        ),
        "{metrics}"
    );
}

/// Carts and orders live under `/api/store/` too, but belong to one shopper: with the cache on,
/// a stranger repeating the owner's request must not be answered from the owner's cached copy.
#[tokio::test]
async fn carts_and_orders_are_never_served_from_the_shared_cache() {
    use crate::checkout::{checkout_body, stocked};
    let app = TestApp::spawn_with(HttpConfig {
        catalog_cache_ttl: Duration::from_secs(60),
        ..HttpConfig::default()
    })
    .await;
    app.seed("acme", &[stocked("mug", &[900], 5)]).await;
    let variant = app.variant_ids("mug").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "cache-key", &checkout_body("owner@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap();
    let token = order["access_token"].as_str().unwrap();

    // The owner reads the order with its token (would fill a shared cache)…
    let owner = app
        .client
        .get(app.url(&format!("/api/store/orders/{id}")))
        .header("x-order-token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), 200);
    assert!(
        owner.headers().get("x-cache").is_none(),
        "orders are not cached"
    );
    // …and a stranger without the token still gets nothing.
    let stranger = app.get(&format!("/api/store/orders/{id}")).await;
    assert!(
        [401, 403, 404].contains(&stranger.status().as_u16()),
        "stranger got {}",
        stranger.status()
    );
    let cart_read = app.get(&format!("/api/store/carts/{cart}")).await;
    assert!(
        cart_read.headers().get("x-cache").is_none(),
        "carts are not cached"
    );
    // The catalog still is.
    app.get("/api/store/products/mug").await;
    let hit = app.get("/api/store/products/mug").await;
    assert_eq!(hit.headers()["x-cache"], "hit");
}
