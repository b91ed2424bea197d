//! `souk backup create` while the shop takes orders, and `souk backup restore` into a shop that
//! serves.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Connection;

use crate::checkout::{checkout_body, stocked};
use crate::helpers::{
    Backend, TestApp, listening, only_on, run, souk_bin, souk_command, stderr, stdout,
};

/// A backup taken during a checkout rush restores into a shop that serves, passes SQLite's
/// integrity check, and holds every order acknowledged before the backup began; the server key
/// and media come back byte for byte. A damaged archive, or a data directory that is not
/// empty, is refused and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_only_a_backup_taken_during_a_rush_restores_every_acknowledged_order() {
    if !only_on(Backend::Sqlite) {
        return;
    }
    let app = Arc::new(TestApp::spawn().await);
    app.seed("rush-shop", &[stocked("crate", &[1500], 1_000_000)])
        .await;
    let variant = app.variant_ids("crate").await.remove(0);
    let data = app.database.dir.path().join("data");
    std::fs::create_dir_all(data.join("media/ab")).unwrap();
    std::fs::write(data.join("secret.key"), "k".repeat(64)).unwrap();
    std::fs::write(data.join("media/ab/cd.webp"), b"RIFF....WEBPVP8 ").unwrap();

    // Shoppers check out in a loop; every acknowledged order is recorded.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut shoppers = Vec::new();
    for s in 0..4 {
        let (app, acked, stop, variant) =
            (app.clone(), acked.clone(), stop.clone(), variant.clone());
        shoppers.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let cart = app.cart_with(&variant, 1).await;
                let (status, order, _) = app
                    .checkout(
                        &cart,
                        &format!("rush-{s}-{n}"),
                        &checkout_body("rush@example.com"),
                    )
                    .await;
                if status == 201 {
                    acked
                        .lock()
                        .unwrap()
                        .push(order["id"].as_str().unwrap().to_owned());
                }
                n += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before: Vec<String> = acked.lock().unwrap().clone();
    let archive = app.database.dir.path().join("backups/now.tar.gz");
    let made = {
        let mut cmd = souk_command(&app.database);
        cmd.args(["backup", "create"]).arg(&archive);
        tokio::task::spawn_blocking(move || run(&mut cmd))
            .await
            .unwrap()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in shoppers {
        s.await.unwrap();
    }
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(stdout(&made).contains("backup of"), "{}", stdout(&made));
    // It holds the database and the server key: readable by its owner only.
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&archive), 0o600, "the archive");
        assert_eq!(
            mode(archive.parent().unwrap()),
            0o700,
            "the backups directory"
        );
    }
    let during = acked.lock().unwrap().len();
    assert!(
        !before.is_empty() && during > before.len(),
        "orders kept coming during the backup ({} before, {during} in all)",
        before.len()
    );

    // Restore into a new data directory and start a shop on it.
    let restored = app.database.dir.path().join("restored");
    let out = run(std::process::Command::new(souk_bin())
        .env_clear()
        .args(["--log-level", "warn", "--data-dir"])
        .arg(&restored)
        .args(["backup", "restore"])
        .arg(&archive));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("checksums and integrity verified"));
    assert_eq!(
        std::fs::read(restored.join("secret.key")).unwrap(),
        "k".repeat(64).as_bytes()
    );
    assert_eq!(
        std::fs::read(restored.join("media/ab/cd.webp")).unwrap(),
        b"RIFF....WEBPVP8 "
    );
    let db_path = restored.join("souk.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(check, ["ok"]);
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM orders")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let ids: std::collections::HashSet<String> = ids.iter().map(|i| i.to_string()).collect();
    let lost: Vec<&String> = before.iter().filter(|id| !ids.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "acknowledged before the backup, missing after restore: {lost:?}"
    );

    let mut shop = std::process::Command::new(souk_bin())
        .env_clear()
        .args(["--log-level", "warn", "--data-dir"])
        .arg(&restored)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_, base) = listening(&mut shop);
    let products: serde_json::Value = reqwest::get(format!("{base}/api/store/products"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = shop.kill();
    let _ = shop.wait();
    assert_eq!(products["items"][0]["handle"], "crate", "{products}");

    // Refused: a data directory that is not empty; a damaged archive (nothing left behind).
    let again = run(std::process::Command::new(souk_bin())
        .env_clear()
        .args(["--data-dir"])
        .arg(&restored)
        .args(["backup", "restore"])
        .arg(&archive));
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );
    let mut bytes = std::fs::read(&archive).unwrap();
    let middle = bytes.len() / 2;
    bytes.truncate(middle);
    let damaged = app.database.dir.path().join("damaged.tar.gz");
    std::fs::write(&damaged, bytes).unwrap();
    let empty = app.database.dir.path().join("empty");
    let out = run(std::process::Command::new(souk_bin())
        .env_clear()
        .args(["--data-dir"])
        .arg(&empty)
        .args(["backup", "restore"])
        .arg(&damaged));
    assert!(!out.status.success(), "a damaged archive restored");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0, "left behind");
}

/// On PostgreSQL the archive holds `pg_dump`'s custom-format dump beside the shop's files;
/// restored with `pg_restore` into an empty database, it holds every order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_a_backup_holds_a_pg_dump_that_restores_every_order() {
    if !only_on(Backend::Postgres) {
        return;
    }
    let app = TestApp::spawn().await;
    app.seed("pg-shop", &[stocked("crate", &[1500], 100)]).await;
    let variant = app.variant_ids("crate").await.remove(0);
    let mut placed = Vec::new();
    for n in 0..3 {
        let cart = app.cart_with(&variant, 1).await;
        let (status, order, _) = app
            .checkout(&cart, &format!("pg-{n}"), &checkout_body("pg@example.com"))
            .await;
        assert_eq!(status, 201);
        placed.push(order["id"].as_str().unwrap().to_owned());
    }
    let data = app.database.dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("secret.key"), "p".repeat(64)).unwrap();
    let archive = app.database.dir.path().join("pg.tar.gz");
    let made = run(souk_command(&app.database)
        .args(["backup", "create"])
        .arg(&archive));
    assert!(made.status.success(), "{}", stderr(&made));
    let restored = app.database.dir.path().join("restored");
    let out = run(std::process::Command::new(souk_bin())
        .env_clear()
        .args(["--data-dir"])
        .arg(&restored)
        .args(["backup", "restore"])
        .arg(&archive));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("pg_restore"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read(restored.join("secret.key")).unwrap(),
        "p".repeat(64).as_bytes()
    );

    // Into a new, empty database, as the restore's instructions say.
    let admin = std::env::var("SOUK_TEST_DATABASE_URL").unwrap();
    let name = format!("souk_r_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').unwrap().0;
    let target = format!("{base}/{name}");
    let loaded = std::process::Command::new("pg_restore")
        .args(["--no-owner", "--dbname", &target])
        .arg(restored.join("souk.pgdump"))
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let mut copy = sqlx::PgConnection::connect(&target).await.unwrap();
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT id FROM orders")
        .fetch_all(&mut copy)
        .await
        .unwrap();
    copy.close().await.unwrap();
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    for id in &placed {
        assert!(
            ids.contains(id),
            "order {id} missing from the restored database"
        );
    }
}

/// `souk serve --backup-every` / `--backup-keep`: a backup every period into DATA_DIR/backups,
/// only the newest `keep` kept, the newest restorable into a shop with the catalog it saw. (The
/// loop `souk serve` runs, driven here with a period of about a second; the flags themselves
/// are checked in `cli::tests`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_only_scheduled_backups_keep_the_newest_and_the_newest_restores() {
    if !only_on(Backend::Sqlite) {
        return;
    }
    let app = TestApp::spawn().await;
    app.seed("sched-shop", &[stocked("mug", &[900], 5)]).await;
    let data = app.database.dir.path().join("sched-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("secret.key"), "s".repeat(64)).unwrap();
    let schedule = tokio::spawn(souk::commands::backup::schedule(
        app.db.clone(),
        app.database.url.clone(),
        data.clone(),
        Duration::from_millis(1100),
        2,
    ));
    let dir = data.join("backups");
    let archives = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .filter(|n| n.starts_with("souk-backup-") && n.ends_with(".tar.gz"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    // Watch the directory until four backups have been seen (two of them pruned by then).
    let mut seen = std::collections::BTreeSet::new();
    let started = std::time::Instant::now();
    while seen.len() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "only {seen:?} after 30 s"
        );
        seen.extend(archives());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    schedule.abort();
    let _ = schedule.await;
    let kept = archives();
    seen.extend(kept.iter().cloned());
    let newest: Vec<String> = seen.iter().rev().take(2).rev().cloned().collect();
    assert_eq!(kept, newest, "the two newest are kept (seen {seen:?})");

    let target = app.database.dir.path().join("restored");
    let restored = souk::backup::restore(&dir.join(kept.last().unwrap()), &target)
        .await
        .expect("the newest scheduled backup restores");
    assert_eq!(
        std::fs::read(target.join("secret.key")).unwrap(),
        "s".repeat(64).into_bytes(),
        "the server key comes back"
    );
    let sqlite = restored.sqlite.expect("the archive holds the database");
    let db = souk::startup::open_database(&souk::startup::sqlite_url(&sqlite), 2)
        .await
        .unwrap();
    assert!(
        souk_storage::catalog::product_by_handle(&db, "mug", false)
            .await
            .unwrap()
            .is_some(),
        "the restored shop has the catalog"
    );
}
