//! Checkout load generator for `bench/checkout` (not a test).
//!
//! Simulates concurrent guest shoppers, each repeating the full journey: create a cart, add two
//! lines (two different in-stock variants), check out with a fresh `Idempotency-Key`. Runs for a
//! fixed time and prints one line of JSON: journeys and orders per second, latency percentiles of
//! the journey and of the checkout request alone, and counts of every non-201 answer.
//!
//! Usage: shopper BASE_URL SHOPPERS SECONDS   (e.g. shopper http://127.0.0.1:8080 50 20)
//!        shopper BASE_URL once               (exactly one journey; for counting SQL statements)

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

#[derive(Default)]
struct Tally {
    orders: u64,
    journey_us: Vec<u64>,
    checkout_us: Vec<u64>,
    /// "step status code" → count, for everything that was not the expected success.
    failures: BTreeMap<String, u64>,
}

fn checkout_body(n: usize) -> Value {
    json!({
        "email": format!("shopper{n}@bench.test"),
        "shipping_address": {"name": "Bench Shopper", "line1": "1 Main St", "city": "Berlin",
                             "postal_code": "10115", "country": "DE"},
        "payment_method": "manual",
    })
}

/// Ids of variants that can be bought (in stock, on a published product).
async fn buyable_variants(client: &reqwest::Client, base: &str) -> Vec<String> {
    let page: Value = client
        .get(format!("{base}/api/store/products?limit=100&in_stock=true"))
        .send()
        .await
        .expect("catalog request")
        .json()
        .await
        .expect("catalog JSON");
    let mut ids = Vec::new();
    for product in page["items"].as_array().expect("items") {
        for v in product["variants"].as_array().into_iter().flatten() {
            if v["available"].as_bool().unwrap_or(true)
                && let Some(id) = v["id"].as_str()
            {
                ids.push(id.to_owned());
            }
        }
    }
    assert!(
        ids.len() >= 2,
        "need at least two buyable variants, found {}",
        ids.len()
    );
    ids
}

/// One journey. Err(step + status + code) when a step did not answer as expected.
async fn journey(
    client: &reqwest::Client,
    base: &str,
    variants: &[String],
    n: usize,
    round: usize,
) -> Result<Duration, String> {
    let fail = |step: &str, status: u16, body: &Value| {
        format!("{step} {status} {}", body["code"].as_str().unwrap_or(""))
    };
    let r = client
        .post(format!("{base}/api/store/carts"))
        .send()
        .await
        .map_err(|e| format!("cart transport {}", e.is_timeout()))?;
    let status = r.status().as_u16();
    let cart: Value = r.json().await.unwrap_or(Value::Null);
    let Some(cart_id) = cart["id"].as_str() else {
        return Err(fail("cart", status, &cart));
    };
    // Two different variants, spread over the catalog so shoppers do not all hit one row.
    let first = (n * 7 + round * 3) % variants.len();
    let second = (first + 1 + (n + round) % (variants.len() - 1)) % variants.len();
    for (variant, quantity) in [(&variants[first], 1), (&variants[second], 2)] {
        let r = client
            .post(format!("{base}/api/store/carts/{cart_id}/items"))
            .json(&json!({"variant_id": variant, "quantity": quantity}))
            .send()
            .await
            .map_err(|_| "item transport".to_owned())?;
        if !r.status().is_success() {
            let status = r.status().as_u16();
            return Err(fail("item", status, &r.json().await.unwrap_or(Value::Null)));
        }
    }
    let started = Instant::now();
    let r = client
        .post(format!("{base}/api/store/carts/{cart_id}/checkout"))
        .header("Idempotency-Key", format!("bench-{n}-{round}"))
        .json(&checkout_body(n))
        .send()
        .await
        .map_err(|_| "checkout transport".to_owned())?;
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if status != 201 {
        return Err(fail("checkout", status, &body));
    }
    Ok(started.elapsed())
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: shopper BASE_URL SHOPPERS SECONDS | shopper BASE_URL once";
    let base = args.first().expect(usage).trim_end_matches('/').to_owned();
    // The workspace builds reqwest with rustls but no crypto provider of its own: use ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(256)
        .build()
        .expect("HTTP client");
    let variants = Arc::new(buyable_variants(&client, &base).await);

    if args.get(1).map(String::as_str) == Some("once") {
        match journey(&client, &base, &variants, 0, 0).await {
            Ok(_) => println!("{}", json!({"orders": 1})),
            Err(e) => panic!("journey failed: {e}"),
        }
        return;
    }
    let shoppers: usize = args.get(1).and_then(|s| s.parse().ok()).expect(usage);
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).expect(usage);

    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for n in 0..shoppers {
        let (client, base, variants, tally) = (
            client.clone(),
            base.clone(),
            variants.clone(),
            tally.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut round = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                let result = journey(&client, &base, &variants, n, round).await;
                let mut tally = tally.lock().await;
                match result {
                    Ok(checkout) => {
                        tally.orders += 1;
                        tally.journey_us.push(t.elapsed().as_micros() as u64);
                        tally.checkout_us.push(checkout.as_micros() as u64);
                    }
                    Err(e) => *tally.failures.entry(e).or_default() += 1,
                }
                round += 1;
            }
        }));
    }
    for t in tasks {
        t.await.expect("shopper task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut tally = tally.lock().await;
    tally.journey_us.sort_unstable();
    tally.checkout_us.sort_unstable();
    println!(
        "{}",
        json!({
            "shoppers": shoppers,
            "seconds": elapsed,
            "orders": tally.orders,
            "orders_per_sec": tally.orders as f64 / elapsed,
            "journey_p50_ms": percentile(&tally.journey_us, 0.50),
            "journey_p99_ms": percentile(&tally.journey_us, 0.99),
            "checkout_p50_ms": percentile(&tally.checkout_us, 0.50),
            "checkout_p99_ms": percentile(&tally.checkout_us, 0.99),
            "failures": tally.failures,
        })
    );
}
