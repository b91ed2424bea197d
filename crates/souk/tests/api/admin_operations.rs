//! Operations in the admin panel: platform webhook endpoints (register, test, redeliver,
//! delete), API keys (made, used, revoked), a test email through a real SMTP server and through
//! a dead one, and the live feed in Chromium.

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::admin_panel::{FormClient, hidden, sign_in, signed_in_client};
use crate::browser::Browser;
use crate::checkout::{checkout_body, stocked};
use crate::helpers::TestApp;
use crate::smtp::{SmtpServer, free_port};

#[tokio::test]
async fn an_admin_registers_a_platform_webhook_sees_its_secret_once_tests_redelivers_and_deletes_it()
 {
    let app = TestApp::spawn().await;
    let _admin = app.admin_token().await;
    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    browser.go("/admin/webhooks").await;
    browser.find("#url").await;
    browser.screenshot("admin-webhooks").await;
    browser.assert_accessible("admin-webhooks").await;

    // A URL the shop will not send to is refused beside the field.
    browser.fill("#url", "https://127.0.0.1/hook").await;
    browser.click_and_wait("form.card button.primary").await;
    let problem = browser.find("#url-problem").await.text().await.unwrap();
    assert!(!problem.is_empty());

    browser.fill("#url", "https://hooks.example.com/souk").await;
    browser.fill("#description", "ERP sync").await;
    browser.click_and_wait("form.card button.primary").await;
    let secret = browser.find("#secret").await.text().await.unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.screenshot("admin-webhook-created").await;
    browser.assert_accessible("admin-webhook-created").await;
    browser
        .click_and_wait("main a[href^='/admin/webhooks/']")
        .await;
    browser.find("#messages-title").await;
    assert!(
        !browser.main_text().await.contains(&secret),
        "the secret is not shown again"
    );

    browser.click_and_wait("form[action$='/test'] button").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Test event queued: its delivery shows below.");
    let page = browser.main_text().await;
    assert!(page.contains("webhook.test"), "{page}");
    browser.screenshot("admin-webhook").await;
    browser.assert_accessible("admin-webhook").await;
    browser.click_and_wait("table.messages form button").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "The message is sent again (same webhook-id).");

    browser.click_and_wait("a[href$='/delete']").await;
    browser.find("#confirm-title").await;
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Endpoint deleted.");
    assert!(browser.main_text().await.contains("No platform endpoints."));
    browser.close().await;
}

/// Posts the API-key form with `scopes` ticked.
async fn make_key(
    client: &FormClient,
    app: &TestApp,
    csrf: &str,
    scopes: &[&str],
    vendor: &str,
) -> (u16, String) {
    let ticked: Vec<String> = scopes.iter().map(|s| format!("scope:{s}")).collect();
    let mut form = vec![("csrf", csrf), ("name", "ERP"), ("vendor", vendor)];
    form.extend(ticked.iter().map(|k| (k.as_str(), "on")));
    let response = client.post(app.url("/admin/api-keys"), &form, None).await;
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn an_api_key_made_in_the_panel_works_until_it_is_revoked() {
    let app = TestApp::spawn().await;
    let _admin = app.admin_token().await;
    let client = signed_in_client(&app).await;
    let page = client
        .get(app.url("/admin/api-keys"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("No live keys."));
    let csrf = hidden(&page, "csrf");

    // A vendor's scope without the vendor is refused beside the vendor field.
    let (status, page) = make_key(&client, &app, &csrf, &["catalog:read"], "").await;
    assert_eq!(status, 422);
    assert!(page.contains("id=\"vendor-problem\""), "{page}");

    let (status, page) = make_key(&client, &app, &csrf, &["admin:read"], "").await;
    assert_eq!(status, 201, "{page}");
    let start = page.find("id=\"secret\">").unwrap() + "id=\"secret\">".len();
    let secret = page[start..].split('<').next().unwrap().to_owned();
    assert!(secret.starts_with("souk_k_"), "{secret}");
    let (status, _) = app
        .send(Method::GET, "/api/admin/orders", &secret, None)
        .await;
    assert_eq!(status, 200, "the key reads admin data");

    let list = client
        .get(app.url("/admin/api-keys"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!list.contains(&secret), "the secret is never listed");
    let list = list.replace("&#x2f;", "/");
    let start = list.find("/admin/api-keys/").unwrap();
    let revoke = list[start..].split('"').next().unwrap().to_owned();
    let confirm = client.get(app.url(&revoke)).await.text().await.unwrap();
    assert!(confirm.contains("Revoke the key “ERP”?"), "{confirm}");
    let revoked = client
        .post(
            app.url(&revoke),
            &[("csrf", csrf.as_str()), ("confirm", "yes")],
            None,
        )
        .await;
    assert_eq!(revoked.status(), 303);
    let (status, _) = app
        .send(Method::GET, "/api/admin/orders", &secret, None)
        .await;
    assert_eq!(status, 401, "revoked at once");

    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    browser.go("/admin/api-keys").await;
    browser.find("#name").await;
    browser.screenshot("admin-api-keys").await;
    browser.assert_accessible("admin-api-keys").await;
    browser.close().await;
}

/// Sends a test email from the panel and waits for its result page to know.
async fn test_email_result(app: &TestApp, to: &str) -> String {
    let client = signed_in_client(app).await;
    let page = client
        .get(app.url("/admin/email"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let sent = client
        .post(
            app.url("/admin/email"),
            &[("csrf", csrf.as_str()), ("to", to)],
            None,
        )
        .await;
    assert_eq!(sent.status(), 303);
    let location = sent.headers()["location"].to_str().unwrap().to_owned();
    let started = Instant::now();
    loop {
        let page = client.get(app.url(&location)).await.text().await.unwrap();
        if !page.contains("Waiting for the mail server") {
            return page;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no result: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_test_email_shows_whether_the_mail_server_took_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let _admin = app.admin_token().await;
    let page = test_email_result(&app, "ops@example.com").await;
    assert!(page.contains("Sent: the mail server accepted it"), "{page}");
    let mail = smtp.wait_for_exactly(1, Duration::from_secs(10)).await;
    let (_, raw) = mail.values().next().unwrap();
    assert!(
        raw.contains("To: ops@example.com") && raw.contains("test email"),
        "{raw}"
    );

    // With the mail server gone, the page says what went wrong, after one try.
    smtp.stop();
    let page = test_email_result(&app, "ops@example.com").await;
    assert!(page.contains("Not sent. The mail server said:"), "{page}");

    // Not an address: refused beside the field.
    let client = signed_in_client(&app).await;
    let form = client
        .get(app.url("/admin/email"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&form, "csrf");
    let refused = client
        .post(
            app.url("/admin/email"),
            &[("csrf", csrf.as_str()), ("to", "not an address")],
            None,
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert!(refused.text().await.unwrap().contains("id=\"to-problem\""));
}

#[tokio::test]
async fn the_live_feed_shows_a_new_order_without_a_reload() {
    let app = TestApp::spawn().await;
    let _admin = app.admin_token().await;
    app.seed("acme", &[stocked("kettle", &[4500], 5)]).await;
    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    browser.go("/admin/feed").await;
    let empty = browser.main_text().await;
    assert!(empty.contains("Nothing has happened yet."), "{empty}");
    // Live once the stream is open.
    let started = Instant::now();
    while !browser
        .find("#feed-status")
        .await
        .text()
        .await
        .unwrap()
        .starts_with("Live")
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stream never opened"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let variant = app.variant_ids("kettle").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "feed", &checkout_body("feed@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let item = browser.find("#feed li.new").await;
    let text = item.text().await.unwrap();
    assert!(text.contains("order.created"), "{text}");
    let link = browser
        .find("#feed li.new a")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        link,
        format!("/admin/orders/{}", order["id"].as_str().unwrap())
    );
    browser.screenshot("admin-feed").await;
    browser.assert_accessible("admin-feed").await;
    browser.assert_no_dialog().await;
    browser.close().await;
}
