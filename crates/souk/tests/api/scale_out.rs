//! Scale-out as deployed: three instances on one PostgreSQL behind nginx configured by
//! `deploy/nginx.conf` (only its addresses changed), one real SMTP server for all.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::checkout::{checkout_body, stocked};
use crate::events::SseClient;
use crate::helpers::{
    Backend, TestApp, TestDatabase, listening, only_on, souk_command, stdout, test_database,
};
use crate::loadtest::loadtest;
use crate::smtp::{SmtpServer, free_port};

/// Kills the processes a test started, whatever happens.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// nginx with `deploy/nginx.conf`, its upstream pointed at `instances` and listening on
/// `port`, under `dir`.
fn start_nginx(dir: &std::path::Path, instances: &[String], port: u16) -> Child {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nginx.conf"),
    )
    .unwrap();
    let mut site = shipped
        .replace("listen [::]:80;", "")
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
    for (n, address) in instances.iter().enumerate() {
        let shipped_address = format!("127.0.0.1:{}", 8081 + n);
        assert!(site.contains(&shipped_address), "deploy/nginx.conf changed");
        site = site.replace(&shipped_address, address);
    }
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("souk.conf"), site).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("nginx.conf"),
        format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fastcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             include {d}/souk.conf;\n}}\n"
        ),
    )
    .unwrap();
    Command::new("nginx")
        .args(["-p", &d.to_string(), "-c"])
        .arg(dir.join("nginx.conf"))
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx is installed (the test command installs it)")
}

/// Through nginx in front of three instances: a sign-in made on one is recognised by the
/// others; a cart made on one, filled on another, is checked out through the proxy; a live
/// order stream held through nginx receives the events caused on each instance; every email
/// job runs exactly once although all three run workers; a product archived through one
/// instance is gone from every other within their cache lifetime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_three_instances_behind_nginx_act_as_one_shop() {
    if !only_on(Backend::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let a = TestApp::spawn_with_mail(&smtp.url()).await;
    let admin = a.admin_token().await;
    let (vendor, _) = a
        .approved_vendor(&admin, "scale@example.com", "scale-shop")
        .await;
    a.seed("scale-shop", &[stocked("lamp", &[2000], 100)]).await;
    let lamp = a.variant_ids("lamp").await.remove(0);

    // Instances B and C: `souk serve` processes on the same database and mail server.
    let mut processes = Processes(Vec::new());
    let mut addresses = vec![a.base.trim_start_matches("http://").to_owned()];
    for _ in 0..2 {
        let port = free_port();
        processes.0.push(
            souk_command(&a.database)
                .env("SOUK_SMTP_URL", smtp.url())
                .env("SOUK_TRUSTED_PROXIES", "127.0.0.1")
                .env("SOUK_CATALOG_CACHE_TTL_MS", "300")
                .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        addresses.push(format!("127.0.0.1:{port}"));
    }
    let b = TestApp::remote(format!("http://{}", addresses[1]), &a).await;
    let c = TestApp::remote(format!("http://{}", addresses[2]), &a).await;
    let proxy_port = free_port();
    processes.0.push(start_nginx(
        &dir.path().join("nginx"),
        &addresses,
        proxy_port,
    ));
    let shop = TestApp::remote(format!("http://127.0.0.1:{proxy_port}"), &a).await;

    // A session made on A is recognised on B and C.
    for other in [&b, &c] {
        let (status, orders) = other
            .send(Method::GET, "/api/vendor/orders", &vendor, None)
            .await;
        assert_eq!(
            status, 200,
            "{} did not recognise the session: {orders}",
            other.base
        );
    }

    // A cart made on B, filled on C, checked out through nginx.
    let cart = b.cart_with(&lamp, 1).await;
    c.add_to_cart(&cart, &lamp, 1).await;
    let mut vendor_feed = SseClient::open(&shop, "/api/vendor/events", Some(&vendor), None).await;
    let (status, order, _) = shop
        .checkout(&cart, "scale-1", &checkout_body("many@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["lines"][0]["quantity"], 2);
    let id = order["id"].as_str().unwrap().to_owned();
    let created = vendor_feed.next(Duration::from_secs(5)).await;
    assert_eq!(
        created.map(|e| e.kind),
        Some("order.created".to_owned()),
        "the vendor's stream through nginx"
    );

    // The order's stream, held through nginx, hears what each instance does.
    let token = order["access_token"].as_str().unwrap();
    let mut stream = SseClient::open(
        &shop,
        &format!("/api/store/orders/{id}/events?access_token={token}"),
        None,
        None,
    )
    .await;
    let (status, paid) = a
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            Some(json!({"amount": order["total"]["amount"]})),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    for (n, instance) in [&b, &c].into_iter().enumerate() {
        let refunded = instance
            .client
            .post(instance.url(&format!("/api/admin/orders/{id}/refunds")))
            .bearer_auth(&admin)
            .header("idempotency-key", format!("scale-refund-{n}"))
            .json(&json!({"amount": {"amount": 100, "currency": "USD"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(refunded.status(), 201);
    }
    let mut heard = Vec::new();
    while heard.len() < 3 {
        match stream.next(Duration::from_secs(5)).await {
            Some(event) => heard.push(event.kind),
            None => break,
        }
    }
    assert_eq!(
        heard,
        [
            "order.paid",
            "order.partially_refunded",
            "order.partially_refunded"
        ],
        "events caused on A, B and C, through one stream held by nginx"
    );

    // Every email once: the vendor's verification and approval, the confirmation, the vendor's
    // new-order notice, payment received and two refunds — three instances run workers.
    smtp.wait_for_exactly(7, Duration::from_secs(20)).await;

    // A product archived through B disappears from C (300 ms cache) and from the proxy.
    let (_, before) = c.get_json("/api/store/products/lamp").await;
    assert_eq!(before["handle"], "lamp");
    let (_, mine) = b
        .send(Method::GET, "/api/vendor/products", &vendor, None)
        .await;
    let product = mine["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = b
        .send(
            Method::POST,
            &format!("/api/vendor/products/{product}/archive"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let archived = Instant::now();
    for view in [&c, &shop, &a] {
        loop {
            let (status, _) = view.get_json("/api/store/products/lamp").await;
            if status == 404 || status == 410 {
                break;
            }
            assert!(
                archived.elapsed() < Duration::from_secs(3),
                "{} still shows the archived product",
                view.base
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// One `souk serve` of the shop at `port`, started and listening.
fn start_instance(database: &TestDatabase, port: u16, demo: bool) -> Child {
    let mut cmd = souk_command(database);
    cmd.env("SOUK_TRUSTED_PROXIES", "127.0.0.1")
        .env("SOUK_CHECKOUTS_PER_ADDRESS_PER_HOUR", "1000000")
        .env("SOUK_SHUTDOWN_GRACE_SECS", "20")
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    if demo {
        cmd.arg("--demo");
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    listening(&mut child);
    child
}

/// A rolling restart under load: 50 `souk loadtest` shoppers through nginx while each of the
/// three instances in turn is sent SIGTERM, drains, exits and is started again. No order the
/// shoppers were told succeeded is lost (the audit), and no request that a client may retry
/// (reads, new carts, lines checked before they are re-sent, checkouts with their key) failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_only_a_rolling_restart_under_fifty_shoppers_loses_and_fails_nothing() {
    if !only_on(Backend::Postgres) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let database = test_database().await;
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    // The first seeds the demo catalog; the others join it.
    let mut processes = Processes(vec![start_instance(&database, ports[0], true)]);
    for port in &ports[1..] {
        processes.0.push(start_instance(&database, *port, false));
    }
    let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let proxy_port = free_port();
    let nginx = start_nginx(&dir.path().join("nginx"), &addresses, proxy_port);
    let shop = TestApp::attach(format!("http://{}", addresses[0]), database).await;
    // Enough stock that the shoppers keep buying through all three restarts.
    let stocked = match &shop.db {
        souk_storage::Db::Postgres(pool) => {
            sqlx::query("UPDATE variants SET stock = 100000 WHERE track_inventory")
                .execute(pool)
                .await
                .unwrap()
                .rows_affected()
        }
        souk_storage::Db::Sqlite { .. } => unreachable!("PostgreSQL only"),
    };
    assert!(stocked > 0);
    let admin = shop.admin_token().await;
    let (_, key) = shop
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "rolling restart audit", "scopes": ["admin:read"]})),
        )
        .await;
    let key = key["secret"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1200)).await; // catalog caches (1 s) see the stock

    let report_path = dir.path().join("report.json");
    let run = loadtest(
        &format!("http://127.0.0.1:{proxy_port}"),
        &key,
        &["--shoppers", "50", "--duration", "30s"],
        &report_path,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut load = Processes(vec![nginx, run]);

    // Each instance in turn: SIGTERM, a clean exit, a start on the same address.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut drains = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        let stopping = Instant::now();
        let instance = &mut processes.0[n];
        Command::new("kill")
            .args(["-TERM", &instance.id().to_string()])
            .status()
            .unwrap();
        let exit = loop {
            if let Some(exit) = instance.try_wait().unwrap() {
                break exit;
            }
            assert!(
                stopping.elapsed() < Duration::from_secs(25),
                "instance {n} did not stop"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(
            exit.success(),
            "instance {n} exits 0 after SIGTERM: {exit:?}"
        );
        drains.push(stopping.elapsed());
        processes.0[n] = start_instance(&shop.database, *port, false);
        tokio::time::sleep(Duration::from_secs(6)).await;
    }

    let run = load.0.pop().unwrap();
    let out = run.wait_with_output().unwrap();
    let text = format!("{}\n{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
    eprintln!("rolling restart: drains {drains:?}\n{text}");
    assert!(out.status.success(), "{text}");
    assert_eq!(report["verdict"], "pass", "{report}");
    assert_eq!(report["load"]["failed"], 0, "{report}");
    assert_eq!(report["audit"]["violations"], json!([]));
    let orders = report["load"]["orders"].as_u64().unwrap();
    assert!(orders > 100, "the shoppers kept buying: {report}");
    assert_eq!(report["audit"]["acknowledged_orders_checked"], orders);
}
