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

    // Errors are never cached; metrics count hits like any request.
    app.expect_problem("/api/store/products/nope", 404, "not_found")
        .await;
    app.expect_problem("/api/store/products/nope", 404, "not_found")
        .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"souk_http_requests_total{method="GET",route="/api/store/products",status="200"} 3"#
        ),
        "{metrics}"
    );
}
