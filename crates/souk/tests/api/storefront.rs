//! The storefront in Chromium: a guest searches, filters, picks a variant, changes the cart in
//! place, buys from two vendors with a coupon and watches the order page turn to "Shipped" live as the vendors ship (through
//! the API); the same purchase with JavaScript off; and, over plain HTTP, what search engines
//! and a forged form get. Screenshots of every page go to `target/test-artifacts/`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::browser::Browser;
use crate::helpers::{TestApp, product};
use crate::scenario::{Coupon, ShippingRate};

/// Two approved vendors with products, shipping and a coupon: what the journeys shop in.
pub struct Shop {
    pub admin: String,
    pub potter: String,
    pub potter_id: String,
    pub weaver: String,
    /// The teapot's two variants (25.00 and 32.00).
    pub teapot: Vec<String>,
}

pub async fn two_vendor_shop(app: &TestApp) -> Shop {
    let admin = app.admin_token().await;
    let [potter, weaver] = app
        .vendors(
            &admin,
            [
                ("potter@example.com", "clay-studio"),
                ("weaver@example.com", "loom-house"),
            ],
        )
        .await;
    let mut teapot = product("blue-teapot", "Blue Teapot", &[2500, 3200]);
    teapot.category_path = vec!["Home".into(), "Kitchen".into()];
    teapot.description_html = "<p>A <strong>glazed</strong> teapot for two.</p>".into();
    teapot.images = Vec::new();
    let mut mug = product("stoneware-mug", "Stoneware Mug", &[1200]);
    mug.category_path = vec!["Home".into(), "Kitchen".into()];
    mug.images = Vec::new();
    let mut scarf = product("linen-scarf", "Linen Scarf", &[4000]);
    scarf.category_path = vec!["Apparel".into()];
    scarf.images = Vec::new();
    app.seed(&potter.handle, &[teapot, mug]).await;
    app.seed(&weaver.handle, &[scarf]).await;
    // A photo of the teapot, through the upload API (so the page shows its thumbnails).
    let (_, found) = app.get_json("/api/store/products/blue-teapot").await;
    let id = found["id"].as_str().unwrap();
    let boundary = "shop-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"alt\"\r\n\r\nThe blue teapot from the side\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"teapot.jpg\"\r\n\r\n"
    )
    .into_bytes();
    body.extend(crate::vendor_images::jpeg(1200, 900, 90));
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    let uploaded = app
        .client
        .post(app.url(&format!("/api/vendor/products/{id}/images")))
        .bearer_auth(&potter.token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    app.shipping_rates(&potter.token, &[ShippingRate::flat("Standard", 500)])
        .await;
    app.shipping_rates(&weaver.token, &[ShippingRate::flat("Courier", 700)])
        .await;
    app.coupons(&admin, &[Coupon::percent("SAVE10", 1000)])
        .await;
    Shop {
        admin,
        potter_id: potter.id.clone(),
        potter: potter.token,
        weaver: weaver.token,
        teapot: app.variant_ids("blue-teapot").await,
    }
}

/// Waits (up to 15 s) until the page's `<main>` shows `text`, without reloading it.
/// The `name=value` of the cookie `name` a response sets, as a browser sends it back.
fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| {
            v.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('='))
        })
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie set"))
        .to_owned()
}

pub async fn wait_for_text(browser: &Browser, text: &str) {
    let started = std::time::Instant::now();
    loop {
        let now = browser.main_text().await;
        if now.contains(text) {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "the page never showed {text:?}; it shows:\n{now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Waits (up to 15 s) until the page's `<main>` text satisfies `done`, without reloading.
async fn wait_for_main(browser: &Browser, what: &str, done: impl Fn(&str) -> bool) {
    let started = std::time::Instant::now();
    loop {
        let now = browser.main_text().await;
        if done(&now) {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(15),
            "never {what}; the page shows:\n{now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Ships everything `vendor` has to ship in its only order, through the API.
async fn ship_everything(app: &TestApp, vendor: &str, tracking: &str) {
    let (status, orders) = app
        .send(Method::GET, "/api/vendor/orders", vendor, None)
        .await;
    assert_eq!(status, 200, "{orders}");
    let id = orders["items"][0]["id"].as_str().unwrap();
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{id}/fulfil"),
            vendor,
            Some(json!({"carrier": "DHL", "tracking_number": tracking})),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
}

pub async fn fill_address(browser: &Browser, email: &str) {
    browser.fill("#f-email", email).await;
    browser.fill("#f-name", "Ada Lovelace").await;
    browser.fill("#f-line1", "12 St James's Square").await;
    browser.fill("#f-city", "London").await;
    browser.fill("#f-postal_code", "SW1Y 4JH").await;
    browser
        .find("#f-country option[value='GB']")
        .await
        .click()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_guest_searches_filters_buys_from_two_vendors_and_watches_the_order_ship_live() {
    let app = TestApp::spawn().await;
    let shop = two_vendor_shop(&app).await;
    let browser = Browser::open(&app.base).await;

    browser.go("/").await;
    let home = browser.main_text().await;
    for title in ["Blue Teapot", "Stoneware Mug", "Linen Scarf", "Kitchen"] {
        assert!(home.contains(title), "home page lacks {title}: {home}");
    }
    browser.assert_accessible("store home").await;
    browser.screenshot("store-home").await;

    // Search from the header, then narrow with the filters (all in the URL).
    browser.fill("#site-q", "teapot").await;
    browser.click_and_wait(".search button").await;
    assert!(browser.path().await.starts_with("/search?q=teapot"));
    let found = browser.main_text().await;
    assert!(
        found.contains("Blue Teapot") && !found.contains("Linen Scarf"),
        "{found}"
    );
    browser.fill("#f-max", "30").await;
    browser.click("#f-stock").await;
    browser.click_and_wait(".filters button").await;
    let path = browser.path().await;
    assert!(
        path.contains("max_price=30") && path.contains("in_stock=1"),
        "{path}"
    );
    assert!(browser.main_text().await.contains("Blue Teapot"));
    browser.assert_accessible("store search").await;
    browser.screenshot("store-search").await;
    // A filter that cannot be read is said beside its field; nothing is hidden by it.
    browser.go("/search?min_price=cheap").await;
    assert!(
        browser
            .find("#e-min")
            .await
            .text()
            .await
            .unwrap()
            .contains("like 25")
    );

    // The category page lists the kitchen's products, with the way back up.
    browser.go("/categories/kitchen").await;
    let kitchen = browser.main_text().await;
    assert!(kitchen.contains("Blue Teapot") && kitchen.contains("Stoneware Mug"));
    assert!(!kitchen.contains("Linen Scarf"));
    assert!(
        browser
            .find(".crumbs")
            .await
            .text()
            .await
            .unwrap()
            .contains("Home")
    );
    browser.assert_accessible("store category").await;
    browser.screenshot("store-category").await;

    // The product page: the photo with its thumbnails, the variants, structured data.
    browser
        .click_and_wait("a[href='/products/blue-teapot']")
        .await;
    let photo = browser.find(".gallery img.main").await;
    assert_eq!(
        photo.attr("alt").await.unwrap().as_deref(),
        Some("The blue teapot from the side")
    );
    assert!(
        photo
            .attr("srcset")
            .await
            .unwrap()
            .unwrap()
            .contains("480w")
    );
    let ld = browser
        .find("script[type='application/ld+json']")
        .await
        .prop("textContent")
        .await
        .unwrap()
        .unwrap();
    let ld: Value = serde_json::from_str(&ld).unwrap();
    assert_eq!(ld["@graph"][0]["name"], "Blue Teapot");
    assert_eq!(ld["@graph"][0]["offers"].as_array().unwrap().len(), 2);
    assert_eq!(ld["@graph"][0]["offers"][1]["price"], "32.00");
    browser.assert_accessible("store product").await;
    browser.screenshot("store-product").await;
    browser
        .click(&format!("input[value='{}']", shop.teapot[1]))
        .await;
    browser.fill("#qty", "2").await;
    browser.click_and_wait(".add .primary").await;
    assert_eq!(browser.path().await, "/cart");
    let cart = browser.main_text().await;
    assert!(
        cart.contains("Blue Teapot") && cart.contains("S2"),
        "{cart}"
    );
    assert!(cart.contains("64.00 USD"), "two at 32.00: {cart}");

    // From the second vendor.
    browser.go("/products/linen-scarf").await;
    browser.click_and_wait(".add .primary").await;
    let cart = browser.main_text().await;
    assert!(cart.contains("Linen Scarf"), "{cart}");
    assert!(browser.text_of(".cart-link").await.contains("3"));

    // With JavaScript the cart changes in place: a line removed, a quantity typed in, coupons
    // applied, all without leaving the page.
    browser.go("/products/stoneware-mug").await;
    browser.click_and_wait(".add .primary").await;
    assert!(browser.main_text().await.contains("Stoneware Mug"));
    browser.mark_page().await;
    browser
        .click("li.line:has(a[href='/products/stoneware-mug']) form.remove button")
        .await;
    wait_for_main(&browser, "the mug removed", |t| {
        !t.contains("Stoneware Mug")
    })
    .await;
    wait_for_text(&browser, "Removed from your cart.").await;
    let teapot = "li.line:has(a[href='/products/blue-teapot']) input[name='quantity']";
    browser.fill(teapot, "3").await;
    wait_for_text(&browser, "96.00 USD").await;
    browser.fill(teapot, "2").await;
    wait_for_main(&browser, "two teapots again", |t| {
        t.contains("64.00 USD") && !t.contains("96.00 USD")
    })
    .await;
    assert!(
        browser.text_of(".cart-link").await.contains("3"),
        "the header's count follows"
    );

    // A coupon that does not exist is refused beside the field; the real one applies.
    browser.fill("#f-code", "NOPE").await;
    browser.click(".coupon button").await;
    wait_for_text(&browser, "no such coupon").await;
    assert!(
        browser
            .find("#e-code")
            .await
            .text()
            .await
            .unwrap()
            .contains("no such coupon")
    );
    browser.fill("#f-code", "save10").await;
    browser.click(".coupon button").await;
    wait_for_text(&browser, "SAVE10").await;
    assert!(browser.still_marked().await, "the cart page was reloaded");
    let cart = browser.main_text().await;
    // (64.00 + 40.00) − 10 % = 93.60, plus shipping 5.00 + 7.00.
    assert!(
        cart.contains("−10.40 USD") && cart.contains("105.60 USD"),
        "{cart}"
    );
    browser.assert_accessible("store cart").await;
    browser.screenshot("store-cart").await;

    // Checkout: a missing field is shown beside it, then the order is placed.
    browser.click_and_wait(".summary a.primary").await;
    assert_eq!(browser.path().await, "/checkout");
    browser.assert_accessible("store checkout").await;
    browser.screenshot("store-checkout").await;
    browser.fill("#f-email", "ada@example.com").await;
    browser.click_and_wait("button[value='place']").await;
    assert!(
        browser
            .find("#e-name")
            .await
            .text()
            .await
            .unwrap()
            .contains("required")
    );
    fill_address(&browser, "ada@example.com").await;
    browser.click_and_wait("button[value='place']").await;
    let path = browser.path().await;
    assert!(
        path.starts_with("/orders/") && path.contains("access_token="),
        "{path}"
    );
    let order_page = browser.main_text().await;
    assert!(order_page.contains("Waiting for payment"), "{order_page}");
    assert!(order_page.contains("105.60 USD"), "{order_page}");
    browser.assert_accessible("store order").await;
    browser.screenshot("store-order-placed").await;
    assert_eq!(
        browser.text_of(".cart-link").await.trim(),
        "Cart",
        "the cart is empty after checkout"
    );

    // Paid and shipped through the API: the open page follows without a reload.
    browser.mark_page().await;
    let order_id = path
        .trim_start_matches("/orders/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (_, order) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{order_id}"),
            &shop.admin,
            None,
        )
        .await;
    app.pay_in_full(&shop.admin, &order).await;
    wait_for_text(&browser, "Paid").await;
    ship_everything(&app, &shop.potter, "POT-1").await;
    wait_for_text(&browser, "Partly shipped").await;
    ship_everything(&app, &shop.weaver, "LOOM-2").await;
    wait_for_text(&browser, "Shipped").await;
    wait_for_text(&browser, "LOOM-2").await;
    assert!(browser.still_marked().await, "the page was reloaded");
    browser.screenshot("store-order-shipped").await;
    browser.close().await;
}

#[tokio::test]
async fn a_shopper_without_javascript_browses_and_places_an_order() {
    let app = TestApp::spawn().await;
    let shop = two_vendor_shop(&app).await;
    let browser = Browser::open_without_javascript(&app.base).await;

    browser.go("/").await;
    browser
        .click_and_wait("a[href='/categories/kitchen']")
        .await;
    browser
        .click_and_wait("a[href='/products/blue-teapot']")
        .await;
    browser
        .click(&format!("input[value='{}']", shop.teapot[0]))
        .await;
    browser.click_and_wait(".add .primary").await;
    assert!(browser.main_text().await.contains("Blue Teapot"));
    // Change the quantity, then check out.
    browser
        .fill(".line form.qty input[name='quantity']", "3")
        .await;
    browser.click_and_wait(".line form.qty button").await;
    let cart = browser.main_text().await;
    assert!(cart.contains("75.00 USD"), "three at 25.00: {cart}");
    browser.click_and_wait(".summary a.primary").await;
    fill_address(&browser, "nojs@example.com").await;
    browser.click_and_wait("button[value='place']").await;
    let page = browser.main_text().await;
    assert!(
        page.contains("Order #") && page.contains("Waiting for payment"),
        "{page}"
    );
    assert!(page.contains("80.00 USD"), "75.00 + 5.00 shipping: {page}");
    browser.screenshot("store-order-without-javascript").await;
    browser.close().await;

    // The order is real: stock was taken.
    assert_eq!(app.stock_of(&shop.teapot[0]).await, 2);
}

#[tokio::test]
async fn search_engines_get_titles_structured_data_sitemaps_and_honest_statuses() {
    let app = TestApp::spawn().await;
    let shop = two_vendor_shop(&app).await;
    let page = |path: &str| {
        app.client
            .get(app.url(path))
            .header("accept", "text/html")
            .send()
    };

    let product = page("/products/blue-teapot").await.unwrap();
    assert_eq!(product.status(), 200);
    let csp = product.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'nonce-"), "{csp}");
    // (Templates escape `/` in attributes as `&#x2f;`, which browsers read as `/`.)
    let html = product.text().await.unwrap().replace("&#x2f;", "/");
    assert!(html.contains("<title>Blue Teapot · Souk</title>"), "{html}");
    assert!(html.contains("<meta name=\"description\" content=\"A glazed teapot for two.\">"));
    assert!(html.contains("rel=\"canonical\" href=\"http://127.0.0.1:"));
    assert!(html.contains("property=\"og:type\" content=\"product\""));
    assert!(html.contains("\"@type\":\"BreadcrumbList\""));

    // Unknown pages are 404 pages for browsers, problems for API clients.
    let missing = page("/products/no-such-thing").await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.text().await.unwrap().contains("Page not found"));
    let lost = page("/no/such/page").await.unwrap();
    assert_eq!(lost.status(), 404);
    assert!(
        lost.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let api = app.get("/no/such/page").await;
    assert_eq!(api.status(), 404);
    assert_eq!(
        api.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );

    // An archived product is gone for good (410), and leaves the sitemap.
    let (_, found) = app.get_json("/api/store/products/stoneware-mug").await;
    let mug = found["id"].as_str().unwrap();
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/vendor/products/{mug}/archive"),
            &shop.potter,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(page("/products/stoneware-mug").await.unwrap().status(), 410);

    let robots = page("/robots.txt").await.unwrap().text().await.unwrap();
    assert!(robots.contains("Disallow: /checkout") && robots.contains("/sitemap.xml"));
    let index = page("/sitemap.xml").await.unwrap().text().await.unwrap();
    assert!(index.contains("/sitemaps/products/0</loc>"), "{index}");
    let urls = page("/sitemaps/products/0")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(urls.contains("/products/blue-teapot</loc>"), "{urls}");
    assert!(urls.contains("/products/linen-scarf</loc>"));
    assert!(
        !urls.contains("stoneware-mug"),
        "archived products leave the sitemap"
    );
    assert!(
        urls.contains("/categories/kitchen</loc>") && urls.contains("/vendors/loom-house</loc>")
    );
    assert_eq!(page("/sitemaps/products/9").await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_form_without_this_browsers_token_changes_no_cart() {
    let app = TestApp::spawn().await;
    let shop = two_vendor_shop(&app).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The first page gives the browser its token (a cookie, repeated in every form).
    let first = client
        .get(app.url("/products/blue-teapot"))
        .send()
        .await
        .unwrap();
    let shop_cookie = set_cookie(&first, "souk_shop");
    let html = first.text().await.unwrap();
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert_eq!(shop_cookie, format!("souk_shop={token}"));
    let add = |csrf: String, origin: &'static str| {
        let variant = shop.teapot[0].clone();
        let client = client.clone();
        let url = app.url("/cart/add");
        let cookie = shop_cookie.clone();
        let origin = if origin.is_empty() {
            app.base.clone()
        } else {
            origin.to_owned()
        };
        async move {
            client
                .post(url)
                .header("origin", origin)
                .header("cookie", cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("variant_id", variant.as_str()),
                    ("quantity", "1"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let refused = add("forged".into(), "").await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused.headers().get("set-cookie").is_none(),
        "no cart was made"
    );
    assert_eq!(
        add(token.clone(), "https://evil.example").await.status(),
        403
    );
    let added = add(token, "").await;
    assert_eq!(added.status(), 303);
    let cart_cookie = set_cookie(&added, "souk_cart");
    let cart = client
        .get(app.url("/cart"))
        .header("cookie", format!("{shop_cookie}; {cart_cookie}"))
        .send()
        .await
        .unwrap();
    let cart = cart.text().await.unwrap();
    assert!(
        cart.contains("Blue Teapot") && cart.contains("25.00 USD"),
        "{cart}"
    );
}

#[tokio::test]
async fn shoppers_without_a_cart_share_one_rendering_each_with_its_own_token_and_nonce() {
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        catalog_cache_ttl: std::time::Duration::from_secs(300),
        ..souk_http::HttpConfig::default()
    })
    .await;
    let shop = two_vendor_shop(&app).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &'static str, cookie: Option<String>| {
        let request = client.get(app.url(path));
        let request = match cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    let between = |text: &str, start: &str, end: &str| {
        text.split(start)
            .nth(1)
            .and_then(|rest| rest.split(end).next())
            .unwrap_or_else(|| panic!("no {start:?} in {text}"))
            .to_owned()
    };
    // Two new browsers open the same product page: the second is served the first's rendering…
    let mut seen = Vec::new();
    for expected in ["miss", "hit"] {
        let r = get("/products/blue-teapot", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-cache"], expected);
        let cookie = set_cookie(&r, "souk_shop");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        let html = r.text().await.unwrap();
        // …with its own form token (the one its cookie holds) and its own nonce (the one its
        // policy allows).
        let token = between(&html, "name=\"csrf\" value=\"", "\"");
        assert_eq!(cookie, format!("souk_shop={token}"));
        let nonce = between(&html, "<script type=\"application/ld+json\" nonce=\"", "\"");
        assert!(csp.contains(&format!("'nonce-{nonce}'")), "{csp}");
        assert_eq!(html.matches(&token).count(), 1, "{html}");
        seen.push((cookie, token, nonce, html));
    }
    let [(_, t1, n1, p1), (cookie, t2, n2, p2)] = <[_; 2]>::try_from(seen).unwrap();
    assert!(t1 != t2 && n1 != n2);
    assert_eq!(
        p1.replace(&t1, "TOKEN").replace(&n1, "NONCE"),
        p2.replace(&t2, "TOKEN").replace(&n2, "NONCE"),
        "nothing else differs"
    );
    // The browser comes back with its cookie: still the shared rendering, with its token.
    let back = get("/products/blue-teapot", Some(cookie.clone())).await;
    assert_eq!(back.headers()["x-cache"], "hit");
    assert!(back.text().await.unwrap().contains(&t2));
    // Once it has a cart, its pages are its own: they show the cart.
    let added = client
        .post(app.url("/cart/add"))
        .header("origin", app.base.clone())
        .header("cookie", cookie.clone())
        .form(&[
            ("csrf", t2.as_str()),
            ("variant_id", shop.teapot[0].as_str()),
            ("quantity", "2"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303);
    let with_cart = format!("{cookie}; {}", set_cookie(&added, "souk_cart"));
    for path in ["/products/blue-teapot", "/categories/kitchen", "/"] {
        let own = get(path, Some(with_cart.clone())).await;
        assert_eq!(own.status(), 200, "{path}");
        assert!(own.headers().get("x-cache").is_none(), "{path}");
        let html = own.text().await.unwrap();
        assert!(
            html.contains("Cart <span class=\"count\">(2"),
            "{path}: {html}"
        );
        // And a new browser's page of that place still shows an empty cart.
        let anyone = get(path, None).await.text().await.unwrap();
        assert!(!anyone.contains("class=\"count\""), "{path}");
    }
    // A missing product is not kept: it says so each time.
    for _ in 0..2 {
        let missing = get("/products/no-such-teapot", None).await;
        assert_eq!(missing.status(), 404);
        assert!(missing.headers().get("x-cache").is_none());
    }
}

/// The token of an email to `to` linking to `/{path}?token=`, waiting up to 20 s.
async fn emailed_token(smtp: &crate::smtp::SmtpServer, to: &str, path: &str) -> String {
    let link = emailed_link(smtp, to, &format!("/{path}?"), "token=").await;
    let at = link.find("token=").unwrap() + "token=".len();
    link[at..].to_owned()
}

/// The first link (from `start` up to the end of the URL, containing `with`) in an email to
/// `to`, waiting up to 20 s.
async fn emailed_link(smtp: &crate::smtp::SmtpServer, to: &str, start: &str, with: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        for (_, raw) in smtp.messages().values() {
            // Quoted-printable may wrap long lines with "=\n"; undo that first.
            let text = raw
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=");
            if !text.contains(&format!("To: {to}")) {
                continue;
            }
            let Some(at) = text.find(start) else {
                continue;
            };
            let link: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/?=&_-.%".contains(*c))
                .collect();
            if link.contains(with) {
                return link;
            }
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "no email to {to} linking to {start}…{with}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_customer_signs_up_confirms_the_email_buys_and_resets_the_password_from_the_email() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = crate::smtp::SmtpServer::new(crate::smtp::free_port(), &dir.path().join("mail"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    two_vendor_shop(&app).await;
    let browser = Browser::open(&app.base).await;

    // A shopper with something in the cart signs up: the cart comes along.
    browser.go("/products/linen-scarf").await;
    browser.click_and_wait(".add .primary").await;
    browser.go("/").await;
    browser
        .click_and_wait(".you a[href='/account/sign-in']")
        .await;
    browser.click_and_wait("a[href='/account/sign-up']").await;
    browser.assert_accessible("store sign-up").await;
    browser.screenshot("store-sign-up").await;
    browser.fill("#f-name", "Grace").await;
    browser.fill("#f-email", "grace@example.com").await;
    browser.fill("#f-password", "short").await;
    browser.click_and_wait("form button.primary").await;
    assert!(
        browser
            .find("#e-password")
            .await
            .text()
            .await
            .unwrap()
            .contains("at least 8")
    );
    browser
        .fill("#f-password", "a long enough passphrase")
        .await;
    browser.click_and_wait("form button.primary").await;
    assert_eq!(browser.path().await, "/account");
    let home = browser.main_text().await;
    assert!(
        home.contains("Hello, Grace") && home.contains("not confirmed"),
        "{home}"
    );

    // The confirmation link from the real SMTP server's message.
    let token = emailed_token(&smtp, "grace@example.com", "verify-email").await;
    browser.go(&format!("/verify-email?token={token}")).await;
    assert!(browser.main_text().await.contains("Email confirmed"));
    browser.go(&format!("/verify-email?token={token}")).await;
    assert!(
        browser.main_text().await.contains("not valid any more"),
        "single use"
    );
    browser.go("/account").await;
    assert!(!browser.main_text().await.contains("not confirmed"));

    // Checkout as the customer: the email is filled in; the order is in the account.
    browser.go("/cart").await;
    assert!(
        browser.main_text().await.contains("Linen Scarf"),
        "the cart came along"
    );
    browser.click_and_wait(".summary a.primary").await;
    let email = browser.find("#f-email").await.prop("value").await.unwrap();
    assert_eq!(email.as_deref(), Some("grace@example.com"));
    fill_address(&browser, "grace@example.com").await;
    browser.click_and_wait("button[value='place']").await;
    let number = browser.find("h1").await.text().await.unwrap();
    browser.go("/account").await;
    browser.assert_accessible("store account").await;
    browser.screenshot("store-account").await;
    let order_number = number.trim_start_matches("Order ").to_owned();
    assert!(browser.main_text().await.contains(&order_number));
    // The customer's own order opens without any token in the link.
    browser.click_and_wait("table.orders a").await;
    assert!(browser.main_text().await.contains("Linen Scarf"));
    assert!(!browser.path().await.contains("access_token"));
    browser.go("/account/sessions").await;
    assert!(browser.main_text().await.contains("(this device)"));
    browser.assert_accessible("store sessions").await;
    browser.screenshot("store-sessions").await;

    // Sign out; the order is not visible any more without its link.
    browser.go("/account").await;
    browser.click_and_wait(".account-nav button").await;
    browser.go("/account").await;
    assert!(browser.path().await.starts_with("/account/sign-in"));

    // Forgot the password: the emailed link sets a new one, then signing in works.
    browser
        .click_and_wait("a[href='/account/forgot-password']")
        .await;
    browser.fill("#f-email", "grace@example.com").await;
    browser.click_and_wait("form button.primary").await;
    assert!(browser.main_text().await.contains("on its way"));
    let token = emailed_token(&smtp, "grace@example.com", "reset-password").await;
    browser.go(&format!("/reset-password?token={token}")).await;
    browser.assert_accessible("store reset password").await;
    browser.fill("#f-password", "another long passphrase").await;
    browser.click_and_wait("form button.primary").await;
    assert!(browser.main_text().await.contains("new password is saved"));
    browser.fill("#f-email", "grace@example.com").await;
    browser
        .fill("#f-password", "a long enough passphrase")
        .await;
    browser.click_and_wait("form button.primary").await;
    assert!(
        browser
            .main_text()
            .await
            .contains("Wrong email or password")
    );
    browser.fill("#f-email", "grace@example.com").await;
    browser.fill("#f-password", "another long passphrase").await;
    browser.click_and_wait("form button.primary").await;
    assert_eq!(browser.path().await, "/account");
    assert!(browser.main_text().await.contains(&order_number));
    browser.close().await;
    smtp.stop();
}

#[tokio::test]
async fn a_guest_gets_the_order_link_again_by_email_and_number() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = crate::smtp::SmtpServer::new(crate::smtp::free_port(), &dir.path().join("mail"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    two_vendor_shop(&app).await;
    let browser = Browser::open(&app.base).await;
    browser.go("/products/linen-scarf").await;
    browser.click_and_wait(".add .primary").await;
    browser.click_and_wait(".summary a.primary").await;
    fill_address(&browser, "guest@example.com").await;
    browser.click_and_wait("button[value='place']").await;
    let number = browser.find("h1").await.text().await.unwrap();
    let number = number.trim_start_matches("Order ").to_owned();

    // A new browser (the link is lost): the lookup emails it again.
    browser.client.delete_all_cookies().await.unwrap();
    browser.go("/orders/lookup").await;
    browser.assert_accessible("store order lookup").await;
    browser.fill("#f-email", "guest@example.com").await;
    browser.fill("#f-number", &number).await;
    browser.click_and_wait("form button.primary").await;
    assert!(browser.main_text().await.contains("on its way"));
    // The confirmation carried the link too: wait for the second email with it.
    let started = std::time::Instant::now();
    while smtp
        .messages()
        .values()
        .filter(|(_, raw)| raw.contains("To: guest@example.com") && raw.contains("/orders/"))
        .count()
        < 2
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the order link was not emailed again"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let link = emailed_link(&smtp, "guest@example.com", "/orders/", "access_token=").await;
    browser.go(&link).await;
    let page = browser.main_text().await;
    assert!(
        page.contains(&number) && page.contains("Linen Scarf"),
        "{page}"
    );
    browser.close().await;
    smtp.stop();
}

#[tokio::test]
async fn pages_come_from_the_catalog_cache_and_follow_a_change_made_here_at_once() {
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        catalog_cache_ttl: std::time::Duration::from_secs(300),
        ..souk_http::HttpConfig::default()
    })
    .await;
    let shop = two_vendor_shop(&app).await;
    let page = || async {
        app.client
            .get(app.url("/products/blue-teapot"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = page().await;
    assert!(before.contains("Only 5 left"), "{before}");
    // Behind the cache's back, straight in the database: the page keeps what it showed.
    let variant = uuid::Uuid::parse_str(&shop.teapot[0]).unwrap();
    let mut tx = app.db.begin_write().await.unwrap();
    let potter = uuid::Uuid::parse_str(&shop.potter_id).unwrap();
    souk_storage::catalog::set_variant_stock(&mut tx, potter, variant, 3)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        page().await.contains("Only 5 left"),
        "served from the cache"
    );
    // Through the shop (the vendor API): the change is on the page at once.
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/variants/{}/stock", shop.teapot[1]),
            &shop.potter,
            Some(json!({"stock": 0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = page().await;
    assert!(
        after.contains("Sold out") && after.contains("Only 3 left"),
        "{after}"
    );
}

#[tokio::test]
async fn a_catalog_page_is_asked_about_again_with_its_etag_and_sent_again_only_when_it_changed() {
    // Rendered for each request (catalog cache off), and shared by shoppers without a cart
    // (on), whose tag is made from the shared rendering's digest and the browser's token.
    for cache in [false, true] {
        let app = TestApp::spawn_with(souk_http::HttpConfig {
            catalog_cache_ttl: std::time::Duration::from_secs(if cache { 60 } else { 0 }),
            ..souk_http::HttpConfig::default()
        })
        .await;
        revalidated_with_etags(&app, cache).await;
    }
}

async fn revalidated_with_etags(app: &TestApp, shared: bool) {
    let shop = two_vendor_shop(app).await;
    let client = reqwest::Client::new();
    let get = |path: &'static str, cookie: Option<String>, etag: Option<String>| {
        let client = client.clone();
        let url = app.url(path);
        async move {
            let mut request = client.get(url);
            if let Some(cookie) = cookie {
                request = request.header("cookie", cookie);
            }
            if let Some(etag) = etag {
                request = request.header("if-none-match", etag);
            }
            request.send().await.unwrap()
        }
    };
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let first = get("/products/blue-teapot", None, None).await;
    assert_eq!(first.status(), 200);
    // This browser's token, as a browser would send it back.
    let cookie = set_cookie(&first, "souk_shop");
    let page = get("/products/blue-teapot", Some(cookie.clone()), None).await;
    let etag = header(&page, "etag").expect("a catalog page has an ETag");
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(header(&page, "cache-control").unwrap(), "private, no-cache");
    let csp = header(&page, "content-security-policy").unwrap();
    let html = page.text().await.unwrap();

    // The same page again: same tag, though the nonce in it is new.
    let again = get("/products/blue-teapot", Some(cookie.clone()), None).await;
    let expected = shared.then_some("hit");
    assert_eq!(header(&again, "x-cache").as_deref(), expected);
    assert_eq!(header(&again, "etag").as_ref(), Some(&etag));
    assert_ne!(header(&again, "content-security-policy").unwrap(), csp);
    assert_ne!(
        again.text().await.unwrap(),
        html,
        "each answer has its own nonce"
    );

    // Asked about with the tag: 304, no body, and no new policy (the browser keeps the one
    // whose nonce is in the page it has).
    // Every time: nothing but the nonce differs from one rendering to the next.
    for _ in 0..20 {
        let kept = get(
            "/products/blue-teapot",
            Some(cookie.clone()),
            Some(etag.clone()),
        )
        .await;
        assert_eq!(kept.status(), 304);
        assert_eq!(header(&kept, "etag").as_ref(), Some(&etag));
        assert!(header(&kept, "content-security-policy").is_none());
        assert!(kept.text().await.unwrap().is_empty());
    }

    // Another browser (its own form token) gets a page of its own.
    let other = get("/products/blue-teapot", None, Some(etag.clone())).await;
    assert_eq!(other.status(), 200);
    assert_ne!(header(&other, "etag").as_ref(), Some(&etag));

    // The stock changes: the page is sent again, with the change.
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/variants/{}/stock", shop.teapot[1]),
            &shop.potter,
            Some(json!({"stock": 0})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let changed = get(
        "/products/blue-teapot",
        Some(cookie.clone()),
        Some(etag.clone()),
    )
    .await;
    assert_eq!(changed.status(), 200);
    assert_ne!(header(&changed, "etag").as_ref(), Some(&etag));
    assert!(changed.text().await.unwrap().contains("Sold out"));

    // Pages of one person's cart, checkout or account are never kept.
    for path in ["/cart", "/checkout", "/account/sign-in"] {
        let r = get(path, Some(cookie.clone()), None).await;
        assert_eq!(
            header(&r, "cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
        assert!(header(&r, "etag").is_none(), "{path}");
    }
}

#[tokio::test]
async fn signing_in_leads_only_to_pages_of_this_shop_and_shop_pages_may_show_web_images() {
    let app = TestApp::spawn().await;
    two_vendor_shop(&app).await;
    let (status, _) = app
        .shop(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": "ned@example.com", "password": "a long enough passphrase", "name": "Ned"})),
        )
        .await;
    assert!(status == 201 || status == 202, "{status}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = client
        .get(app.url("/account/sign-in"))
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&form, "souk_shop");
    let token = cookie.trim_start_matches("souk_shop=").to_owned();
    for (next, lands) in [
        ("/cart", "/cart"),
        ("/\t/evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("//evil.example", "/account"),
        ("https://evil.example/", "/account"),
    ] {
        let signed_in = client
            .post(app.url("/account/sign-in"))
            .header("origin", &app.base)
            .header("cookie", &cookie)
            .form(&[
                ("csrf", token.as_str()),
                ("email", "ned@example.com"),
                ("password", "a long enough passphrase"),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(signed_in.status(), 303, "{next:?}");
        assert_eq!(signed_in.headers()["location"], lands, "{next:?}");
    }
    // A shop's page (under /vendors/) is a storefront page: web images allowed, like the rest.
    let shop = client
        .get(app.url("/vendors/clay-studio"))
        .send()
        .await
        .unwrap();
    let csp = shop.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("img-src 'self' data: https:"), "{csp}");
}

#[tokio::test]
async fn a_shopper_picks_a_variant_by_size_and_colour() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let [maker] = app
        .vendors(&admin, [("maker@example.com", "knit-works")])
        .await;
    let mut jumper = product("wool-jumper", "Wool Jumper", &[]);
    jumper.option_names = vec!["Size".into(), "Colour".into()];
    jumper.images = Vec::new();
    jumper.variants = [
        ("S", "Red", 5000, 3),
        ("S", "Blue", 5200, 3),
        ("M", "Red", 5400, 3),
        ("M", "Blue", 5600, 0),
    ]
    .map(
        |(size, colour, price, stock)| souk_domain::catalog::VariantDraft {
            sku: Some(format!("JUMPER-{size}-{colour}")),
            option_values: vec![size.into(), colour.into()],
            price,
            compare_at_price: None,
            stock: Some(stock),
            track_inventory: true,
            grams: 300,
        },
    )
    .to_vec();
    app.seed(&maker.handle, &[jumper]).await;

    let browser = Browser::open(&app.base).await;
    browser.go("/products/wool-jumper").await;
    // One select per option; the list of every combination is hidden (it is what is sent).
    assert!(
        !browser
            .find("fieldset.variants")
            .await
            .is_displayed()
            .await
            .unwrap()
    );
    assert!(browser.find("#o-0").await.is_displayed().await.unwrap());
    let picked = || async { browser.find(".picker .picked").await.text().await.unwrap() };
    assert!(picked().await.contains("50.00 USD"), "{}", picked().await);
    browser.assert_accessible("store product by option").await;
    // Reloaded, the page is revalidated (304: only headers come over the wire) and its
    // scripts still run under the policy kept with it.
    browser.client.refresh().await.unwrap();
    let navigation = browser
        .client
        .execute(
            "const n = performance.getEntriesByType('navigation')[0]; \
             return [n.type, n.transferSize, n.encodedBodySize];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(navigation[0], "reload", "{navigation}");
    assert!(
        navigation[1].as_f64().unwrap() < navigation[2].as_f64().unwrap(),
        "the body came from the browser's cache: {navigation}"
    );
    assert!(browser.find("#o-0").await.is_displayed().await.unwrap());
    assert!(picked().await.contains("50.00 USD"), "{}", picked().await);

    browser
        .find("#o-0")
        .await
        .select_by_value("M")
        .await
        .unwrap();
    browser
        .find("#o-1")
        .await
        .select_by_value("Blue")
        .await
        .unwrap();
    assert!(picked().await.contains("Sold out"), "{}", picked().await);
    let add = browser.find(".add .primary").await;
    assert!(
        !add.is_enabled().await.unwrap(),
        "no adding a sold-out combination"
    );
    browser.screenshot("store-product-by-option").await;

    browser
        .find("#o-1")
        .await
        .select_by_value("Red")
        .await
        .unwrap();
    assert!(picked().await.contains("54.00 USD"), "{}", picked().await);
    assert!(add.is_enabled().await.unwrap());
    browser.click_and_wait(".add .primary").await;
    assert_eq!(browser.path().await, "/cart");
    let cart = browser.main_text().await;
    assert!(
        cart.contains("Wool Jumper") && cart.contains("M / Red") && cart.contains("54.00 USD"),
        "{cart}"
    );
    browser.close().await;
}
