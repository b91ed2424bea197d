//! Health, readiness, metrics, request ids, the OpenAPI document and its docs page.

use crate::helpers::TestApp;

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));

    // With the database gone, the instance says it is not ready (and stays alive).
    app.db.close().await;
    app.expect_problem("/readyz", 503, "database_unavailable")
        .await;
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let app = TestApp::spawn().await;
    let response = app.get("/healthz").await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let response = app
        .client
        .get(app.url("/api/store/products/nope"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_and_report_the_pool() {
    let app = TestApp::spawn().await;
    app.get("/api/store/products").await;
    app.get("/api/store/products/missing-one").await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains(
            r#"souk_http_requests_total{method="GET",route="/api/store/products",status="200"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="/api/store/products/{handle}",status="404""#),
        "{text}"
    );
    assert!(
        text.contains("souk_http_request_duration_seconds_bucket"),
        "{text}"
    );
    assert!(
        text.contains(r#"souk_db_pool_connections{state="max"}"#),
        "{text}"
    );
}

/// One value of a metric without labels from the Prometheus text (0 when it is not there yet).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Operators can see how loaded the write path is: how long writes wait to begin, and on SQLite
/// how much of the time its one write connection is busy (when it nears 100 %, writes queue).
#[tokio::test]
async fn metrics_show_how_long_writes_wait_and_how_busy_the_sqlite_writer_is() {
    let app = TestApp::spawn().await;
    let before = app.get("/metrics").await.text().await.unwrap();
    for _ in 0..3 {
        app.new_cart().await;
    }
    let after = app.get("/metrics").await.text().await.unwrap();
    let waits = metric(&after, "souk_db_write_wait_seconds_count")
        - metric(&before, "souk_db_write_wait_seconds_count");
    assert!(waits >= 3.0, "three carts, three writes: {after}");
    assert!(
        after.contains("souk_db_write_wait_seconds_bucket"),
        "{after}"
    );
    if !crate::helpers::on_postgres() {
        let busy = metric(&after, "souk_db_writer_busy_microseconds_total")
            - metric(&before, "souk_db_writer_busy_microseconds_total");
        assert!(busy > 0.0, "{after}");
    }
}

/// SQLite's WAL is copied back into the database file by a background checkpointer (never by
/// a commit, which it would stall): after a burst of writes, it catches up on its own.
#[tokio::test]
async fn sqlite_only_the_wal_is_checkpointed_in_the_background() {
    if !crate::helpers::only_on(crate::helpers::Backend::Sqlite) {
        return;
    }
    let app = TestApp::spawn().await;
    for _ in 0..50 {
        app.new_cart().await;
    }
    let started = std::time::Instant::now();
    loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        let pages = metric(&text, "souk_db_wal_pages");
        let behind = metric(&text, "souk_db_wal_pages_behind");
        if pages > 0.0 && behind == 0.0 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "the WAL was not checkpointed: {pages} pages, {behind} behind"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn openapi_document_describes_every_route_and_error() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/store/products",
        "/api/store/products/{handle}",
        "/api/store/categories",
        "/api/store/vendors/{handle}",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from the OpenAPI document"
        );
    }
    let not_found = &doc["paths"]["/api/store/products/{handle}"]["get"]["responses"]["404"];
    assert!(
        not_found["content"]["application/problem+json"].is_object(),
        "{not_found}"
    );
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // The errors every operation of a kind can answer are documented on each (client
    // generators and schemathesis' status_code_conformance rely on it).
    let mut checked = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let has = |status: &str| {
                op["responses"][status]["content"]["application/problem+json"].is_object()
            };
            let route = format!("{method} {path}");
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                assert!(has("401") && has("403"), "{route}: 401 and 403");
            }
            if op["requestBody"]["content"]["application/json"].is_object() {
                assert!(
                    has("400") && has("413") && has("415"),
                    "{route}: 400, 413, 415"
                );
            }
            let takes_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            if takes_query {
                assert!(has("400"), "{route}: 400 for its query parameters");
            }
            assert!(has("503"), "{route}: 503");
            checked += 1;
        }
    }
    assert!(checked > 90, "{checked} operations");

    // Operation ids name client methods: unique, prefixed with their area; every operation
    // states its security (`[]` for public ones); `servers` is set.
    let mut ids = std::collections::BTreeMap::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .expect("an operationId")
                .to_owned();
            let area = path.split('/').nth(2).filter(|_| path.starts_with("/api/"));
            let prefix = area.unwrap_or("ops");
            assert!(
                id.starts_with(&format!("{prefix}_")),
                "{method} {path}: {id}"
            );
            assert!(op["security"].is_array(), "{method} {path}: no security");
            if let Some(other) = ids.insert(id.clone(), format!("{method} {path}")) {
                panic!("operationId {id} is used by {other} and {method} {path}");
            }
        }
    }
    assert_eq!(ids["store_get_order"], "get /api/store/orders/{id}");
    assert_eq!(ids["admin_get_order"], "get /api/admin/orders/{id}");
    assert_eq!(doc["servers"][0]["url"], "/");
    assert_eq!(
        doc["paths"]["/api/store/products"]["get"]["security"],
        serde_json::json!([])
    );

    // Every list has one shape: `{items, next_cursor}`; no response is a bare array.
    let schemas = &doc["components"]["schemas"];
    fn resolve<'a>(
        schemas: &'a serde_json::Value,
        mut schema: &'a serde_json::Value,
    ) -> &'a serde_json::Value {
        while let Some(name) = schema["$ref"].as_str() {
            schema = &schemas[name.rsplit('/').next().unwrap()];
        }
        schema
    }
    for (path, item) in paths {
        let Some(body) =
            item["get"]["responses"]["200"]["content"]["application/json"].get("schema")
        else {
            continue;
        };
        let body = resolve(schemas, body);
        assert_ne!(body["type"], "array", "GET {path} answers a bare array");
        if body["properties"].get("items").is_some() {
            assert!(
                body["properties"].get("next_cursor").is_some(),
                "GET {path}: a list without next_cursor"
            );
        }
    }

    // Closed sets are enums, timestamps date-times, ids uuids: a generated client gets union
    // types and dates, not strings. (A job's `kind` stays open: a newer instance may queue
    // kinds this one does not know.)
    let closed = |name: &str| {
        matches!(
            name,
            "status"
                | "kind"
                | "sort"
                | "role"
                | "state"
                | "payment_method"
                | "event_type"
                | "event"
                | "scopes"
                | "events"
                | "change"
        ) || name.ends_with("_status")
    };
    let is_enum = |schema: &serde_json::Value| {
        let mut schema = schema;
        if let Some(items) = schema.get("items") {
            schema = items;
        }
        let variants: Vec<&serde_json::Value> = match schema["oneOf"].as_array() {
            Some(alts) => alts.iter().filter(|a| a["type"] != "null").collect(),
            None => vec![schema],
        };
        variants.iter().all(|v| {
            resolve(schemas, v)["enum"]
                .as_array()
                .is_some_and(|e| !e.is_empty())
        })
    };
    let mut typed = 0;
    for (name, schema) in schemas.as_object().unwrap() {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let open_kind = field == "kind" && (name == "JobBody" || name == "JobFailedData");
            // (`Problem.status` is the HTTP status: a number.)
            let numeric = property["type"] == "integer";
            if closed(field) && !open_kind && !numeric {
                assert!(
                    is_enum(property),
                    "{name}.{field} is not an enum: {property}"
                );
                typed += 1;
            }
            let types = property["type"].to_string();
            if (field.ends_with("_at") || field == "at" || field == "failing_since")
                && types.contains("string")
            {
                assert_eq!(property["format"], "date-time", "{name}.{field}");
                typed += 1;
            }
            if (field == "id" || field.ends_with("_id")) && types.contains("string") {
                // Webhook message ids (`msg_…`), audit subjects (an id of any table, or a key
                // prefix) and stream event ids (a sequence number) are the exceptions.
                if !matches!(field.as_str(), "webhook_id" | "subject_id") && name != "StreamEvent" {
                    assert_eq!(property["format"], "uuid", "{name}.{field}");
                }
            }
        }
    }
    assert!(typed > 60, "{typed} typed fields");
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            for parameter in op["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap();
                if parameter["in"] == "query" && matches!(name, "status" | "sort") {
                    assert!(
                        is_enum(&parameter["schema"]),
                        "{method} {path}: the {name} filter is not an enum: {}",
                        parameter["schema"]
                    );
                }
            }
            for response in op["responses"].as_object().unwrap().values() {
                if let Some(stream) = response["content"].get("text/event-stream") {
                    assert_eq!(
                        stream["schema"]["x-stream-event"]["$ref"],
                        "#/components/schemas/StreamEvent",
                        "{method} {path}"
                    );
                }
            }
        }
    }
    assert!(schemas["StreamEvent"]["properties"]["data"].is_object());

    // The committed snapshot (docs/openapi.json, which the validators of scripts/test check)
    // is the document the server serves: a change to the API shows in review.
    let snapshot_path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let served = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var("SOUK_UPDATE_OPENAPI_SNAPSHOT").is_ok() {
        std::fs::write(&snapshot_path, &served).unwrap();
    }
    let committed = std::fs::read_to_string(&snapshot_path).unwrap_or_default();
    assert!(
        committed == served,
        "docs/openapi.json differs from the served document: review the change, then run \
         SOUK_UPDATE_OPENAPI_SNAPSHOT=1 cargo nextest run -E 'test(openapi_document)'"
    );

    let page = app.get("/api/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.to_lowercase().contains("swagger"),
        "an interactive docs page"
    );
}

/// Another process holding SQLite's write lock past the busy timeout (a long `souk import`, a
/// `souk worker`) makes writes shed with 503 `overloaded` and `Retry-After`, not a 500.
#[tokio::test]
async fn sqlite_only_a_write_lock_held_elsewhere_sheds_writes_with_503() {
    use sqlx::Connection;
    if !crate::helpers::only_on(crate::helpers::Backend::Sqlite) {
        return;
    }
    let app = TestApp::spawn().await;
    let mut other = sqlx::SqliteConnection::connect(&app.database.url)
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let response = app
        .client
        .post(app.url("/api/store/carts"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "overloaded", "{problem}");
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
    let response = app
        .client
        .post(app.url("/api/store/carts"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        201,
        "writes resume once the lock is free"
    );
}
