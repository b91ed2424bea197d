//! `souk serve --demo` can be played end to end: it prints a sign-in per role once, and those
//! sign-ins take a demo order from checkout to shipped.

use std::io::{BufRead, Read};
use std::process::Stdio;

use reqwest::Method;
use serde_json::{Value, json};

use crate::checkout::checkout_body;
use crate::helpers::{TestApp, listening_then, souk_command, stop_gracefully, test_database};

/// A demo sign-in as printed: email, password, role.
type SignIn = (String, String, String);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_a_sign_in_per_role_once_and_they_ship_a_demo_order() {
    let database = test_database().await;
    let mut child = souk_command(&database)
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_, base, mut out) = listening_then(&mut child);
    let mut printed = String::new();
    let mut sign_ins: Vec<SignIn> = Vec::new();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "output ended: {printed}"
        );
        printed.push_str(&line);
        if line.contains("POST /api/auth/login") {
            break;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3 && words[0].contains('@') {
            sign_ins.push((words[0].into(), words[1].into(), words[2..].join(" ")));
        }
    }
    assert_eq!(
        sign_ins.len(),
        4,
        "an admin and one owner per vendor:\n{printed}"
    );
    assert_eq!(sign_ins[0].2, "platform admin");
    let passwords: std::collections::HashSet<&str> =
        sign_ins.iter().map(|s| s.1.as_str()).collect();
    assert_eq!(passwords.len(), 4, "each password is its own");
    assert!(passwords.iter().all(|p| p.len() >= 20), "{passwords:?}");

    let app = TestApp::attach(base.clone(), database).await;
    let login = |email: String, password: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/api/auth/login"))
                .json(&json!({"email": email, "password": password}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{email} signs in");
            let body: Value = response.json().await.unwrap();
            body["token"].as_str().unwrap().to_owned()
        }
    };
    let admin = login(sign_ins[0].0.clone(), sign_ins[0].1.clone()).await;
    let (status, vendors) = app
        .send(Method::GET, "/api/admin/vendors", &admin, None)
        .await;
    assert_eq!(status, 200, "{vendors}");

    // Each owner sees their own shop; a guest buys from the first one.
    let (_, products) = app.get_json("/api/store/products?limit=100").await;
    let owner = &sign_ins[1];
    let owner_token = login(owner.0.clone(), owner.1.clone()).await;
    let (status, me) = app
        .send(Method::GET, "/api/auth/me", &owner_token, None)
        .await;
    assert_eq!(status, 200, "{me}");
    let vendor_handle = owner.0.split('@').next().unwrap();
    assert_eq!(me["vendor"]["role"], "owner", "{me}");
    assert_eq!(me["vendor"]["vendor_status"], "active");
    assert_eq!(me["email_verified"], true);
    let product = products["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["vendor"]["handle"] == vendor_handle)
        .unwrap_or_else(|| panic!("a product of {vendor_handle}"));
    assert_eq!(product["vendor"]["id"], me["vendor"]["vendor_id"]);
    let handle = product["handle"].as_str().unwrap();
    let variant = app.variant_ids(handle).await[0].clone();
    let cart = app.cart_with(&variant, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "demo-order-1", &checkout_body("guest@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_str().unwrap();
    let total = order["total"]["amount"].as_i64().unwrap();

    // The admin records the bank transfer; the owner ships their part.
    let (status, paid) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{order_id}/payments"),
            &admin,
            Some(json!({"amount": total, "reference": "demo transfer"})),
        )
        .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("paid")),
        "{paid}"
    );
    let (status, vendor_orders) = app
        .send(Method::GET, "/api/vendor/orders", &owner_token, None)
        .await;
    assert_eq!(status, 200, "{vendor_orders}");
    let vendor_order = vendor_orders["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, shipped) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{vendor_order}/fulfil"),
            &owner_token,
            Some(json!({"carrier": "DHL", "tracking_number": "JJD0001"})),
        )
        .await;
    assert_eq!(status, 200, "{shipped}");
    // Another vendor's owner sees none of it.
    let other = login(sign_ins[2].0.clone(), sign_ins[2].1.clone()).await;
    let (_, theirs) = app
        .send(Method::GET, "/api/vendor/orders", &other, None)
        .await;
    assert_eq!(theirs["items"], json!([]), "{theirs}");

    // A second start prints no sign-in; the first passwords still work.
    stop_gracefully(&mut child);
    let mut child = souk_command(&app.database)
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (_, base, mut out) = listening_then(&mut child);
    let again = TestApp::attach(
        base,
        crate::helpers::TestDatabase {
            url: app.database.url.clone(),
            dir: tempfile::tempdir().unwrap(),
        },
    )
    .await;
    let response = again
        .client
        .post(again.url("/api/auth/login"))
        .json(&json!({"email": sign_ins[0].0, "password": sign_ins[0].1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stop_gracefully(&mut child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert!(!rest.contains("@demo.example"), "printed again: {rest}");
}
