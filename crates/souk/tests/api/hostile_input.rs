//! Invalid or hostile input gets a 4xx problem, never a 500 or a dropped connection.

use crate::helpers::{TestApp, product};

#[tokio::test]
async fn bad_listing_parameters_are_reported_per_field() {
    let app = TestApp::spawn().await;
    let body = app
        .expect_problem(
            "/api/store/products?limit=0&sort=cheapest&min_price=-5&in_stock=maybe",
            400,
            "validation_failed",
        )
        .await;
    let fields: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["limit", "min_price", "in_stock", "sort"]);
    for path in [
        "/api/store/products?limit=101",
        "/api/store/products?limit=99999999999999999999999",
        "/api/store/products?limit=-1",
        "/api/store/products?limit=abc",
        "/api/store/products?min_price=10&max_price=5",
        "/api/store/products?sort=relevance",
        "/api/store/products?max_price=1e9",
    ] {
        app.expect_problem(path, 400, "validation_failed").await;
    }
}

#[tokio::test]
async fn unknown_repeated_and_nul_parameters_are_refused() {
    let app = TestApp::spawn().await;
    app.expect_problem("/api/store/products?colour=red", 400, "invalid_query")
        .await;
    app.expect_problem("/api/store/products?limit=1&limit=2", 400, "invalid_query")
        .await;
    app.expect_problem("/api/store/products?q=a%00b", 400, "invalid_query")
        .await;
    app.expect_problem("/api/store/products?vendor=%00", 400, "invalid_query")
        .await;
    app.expect_problem("/api/store/products/a%00b", 404, "not_found")
        .await;
    app.expect_problem("/api/store/vendors/%00", 404, "not_found")
        .await;
    // Invalid UTF-8 in the path is a client error, too.
    let response = app.get("/api/store/products/%FF%FE").await;
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn forged_or_foreign_cursors_are_refused() {
    let app = TestApp::spawn().await;
    app.seed(
        "acme",
        &(0..3)
            .map(|i| product(&format!("p{i}"), "P", &[100]))
            .collect::<Vec<_>>(),
    )
    .await;
    let (_, body) = app.get_json("/api/store/products?limit=1").await;
    let cursor = body["next_cursor"].as_str().unwrap().to_owned();
    // A cursor is tied to its sort order.
    app.expect_problem(
        &format!("/api/store/products?limit=1&sort=title&cursor={cursor}"),
        400,
        "invalid_cursor",
    )
    .await;
    for bad in ["garbage", "bnx4eHh8MQ", "%F0%9F%92%A9", &"A".repeat(2000)] {
        let response = app.get(&format!("/api/store/products?cursor={bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn huge_bodies_wrong_methods_and_odd_requests_get_problems() {
    let app = TestApp::spawn().await;
    let ten_mb = vec![b'x'; 10 * 1024 * 1024];
    let response = app
        .client
        .post(app.url("/api/store/products"))
        .header("content-type", "application/json")
        .body(ten_mb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");

    let response = app
        .client
        .post(app.url("/api/store/products"))
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET,HEAD");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");

    let response = app
        .client
        .delete(app.url("/api/store/categories"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);

    // The server is still healthy after all that.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overload_is_shed_with_retry_after() {
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        max_in_flight: 1,
        ..Default::default()
    })
    .await;
    app.seed(
        "acme",
        &(0..50)
            .map(|i| product(&format!("p{i}"), "P", &[100, 200, 300]))
            .collect::<Vec<_>>(),
    )
    .await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let client = app.client.clone();
        let url = app.url("/api/store/products?limit=100");
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap()
        }));
    }
    let (mut shed, mut served) = (0, 0);
    for t in tasks {
        let response = t.await.unwrap();
        match response.status().as_u16() {
            200 => served += 1,
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["code"], "overloaded");
                shed += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        shed > 0,
        "with one request allowed at a time, 40 concurrent requests must shed some"
    );
    // Shedding is not refusing: the one slot served requests during the burst, and a request
    // alone afterwards is served.
    assert!(served > 0, "all 40 requests were refused");
    assert_eq!(shed + served, 40);
    for _ in 0..3 {
        assert_eq!(app.get("/api/store/products?limit=1").await.status(), 200);
    }
}

#[tokio::test]
async fn slow_clients_are_cut_off_and_do_not_block_others() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::spawn_with_limits(
        souk_http::HttpConfig::default(),
        souk_http::server::ServerLimits {
            header_read_timeout: Duration::from_millis(500),
            ..Default::default()
        },
    )
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // A slowloris client: half a request line, then silence.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Others are served meanwhile.
    assert_eq!(app.get("/healthz").await.status(), 200);
    let started = Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the server must close a connection whose headers never finish"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let text = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
}

/// A body that is JSON but not an object (an array fills a struct's fields in order in serde)
/// is refused, and changes nothing: `[null, null]` must not clear a cart's email and address.
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused() {
    use serde_json::json;
    let app = TestApp::spawn().await;
    let cart: serde_json::Value = app
        .client
        .post(app.url("/api/store/carts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/api/store/carts/{}", cart["id"].as_str().unwrap());
    let response = app
        .client
        .patch(app.url(&path))
        .json(&json!({"email": "kept@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for body in ["[null, null]", r#"["thief@example.com"]"#, "\"x\"", "7"] {
        let response = app
            .client
            .patch(app.url(&path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "validation_failed", "{body}");
        assert_eq!(problem["errors"][0]["field"], "body");
    }
    let (_, after) = app.get_json(&path).await;
    assert_eq!(after["email"], "kept@example.com");
}
