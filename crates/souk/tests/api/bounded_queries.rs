//! A query that runs away stops at the request timeout and frees its connection, and `souk
//! serve` stops within its shutdown grace whatever a query is doing.
//!
//! The runaway query: a category listing filtered by vendor walks the category's tree with a
//! recursive query. Souk never lets categories form a loop (moving one under its own
//! descendant is refused); the test writes one behind its back, so that walking the tree never
//! ends — a stand-in for any statement that runs for too long.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use souk::startup::open_database;
use souk_domain::catalog::ProductDraft;
use souk_storage::Db;
use uuid::Uuid;

use crate::helpers::{TestDatabase, listening, product, seed, souk_command, test_database};

/// Writes categories `loop-a` and `loop-b`, each the other's parent.
async fn write_a_category_loop(db: &Db) {
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let statements = [
        "INSERT INTO categories (id, parent_id, handle, name, position, created_at) VALUES ($1, NULL, 'loop-a', 'Loop A', 0, 0)",
        "INSERT INTO categories (id, parent_id, handle, name, position, created_at) VALUES ($2, $1, 'loop-b', 'Loop B', 0, 0)",
        "UPDATE categories SET parent_id = $2 WHERE id = $1",
    ];
    for sql in statements {
        match db {
            Db::Sqlite { write, .. } => {
                sqlx::query(sql)
                    .bind(a)
                    .bind(b)
                    .execute(write)
                    .await
                    .unwrap();
            }
            Db::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(a)
                    .bind(b)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }
}

/// A catalog of one rug (in no category of the loop, so the listing has to walk the whole
/// tree to decide) and the loop.
async fn a_catalog_with_a_category_loop() -> TestDatabase {
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let rug = ProductDraft {
        category_path: vec!["Decor".to_owned()],
        ..product("wool-rug", "Wool rug", &[4000])
    };
    seed(&db, "loom", &[rug]).await;
    write_a_category_loop(&db).await;
    db.close().await;
    database
}

fn start(database: &TestDatabase, request_timeout_secs: u32, grace_secs: u32) -> (Child, String) {
    let mut cmd: Command = souk_command(database);
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .args(["--request-timeout-secs", &request_timeout_secs.to_string()])
        .args(["--shutdown-grace-secs", &grace_secs.to_string()])
        .args(["--db-max-connections", "2"])
        .env("SOUK_CATALOG_CACHE_TTL_MS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("start souk serve");
    let (_, base) = listening(&mut child);
    (child, base)
}

const RUNAWAY: &str = "/api/store/products?category=loop-a&vendor=loom";
const LISTING: &str = "/api/store/products?limit=5";

/// Sends SIGTERM and waits for the exit; how long it took.
fn terminate(child: &mut Child) -> Duration {
    let sent = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if sent.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("souk serve was still running 20 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    sent.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_query_frees_its_connection_at_the_request_timeout() {
    let database = a_catalog_with_a_category_loop().await;
    let (mut server, base) = start(&database, 1, 5);
    souk_payments::install_tls_provider();
    let client = reqwest::Client::new();
    let listed = client.get(format!("{base}{LISTING}")).send().await.unwrap();
    assert_eq!(
        listed.status(),
        200,
        "the shop lists before the runaway queries"
    );

    // Twice as many runaway queries as there are connections: every one of them is answered
    // at the request timeout, and the later ones get a connection because the earlier ones'
    // statements were stopped.
    let started = Instant::now();
    let runaways: Vec<_> = (0..4)
        .map(|_| {
            let request = client.get(format!("{base}{RUNAWAY}")).send();
            tokio::spawn(async move {
                let response = request.await.unwrap();
                (response.status().as_u16(), Instant::now())
            })
        })
        .collect();
    let mut answered = Vec::new();
    for r in runaways {
        answered.push(r.await.unwrap());
    }
    for (status, at) in &answered {
        assert_eq!(
            *status, 503,
            "a runaway query is answered 503 at the timeout"
        );
        assert!(
            at.duration_since(started) < Duration::from_secs(6),
            "answered after {:?}",
            at.duration_since(started)
        );
    }

    // Within about a second, the connections are free again: the shop lists normally.
    let last = answered.iter().map(|(_, at)| *at).max().unwrap();
    let recovered = loop {
        let response = client.get(format!("{base}{LISTING}")).send().await.unwrap();
        if response.status() == 200 {
            break Instant::now();
        }
        assert!(
            last.elapsed() < Duration::from_secs(4),
            "the shop still answered {} {:?} after the runaway queries timed out: their \
             statements kept their connections",
            response.status(),
            last.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "runaway queries answered after {:?}; listing answered again {:?} after the last",
        last.duration_since(started),
        recovered.duration_since(last)
    );

    // And SIGTERM during runaway queries stops the server promptly.
    for _ in 0..2 {
        let request = client.get(format!("{base}{RUNAWAY}")).send();
        tokio::spawn(request);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = terminate(&mut server);
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_its_grace_while_a_statement_is_still_running() {
    let database = a_catalog_with_a_category_loop().await;
    // The statement limit (the request timeout, 4 s) is longer than the grace (1 s): at the end
    // of the grace the statement is still running, and the server exits anyway.
    let (mut server, base) = start(&database, 4, 1);
    souk_payments::install_tls_provider();
    let client = reqwest::Client::new();
    let runaway = tokio::spawn(client.get(format!("{base}{RUNAWAY}")).send());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!runaway.is_finished(), "the runaway query is still running");
    let took = terminate(&mut server);
    assert!(
        took < Duration::from_millis(2500),
        "SIGTERM with a 1 s grace took {took:?}"
    );
    eprintln!("stopped {took:?} after SIGTERM with a statement running");
}
