//! The per-instance catalog response cache: hits are identical, staleness is bounded by the TTL.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

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

/// Public catalog responses carry a strong `ETag` and `Cache-Control`; a client that sends the
/// `ETag` back gets `304` with no body until the catalog changes; per-shopper routes get none.
#[tokio::test]
async fn catalog_responses_revalidate_with_etags() {
    let app = TestApp::spawn().await;
    app.seed("acme", &[product("mug", "Mug", &[1000])]).await;
    let url = app.url("/api/store/products");
    let first = app.client.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34, "{etag}");
    assert_eq!(
        first.headers()["cache-control"],
        "public, max-age=5, stale-while-revalidate=30"
    );
    let again = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());
    // Another tag, or a changed catalog: the full answer with a new tag.
    let other = app
        .client
        .get(&url)
        .header("if-none-match", "\"0000\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    app.seed("acme", &[product("bowl", "Bowl", &[900])]).await;
    let changed = app
        .client
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 200);
    assert_ne!(changed.headers()["etag"].to_str().unwrap(), etag);
    // A cart is one shopper's: never tagged for shared caches.
    let cart = app
        .client
        .post(app.url("/api/store/carts"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(cart.headers().get("etag").is_none());
    assert!(
        cart.headers()
            .get("cache-control")
            .is_none_or(|v| v != "public, max-age=5, stale-while-revalidate=30")
    );
}

/// gzip and brotli are negotiated; each compressed body decodes to the same JSON as the plain
/// one, has its own strong tag, and says it varies by `Accept-Encoding`; tiny bodies are sent
/// as they are.
#[tokio::test]
async fn compressed_catalog_bodies_decode_to_the_same_json() {
    use std::io::Read;
    let app = TestApp::spawn().await;
    let products: Vec<_> = (0..20)
        .map(|i| product(&format!("mug-{i}"), &format!("Mug {i}"), &[1000 + i]))
        .collect();
    app.seed("acme", &products).await;
    let url = app.url("/api/store/products?limit=20");
    let plain = app.client.get(&url).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain_tag = plain.headers()["etag"].to_str().unwrap().to_owned();
    let plain: serde_json::Value = plain.json().await.unwrap();
    let mut tags = vec![plain_tag];
    for encoding in ["gzip", "br"] {
        let response = app
            .client
            .get(&url)
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-encoding"], encoding);
        assert!(
            response.headers()["vary"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("accept-encoding")
        );
        tags.push(response.headers()["etag"].to_str().unwrap().to_owned());
        let compressed = response.bytes().await.unwrap();
        let mut text = String::new();
        match encoding {
            "gzip" => {
                flate2::read::GzDecoder::new(&compressed[..])
                    .read_to_string(&mut text)
                    .unwrap();
            }
            _ => {
                brotli::Decompressor::new(&compressed[..], 4096)
                    .read_to_string(&mut text)
                    .unwrap();
            }
        }
        let decoded: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(decoded, plain, "{encoding}");
        assert!(
            compressed.len() * 3 < text.len(),
            "{encoding} barely compressed"
        );
    }
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 3, "one strong tag per coding");
    // Small answers are not worth compressing.
    let small = app
        .client
        .get(app.url("/api/store/categories"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(small.headers().get("content-encoding").is_none());
}

/// Stock that an unpaid order gives back when its hold runs out is on sale in the cached
/// catalog at once: the worker that released it tells the cache, rather than the shop showing
/// the product sold out until the cache's time to live passes.
#[tokio::test]
async fn stock_an_expired_order_gives_back_shows_in_the_cached_catalog_at_once() {
    use crate::checkout::{checkout_body, stocked};
    let app = TestApp::spawn_with_worker(HttpConfig {
        catalog_cache_ttl: Duration::from_secs(600),
        order_hold: Duration::from_millis(800),
        ..HttpConfig::default()
    })
    .await;
    app.seed("acme", &[stocked("lamp", &[4000], 1)]).await;
    let path = "/api/store/products/lamp";
    let available = |body: &serde_json::Value| body["variants"][0]["available"].as_bool();
    // The variant's id from the listing, so the product page is not cached before the order.
    let (_, list) = app.get_json("/api/store/products?limit=5").await;
    let variant = list["items"][0]["variants"][0]["id"]
        .as_str()
        .expect("the listing names the variant")
        .to_owned();
    let cart = app.cart_with(&variant, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "expire-key", &checkout_body("slow@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    // The last unit is held by the unpaid order: sold out, and that answer is now cached.
    let (_, body) = app.get_json(path).await;
    assert_eq!(available(&body), Some(false), "{body}");
    assert_eq!(app.get(path).await.headers()["x-cache"], "hit");
    // The hold runs out; the worker cancels the order and the unit is on sale again.
    let mut seen = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, body) = app.get_json(path).await;
        seen = available(&body);
        if seen == Some(true) {
            break;
        }
    }
    assert_eq!(
        seen,
        Some(true),
        "the released unit stays hidden behind the cache"
    );
    assert_eq!(app.stock_of(&variant).await, 1);
}

/// Several instances on one PostgreSQL database each cache the catalog; a change made through
/// one empties the others' caches within 100 ms (LISTEN/NOTIFY), long before their entries
/// would expire (60 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_a_price_change_through_one_instance_is_seen_by_another_within_100_ms() {
    if !crate::helpers::only_on(crate::helpers::Backend::Postgres) {
        return;
    }
    let config = || HttpConfig {
        catalog_cache_ttl: Duration::from_secs(60),
        ..HttpConfig::default()
    };
    let one = TestApp::spawn_with(config()).await;
    let other = one.another_instance(config()).await;
    let admin = one.admin_token().await;
    let (vendor, _) = one
        .approved_vendor(&admin, "lamps@example.com", "lamps")
        .await;
    let lamp = |price: i64| {
        json!({
            "handle": "desk-lamp", "title": "Desk lamp", "status": "published",
            "options": ["Size"],
            "variants": [{"sku": "LAMP-1", "options": ["One"], "price": {"amount": price, "currency": "USD"}, "stock": 4}],
        })
    };
    let (status, created) = one
        .send(
            Method::POST,
            "/api/vendor/products",
            &vendor,
            Some(lamp(1500)),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();

    // The other instance has the lamp and the listing in its cache.
    let paths = [
        "/api/store/products/desk-lamp",
        "/api/store/products?limit=5",
    ];
    let price_at = |body: &Value| {
        body.get("items")
            .map_or(body, |items| &items[0])
            .pointer("/variants/0/price/amount")
            .and_then(Value::as_i64)
    };
    for path in paths {
        other.get(path).await;
        let cached = other.get(path).await;
        assert_eq!(cached.headers()["x-cache"], "hit", "{path} is cached");
        let body: Value = cached.json().await.unwrap();
        assert_eq!(price_at(&body), Some(1500), "{path}: {body}");
    }

    // The vendor re-prices it through the first instance.
    let (status, body) = one
        .send(
            Method::PUT,
            &format!("/api/vendor/products/{id}"),
            &vendor,
            Some(lamp(1900)),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let changed = Instant::now();
    for path in paths {
        loop {
            let (_, body) = other.get_json(path).await;
            if price_at(&body) == Some(1900) {
                break;
            }
            assert!(
                changed.elapsed() < Duration::from_millis(100),
                "{path} on the other instance still shows {:?} {:?} after the change",
                price_at(&body),
                changed.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    eprintln!(
        "the other instance showed the new price {:?} after the change",
        changed.elapsed()
    );
}
