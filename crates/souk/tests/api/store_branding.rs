//! The shop's branding from the admin panel (name, tagline, accent colour, footer links, logo)
//! reaches every storefront page at once; colours white text cannot be read on and links that
//! could run script are refused beside their fields. And a page template replaced by a file in
//! `DATA_DIR/templates/web/` is what `souk serve` shows; a broken one stops it at start-up.

use std::process::Stdio;

use crate::browser::Browser;
use crate::helpers::{TestApp, listening, souk_command, stop_gracefully, test_database};
use crate::storefront::two_vendor_shop;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn the_admin_brands_the_storefront_and_every_page_shows_it_at_once() {
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        // The storefront reads through the cache: a change must empty it.
        catalog_cache_ttl: std::time::Duration::from_secs(300),
        ..souk_http::HttpConfig::default()
    })
    .await;
    two_vendor_shop(&app).await;
    let browser = Browser::open(&app.base).await;
    browser.go("/").await;
    assert_eq!(browser.find(".brand").await.text().await.unwrap(), "Souk");

    browser
        .sign_in_at("/admin/sign-in", "root@souk.test", PASSWORD)
        .await;
    browser.go("/admin/storefront").await;
    browser.assert_accessible("admin storefront").await;
    browser.fill("#shop_name", "Bazaar Nine").await;
    browser
        .fill("#tagline", "Pots, scarves and more from small studios")
        .await;
    browser.fill("#accent_color", "#ffee00").await;
    browser.fill("#link0-label", "About us").await;
    browser.fill("#link0-url", "javascript:alert(1)").await;
    browser.click_and_wait("form.card button.primary").await;
    let problems = browser.main_text().await;
    assert!(problems.contains("too light"), "{problems}");
    assert!(problems.contains("must start with /"), "{problems}");
    // What was typed is kept; fix both and save.
    assert_eq!(
        browser
            .find("#shop_name")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Bazaar Nine")
    );
    browser.fill("#accent_color", "#0b6e4f").await;
    browser.fill("#link0-url", "/search?q=pots").await;
    browser.click_and_wait("form.card button.primary").await;
    assert!(browser.main_text().await.contains("Saved"));
    // The logo, uploaded from a file.
    let dir = tempfile::tempdir().unwrap();
    let logo = dir.path().join("logo.png");
    std::fs::write(&logo, crate::vendor_images::png(400, 200)).unwrap();
    browser
        .find("#logo")
        .await
        .send_keys(&logo.display().to_string())
        .await
        .unwrap();
    browser
        .click_and_wait("form[action='/admin/storefront/logo'] button")
        .await;
    assert!(browser.main_text().await.contains("Logo saved"));
    browser.screenshot("admin-storefront").await;

    for path in ["/", "/products/blue-teapot", "/cart", "/account/sign-in"] {
        browser.go(path).await;
        let brand = browser.find(".brand").await;
        assert_eq!(brand.text().await.unwrap(), "Bazaar Nine", "{path}");
        let src = brand
            .find(fantoccini::Locator::Css("img"))
            .await
            .unwrap()
            .attr("src")
            .await
            .unwrap()
            .unwrap();
        assert!(src.starts_with("/media/"), "{path}: {src}");
        let about = browser.find(".shop-foot a[href='/search?q=pots']").await;
        assert_eq!(about.text().await.unwrap(), "About us");
        assert!(
            browser
                .client
                .title()
                .await
                .unwrap()
                .ends_with("· Bazaar Nine"),
            "{path}"
        );
    }
    browser.go("/").await;
    assert!(
        browser
            .main_text()
            .await
            .contains("Pots, scarves and more from small studios")
    );
    // The accent colour is the buttons' colour (the light scheme is the browser's default).
    browser.go("/products/blue-teapot").await;
    let colour = browser
        .client
        .execute(
            "return getComputedStyle(document.querySelector('.add .primary')).backgroundColor;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(colour.as_str(), Some("rgb(11, 110, 79)"));
    browser.assert_accessible("store branded product").await;
    browser.screenshot("store-branded").await;
    browser.close().await;

    // Audited.
    let (_, login) = crate::helpers::status_json(app.login("root@souk.test", PASSWORD).await).await;
    let (_, audit) = app
        .send(
            reqwest::Method::GET,
            "/api/admin/audit-log?limit=20",
            login["token"].as_str().unwrap(),
            None,
        )
        .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["action"].as_str())
        .collect();
    assert!(
        actions.contains(&"shop.branding") && actions.contains(&"shop.logo"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_template_in_the_data_directory_replaces_the_built_in_page() {
    souk_payments::install_tls_provider();
    let database = test_database().await;
    let data = database.dir.path().join("data");
    let templates = data.join("templates/web/store");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(
        templates.join("home.html"),
        "{% extends \"store/base.html\" %}{% block content %}<h1>Our own front page</h1>\
         <p>Welcome to {{ shop_name }}.</p>{% endblock %}",
    )
    .unwrap();
    std::fs::write(templates.join("hom.html"), "a misspelt name").unwrap();
    let child = souk_command(&database)
        .env("SOUK_SHOP_NAME", "Corner Shop")
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed if an assertion fails before it is stopped.
    let mut server = KillOnDrop(Some(child));
    let child = server.0.as_mut().unwrap();
    let (_, base) = listening(child);
    let home = reqwest::get(format!("{base}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("<h1>Our own front page</h1>"), "{home}");
    assert!(home.contains("Welcome to Corner Shop."), "{home}");
    // The rest of the shop keeps the built-in templates (and the replaced one's layout).
    let cart = reqwest::get(format!("{base}/cart"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(cart.contains("Your cart is empty") && cart.contains("Corner Shop"));
    stop_gracefully(child);
    let out = server.0.take().unwrap().wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("hom.html") && log.contains("replaces no page template"),
        "{log}"
    );

    // A template that does not compile stops the server before it serves anything.
    std::fs::write(templates.join("home.html"), "{% block content %}{% if %}").unwrap();
    let out = souk_command(&database)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("store/home.html"), "{err}");
}

/// A server process killed when the test ends early.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
