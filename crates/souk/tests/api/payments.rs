//! Payments: Stripe (against a fake Stripe speaking its wire format), signed webhooks checked
//! against the official `stripe` Python library, the webhook/confirmation race, out-of-order
//! events, reconciliation of a lost webhook, refunds and the ledger, on both databases.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use reqwest::Method;
use serde_json::{Value, json};
use souk_domain::payments::stripe_signature;
use souk_http::HttpConfig;
use souk_http::server::ServerLimits;
use souk_payments::stripe::{Stripe, StripeConfig};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::checkout::{address, stocked};
use crate::helpers::{TestApp, status_json};
use crate::scenario::TaxRate;

const SECRET_KEY: &str = "sk_test_souk";
const WHSEC: &str = "whsec_test_souk_endpoint";

// ------------------------------------------------------------------ a fake Stripe

/// What the fake Stripe has done, and the faults it should inject next.
#[derive(Default)]
struct Ledger {
    intents: HashMap<String, Value>,
    /// Idempotency key → the response first given for it (Stripe replays it).
    by_key: HashMap<String, Value>,
    /// PaymentIntents created: one per charge a customer could pay.
    created: usize,
    refunds: Vec<Value>,
    fail_500: u32,
    fail_429: u32,
    /// Requests to process and then answer only after the client's timeout.
    slow: u32,
    /// Requests to process and then drop the connection without an answer.
    drop: u32,
    /// After a drop: this many 500s follow (the client gives up; the work stays pending).
    fail_after_drop: u32,
    slow_ms: u64,
    requests: usize,
}

#[derive(Clone)]
pub struct FakeStripe {
    pub base: String,
    ledger: Arc<Mutex<Ledger>>,
}

fn stripe_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": "api_error", "message": message}})),
    )
        .into_response()
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let app = Router::new()
            .route("/v1/payment_intents", post(create_intent))
            .route("/v1/payment_intents/{id}", get(get_intent))
            .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
            .route("/v1/refunds", get(list_refunds).post(create_refund))
            .route("/v1/payment_intents/{id}/confirm", post(confirm_intent))
            .route("/v3/", get(stripe_js))
            .with_state(ledger.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeStripe { base, ledger }
    }

    pub fn provider(&self) -> souk_app::payments::Providers {
        let stripe = Stripe::new(StripeConfig {
            secret_key: SECRET_KEY.to_owned(),
            webhook_secret: WHSEC.to_owned(),
            api_base: self.base.clone(),
            timeout: Duration::from_millis(400),
            max_retries: 2,
        })
        .unwrap();
        souk_app::payments::Providers {
            stripe: Some(Arc::new(stripe)),
        }
    }

    /// The customer pays with Stripe.js: the intent succeeds at Stripe.
    fn pay(&self, intent: &str) -> Value {
        let mut l = self.ledger.lock().unwrap();
        let pi = l.intents.get_mut(intent).expect("known intent");
        pi["status"] = json!("succeeded");
        pi["amount_received"] = pi["amount"].clone();
        pi.clone()
    }

    pub fn intent(&self, id: &str) -> Value {
        self.ledger.lock().unwrap().intents[id].clone()
    }

    pub fn created(&self) -> usize {
        self.ledger.lock().unwrap().created
    }
}

/// Faults first (as Stripe's front end would answer), then the request's real work.
fn fault(l: &mut Ledger) -> Option<Response> {
    l.requests += 1;
    if l.fail_500 > 0 {
        l.fail_500 -= 1;
        return Some(stripe_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
        ));
    }
    if l.fail_429 > 0 {
        l.fail_429 -= 1;
        return Some(stripe_error(StatusCode::TOO_MANY_REQUESTS, "rate limited"));
    }
    None
}

/// Stripe's requests are `application/x-www-form-urlencoded`.
fn parse_form(body: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect()
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"))
        && headers.contains_key("stripe-version")
}

async fn respond_after(slow_ms: u64, body: Value) -> Response {
    if slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(slow_ms)).await;
    }
    axum::Json(body).into_response()
}

async fn create_intent(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    headers: HeaderMap,
    form: String,
) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "bad key");
    }
    let form = parse_form(&form);
    let (body, delay) = {
        let mut l = ledger.lock().unwrap();
        if let Some(r) = fault(&mut l) {
            return r;
        }
        let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
            return stripe_error(StatusCode::BAD_REQUEST, "souk must send an Idempotency-Key");
        };
        let body = match l.by_key.get(key) {
            Some(prior) => prior.clone(),
            None => {
                l.created += 1;
                let id = format!("pi_{}", Uuid::new_v4().simple());
                let pi = json!({
                    "id": id, "object": "payment_intent", "status": "requires_payment_method",
                    "amount": form["amount"].parse::<i64>().unwrap(), "currency": form["currency"],
                    "amount_received": 0, "client_secret": format!("{id}_secret_{}", Uuid::new_v4().simple()),
                    "metadata": {"souk_order_id": form["metadata[souk_order_id]"]},
                });
                l.intents.insert(id, pi.clone());
                l.by_key.insert(key.to_owned(), pi.clone());
                pi
            }
        };
        if l.drop > 0 {
            l.drop -= 1;
            drop(l);
            // Unwinding the connection's task makes the server close the socket mid-request.
            std::panic::resume_unwind(Box::new("fake Stripe drops the connection"));
        }
        let delay = if l.slow > 0 {
            l.slow -= 1;
            l.slow_ms
        } else {
            0
        };
        (body, delay)
    };
    respond_after(delay, body).await
}

async fn get_intent(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "bad key");
    }
    let mut l = ledger.lock().unwrap();
    if let Some(r) = fault(&mut l) {
        return r;
    }
    match l.intents.get(&id) {
        Some(pi) => axum::Json(pi.clone()).into_response(),
        None => stripe_error(StatusCode::NOT_FOUND, "no such payment_intent"),
    }
}

async fn create_refund(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    headers: HeaderMap,
    form: String,
) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "bad key");
    }
    let mut l = ledger.lock().unwrap();
    if let Some(r) = fault(&mut l) {
        return r;
    }
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
        return stripe_error(StatusCode::BAD_REQUEST, "souk must send an Idempotency-Key");
    };
    let form = parse_form(&form);
    if let Some(prior) = l.by_key.get(key) {
        return axum::Json(prior.clone()).into_response();
    }
    let amount: i64 = form["amount"].parse().unwrap();
    let intent = form["payment_intent"].clone();
    let Some(pi) = l.intents.get_mut(&intent) else {
        return stripe_error(StatusCode::BAD_REQUEST, "no such payment_intent");
    };
    let refunded = pi["amount_refunded"].as_i64().unwrap_or(0) + amount;
    if pi["status"] != "succeeded" || refunded > pi["amount"].as_i64().unwrap() {
        return stripe_error(StatusCode::BAD_REQUEST, "charge cannot be refunded");
    }
    pi["amount_refunded"] = json!(refunded);
    let refund = json!({"id": format!("re_{}", Uuid::new_v4().simple()), "object": "refund",
                        "amount": amount, "payment_intent": intent, "status": "succeeded",
                        "metadata": {"souk_refund_id": form.get("metadata[souk_refund_id]")}});
    l.refunds.push(refund.clone());
    l.by_key.insert(key.to_owned(), refund.clone());
    if l.drop > 0 {
        l.drop -= 1;
        l.fail_500 += std::mem::take(&mut l.fail_after_drop);
        drop(l);
        std::panic::resume_unwind(Box::new("fake Stripe drops the connection"));
    }
    axum::Json(refund).into_response()
}

async fn list_refunds(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "bad key");
    }
    let query = parse_form(&query.unwrap_or_default());
    let l = ledger.lock().unwrap();
    let data: Vec<Value> = l
        .refunds
        .iter()
        .rev()
        .filter(|r| {
            Some(r["payment_intent"].as_str().unwrap())
                == query.get("payment_intent").map(String::as_str)
        })
        .cloned()
        .collect();
    axum::Json(json!({"object": "list", "data": data, "has_more": false})).into_response()
}

async fn cancel_intent(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&headers) {
        return stripe_error(StatusCode::UNAUTHORIZED, "bad key");
    }
    let mut l = ledger.lock().unwrap();
    let Some(pi) = l.intents.get_mut(&id) else {
        return stripe_error(StatusCode::NOT_FOUND, "no such payment_intent");
    };
    if pi["status"] == "succeeded" {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "You cannot cancel this PaymentIntent because it has a status of succeeded.",
        );
    }
    pi["status"] = json!("canceled");
    axum::Json(pi.clone()).into_response()
}

/// The key Stripe.js is given in the browser (public by design).
pub const PUBLISHABLE_KEY: &str = "pk_test_souk";
/// The test card Stripe declines.
pub const DECLINED_CARD: &str = "4000000000000002";

/// Stripe.js's confirmation of a PaymentIntent from the browser: authorised by the publishable
/// key and the intent's client secret (never the secret key), answered with CORS as Stripe
/// does. A declined card leaves the intent waiting for another payment method.
async fn confirm_intent(
    State(ledger): State<Arc<Mutex<Ledger>>>,
    Path(id): Path<String>,
    form: String,
) -> Response {
    let form = parse_form(&form);
    let mut l = ledger.lock().unwrap();
    let answer = match l.intents.get_mut(&id) {
        _ if form.get("key").map(String::as_str) != Some(PUBLISHABLE_KEY) => {
            stripe_error(StatusCode::UNAUTHORIZED, "bad publishable key")
        }
        Some(pi)
            if form.get("client_secret")
                == pi["client_secret"].as_str().map(str::to_owned).as_ref() =>
        {
            let card = form
                .get("payment_method_data[card][number]")
                .cloned()
                .unwrap_or_default();
            if card == DECLINED_CARD {
                let error = json!({"type": "card_error", "code": "card_declined",
                                   "message": "Your card was declined."});
                pi["status"] = json!("requires_payment_method");
                pi["last_payment_error"] = error.clone();
                (
                    StatusCode::PAYMENT_REQUIRED,
                    axum::Json(json!({"error": error})),
                )
                    .into_response()
            } else if pi["status"] == "requires_payment_method" {
                pi["status"] = json!("succeeded");
                pi["amount_received"] = pi["amount"].clone();
                pi["last_payment_error"] = Value::Null;
                axum::Json(pi.clone()).into_response()
            } else {
                stripe_error(
                    StatusCode::BAD_REQUEST,
                    "this PaymentIntent cannot be confirmed",
                )
            }
        }
        _ => stripe_error(StatusCode::NOT_FOUND, "no such payment_intent"),
    };
    let mut answer = answer;
    answer.headers_mut().insert(
        "access-control-allow-origin",
        axum::http::HeaderValue::from_static("*"),
    );
    answer
}

/// A stand-in for Stripe.js v3 (js.stripe.com cannot be reached from the test machine) with
/// the part of its interface the storefront uses: `Stripe(key)`, `elements({clientSecret})`,
/// `create("payment").mount(selector)` and `confirmPayment({elements, confirmParams})`, which
/// confirms the intent at the (fake) API and, on success, sends the browser to `return_url`
/// with the parameters Stripe adds. It draws one labelled card-number field where Stripe
/// draws its frames.
async fn stripe_js() -> Response {
    const JS: &str = r#"(function () {
  var api = new URL(document.currentScript.src).origin;
  window.Stripe = function (key) {
    var field = null;
    return {
      elements: function (options) {
        return {
          clientSecret: options.clientSecret,
          create: function () {
            return { mount: function (where) {
              var box = typeof where === "string" ? document.querySelector(where) : where;
              var label = document.createElement("label");
              label.htmlFor = "card-number"; label.textContent = "Card number";
              field = document.createElement("input");
              field.id = "card-number"; field.autocomplete = "cc-number"; field.inputMode = "numeric";
              box.appendChild(label); box.appendChild(field);
            } };
          }
        };
      },
      confirmPayment: function (args) {
        var secret = args.elements.clientSecret;
        var id = secret.split("_secret_")[0];
        var body = new URLSearchParams({ key: key, client_secret: secret,
          "payment_method_data[card][number]": field ? field.value : "",
          return_url: args.confirmParams.return_url });
        return fetch(api + "/v1/payment_intents/" + id + "/confirm", { method: "POST", body: body })
          .then(function (r) { return r.json(); })
          .then(function (pi) {
            if (pi.error) return { error: pi.error };
            var back = new URL(args.confirmParams.return_url);
            back.searchParams.set("payment_intent", pi.id);
            back.searchParams.set("payment_intent_client_secret", secret);
            back.searchParams.set("redirect_status", pi.status);
            window.location.assign(back.toString());
            return new Promise(function () {});
          });
      }
    };
  };
})();
"#;
    ([("content-type", "text/javascript; charset=utf-8")], JS).into_response()
}

// ------------------------------------------------------------------ helpers

async fn stripe_app(fake: &FakeStripe) -> TestApp {
    TestApp::spawn_with_providers(
        HttpConfig {
            catalog_cache_ttl: Duration::ZERO,
            payment_reconcile_age: Duration::ZERO,
            ..HttpConfig::default()
        },
        ServerLimits::default(),
        None,
        fake.provider(),
    )
    .await
}

pub fn stripe_checkout(email: &str) -> Value {
    json!({"email": email, "shipping_address": address(), "payment_method": "stripe"})
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn event(kind: &str, object: &Value) -> String {
    json!({"id": format!("evt_{}", Uuid::new_v4().simple()), "object": "event", "type": kind,
           "data": {"object": object}})
    .to_string()
}

/// Posts a webhook signed as Stripe signs it.
async fn deliver(app: &TestApp, body: &str) -> (u16, Value) {
    let t = now_secs();
    let r = app
        .request_builder(Method::POST, "/api/hooks/stripe", None, None)
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            format!("t={t},v1={}", stripe_signature(t, body.as_bytes(), WHSEC)),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    status_json(r).await
}

/// Delivers like Stripe does under load: a 503 (Souk shedding load) is retried a little later.
async fn deliver_retrying(app: &TestApp, body: &str) -> (u16, Value) {
    for _ in 0..20 {
        let (status, ack) = deliver(app, body).await;
        if status != 503 {
            return (status, ack);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    deliver(app, body).await
}

/// A placed Stripe order: (order id, access token, intent id).
async fn stripe_order(app: &TestApp, variant: &str, n: usize) -> (String, String, String) {
    let cart = app.cart_with(variant, 1).await;
    let (status, order, _) = app
        .checkout(
            &cart,
            &format!("key-{n}"),
            &stripe_checkout(&format!("buyer{n}@example.com")),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let secret = order["payment"]["client_secret"]
        .as_str()
        .expect("client secret")
        .to_owned();
    let intent = secret.split("_secret_").next().unwrap().to_owned();
    (
        order["id"].as_str().unwrap().to_owned(),
        order["access_token"].as_str().unwrap().to_owned(),
        intent,
    )
}

async fn order_status(app: &TestApp, id: &str) -> String {
    let detail = souk_storage::orders::detail(
        souk_storage::Exec::Db(&app.db),
        Uuid::parse_str(id).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    detail.order.status
}

/// Rows of `table` about one order (payments, ledger entries) and email jobs of one kind.
async fn count(app: &TestApp, sql: &str, id: &str) -> i64 {
    let id = Uuid::parse_str(id).unwrap();
    match &app.db {
        souk_storage::Db::Sqlite { read, .. } => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind(id)
                .fetch_one(read)
                .await
                .unwrap()
        }
        souk_storage::Db::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

const PAYMENTS_OF: &str = "SELECT COUNT(*) FROM payments WHERE order_id = $1";
const LEDGER_OF: &str = "SELECT COUNT(*) FROM ledger_entries WHERE order_id = $1";
const LEDGER_SUM: &str =
    "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM ledger_entries WHERE order_id = $1";

async fn paid_emails(app: &TestApp, id: &str) -> i64 {
    let sql = "SELECT COUNT(*) FROM jobs WHERE kind = 'order_email' AND payload LIKE '%payment_received%' \
               AND payload LIKE '%' || $1 || '%'";
    match &app.db {
        souk_storage::Db::Sqlite { read, .. } => sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(read)
            .await
            .unwrap(),
        souk_storage::Db::Postgres(pool) => sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

// ------------------------------------------------------------------ tests

/// Souk's verdict on a `Stripe-Signature` equals the official `stripe` Python library's
/// (`stripe.WebhookSignature.verify_header`) for valid, tampered, expired, wrong-secret,
/// multi-signature, future and malformed headers.
#[tokio::test]
async fn signature_verdicts_agree_with_the_official_stripe_library() {
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake).await;
    let script = r#"
import json, sys, time, hmac, hashlib
import stripe
secret = sys.argv[1]
now = int(time.time())
payload = json.dumps({"id": "evt_sig", "object": "event", "type": "customer.created", "data": {"object": {}}})
def sign(t, body, key=secret):
    return hmac.new(key.encode(), f"{t}.{body}".encode(), hashlib.sha256).hexdigest()
good = sign(now, payload)
cases = [
    ("valid", payload, f"t={now},v1={good}"),
    ("tampered", payload.replace("customer", "Customer"), f"t={now},v1={good}"),
    ("expired", payload, f"t={now - 301},v1={sign(now - 301, payload)}"),
    ("just inside tolerance", payload, f"t={now - 250},v1={sign(now - 250, payload)}"),
    ("wrong secret", payload, f"t={now},v1={sign(now, payload, 'whsec_other')}"),
    ("several v1, one good", payload, f"t={now},v1={sign(now, payload, 'whsec_old')},v1={good}"),
    ("several v1, none good", payload, f"t={now},v1={sign(now, payload, 'whsec_a')},v1={sign(now, payload, 'whsec_b')}"),
    ("v0 only", payload, f"t={now},v0={good}"),
    ("future", payload, f"t={now + 600},v1={sign(now + 600, payload)}"),
    ("no timestamp", payload, f"v1={good}"),
    ("garbage", payload, "nonsense"),
    ("empty", payload, ""),
    ("upper-case hex", payload, f"t={now},v1={good.upper()}"),
    ("extra schemes", payload, f"t={now},v1={good},v0=abc,foo=bar"),
    ("timestamp not a number", payload, f"t=abc,v1={good}"),
]
out = []
for name, body, header in cases:
    try:
        stripe.WebhookSignature.verify_header(body, header, secret, 300)
        ok = True
    except stripe.SignatureVerificationError:
        ok = False
    out.append({"name": name, "body": body, "header": header, "ok": ok})
print(json.dumps(out))
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script, WHSEC])
        .output()
        .expect("python3");
    assert!(
        output.status.success(),
        "the stripe package is needed (scripts/test installs it): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let cases: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(cases.len() >= 15);
    let mut accepted = 0;
    for case in &cases {
        let mut request = app
            .client
            .post(app.url("/api/hooks/stripe"))
            .header("content-type", "application/json")
            .body(case["body"].as_str().unwrap().to_owned());
        let header = case["header"].as_str().unwrap();
        if !header.is_empty() {
            request = request.header("stripe-signature", header);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if case["ok"].as_bool().unwrap() {
            accepted += 1;
            assert_eq!(
                (status, body["outcome"].as_str()),
                (200, Some("ignored")),
                "{}: {body}",
                case["name"]
            );
        } else {
            assert_eq!(
                (status, body["code"].as_str()),
                (400, Some("invalid_signature")),
                "{}: {body}",
                case["name"]
            );
        }
    }
    assert!(
        accepted >= 4 && accepted < cases.len(),
        "both verdicts occur"
    );
}

/// Each order: `payment_intent.succeeded` delivered three times (two at once) while the
/// shopper's confirmation races them. One payment, one paid transition, one ledger booking and
/// one "payment received" email per order; the intent was created once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_and_the_shoppers_confirmation_race_and_pay_each_order_once() {
    let fake = FakeStripe::start().await;
    let app = Arc::new(stripe_app(&fake).await);
    app.seed("racer", &[stocked("lamp", &[2500], 10_000)]).await;
    let variant = app.variant_ids("lamp").await.remove(0);
    const ORDERS: usize = 200;
    let mut placed = Vec::new();
    for n in 0..ORDERS {
        placed.push(stripe_order(&app, &variant, n).await);
    }
    assert_eq!(fake.created(), ORDERS, "one PaymentIntent per order");

    let mut tasks = Vec::new();
    for (id, token, intent) in placed.clone() {
        let paid = fake.pay(&intent);
        let body = event("payment_intent.succeeded", &paid);
        let barrier = Arc::new(Barrier::new(3));
        for _ in 0..2 {
            let (app, body, barrier) = (app.clone(), body.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let (status, ack) = deliver_retrying(&app, &body).await;
                assert_eq!(status, 200, "{ack}");
            }));
        }
        let (app2, barrier2, id2, token2) =
            (app.clone(), barrier.clone(), id.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            barrier2.wait().await;
            // The shopper's page retries a 503 too (600 requests at once on 2 cores may find
            // the server shedding load, which it answers with 503 rather than queueing).
            let mut status = 0;
            for _ in 0..20 {
                let r = app2
                    .client
                    .post(app2.url(&format!("/api/store/orders/{id2}/payment/confirm")))
                    .header("x-order-token", token2.clone())
                    .send()
                    .await
                    .unwrap();
                status = r.status().as_u16();
                if status != 503 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            assert_eq!(status, 200);
        }));
        // The third, late redelivery of the same event.
        let (app3, body3) = (app.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let (status, _) = deliver_retrying(&app3, &body3).await;
            assert_eq!(status, 200);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    for (id, _, _) in &placed {
        assert_eq!(order_status(&app, id).await, "paid");
        assert_eq!(
            count(&app, PAYMENTS_OF, id).await,
            1,
            "one payment for {id}"
        );
        assert_eq!(
            count(&app, LEDGER_OF, id).await,
            2,
            "earning + commission once"
        );
        assert_eq!(paid_emails(&app, id).await, 1, "one payment email");
    }
    assert_eq!(
        app.stock_of(&variant).await,
        10_000 - ORDERS as i64,
        "stock taken once, at checkout"
    );
    assert_eq!(fake.created(), ORDERS, "no second charge anywhere");
}

/// No webhook ever arrives (the endpoint is misconfigured, or Stripe is late): the shopper's
/// confirmation alone asks Stripe, finds the payment, and pays the order, once, however many
/// times the page confirms. Before the customer pays, confirming changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shoppers_confirmation_alone_pays_the_order_once() {
    let fake = FakeStripe::start().await;
    let app = Arc::new(stripe_app(&fake).await);
    app.seed("quiet", &[stocked("vase", &[3000], 10)]).await;
    let variant = app.variant_ids("vase").await.remove(0);
    let (id, token, intent) = stripe_order(&app, &variant, 1).await;
    let confirm = |app: Arc<TestApp>, id: String, token: String| async move {
        let r = app
            .client
            .post(app.url(&format!("/api/store/orders/{id}/payment/confirm")))
            .header("x-order-token", token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().await.unwrap_or(Value::Null))
    };
    // Not paid at Stripe yet: the order stays waiting.
    let (status, body) = confirm(app.clone(), id.clone(), token.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(order_status(&app, &id).await, "pending_payment");
    assert_eq!(count(&app, PAYMENTS_OF, &id).await, 0);

    fake.pay(&intent);
    let asked_before = fake.ledger.lock().unwrap().requests;
    let tasks: Vec<_> = (0..5)
        .map(|_| tokio::spawn(confirm(app.clone(), id.clone(), token.clone())))
        .collect();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{body}");
    }
    assert!(
        fake.ledger.lock().unwrap().requests > asked_before,
        "the confirmation asked Stripe"
    );
    assert_eq!(order_status(&app, &id).await, "paid");
    assert_eq!(count(&app, PAYMENTS_OF, &id).await, 1, "one payment");
    assert_eq!(count(&app, LEDGER_OF, &id).await, 2, "booked once");
    assert_eq!(
        count(&app, LEDGER_SUM, &id).await,
        3000,
        "earning + commission add up to the amount paid"
    );
    assert_eq!(paid_emails(&app, &id).await, 1, "one payment email");
    assert_eq!(fake.created(), 1, "no second charge");
}

/// Stripe failing (500, 429), slow past the client timeout (the request was processed but the
/// answer came too late): the shopper always gets a 201 (with a client secret, or pending with
/// none), never a 500, and every order ends with exactly one PaymentIntent.
#[tokio::test]
async fn stripe_outages_never_charge_twice_and_never_answer_500() {
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake).await;
    app.seed("flaky", &[stocked("kettle", &[4000], 100)]).await;
    let variant = app.variant_ids("kettle").await.remove(0);
    let mut orders = Vec::new();
    for (n, setup) in [
        "500 once",
        "429 forever",
        "slow once",
        "slow always",
        "dropped once",
    ]
    .into_iter()
    .enumerate()
    {
        {
            let mut l = fake.ledger.lock().unwrap();
            match setup {
                "500 once" => l.fail_500 = 1,
                "429 forever" => l.fail_429 = 3, // more than Souk's 2 retries
                "slow once" => (l.slow, l.slow_ms) = (1, 900),
                "dropped once" => l.drop = 1,
                _ => (l.slow, l.slow_ms) = (3, 900),
            }
        }
        let cart = app.cart_with(&variant, 1).await;
        let body = stripe_checkout(&format!("flaky{n}@example.com"));
        let (status, order, _) = app.checkout(&cart, &format!("flaky-{n}"), &body).await;
        assert_eq!(status, 201, "{setup}: {order}");
        let secret = &order["payment"]["client_secret"];
        match setup {
            "500 once" | "slow once" | "dropped once" => {
                assert!(secret.is_string(), "{setup}: retried to success")
            }
            _ => assert!(secret.is_null(), "{setup}: pending, not an error"),
        }
        orders.push((
            order["id"].as_str().unwrap().to_owned(),
            order["access_token"].as_str().unwrap().to_owned(),
        ));
        // Let the slow answers finish before the next case.
        tokio::time::sleep(Duration::from_millis(1000)).await;
        fake.ledger.lock().unwrap().slow = 0;
    }
    // Later, Stripe is healthy: asking for the payment completes the pending ones with the
    // same idempotency key, so no second intent appears.
    for (id, token) in &orders {
        let r = app
            .client
            .get(app.url(&format!("/api/store/orders/{id}/payment")))
            .header("x-order-token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert!(body["client_secret"].is_string(), "{body}");
        assert_eq!(body["state"], "pending");
    }
    assert_eq!(
        fake.created(),
        orders.len(),
        "exactly one PaymentIntent per order"
    );
}

/// Events late, duplicated and out of order end in the same state as in order.
#[tokio::test]
async fn shuffled_events_end_in_the_canonical_state() {
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake).await;
    app.seed("shuffle", &[stocked("pot", &[3000], 100)]).await;
    let variant = app.variant_ids("pot").await.remove(0);

    // A refund reported before the success, then the success, then a stale failure.
    let (id, _, intent) = stripe_order(&app, &variant, 1).await;
    let paid = fake.pay(&intent);
    let total = paid["amount"].as_i64().unwrap();
    let charge = json!({"id": "ch_1", "object": "charge", "payment_intent": intent, "status": "succeeded",
                        "paid": true, "amount": total, "amount_refunded": total, "refunded": true,
                        "refunds": {"data": [{"id": "re_dashboard"}]}});
    let mut failed = fake.intent(&intent);
    failed["status"] = json!("requires_payment_method");
    failed["last_payment_error"] = json!({"message": "card declined"});
    for body in [
        event("charge.refunded", &charge),
        event("payment_intent.succeeded", &paid),
        event("payment_intent.payment_failed", &failed),
    ] {
        let (status, ack) = deliver(&app, &body).await;
        assert_eq!(status, 200, "{ack}");
    }
    assert_eq!(order_status(&app, &id).await, "refunded");
    assert_eq!(
        count(&app, LEDGER_SUM, &id).await,
        0,
        "refunded: the ledger nets to zero"
    );

    // A declined card shows on the order's live stream at once; the order stays payable.
    let (id, token, intent) = stripe_order(&app, &variant, 2).await;
    let mut stream = crate::events::SseClient::open(
        &app,
        &format!("/api/store/orders/{id}/events?access_token={token}"),
        None,
        None,
    )
    .await;
    let declined = failed_of(&fake.intent(&intent));
    assert_eq!(
        deliver(&app, &event("payment_intent.payment_failed", &declined))
            .await
            .0,
        200
    );
    let seen = stream
        .next(Duration::from_secs(1))
        .await
        .expect("payment.failed on the stream");
    assert_eq!(seen.kind, "payment.failed");
    assert_eq!(order_status(&app, &id).await, "pending_payment");
    drop(stream);

    // A failure after the success changes nothing; a duplicate is recognised.
    let paid = fake.pay(&intent);
    let success = event("payment_intent.succeeded", &paid);
    assert_eq!(deliver(&app, &success).await.1["outcome"], "processed");
    assert_eq!(
        deliver(
            &app,
            &event("payment_intent.payment_failed", &failed_of(&paid))
        )
        .await
        .0,
        200
    );
    assert_eq!(deliver(&app, &success).await.1["outcome"], "duplicate");
    assert_eq!(order_status(&app, &id).await, "paid");
    assert_eq!(count(&app, PAYMENTS_OF, &id).await, 1);

    // An event for a payment Souk does not know is acknowledged and changes nothing.
    let stranger =
        json!({"id": "pi_unknown", "object": "payment_intent", "status": "succeeded", "amount": 1});
    assert_eq!(
        deliver(&app, &event("payment_intent.succeeded", &stranger))
            .await
            .1["outcome"],
        "unknown_payment"
    );
}

fn failed_of(pi: &Value) -> Value {
    let mut p = pi.clone();
    p["status"] = json!("requires_payment_method");
    p["last_payment_error"] = json!({"message": "declined"});
    p
}

/// The webhook never arrives: one reconciliation pass asks Stripe and pays the order. A
/// payment that succeeds after the order was cancelled is refunded in full automatically.
#[tokio::test]
async fn reconciliation_recovers_a_lost_webhook_and_refunds_payments_for_cancelled_orders() {
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake).await;
    app.seed("recon", &[stocked("cup", &[1500], 100)]).await;
    let variant = app.variant_ids("cup").await.remove(0);
    let admin = app.admin_token().await;
    let reconcile = async || {
        let r = app
            .client
            .post(app.url("/api/admin/payments/reconcile"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()
    };

    let (lost, _, intent) = stripe_order(&app, &variant, 1).await;
    fake.pay(&intent); // paid at Stripe; the webhook is lost
    let (cancelled, _, late_intent) = stripe_order(&app, &variant, 2).await;
    let (status, _) = app.cancel_order(&admin, &cancelled, Some("test")).await;
    assert_eq!(status, 200);
    let stock_after_cancel = app.stock_of(&variant).await;
    fake.pay(&late_intent); // the customer paid anyway
    let (abandoned, _, abandoned_intent) = stripe_order(&app, &variant, 3).await;
    let (status, _) = app.cancel_order(&admin, &abandoned, Some("expired")).await;
    assert_eq!(status, 200);

    let pass = reconcile().await;
    assert_eq!(
        (pass["succeeded"].as_u64(), pass["refunds"].as_u64()),
        (Some(2), Some(1)),
        "{pass}"
    );
    assert_eq!(order_status(&app, &lost).await, "paid");
    // The late payment: booked, refunded in full at Stripe (the refund is sent by the pass or
    // by the next one), the order ends refunded, and stock is not taken again.
    reconcile().await;
    assert_eq!(order_status(&app, &cancelled).await, "refunded");
    let refunds = fake.ledger.lock().unwrap().refunds.clone();
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["payment_intent"], late_intent);
    assert_eq!(refunds[0]["amount"], fake.intent(&late_intent)["amount"]);
    assert_eq!(
        app.stock_of(&variant).await,
        stock_after_cancel,
        "stock is not taken again"
    );
    // The abandoned payment is called off at Stripe, so nobody can pay it later.
    assert_eq!(fake.intent(&abandoned_intent)["status"], "canceled");
    assert_eq!(order_status(&app, &abandoned).await, "cancelled");
    let again = reconcile().await;
    // The admin's view of the late payment: one attempt, succeeded, and its automatic refund.
    let (status, view) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{cancelled}/payments"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(view["attempts"][0]["state"], "succeeded");
    assert_eq!(view["attempts"][0]["provider_ref"], late_intent);
    assert_eq!(view["refunds"][0]["reason"], "order_cancelled");
    assert_eq!(view["refunds"][0]["status"], "succeeded");
    assert_eq!(view["refunded"], view["paid"]);
    assert_eq!(
        (again["succeeded"].as_u64(), again["refunds"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(fake.ledger.lock().unwrap().refunds.len(), 1);
    // Each pass an admin ran is in the audit log with what it did.
    let (_, log) = app
        .send(Method::GET, "/api/admin/audit-log", &admin, None)
        .await;
    let passes: Vec<&Value> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "payments.reconcile")
        .collect();
    assert!(passes.len() >= 2, "{log}");
    assert_eq!(passes[0]["details"], again, "the newest pass first");
}

/// Refund 30 % then 70 % (one retried with its key): the order ends `refunded`, vendors'
/// earnings and the platform's commission are reversed and the order's ledger nets to zero.
#[tokio::test]
async fn refunding_thirty_then_seventy_percent_balances_the_ledger() {
    let fake = FakeStripe::start().await;
    let app = stripe_app(&fake).await;
    app.seed("alpha", &[stocked("ring", &[3333], 10)]).await;
    app.seed("beta", &[stocked("band", &[6667], 10)]).await;
    let admin = app.admin_token().await;
    for method in ["manual", "stripe"] {
        let cart = app.new_cart().await;
        app.add_to_cart(&cart, &app.variant_ids("ring").await[0], 1)
            .await;
        app.add_to_cart(&cart, &app.variant_ids("band").await[0], 1)
            .await;
        let body = json!({"email": "refund@example.com", "shipping_address": address(), "payment_method": method});
        let (status, order, _) = app
            .checkout(&cart, &format!("refund-{method}"), &body)
            .await;
        assert_eq!(status, 201, "{order}");
        let id = order["id"].as_str().unwrap().to_owned();
        let total = order["total"]["amount"].as_i64().unwrap();
        if method == "manual" {
            let (status, body) = app
                .send(
                    Method::POST,
                    &format!("/api/admin/orders/{id}/payments"),
                    &admin,
                    Some(json!({"amount": total, "reference": "bank transfer 42"})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        } else {
            // Money for a Stripe order is never recorded by hand (it could be taken twice).
            let (status, problem) = app
                .send(
                    Method::POST,
                    &format!("/api/admin/orders/{id}/payments"),
                    &admin,
                    Some(json!({"amount": total, "reference": "by hand"})),
                )
                .await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (409, Some("payment_method_mismatch"))
            );
            let intent = order["payment"]["client_secret"]
                .as_str()
                .unwrap()
                .split("_secret_")
                .next()
                .unwrap()
                .to_owned();
            let paid = fake.pay(&intent);
            assert_eq!(
                deliver(&app, &event("payment_intent.succeeded", &paid))
                    .await
                    .0,
                200
            );
        }
        assert_eq!(order_status(&app, &id).await, "paid");
        let refund = async |key: &str, amount: i64| {
            let r = app
                .client
                .post(app.url(&format!("/api/admin/orders/{id}/refunds")))
                .bearer_auth(&admin)
                .header("idempotency-key", key)
                .json(&json!({"amount": amount, "reason": "customer request"}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        };
        // Without a key, even with a wrong body, the missing key is what is reported.
        let response = app
            .client
            .post(app.url(&format!("/api/admin/orders/{id}/refunds")))
            .bearer_auth(&admin)
            .json(&json!({"amount": "lots"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["code"], "idempotency_key_required", "{problem}");
        let thirty = total * 3 / 10;
        let (status, first) = refund("r1", thirty).await;
        assert_eq!(status, 201, "{first}");
        assert_eq!(
            (first["status"].as_str(), first["order_status"].as_str()),
            (Some("succeeded"), Some("partially_refunded"))
        );
        let (status, replay) = refund("r1", thirty).await;
        assert_eq!(
            (status, replay["id"].clone()),
            (200, first["id"].clone()),
            "same key: same refund"
        );
        let (status, reused) = refund("r1", thirty + 1).await;
        assert_eq!(
            (status, reused["code"].as_str()),
            (422, Some("idempotency_key_reused"))
        );
        let (status, too_much) = refund("r2", total).await;
        assert_eq!(
            (status, too_much["code"].as_str()),
            (409, Some("refund_too_large"))
        );
        // Stripe does the last refund but the connection drops before Souk hears back, and
        // Stripe stays down: the refund is pending. Much later (Stripe has forgotten the
        // idempotency key) it is sent again and found by Souk's refund id, not made twice.
        if method == "stripe" {
            let mut l = fake.ledger.lock().unwrap();
            (l.drop, l.fail_after_drop) = (1, 2);
        }
        let (status, rest) = refund("r3", total - thirty).await;
        if method == "stripe" {
            assert_eq!(
                (status, rest["status"].as_str()),
                (201, Some("pending")),
                "{rest}"
            );
            assert_eq!(rest["order_status"], "partially_refunded");
            fake.ledger.lock().unwrap().by_key.clear();
            let r = app
                .client
                .post(app.url("/api/admin/payments/reconcile"))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            let pass: Value = r.json().await.unwrap();
            assert_eq!(pass["refunds"], 1, "{pass}");
        }
        let rest = if method == "stripe" {
            let detail = souk_storage::orders::detail(
                souk_storage::Exec::Db(&app.db),
                Uuid::parse_str(&id).unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
            json!({"order_status": detail.order.status, "order_refunded": {"amount": detail.order.refunded_amount}})
        } else {
            assert_eq!(status, 201, "{rest}");
            rest
        };
        assert_eq!(status, 201, "{rest}");
        assert_eq!(rest["order_status"], "refunded");
        assert_eq!(rest["order_refunded"]["amount"], total);
        assert_eq!(
            count(&app, LEDGER_SUM, &id).await,
            0,
            "{method}: the order's ledger nets to zero"
        );
        let (status, none_left) = refund("r4", 1).await;
        assert_eq!(status, 409, "{none_left}");
    }
    let refunds = fake.ledger.lock().unwrap().refunds.clone();
    assert_eq!(
        refunds.len(),
        2,
        "the stripe order's two refunds went to Stripe, once each"
    );
}

/// Two refunds of one order completing at the same moment both count: the order ends
/// `refunded` with the whole amount, and its ledger nets to zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_refunds_of_one_order_add_up() {
    let app = Arc::new(TestApp::spawn().await);
    app.seed("alpha", &[stocked("ring", &[3333], 50)]).await;
    app.seed("beta", &[stocked("band", &[6667], 50)]).await;
    let admin = app.admin_token().await;
    for round in 0..4 {
        let cart = app.new_cart().await;
        app.add_to_cart(&cart, &app.variant_ids("ring").await[0], 1)
            .await;
        app.add_to_cart(&cart, &app.variant_ids("band").await[0], 1)
            .await;
        let body = json!({"email": "twice@example.com", "shipping_address": address(), "payment_method": "manual"});
        let (status, order, _) = app.checkout(&cart, &format!("both-{round}"), &body).await;
        assert_eq!(status, 201, "{order}");
        let id = order["id"].as_str().unwrap().to_owned();
        let total = order["total"]["amount"].as_i64().unwrap();
        let (status, paid) = app
            .send(
                Method::POST,
                &format!("/api/admin/orders/{id}/payments"),
                &admin,
                Some(json!({"amount": total, "reference": "bank"})),
            )
            .await;
        assert_eq!(status, 200, "{paid}");
        let barrier = Arc::new(Barrier::new(2));
        let mut tasks = Vec::new();
        for (key, amount) in [("half-1", total / 2), ("half-2", total - total / 2)] {
            let (app, admin, id, barrier) =
                (app.clone(), admin.clone(), id.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let r = app
                    .client
                    .post(app.url(&format!("/api/admin/orders/{id}/refunds")))
                    .bearer_auth(&admin)
                    .header("idempotency-key", key)
                    .json(&json!({"amount": amount, "reason": "customer request"}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }));
        }
        for t in tasks {
            let (status, refund) = t.await.unwrap();
            assert_eq!(status, 201, "{refund}");
        }
        let detail = souk_storage::orders::detail(
            souk_storage::Exec::Db(&app.db),
            Uuid::parse_str(&id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(
            (detail.order.status.as_str(), detail.order.refunded_amount),
            ("refunded", total),
            "round {round}"
        );
        assert_eq!(count(&app, LEDGER_SUM, &id).await, 0, "round {round}");
    }
}

/// Without Stripe configured, checkout refuses `stripe` clearly and the webhook says so.
#[tokio::test]
async fn without_stripe_keys_the_method_is_unavailable() {
    let app = TestApp::spawn().await;
    app.seed("plain", &[stocked("mug", &[900], 5)]).await;
    let variant = app.variant_ids("mug").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let (status, problem, _) = app
        .checkout(&cart, "k", &stripe_checkout("x@example.com"))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("payment_method_unavailable"))
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("SOUK_STRIPE_SECRET_KEY")
    );
    let (status, problem) = deliver(&app, "{}").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("provider_not_configured"))
    );
}

/// With tax-inclusive prices the platform's commission is on the goods, not on the tax in them.
#[tokio::test]
async fn commission_is_not_taken_on_tax_included_in_prices() {
    let app = TestApp::spawn().await;
    app.seed("taxed", &[stocked("lamp", &[11_900], 5)]).await;
    let admin = app.admin_token().await;
    app.tax_rates(&admin, &[TaxRate::inclusive("DE", 1900)])
        .await;
    let variant = app.variant_ids("lamp").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let body = json!({"email": "tax@example.com", "shipping_address": address(), "payment_method": "manual"});
    let (status, order, _) = app.checkout(&cart, "tax-key", &body).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(
        (
            order["tax"]["amount"].as_i64(),
            order["total"]["amount"].as_i64()
        ),
        (Some(1900), Some(11_900))
    );
    let id = order["id"].as_str().unwrap();
    let (status, paid) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            Some(json!({"amount": 11_900, "reference": "transfer"})),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    let commission = count(
        &app,
        "SELECT amount FROM ledger_entries WHERE order_id = $1 AND kind = 'commission'",
        id,
    )
    .await;
    assert_eq!(
        commission, 1000,
        "10 % of the 10,000 net, not of the 11,900 gross"
    );
    let earning = count(
        &app,
        "SELECT amount FROM ledger_entries WHERE order_id = $1 AND kind = 'earning'",
        id,
    )
    .await;
    assert_eq!(earning, 10_900);
}
