//! The security review's defects (docs/security.md maps each to its test here): each test
//! attacks the way the review did and asserts the defence holds, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::checkout::{address, checkout_body, stocked};
use crate::helpers::{
    TestApp, handles, on_postgres, product, retry_after, run, status_json, stderr, stdout, walk,
};
use crate::scenario::{Coupon, ShippingRate};
use crate::smtp::{SmtpServer, free_port};

const PASSWORD: &str = "correct horse battery staple";

/// The shipped limits, with a short login window so a test can wait it out. (Differing from
/// the defaults also keeps the test harness from lifting the per-address limits.)
fn shipped_limits() -> souk_http::AbuseLimits {
    souk_http::AbuseLimits {
        login_window: Duration::from_secs(3),
        ..souk_http::AbuseLimits::default()
    }
}

fn config_with(limits: souk_http::AbuseLimits) -> souk_http::HttpConfig {
    souk_http::HttpConfig {
        catalog_cache_ttl: Duration::ZERO,
        limits,
        ..souk_http::HttpConfig::default()
    }
}

/// Defect 1: a burst of parallel wrong passwords gets no more verdicts than the limit, for
/// login and for change-password's current-password check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_wrong_passwords_get_at_most_ten_verdicts() {
    let app = Arc::new(TestApp::spawn_with(config_with(shipped_limits())).await);
    let owner = app.register("target@example.com").await;
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, barrier) = (app.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = app.login("target@example.com", "wrong password!").await;
            let retry = retry_after(&response);
            let (status, body) = status_json(response).await;
            (status, body, retry)
        }));
    }
    let (mut verdicts, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            (401, _, _) => verdicts += 1,
            (429, body, Some(retry)) => {
                assert_eq!(body["code"], "too_many_attempts");
                assert!((1..=3).contains(&retry), "{retry}");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        (1..=10).contains(&verdicts),
        "{verdicts} password verdicts for 50 parallel guesses"
    );
    assert_eq!(verdicts + refused, 50);
    // After the window the owner's right password works.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        app.login("target@example.com", PASSWORD).await.status(),
        200
    );

    // change-password: the current-password check is limited the same way.
    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, barrier, token) = (app.clone(), barrier.clone(), owner.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let response = app
                .request_raw(
                    Method::POST,
                    "/api/auth/change-password",
                    Some(&token),
                    Some(json!({"current_password": "wrong password!", "new_password": "a brand new passphrase"})),
                )
                .await;
            let retry = retry_after(&response);
            let (status, body) = status_json(response).await;
            (status, body, retry)
        }));
    }
    let mut verdicts = 0;
    for t in tasks {
        match t.await.unwrap() {
            (401, _, _) => verdicts += 1,
            (429, body, Some(_)) => assert_eq!(body["code"], "too_many_attempts"),
            other => panic!("{other:?}"),
        }
    }
    assert!((1..=10).contains(&verdicts), "{verdicts} verdicts");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(
        app.send(
            Method::POST,
            "/api/auth/change-password",
            &owner,
            Some(json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"})),
        )
        .await
        .0,
        200
    );
}

/// A guest checkout as from `client_ip` (through a trusted proxy on 127.0.0.1).
async fn checkout_from(
    app: &TestApp,
    cart: &str,
    key: &str,
    email: &str,
    ip: &str,
) -> (u16, Value) {
    let response = app
        .request_builder(
            Method::POST,
            &format!("/api/store/carts/{cart}/checkout"),
            None,
            Some(checkout_body(email)),
        )
        .header("Idempotency-Key", key)
        .header("x-forwarded-for", format!("{ip}, 127.0.0.1"))
        .send()
        .await
        .unwrap();
    status_json(response).await
}

/// A logged-in customer's checkout of one unit of `variant` (from `client_ip`, when given,
/// through the trusted proxy): status and body.
async fn customer_checkout(
    app: &TestApp,
    token: &str,
    variant: &str,
    key: &str,
    email: &str,
    client_ip: Option<&str>,
) -> (u16, Value) {
    let (status, cart) = app
        .send(Method::POST, "/api/store/carts", token, None)
        .await;
    assert_eq!(status, 201, "{cart}");
    let cart = cart["id"].as_str().unwrap().to_owned();
    app.send(
        Method::POST,
        &format!("/api/store/carts/{cart}/items"),
        token,
        Some(json!({"variant_id": variant, "quantity": 1})),
    )
    .await;
    let mut request = app
        .request_builder(
            Method::POST,
            &format!("/api/store/carts/{cart}/checkout"),
            Some(token),
            Some(checkout_body(email)),
        )
        .header("Idempotency-Key", key);
    if let Some(ip) = client_ip {
        request = request.header("x-forwarded-for", format!("{ip}, 127.0.0.1"));
    }
    status_json(request.send().await.unwrap()).await
}

/// Defect 2: a scripted hoarder — one address with many emails, one mailbox spelled many ways
/// from many addresses — holds at most what the limits allow; honest shoppers still buy, and a
/// guest's unpaid manual order holds its stock for the shorter guest hold.
#[tokio::test]
async fn a_hoarder_cannot_hold_more_than_the_configured_share_of_stock() {
    let limits = souk_http::AbuseLimits {
        unpaid_orders_per_email: 2,
        checkouts_per_address: 5,
        guest_manual_hold: Duration::from_secs(1800),
        ..shipped_limits()
    };
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..config_with(limits)
    })
    .await;
    app.seed("scarce", &[stocked("sneaker", &[9900], 20)]).await;
    let variant = app.variant_ids("sneaker").await.remove(0);

    // One subscriber (an IPv6 /64, a new address in it each time), a new email each time.
    let mut placed = 0;
    for i in 0..12 {
        let cart = app.cart_with(&variant, 1).await;
        let ip = format!("2001:db8:77:1::{:x}", i + 1);
        let (status, body) = checkout_from(
            &app,
            &cart,
            &format!("a{i}"),
            &format!("bot{i}@example.com"),
            &ip,
        )
        .await;
        match status {
            201 => placed += 1,
            429 => assert_eq!(body["code"], "too_many_checkouts", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(placed, 5, "the address's checkouts per hour");
    // One mailbox, spelled differently, from ever new addresses.
    for (i, email) in [
        "hoard@example.com",
        "HOARD+1@example.com",
        "hoard+2@Example.com",
        "hoard+3@example.com",
    ]
    .iter()
    .enumerate()
    {
        let cart = app.cart_with(&variant, 1).await;
        let (status, body) = checkout_from(
            &app,
            &cart,
            &format!("b{i}"),
            email,
            &format!("198.51.100.{i}"),
        )
        .await;
        match status {
            201 => placed += 1,
            429 => assert_eq!(body["code"], "too_many_unpaid_orders", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(placed, 7, "plus the mailbox's unpaid orders");
    assert_eq!(
        app.stock_of(&variant).await,
        13,
        "the hoarder holds 7 of 20"
    );

    // The account holder of the mailbox the guests hoarded under is not locked out:
    // customers are counted by account.
    let owner = app.register("hoard@example.com").await;
    let (status, _) = customer_checkout(
        &app,
        &owner,
        &variant,
        "owner",
        "hoard@example.com",
        Some("192.0.2.200"),
    )
    .await;
    assert_eq!(status, 201);

    // An honest shopper from their own address buys.
    let cart = app.cart_with(&variant, 3).await;
    let (status, order) =
        checkout_from(&app, &cart, "honest", "ada@example.com", "192.0.2.44").await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(app.stock_of(&variant).await, 9);

    // A guest's manual order is released after the guest hold (30 min), not the day.
    let id = uuid::Uuid::parse_str(order["id"].as_str().unwrap()).unwrap();
    let until = souk_storage::orders::detail(souk_storage::Exec::Db(&app.db), id)
        .await
        .unwrap()
        .unwrap()
        .order
        .hold_until
        .expect("a hold deadline");
    let placed_at = souk_domain::time::parse_rfc3339(order["placed_at"].as_str().unwrap()).unwrap();
    let hold = until - placed_at;
    assert!(
        (1_790_000..=1_810_000).contains(&hold),
        "held for {hold} ms"
    );
}

/// Defect 3: every spelling of a taxed region is taxed, or refused; none checks out untaxed.
#[tokio::test]
async fn every_spelling_of_a_taxed_region_is_taxed_or_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.seed("west", &[stocked("lamp", &[10_000], 100)]).await;
    let (status, rate) = app
        .send(
            Method::PUT,
            "/api/admin/tax-rates",
            &admin,
            Some(json!({"country": "us", "region": "California", "rate_bps": 800, "inclusive": false})),
        )
        .await;
    assert_eq!(
        (status, rate["region"].as_str()),
        (200, Some("CA")),
        "{rate}"
    );
    let (status, problem) = app
        .send(
            Method::PUT,
            "/api/admin/tax-rates",
            &admin,
            Some(json!({"country": "US", "region": "Narnia", "rate_bps": 800, "inclusive": false})),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("region"))
    );
    let variant = app.variant_ids("lamp").await.remove(0);
    let us = |region: &str| {
        json!({"name": "Ada", "line1": "1 Main St", "city": "Los Angeles", "region": region,
               "postal_code": "90001", "country": "US"})
    };
    for (i, spelling) in [
        "CA",
        "California",
        "ca.",
        " C A",
        "us-ca",
        "C-A",
        "CALIFORNIA",
    ]
    .iter()
    .enumerate()
    {
        let cart = app.cart_with(&variant, 1).await;
        let body = json!({"email": "west@example.com", "shipping_address": us(spelling), "payment_method": "manual"});
        let (status, order, _) = app.checkout(&cart, &format!("t{i}"), &body).await;
        assert_eq!(status, 201, "{spelling:?}: {order}");
        assert_eq!(order["tax"]["amount"], 800, "{spelling:?} is taxed");
        assert_eq!(order["shipping_address"]["region"], "CA");
    }
    for (i, spelling) in ["Calif", "", "Kalifornia", "CA-US"].iter().enumerate() {
        let cart = app.cart_with(&variant, 1).await;
        let body = json!({"email": "west@example.com", "shipping_address": us(spelling), "payment_method": "manual"});
        let (status, problem, _) = app.checkout(&cart, &format!("r{i}"), &body).await;
        assert_eq!(status, 400, "{spelling:?}: {problem}");
        assert_eq!(problem["errors"][0]["field"], "shipping_address.region");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("CA, CO"),
            "names the accepted codes: {problem}"
        );
        // The cart refuses it too.
        let (status, _) = app
            .shop(
                Method::PATCH,
                &format!("/api/store/carts/{cart}"),
                Some(json!({"shipping_address": us(spelling)})),
            )
            .await;
        assert_eq!(status, 400, "{spelling:?}");
    }
    // Countries are ISO codes.
    let cart = app.cart_with(&variant, 1).await;
    let mut body = checkout_body("x@example.com");
    body["shipping_address"]["country"] = json!("XX");
    assert_eq!(app.checkout(&cart, "xx", &body).await.0, 400);
}

/// Defect 4: one user holds at most the per-user cap however many sessions they open; vendors
/// must be approved to stream; the admin feed opens even when every other slot is taken.
#[tokio::test]
async fn one_user_holds_a_bounded_number_of_streams_and_admins_keep_a_reserve() {
    use crate::events::SseClient;
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        max_streams: 10, // 9 for everyone, 1 kept for admins
        ..config_with(souk_http::AbuseLimits::default())
    })
    .await;
    app.seed("s", &[stocked("cup", &[500], 50)]).await;
    let variant = app.variant_ids("cup").await.remove(0);
    let first = app.register("many@example.com").await;
    let mut sessions = vec![first];
    for _ in 0..2 {
        let body: Value = app
            .login("many@example.com", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        sessions.push(body["token"].as_str().unwrap().to_owned());
    }
    // The user's own order, to follow.
    let (status, order) = customer_checkout(
        &app,
        &sessions[0],
        &variant,
        "mine",
        "many@example.com",
        None,
    )
    .await;
    assert_eq!(status, 201, "{order}");
    let path = format!("/api/store/orders/{}/events", order["id"].as_str().unwrap());
    let mut held = Vec::new();
    for round in 0..4 {
        for token in &sessions {
            held.push(SseClient::open(&app, &path, Some(token), None).await);
        }
        let _ = round;
    }
    let open = wait_for_streams(&app, |n| n <= 8).await;
    assert_eq!(open, 8, "12 streams over 3 sessions: the user holds 8");

    // A vendor awaiting approval cannot stream at all.
    let (pending, _) = app
        .vendor_owner("pending@example.com", "pending-shop")
        .await;
    let (status, problem) = app
        .send(Method::GET, "/api/vendor/events", &pending, None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("vendor_not_approved"))
    );

    // Another shopper takes the last general slot; then the server is full for shoppers…
    let other = app.register("other@example.com").await;
    let (_, theirs) =
        customer_checkout(&app, &other, &variant, "theirs", "other@example.com", None).await;
    let their_path = format!(
        "/api/store/orders/{}/events",
        theirs["id"].as_str().unwrap()
    );
    held.push(SseClient::open(&app, &their_path, Some(&other), None).await);
    let (status, problem) = app.send(Method::GET, &their_path, &other, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("too_many_streams"))
    );
    // …but the admin feed still opens.
    let admin = app.admin_token().await;
    let _feed = SseClient::open(&app, "/api/admin/events", Some(&admin), None).await;
    assert_eq!(wait_for_streams(&app, |n| n == 10).await, 10);
}

async fn wait_for_streams(app: &TestApp, done: impl Fn(usize) -> bool) -> usize {
    let started = std::time::Instant::now();
    loop {
        let text = app.get("/metrics").await.text().await.unwrap();
        let n = text
            .lines()
            .find_map(|l| l.strip_prefix("souk_sse_streams "))
            .map_or(0, |v| v.trim().parse::<f64>().unwrap() as usize);
        if done(n) || started.elapsed() > Duration::from_secs(5) {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Defect 5: a shipping charge that does not fit is refused at cart and checkout time (422),
/// never saved as a saturated total, and the money reports stay up for everyone.
#[tokio::test]
async fn an_order_total_beyond_the_bound_is_refused_and_reports_stay_up() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "heavy@example.com", "heavy")
        .await;
    app.shipping_rates(
        &vendor,
        &[ShippingRate::by_weight("Freight", 0, 1_000_000_000_000)],
    )
    .await;
    // Free goods: the old saturated shipping charge was then the whole total, i64::MAX.
    let mut anvil = stocked("anvil", &[0], 1000);
    anvil.variants[0].grams = 1_000_000_000;
    app.seed("heavy", &[anvil]).await;
    let variant = app.variant_ids("anvil").await.remove(0);
    let cart = app.new_cart().await;
    let (status, _) = app
        .shop(
            Method::POST,
            &format!("/api/store/carts/{cart}/items"),
            Some(json!({"variant_id": variant, "quantity": 100})),
        )
        .await;
    assert!(status == 201 || status == 422, "{status}");
    let (status, problem) = app
        .shop(Method::GET, &format!("/api/store/carts/{cart}"), None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("cart_invalid")),
        "{problem}"
    );
    let (status, problem, _) = app
        .checkout(&cart, "huge", &checkout_body("rich@example.com"))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("cart_invalid")),
        "{problem}"
    );
    assert_eq!(app.stock_of(&variant).await, 1000, "nothing taken");
    // Reports answer for everyone.
    let (status, report) = app
        .send(Method::GET, "/api/admin/payouts/report", &admin, None)
        .await;
    assert_eq!(status, 200, "{report}");
    let (status, balance) = app
        .send(Method::GET, "/api/vendor/balance", &vendor, None)
        .await;
    assert_eq!(status, 200, "{balance}");
}

fn formula_like(cell: &str) -> bool {
    cell.trim_start_matches([' ', '\'', '"'])
        .starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// Defect 6: no exported cell can run as a spreadsheet formula, and a Souk export re-imports
/// unchanged.
#[tokio::test]
async fn csv_exports_neutralise_formulas_and_round_trip() {
    const CORPUS: [&str; 5] = [
        "=HYPERLINK(\"http://evil.example\",\"x\")",
        "+cmd|' /C calc'!A0",
        "@SUM(1+1)",
        "-2+3",
        " =1+1",
    ];
    let first = TestApp::spawn().await;
    let mut p = product("formulas", CORPUS[0], &[1000]);
    p.product_type = CORPUS[1].to_owned();
    p.tags = vec![CORPUS[2].to_owned(), "=1".to_owned()];
    p.variants[0].sku = Some(CORPUS[3].to_owned());
    p.variants[0].option_values = vec![CORPUS[4].trim().to_owned()];
    first.seed("csv-shop", &[p]).await;
    let exported = run(first.souk().args(["export", "products"]));
    assert!(exported.status.success(), "{}", stderr(&exported));
    let csv1 = stdout(&exported);
    let mut reader = csv::Reader::from_reader(csv1.as_bytes());
    let mut cells = 0;
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            cells += 1;
            if formula_like(cell) {
                assert!(cell.starts_with('\''), "a live formula: {cell:?}");
            }
        }
    }
    assert!(cells > 20);
    assert!(csv1.contains("'=HYPERLINK"), "{csv1}");
    // Round trip: the same catalog, character for character.
    let second = TestApp::spawn().await;
    let file = second.database.dir.path().join("again.csv");
    std::fs::write(&file, &csv1).unwrap();
    let out = run(second
        .souk()
        .args(["import", "products"])
        .arg(&file)
        .args(["--vendor", "csv-shop"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let a = walk(&first, "/api/store/products?limit=100").await;
    let b = walk(&second, "/api/store/products?limit=100").await;
    assert_eq!(handles(&a), handles(&b));
    let (_, one) = second.get_json("/api/store/products/formulas").await;
    assert_eq!(one["title"], CORPUS[0]);
    assert_eq!(one["product_type"], CORPUS[1]);
    assert_eq!(one["tags"], json!([CORPUS[2], "=1"]));
    assert_eq!(one["variants"][0]["sku"], CORPUS[3]);
    assert_eq!(
        stdout(&run(second.souk().args(["export", "products"]))),
        csv1
    );

    // The payout report: a vendor named like a formula.
    let admin = first.admin_token().await;
    let owner = first.register("f@example.com").await;
    let id = first
        .apply_as_vendor(&owner, "@SUM(A1:A9)", "formula-vendor")
        .await;
    first.approve_vendor(&admin, &id).await;
    let report = first
        .client
        .get(first.url("/api/admin/payouts/report?format=csv"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(report.as_bytes());
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            if formula_like(cell) && cell.parse::<i64>().is_err() {
                assert!(cell.starts_with('\''), "a live formula: {cell:?}");
            }
        }
    }
    assert!(report.contains("'@SUM(A1:A9)"), "{report}");
}

/// Defect 7: a replayed checkout (same key, same body) goes only to who may act on the cart.
#[tokio::test]
async fn a_checkout_replay_by_anyone_else_is_404_like_the_cart() {
    let app = TestApp::spawn().await;
    app.seed("s", &[stocked("mug", &[1200], 10)]).await;
    let variant = app.variant_ids("mug").await.remove(0);
    let owner = app.register("owner@example.com").await;
    let stranger = app.register("stranger@example.com").await;
    let (_, cart) = app
        .send(Method::POST, "/api/store/carts", &owner, None)
        .await;
    let cart = cart["id"].as_str().unwrap().to_owned();
    app.send(
        Method::POST,
        &format!("/api/store/carts/{cart}/items"),
        &owner,
        Some(json!({"variant_id": variant, "quantity": 1})),
    )
    .await;
    let body = checkout_body("owner@example.com");
    let attempt = |token: Option<String>| {
        let mut request = app
            .client
            .post(app.url(&format!("/api/store/carts/{cart}/checkout")))
            .header("Idempotency-Key", "the-key")
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let (status, first) = status_json(attempt(Some(owner.clone())).await.unwrap()).await;
    assert_eq!(status, 201, "{first}");
    for who in [None, Some(stranger)] {
        let (status, problem) = status_json(attempt(who).await.unwrap()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("not_found")),
            "{problem}"
        );
        assert!(problem.get("access_token").is_none());
    }
    let (status, again) = status_json(attempt(Some(owner)).await.unwrap()).await;
    assert_eq!(status, 201);
    assert_eq!(again["access_token"], first["access_token"]);
}

/// Defect 8: a vendor awaiting approval drafts nothing that takes a global name.
#[tokio::test]
async fn a_vendor_awaiting_approval_takes_no_handle_or_sku() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (squatter, _) = app.vendor_owner("squat@example.com", "squat").await;
    let input = json!({"handle": "classic-linen-shirt", "title": "Shirt", "status": "draft",
        "options": ["Size"], "variants": [{"sku": "CLS-M", "options": ["M"], "price": {"amount": 3000, "currency": "USD"}, "stock": 5}]});
    let (status, problem) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &squatter,
            Some(input.clone()),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("vendor_not_approved")),
        "{problem}"
    );
    let (real, _) = app
        .approved_vendor(&admin, "real@example.com", "real")
        .await;
    let (status, created) = app
        .send(Method::POST, "/api/vendor/products", &real, Some(input))
        .await;
    assert_eq!(
        status, 201,
        "the real vendor gets the handle and SKU: {created}"
    );
}

/// Defect 9: registration answers the same for a new and a taken address (the owner is
/// emailed), and is limited per client address.
#[tokio::test]
async fn registration_answers_the_same_whether_or_not_the_email_exists() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let limits = souk_http::AbuseLimits {
        registrations_per_address: 3,
        ..shipped_limits()
    };
    let app = TestApp::spawn_full(
        config_with(limits),
        souk_http::server::ServerLimits::default(),
        Some(smtp.url()),
    )
    .await;
    let register = async |email: &str| {
        let response = app
            .request_raw(
                Method::POST,
                "/api/auth/register",
                None,
                Some(json!({"email": email, "password": PASSWORD, "name": "Someone"})),
            )
            .await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    };
    let new = register("first@example.com").await;
    let taken = register("FIRST@example.com").await;
    let other = register("second@example.com").await;
    assert_eq!(new, taken);
    assert_eq!(new, other);
    assert_eq!(new.0, 202);
    let (status, _) = register("fourth@example.com").await;
    assert_eq!(status, 429, "the address's registrations per hour");
    // The owner of the taken address heard about it; the requester learned nothing.
    let mail = smtp.wait_for_exactly(3, Duration::from_secs(20)).await;
    let to_first: Vec<_> = mail
        .values()
        .filter(|(_, raw)| raw.contains("To: first@example.com"))
        .collect();
    assert_eq!(to_first.len(), 2, "verification, then the notice");
    assert!(
        to_first
            .iter()
            .any(|(copies, raw)| *copies == 1 && raw.contains("already have")),
        "{to_first:?}"
    );
}

/// Defect 10: a per-customer coupon counts the mailbox (case, +tags) and a logged-in
/// customer's account, not the typed spelling.
#[tokio::test]
async fn per_customer_coupons_count_the_mailbox_not_the_spelling() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.seed("deals", &[stocked("pen", &[800], 100)]).await;
    app.coupons(
        &admin,
        &[Coupon::percent("ONCE", 5000).per_customer_limit(1)],
    )
    .await;
    let variant = app.variant_ids("pen").await.remove(0);
    let with_coupon = async |token: Option<&str>, email: &str, key: &str| {
        let cart = match token {
            Some(t) => {
                let (_, c) = app.send(Method::POST, "/api/store/carts", t, None).await;
                let c = c["id"].as_str().unwrap().to_owned();
                app.send(
                    Method::POST,
                    &format!("/api/store/carts/{c}/items"),
                    t,
                    Some(json!({"variant_id": variant, "quantity": 1})),
                )
                .await;
                c
            }
            None => app.cart_with(&variant, 1).await,
        };
        let mut request = app
            .client
            .put(app.url(&format!("/api/store/carts/{cart}/coupon")))
            .json(&json!({"code": "ONCE"}));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        assert_eq!(request.send().await.unwrap().status(), 200);
        let mut request = app
            .client
            .post(app.url(&format!("/api/store/carts/{cart}/checkout")))
            .header("Idempotency-Key", key)
            .json(&checkout_body(email));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let (status, body) = status_json(request.send().await.unwrap()).await;
        (status, body["code"].as_str().map(str::to_owned))
    };
    assert_eq!(
        with_coupon(None, "shopper+2@example.com", "g1").await.0,
        201
    );
    for (i, email) in ["SHOPPER+3@example.com", "shopper@EXAMPLE.com"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            with_coupon(None, email, &format!("g{}", i + 2)).await,
            (409, Some("coupon_customer_limit_reached".to_owned())),
            "{email}"
        );
    }
    // A logged-in customer is counted by their account, whatever address they type.
    let customer = app.register("member@example.com").await;
    assert_eq!(
        with_coupon(Some(&customer), "gift1@example.com", "m1")
            .await
            .0,
        201
    );
    assert_eq!(
        with_coupon(Some(&customer), "gift2@example.com", "m2").await,
        (409, Some("coupon_customer_limit_reached".to_owned()))
    );
}

/// Defect 11: the data directory is 0700 and every file in it 0600 — the database, its WAL,
/// the server key and the .eml files with live links — and a password change expires the
/// reset links mailed before it.
#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn().await;
    let data = app.database.dir.path().join("private-data");
    let port = free_port();
    let mut server = std::process::Command::new(crate::helpers::souk_bin())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["--log-level", "warn", "--data-dir"])
        .arg(&data)
        .args(if on_postgres() {
            vec!["--database-url".to_owned(), app.database.url.clone()]
        } else {
            vec![]
        })
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let served = TestApp::remote(format!("http://127.0.0.1:{port}"), &app).await;
    served.register("private@example.com").await;
    let mail = data.join("mail");
    let started = std::time::Instant::now();
    let eml = loop {
        let found = std::fs::read_dir(&mail).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        if let Some(path) = found {
            break path;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no email written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&mail), 0o700);
    assert_eq!(mode(&eml), 0o600);
    assert_eq!(mode(&data.join("secret.key")), 0o600);
    if !on_postgres() {
        for file in ["souk.db", "souk.db-wal", "souk.db-shm"] {
            assert_eq!(mode(&data.join(file)), 0o600, "{file}");
        }
    }
    let _ = server.kill();
    let _ = server.wait();

    // A reset link mailed before a password change no longer works after it.
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let token = app.register("linked@example.com").await;
    smtp.wait_for_exactly(1, Duration::from_secs(20)).await;
    assert_eq!(
        app.shop(
            Method::POST,
            "/api/auth/password-reset",
            Some(json!({"email": "linked@example.com"})),
        )
        .await
        .0,
        202
    );
    let mail = smtp.wait_for_exactly(2, Duration::from_secs(20)).await;
    let reset = mail
        .values()
        .find(|(_, raw)| raw.contains("reset-password"))
        .expect("the reset email")
        .1
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = reset.find("token=").unwrap() + "token=".len();
    let link: String = reset[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert_eq!(
        app.send(
            Method::POST,
            "/api/auth/change-password",
            &token,
            Some(json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"})),
        )
        .await
        .0,
        200
    );
    let (status, problem) = app
        .shop(
            Method::POST,
            "/api/auth/password-reset/confirm",
            Some(json!({"token": link, "password": "the attacker's passphrase"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_token"))
    );
    assert_eq!(
        app.login("linked@example.com", "a brand new passphrase")
            .await
            .status(),
        200
    );
}

/// Also found: sending on demand (test events, recovery) needs an approved vendor and is
/// limited per endpoint, so the shop is no request reflector.
#[tokio::test]
async fn webhook_tests_and_recoveries_need_an_approved_vendor_and_are_limited() {
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        webhooks: souk_http::WebhookSettings {
            policy: souk_domain::webhooks::TargetPolicy {
                allow_http: true,
                allow_private: true,
            },
            ..souk_http::WebhookSettings::default()
        },
        ..config_with(souk_http::AbuseLimits {
            webhook_actions_per_endpoint: 2,
            ..shipped_limits()
        })
    })
    .await;
    let admin = app.admin_token().await;
    let hook = json!({"url": "http://127.0.0.1:9/hook", "events": ["order.paid"]});
    let (pending, _) = app.vendor_owner("reflect@example.com", "reflect").await;
    let (status, endpoint) = app
        .send(
            Method::POST,
            "/api/vendor/webhooks",
            &pending,
            Some(hook.clone()),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let recover = json!({"since": "2026-01-01T00:00:00Z"});
    for (path, body) in [("test", None), ("recover", Some(recover.clone()))] {
        let (status, problem) = app
            .send(
                Method::POST,
                &format!("/api/vendor/webhooks/{id}/{path}"),
                &pending,
                body,
            )
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("vendor_not_approved")),
            "{path}"
        );
    }
    let (vendor, _) = app
        .approved_vendor(&admin, "ok@example.com", "ok-shop")
        .await;
    let (_, endpoint) = app
        .send(Method::POST, "/api/vendor/webhooks", &vendor, Some(hook))
        .await;
    let id = endpoint["id"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    for path in ["test", "recover", "test"] {
        let body = (path == "recover").then(|| recover.clone());
        let (status, _) = app
            .send(
                Method::POST,
                &format!("/api/vendor/webhooks/{id}/{path}"),
                &vendor,
                body,
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses, [202, 202, 429]);
    // A new endpoint does not bring a new budget.
    let (_, again) = app
        .send(
            Method::POST,
            "/api/vendor/webhooks",
            &vendor,
            Some(json!({"url": "http://127.0.0.1:9/other", "events": ["order.paid"]})),
        )
        .await;
    let again = again["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/vendor/webhooks/{again}/test"),
            &vendor,
            None,
        )
        .await;
    assert_eq!(status, 429);
}

/// Also found: IPv4-translated IPv6 addresses (`::ffff:0:a.b.c.d`) are not public.
#[tokio::test]
async fn ipv4_translated_addresses_are_refused_as_webhook_targets() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    for url in [
        "https://[::ffff:0:7f00:1]/hook",
        "https://[::ffff:0:a9fe:a9fe]/latest",
    ] {
        let (status, problem) = app
            .send(
                Method::POST,
                "/api/admin/webhooks",
                &admin,
                Some(json!({"url": url, "events": ["order.paid"]})),
            )
            .await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (400, Some("url")),
            "{url}"
        );
    }
}

/// Also found: text-direction controls cannot hide in names and addresses.
#[tokio::test]
async fn bidi_controls_are_refused_in_names_and_addresses() {
    let app = TestApp::spawn().await;
    app.seed("s", &[stocked("pen", &[800], 10)]).await;
    for name in ["Ada\u{202E}ecalovol", "\u{2066}admin\u{2069}"] {
        let (status, problem) = app
            .shop(
                Method::POST,
                "/api/auth/register",
                Some(json!({"email": "bidi@example.com", "password": PASSWORD, "name": name})),
            )
            .await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (400, Some("name"))
        );
    }
    let variant = app.variant_ids("pen").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let mut body = checkout_body("bidi@example.com");
    body["shipping_address"]["line1"] = json!("1 Main St\u{202D}");
    let (status, problem, _) = app.checkout(&cart, "bidi", &body).await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("shipping_address.line1"))
    );
    let _ = address();
}

/// Also found: a request whose PostgreSQL connection dies under it answers 503
/// `database_unavailable` with `Retry-After` (transient), and writes nothing.
#[tokio::test]
async fn postgres_only_a_request_whose_database_connection_dies_gets_503_database_unavailable() {
    // SQLite is in the process: there is no connection to lose.
    if !crate::helpers::only_on(crate::helpers::Backend::Postgres) {
        return;
    }
    use sqlx::Connection;
    let app = TestApp::spawn().await;
    app.seed("s", &[stocked("pen", &[800], 10)]).await;
    let variant = app.variant_ids("pen").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    // Hold the cart's row so the checkout waits on it, then end the checkout's connection.
    let mut holder = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT id FROM carts WHERE id = $1 FOR UPDATE")
        .bind(uuid::Uuid::parse_str(&cart).unwrap())
        .execute(&mut holder)
        .await
        .unwrap();
    let checkout = {
        let request = app
            .client
            .post(app.url(&format!("/api/store/carts/{cart}/checkout")))
            .header("Idempotency-Key", "dies")
            .json(&checkout_body("dies@example.com"));
        tokio::spawn(request.send())
    };
    // Watched from a connection of its own: inside the holder's transaction, PostgreSQL would
    // answer every look at pg_stat_activity from the snapshot of the first (a checkout that
    // reached the lock after that first look would never be seen).
    let mut watcher = sqlx::PgConnection::connect(&app.database.url)
        .await
        .unwrap();
    let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut holder)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> $1 \
             AND wait_event_type = 'Lock'",
        )
        .bind(holder_pid)
        .fetch_all(&mut watcher)
        .await
        .unwrap();
        if !killed.is_empty() {
            break;
        }
        assert!(
            !checkout.is_finished(),
            "the checkout answered without waiting for the cart's lock"
        );
        // Generous: on a loaded machine (the whole suite in parallel) the request may take a
        // while to reach the lock.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the checkout never waited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = checkout.await.unwrap().unwrap();
    let retry = retry_after(&response);
    let (status, problem) = status_json(response).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (503, Some("database_unavailable")),
        "{problem}"
    );
    assert!(retry.is_some());
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    assert_eq!(app.stock_of(&variant).await, 10, "nothing was written");
}
