//! Every vendor dashboard page, in Chromium, over a shop whose names, titles, options, image
//! alt text, customer address, webhook description and import file are XSS attempts: no
//! script runs (no dialog), nothing is injected, no request leaves for another host,
//! axe-core finds no serious or critical violation, and each page's screenshot is kept.

use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::checkout::checkout_body;
use crate::helpers::{TestApp, product};

/// XSS attempts for the page tours (the vendor dashboard's and the storefront's).
pub const XSS: &[&str] = &[
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    "\"><svg onload=alert(3)>",
    "'><iframe src=javascript:alert(4)>",
    "<img src=https://evil.example/x.png>",
];

/// A name made of "Tricky " and the `i`-th attempt.
pub fn hostile(i: usize) -> String {
    format!("Tricky {}", XSS[i % XSS.len()])
}

const PASSWORD: &str = "correct horse battery staple";

/// A photo for the product, uploaded with hostile alt text.
fn photo() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(300, 200, image::Rgb([200, 120, 40]));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[tokio::test]
async fn every_vendor_page_escapes_hostile_data_loads_nothing_foreign_and_passes_axe() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let owner = app.register("owner@example.com").await;
    let vendor = app
        .apply_as_vendor(&owner, &hostile(0), "tricky-shop")
        .await;
    app.approve_vendor(&admin, &vendor).await;
    let mut teapot = product("tricky-teapot", &hostile(1), &[2500, 2700]);
    teapot.option_names = vec![hostile(2)];
    teapot.variants[0].option_values = vec![hostile(3)];
    teapot.variants[1].option_values = vec![hostile(4)];
    teapot.images = Vec::new();
    app.seed("tricky-shop", &[teapot]).await;
    let (_, found) = app.get_json("/api/store/products/tricky-teapot").await;
    let product_id = found["id"].as_str().unwrap().to_owned();

    // An uploaded image with hostile alt text.
    let boundary = "tour-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\n",
        hostile(1)
    )
    .into_bytes();
    body.extend(photo());
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

    // A guest's order with a hostile name and address, paid.
    let variant = app.variant_ids("tricky-teapot").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let mut checkout = checkout_body("guest@example.com");
    checkout["shipping_address"]["name"] = Value::from(hostile(3));
    checkout["shipping_address"]["line1"] = Value::from(hostile(4));
    let (status, order, _) = app.checkout(&cart, "tour", &checkout).await;
    assert_eq!(status, 201, "{order}");
    app.pay_in_full(&admin, &order).await;
    let (_, orders) = app
        .send(Method::GET, "/api/vendor/orders", &owner, None)
        .await;
    let vendor_order = orders["items"][0]["id"].as_str().unwrap().to_owned();

    // A webhook endpoint with a hostile description.
    let (status, endpoint) = app
        .send(
            Method::POST,
            "/api/vendor/webhooks",
            &owner,
            Some(json!({"url": "https://hooks.example.com/x", "events": ["order.paid"], "description": hostile(2)})),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let endpoint = endpoint["id"].as_str().unwrap().to_owned();

    let browser = Browser::open(&app.base).await;
    browser
        .sign_in_at("/vendor/sign-in", "owner@example.com", PASSWORD)
        .await;

    // An import from a file with a hostile name and a refused line quoting hostile text.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{}.csv", XSS[0].replace('/', "")));
    std::fs::write(
        &file,
        format!(
            "Handle,Title,Variant Price\nok-cup,Cup,5\nbad-cup,\"{}\",\"{}\"\n",
            hostile(1).replace('"', "\"\""),
            hostile(2).replace('"', "\"\"")
        ),
    )
    .unwrap();
    browser.go("/vendor/products/import").await;
    browser
        .find("#f-file")
        .await
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    browser.click_and_wait("form.import button.primary").await;
    let import = browser.path().await;
    browser.find("table.rejected").await;

    let pages: Vec<(&str, String)> = vec![
        ("vendor-home", "/vendor".into()),
        ("vendor-orders", "/vendor/orders".into()),
        (
            "vendor-order-hostile",
            format!("/vendor/orders/{vendor_order}"),
        ),
        ("vendor-products-hostile", "/vendor/products".into()),
        ("vendor-product-new", "/vendor/products/new".into()),
        (
            "vendor-product-hostile",
            format!("/vendor/products/{product_id}"),
        ),
        (
            "vendor-product-archive",
            format!("/vendor/products/{product_id}/archive"),
        ),
        ("vendor-inventory-hostile", "/vendor/inventory".into()),
        ("vendor-import", "/vendor/products/import".into()),
        ("vendor-import-report-hostile", import),
        ("vendor-money", "/vendor/money".into()),
        ("vendor-shipping", "/vendor/shipping".into()),
        ("vendor-webhooks-hostile", "/vendor/webhooks".into()),
        (
            "vendor-webhook-hostile",
            format!("/vendor/webhooks/{endpoint}"),
        ),
        ("vendor-team", "/vendor/team".into()),
        ("vendor-shop-hostile", "/vendor/shop".into()),
        (
            "vendor-not-found",
            "/vendor/orders/00000000-0000-0000-0000-000000000000".into(),
        ),
    ];
    for (name, path) in &pages {
        browser.go(path).await;
        browser.find("main h1").await;
        // Images the page shows on purpose: the product's own (with their alt text).
        browser
            .assert_clean_page(name, &app.base, Some(".image-row img"))
            .await;
    }
    // The hostile text is shown as typed where it belongs.
    browser.go(&format!("/vendor/orders/{vendor_order}")).await;
    let text = browser.main_text().await;
    assert!(
        text.contains(&hostile(3)) && text.contains(&hostile(4)),
        "{text}"
    );
    browser.go(&format!("/vendor/products/{product_id}")).await;
    let alt = browser
        .find("input[name='img0.alt']")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(alt.as_deref(), Some(hostile(1).as_str()));
    browser.close().await;

    // Signed out: the sign-in and sign-up pages.
    let browser = Browser::open(&app.base).await;
    for (name, path) in [
        ("vendor-sign-in", "/vendor/sign-in"),
        ("vendor-sign-up", "/vendor/sign-up"),
    ] {
        browser.go(path).await;
        browser.find("#email").await;
        browser.assert_accessible(name).await;
        browser.screenshot(name).await;
    }
    browser.close().await;
}
