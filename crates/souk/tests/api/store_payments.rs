//! Card payment on the storefront with Stripe's Payment Element, in Chromium: a guest chooses
//! "Card" at checkout, is declined once, pays, and the order page shows the order paid. Stripe
//! is the fake of `payments.rs` (its API and a stand-in for Stripe.js, since js.stripe.com
//! cannot be reached from here). Over plain HTTP: the page's Content-Security-Policy lets in
//! Stripe's origins only where the card is paid, and a shop without a publishable key offers
//! (and accepts) manual payment only.

use std::time::Duration;

use reqwest::Method;
use souk_http::HttpConfig;
use souk_http::server::ServerLimits;

use crate::browser::Browser;
use crate::helpers::TestApp;
use crate::payments::{DECLINED_CARD, FakeStripe, PUBLISHABLE_KEY};
use crate::storefront::{fill_address, two_vendor_shop, wait_for_text};

async fn card_shop(fake: &FakeStripe, browser_keys: bool) -> TestApp {
    TestApp::spawn_with_providers(
        HttpConfig {
            catalog_cache_ttl: Duration::ZERO,
            stripe_browser: browser_keys.then(|| souk_http::StripeBrowser {
                publishable_key: PUBLISHABLE_KEY.to_owned(),
                js_url: format!("{}/v3/", fake.base),
            }),
            ..HttpConfig::default()
        },
        ServerLimits::default(),
        None,
        fake.provider(),
    )
    .await
}

/// The order's id from its page's path (`/orders/{id}?access_token=…`).
fn order_id(path: &str) -> String {
    path.trim_start_matches("/orders/")
        .split('?')
        .next()
        .unwrap()
        .to_owned()
}

async fn admin_order(app: &TestApp, admin: &str, id: &str) -> serde_json::Value {
    let (status, order) = app
        .send(Method::GET, &format!("/api/admin/orders/{id}"), admin, None)
        .await;
    assert_eq!(status, 200, "{order}");
    order
}

#[tokio::test]
async fn a_guest_pays_by_card_after_a_decline_and_the_order_page_shows_it_paid() {
    let fake = FakeStripe::start().await;
    let app = card_shop(&fake, true).await;
    let shop = two_vendor_shop(&app).await;
    let browser = Browser::open(&app.base).await;

    browser.go("/products/linen-scarf").await;
    browser.click_and_wait(".add .primary").await;
    browser.go("/checkout").await;
    fill_address(&browser, "card@example.com").await;
    browser.click("#pm-card").await;
    browser.click_and_wait("button[value='place']").await;
    let path = browser.path().await;
    assert!(
        path.starts_with("/orders/") && path.contains("access_token="),
        "{path}"
    );
    let id = order_id(&path);

    // The order waits for its payment, with Stripe's fields on the page.
    wait_for_text(&browser, "Card number").await;
    let page = browser.main_text().await;
    assert!(page.contains("Waiting for payment"), "{page}");
    assert!(page.contains("Pay 47.00 USD by card"), "{page}");
    assert!(!page.contains("needs JavaScript"), "{page}");
    browser.assert_accessible("store card payment").await;
    browser.screenshot("store-order-card-payment").await;
    assert_eq!(fake.created(), 1, "one PaymentIntent for the order");

    // Declined: the message beside the form, the order still unpaid, the form usable again.
    browser.fill("#card-number", DECLINED_CARD).await;
    browser.click("#pay-form button").await;
    wait_for_text(&browser, "Your card was declined.").await;
    let order = admin_order(&app, &shop.admin, &id).await;
    assert_eq!(order["status"], "pending_payment", "{order}");
    browser.screenshot("store-order-card-declined").await;

    // Another card: Stripe sends the browser back; Souk asks Stripe and the order is paid.
    browser.fill("#card-number", "4242424242424242").await;
    browser.click_and_wait("#pay-form button").await;
    wait_for_text(&browser, "Paid — being prepared").await;
    let page = browser.main_text().await;
    assert!(
        !page.contains("by card"),
        "no payment form on a paid order: {page}"
    );
    let back = browser.path().await;
    assert!(back.contains("redirect_status=succeeded"), "{back}");
    let order = admin_order(&app, &shop.admin, &id).await;
    assert_eq!(order["status"], "paid", "{order}");
    assert_eq!(order["paid"]["amount"], order["total"]["amount"], "{order}");
    assert_eq!(
        fake.created(),
        1,
        "still one PaymentIntent: {}",
        fake.created()
    );
    browser.screenshot("store-order-card-paid").await;
    browser.close().await;

    // Reloading the paid page changes nothing and asks Stripe for nothing new.
    let again = app.client.get(app.url(&back)).send().await.unwrap();
    assert_eq!(again.status(), 200);
    let csp = again.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        !csp.contains(&fake.base),
        "a paid order's page loads no Stripe: {csp}"
    );
}

#[tokio::test]
async fn only_the_card_payment_page_lets_stripe_in_and_without_a_publishable_key_cards_are_not_offered()
 {
    let fake = FakeStripe::start().await;
    let app = card_shop(&fake, true).await;
    let shop = two_vendor_shop(&app).await;

    // A card order placed through the API (the use case the pages call), and its page.
    let cart = app.cart_with(&shop.teapot[0], 1).await;
    let (status, order, _) = app
        .checkout(
            &cart,
            "csp-key",
            &crate::payments::stripe_checkout("csp@example.com"),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let page = app
        .client
        .get(app.url(&format!(
            "/orders/{}?access_token={}",
            order["id"].as_str().unwrap(),
            order["access_token"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in ["script-src", "frame-src", "connect-src"] {
        let part = csp
            .split(';')
            .find(|d| d.trim().starts_with(directive))
            .unwrap_or_else(|| panic!("no {directive} in {csp}"));
        assert!(part.contains(&fake.base), "{directive} lacks Stripe: {csp}");
    }
    assert!(
        csp.contains("script-src 'nonce-"),
        "scripts still need the nonce: {csp}"
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("data-key=\"{PUBLISHABLE_KEY}\"")),
        "{html}"
    );
    assert!(
        html.contains("_secret_"),
        "the client secret for the Payment Element"
    );

    // Every other page keeps the strict policy.
    for path in ["/", "/cart", "/products/linen-scarf"] {
        let other = app.client.get(app.url(path)).send().await.unwrap();
        let csp = other.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            !csp.contains(&fake.base) && !csp.contains("frame-src"),
            "{path}: {csp}"
        );
    }

    // Stripe enabled for the API but no publishable key: the checkout page offers no card,
    // and a forged "stripe" choice places nothing.
    let plain = card_shop(&fake, false).await;
    let plain_shop = two_vendor_shop(&plain).await;
    let browser = Browser::open(&plain.base).await;
    browser.go("/products/linen-scarf").await;
    browser.click_and_wait(".add .primary").await;
    browser.go("/checkout").await;
    fill_address(&browser, "forged@example.com").await;
    assert!(
        !browser.main_text().await.contains("Card"),
        "no card offered"
    );
    browser
        .client
        .execute(
            "document.getElementById('pm-manual').value = 'stripe';",
            vec![],
        )
        .await
        .unwrap();
    browser.click_and_wait("button[value='place']").await;
    assert_eq!(browser.path().await, "/checkout");
    wait_for_text(&browser, "Choose one of the payment methods shown.").await;
    let (_, orders) = plain
        .send(Method::GET, "/api/admin/orders", &plain_shop.admin, None)
        .await;
    assert_eq!(
        orders["items"].as_array().map(Vec::len),
        Some(0),
        "{orders}"
    );
    browser.close().await;
    let created = fake.created();
    assert_eq!(created, 1, "only the API's card order reached Stripe");
}
