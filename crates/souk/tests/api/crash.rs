//! `kill -9` in the middle of a checkout rush loses no acknowledged order and no unit of stock.
//!
//! 32 shoppers check out against a `souk serve` process (the release build when the test
//! command provides it as `SOUK_RELEASE_BIN`), which is killed with SIGKILL at a random moment.
//! After a restart on the same database every order that got a 2xx must be there with its lines
//! and totals, `stock + units sold = starting stock` for every variant, and SQLite's
//! `PRAGMA integrity_check` must say `ok`. Five rounds per database.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use souk::startup::open_database;
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::checkout::{checkout_body, stocked};
use crate::helpers::{TestDatabase, seed, souk_bin, test_database};
use crate::smtp::free_port;

const SHOPPERS: usize = 32;
const ROUNDS: usize = 5;
// Enough that checkouts keep succeeding (and writing) until the kill.
const START_STOCK: i64 = 5000;

fn server_bin() -> PathBuf {
    match std::env::var("SOUK_RELEASE_BIN") {
        Ok(path) if !path.is_empty() => PathBuf::from(path),
        _ => souk_bin(),
    }
}

fn start_server(database: &TestDatabase, port: u16) -> Child {
    Command::new(server_bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Every shopper of the rush comes from 127.0.0.1, some with one email.
        .env("SOUK_CHECKOUTS_PER_ADDRESS_PER_HOUR", "1000000")
        .env("SOUK_UNPAID_ORDERS_PER_EMAIL", "0")
        .args(["--database-url", &database.url, "--data-dir"])
        .arg(database.dir.path().join("data"))
        .args(["--log-level", "error", "serve", "--bind"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start souk serve")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "souk serve did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// What a shopper was told: the order as acknowledged.
#[derive(Debug, Clone)]
struct Acknowledged {
    id: String,
    token: String,
    total: i64,
    lines: Vec<(String, i64)>,
}

/// A cheap random number (the tests have no rand crate): UUIDv4 bits.
fn random(below: u64) -> u64 {
    let bytes = Uuid::new_v4().into_bytes();
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) % below
}

async fn shopper(
    client: reqwest::Client,
    base: String,
    variants: Arc<Vec<String>>,
    acked: Arc<Mutex<Vec<Acknowledged>>>,
    n: usize,
) {
    for round in 0.. {
        let Ok(r) = client.post(format!("{base}/api/store/carts")).send().await else {
            return;
        };
        let Ok(cart) = r.json::<Value>().await else {
            return;
        };
        let Some(cart) = cart["id"].as_str().map(str::to_owned) else {
            return;
        };
        for _ in 0..=random(2) {
            let variant = &variants[random(variants.len() as u64) as usize];
            let item = json!({"variant_id": variant, "quantity": random(3) + 1});
            if client
                .post(format!("{base}/api/store/carts/{cart}/items"))
                .json(&item)
                .send()
                .await
                .is_err()
            {
                return;
            }
        }
        let Ok(r) = client
            .post(format!("{base}/api/store/carts/{cart}/checkout"))
            .header("Idempotency-Key", format!("s{n}-{round}"))
            .json(&checkout_body(&format!("s{n}@example.com")))
            .send()
            .await
        else {
            return;
        };
        let status = r.status().as_u16();
        let Ok(body) = r.json::<Value>().await else {
            return; // the connection died before the answer was complete: not acknowledged
        };
        match status {
            201 => acked.lock().await.push(Acknowledged {
                id: body["id"].as_str().unwrap().to_owned(),
                token: body["access_token"].as_str().unwrap().to_owned(),
                total: body["total"]["amount"].as_i64().unwrap(),
                lines: body["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| {
                        (
                            l["variant_id"].as_str().unwrap().to_owned(),
                            l["quantity"].as_i64().unwrap(),
                        )
                    })
                    .collect(),
            }),
            409 => assert_eq!(body["code"], "out_of_stock", "{body}"),
            503 => {}
            other => panic!("checkout answered {other}: {body}"),
        }
    }
}

/// (variant id, stock now, units in orders) for every variant.
async fn stock_and_sold(url: &str) -> Vec<(Uuid, i64, i64)> {
    let sql = "SELECT v.id, v.stock, CAST(COALESCE((SELECT SUM(l.quantity) FROM order_lines l \
               JOIN orders o ON o.id = l.order_id WHERE l.variant_id = v.id AND o.status <> 'cancelled'), 0) AS BIGINT) \
               FROM variants v ORDER BY v.id";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        pool.close().await;
        rows
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows = sqlx::query_as(sql).fetch_all(&pool).await.unwrap();
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(check, "ok", "SQLite integrity_check after kill -9");
        pool.close().await;
        rows
    }
}

/// When the server is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    /// At a random moment 0.2–1.5 s into the rush.
    AtRandom,
    /// The moment an order is acknowledged, once SQLite has committed transactions in groups
    /// (on PostgreSQL: the moment an order is acknowledged).
    RightAfterA201,
}

/// The value of a counter without labels in Prometheus text (0 when absent).
fn counter(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0, |v| v.trim().parse::<f64>().unwrap_or(0.0) as u64)
}

async fn crash_round(round: usize, kill: Kill) -> (usize, Duration) {
    let database = test_database().await;
    {
        let db = open_database(&database.url, 4).await.unwrap();
        let products: Vec<_> = (0..6)
            .map(|i| stocked(&format!("crash-{i}"), &[500 + 100 * i], START_STOCK))
            .collect();
        seed(&db, "crash-a", &products[..3]).await;
        seed(&db, "crash-b", &products[3..]).await;
        db.close().await;
    }
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    souk_payments::install_tls_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut server = start_server(&database, port);
    wait_ready(&client, &base).await;
    let mut variants = Vec::new();
    for i in 0..6 {
        let body: Value = client
            .get(format!("{base}/api/store/products/crash-{i}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        variants.push(body["variants"][0]["id"].as_str().unwrap().to_owned());
    }
    let variants = Arc::new(variants);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let shoppers: Vec<_> = (0..SHOPPERS)
        .map(|n| {
            tokio::spawn(shopper(
                client.clone(),
                base.clone(),
                variants.clone(),
                acked.clone(),
                n,
            ))
        })
        .collect();
    let started = Instant::now();
    match kill {
        // Kill at a random moment while checkouts are in flight.
        Kill::AtRandom => tokio::time::sleep(Duration::from_millis(200 + random(1300))).await,
        Kill::RightAfterA201 => {
            let sqlite = !database.url.starts_with("postgres");
            loop {
                let grouped = !sqlite || {
                    let text = client
                        .get(format!("{base}/metrics"))
                        .send()
                        .await
                        .unwrap()
                        .text()
                        .await
                        .unwrap();
                    counter(&text, "souk_db_write_group_transactions_total")
                        > counter(&text, "souk_db_write_groups_total")
                };
                if grouped {
                    break;
                }
                assert!(
                    started.elapsed() < Duration::from_secs(20),
                    "no write transactions shared a commit during the rush"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let seen = acked.lock().await.len();
            while acked.lock().await.len() == seen {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "no order acknowledged"
                );
                tokio::task::yield_now().await;
            }
        }
    }
    let delay = started.elapsed();
    server.kill().expect("SIGKILL"); // std's kill() is SIGKILL on Unix
    server.wait().unwrap();
    for s in shoppers {
        s.await.unwrap();
    }

    let mut server = start_server(&database, port);
    wait_ready(&client, &base).await;
    let acked = acked.lock().await.clone();
    for order in &acked {
        let response = client
            .get(format!("{base}/api/store/orders/{}", order.id))
            .header("X-Order-Token", &order.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "round {round}: acknowledged order {} is lost",
            order.id
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["total"]["amount"], order.total);
        let lines: Vec<(String, i64)> = body["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["variant_id"].as_str().unwrap().to_owned(),
                    l["quantity"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(lines, order.lines);
    }
    let _ = server.kill();
    let _ = server.wait();
    let rows = stock_and_sold(&database.url).await;
    assert_eq!(rows.len(), 6);
    let mut sold_by_ack: HashMap<String, i64> = HashMap::new();
    for o in &acked {
        for (v, q) in &o.lines {
            *sold_by_ack.entry(v.clone()).or_default() += q;
        }
    }
    for (variant, stock, sold) in rows {
        assert_eq!(
            stock + sold,
            START_STOCK,
            "round {round}: variant {variant} has {stock} in stock and {sold} sold"
        );
        assert!(sold >= sold_by_ack.get(&variant.to_string()).copied().unwrap_or(0));
    }
    (acked.len(), delay)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_checkout_rush_loses_no_acknowledged_order_and_no_stock() {
    let mut acknowledged = Vec::new();
    for round in 0..ROUNDS {
        acknowledged.push(crash_round(round, Kill::AtRandom).await);
    }
    // At least one round must have had orders acknowledged before the kill, or the test
    // proved nothing.
    assert!(
        acknowledged.iter().any(|(n, _)| *n > 0),
        "no order was acknowledged before any kill: {acknowledged:?}"
    );
    eprintln!(
        "crash rounds (acknowledged orders, kill after): {acknowledged:?} with {}",
        server_bin().display()
    );
}

/// SQLite acknowledges an order only after the flush of the group commit its transaction
/// shared with others: killed the moment a 201 arrives (once groups are forming), every
/// acknowledged order and every unit of stock is there after the restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_right_after_a_201_from_a_shared_commit_loses_no_order() {
    let mut acknowledged = Vec::new();
    for round in 0..2 {
        acknowledged.push(crash_round(round, Kill::RightAfterA201).await);
    }
    assert!(acknowledged.iter().all(|(n, _)| *n > 0), "{acknowledged:?}");
    eprintln!("rounds (acknowledged orders, killed after): {acknowledged:?}");
}
