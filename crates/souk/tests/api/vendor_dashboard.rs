//! The vendor dashboard under `/vendor`, in Chromium and over plain HTTP: a newcomer signs up
//! and applies, waits for approval, makes a product with two variants and two photos, imports a
//! CSV, then sees the home page and ships an order in two parcels;
//! another vendor's orders answer 404 and change nothing; forms without their token change
//! nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_panel::{FormClient, hidden, signed_in_at};
use crate::browser::Browser;
use crate::checkout::{checkout_body, stocked};
use crate::helpers::TestApp;

const PASSWORD: &str = "correct horse battery staple";

/// A [`FormClient`] signed in to the vendor dashboard as `email`.
async fn vendor_client(app: &TestApp, email: &str) -> FormClient {
    signed_in_at(app, "/vendor/sign-in", email).await
}

/// A bearer token for `email`'s account.
async fn api_token(app: &TestApp, email: &str) -> String {
    let (status, body) = crate::helpers::status_json(app.login(email, PASSWORD).await).await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A paid order of `quantity` of each variant; its id.
async fn paid_order(app: &TestApp, admin: &str, variants: &[&str], email: &str) -> Value {
    let cart = app.cart_with(variants[0], 2).await;
    for v in &variants[1..] {
        app.add_to_cart(&cart, v, 1).await;
    }
    let (status, order, _) = app.checkout(&cart, email, &checkout_body(email)).await;
    assert_eq!(status, 201, "{order}");
    app.pay_in_full(admin, &order).await;
    order
}

/// The vendor's one vendor order, as the API shows it.
async fn vendor_order(app: &TestApp, token: &str) -> Value {
    let (status, body) = app
        .send(Method::GET, "/api/vendor/orders", token, None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"][0].clone()
}

#[tokio::test]
async fn a_new_seller_applies_is_approved_builds_its_catalog_and_ships_an_order_in_two_parcels() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let browser = Browser::open(&app.base).await;

    // Not signed in: the dashboard asks to sign in, and offers to sign up.
    browser.go("/vendor/orders").await;
    assert_eq!(
        browser.path().await,
        "/vendor/sign-in?next=%2Fvendor%2Forders"
    );
    browser.assert_accessible("vendor sign-in").await;
    browser.screenshot("vendor-sign-in").await;
    browser.click_and_wait("a[href='/vendor/sign-up']").await;

    // A password too short is refused beside its field, and what was typed stays.
    browser.fill("#name", "Lina Haddad").await;
    browser.fill("#email", "lina@lantern.example").await;
    browser.fill("#password", "short").await;
    browser.click_and_wait("button.primary").await;
    let problem = browser
        .find("#password-problem")
        .await
        .text()
        .await
        .unwrap();
    assert!(!problem.is_empty());
    assert_eq!(
        browser
            .find("#email")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "lina@lantern.example"
    );
    browser.assert_accessible("vendor sign-up, refused").await;
    browser.screenshot("vendor-sign-up").await;
    browser.fill("#password", PASSWORD).await;
    browser.click_and_wait("button.primary").await;

    // Signed in, straight to the application; a taken-looking bad handle is refused beside it.
    assert_eq!(browser.path().await, "/vendor/apply");
    browser.fill("#name", "Lantern Works").await;
    browser.fill("#handle", "Not A Handle!").await;
    browser.click_and_wait("button.primary").await;
    assert!(browser.find("#handle-problem").await.text().await.is_ok());
    browser.assert_accessible("vendor apply, refused").await;
    browser.screenshot("vendor-apply").await;
    browser.fill("#handle", "lantern-works").await;
    browser.click_and_wait("button.primary").await;
    assert_eq!(browser.path().await, "/vendor");
    let text = browser.main_text().await;
    assert!(
        text.contains("Lantern Works is awaiting approval"),
        "{text}"
    );
    browser.assert_accessible("vendor awaiting approval").await;
    browser.screenshot("vendor-awaiting").await;
    // Pages that act for a shop wait for the approval too.
    browser.go("/vendor/orders").await;
    assert_eq!(browser.path().await, "/vendor");

    // Approved through the API; the shop gets two products and a paid order for both.
    let (status, vendors) = app
        .send(
            Method::GET,
            "/api/admin/vendors?status=pending",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let vendor_id = vendors["items"][0]["id"].as_str().unwrap().to_owned();
    app.approve_vendor(&admin, &vendor_id).await;

    // Approved: the seller makes a lantern in two sizes, with two photos.
    browser.go("/vendor/products/new").await;
    browser.fill("#f-title", "Brass Lantern").await;
    browser.fill("#f-option1", "Size").await;
    let sizes = [
        ("Small", "BL-S", "42.00", "20"),
        ("Large", "BL-L", "6.00", "3"),
    ];
    for (row, (size, sku, price, stock)) in sizes.into_iter().enumerate() {
        browser
            .fill(&format!("input[name='v{row}.o1']"), size)
            .await;
        browser
            .fill(&format!("input[name='v{row}.sku']"), sku)
            .await;
        browser
            .fill(&format!("input[name='v{row}.price']"), price)
            .await;
        browser
            .fill(&format!("input[name='v{row}.stock']"), stock)
            .await;
    }
    browser.click("#f-status option[value='published']").await;
    browser.click_and_wait("form.editor button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(
        flash,
        "Product created and published: shoppers can buy it now."
    );
    let photos = tempfile::tempdir().unwrap();
    let (lit, unlit) = (
        photos.path().join("lit.jpg"),
        photos.path().join("unlit.png"),
    );
    std::fs::write(&lit, crate::vendor_images::jpeg(1200, 900, 30)).unwrap();
    std::fs::write(&unlit, crate::vendor_images::png(600, 600)).unwrap();
    let both = format!("{}\n{}", lit.display(), unlit.display());
    browser
        .find("#f-image")
        .await
        .send_keys(&both)
        .await
        .unwrap();
    browser.click_and_wait("form.upload button").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "2 images added, after the product's other images.");
    let (_, listed) = app.get_json("/api/store/products/brass-lantern").await;
    assert_eq!(listed["images"].as_array().unwrap().len(), 2, "{listed}");

    // Wicks and glass from a CSV; one line's price is not a price and is reported.
    let csv = photos.path().join("more.csv");
    std::fs::write(
        &csv,
        "Handle,Title,Variant SKU,Variant Price,Variant Inventory Qty,Status\n\
         wick-pack,Wick pack,WP-1,6.00,3,active\n\
         glass-chimney,Glass chimney,GC-1,twelve,5,active\n\
         spare-glass,Spare glass,SG-1,9.50,8,active\n",
    )
    .unwrap();
    browser.go("/vendor/products/import").await;
    browser
        .find("#f-file")
        .await
        .send_keys(&csv.display().to_string())
        .await
        .unwrap();
    browser.click_and_wait("form.import button.primary").await;
    let started = std::time::Instant::now();
    // The page reloads itself when the import ends: an element read as it goes is stale.
    while browser
        .find("#import-status")
        .await
        .text()
        .await
        .ok()
        .as_deref()
        != Some("Import finished.")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the import ends"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        browser.find("#import-count").await.text().await.unwrap(),
        "100 % · 2 of 2 products imported, from 3 lines."
    );
    let refused = browser.find("table.rejected").await.text().await.unwrap();
    assert!(
        refused.contains('3') && refused.contains("Variant Price"),
        "{refused}"
    );

    let sku = |product: &Value, sku: &str| {
        product["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["sku"] == sku)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let lantern = sku(&listed, "BL-S");
    let wicks = sku(&listed, "BL-L");
    let order = paid_order(&app, &admin, &[&lantern, &wicks], "buyer@example.com").await;
    let number = order["number"].as_str().unwrap().to_owned();

    // The home page: one order to ship, the money earned, the large lanterns low on stock.
    browser.go("/vendor").await;
    let text = browser.main_text().await;
    assert!(text.contains("Lantern Works"), "{text}");
    let to_ship = browser.find("#to-ship strong").await.text().await.unwrap();
    assert_eq!(to_ship, "1");
    let available = browser.find("#available").await.text().await.unwrap();
    assert_ne!(
        available, "0.00 USD",
        "the paid order's earnings are available"
    );
    assert!(text.contains(&number), "{text}");
    browser.assert_accessible("vendor home").await;
    browser.screenshot("vendor-home").await;

    // The order list, filtered to what is left to ship, leads to the order.
    browser.click_and_wait("#to-ship").await;
    assert_eq!(browser.path().await, "/vendor/orders?status=unfulfilled");
    browser.assert_accessible("vendor orders").await;
    browser.screenshot("vendor-orders").await;
    browser.click_and_wait("table tbody a").await;
    let text = browser.main_text().await;
    assert!(text.contains(&format!("Order {number}")), "{text}");
    assert!(text.contains("Brass Lantern"), "{text}");
    browser.assert_accessible("vendor order").await;
    browser.screenshot("vendor-order").await;

    // First parcel: the two small lanterns only (the large one set to 0).
    let inputs = browser
        .client
        .find_all(fantoccini::Locator::Css("input.qty"))
        .await
        .unwrap();
    assert_eq!(inputs.len(), 2);
    for input in &inputs {
        let max = input.attr("max").await.unwrap().unwrap();
        if max == "1" {
            input.clear().await.unwrap();
            input.send_keys("0").await.unwrap();
        }
    }
    browser.fill("#carrier", "DHL").await;
    browser.fill("#tracking_number", "JD0001").await;
    browser.click_and_wait("#fulfil-form button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Parcel recorded. The customer is emailed.");
    let fulfillment = browser
        .find("#fulfillment-status")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(fulfillment, "partially fulfilled");
    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("input.qty"))
            .await
            .unwrap()
            .len(),
        1,
        "only the large lantern is left to ship"
    );
    // The order list tells the same: three units bought, partly shipped.
    let order_page = browser.path().await;
    browser.go("/vendor/orders").await;
    let row = browser.find("table tbody tr").await.text().await.unwrap();
    assert!(
        row.contains(&number)
            && row.split_whitespace().any(|w| w == "3")
            && row.contains("partially fulfilled"),
        "{row}"
    );
    browser.go(&order_page).await;

    // A parcel without a tracking number is refused beside the form; nothing ships.
    browser.fill("#carrier", "DHL").await;
    browser.click_and_wait("#fulfil-form button.primary").await;
    assert!(browser.find("#fulfil-problem").await.text().await.is_ok());
    assert_eq!(
        vendor_order(&app, &api_token(&app, "lina@lantern.example").await).await["fulfillment_status"],
        "partially_fulfilled"
    );

    // Second parcel: the rest.
    browser.fill("#carrier", "DHL").await;
    browser.fill("#tracking_number", "JD0002").await;
    browser.click_and_wait("#fulfil-form button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(
        flash,
        "Parcel recorded: everything has shipped. The customer is emailed."
    );
    let fulfillment = browser
        .find("#fulfillment-status")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(fulfillment, "fulfilled");

    // A typo in the first parcel's number is corrected.
    browser.click("details summary").await;
    let field = browser
        .find("form[action$='/tracking'] input[name='tracking_number']")
        .await;
    field.clear().await.unwrap();
    field.send_keys("JD0001X").await.unwrap();
    browser
        .click_and_wait("form[action$='/tracking'] button")
        .await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(
        flash,
        "Tracking corrected. The customer is emailed the new details."
    );
    let token = api_token(&app, "lina@lantern.example").await;
    let part = vendor_order(&app, &token).await;
    assert_eq!(part["fulfillment_status"], "fulfilled");
    let numbers: Vec<&str> = part["shipments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["tracking_number"].as_str().unwrap())
        .collect();
    assert_eq!(numbers, ["JD0001X", "JD0002"]);
    browser.screenshot("vendor-order-shipped").await;

    // The money page: the marketplace paid out 20.00 of what was earned.
    let before = app.available(&vendor_id).await;
    let paid = app
        .client
        .post(app.url(&format!("/api/admin/vendors/{vendor_id}/payouts")))
        .bearer_auth(&admin)
        .header("Idempotency-Key", "lantern-payout-1")
        .json(&json!({"amount": 2000, "reference": "SEPA-LW-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 201, "{}", paid.text().await.unwrap());
    browser.click_and_wait("a[href='/vendor/money']").await;
    let available = browser.find("#available").await.text().await.unwrap();
    assert_eq!(available, crate::admin_money::usd(before - 2000));
    assert_eq!(
        browser.find("#paid-out").await.text().await.unwrap(),
        "20.00 USD"
    );
    assert_eq!(
        browser.find("#commission-rate").await.text().await.unwrap(),
        "10 %"
    );
    let payouts = browser.find("table.payouts").await.text().await.unwrap();
    assert!(
        payouts.contains("SEPA-LW-1") && payouts.contains("20.00 USD"),
        "{payouts}"
    );
    browser.assert_accessible("vendor money").await;
    browser.screenshot("vendor-money").await;

    // With the home page open, a shopper buys (through the API): the order is announced
    // without a reload, with a link to it.
    browser.go("/vendor").await;
    browser.find("#live-status").await;
    let started = std::time::Instant::now();
    while !browser
        .find("#live-status")
        .await
        .text()
        .await
        .unwrap()
        .starts_with("Live")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the stream opened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let cart = app.cart_with(&lantern, 1).await;
    let (status, second, _) = app
        .checkout(&cart, "live-order", &checkout_body("second@example.com"))
        .await;
    assert_eq!(status, 201, "{second}");
    let announced = browser.find("#live-orders li a").await;
    assert_eq!(
        announced.text().await.unwrap(),
        second["number"].as_str().unwrap()
    );
    let text = browser.find("#live-orders li").await.text().await.unwrap();
    assert!(text.starts_with("New order"), "{text}");
    browser.assert_accessible("vendor home, live order").await;
    browser.screenshot("vendor-home-live").await;
    announced.click().await.unwrap();
    browser.find("#payment-status").await;
    let text = browser.main_text().await;
    assert!(text.contains("awaiting payment: do not ship yet"), "{text}");

    // Signing out ends the session.
    browser.click_and_wait("form.signout button").await;
    assert_eq!(browser.path().await, "/vendor/sign-in");
    browser.go("/vendor").await;
    assert_eq!(browser.path().await, "/vendor/sign-in?next=%2Fvendor");
    browser.assert_no_dialog().await;
    browser.close().await;
}

#[tokio::test]
async fn another_vendors_order_answers_404_on_every_vendor_page_and_nothing_ships() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tv = app.two_vendors(&admin).await;
    paid_order(&app, &admin, &[&tv.apple, &tv.banana], "both@example.com").await;
    let a_part = vendor_order(&app, &tv.a_token).await;
    let a_part_id = a_part["id"].as_str().unwrap();
    let line = a_part["lines"][0]["id"].as_str().unwrap();

    // Vendor B, signed in to its dashboard, asks for vendor A's part.
    let b = vendor_client(&app, "b@example.com").await;
    let page = b.get(app.url("/vendor/orders")).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        !page.contains(a_part_id),
        "B's list shows only its own orders"
    );
    let csrf = hidden(&page, "csrf");
    let show = b.get(app.url(&format!("/vendor/orders/{a_part_id}"))).await;
    assert_eq!(show.status(), 404);
    let qty = format!("qty-{line}");
    let fulfil = b
        .post(
            app.url(&format!("/vendor/orders/{a_part_id}/fulfil")),
            &[
                ("csrf", csrf.as_str()),
                ("carrier", "DHL"),
                ("tracking_number", "STOLEN"),
                (qty.as_str(), "1"),
            ],
            None,
        )
        .await;
    assert_eq!(fulfil.status(), 404);
    let tracking = b
        .post(
            app.url(&format!("/vendor/orders/{a_part_id}/tracking")),
            &[
                ("csrf", csrf.as_str()),
                ("shipment_id", line),
                ("carrier", "DHL"),
                ("tracking_number", "STOLEN"),
            ],
            None,
        )
        .await;
    assert_eq!(tracking.status(), 404);
    let after = vendor_order(&app, &tv.a_token).await;
    assert_eq!(after["fulfillment_status"], "unfulfilled");
    assert_eq!(after["shipments"], json!([]));

    // Vendor A's own form without its token, or from another site, ships nothing either.
    let a = vendor_client(&app, "a@example.com").await;
    let page = a
        .get(app.url(&format!("/vendor/orders/{a_part_id}")))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let url = app.url(&format!("/vendor/orders/{a_part_id}/fulfil"));
    let parcel = [
        ("carrier", "DHL"),
        ("tracking_number", "JD1"),
        (qty.as_str(), "1"),
    ];
    let missing = a.post(url.clone(), &parcel, None).await;
    assert_eq!(missing.status(), 403);
    let mut forged = parcel.to_vec();
    forged.push(("csrf", csrf.as_str()));
    let cross_site = a
        .post(url.clone(), &forged, Some("https://evil.example"))
        .await;
    assert_eq!(cross_site.status(), 403);
    let after = vendor_order(&app, &tv.a_token).await;
    assert_eq!(after["shipments"], json!([]));
    // With its token, from this origin, it ships.
    let shipped = a.post(url, &forged, None).await;
    assert_eq!(shipped.status(), 303);
    let after = vendor_order(&app, &tv.a_token).await;
    assert_eq!(after["shipments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_approved_shops_owner_is_emailed_once_with_the_link_to_the_dashboard() {
    use std::time::Duration;

    use crate::smtp::{SmtpServer, free_port};

    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let admin = app.admin_token().await;
    let (_, vendor) = app.vendor_owner("owner@tiles.example", "blue-tiles").await;
    app.approve_vendor(&admin, &vendor).await;
    // Approving again is not a first approval.
    app.approve_vendor(&admin, &vendor).await;
    // The owner's address verification, and one approval. (Waited for before the suspension:
    // a shop suspended by the time its approval email goes out is, rightly, not told it is open.)
    smtp.wait_for(2, Duration::from_secs(20)).await;
    // Suspending and reinstating is not a first approval either: no more mail.
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor}/suspend"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.approve_vendor(&admin, &vendor).await;

    let mail = smtp.wait_for_exactly(2, Duration::from_secs(20)).await;
    let approval: Vec<&String> = mail
        .values()
        .map(|(_, raw)| raw)
        .filter(|raw| raw.contains("is approved"))
        .collect();
    assert_eq!(approval.len(), 1, "{:?}", mail.keys());
    let raw = approval[0];
    assert!(raw.contains("To: owner@tiles.example"), "{raw}");
    assert!(raw.contains("Shop blue-tiles is approved"), "{raw}");
    assert!(raw.contains(&format!("{}/vendor", app.base)), "{raw}");
    smtp.stop();
}

#[tokio::test]
async fn a_vendors_statement_lists_its_period_with_a_running_balance_and_only_its_own_entries() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tv = app.two_vendors(&admin).await;
    let order = paid_order(&app, &admin, &[&tv.apple, &tv.banana], "both@example.com").await;
    let paid = app
        .client
        .post(app.url(&format!("/api/admin/vendors/{}/payouts", tv.a_id)))
        .bearer_auth(&admin)
        .header("Idempotency-Key", "a-payout")
        .json(&json!({"amount": 500, "reference": "=HYPERLINK(\"x\")"}))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 201);
    let today = souk_domain::time::rfc3339(souk_storage::now_ms())[..10].to_owned();

    let a = vendor_client(&app, "a@example.com").await;
    let csv = a
        .get(app.url(&format!("/vendor/statement.csv?from={today}&to={today}")))
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "date,kind,order_number,order_id,payout_reference,currency,amount,balance"
    );
    assert_eq!(lines[1], ",opening_balance,,,,USD,,0");
    let number = order["number"].as_str().unwrap();
    // Vendor A sold 2 apples (20.00): its earning (after 10 % commission), the commission, and
    // the payout, with the balance after each; vendor B's entries are not in it.
    let earning = lines.iter().find(|l| l.contains(",earning,")).unwrap();
    assert!(
        earning.contains(number) && earning.ends_with(",1800,1800"),
        "{csv}"
    );
    let commission = lines.iter().find(|l| l.contains(",commission,")).unwrap();
    assert!(commission.ends_with(",200,1800"), "{csv}");
    let payout = lines.iter().find(|l| l.contains(",payout,")).unwrap();
    assert!(payout.ends_with(",-500,1300"), "{csv}");
    assert!(
        payout.contains("'=HYPERLINK"),
        "a formula is neutralised: {payout}"
    );
    assert_eq!(lines.len(), 5, "{csv}");
    assert_eq!(app.available(&tv.a_id).await, 1300);

    // A period before any of it: only the opening balance. Bad dates are refused.
    let empty = a
        .get(app.url("/vendor/statement.csv?from=2020-01-01&to=2020-01-31"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(empty.lines().count(), 2, "{empty}");
    for bad in [
        "from=2026-13-01&to=2026-12-01",
        "from=&to=",
        "from=2026-12-02&to=2026-12-01",
    ] {
        let refused = a
            .get(app.url(&format!("/vendor/statement.csv?{bad}")))
            .await;
        assert_eq!(refused.status(), 400, "{bad}");
    }
    // Not signed in: to the sign-in page, no statement.
    let anonymous = FormClient::new()
        .get(app.url(&format!("/vendor/statement.csv?from={today}&to={today}")))
        .await;
    assert_eq!(anonymous.status(), 303);
}

#[tokio::test]
async fn a_vendor_registers_a_webhook_sees_its_secret_once_tests_and_deletes_it_and_no_other_vendor_can_touch_it()
 {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tv = app.two_vendors(&admin).await;
    let browser = Browser::open(&app.base).await;
    browser
        .sign_in_at("/vendor/sign-in", "a@example.com", PASSWORD)
        .await;
    browser.click_and_wait("a[href='/vendor/webhooks']").await;
    let text = browser.main_text().await;
    assert!(text.contains("No endpoints yet."), "{text}");
    // The platform-only event is not offered to a shop.
    assert!(!text.contains("payment.failed"), "{text}");
    browser.assert_accessible("vendor webhooks").await;
    browser.screenshot("vendor-webhooks").await;

    browser
        .fill("#url", "https://erp.vendor-a.example/souk")
        .await;
    browser.fill("#description", "Stock sync").await;
    browser.click_and_wait("form.card button.primary").await;
    let secret = browser.find("#secret").await.text().await.unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    browser.assert_accessible("vendor webhook created").await;
    browser.screenshot("vendor-webhook-created").await;
    browser
        .click_and_wait("main a[href^='/vendor/webhooks/']")
        .await;
    let endpoint_page = browser.path().await;
    assert!(!browser.main_text().await.contains(&secret), "shown once");
    browser.click_and_wait("form[action$='/test'] button").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Test event queued: its delivery shows below.");
    assert!(browser.main_text().await.contains("webhook.test"));
    browser.assert_accessible("vendor webhook").await;
    browser.screenshot("vendor-webhook").await;

    // The API shows it as vendor A's endpoint, and not the platform's.
    let (_, mine) = app
        .send(Method::GET, "/api/vendor/webhooks", &tv.a_token, None)
        .await;
    assert_eq!(mine["items"][0]["url"], "https://erp.vendor-a.example/souk");
    let (_, platform) = app
        .send(Method::GET, "/api/admin/webhooks", &admin, None)
        .await;
    assert_eq!(platform["items"], json!([]));

    // Vendor B: A's endpoint page, its test, rotate and delete answer 404; nothing changes.
    let b = vendor_client(&app, "b@example.com").await;
    let page = b
        .get(app.url("/vendor/webhooks"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains("erp.vendor-a.example"));
    let csrf = hidden(&page, "csrf");
    assert_eq!(b.get(app.url(&endpoint_page)).await.status(), 404);
    for action in ["test", "rotate", "delete", "enable"] {
        let answer = b
            .post(
                app.url(&format!("{endpoint_page}/{action}")),
                &[("csrf", csrf.as_str()), ("confirm", "yes")],
                None,
            )
            .await;
        assert_eq!(answer.status(), 404, "{action}");
    }
    let (_, mine) = app
        .send(Method::GET, "/api/vendor/webhooks", &tv.a_token, None)
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);

    // A deletes it, after confirming.
    browser.click_and_wait("a[href$='/delete']").await;
    browser.find("#confirm-title").await;
    browser
        .assert_accessible("vendor webhook delete confirm")
        .await;
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Endpoint deleted.");
    assert!(browser.main_text().await.contains("No endpoints yet."));
    browser.close().await;
}

#[tokio::test]
async fn a_vendor_edits_its_profile_and_shipping_options_and_another_vendor_cannot_remove_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tv = app.two_vendors(&admin).await;
    let browser = Browser::open(&app.base).await;
    browser
        .sign_in_at("/vendor/sign-in", "a@example.com", PASSWORD)
        .await;

    // The profile: an empty name is refused beside it; then a name and a description that
    // looks like HTML are saved, and shown as text.
    browser.click_and_wait("a[href='/vendor/shop']").await;
    browser.fill("#name", " ").await;
    browser.click_and_wait("form.card button.primary").await;
    assert!(browser.find("#name-problem").await.text().await.is_ok());
    browser.assert_accessible("vendor shop, refused").await;
    browser.fill("#name", "Apple Orchard").await;
    browser
        .fill("#description", "<script>alert(1)</script> Crisp apples.")
        .await;
    browser.click_and_wait("form.card button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Shop profile saved: the storefront shows it now.");
    browser.assert_no_dialog().await;
    browser.assert_accessible("vendor shop").await;
    browser.screenshot("vendor-shop").await;
    let (_, profile) = app
        .send(Method::GET, "/api/vendor/profile", &tv.a_token, None)
        .await;
    assert_eq!(profile["name"], "Apple Orchard");
    assert_eq!(
        profile["description"],
        "<script>alert(1)</script> Crisp apples."
    );

    // Shipping: a price that is not one, and "free from" without its amount, are refused beside
    // their fields; then two options are added.
    browser.click_and_wait("a[href='/vendor/shipping']").await;
    assert!(browser.main_text().await.contains("No shipping options"));
    browser.fill("#name", "Standard").await;
    browser.fill("#amount", "four").await;
    browser.click_and_wait("form.card button.primary").await;
    assert!(browser.find("#amount-problem").await.text().await.is_ok());
    assert_eq!(
        browser
            .find("#name")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap(),
        "Standard"
    );
    browser.fill("#amount", "4.95").await;
    browser.click("input[value='free_over']").await;
    browser.click_and_wait("form.card button.primary").await;
    assert!(
        browser
            .find("#threshold-problem")
            .await
            .text()
            .await
            .is_ok()
    );
    browser.assert_accessible("vendor shipping, refused").await;
    browser.fill("#threshold", "50").await;
    browser.click_and_wait("form.card button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Shipping option “Standard” added.");
    browser.fill("#name", "Express").await;
    browser.fill("#amount", "12").await;
    browser.click_and_wait("form.card button.primary").await;
    let table = browser.find("table.rates").await.text().await.unwrap();
    assert!(
        table.contains("4.95 USD, free from 50.00 USD") && table.contains("12.00 USD"),
        "{table}"
    );
    browser.assert_accessible("vendor shipping").await;
    browser.screenshot("vendor-shipping").await;
    let (_, rates) = app
        .send(Method::GET, "/api/vendor/shipping-rates", &tv.a_token, None)
        .await;
    let rates = rates["items"].as_array().unwrap().clone();
    assert_eq!(rates.len(), 2, "{rates:?}");
    let express = rates.iter().find(|r| r["name"] == "Express").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Vendor B cannot remove A's option, even with a confirmed form of its own.
    let b = vendor_client(&app, "b@example.com").await;
    let page = b
        .get(app.url("/vendor/shipping"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&express), "B does not see A's option");
    let csrf = hidden(&page, "csrf");
    let url = app.url(&format!("/vendor/shipping/{express}/delete"));
    assert_eq!(b.get(url.clone()).await.status(), 404);
    let refused = b
        .post(url, &[("csrf", csrf.as_str()), ("confirm", "yes")], None)
        .await;
    assert_eq!(refused.status(), 404);

    // A removes it after confirming.
    browser
        .click_and_wait("a[aria-label='Remove Express']")
        .await;
    browser.find("#confirm-title").await;
    browser
        .assert_accessible("vendor shipping remove confirm")
        .await;
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Shipping option removed.");
    let (_, rates) = app
        .send(Method::GET, "/api/vendor/shipping-rates", &tv.a_token, None)
        .await;
    assert_eq!(rates["items"].as_array().unwrap().len(), 1);
    browser.close().await;
}

#[tokio::test]
async fn an_owner_invites_staff_who_joins_from_the_emailed_link_and_is_later_removed() {
    use std::time::Duration;

    use crate::smtp::{SmtpServer, free_port};

    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let admin = app.admin_token().await;
    app.two_vendors(&admin).await;
    app.register("helper@example.com").await;

    // The owner invites, in the browser; a bad address is refused beside the field.
    let browser = Browser::open(&app.base).await;
    browser
        .sign_in_at("/vendor/sign-in", "a@example.com", PASSWORD)
        .await;
    browser.click_and_wait("a[href='/vendor/team']").await;
    browser.fill("#email", "not an address").await;
    browser.click_and_wait("form.card button.primary").await;
    assert!(browser.find("#email-problem").await.text().await.is_ok());
    browser.fill("#email", "Helper@Example.com").await;
    browser.click_and_wait("form.card button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Invitation sent to helper@example.com.");
    let invitations = browser
        .find("table.invitations")
        .await
        .text()
        .await
        .unwrap();
    assert!(invitations.contains("pending"), "{invitations}");
    browser.assert_accessible("vendor team").await;
    browser.screenshot("vendor-team").await;
    browser.click_and_wait("form.signout button").await;

    // The invitee follows the emailed link: signs in, comes back to it, joins.
    // (Two owners' verifications and approvals, the helper's verification, the invitation.)
    let mail = smtp.wait_for(6, Duration::from_secs(20)).await;
    let token = crate::roles::invitation_token(&mail, "helper@example.com");
    browser
        .go(&format!("/vendor/invitations/accept?token={token}"))
        .await;
    assert!(browser.path().await.starts_with("/vendor/sign-in?next="));
    browser.fill("#email", "helper@example.com").await;
    browser.fill("#password", PASSWORD).await;
    browser.click_and_wait("button.primary").await;
    assert_eq!(
        browser.path().await,
        format!("/vendor/invitations/accept?token={token}")
    );
    browser.assert_accessible("vendor join").await;
    browser.screenshot("vendor-join").await;
    browser.click_and_wait("button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Welcome to the team.");
    assert!(browser.main_text().await.contains("Shop vendor-a"));
    // Staff see the team but do not manage it, nor edit the profile.
    browser.go("/vendor/team").await;
    let text = browser.main_text().await;
    assert!(
        text.contains("Only the shop's owners invite or remove staff."),
        "{text}"
    );
    assert!(
        text.contains("helper@example.com (you)") || text.contains("(you)"),
        "{text}"
    );
    browser.go("/vendor/shop").await;
    assert!(
        browser
            .main_text()
            .await
            .contains("Only the shop's owners edit its profile.")
    );
    // The link works once.
    browser
        .go(&format!("/vendor/invitations/accept?token={token}"))
        .await;
    browser.click_and_wait("button.primary").await;
    assert!(
        browser
            .main_text()
            .await
            .contains("invalid, expired, revoked or already used")
    );

    // Vendor B cannot remove A's staff member; A's owner can, after confirming.
    let (_, members) = app
        .send(
            Method::GET,
            "/api/auth/me",
            &api_token(&app, "helper@example.com").await,
            None,
        )
        .await;
    let helper_id = members["id"].as_str().unwrap().to_owned();
    let b = vendor_client(&app, "b@example.com").await;
    let page = b.get(app.url("/vendor/team")).await.text().await.unwrap();
    assert!(!page.contains("helper@example.com"));
    let csrf = hidden(&page, "csrf");
    let url = app.url(&format!("/vendor/team/members/{helper_id}/remove"));
    let refused = b
        .post(
            url.clone(),
            &[("csrf", csrf.as_str()), ("confirm", "yes")],
            None,
        )
        .await;
    assert_eq!(refused.status(), 404);
    let a = vendor_client(&app, "a@example.com").await;
    let page = a.get(app.url("/vendor/team")).await.text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    let unconfirmed = a.post(url.clone(), &[("csrf", csrf.as_str())], None).await;
    assert_eq!(unconfirmed.status(), 303, "to the confirmation first");
    assert!(
        browser_sees_orders(&browser).await,
        "not removed before confirming"
    );
    let removed = a
        .post(url, &[("csrf", csrf.as_str()), ("confirm", "yes")], None)
        .await;
    assert_eq!(removed.status(), 303);
    // From the helper's next click, the shop's pages are closed to them.
    assert!(!browser_sees_orders(&browser).await);
    let (status, _) = app
        .send(
            Method::GET,
            "/api/vendor/orders",
            &api_token(&app, "helper@example.com").await,
            None,
        )
        .await;
    assert_eq!(status, 403);
    browser.close().await;
    smtp.stop();
}

/// Whether the browser's session still opens the shop's order list.
async fn browser_sees_orders(browser: &Browser) -> bool {
    browser.go("/vendor/orders").await;
    browser.path().await == "/vendor/orders"
}

#[tokio::test]
async fn a_vendor_lists_searches_and_pages_only_its_own_products() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.two_vendors(&admin).await;
    // Vendor A: 27 more products (the list pages by 25), one low on stock.
    let many: Vec<_> = (0..27)
        .map(|i| stocked(&format!("pear-{i:02}"), &[200 + i], 40))
        .collect();
    app.seed("vendor-a", &many).await;
    app.seed("vendor-a", &[stocked("rare-quince", &[900, 1200], 2)])
        .await;

    let browser = Browser::open(&app.base).await;
    browser
        .sign_in_at("/vendor/sign-in", "a@example.com", PASSWORD)
        .await;
    browser.click_and_wait("a[href='/vendor/products']").await;
    let table = browser.find("table.products").await.text().await.unwrap();
    assert!(table.contains("rare-quince"), "{table}");
    assert!(!table.contains("banana"), "only A's products: {table}");
    browser.assert_accessible("vendor products").await;
    browser.screenshot("vendor-products").await;
    browser.fill("#q", "quince").await;
    browser.click_and_wait("form.filters button").await;
    let table = browser.find("table.products").await.text().await.unwrap();
    assert_eq!(table.matches("published").count(), 1, "{table}");
    assert!(
        table.contains("9.00 USD – 12.00 USD") && table.contains("low"),
        "{table}"
    );

    // Archiving asks first; then the product leaves the shop and shows as archived.
    browser
        .click_and_wait("a[aria-label='Archive rare-quince']")
        .await;
    browser.find("#confirm-title").await;
    browser
        .assert_accessible("vendor product archive confirm")
        .await;
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "“rare-quince” is archived: it left the shop.");
    assert_eq!(
        app.get("/api/store/products/rare-quince").await.status(),
        404,
        "no longer in the shop"
    );
    browser.go("/vendor/products?status=archived").await;
    let table = browser.find("table.products").await.text().await.unwrap();
    assert!(table.contains("rare-quince"), "{table}");
    browser.close().await;

    // Vendor B cannot archive A's product, even with a confirmed form of its own.
    let pear = app.get_json("/api/store/products/pear-00").await.1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = vendor_client(&app, "b@example.com").await;
    let page = b
        .get(app.url("/vendor/products"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let url = app.url(&format!("/vendor/products/{pear}/archive"));
    assert_eq!(b.get(url.clone()).await.status(), 404);
    let refused = b
        .post(url, &[("csrf", csrf.as_str()), ("confirm", "yes")], None)
        .await;
    assert_eq!(refused.status(), 404);
    assert_eq!(app.get("/api/store/products/pear-00").await.status(), 200);

    // Over HTTP: 29 products in two pages; B's product is not found by A's search.
    let a = vendor_client(&app, "a@example.com").await;
    let first = a
        .get(app.url("/vendor/products"))
        .await
        .text()
        .await
        .unwrap();
    // 29 products (the archived one is still listed), 25 a page.
    assert_eq!(first.matches("<tr>").count() - 1, 25, "a full first page");
    let first = first.replace("&#x2f;", "/").replace("&amp;", "&");
    let start = first
        .find("/vendor/products?before=")
        .expect("an Older link");
    let older = first[start..].split('"').next().unwrap().to_owned();
    let second = a.get(app.url(&older)).await.text().await.unwrap();
    assert_eq!(second.matches("<tr>").count() - 1, 4, "{second}");
    let none = a
        .get(app.url("/vendor/products?q=banana"))
        .await
        .text()
        .await
        .unwrap();
    assert!(none.contains("No product matches."), "{none}");
    // A search pages newest first too: the 27 pears, 25 then 2.
    let pears = a
        .get(app.url("/vendor/products?q=pear"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(pears.matches("<tr>").count() - 1, 25, "{pears}");
    assert!(
        pears.find("pear-26").unwrap() < pears.find("pear-02").unwrap(),
        "newest first"
    );
    assert!(!pears.contains("pear-01"), "{pears}");
    let pears = pears.replace("&#x2f;", "/").replace("&amp;", "&");
    let start = pears.find("/vendor/products?").map(|i| &pears[i..]);
    let older = start
        .and_then(|s| s.split('"').find(|s| s.contains("before=")))
        .expect("an Older link keeping the search")
        .to_owned();
    assert!(older.contains("q=pear"), "{older}");
    let rest = a.get(app.url(&older)).await.text().await.unwrap();
    assert_eq!(rest.matches("<tr>").count() - 1, 2, "{rest}");
    assert!(
        rest.find("pear-01").unwrap() < rest.find("pear-00").unwrap(),
        "{rest}"
    );

    // The stock filter: sold out (no variant left), low (a tracked variant at 5 or fewer, sold
    // out included) and in stock; only A's products, whatever B has.
    app.seed("vendor-a", &[stocked("sold-out-fig", &[700], 0)])
        .await;
    app.seed("vendor-b", &[stocked("sold-out-kiwi", &[700], 0)])
        .await;
    let listed = |url: &'static str| {
        let a = &a;
        let app = &app;
        async move {
            let page = a.get(app.url(url)).await.text().await.unwrap();
            let rows = page.matches("<tr>").count().saturating_sub(1);
            (page, rows)
        }
    };
    let (sold_out, rows) = listed("/vendor/products?stock=sold_out").await;
    assert!(sold_out.contains("sold-out-fig"), "{sold_out}");
    assert_eq!(rows, 1, "only A's sold-out product: {sold_out}");
    let (low, rows) = listed("/vendor/products?stock=low").await;
    assert!(
        low.contains("sold-out-fig") && low.contains("rare-quince"),
        "{low}"
    );
    assert_eq!(rows, 2, "pears have 40 each: {low}");
    let (in_stock, rows) = listed("/vendor/products?stock=in_stock").await;
    assert!(
        in_stock.contains("rare-quince") && !in_stock.contains("sold-out-fig"),
        "{in_stock}"
    );
    assert_eq!(rows, 25, "28 of A's products are in stock, 25 a page");
    assert_eq!(
        a.get(app.url("/vendor/products?stock=plenty"))
            .await
            .status(),
        400
    );
    let drafts = a
        .get(app.url("/vendor/products?status=draft"))
        .await
        .text()
        .await
        .unwrap();
    assert!(drafts.contains("No product matches."));
    assert_eq!(
        a.get(app.url("/vendor/products?status=sold"))
            .await
            .status(),
        400
    );
}
