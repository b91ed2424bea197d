//! `souk loadtest`: shoppers against a real `souk serve --demo`, then the invariants audit.
//! A healthy shop gets a passing verdict; a shop that loses an acknowledged order behind the
//! shoppers' backs gets a failing one and a non-zero exit.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    TestApp, listening, souk_bin, souk_command, stdout, stop_gracefully, test_database,
};

/// `souk serve --demo` on a fresh database, with the per-address checkout limit raised (every
/// shopper of a load test comes from one address); the shop and an admin API key.
pub async fn demo_shop() -> (Child, TestApp, String) {
    let database = test_database().await;
    let mut server = souk_command(&database)
        .args([
            "serve",
            "--demo",
            "--bind",
            "127.0.0.1:0",
            "--checkouts-per-address-per-hour",
            "1000000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_, base) = listening(&mut server);
    let app = TestApp::attach(base, database).await;
    let admin = app.admin_token().await;
    let (status, key) = app
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "load test audit", "scopes": ["admin:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    (server, app, key["secret"].as_str().unwrap().to_owned())
}

pub fn loadtest(base: &str, key: &str, args: &[&str], report: &std::path::Path) -> Command {
    let mut cmd = Command::new(souk_bin());
    cmd.env_clear()
        .args(["loadtest", base, "--admin-key", key, "--report"])
        .arg(report)
        .args(args);
    cmd
}

fn report(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn verdict(out: &Output) -> String {
    stdout(out).lines().last().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_load_test_against_the_demo_shop_passes_its_audit() {
    let (mut server, app, key) = demo_shop().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let out = loadtest(
        &app.base,
        &key,
        &["--shoppers", "8", "--duration", "6s"],
        &path,
    )
    .output()
    .unwrap();
    let text = format!("{}\n{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(verdict(&out).starts_with("verdict: PASS — "), "{text}");
    // The live progress went to standard error while it ran.
    assert!(text.contains("req/s") && text.contains("p99"), "{text}");

    let report = report(&path);
    assert_eq!(report["verdict"], "pass", "{report}");
    let orders = report["load"]["orders"].as_u64().unwrap();
    assert!(orders > 0, "{report}");
    assert_eq!(report["audit"]["acknowledged_orders_checked"], orders);
    assert_eq!(report["audit"]["violations"], json!([]));
    assert!(report["audit"]["variants_checked"].as_u64().unwrap() > 0);
    assert_eq!(report["load"]["failed"], 0, "{report}");
    for step in [
        "browse", "search", "product", "cart", "add_item", "checkout",
    ] {
        assert!(
            report["load"]["steps"][step]["count"].as_u64().unwrap() > 0,
            "{step}: {report}"
        );
    }
    // What the report says the shoppers bought is what the shop holds.
    let (_, listed) = app
        .send(
            Method::GET,
            "/api/admin/orders?limit=1",
            &app.admin_token().await,
            None,
        )
        .await;
    assert!(
        listed["items"][0]["email"]
            .as_str()
            .unwrap()
            .starts_with("loadtest-")
    );
    stop_gracefully(&mut server);
}

#[tokio::test]
async fn an_order_lost_behind_the_shoppers_backs_fails_the_verdict() {
    let (mut server, app, key) = demo_shop().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    let run = loadtest(
        &app.base,
        &key,
        &["--shoppers", "4", "--duration", "6s"],
        &path,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();

    // Once a few orders were acknowledged, the first one disappears from the database.
    let started = Instant::now();
    let lost = loop {
        let ids = app.loadtest_orders().await;
        if ids.len() >= 5 {
            break ids[0];
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no orders placed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    app.delete_order(lost).await;

    let out = run.wait_with_output().unwrap();
    let text = format!("{}\n{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(verdict(&out).starts_with("verdict: FAIL"), "{text}");
    let report = report(&path);
    assert_eq!(report["verdict"], "fail");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains(&format!("acknowledged order {lost}")) && problems.contains("is missing"),
        "{problems}"
    );
    assert!(
        problems.contains("but orders took"),
        "stock no longer adds up: {problems}"
    );
    stop_gracefully(&mut server);
}

#[test]
fn a_target_that_is_not_loopback_is_refused_unless_owned() {
    let out = Command::new(souk_bin())
        .env_clear()
        .args([
            "loadtest",
            "http://192.0.2.1:8080",
            "--no-audit",
            "--duration",
            "1s",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to load-test 192.0.2.1") && err.contains("--i-own-this-host"),
        "{err}"
    );

    // Without a key, the audit cannot run: said before any load is sent.
    let out = Command::new(souk_bin())
        .env_clear()
        .args(["loadtest", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-key"));
}

impl TestApp {
    /// Ids of the orders `souk loadtest` placed, oldest first.
    async fn loadtest_orders(&self) -> Vec<uuid::Uuid> {
        let sql = "SELECT id FROM orders WHERE email LIKE 'loadtest-%' ORDER BY placed_at, id";
        match &self.db {
            souk_storage::Db::Sqlite { read, .. } => {
                sqlx::query_scalar(sql).fetch_all(read).await.unwrap()
            }
            souk_storage::Db::Postgres(pool) => {
                sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
            }
        }
    }

    /// Deletes an order as a bug or a bad hand in the database would.
    async fn delete_order(&self, id: uuid::Uuid) {
        for sql in [
            "DELETE FROM ledger_entries WHERE order_id = $1",
            "DELETE FROM orders WHERE id = $1",
        ] {
            match &self.db {
                souk_storage::Db::Sqlite { write, .. } => {
                    sqlx::query(sql).bind(id).execute(write).await.unwrap();
                }
                souk_storage::Db::Postgres(pool) => {
                    sqlx::query(sql).bind(id).execute(pool).await.unwrap();
                }
            }
        }
    }
}
