//! Storage guarantees that no HTTP test can see: durability settings and schema parity.

use std::collections::BTreeMap;

use souk::startup::{open_database, sqlite_url};
use souk_storage::Db;

use crate::helpers::{on_postgres, test_database};

#[tokio::test]
async fn sqlite_is_opened_for_durability() {
    if on_postgres() {
        return;
    }
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let Db::Sqlite { write, read } = &db else {
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

#[tokio::test]
async fn both_backends_have_the_same_schema() {
    if !on_postgres() {
        return; // needs both: runs in the PostgreSQL pass of scripts/test
    }
    let pg = test_database().await;
    let pg = open_database(&pg.url, 2).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lite = open_database(&sqlite_url(&dir.path().join("parity.db")), 2)
        .await
        .unwrap();
    assert_eq!(sqlite_columns(&lite).await, postgres_columns(&pg).await);
}

/// Relaxed writes (cart edits, job bookkeeping) skip the disk flush; a durable write after one
/// must flush again. Each transaction sees the level it asked for, whatever ran before it.
#[tokio::test]
async fn durable_writes_stay_durable_after_relaxed_ones() {
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let level = async |tx: &mut souk_storage::Tx| -> String {
        match tx {
            souk_storage::Tx::Sqlite(t) => sqlx::query_scalar::<_, i64>("PRAGMA synchronous")
                .fetch_one(&mut **t)
                .await
                .unwrap()
                .to_string(),
            souk_storage::Tx::Postgres(t) => {
                sqlx::query_scalar::<_, String>("SHOW synchronous_commit")
                    .fetch_one(&mut **t)
                    .await
                    .unwrap()
            }
        }
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
        match &mut tx {
            souk_storage::Tx::Sqlite(t) => {
                sqlx::query(sql)
                    .bind(vec![n])
                    .bind(vec![n])
                    .bind(now - age)
                    .execute(&mut **t)
                    .await
                    .unwrap();
            }
            souk_storage::Tx::Postgres(t) => {
                sqlx::query(sql)
                    .bind(vec![n])
                    .bind(vec![n])
                    .bind(now - age)
                    .execute(&mut **t)
                    .await
                    .unwrap();
            }
        }
    }
    for (id, age) in [("evt_old", 31 * 24 * hour), ("evt_new", 29 * 24 * hour)] {
        let sql = "INSERT INTO webhook_events (provider, event_id, event_type, received_at) VALUES ('stripe', $1, 'x', $2)";
        match &mut tx {
            souk_storage::Tx::Sqlite(t) => {
                sqlx::query(sql)
                    .bind(id)
                    .bind(now - age)
                    .execute(&mut **t)
                    .await
                    .unwrap();
            }
            souk_storage::Tx::Postgres(t) => {
                sqlx::query(sql)
                    .bind(id)
                    .bind(now - age)
                    .execute(&mut **t)
                    .await
                    .unwrap();
            }
        }
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
