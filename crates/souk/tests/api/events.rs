//! Live streams (SSE) over real HTTP: an order's customer sees it move within a second, a
//! reconnect with `Last-Event-ID` gets exactly what was missed, vendors see only their own part.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::checkout::{checkout_body, stocked};
use crate::helpers::TestApp;

/// One received event.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub id: i64,
    pub kind: String,
    pub data: Value,
}

/// A `job.failed` event's data as the queue records it, with `error` as a marker.
fn job_failed(error: &str) -> Value {
    json!({"job_id": uuid::Uuid::now_v7(), "kind": "email", "error": error})
}

/// A minimal `text/event-stream` reader over a streaming response. Every event it reads is
/// checked against the server's OpenAPI document: its type is a `StreamEventType` and its data
/// fits one of the documented `StreamEventData` shapes exactly (no missing required field, no
/// undocumented one, enum values from their lists).
pub struct SseClient {
    response: reqwest::Response,
    buffer: String,
    document: Value,
}

/// Whether `value` fits `schema` (the subset of JSON Schema the document's event shapes use).
fn fits(document: &Value, schema: &Value, value: &Value) -> bool {
    let schemas = &document["components"]["schemas"];
    let mut schema = schema;
    while let Some(name) = schema["$ref"].as_str() {
        schema = &schemas[name.rsplit('/').next().unwrap()];
    }
    if let Some(alternatives) = schema["oneOf"].as_array().or(schema["anyOf"].as_array()) {
        return alternatives.iter().any(|a| fits(document, a, value));
    }
    if let Some(values) = schema["enum"].as_array() {
        return values.contains(value);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let type_ok = types.is_empty()
        || types.iter().any(|t| match *t {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            "array" => value.is_array(),
            _ => false,
        });
    if !type_ok {
        return false;
    }
    if schema["format"] == "uuid" && value.is_string() {
        return uuid::Uuid::parse_str(value.as_str().unwrap()).is_ok();
    }
    if let (Some(object), Some(properties)) = (value.as_object(), schema["properties"].as_object())
    {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        return required.iter().all(|r| object.contains_key(*r))
            && object
                .iter()
                .all(|(k, v)| properties.get(k).is_some_and(|p| fits(document, p, v)));
    }
    true
}

impl SseClient {
    pub async fn open(
        app: &TestApp,
        path: &str,
        bearer: Option<&str>,
        last_event_id: Option<i64>,
    ) -> SseClient {
        let mut request = app
            .request_builder(Method::GET, path, bearer, None)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "{path}"
        );
        // nginx reads (and drops) the header; straight from Souk it must be there.
        let via_nginx = response
            .headers()
            .get("server")
            .is_some_and(|s| s.as_bytes().starts_with(b"nginx"));
        if !via_nginx {
            assert_eq!(
                response
                    .headers()
                    .get("x-accel-buffering")
                    .map(|v| v.as_bytes()),
                Some(&b"no"[..]),
                "{path}: a proxy in front must not buffer the stream"
            );
        }
        let (status, document) = app.get_json("/api/openapi.json").await;
        assert_eq!(status, 200);
        SseClient {
            response,
            buffer: String::new(),
            document,
        }
    }

    /// Fails the test if `event` is not as the OpenAPI document describes.
    fn check_documented(&self, event: &Received) {
        let schemas = &self.document["components"]["schemas"];
        assert!(
            fits(
                &self.document,
                &schemas["StreamEventType"],
                &json!(event.kind)
            ),
            "undocumented event type: {event:?}"
        );
        assert!(
            fits(&self.document, &schemas["StreamEventData"], &event.data),
            "the data of {event:?} fits none of the documented shapes"
        );
    }

    /// The next event within `wait`, or `None`. Comments (heartbeats) are skipped.
    pub async fn next(&mut self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        kind = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if let Some(id) = id {
                    let event = Received {
                        id,
                        kind,
                        data: serde_json::from_str(&data).unwrap(),
                    };
                    self.check_documented(&event);
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk())
                .await
                .ok()?;
            match chunk.unwrap() {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return None,
            }
        }
    }
}

impl SseClient {
    /// Whether the server ends the stream within `wait` (whatever it still sends first).
    pub async fn ended_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => continue,
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }
}

/// Live streams open on the server now (its `souk_sse_streams` gauge).
async fn streams_open(app: &TestApp) -> usize {
    let text = app.get("/metrics").await.text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("souk_sse_streams "))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap() as usize)
}

async fn fulfil(app: &TestApp, token: &str) -> u16 {
    let (_, orders) = app
        .send(Method::GET, "/api/vendor/orders", token, None)
        .await;
    let vo = orders["items"][0]["id"].as_str().unwrap().to_owned();
    app.send(
        Method::POST,
        &format!("/api/vendor/orders/{vo}/fulfil"),
        token,
        Some(json!({"carrier": "DHL", "tracking_number": "JJD0001"})),
    )
    .await
    .0
}

#[tokio::test]
async fn an_order_stream_shows_payment_and_shipping_and_replays_what_a_reconnect_missed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "seller@example.com", "seller")
        .await;
    app.seed("seller", &[stocked("vase", &[4200], 5)]).await;
    let variant = app.variant_ids("vase").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "sse", &checkout_body("watcher@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let token = order["access_token"].as_str().unwrap().to_owned();

    // A stranger gets nothing; the guest with the token (as EventSource sends it) gets a stream.
    let stranger = app.get(&format!("/api/store/orders/{id}/events")).await;
    assert_eq!(stranger.status(), 404);
    let path = format!("/api/store/orders/{id}/events?access_token={token}");
    let mut stream = SseClient::open(&app, &path, None, None).await;

    let paid = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            Some(json!({"amount": 4200, "reference": "transfer"})),
        )
        .await;
    assert_eq!(paid.0, 200, "{}", paid.1);
    let event = stream
        .next(Duration::from_secs(1))
        .await
        .expect("order.paid within 1 s");
    assert_eq!(
        (event.kind.as_str(), event.data["status"].as_str()),
        ("order.paid", Some("paid"))
    );
    assert_eq!(event.data["order_id"], id.as_str());
    assert_eq!(fulfil(&app, &vendor).await, 200);
    let shipped = stream
        .next(Duration::from_secs(1))
        .await
        .expect("order.fulfilled within 1 s");
    assert_eq!(shipped.kind, "order.fulfilled");
    assert!(shipped.id > event.id);

    // Disconnect after `paid`; meanwhile the order is completed. Reconnecting with the last id
    // seen replays exactly the missed events, in order, then stays live.
    drop(stream);
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/complete"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let mut again = SseClient::open(&app, &path, None, Some(event.id)).await;
    let first = again
        .next(Duration::from_secs(1))
        .await
        .expect("the missed fulfilment");
    assert_eq!(first, shipped);
    let second = again
        .next(Duration::from_secs(1))
        .await
        .expect("the missed completion");
    assert_eq!(
        (second.kind.as_str(), second.data["status"].as_str()),
        ("order.completed", Some("completed"))
    );
    assert_eq!(
        again.next(Duration::from_millis(600)).await,
        None,
        "nothing else"
    );

    // A bad Last-Event-ID is a clear 400.
    let bad = app
        .client
        .get(app.url(&path))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let ahead = app
        .client
        .get(app.url(&path))
        .header("last-event-id", (second.id + 1000).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        ahead.status(),
        400,
        "an id never sent would silence the stream"
    );

    // The open stream is counted in /metrics.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let open: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("souk_sse_streams "))
        .expect("souk_sse_streams gauge")
        .trim()
        .parse()
        .unwrap();
    assert!(open >= 1.0, "{open}");
    drop(again);
}

/// A vendor's stream carries only its own vendor orders' events, never another vendor's, while
/// the admin feed sees the whole order.
#[tokio::test]
async fn vendors_see_only_their_own_part_of_each_order() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendors = app
        .vendors(
            &admin,
            [
                ("a@example.com", "shop-a"),
                ("b@example.com", "shop-b"),
                ("c@example.com", "shop-c"),
            ],
        )
        .await;
    app.seed("shop-a", &[stocked("apple", &[1000], 10)]).await;
    app.seed("shop-b", &[stocked("banana", &[3000], 10)]).await;
    let mut a = SseClient::open(&app, "/api/vendor/events", Some(&vendors[0].token), None).await;
    let mut c = SseClient::open(&app, "/api/vendor/events", Some(&vendors[2].token), None).await;
    let mut feed = SseClient::open(&app, "/api/admin/events", Some(&admin), None).await;

    let cart = app.cart_with(&app.variant_ids("apple").await[0], 1).await;
    app.add_to_cart(&cart, &app.variant_ids("banana").await[0], 1)
        .await;
    let (status, order, _) = app
        .checkout(&cart, "two", &checkout_body("both@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let a_vo = order["vendor_orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vendor_id"] == vendors[0].id.as_str())
        .unwrap()["id"]
        .clone();

    let created = a
        .next(Duration::from_secs(1))
        .await
        .expect("vendor A hears of its new order");
    assert_eq!(created.kind, "order.created");
    assert_eq!(created.data["vendor_order_id"], a_vo);
    assert_eq!(created.data["status"], "unfulfilled");
    assert!(!created.data.to_string().contains("both@example.com"));
    let admin_event = feed
        .next(Duration::from_secs(1))
        .await
        .expect("the admin feed");
    assert_eq!(
        (
            admin_event.kind.as_str(),
            admin_event.data["status"].as_str()
        ),
        ("order.created", Some("pending_payment"))
    );
    assert_eq!(
        a.next(Duration::from_millis(500)).await,
        None,
        "one event for A, not B's part"
    );
    assert_eq!(
        c.next(Duration::from_millis(300)).await,
        None,
        "vendor C is not in this order"
    );
}

/// Two instances on one database (a second real `souk serve` process): a vendor watching
/// instance B hears of the order placed through instance A, with no server besides the database.
#[tokio::test]
async fn an_event_committed_on_one_instance_reaches_streams_on_another() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "far@example.com", "far-shop")
        .await;
    app.seed("far-shop", &[stocked("lamp", &[2000], 5)]).await;

    let port = crate::smtp::free_port();
    let mut other = crate::helpers::souk_command(&app.database)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("second souk serve");
    let b = TestApp::remote(format!("http://127.0.0.1:{port}"), &app).await;
    let mut watching_b = SseClient::open(&b, "/api/vendor/events", Some(&vendor), None).await;

    let cart = app.cart_with(&app.variant_ids("lamp").await[0], 1).await;
    let (status, order, _) = app
        .checkout(&cart, "far", &checkout_body("far@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let event = watching_b.next(Duration::from_secs(1)).await;
    let _ = other.kill();
    let _ = other.wait();
    let event = event.expect("instance B streams the order placed on A within 1 s");
    assert_eq!(event.kind, "order.created");
    assert_eq!(event.data["order_id"], order["id"]);
}

/// A vendor hears when an order takes a variant down to the low-stock threshold (once, not on
/// every later order); admins hear of vendor applications and of jobs that gave up.
#[tokio::test]
async fn low_stock_vendor_applications_and_failed_jobs_reach_their_feeds() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "stock@example.com", "stocky")
        .await;
    app.seed("stocky", &[stocked("candle", &[900], 6)]).await;
    let variant = app.variant_ids("candle").await.remove(0);
    let mut feed = SseClient::open(&app, "/api/vendor/events", Some(&vendor), None).await;
    let mut admin_feed = SseClient::open(&app, "/api/admin/events", Some(&admin), None).await;

    for n in 0..2 {
        let cart = app.cart_with(&variant, 1).await;
        let (status, order, _) = app
            .checkout(&cart, &format!("low-{n}"), &checkout_body("c@example.com"))
            .await;
        assert_eq!(status, 201, "{order}");
    }
    let mut kinds = Vec::new();
    while let Some(e) = feed.next(Duration::from_millis(800)).await {
        if e.kind == "stock.low" {
            assert_eq!(e.data["stock"], 5);
            assert_eq!(e.data["variant_id"], variant.as_str());
        }
        kinds.push(e.kind);
    }
    assert_eq!(
        kinds,
        ["order.created", "stock.low", "order.created"],
        "one alert, at the crossing"
    );

    // A new vendor application, and a job that gives up, show in the admins' feed.
    let (applicant, _) = app.vendor_owner("new@example.com", "newcomer").await;
    drop(applicant);
    let mut tx = app.db.begin_write().await.unwrap();
    let job = souk_storage::jobs::enqueue(
        &mut tx,
        &souk_storage::jobs::NewJob {
            kind: "test_job".into(),
            payload: json!({}),
            max_attempts: 1,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let claimed = souk_storage::jobs::claim(&app.db, "test-worker", 60_000, 10)
        .await
        .unwrap();
    assert!(claimed.iter().any(|c| c.id == job));
    souk_app::outbox::fail_job(&app.db, job, "test-worker", "smtp said no", None)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(e) = admin_feed.next(Duration::from_millis(800)).await {
        if e.kind == "job.failed" {
            assert_eq!(e.data["job_id"], job.to_string());
            assert_eq!(e.data["error"], "smtp said no");
        }
        if e.kind == "vendor.applied" {
            assert_eq!(e.data["handle"], "newcomer");
        }
        seen.push(e.kind);
    }
    assert!(seen.contains(&"vendor.applied".to_owned()), "{seen:?}");
    assert!(seen.contains(&"job.failed".to_owned()), "{seen:?}");
    assert!(
        !seen.contains(&"stock.low".to_owned()),
        "stock alerts are the vendor's"
    );
}

/// PostgreSQL takes event ids at insert and commits them in any order: a stream opened between
/// two such commits gets the event with the lower id that commits after it opened, and not the
/// one that had committed before. (SQLite's single writer commits ids in order.)
#[tokio::test]
async fn postgres_only_a_fresh_stream_gets_an_event_committed_after_it_opened_even_with_a_lower_id()
{
    if !crate::helpers::only_on(crate::helpers::Backend::Postgres) {
        return;
    }
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let mut slow = app.db.begin_write().await.unwrap();
    souk_app::outbox::emit(&mut slow, "job.failed", None, None, &job_failed("late"))
        .await
        .unwrap();
    let mut quick = app.db.begin_write().await.unwrap();
    souk_app::outbox::emit(&mut quick, "job.failed", None, None, &job_failed("early"))
        .await
        .unwrap();
    quick.commit().await.unwrap();
    let mut feed = SseClient::open(&app, "/api/admin/events", Some(&admin), None).await;
    slow.commit().await.unwrap();
    let event = feed
        .next(Duration::from_secs(3))
        .await
        .expect("the event committed after the stream opened");
    assert_eq!(event.data["error"], "late");
    assert!(
        feed.next(Duration::from_millis(700)).await.is_none(),
        "the event committed before the stream opened is not sent"
    );
}

/// An open stream follows its caller's access: a logout, a suspended vendor or a revoked API
/// key ends it at the next check; a caller who keeps access keeps the stream.
#[tokio::test]
async fn a_stream_ends_when_its_access_ends() {
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        stream_recheck: Duration::from_millis(300),
        ..souk_http::HttpConfig::default()
    })
    .await;
    let admin = app.admin_token().await;
    let ended_soon = |mut s: SseClient| async move {
        let started = std::time::Instant::now();
        let next = s.next(Duration::from_secs(5)).await;
        next.is_none() && started.elapsed() < Duration::from_secs(3)
    };

    let (leaver, _) = app
        .approved_vendor(&admin, "leaver@example.com", "leaving")
        .await;
    let stream = SseClient::open(&app, "/api/vendor/events", Some(&leaver), None).await;
    assert_eq!(
        app.send(Method::POST, "/api/auth/logout", &leaver, None)
            .await
            .0,
        204
    );
    assert!(ended_soon(stream).await, "logout ends the vendor's stream");

    let (suspended, suspended_id) = app
        .approved_vendor(&admin, "suspended@example.com", "suspended")
        .await;
    let stream = SseClient::open(&app, "/api/vendor/events", Some(&suspended), None).await;
    let path = format!("/api/admin/vendors/{suspended_id}/suspend");
    assert_eq!(app.send(Method::POST, &path, &admin, None).await.0, 200);
    assert!(
        ended_soon(stream).await,
        "suspension ends the vendor's stream"
    );

    let (status, key) = app
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "dashboard", "scopes": ["admin:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let secret = key["secret"].as_str().unwrap().to_owned();
    let stream = SseClient::open(&app, "/api/admin/events", Some(&secret), None).await;
    let mut own = SseClient::open(&app, "/api/admin/events", Some(&admin), None).await;
    let revoke = format!("/api/admin/api-keys/{}", key["id"].as_str().unwrap());
    assert_eq!(app.send(Method::DELETE, &revoke, &admin, None).await.0, 204);
    assert!(ended_soon(stream).await, "revoking the key ends its stream");

    // The admin's own stream lived through several checks and still works.
    app.vendor_owner("newcomer@example.com", "newcomer").await;
    let event = own
        .next(Duration::from_secs(3))
        .await
        .expect("the admin's stream is still open");
    assert_eq!(event.kind, "vendor.applied");
}

/// One caller cannot take every stream slot: a guest's order token holds at most 8 streams at
/// once, and a 9th ends the oldest (most likely a connection that died without closing).
#[tokio::test]
async fn one_caller_holds_a_bounded_number_of_streams() {
    let app = TestApp::spawn().await;
    app.seed("seller", &[stocked("vase", &[4200], 5)]).await;
    let variant = app.variant_ids("vase").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "many", &checkout_body("many@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let token = order["access_token"].as_str().unwrap().to_owned();
    let path = format!("/api/store/orders/{id}/events?access_token={token}");
    let mut open = Vec::new();
    for _ in 0..souk_http::api::events::STREAMS_PER_CALLER {
        open.push(SseClient::open(&app, &path, None, None).await);
    }
    assert_eq!(
        streams_open(&app).await,
        souk_http::api::events::STREAMS_PER_CALLER
    );
    let mut newest = SseClient::open(&app, &path, None, None).await;
    assert!(
        open[0].ended_within(Duration::from_secs(5)).await,
        "the oldest stream was ended"
    );
    assert_eq!(
        streams_open(&app).await,
        souk_http::api::events::STREAMS_PER_CALLER,
        "still at most 8 for this caller"
    );
    // The newest one works.
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            &app.admin_token().await,
            Some(json!({"amount": order["total"]["amount"], "reference": "cash"})),
        )
        .await;
    assert_eq!(status, 200);
    let paid = newest.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(paid.kind, "order.paid");
}

/// A reconnect far behind gets its replay page by page, in order and complete.
#[tokio::test]
async fn a_long_replay_arrives_complete_and_in_order() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let before = souk_storage::events::latest_id(&app.db).await.unwrap();
    let mut tx = app.db.begin_write().await.unwrap();
    for n in 0..1200 {
        souk_app::outbox::emit(
            &mut tx,
            "job.failed",
            None,
            None,
            &job_failed(&n.to_string()),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // Let the server's poller pass them (it polls every 250 ms): they are history now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut again = SseClient::open(&app, "/api/admin/events", Some(&admin), Some(before)).await;
    let mut expected = 0;
    while let Some(e) = again.next(Duration::from_secs(3)).await {
        assert_eq!(e.data["error"], expected.to_string(), "{e:?}");
        expected += 1;
        if expected == 1200 {
            break;
        }
    }
    assert_eq!(expected, 1200, "every event since, across pages of 500");
}
