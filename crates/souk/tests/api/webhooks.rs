//! Outgoing webhooks over real HTTP: signed with the Standard Webhooks scheme (checked with the
//! `standardwebhooks` package from PyPI), retried with growing backoff under one `webhook-id`,
//! queued in the transaction of the change, per-vendor, and a dead endpoint delays nobody.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::checkout::{checkout_body, stocked};
use crate::helpers::{TestApp, WorkerSetup};
use crate::smtp::{SmtpServer, free_port};

/// One request a receiver got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub at: Instant,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// How a receiver answers the `n`-th request (from 1) carrying a given `webhook-id`:
/// a status, after a delay.
type Behaviour = Arc<dyn Fn(&str, usize) -> (u16, Duration) + Send + Sync>;

#[derive(Clone)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    behaviour: Behaviour,
}

/// A webhook receiver on a loopback port.
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, String) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let hit = Hit {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        at: Instant::now(),
    };
    let nth = {
        let mut hits = state.hits.lock().unwrap();
        hits.push(hit.clone());
        hits.iter().filter(|h| h.id == hit.id).count()
    };
    let (status, delay) = (state.behaviour)(&hit.id, nth);
    tokio::time::sleep(delay).await;
    (
        StatusCode::from_u16(status).unwrap(),
        format!("receiver says {status}"),
    )
}

impl Receiver {
    pub async fn start(
        behaviour: impl Fn(&str, usize) -> (u16, Duration) + Send + Sync + 'static,
    ) -> Receiver {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            hits: hits.clone(),
            behaviour: Arc::new(behaviour),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, hits }
    }

    pub async fn ok() -> Receiver {
        Self::start(|_, _| (200, Duration::ZERO)).await
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until `done` holds for the hits so far (or `within` passes); returns them.
    pub async fn wait_until(&self, within: Duration, done: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let started = Instant::now();
        loop {
            let hits = self.hits();
            if done(&hits) || started.elapsed() > within {
                return hits;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Verifies each hit with the `standardwebhooks` package (PyPI): true where it verifies.
fn verify_with_standardwebhooks(secret: &str, hits: &[Hit]) -> Vec<bool> {
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
wh = Webhook(sys.argv[1])
out = []
for h in json.load(sys.stdin):
    try:
        wh.verify(h["body"], {"webhook-id": h["id"], "webhook-timestamp": h["timestamp"], "webhook-signature": h["signature"]})
        out.append(True)
    except Exception:
        out.append(False)
print(json.dumps(out))
"#;
    let input: Vec<Value> = hits
        .iter()
        .map(|h| json!({"id": h.id, "timestamp": h.timestamp, "signature": h.signature, "body": h.body}))
        .collect();
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(serde_json::to_string(&input).unwrap().as_bytes())
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the standardwebhooks package is needed (scripts/test installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

impl TestApp {
    /// Registers an endpoint at `base` (`/api/vendor/webhooks` or `/api/admin/webhooks`);
    /// returns (endpoint id, secret).
    async fn endpoint(
        &self,
        base: &str,
        token: &str,
        url: &str,
        events: &[&str],
    ) -> (String, String) {
        let (status, body) = self
            .send(
                Method::POST,
                base,
                token,
                Some(json!({"url": url, "events": events, "description": "test receiver"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));
        (
            body["id"].as_str().unwrap().to_owned(),
            body["secret"].as_str().unwrap().to_owned(),
        )
    }

    async fn emit(&self, kind: &str, vendor: Option<Uuid>, data: Value) {
        let mut tx = self.db.begin_write().await.unwrap();
        souk_app::outbox::emit(&mut tx, kind, None, vendor, &data)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
}

fn setup(retry_base_ms: u64) -> WorkerSetup {
    WorkerSetup {
        retry_base: Duration::from_millis(retry_base_ms),
        retry_max: Duration::from_secs(5),
        ..WorkerSetup::default()
    }
}

#[tokio::test]
async fn a_failing_receiver_gets_the_same_signed_message_on_attempt_4_after_growing_backoff() {
    let app = TestApp::spawn_with_webhooks(setup(400)).await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "hooks@example.com", "hooked")
        .await;
    app.seed("hooked", &[stocked("kettle", &[2500], 5)]).await;
    let receiver =
        Receiver::start(|_, nth| (if nth <= 3 { 500 } else { 200 }, Duration::ZERO)).await;
    let (endpoint, secret) = app
        .endpoint(
            "/api/vendor/webhooks",
            &vendor,
            &receiver.url,
            &["order.created"],
        )
        .await;

    let cart = app.cart_with(&app.variant_ids("kettle").await[0], 2).await;
    let (status, order, _) = app
        .checkout(&cart, "hook-1", &checkout_body("buyer@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");

    let hits = receiver
        .wait_until(Duration::from_secs(15), |h| h.len() >= 4)
        .await;
    assert_eq!(hits.len(), 4, "three 500s, then the 200: {hits:?}");
    // One message, one webhook-id, the same body on every attempt.
    assert!(
        hits.iter()
            .all(|h| h.id == hits[0].id && h.body == hits[0].body)
    );
    assert!(hits[0].id.starts_with("msg_"));
    let event = hits[0].json();
    assert_eq!(event["type"], "order.created");
    assert_eq!(event["data"]["order_id"], order["id"]);
    assert!(event["data"]["vendor_order_id"].is_string(), "{event}");
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    // The signature verifies with the reference implementation; a changed body does not.
    assert_eq!(verify_with_standardwebhooks(&secret, &hits), vec![true; 4]);
    let mut forged = hits[3].clone();
    forged.body = forged.body.replace("order.created", "order.paid");
    assert_eq!(
        verify_with_standardwebhooks(&secret, &[forged]),
        vec![false]
    );
    // Backoff grows: 400 ms base doubling, with jitter between half and all of it.
    let gaps: Vec<Duration> = hits.windows(2).map(|w| w[1].at - w[0].at).collect();
    for (n, gap) in gaps.iter().enumerate() {
        let floor = Duration::from_millis(200 << n);
        assert!(
            *gap >= floor,
            "gap {n} is {gap:?}, below {floor:?}: {gaps:?}"
        );
    }
    assert!(gaps[2] > gaps[0], "the wait grows: {gaps:?}");

    // No more attempts after the success; the log shows all four.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.hits().len(), 4);
    let (status, log) = app
        .send(
            Method::GET,
            &format!("/api/vendor/webhooks/{endpoint}/deliveries"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(status, 200, "{log}");
    let codes: Vec<i64> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![200, 500, 500, 500], "newest first");
    assert_eq!(log["items"][0]["attempt"], 4);
    assert_eq!(log["items"][0]["response_snippet"], "receiver says 200");
    assert_eq!(log["items"][1]["error"], "HTTP 500");
    assert!(log["items"][0]["latency_ms"].as_i64().unwrap() >= 0);
    assert_eq!(log["items"][0]["webhook_id"], hits[0].id.as_str());
    let (_, messages) = app
        .send(
            Method::GET,
            &format!("/api/vendor/webhooks/{endpoint}/messages"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(messages["items"][0]["status"], "delivered");
    assert_eq!(messages["items"][0]["attempts"], 4);
    assert_eq!(messages["items"][0]["webhook_id"], hits[0].id.as_str());
    let (_, ep) = app
        .send(
            Method::GET,
            &format!("/api/vendor/webhooks/{endpoint}"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(
        (ep["enabled"].as_bool(), ep["failing_since"].is_null()),
        (Some(true), true),
        "{ep}"
    );

    // Rotating the secret: the new one signs from now on, the old one no longer verifies.
    let (status, rotated) = app
        .send(
            Method::POST,
            &format!("/api/vendor/webhooks/{endpoint}/secret/rotate"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let (_, shown) = app
        .send(
            Method::GET,
            &format!("/api/vendor/webhooks/{endpoint}/secret"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(shown["secret"], new_secret.as_str());
    let message = messages["items"][0]["id"].as_str().unwrap();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/vendor/webhooks/{endpoint}/messages/{message}/redeliver"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let hits = receiver
        .wait_until(Duration::from_secs(5), |h| h.len() >= 5)
        .await;
    assert_eq!(hits[4].id, hits[0].id, "a redelivery keeps its webhook-id");
    assert_eq!(
        verify_with_standardwebhooks(&new_secret, &hits[4..]),
        vec![true]
    );
    assert_eq!(
        verify_with_standardwebhooks(&secret, &hits[4..]),
        vec![false]
    );
}

#[tokio::test]
async fn vendors_get_only_their_own_events_and_platform_endpoints_get_all() {
    let app = TestApp::spawn_with_webhooks(setup(100)).await;
    let admin = app.admin_token().await;
    let [(a, a_id), (b, b_id)] = app
        .vendors(
            &admin,
            [("a@example.com", "shop-a"), ("b@example.com", "shop-b")],
        )
        .await
        .map(|v| (v.token, v.id));
    app.seed("shop-a", &[stocked("apple", &[1000], 10)]).await;
    app.seed("shop-b", &[stocked("banana", &[3000], 10)]).await;
    let all = [
        "order.created",
        "order.paid",
        "order.fulfilled",
        "order.refunded",
        "product.updated",
        "stock.low",
    ];
    let (ra, rb, rp, rnarrow) = (
        Receiver::ok().await,
        Receiver::ok().await,
        Receiver::ok().await,
        Receiver::ok().await,
    );
    let (a_endpoint, _) = app
        .endpoint("/api/vendor/webhooks", &a, &ra.url, &all)
        .await;
    app.endpoint("/api/vendor/webhooks", &b, &rb.url, &all)
        .await;
    app.endpoint("/api/admin/webhooks", &admin, &rp.url, &all)
        .await;
    // Subscribed to payments only.
    app.endpoint("/api/vendor/webhooks", &a, &rnarrow.url, &["order.paid"])
        .await;

    let cart = app.cart_with(&app.variant_ids("apple").await[0], 1).await;
    app.add_to_cart(&cart, &app.variant_ids("banana").await[0], 1)
        .await;
    let (status, order, _) = app
        .checkout(&cart, "both", &checkout_body("both@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_str().unwrap();
    let vendor_order = |vendor: &str| {
        order["vendor_orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["vendor_id"] == vendor)
            .unwrap()["id"]
            .clone()
    };
    let paid = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{order_id}/payments"),
            &admin,
            Some(json!({"amount": order["total"]["amount"], "reference": "transfer"})),
        )
        .await;
    assert_eq!(paid.0, 200, "{}", paid.1);
    // A stock change by vendor A is A's product event.
    let apple = app.variant_ids("apple").await.remove(0);
    let (status, _) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/variants/{apple}/stock"),
            &a,
            Some(json!({"stock": 42})),
        )
        .await;
    assert_eq!(status, 200);

    let types = |hits: &[Hit]| -> Vec<String> {
        let mut t: Vec<String> = hits
            .iter()
            .map(|h| h.json()["type"].as_str().unwrap().to_owned())
            .collect();
        t.sort();
        t
    };
    let wait = Duration::from_secs(10);
    let a_hits = ra.wait_until(wait, |h| h.len() >= 3).await;
    let b_hits = rb.wait_until(wait, |h| h.len() >= 2).await;
    let p_hits = rp.wait_until(wait, |h| h.len() >= 3).await;
    let narrow = rnarrow.wait_until(wait, |h| !h.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        types(&ra.hits()),
        ["order.created", "order.paid", "product.updated"]
    );
    assert_eq!(types(&rb.hits()), ["order.created", "order.paid"]);
    assert_eq!(
        types(&rp.hits()),
        ["order.created", "order.paid", "product.updated"]
    );
    assert_eq!(types(&rnarrow.hits()), ["order.paid"]);
    let _ = (narrow, p_hits);
    // Each vendor sees its own vendor order only, never the other's id or the customer.
    for h in &a_hits {
        assert!(
            !h.body.contains(&b_id) && !h.body.contains(vendor_order(&b_id).as_str().unwrap()),
            "{}",
            h.body
        );
        assert!(!h.body.contains("both@example.com"));
    }
    for h in &b_hits {
        assert!(
            !h.body.contains(&a_id) && !h.body.contains(vendor_order(&a_id).as_str().unwrap()),
            "{}",
            h.body
        );
        assert_eq!(h.json()["data"]["vendor_order_id"], vendor_order(&b_id));
    }
    let product_event = a_hits
        .iter()
        .map(Hit::json)
        .find(|e| e["type"] == "product.updated")
        .unwrap();
    assert_eq!(product_event["data"]["change"], "stock");
    assert_eq!(product_event["data"]["stock"], 42);
    // The platform copy of an order event is the whole order.
    let platform_created = rp
        .hits()
        .iter()
        .map(Hit::json)
        .find(|e| e["type"] == "order.created")
        .unwrap();
    assert_eq!(platform_created["data"]["order_id"], order_id);
    assert!(platform_created["data"]["vendor_order_id"].is_null());

    // Vendor B cannot see or touch A's endpoint; a customer is not vendor staff.
    for path in [
        format!("/api/vendor/webhooks/{a_endpoint}"),
        format!("/api/vendor/webhooks/{a_endpoint}/messages"),
        format!("/api/vendor/webhooks/{a_endpoint}/deliveries"),
        format!("/api/vendor/webhooks/{a_endpoint}/secret"),
    ] {
        assert_eq!(
            app.send(Method::GET, &path, &b, None).await.0,
            404,
            "{path}"
        );
    }
    let (_, a_messages) = app
        .send(
            Method::GET,
            &format!("/api/vendor/webhooks/{a_endpoint}/messages"),
            &a,
            None,
        )
        .await;
    let a_message = a_messages["items"][0]["id"].as_str().unwrap().to_owned();
    for (method, path, body) in [
        (
            Method::PATCH,
            format!("/api/vendor/webhooks/{a_endpoint}"),
            Some(json!({"url": rb.url})),
        ),
        (
            Method::DELETE,
            format!("/api/vendor/webhooks/{a_endpoint}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/vendor/webhooks/{a_endpoint}/secret/rotate"),
            None,
        ),
        (
            Method::POST,
            format!("/api/vendor/webhooks/{a_endpoint}/messages/{a_message}/redeliver"),
            None,
        ),
    ] {
        assert_eq!(app.send(method, &path, &b, body).await.0, 404, "{path}");
    }
    let (_, b_list) = app
        .send(Method::GET, "/api/vendor/webhooks", &b, None)
        .await;
    assert_eq!(b_list["items"].as_array().unwrap().len(), 1);
    let (_, a_list) = app
        .send(Method::GET, "/api/vendor/webhooks", &a, None)
        .await;
    assert_eq!(a_list["items"].as_array().unwrap().len(), 2);
    assert!(
        a_list["items"][0].get("secret").is_none(),
        "lists never show secrets"
    );
    let customer = app.register("shopper@example.com").await;
    assert_eq!(
        app.send(Method::GET, "/api/vendor/webhooks", &customer, None)
            .await
            .0,
        403
    );
    assert_eq!(
        app.send(Method::GET, "/api/admin/webhooks", &customer, None)
            .await
            .0,
        403
    );
    assert_eq!(
        app.send(Method::GET, "/api/admin/webhooks", &a, None)
            .await
            .0,
        403
    );
    // Nothing B tried changed A's endpoint.
    let (_, ep) = app
        .send(
            Method::GET,
            &format!("/api/vendor/webhooks/{a_endpoint}"),
            &a,
            None,
        )
        .await;
    assert_eq!(ep["url"], ra.url.as_str());

    // A suspended vendor's endpoints receive nothing more; the platform still hears of it.
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/vendors/{b_id}/suspend"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let b_before = rb.hits().len();
    let p_before = rp.hits().len();
    app.emit(
        "product.updated",
        Some(Uuid::parse_str(&b_id).unwrap()),
        json!({"product_id": "b1"}),
    )
    .await;
    rp.wait_until(wait, |h| h.len() > p_before).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rp.hits().len(), p_before + 1);
    assert_eq!(
        rb.hits().len(),
        b_before,
        "suspended vendor's endpoint got an event"
    );
}

/// Redelivering a message that is waiting for its next retry brings that retry forward
/// instead of queueing a second delivery.
#[tokio::test]
async fn redelivering_a_waiting_message_sends_it_now_and_once() {
    let app = TestApp::spawn_with_webhooks(WorkerSetup {
        retry_base: Duration::from_secs(120),
        retry_max: Duration::from_secs(600),
        ..WorkerSetup::default()
    })
    .await;
    let admin = app.admin_token().await;
    let receiver =
        Receiver::start(|_, nth| (if nth == 1 { 500 } else { 200 }, Duration::ZERO)).await;
    let (endpoint, _) = app
        .endpoint(
            "/api/admin/webhooks",
            &admin,
            &receiver.url,
            &["order.paid"],
        )
        .await;
    app.emit("order.paid", None, json!({"order_id": "late"}))
        .await;
    receiver
        .wait_until(Duration::from_secs(5), |h| !h.is_empty())
        .await;
    // The next try is a minute or more away.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, messages) = app
        .send(
            Method::GET,
            &format!("/api/admin/webhooks/{endpoint}/messages"),
            &admin,
            None,
        )
        .await;
    assert_eq!(messages["items"][0]["status"], "pending", "{messages}");
    let message = messages["items"][0]["id"].as_str().unwrap();
    let started = Instant::now();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/webhooks/{endpoint}/messages/{message}/redeliver"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let hits = receiver
        .wait_until(Duration::from_secs(5), |h| h.len() >= 2)
        .await;
    assert_eq!(hits.len(), 2);
    assert!(started.elapsed() < Duration::from_secs(5));
    let jobs: i64 = {
        let sql = "SELECT COUNT(*) FROM jobs WHERE kind = 'webhook.deliver'";
        match &app.db {
            souk_storage::Db::Sqlite { read, .. } => {
                sqlx::query_scalar(sql).fetch_one(read).await.unwrap()
            }
            souk_storage::Db::Postgres(pool) => {
                sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
            }
        }
    };
    assert_eq!(jobs, 1, "one delivery job for the message, brought forward");
}

#[tokio::test]
async fn a_rolled_back_change_sends_nothing_and_a_committed_one_queues_its_delivery() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let receiver = Receiver::ok().await;
    // Loopback is refused without the operator's permission; stored directly for this test.
    let admin_id = souk_storage::accounts::user_by_email(&app.db, "root@souk.test")
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut tx = app.db.begin_write().await.unwrap();
    souk_storage::webhooks::create(
        &mut tx,
        &souk_storage::webhooks::NewEndpoint {
            owner: souk_storage::webhooks::Owner::Platform,
            url: &receiver.url,
            description: "",
            event_types: &["order.paid".to_owned()],
            created_by: admin_id,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let _ = admin;

    let count = |table: &'static str| {
        let db = app.db.clone();
        async move {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            let n: i64 = match &db {
                souk_storage::Db::Sqlite { read, .. } => {
                    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_one(read)
                        .await
                        .unwrap()
                }
                souk_storage::Db::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(pool)
                    .await
                    .unwrap(),
            };
            n
        }
    };
    let mut tx = app.db.begin_write().await.unwrap();
    souk_app::outbox::emit(&mut tx, "order.paid", None, None, &json!({"order_id": "x"}))
        .await
        .unwrap();
    drop(tx); // Dropped without commit: rolled back.
    assert_eq!(count("webhook_messages").await, 0);
    assert_eq!(count("jobs").await, 0);

    // An event type nobody subscribed to queues nothing either.
    app.emit("order.created", None, json!({"order_id": "y"}))
        .await;
    assert_eq!(count("webhook_messages").await, 0);

    app.emit("order.paid", None, json!({"order_id": "z"})).await;
    assert_eq!(count("webhook_messages").await, 1);
    assert_eq!(count("jobs").await, 1);
}

#[tokio::test]
async fn a_dead_endpoint_does_not_delay_deliveries_to_healthy_ones() {
    let app = TestApp::spawn_with_webhooks(WorkerSetup {
        webhook_timeout: Duration::from_secs(30),
        ..setup(100)
    })
    .await;
    let admin = app.admin_token().await;
    // Accepts every request and answers after a minute: longer than the test.
    let dead = Receiver::start(|_, _| (200, Duration::from_secs(60))).await;
    let healthy = Receiver::ok().await;
    app.endpoint("/api/admin/webhooks", &admin, &dead.url, &["order.paid"])
        .await;
    app.endpoint("/api/admin/webhooks", &admin, &healthy.url, &["order.paid"])
        .await;
    let started = Instant::now();
    for n in 0..12 {
        app.emit("order.paid", None, json!({"n": n})).await;
    }
    let hits = healthy
        .wait_until(Duration::from_secs(20), |h| h.len() >= 12)
        .await;
    let took = started.elapsed();
    assert_eq!(hits.len(), 12, "every event reached the healthy endpoint");
    assert!(
        took < Duration::from_secs(10),
        "the healthy endpoint waited {took:?} behind the dead one"
    );
    // The dead one holds at most two deliveries from this process at a time.
    assert!(
        dead.hits().len() <= 2,
        "{} in flight to the dead endpoint",
        dead.hits().len()
    );
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_disabled_its_owner_emailed_and_can_be_redelivered() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_webhooks(WorkerSetup {
        smtp_url: Some(smtp.url()),
        webhook_disable_after: Duration::from_millis(1500),
        ..setup(100)
    })
    .await;
    let admin = app.admin_token().await;
    let (vendor, vendor_id) = app
        .approved_vendor(&admin, "owner@example.com", "flaky")
        .await;
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = healthy.clone();
    let receiver = Receiver::start(move |_, _| {
        let ok = flag.load(std::sync::atomic::Ordering::SeqCst);
        (if ok { 200 } else { 503 }, Duration::ZERO)
    })
    .await;
    let (endpoint, _) = app
        .endpoint(
            "/api/vendor/webhooks",
            &vendor,
            &receiver.url,
            &["stock.low", "product.updated"],
        )
        .await;
    let vendor_uuid = Uuid::parse_str(&vendor_id).unwrap();
    app.emit(
        "product.updated",
        Some(vendor_uuid),
        json!({"product_id": "p1"}),
    )
    .await;

    let started = Instant::now();
    let ep = loop {
        let (_, ep) = app
            .send(
                Method::GET,
                &format!("/api/vendor/webhooks/{endpoint}"),
                &vendor,
                None,
            )
            .await;
        if ep["enabled"] == false || started.elapsed() > Duration::from_secs(20) {
            break ep;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ep["enabled"], false, "{ep}");
    assert!(
        ep["disabled_reason"].as_str().unwrap().contains("HTTP 503"),
        "{ep}"
    );
    let attempts = receiver.hits().len();
    assert!(attempts >= 3, "it kept trying before giving up: {attempts}");
    // Other mail (address verification) arrives too: look for this one, headers unfolded and
    // quoted-printable soft breaks removed.
    let started = Instant::now();
    let notice = loop {
        let found = smtp.messages().into_values().map(|(_, raw)| {
            raw.replace("=\r\n", "")
                .replace("=\n", "")
                .replace("\r\n ", " ")
                .replace("\n ", " ")
        });
        if let Some(raw) = found
            .into_iter()
            .find(|raw| raw.contains("your webhook endpoint was disabled"))
        {
            break raw;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the owner is emailed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(notice.contains("owner@example.com"), "{notice}");
    assert!(notice.contains(&endpoint), "{notice}");

    // Disabled: new events are not queued for it; nothing more is sent.
    app.emit(
        "product.updated",
        Some(vendor_uuid),
        json!({"product_id": "p2"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.hits().len(), attempts);

    // Fixed and re-enabled, the missed message is sent again on request, same webhook-id.
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, ep) = app
        .send(
            Method::PATCH,
            &format!("/api/vendor/webhooks/{endpoint}"),
            &vendor,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!((status, ep["enabled"].as_bool()), (200, Some(true)), "{ep}");
    assert!(
        ep["disabled_reason"].is_null() && ep["failing_since"].is_null(),
        "{ep}"
    );
    let (_, messages) = app
        .send(
            Method::GET,
            &format!("/api/vendor/webhooks/{endpoint}/messages"),
            &vendor,
            None,
        )
        .await;
    let items = messages["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{messages}");
    assert_eq!(items[0]["status"], "failed", "{messages}");
    let message = items[0]["id"].as_str().unwrap();
    let (status, queued) = app
        .send(
            Method::POST,
            &format!("/api/vendor/webhooks/{endpoint}/messages/{message}/redeliver"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let hits = receiver
        .wait_until(Duration::from_secs(5), |h| h.len() > attempts)
        .await;
    assert_eq!(hits.last().unwrap().id, hits[0].id);
    assert_eq!(
        hits.last().unwrap().id,
        queued["webhook_id"].as_str().unwrap()
    );
    let started = Instant::now();
    loop {
        let (_, messages) = app
            .send(
                Method::GET,
                &format!("/api/vendor/webhooks/{endpoint}/messages?status=delivered"),
                &vendor,
                None,
            )
            .await;
        if messages["items"].as_array().unwrap().len() == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{messages}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn endpoint_urls_and_event_types_are_validated() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "careful@example.com", "careful")
        .await;
    for (body, field) in [
        (
            json!({"url": "http://127.0.0.1:9000/hook", "events": ["order.paid"]}),
            "url",
        ),
        (
            json!({"url": "https://localhost/hook", "events": ["order.paid"]}),
            "url",
        ),
        (
            json!({"url": "https://169.254.169.254/latest/meta-data", "events": ["order.paid"]}),
            "url",
        ),
        (
            json!({"url": "https://[::1]/hook", "events": ["order.paid"]}),
            "url",
        ),
        (
            json!({"url": "https://10.1.2.3/hook", "events": ["order.paid"]}),
            "url",
        ),
        (
            json!({"url": "ftp://hooks.example.com/", "events": ["order.paid"]}),
            "url",
        ),
        (
            json!({"url": "https://user:pw@hooks.example.com/", "events": ["order.paid"]}),
            "url",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": []}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["order.exploded"]}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["payment.failed"]}),
            "events",
        ),
        (
            json!({"url": "https://hooks.example.com/", "events": ["order.paid"], "description": "x".repeat(201)}),
            "description",
        ),
    ] {
        let (status, problem) = app
            .send(
                Method::POST,
                "/api/vendor/webhooks",
                &vendor,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem["code"], "validation_failed");
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let (status, _) = app
        .send(
            Method::POST,
            "/api/vendor/webhooks",
            &vendor,
            Some(
                json!({"url": "https://hooks.example.com/", "events": ["order.paid"], "extra": 1}),
            ),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused");
    let (_, list) = app
        .send(Method::GET, "/api/vendor/webhooks", &vendor, None)
        .await;
    assert_eq!(list["items"], json!([]), "nothing was created");
    // A public https URL is fine; twenty endpoints at most.
    for n in 0..20 {
        let (status, body) = app
            .send(
                Method::POST,
                "/api/vendor/webhooks",
                &vendor,
                Some(json!({"url": format!("https://hooks.example.com/{n}"), "events": ["order.paid"]})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, problem) = app
        .send(
            Method::POST,
            "/api/vendor/webhooks",
            &vendor,
            Some(json!({"url": "https://hooks.example.com/x", "events": ["order.paid"]})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("too_many_endpoints"))
    );

    // In production (the shop on https) plain http is refused too.
    let mut config = souk_http::HttpConfig::default();
    config.webhooks.policy.allow_http = false;
    let prod = TestApp::spawn_with(config).await;
    let admin = prod.admin_token().await;
    let (status, problem) = prod
        .send(
            Method::POST,
            "/api/admin/webhooks",
            &admin,
            Some(json!({"url": "http://hooks.example.com/", "events": ["order.paid"]})),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("https"),
        "{problem}"
    );
}

/// `kill -9` of `souk serve` while deliveries are in flight: after a restart every message
/// reaches the receiver (at least once, under its one webhook-id), and all end delivered.
#[tokio::test]
async fn kill_9_during_delivery_loses_no_message() {
    let mut config = souk_http::HttpConfig::default();
    let key = [0x5au8; 32];
    config.webhooks.server_key = key.to_vec().into();
    config.webhooks.policy.allow_private = true;
    let app = TestApp::spawn_with(config).await;
    let admin = app.admin_token().await;
    // Slow answers keep deliveries in flight when the kill comes.
    let receiver = Receiver::start(|_, _| (200, Duration::from_millis(150))).await;
    let (_, secret) = app
        .endpoint(
            "/api/admin/webhooks",
            &admin,
            &receiver.url,
            &["order.paid"],
        )
        .await;
    const MESSAGES: usize = 30;
    for n in 0..MESSAGES {
        app.emit("order.paid", None, json!({"n": n})).await;
    }
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    let serve = || {
        crate::helpers::souk_command(&app.database)
            .env("SOUK_SECRET_KEY", &hex)
            .env("SOUK_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("SOUK_JOB_LEASE_SECS", "1")
            .env("SOUK_JOB_POLL_MS", "50")
            .env("SOUK_JOB_RETRY_BASE_MS", "100")
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = serve();
    // Kill once some deliveries have arrived (and others are on the wire).
    receiver
        .wait_until(Duration::from_secs(20), |h| h.len() >= 3)
        .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let before = receiver.hits().len();
    assert!(before < MESSAGES, "killed before all were sent ({before})");

    let mut second = serve();
    let hits = receiver
        .wait_until(Duration::from_secs(30), |h| {
            h.iter().map(|h| &h.id).collect::<HashSet<_>>().len() >= MESSAGES
        })
        .await;
    let ids: HashSet<&String> = hits.iter().map(|h| &h.id).collect();
    assert_eq!(
        ids.len(),
        MESSAGES,
        "killed after {before} hits: every message still arrived"
    );
    // Every body is what was signed for its id.
    let verified = verify_with_standardwebhooks(&secret, &hits);
    assert!(verified.iter().all(|v| *v), "{verified:?}");
    let mut per_id: HashMap<&String, Vec<&Hit>> = HashMap::new();
    for h in &hits {
        per_id.entry(&h.id).or_default().push(h);
    }
    assert!(
        per_id
            .values()
            .all(|v| v.iter().all(|h| h.body == v[0].body))
    );
    // And the database agrees: all delivered.
    let started = Instant::now();
    loop {
        let (_, list) = app
            .send(Method::GET, "/api/admin/webhooks", &admin, None)
            .await;
        let endpoint = list["items"][0]["id"].as_str().unwrap().to_owned();
        let (_, messages) = app
            .send(
                Method::GET,
                &format!("/api/admin/webhooks/{endpoint}/messages?status=delivered&limit=100"),
                &admin,
                None,
            )
            .await;
        if messages["items"].as_array().unwrap().len() == MESSAGES {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{messages}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();
}

/// `POST …/test` sends a signed `webhook.test` event whatever the endpoint's filter; a disabled
/// endpoint refuses it.
#[tokio::test]
async fn a_test_event_can_be_sent_on_request() {
    let app = TestApp::spawn_with_webhooks(setup(100)).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::ok().await;
    let (endpoint, secret) = app
        .endpoint("/api/admin/webhooks", &admin, &receiver.url, &["stock.low"])
        .await;
    let (status, queued) = app
        .send(
            Method::POST,
            &format!("/api/admin/webhooks/{endpoint}/test"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    let hits = receiver
        .wait_until(Duration::from_secs(5), |h| !h.is_empty())
        .await;
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].id, queued["webhook_id"].as_str().unwrap());
    assert_eq!(hits[0].json()["type"], "webhook.test");
    assert_eq!(hits[0].json()["data"]["endpoint_id"], endpoint.as_str());
    assert_eq!(verify_with_standardwebhooks(&secret, &hits), vec![true]);

    let (status, _) = app
        .send(
            Method::PATCH,
            &format!("/api/admin/webhooks/{endpoint}"),
            &admin,
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, problem) = app
        .send(
            Method::POST,
            &format!("/api/admin/webhooks/{endpoint}/test"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("endpoint_disabled"))
    );
}

/// After an outage that disabled the endpoint, `POST …/recover` sends again every message that
/// failed or was skipped since a time, each under its own `webhook-id`.
#[tokio::test]
async fn failed_and_skipped_messages_are_recovered_after_an_outage() {
    let app = TestApp::spawn_with_webhooks(WorkerSetup {
        webhook_disable_after: Duration::from_millis(800),
        ..setup(100)
    })
    .await;
    let admin = app.admin_token().await;
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = up.clone();
    let receiver = Receiver::start(move |_, _| {
        let ok = flag.load(std::sync::atomic::Ordering::SeqCst);
        (if ok { 200 } else { 503 }, Duration::ZERO)
    })
    .await;
    let (endpoint, _) = app
        .endpoint(
            "/api/admin/webhooks",
            &admin,
            &receiver.url,
            &["order.paid"],
        )
        .await;
    for n in 0..3 {
        app.emit("order.paid", None, json!({"n": n})).await;
    }
    // Wait for the endpoint to be disabled and every message to be settled (none pending).
    let started = Instant::now();
    loop {
        let (_, messages) = app
            .send(
                Method::GET,
                &format!("/api/admin/webhooks/{endpoint}/messages?status=pending"),
                &admin,
                None,
            )
            .await;
        let (_, ep) = app
            .send(
                Method::GET,
                &format!("/api/admin/webhooks/{endpoint}"),
                &admin,
                None,
            )
            .await;
        if ep["enabled"] == false && messages["items"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{ep} {messages}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let since = souk_domain::time::rfc3339(souk_storage::now_ms() - 3_600_000);
    let recover = format!("/api/admin/webhooks/{endpoint}/recover");
    let (status, problem) = app
        .send(
            Method::POST,
            &recover,
            &admin,
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("endpoint_disabled"))
    );
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, _) = app
        .send(
            Method::PATCH,
            &format!("/api/admin/webhooks/{endpoint}"),
            &admin,
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = app
        .send(
            Method::POST,
            &recover,
            &admin,
            Some(json!({"since": "yesterday"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let before = receiver.hits().len();
    let (status, body) = app
        .send(
            Method::POST,
            &recover,
            &admin,
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        (body["queued"].as_u64(), body["more"].as_bool()),
        (Some(3), Some(false))
    );
    let hits = receiver
        .wait_until(Duration::from_secs(10), |h| {
            h[before..]
                .iter()
                .filter(|h| h.body.contains("order.paid"))
                .count()
                >= 3
        })
        .await;
    let recovered: HashSet<&String> = hits[before..].iter().map(|h| &h.id).collect();
    assert_eq!(
        recovered.len(),
        3,
        "each message once more, under its own id"
    );
    let started = Instant::now();
    loop {
        let (_, delivered) = app
            .send(
                Method::GET,
                &format!("/api/admin/webhooks/{endpoint}/messages?status=delivered"),
                &admin,
                None,
            )
            .await;
        if delivered["items"].as_array().unwrap().len() == 3 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{delivered}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Messages a vendor's endpoint was still retrying when the vendor was suspended are held
/// back (skipped, not sent), and come through after reinstatement with a recovery.
#[tokio::test]
async fn a_suspended_vendors_queued_messages_are_held_back_until_it_is_reinstated() {
    let app = TestApp::spawn_with_webhooks(setup(200)).await;
    let admin = app.admin_token().await;
    let (vendor, vendor_id) = app
        .approved_vendor(&admin, "held@example.com", "held-shop")
        .await;
    let receiver =
        Receiver::start(|_, nth| (if nth == 1 { 500 } else { 200 }, Duration::ZERO)).await;
    let (endpoint, _) = app
        .endpoint(
            "/api/vendor/webhooks",
            &vendor,
            &receiver.url,
            &["product.updated"],
        )
        .await;
    let vendor_uuid = Uuid::parse_str(&vendor_id).unwrap();
    app.emit(
        "product.updated",
        Some(vendor_uuid),
        json!({"change": "archived", "vendor_id": vendor_id}),
    )
    .await;
    receiver
        .wait_until(Duration::from_secs(5), |h| !h.is_empty())
        .await;
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor_id}/suspend"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    // Retries would have come within about a second; none reaches the receiver.
    let status_of_message = async || -> String {
        let sql = "SELECT status FROM webhook_messages";
        match &app.db {
            souk_storage::Db::Sqlite { read, .. } => {
                sqlx::query_scalar(sql).fetch_one(read).await.unwrap()
            }
            souk_storage::Db::Postgres(pool) => {
                sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
            }
        }
    };
    let started = Instant::now();
    while status_of_message().await == "pending" && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status_of_message().await, "skipped");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.hits().len(), 1, "nothing sent while suspended");

    // Reinstated, the vendor recovers what was held back.
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor_id}/approve"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let since = souk_domain::time::rfc3339(souk_storage::now_ms() - 3_600_000);
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/vendor/webhooks/{endpoint}/recover"),
            &vendor,
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let hits = receiver
        .wait_until(Duration::from_secs(5), |h| h.len() >= 2)
        .await;
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].id, hits[1].id, "the same message");
}

/// A slow endpoint's backlog waits in the queue instead of being claimed and put back every
/// second: each waiting delivery steps aside for about as long as the endpoint needs.
#[tokio::test]
async fn a_slow_endpoints_backlog_is_not_claimed_over_and_over() {
    let app = TestApp::spawn_with_webhooks(setup(100)).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::start(|_, _| (200, Duration::from_millis(1000))).await;
    app.endpoint(
        "/api/admin/webhooks",
        &admin,
        &receiver.url,
        &["order.paid"],
    )
    .await;
    let deferred = async || {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("souk_jobs_total{")
                    && l.contains("kind=\"webhook.deliver\"")
                    && l.contains("outcome=\"deferred\"")
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum::<f64>()
    };
    let before = deferred().await;
    for n in 0..16 {
        app.emit("order.paid", None, json!({"n": n})).await;
    }
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let steps = deferred().await - before;
    // 14 wait while 2 are sent; stepping aside for 0.5–1.5 s each would be about 30 by now.
    assert!(steps >= 5.0, "the backlog waits its turn: {steps}");
    assert!(
        steps <= 22.0,
        "each waits about once, not every second: {steps}"
    );
    // And it all arrives.
    let hits = receiver
        .wait_until(Duration::from_secs(40), |h| h.len() >= 16)
        .await;
    assert_eq!(hits.len(), 16);
}

/// A host name (not `localhost`, which is refused by name) that this machine resolves to a
/// loopback address: the machine's own name, as in a stock `/etc/hosts`.
fn name_resolving_to_loopback() -> String {
    use std::net::ToSocketAddrs;
    let own = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let candidates = [own.trim(), "ip6-localhost", "ip6-loopback", "localhost6"];
    candidates
        .iter()
        .filter(|name| !name.is_empty())
        .find(|name| {
            (**name, 80)
                .to_socket_addrs()
                .is_ok_and(|mut addrs| addrs.any(|a| a.ip().is_loopback()))
        })
        .map(|name| (*name).to_owned())
        .expect(
            "no host name other than localhost resolves to a loopback address here (/etc/hosts)",
        )
}

/// The newest delivery attempt of a platform endpoint, once there is one (within 5 s), or null.
async fn latest_attempt(app: &TestApp, admin: &str, endpoint: &str) -> Value {
    for _ in 0..100 {
        let (_, log) = app
            .send(
                Method::GET,
                &format!("/api/admin/webhooks/{endpoint}/deliveries"),
                admin,
                None,
            )
            .await;
        if !log["items"].as_array().unwrap().is_empty() {
            return log["items"][0].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Value::Null
}

/// With the shipped guard on, a URL whose host name passes the check when saved but resolves
/// to a private address at delivery reaches nothing: the attempt fails with a clear error.
#[tokio::test]
async fn with_the_guard_on_a_name_resolving_to_loopback_is_refused_at_send_time() {
    let app = TestApp::spawn_with_webhook_policy(setup(100), false).await;
    let admin = app.admin_token().await;
    let receiver = Receiver::ok().await;
    let port = receiver.url.rsplit(':').next().unwrap().to_owned();
    let name = name_resolving_to_loopback();
    let url = format!("http://{name}:{port}");
    // Saved: the name itself is not private.
    let (endpoint, _) = app
        .endpoint("/api/admin/webhooks", &admin, &url, &["order.created"])
        .await;
    let (status, queued) = app
        .send(
            Method::POST,
            &format!("/api/admin/webhooks/{endpoint}/test"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    // The attempt is made and fails; the receiver on 127.0.0.1 never hears of it.
    let attempt = &latest_attempt(&app, &admin, &endpoint).await;
    assert!(attempt.is_object(), "no delivery attempt was made");
    assert!(attempt["status_code"].is_null(), "{attempt}");
    let error = attempt["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "{attempt}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.hits().is_empty(), "{url} was reached: {error}");
}

/// A receiver that answers with a redirect to another (internal) address: the redirect is not
/// followed, the attempt counts as failed, and the redirect's target is never called.
#[tokio::test]
async fn a_redirect_is_not_followed_at_send_time() {
    let app = TestApp::spawn_with_webhooks(setup(100)).await;
    let admin = app.admin_token().await;
    let internal = Receiver::ok().await;
    let target = internal.url.clone();
    let redirects = Arc::new(Mutex::new(0usize));
    let counter = redirects.clone();
    let redirector = Router::new().route(
        "/hook",
        post(move || {
            let (target, counter) = (target.clone(), counter.clone());
            async move {
                *counter.lock().unwrap() += 1;
                (StatusCode::TEMPORARY_REDIRECT, [("location", target)], "")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await.unwrap() });
    let (endpoint, _) = app
        .endpoint("/api/admin/webhooks", &admin, &url, &["order.created"])
        .await;
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/webhooks/{endpoint}/test"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 202);
    let attempt = latest_attempt(&app, &admin, &endpoint).await;
    assert_eq!(attempt["status_code"], 307, "{attempt}");
    assert_eq!(attempt["error"], "HTTP 307", "{attempt}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(*redirects.lock().unwrap() >= 1);
    assert!(internal.hits().is_empty(), "the redirect was followed");
}
