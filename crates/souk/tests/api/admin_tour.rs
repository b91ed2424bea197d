//! Every admin page, in Chromium, over a shop whose every name, title and address is an XSS
//! attempt: no script runs (no dialog), nothing is injected, no request leaves for another
//! host, axe-core finds no serious or critical violation, and each page's screenshot is kept.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_panel::sign_in;
use crate::browser::Browser;
use crate::checkout::checkout_body;
use crate::helpers::{TestApp, product};

/// Markup that would run script or fetch from another host if it were not escaped.
const XSS: &[&str] = &[
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "\"><svg onload=alert(3)>",
    "'><iframe src=javascript:alert(4)>",
    "<img src=https://evil.example/x.png>",
];

fn hostile(i: usize) -> String {
    format!("Tricky {}", XSS[i % XSS.len()])
}

/// A shop where vendors, products, customers, addresses, categories, webhooks and keys carry
/// the corpus. Returns the ids the tour's pages need.
async fn hostile_shop(app: &TestApp, admin: &str) -> Value {
    let owner = app.register("owner@example.com").await;
    let vendor = app
        .apply_as_vendor(&owner, &hostile(0), "tricky-shop")
        .await;
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor}/approve"),
            admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.seed(
        "tricky-shop",
        &[product("tricky-teapot", &hostile(1), &[2500])],
    )
    .await;
    let (status, body) = app
        .shop(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": "victim@example.com", "password": "correct horse battery staple", "name": hostile(2)})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let variant = app.variant_ids("tricky-teapot").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let mut body = checkout_body("guest@example.com");
    body["shipping_address"]["name"] = Value::from(hostile(3));
    body["shipping_address"]["line1"] = Value::from(hostile(4));
    body["shipping_address"]["city"] = Value::from(hostile(1));
    let (status, order, _) = app.checkout(&cart, "tour", &body).await;
    assert_eq!(status, 201, "{order}");
    for (path, body) in [
        ("/api/admin/categories", json!({"name": hostile(0)})),
        (
            "/api/admin/webhooks",
            json!({"url": "https://hooks.example.com/x", "events": ["order.paid"], "description": hostile(2)}),
        ),
        (
            "/api/admin/api-keys",
            json!({"name": hostile(3), "scopes": ["admin:read"]}),
        ),
        (
            "/api/admin/coupons",
            json!({"code": "TOUR10", "kind": "percent", "value": 1000}),
        ),
    ] {
        let (status, made) = app.send(Method::POST, path, admin, Some(body)).await;
        assert_eq!(status, 201, "{path}: {made}");
    }
    let category = souk_storage::catalog::all_categories(&app.db)
        .await
        .unwrap()[0]
        .id;
    let endpoint = souk_storage::webhooks::list(&app.db, souk_storage::webhooks::Owner::Platform)
        .await
        .unwrap()[0]
        .id;
    let key = souk_storage::api_keys::list(&app.db).await.unwrap()[0].id;
    let customer = souk_storage::accounts::user_by_email(&app.db, "victim@example.com")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (_, products) = app.get_json("/api/store/products").await;
    json!({
        "order": order["id"], "vendor": vendor, "category": category, "endpoint": endpoint,
        "key": key, "customer": customer, "product": products["items"][0]["id"],
    })
}

#[tokio::test]
async fn every_admin_page_escapes_hostile_data_loads_nothing_foreign_and_passes_axe() {
    let app = TestApp::spawn_with_worker(Default::default()).await;
    let admin = app.admin_token().await;
    let ids = hostile_shop(&app, &admin).await;
    let id = |name: &str| {
        ids[name]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| ids[name].to_string())
    };
    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;

    // The test email's result page comes from the form (the worker sends it to a file).
    browser.go("/admin/email").await;
    browser.click_and_wait("form.card button.primary").await;
    let email_result = browser.path().await;
    browser.find("#email-result").await;

    let pages: Vec<(&str, String)> = vec![
        ("admin-home", "/admin".into()),
        ("admin-search-hostile", "/admin/search?q=tricky".into()),
        ("admin-orders-all", "/admin/orders".into()),
        (
            "admin-order-hostile",
            format!("/admin/orders/{}", id("order")),
        ),
        (
            "admin-order-cancel-confirm",
            format!("/admin/orders/{}/cancel", id("order")),
        ),
        ("admin-vendors-all", "/admin/vendors".into()),
        (
            "admin-vendor-hostile",
            format!("/admin/vendors/{}", id("vendor")),
        ),
        (
            "admin-vendor-suspend",
            format!("/admin/vendors/{}/suspend", id("vendor")),
        ),
        ("admin-products-all", "/admin/products".into()),
        (
            "admin-product-unpublish",
            format!("/admin/products/{}/status?to=draft", id("product")),
        ),
        ("admin-categories-hostile", "/admin/categories".into()),
        (
            "admin-category-delete",
            format!("/admin/categories/{}/delete", id("category")),
        ),
        ("admin-customers-all", "/admin/customers".into()),
        (
            "admin-customer-hostile",
            format!("/admin/customers/{}", id("customer")),
        ),
        (
            "admin-customer-disable",
            format!("/admin/customers/{}/disable", id("customer")),
        ),
        ("admin-sessions", "/admin/sessions".into()),
        ("admin-money-coupons", "/admin/money".into()),
        ("admin-feed-hostile", "/admin/feed".into()),
        ("admin-jobs", "/admin/jobs".into()),
        ("admin-webhooks-hostile", "/admin/webhooks".into()),
        (
            "admin-webhook-hostile",
            format!("/admin/webhooks/{}", id("endpoint")),
        ),
        (
            "admin-webhook-delete",
            format!("/admin/webhooks/{}/delete", id("endpoint")),
        ),
        ("admin-api-keys-hostile", "/admin/api-keys".into()),
        (
            "admin-api-key-revoke",
            format!("/admin/api-keys/{}/revoke", id("key")),
        ),
        ("admin-email", "/admin/email".into()),
        ("admin-email-result", email_result),
        ("admin-audit-all", "/admin/audit".into()),
        (
            "admin-not-found",
            "/admin/orders/00000000-0000-0000-0000-000000000000".into(),
        ),
    ];
    for (name, path) in &pages {
        browser.go(path).await;
        browser.find("main h1").await;
        if name == &"admin-email-result" {
            // Wait for the worker's answer, so the page stops refreshing itself.
            let started = std::time::Instant::now();
            while browser.main_text().await.contains("Waiting") {
                assert!(
                    started.elapsed().as_secs() < 20,
                    "the test email never went"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                browser.go(path).await;
            }
        }
        browser.assert_clean_page(name, &app.base, None).await;
    }
    // The hostile text is shown as typed where it belongs.
    browser.go(&format!("/admin/orders/{}", id("order"))).await;
    let text = browser.main_text().await;
    assert!(
        text.contains(&hostile(3)) && text.contains(&hostile(4)),
        "{text}"
    );
    browser.close().await;

    // Signed out, the sign-in page too.
    let browser = Browser::open(&app.base).await;
    browser.go("/admin/sign-in").await;
    browser.find("#email").await;
    browser.assert_accessible("admin-sign-in").await;
    browser.screenshot("admin-sign-in").await;
    browser.close().await;
}
