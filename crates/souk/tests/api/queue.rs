//! The job queue at size: claims walk an index whatever the backlog (checked on the plan of a
//! generated 1M-job backlog), two workers share a 10k backlog and run each job exactly once,
//! and a backlog shows in `/readyz` and `/metrics`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use souk_storage::Db;
use souk_storage::jobs::{self, JobStatus};
use uuid::Uuid;

use crate::helpers::TestApp;

/// Inserts `n` jobs in one statement: `due` of them pending and due (oldest first), the rest
/// pending in the future, done, or running with an expired lease, in a fixed mix.
async fn generate_backlog(db: &Db, n: i64) {
    let now = souk_storage::now_ms();
    match db {
        Db::Sqlite { write, .. } => {
            sqlx::query(
                "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < $1) \
                 INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, locked_by, locked_until, created_at, updated_at) \
                 SELECT randomblob(16), 'order_email', '{}', \
                   CASE i % 10 WHEN 0 THEN 'done' WHEN 1 THEN 'done' WHEN 2 THEN 'pending' WHEN 3 THEN 'running' ELSE 'pending' END, \
                   CASE i % 10 WHEN 3 THEN 1 ELSE 0 END, 5, \
                   CASE i % 10 WHEN 2 THEN $2 + 86400000 + i ELSE $2 - 3600000 + i END, \
                   CASE i % 10 WHEN 3 THEN 'gone' ELSE NULL END, \
                   CASE i % 10 WHEN 3 THEN $2 - 1000 ELSE NULL END, $2, $2 FROM g",
            )
            .bind(n)
            .bind(now)
            .execute(write)
            .await
            .unwrap();
            sqlx::query("ANALYZE").execute(write).await.unwrap();
        }
        Db::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, locked_by, locked_until, created_at, updated_at) \
                 SELECT gen_random_uuid(), 'order_email', '{}', \
                   CASE i % 10 WHEN 0 THEN 'done' WHEN 1 THEN 'done' WHEN 2 THEN 'pending' WHEN 3 THEN 'running' ELSE 'pending' END, \
                   CASE i % 10 WHEN 3 THEN 1 ELSE 0 END, 5, \
                   CASE i % 10 WHEN 2 THEN $2 + 86400000 + i ELSE $2 - 3600000 + i END, \
                   CASE i % 10 WHEN 3 THEN 'gone' ELSE NULL END, \
                   CASE i % 10 WHEN 3 THEN $2 - 1000 ELSE NULL END, $2, $2 \
                 FROM generate_series(1, $1::bigint) AS i",
            )
            .bind(n)
            .bind(now)
            .execute(pool)
            .await
            .unwrap();
            // As autovacuum would have left a backlog that built up over time (run now, it
            // would otherwise start in the middle of the timing below).
            sqlx::query("VACUUM ANALYZE jobs")
                .execute(pool)
                .await
                .unwrap();
        }
    }
}

/// The plan of `sql` (bound with a worker, lease, now and limit), one line per step.
async fn plan(db: &Db, sql: &str) -> Vec<String> {
    let now = souk_storage::now_ms();
    match db {
        Db::Sqlite { write, .. } => {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
                    .bind("w")
                    .bind(now + 60_000)
                    .bind(now)
                    .bind(16i64)
                    .fetch_all(write)
                    .await
                    .unwrap();
            rows.into_iter().map(|r| r.3).collect()
        }
        Db::Postgres(pool) => {
            let rows: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
                    .bind("w")
                    .bind(now + 60_000)
                    .bind(now)
                    .bind(16i64)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            rows
        }
    }
}

/// Runs one claim of 16 in its own committed transaction and returns how long the statement
/// alone took (not `BEGIN` or `COMMIT`).
async fn time_statement(db: &Db, sql: &str) -> std::time::Duration {
    let now = souk_storage::now_ms();
    macro_rules! timed {
        ($pool:expr) => {{
            let mut tx = $pool.begin().await.unwrap();
            let t = Instant::now();
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .bind("timing")
                .bind(now + 60_000)
                .bind(now)
                .bind(16i64)
                .fetch_all(&mut *tx)
                .await
                .unwrap();
            let took = t.elapsed();
            assert_eq!(rows.len(), 16);
            tx.commit().await.unwrap();
            took
        }};
    }
    match db {
        Db::Sqlite { write, .. } => timed!(write),
        Db::Postgres(pool) => timed!(pool),
    }
}

/// A claim reads an index in order and stops after its batch: no scan of the jobs table and no
/// sort of every due job, with a million jobs in it. (Fails with the old claim, whose OR over
/// two statuses made both databases read and sort every due job.) Prints the claim's latency.
#[tokio::test]
async fn claims_walk_an_index_in_order_at_a_million_jobs() {
    let app = TestApp::spawn().await;
    let started = Instant::now();
    generate_backlog(&app.db, 1_000_000).await;
    eprintln!("generated 1,000,000 jobs in {:?}", started.elapsed());

    for (name, sql) in [
        ("claim", jobs::claim_sql(app.db.backend())),
        ("reclaim", jobs::reclaim_sql(app.db.backend())),
    ] {
        let steps = plan(&app.db, &sql).await;
        let text = steps.join("\n");
        eprintln!("{name} plan:\n{text}");
        let index = if name == "claim" {
            "jobs_pending_due"
        } else {
            "jobs_lease"
        };
        assert!(text.contains(index), "{name} walks {index}:\n{text}");
        // SQLite: no full scan of jobs, no sort into a temporary b-tree; PostgreSQL: no
        // sequential scan, no sort.
        let full_scan = steps
            .iter()
            .any(|s| s.contains("SCAN jobs") && !s.contains("INDEX"));
        assert!(!full_scan, "{name} scans the jobs table:\n{text}");
        for bad in ["TEMP B-TREE", "Seq Scan on jobs", "Sort"] {
            assert!(!text.contains(bad), "{name} must not {bad}:\n{text}");
        }
    }

    // Latency of the claim (the write transaction: claim 16, complete them with the next).
    let mut done = Vec::new();
    let mut took = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let claimed = jobs::complete_and_claim(&app.db, "w", &done, 60_000, 16, false)
            .await
            .unwrap();
        took.push(t.elapsed());
        assert_eq!(claimed.len(), 16);
        done = claimed.into_iter().map(|j| j.id).collect();
    }
    took.sort();
    eprintln!(
        "complete-and-claim of 16 with 1M jobs: p50 {:?}, p99 {:?}, max {:?}",
        took[took.len() / 2],
        took[took.len() * 99 / 100],
        took[took.len() - 1]
    );
    // The claim statement alone, timed inside its transaction (the figure the outbox issue
    // targets: p99 <= 1 ms in a release build at this backlog).
    let claim = jobs::claim_sql(app.db.backend());
    for _ in 0..50 {
        time_statement(&app.db, &claim).await; // warm: statement cache, buffers
    }
    let mut took = Vec::new();
    for _ in 0..500 {
        took.push(time_statement(&app.db, &claim).await);
    }
    took.sort();
    eprintln!(
        "claim statement (16 of 1M jobs): p50 {:?}, p99 {:?}, max {:?}",
        took[took.len() / 2],
        took[took.len() * 99 / 100],
        took[took.len() - 1]
    );
    // PostgreSQL's own execution time of the statement (without the round trip and the
    // driver), from EXPLAIN ANALYZE in a rolled-back transaction.
    if let Db::Postgres(pool) = &app.db {
        let now = souk_storage::now_ms();
        let mut took = Vec::new();
        for _ in 0..300 {
            let mut tx = pool.begin().await.unwrap();
            let plan: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN ANALYZE {claim}")))
                    .bind("timing")
                    .bind(now + 60_000)
                    .bind(now)
                    .bind(16i64)
                    .fetch_all(&mut *tx)
                    .await
                    .unwrap();
            tx.rollback().await.unwrap();
            let line = plan
                .iter()
                .find_map(|l| l.strip_prefix("Execution Time: "))
                .expect("an execution time");
            took.push(line.trim_end_matches(" ms").parse::<f64>().unwrap());
        }
        took.sort_by(f64::total_cmp);
        eprintln!(
            "claim statement, server execution (EXPLAIN ANALYZE): p50 {:.3} ms, p99 {:.3} ms",
            took[took.len() / 2],
            took[took.len() * 99 / 100]
        );
    }
    // The oldest due job is claimed first.
    let (due, age_ms) = jobs::backlog(&app.db, 10_000).await.unwrap();
    assert_eq!(due, 10_000, "counted up to the cap");
    assert!(age_ms >= 3_000_000, "about an hour behind: {age_ms}");
}

/// Two workers share a backlog of 10,000 jobs, claiming and completing in batches: each job is
/// claimed exactly once and every one ends `done`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_run_each_of_ten_thousand_jobs_exactly_once() {
    let app = TestApp::spawn().await;
    let now = souk_storage::now_ms();
    let mut tx = app.db.begin_write().await.unwrap();
    let batch: Vec<jobs::ScheduledJob> = (0..10_000)
        .map(|i| jobs::ScheduledJob {
            job: jobs::NewJob {
                kind: "order_email".to_owned(),
                payload: serde_json::json!({"n": i}),
                max_attempts: 5,
            },
            run_at: now - 10_000 + i,
        })
        .collect();
    for chunk in batch.chunks(1000) {
        jobs::enqueue_many(&mut tx, chunk).await.unwrap();
    }
    tx.commit().await.unwrap();

    let runs: Arc<Mutex<HashMap<Uuid, usize>>> = Arc::default();
    let mut workers = Vec::new();
    for name in ["worker-a", "worker-b"] {
        let (db, runs) = (app.db.clone(), runs.clone());
        workers.push(tokio::spawn(async move {
            let mut done: Vec<Uuid> = Vec::new();
            let mut rounds = 0;
            loop {
                let claimed = jobs::complete_and_claim(&db, name, &done, 60_000, 64, true)
                    .await
                    .unwrap();
                rounds += 1;
                if claimed.is_empty() {
                    return rounds;
                }
                {
                    let mut map = runs.lock().unwrap();
                    for job in &claimed {
                        *map.entry(job.id).or_default() += 1;
                    }
                }
                done = claimed.into_iter().map(|j| j.id).collect();
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut rounds = Vec::new();
    for w in workers {
        rounds.push(w.await.unwrap());
    }
    let runs = runs.lock().unwrap().clone();
    assert_eq!(runs.len(), 10_000, "every job ran");
    assert!(runs.values().all(|n| *n == 1), "none ran twice");
    assert!(
        rounds.iter().all(|r| *r > 1),
        "both workers took part: {rounds:?}"
    );
    let left = jobs::list(&app.db, Some(JobStatus::Pending), None, 10)
        .await
        .unwrap();
    assert!(left.is_empty());
    let running = jobs::list(&app.db, Some(JobStatus::Running), None, 10)
        .await
        .unwrap();
    assert!(running.is_empty(), "every claimed job was completed");
    let done = jobs::list(&app.db, Some(JobStatus::Done), None, 20_000)
        .await
        .unwrap();
    assert_eq!(done.len(), 10_000);
}

/// Due jobs waiting over 30 s show in `/readyz` (still 200: the shop serves) and `/metrics`.
#[tokio::test]
async fn a_queue_falling_behind_shows_in_readyz_and_metrics() {
    let app = TestApp::spawn().await;
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert!(ready.get("backlog").is_none(), "{ready}");
    let mut tx = app.db.begin_write().await.unwrap();
    let late: Vec<jobs::ScheduledJob> = (0..25)
        .map(|i| jobs::ScheduledJob {
            job: jobs::NewJob {
                kind: "order_email".to_owned(),
                payload: serde_json::json!({"n": i}),
                max_attempts: 5,
            },
            run_at: souk_storage::now_ms() - 45_000,
        })
        .collect();
    jobs::enqueue_many(&mut tx, &late).await.unwrap();
    tx.commit().await.unwrap();
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "a backlog is not a failure");
    assert_eq!(ready["backlog"]["jobs_due"], 25, "{ready}");
    assert!(ready["backlog"]["oldest_due_seconds"].as_i64().unwrap() >= 45);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in /metrics"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(value("souk_jobs_due"), 25.0);
    assert!(value("souk_jobs_oldest_due_seconds") >= 45.0);
}
