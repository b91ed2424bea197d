//! Every storefront page, in Chromium, over a shop whose vendor name, category, product title,
//! description, option names and values, image alt text and the shopper's own address are XSS
//! attempts: no script runs (no dialog), nothing is injected, no request leaves for another
//! host, axe-core finds no serious or critical violation, and each page's screenshot is kept.

use reqwest::Method;
use serde_json::json;

use crate::browser::Browser;
use crate::helpers::{TestApp, product};
use crate::scenario::ShippingRate;
use crate::vendor_tour::hostile;

/// Images a storefront page shows on purpose: products', shops' logos, and those a vendor put
/// in a description (made harmless by the sanitizer).
const OWN_IMAGES: &str = ".card img, .gallery img, .shop-head img, .shops img, .description img";

#[tokio::test]
async fn every_storefront_page_escapes_hostile_data_loads_nothing_foreign_and_passes_axe() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let owner = app.register("owner@example.com").await;
    let vendor = app
        .apply_as_vendor(&owner, &hostile(0), "tricky-shop")
        .await;
    app.approve_vendor(&admin, &vendor).await;
    let mut teapot = product("tricky-teapot", &hostile(1), &[2500, 2700]);
    teapot.category_path = vec![hostile(2), hostile(3)];
    teapot.description_html = "<p>Nice <script>alert(5)</script><img src=x onerror=alert(6)> \
         <a href=\"javascript:alert(7)\">more</a></p>"
        .to_owned();
    teapot.option_names = vec![hostile(2)];
    teapot.variants[0].option_values = vec![hostile(3)];
    teapot.variants[1].option_values = vec![hostile(4)];
    teapot.images = Vec::new();
    app.seed("tricky-shop", &[teapot]).await;
    app.shipping_rates(&owner, &[ShippingRate::flat(&hostile(4), 500)])
        .await;
    let (_, found) = app.get_json("/api/store/products/tricky-teapot").await;
    let product_id = found["id"].as_str().unwrap().to_owned();
    let category = found["categories"][0]["handle"]
        .as_str()
        .unwrap()
        .to_owned();
    // An uploaded image with hostile alt text.
    let boundary = "tour-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpg\"\r\n\r\n",
        hostile(0)
    )
    .into_bytes();
    body.extend(crate::vendor_images::jpeg(400, 300, 60));
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let uploaded = app
        .client
        .post(app.url(&format!("/api/vendor/products/{product_id}/images")))
        .bearer_auth(&owner)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);

    let browser = Browser::open(&app.base).await;
    let visit = |name: &'static str, path: String| {
        let browser = &browser;
        let base = app.base.clone();
        async move {
            browser.go(&path).await;
            browser.find("main h1").await;
            browser
                .assert_clean_page(name, &base, Some(OWN_IMAGES))
                .await;
        }
    };
    visit("store-tour-home", "/".into()).await;
    visit("store-tour-search", "/search?q=tricky".into()).await;
    visit("store-tour-category", format!("/categories/{category}")).await;
    visit("store-tour-vendor", "/vendors/tricky-shop".into()).await;
    visit("store-tour-product", "/products/tricky-teapot".into()).await;
    // The hostile text shows as typed where it belongs.
    let text = browser.main_text().await;
    assert!(
        text.contains(&hostile(1)) && text.contains(&hostile(3)),
        "{text}"
    );
    let alt = browser
        .find(".gallery img")
        .await
        .attr("alt")
        .await
        .unwrap();
    assert_eq!(alt.as_deref(), Some(hostile(0).as_str()));

    // Into the cart and through checkout with a hostile name and address.
    browser.click_and_wait(".add .primary").await;
    browser.find("main h1").await;
    browser
        .assert_clean_page("store-tour-cart", &app.base, Some(OWN_IMAGES))
        .await;
    browser.click_and_wait(".summary a.primary").await;
    browser
        .assert_clean_page("store-tour-checkout", &app.base, Some(OWN_IMAGES))
        .await;
    browser.fill("#f-email", "tricky@example.com").await;
    browser.fill("#f-name", &hostile(1)).await;
    browser.fill("#f-line1", &hostile(2)).await;
    browser.fill("#f-city", &hostile(3)).await;
    browser.fill("#f-postal_code", "12345").await;
    browser.click_and_wait("button[value='place']").await;
    browser.find("main h1").await;
    browser
        .assert_clean_page("store-tour-order", &app.base, Some(OWN_IMAGES))
        .await;
    assert!(browser.main_text().await.contains(&hostile(2)));

    // A refused form shows the typed text back, escaped.
    browser.go("/account/sign-up").await;
    browser.fill("#f-name", &hostile(0)).await;
    browser.fill("#f-email", &hostile(1)).await;
    browser.fill("#f-password", "short").await;
    browser.click_and_wait("form button.primary").await;
    browser.find("main h1").await;
    browser
        .assert_clean_page("store-tour-sign-up-refused", &app.base, Some(OWN_IMAGES))
        .await;

    for (name, path) in [
        ("store-tour-sign-in", "/account/sign-in"),
        ("store-tour-forgot", "/account/forgot-password"),
        ("store-tour-reset", "/reset-password?token=%3Cscript%3E"),
        ("store-tour-verify", "/verify-email?token=%3Cscript%3E"),
        ("store-tour-lookup", "/orders/lookup"),
        ("store-tour-not-found", "/products/%3Cscript%3Ealert(8)%3C"),
        ("store-tour-bad-filter", "/search?min_price=%3Cscript%3E"),
    ] {
        visit(name, path.to_owned()).await;
    }

    // Signed in: the account's pages.
    let (status, _) = app
        .shop(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": "shopper@example.com", "password": "a long enough passphrase", "name": hostile(4)})),
        )
        .await;
    assert!(status == 201 || status == 202, "{status}");
    browser.go("/account/sign-in").await;
    browser.fill("#f-email", "shopper@example.com").await;
    browser
        .fill("#f-password", "a long enough passphrase")
        .await;
    browser.click_and_wait("form button.primary").await;
    for (name, path) in [
        ("store-tour-account", "/account"),
        ("store-tour-sessions", "/account/sessions"),
        ("store-tour-password", "/account/password"),
    ] {
        visit(name, path.to_owned()).await;
    }
    browser.close().await;
}
