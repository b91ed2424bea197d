//! Storage guarantees that no HTTP test can see: durability settings and schema parity.

use std::collections::BTreeMap;

use souk::startup::{open_database, sqlite_url};
use souk_storage::Db;

use crate::helpers::{on_postgres, test_database};

#[tokio::test]
async fn sqlite_only_sqlite_is_opened_for_durability() {
    if !crate::helpers::only_on(crate::helpers::Backend::Sqlite) {
        return;
    }
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let Db::Sqlite { write, read, .. } = &db else {
        panic!("expected SQLite")
    };
    for pool in [write, read] {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(pool)
            .await
            .unwrap();
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap();
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(pool)
            .await
            .unwrap();
        let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(
            (mode.as_str(), sync, fk),
            ("wal", 2, 1),
            "WAL, synchronous=FULL, foreign keys on"
        );
        assert!(busy >= 1000, "busy timeout {busy}");
    }
    // The connections Souk reads on (rusqlite readers).
    let journal: String = souk_storage::sql::query_scalar("PRAGMA journal_mode")
        .fetch_one(&db)
        .await
        .unwrap();
    let foreign_keys: i64 = souk_storage::sql::query_scalar("PRAGMA foreign_keys")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!((journal.as_str(), foreign_keys), ("wal", 1), "the readers");
    let refused = souk_storage::sql::query("DELETE FROM vendors")
        .execute(&db)
        .await;
    assert!(refused.is_err(), "a reader connection writes nothing");
    // The connection write transactions run on (rusqlite).
    let mut tx = db.begin_write().await.unwrap();
    let mut read_pragma = async |name: &str| -> String {
        souk_storage::sql::query_scalar::<String>(format!(
            "SELECT CAST({name} AS TEXT) FROM pragma_{name}"
        ))
        .fetch_one(&mut tx)
        .await
        .unwrap()
    };
    let settings = (
        read_pragma("journal_mode").await,
        read_pragma("synchronous").await,
        read_pragma("foreign_keys").await,
    );
    let busy: i64 = souk_storage::sql::query_scalar("PRAGMA busy_timeout")
        .fetch_one(&mut tx)
        .await
        .unwrap();
    assert_eq!(
        (
            settings.0.as_str(),
            settings.1.as_str(),
            settings.2.as_str()
        ),
        ("wal", "2", "1"),
        "the writer: WAL, synchronous=FULL, foreign keys on"
    );
    assert!(busy >= 1000, "writer busy timeout {busy}");
}

#[tokio::test]
async fn constraints_hold_in_the_schema_not_only_in_code() {
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    crate::helpers::seed(
        &db,
        "acme",
        &[crate::helpers::product("mug", "Mug", &[100])],
    )
    .await;
    for (sql, what) in [
        ("UPDATE variants SET stock = -1", "negative stock"),
        ("UPDATE variants SET price = -1", "negative price"),
        ("UPDATE products SET status = 'bogus'", "unknown status"),
        (
            "INSERT INTO vendors (id, handle, name, status, created_at, updated_at) SELECT id, handle, name, status, 0, 0 FROM vendors",
            "duplicate vendor",
        ),
    ] {
        let result = match &db {
            Db::Sqlite { write, .. } => sqlx::query(sql).execute(write).await.map(|_| ()),
            Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        };
        assert!(result.is_err(), "the database must refuse {what}");
    }
}

type Columns = BTreeMap<String, BTreeMap<String, bool>>;

/// Tables → columns → nullable, for the tables both backends share.
async fn sqlite_columns(db: &Db) -> Columns {
    let Db::Sqlite { read, .. } = db else {
        unreachable!()
    };
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT m.name, p.name, p.\"notnull\" FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' AND m.name NOT LIKE 'product_search%'",
    )
    .fetch_all(read)
    .await
    .unwrap();
    let mut out = Columns::new();
    for (table, column, not_null) in rows {
        // SQLite reports NOT NULL only when declared; primary keys are declared NOT NULL here.
        out.entry(table).or_default().insert(column, not_null == 0);
    }
    out
}

async fn postgres_columns(db: &Db) -> Columns {
    let Db::Postgres(pool) = db else {
        unreachable!()
    };
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, is_nullable::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Columns::new();
    for (table, column, nullable) in rows {
        if table == "products" && column == "search" {
            continue; // PostgreSQL's full-text column; SQLite keeps it in product_search
        }
        out.entry(table)
            .or_default()
            .insert(column, nullable == "YES");
    }
    out
}

/// (table, columns in order, unique, partial) of every index, named or made for a constraint
/// (names differ between the backends: SQLite calls a primary key `sqlite_autoindex_…`).
type Indexes = std::collections::BTreeSet<(String, String, bool, bool)>;
/// (table, columns, referenced table, referenced columns, on delete) of every foreign key.
type ForeignKeys = std::collections::BTreeSet<(String, String, String, String, String)>;
/// Table → number of CHECK constraints.
type Checks = BTreeMap<String, i64>;

const SQLITE_TABLES: &str = "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
     AND name NOT LIKE '_sqlx%' AND name NOT LIKE 'product_search%'";

async fn sqlite_constraints(db: &Db) -> (Indexes, ForeignKeys, Checks) {
    let Db::Sqlite { read, .. } = db else {
        unreachable!()
    };
    let tables: Vec<(String, String)> =
        sqlx::query_as(SQLITE_TABLES).fetch_all(read).await.unwrap();
    let (mut indexes, mut keys, mut checks) = (Indexes::new(), ForeignKeys::new(), Checks::new());
    for (table, sql) in tables {
        let list: Vec<(String, bool, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT name, \"unique\", partial FROM pragma_index_list('{table}')"
        )))
        .fetch_all(read)
        .await
        .unwrap();
        for (index, unique, partial) in list {
            let columns: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT name FROM pragma_index_xinfo('{index}') WHERE key = 1 ORDER BY seqno"
            )))
            .fetch_all(read)
            .await
            .unwrap();
            let columns: Vec<String> = columns
                .into_iter()
                .map(|c| c.unwrap_or_else(|| "<expr>".to_owned()))
                .collect();
            indexes.insert((table.clone(), columns.join(","), unique, partial));
        }
        let fks: Vec<(i64, String, String, Option<String>, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list('{table}') ORDER BY id, seq"
            )))
            .fetch_all(read)
            .await
            .unwrap();
        let mut by_id: BTreeMap<i64, (String, Vec<String>, Vec<String>, String)> = BTreeMap::new();
        for (id, target, from, to, on_delete) in fks {
            let entry = by_id
                .entry(id)
                .or_insert((target, vec![], vec![], on_delete));
            entry.1.push(from);
            entry.2.push(to.unwrap_or_default());
        }
        for (target, from, to, on_delete) in by_id.into_values() {
            keys.insert((
                table.clone(),
                from.join(","),
                target,
                to.join(","),
                on_delete,
            ));
        }
        let upper = sql.to_uppercase();
        let count = upper.matches("CHECK (").count() + upper.matches("CHECK(").count();
        if count > 0 {
            checks.insert(table, count as i64);
        }
    }
    (indexes, keys, checks)
}

async fn postgres_constraints(db: &Db) -> (Indexes, ForeignKeys, Checks) {
    let Db::Postgres(pool) = db else {
        unreachable!()
    };
    let rows: Vec<(String, bool, bool, String)> = sqlx::query_as(
        "SELECT tbl.relname::text, ix.indisunique, ix.indpred IS NOT NULL, \
         array_to_string(ARRAY(SELECT COALESCE(a.attname::text, '<expr>') \
           FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, n) \
           LEFT JOIN pg_attribute a ON a.attrelid = tbl.oid AND a.attnum = k.attnum ORDER BY n), ',') \
         FROM pg_index ix JOIN pg_class tbl ON tbl.oid = ix.indrelid \
         JOIN pg_namespace ns ON ns.oid = tbl.relnamespace \
         WHERE ns.nspname = 'public' AND tbl.relname NOT LIKE '_sqlx%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut indexes = Indexes::new();
    for (table, unique, partial, columns) in rows {
        // SQLite's counterparts: `events.id` is an INTEGER PRIMARY KEY (the rowid, unique
        // without an index); full-text search is the product_search FTS5 table.
        if (table == "events" && columns == "id") || (table == "products" && columns == "search") {
            continue;
        }
        indexes.insert((table, columns, unique, partial));
    }
    let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, \
         array_to_string(ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o) \
           JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY o), ','), \
         c.confrelid::regclass::text, \
         array_to_string(ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o) \
           JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY o), ','), \
         CASE c.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE' \
           WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END \
         FROM pg_constraint c WHERE c.contype = 'f'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let keys: ForeignKeys = rows.into_iter().collect();
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, COUNT(*) FROM pg_constraint \
         WHERE contype = 'c' AND conrelid <> 0 GROUP BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (indexes, keys, rows.into_iter().collect())
}

#[tokio::test]
async fn postgres_only_both_backends_have_the_same_schema() {
    // Needs both: runs in the PostgreSQL pass of scripts/test.
    if !crate::helpers::only_on(crate::helpers::Backend::Postgres) {
        return;
    }
    let pg = test_database().await;
    let pg = open_database(&pg.url, 2).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = open_database(&sqlite_url(&dir.path().join("parity.db")), 2)
        .await
        .unwrap();
    assert_eq!(sqlite_columns(&lite).await, postgres_columns(&pg).await);
    let (lite_indexes, lite_keys, lite_checks) = sqlite_constraints(&lite).await;
    let (pg_indexes, pg_keys, pg_checks) = postgres_constraints(&pg).await;
    assert!(
        lite_indexes.len() > 80 && lite_keys.len() > 30,
        "{lite_indexes:?}"
    );
    assert_eq!(
        lite_indexes.difference(&pg_indexes).collect::<Vec<_>>(),
        pg_indexes.difference(&lite_indexes).collect::<Vec<_>>(),
        "indexes and unique constraints: only on SQLite (left) / only on PostgreSQL (right)"
    );
    assert_eq!(
        lite_keys.difference(&pg_keys).collect::<Vec<_>>(),
        pg_keys.difference(&lite_keys).collect::<Vec<_>>(),
        "foreign keys: only on SQLite (left) / only on PostgreSQL (right)"
    );
    assert_eq!(lite_checks, pg_checks, "CHECK constraints per table");
}

/// Relaxed writes (cart edits, job bookkeeping) skip the disk flush; a durable write after one
/// must flush again. Each transaction sees the level it asked for, whatever ran before it.
#[tokio::test]
async fn durable_writes_stay_durable_after_relaxed_ones() {
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let level = async |tx: &mut souk_storage::Tx| -> String {
        let sql = if on_postgres() {
            "SHOW synchronous_commit"
        } else {
            "SELECT CAST(synchronous AS TEXT) FROM pragma_synchronous"
        };
        souk_storage::sql::query_scalar::<String>(sql)
            .fetch_one(tx)
            .await
            .unwrap()
    };
    let (full, relaxed) = if on_postgres() {
        ("on", "off")
    } else {
        ("2", "1")
    };
    for _ in 0..2 {
        let mut tx = db.begin_relaxed_write().await.unwrap();
        assert_eq!(level(&mut tx).await, relaxed);
        tx.commit().await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        assert_eq!(
            level(&mut tx).await,
            full,
            "a durable write after a relaxed one"
        );
        tx.commit().await.unwrap();
    }
    // A relaxed transaction that is dropped (rolled back) leaves nothing relaxed behind.
    let tx = db.begin_relaxed_write().await.unwrap();
    drop(tx);
    let mut tx = db.begin_write().await.unwrap();
    assert_eq!(level(&mut tx).await, full);
}

/// Housekeeping forgets what is past its window (idempotent responses after 48 h, webhook
/// event ids after 30 days) and keeps everything newer.
#[tokio::test]
async fn housekeeping_purges_only_what_is_past_its_window() {
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let now = souk_storage::now_ms();
    let hour = 3_600_000i64;
    let mut tx = db.begin_write().await.unwrap();
    for (n, age) in [(1u8, 49 * hour), (2, 47 * hour)] {
        let sql = "INSERT INTO idempotency_keys (scope, key_hash, request_hash, response_status, response_body, created_at) \
                   VALUES ('checkout:x', $1, $2, 201, '{}', $3)";
        souk_storage::sql::query(sql)
            .bind(vec![n])
            .bind(vec![n])
            .bind(now - age)
            .execute(&mut tx)
            .await
            .unwrap();
    }
    for (id, age) in [("evt_old", 31 * 24 * hour), ("evt_new", 29 * 24 * hour)] {
        let sql = "INSERT INTO webhook_events (provider, event_id, event_type, received_at) VALUES ('stripe', $1, 'x', $2)";
        souk_storage::sql::query(sql)
            .bind(id)
            .bind(now - age)
            .execute(&mut tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let purged = souk_jobs::maintenance::run_once(&db).await.unwrap();
    assert_eq!((purged.idempotency_keys, purged.webhook_events), (1, 1));
    let again = souk_jobs::maintenance::run_once(&db).await.unwrap();
    assert_eq!(
        (again.idempotency_keys, again.webhook_events),
        (0, 0),
        "the newer rows stay"
    );
}

/// A job whose last allowed attempt never finished (its worker was killed) is not run again:
/// housekeeping marks it dead. Carts nobody touched for long are forgotten.
#[tokio::test]
async fn abandoned_last_attempts_are_dead_lettered_and_stale_carts_forgotten() {
    use souk_storage::jobs;
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    let once = jobs::enqueue(
        &mut tx,
        &jobs::NewJob {
            kind: "email".to_owned(),
            payload: serde_json::json!({}),
            max_attempts: 1,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // Claimed with a 1 ms lease by a worker that then vanishes.
    let claimed = jobs::claim(&db, "gone", 1, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(
        jobs::claim(&db, "other", 60_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "its attempts are used up: not run again"
    );
    let purged = souk_jobs::maintenance::run_once(&db).await.unwrap();
    assert_eq!(purged.abandoned_jobs, 1);
    let job = jobs::get(&db, once).await.unwrap().unwrap();
    assert_eq!(job.status, "dead");
    assert!(job.last_error.unwrap().contains("never finished"));

    let cart = souk_storage::carts::create(&db, None, "USD").await.unwrap();
    assert_eq!(
        souk_storage::carts::purge_abandoned(&db, souk_storage::now_ms() - 60_000)
            .await
            .unwrap(),
        0,
        "a cart touched a minute ago stays"
    );
    assert_eq!(
        souk_storage::carts::purge_abandoned(&db, souk_storage::now_ms() + 1)
            .await
            .unwrap(),
        1
    );
    assert!(
        souk_storage::carts::get(souk_storage::Exec::Db(&db), cart)
            .await
            .unwrap()
            .is_none()
    );
}

/// Power-loss safety rests on which transactions wait for the disk: every order, payment,
/// refund, payout, stock, catalog and account write must be durable; only cart edits, job
/// bookkeeping, webhook-delivery bookkeeping, rate-limit counters and session touches may be
/// relaxed (a `kill -9` keeps the page cache, so no crash test can tell the difference). This
/// runs the marketplace's main use cases and checks the durability each commit really had.
#[tokio::test]
async fn orders_payments_stock_and_accounts_are_committed_durably() {
    use reqwest::Method;
    use serde_json::json;
    use souk_storage::commit_log;

    use crate::checkout::{address, checkout_body};
    use crate::helpers::{TestApp, WorkerSetup};
    use crate::scenario::{Coupon, ShippingRate};

    /// Where a relaxed commit may come from.
    const MAY_BE_RELAXED: &[&str] = &[
        "crates/storage/src/carts/mod.rs",
        "crates/storage/src/carts/edits.rs",
        "crates/storage/src/jobs.rs",
        "crates/storage/src/webhooks/messages.rs",
        "crates/storage/src/accounts.rs",
        "crates/storage/src/db.rs",
        "crates/app/src/outbox.rs", // a failed job's bookkeeping and its job.failed event
    ];
    commit_log::start();
    let app = TestApp::spawn_with_webhooks(WorkerSetup::default()).await;
    let admin = app.admin_token().await;
    let (vendor, vendor_id) = app
        .approved_vendor(&admin, "durable@example.com", "durable")
        .await;
    let (status, product) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &vendor,
            Some(json!({"handle": "anvil", "title": "Anvil", "status": "published",
                        "variants": [{"sku": "ANV-1", "price": {"amount": 5000, "currency": "USD"}, "stock": 5}]})),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let variant = product["variants"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/variants/{variant}/stock"),
            &vendor,
            Some(json!({"stock": 7})),
        )
        .await;
    assert_eq!(status, 200);
    app.shipping_rates(&vendor, &[ShippingRate::flat("Post", 500)])
        .await;
    let customer = app.register("buyer@example.com").await;
    let (status, cart) = app
        .send(Method::POST, "/api/store/carts", &customer, None)
        .await;
    assert_eq!(status, 201, "{cart}");
    let cart = cart["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/store/carts/{cart}/items"),
            &customer,
            Some(json!({"variant_id": variant, "quantity": 2})),
        )
        .await;
    assert_eq!(status, 201);
    let mut body = checkout_body("buyer@example.com");
    body["shipping_address"] = address();
    let response = app
        .client
        .post(app.url(&format!("/api/store/carts/{cart}/checkout")))
        .bearer_auth(&customer)
        .header("Idempotency-Key", "durable-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let order: serde_json::Value = response.json().await.unwrap();
    let order_id = order["id"].as_str().unwrap().to_owned();
    let total = order["total"]["amount"].as_i64().unwrap();
    let (status, paid) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{order_id}/payments"),
            &admin,
            Some(json!({"amount": total, "reference": "SEPA 1"})),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    let (_, orders) = app
        .send(Method::GET, "/api/vendor/orders", &vendor, None)
        .await;
    let vendor_order = orders["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{vendor_order}/fulfil"),
            &vendor,
            Some(json!({"carrier": "DHL", "tracking_number": "JJD1"})),
        )
        .await;
    assert_eq!(status, 200);
    let refund = app
        .client
        .post(app.url(&format!("/api/admin/orders/{order_id}/refunds")))
        .bearer_auth(&admin)
        .header("Idempotency-Key", "durable-refund")
        .json(&json!({"amount": 1000, "reason": "dented"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), 201);
    let payout = app
        .client
        .post(app.url(&format!("/api/admin/vendors/{vendor_id}/payouts")))
        .bearer_auth(&admin)
        .header("Idempotency-Key", "durable-payout")
        .json(&json!({"amount": 100, "reference": "wire"}))
        .send()
        .await
        .unwrap();
    assert_eq!(payout.status(), 201);
    app.coupons(&admin, &[Coupon::percent("KEEP", 500)]).await;
    // Let the worker send the emails (relaxed job bookkeeping).
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;

    let commits = commit_log::take();
    let relaxed: Vec<_> = commits
        .iter()
        .filter(|c| !c.durable && !MAY_BE_RELAXED.contains(&c.file))
        .collect();
    assert!(
        relaxed.is_empty(),
        "relaxed commits outside carts, jobs, webhook bookkeeping and counters: {relaxed:#?}"
    );
    // The record is real: both kinds were seen, checkout's own durable commit among them.
    let durable_in = |file: &str| commits.iter().any(|c| c.durable && c.file == file);
    for file in [
        "crates/app/src/checkout.rs",         // checkout
        "crates/storage/src/accounts.rs",     // registration, sessions
        "crates/app/src/orders.rs",           // manual payment
        "crates/app/src/payouts.rs",          // payout
        "crates/app/src/payments/refunds.rs", // refund
        "crates/app/src/fulfilment.rs",       // fulfilment
        "crates/app/src/products.rs",         // catalog and stock
    ] {
        assert!(
            durable_in(file),
            "no durable commit from {file}: {commits:#?}"
        );
    }
    assert!(
        commits
            .iter()
            .any(|c| !c.durable && c.file == "crates/storage/src/jobs.rs"),
        "job bookkeeping is relaxed: {commits:#?}"
    );
}

/// SQLite commits the write transactions that queue for its writer together, under one flush
/// (group commit). A transaction that fails inside such a group undoes only itself: the
/// others of its group are committed, and none of its own writes remain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_only_a_failed_transaction_in_a_shared_commit_undoes_only_itself() {
    if !crate::helpers::only_on(crate::helpers::Backend::Sqlite) {
        return;
    }
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let insert = "INSERT INTO webhook_events (provider, event_id, event_type, received_at) \
                  VALUES ('test', $1, 'x', 0)";
    let mut shared = false;
    for round in 0..20 {
        let before = db.write_groups().unwrap();
        // The first holds the writer while three more queue behind it.
        let mut first = db.begin_write().await.unwrap();
        souk_storage::sql::query(insert)
            .bind(format!("{round}-first"))
            .execute(&mut first)
            .await
            .unwrap();
        let good = |name: String| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin_write().await.unwrap();
                souk_storage::sql::query(insert)
                    .bind(name)
                    .execute(&mut tx)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            })
        };
        let a = good(format!("{round}-a"));
        let failing = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin_write().await.unwrap();
                souk_storage::sql::query(insert)
                    .bind(format!("{round}-failing"))
                    .execute(&mut tx)
                    .await
                    .unwrap();
                // A key the first one took: the transaction fails and is dropped.
                let clash = souk_storage::sql::query(insert)
                    .bind(format!("{round}-first"))
                    .execute(&mut tx)
                    .await;
                assert!(clash.unwrap_err().is_unique_violation());
            })
        };
        let b = good(format!("{round}-b"));
        let queued = std::time::Instant::now();
        while db.write_groups().unwrap().waiting < 3 {
            assert!(queued.elapsed() < std::time::Duration::from_secs(5));
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        first.commit().await.unwrap();
        for task in [a, failing, b] {
            task.await.unwrap();
        }
        let mut names: Vec<String> = souk_storage::sql::query_scalar(
            "SELECT event_id FROM webhook_events WHERE provider = 'test' AND event_id LIKE $1",
        )
        .bind(format!("{round}-%"))
        .fetch_all(&db)
        .await
        .unwrap();
        names.sort();
        assert_eq!(
            names,
            [
                format!("{round}-a"),
                format!("{round}-b"),
                format!("{round}-first")
            ],
            "the failed transaction left nothing, the others are all there"
        );
        let after = db.write_groups().unwrap();
        // Four transactions, the failed one not counted: fewer flushes than transactions.
        if after.transactions - before.transactions > after.groups - before.groups {
            shared = true;
            break;
        }
    }
    assert!(shared, "no two write transactions ever shared a commit");
}
