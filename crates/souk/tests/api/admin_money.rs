//! Money in the admin panel: refunding one vendor's part of an order and seeing that vendor's
//! balance change (in Chromium), payouts and refunds that happen once however often their form
//! is sent, the commission rate, cancelling and completing orders, and the CSV exports.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_panel::{ADMIN, FormClient, hidden, sign_in, signed_in_client};
use crate::browser::Browser;
use crate::checkout::{TwoVendors, checkout_body};
use crate::helpers::TestApp;

/// A guest order of 2 apples (vendor A, 10.00 each) and 1 banana (vendor B, 30.00).
async fn order_from_two_vendors(app: &TestApp, tv: &TwoVendors, email: &str) -> Value {
    let cart = app.cart_with(&tv.apple, 2).await;
    app.add_to_cart(&cart, &tv.banana, 1).await;
    let (status, order, _) = app.checkout(&cart, email, &checkout_body(email)).await;
    assert_eq!(status, 201, "{order}");
    order
}

/// `12.50 USD` for 1250.
pub fn usd(minor: i64) -> String {
    format!("{}.{:02} USD", minor / 100, minor % 100)
}

#[tokio::test]
async fn an_admin_refunds_one_vendors_part_after_confirming_and_sees_that_vendors_balance_drop() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tv = app.two_vendors(&admin).await;
    let order = order_from_two_vendors(&app, &tv, "two.parts@example.com").await;
    let id = order["id"].as_str().unwrap();
    app.pay_in_full(&admin, &order).await;
    let before = app.available(&tv.b_id).await;
    let a_before = app.available(&tv.a_id).await;
    assert!(before > 0, "vendor B earned from the paid order");

    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    // The vendor's page shows what it can be paid.
    browser.go(&format!("/admin/vendors/{}", tv.b_id)).await;
    let shown = browser.find("#available").await.text().await.unwrap();
    assert_eq!(shown, usd(before));
    browser.screenshot("admin-vendor").await;
    browser.assert_accessible("admin-vendor").await;

    // Refund 10.00 out of vendor B's part: the order page asks first.
    browser.go(&format!("/admin/orders/{id}")).await;
    browser.find("#refund-amount").await;
    browser.screenshot("admin-order-paid-refund-form").await;
    browser
        .assert_accessible("admin-order-paid-refund-form")
        .await;
    browser.fill("#refund-amount", "10.00").await;
    let options = browser
        .client
        .find_all(fantoccini::Locator::Css("#refund-part option"))
        .await
        .unwrap();
    let mut picked = false;
    for option in options {
        if option.text().await.unwrap().contains("vendor-b") {
            option.click().await.unwrap();
            picked = true;
        }
    }
    assert!(picked, "vendor B's part is offered");
    browser
        .fill("#refund-reason", "banana arrived bruised")
        .await;
    browser
        .click_and_wait("form[action$='/refund'] button")
        .await;
    let title = browser.find("#confirm-title").await.text().await.unwrap();
    assert!(title.starts_with("Refund 10.00 USD of order"), "{title}");
    let explained = browser.main_text().await;
    assert!(
        explained.contains("out of Shop vendor-b's part")
            && explained.contains("two.parts@example.com"),
        "{explained}"
    );
    browser.screenshot("admin-order-refund-confirm").await;
    browser
        .assert_accessible("admin-order-refund-confirm")
        .await;
    // Nothing is refunded until the admin confirms.
    assert_eq!(app.available(&tv.b_id).await, before);
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Refunded 10.00 USD.");
    let page = browser.main_text().await;
    assert!(
        page.contains("Refund of Shop vendor-b's part") && page.contains("banana arrived bruised"),
        "the refund is listed: {page}"
    );
    assert!(page.contains("order.refund"), "on the timeline: {page}");
    browser.screenshot("admin-order-refunded").await;
    browser.assert_accessible("admin-order-refunded").await;

    // Vendor B's balance dropped by its share of the refund; vendor A's did not move.
    let after = app.available(&tv.b_id).await;
    assert!(
        after < before && after >= before - 1000,
        "{before} → {after}"
    );
    assert_eq!(app.available(&tv.a_id).await, a_before);
    browser.go(&format!("/admin/vendors/{}", tv.b_id)).await;
    assert_eq!(
        browser.find("#available").await.text().await.unwrap(),
        usd(after)
    );

    // The audit log, filtered to refunds, shows it and only it.
    browser.go("/admin/audit?action=order.refund").await;
    browser.find("table.audit").await;
    let log = browser.main_text().await;
    assert!(log.contains("order.refund") && log.contains(ADMIN), "{log}");
    assert!(!log.contains("vendor.active"), "filtered: {log}");
    browser.screenshot("admin-audit-filtered").await;
    browser.assert_accessible("admin-audit-filtered").await;

    // The home page draws today's sales.
    browser.go("/admin").await;
    let chart = browser.find("svg.chart title").await;
    let summary = chart.prop("textContent").await.unwrap().unwrap_or_default();
    assert!(summary.contains("1 orders"), "{summary}");
    browser.close().await;
}

/// The page at `path`, and its `csrf` and `key` hidden fields.
async fn form_of(client: &FormClient, app: &TestApp, path: &str) -> (String, String, String) {
    let page = client.get(app.url(path)).await.text().await.unwrap();
    let csrf = hidden(&page, "csrf");
    let key = hidden(&page, "key");
    (page, csrf, key)
}

#[tokio::test]
async fn a_payout_or_refund_form_sent_twice_pays_and_refunds_once() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tv = app.two_vendors(&admin).await;
    let order = order_from_two_vendors(&app, &tv, "twice@example.com").await;
    let id = order["id"].as_str().unwrap();
    app.pay_in_full(&admin, &order).await;
    let client = signed_in_client(&app).await;
    let vendor_path = format!("/admin/vendors/{}", tv.a_id);

    let before = app.available(&tv.a_id).await;
    let (_, csrf, key) = form_of(&client, &app, &vendor_path).await;
    let payout = [
        ("csrf", csrf.as_str()),
        ("key", key.as_str()),
        ("amount", "5.00"),
        ("reference", "SEPA-1"),
    ];
    let url = app.url(&format!("{vendor_path}/payouts"));
    for _ in 0..2 {
        assert_eq!(client.post(url.clone(), &payout, None).await.status(), 303);
    }
    assert_eq!(app.available(&tv.a_id).await, before - 500, "one payout");
    let vendor = uuid::Uuid::parse_str(&tv.a_id).unwrap();
    let payouts = souk_storage::ledger::payouts(&app.db, vendor)
        .await
        .unwrap();
    assert_eq!(payouts.len(), 1);
    // More than is available is refused beside the amount, and nothing is recorded.
    let (_, csrf, key) = form_of(&client, &app, &vendor_path).await;
    let too_much = [
        ("csrf", csrf.as_str()),
        ("key", key.as_str()),
        ("amount", "100000.00"),
        ("reference", ""),
    ];
    let refused = client.post(url.clone(), &too_much, None).await;
    assert_eq!(refused.status(), 409);
    let page = refused.text().await.unwrap();
    assert!(page.contains("id=\"payout-problem\""), "{page}");
    assert!(page.contains("available balance"), "{page}");
    assert_eq!(
        souk_storage::ledger::payouts(&app.db, vendor)
            .await
            .unwrap()
            .len(),
        1
    );

    // A refund confirmed twice (a double click, a resent form) refunds once.
    let (_, csrf, key) = form_of(&client, &app, &format!("/admin/orders/{id}")).await;
    let refund = [
        ("csrf", csrf.as_str()),
        ("key", key.as_str()),
        ("amount", "3.00"),
        ("part", ""),
        ("reason", ""),
        ("confirm", "yes"),
    ];
    let url = app.url(&format!("/admin/orders/{id}/refund"));
    for _ in 0..2 {
        assert_eq!(client.post(url.clone(), &refund, None).await.status(), 303);
    }
    let (_, payments) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        payments["refunds"].as_array().unwrap().len(),
        1,
        "{payments}"
    );
    assert_eq!(payments["refunded"]["amount"], 300);
    // Without `confirm`, the same form only asks.
    let unconfirmed: Vec<_> = refund
        .iter()
        .filter(|(k, _)| *k != "confirm")
        .copied()
        .collect();
    let asked = client.post(url, &unconfirmed, None).await;
    assert_eq!(asked.status(), 200);
    assert!(asked.text().await.unwrap().contains("id=\"confirm-title\""));
}

#[tokio::test]
async fn commission_cancel_complete_and_the_csv_exports_work_from_forms() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tv = app.two_vendors(&admin).await;
    let unpaid = order_from_two_vendors(&app, &tv, "unpaid@example.com").await;
    let paid = order_from_two_vendors(&app, &tv, "paid@example.com").await;
    app.pay_in_full(&admin, &paid).await;
    let client = signed_in_client(&app).await;
    let vendor_path = format!("/admin/vendors/{}", tv.a_id);

    // The commission rate, as a percentage; nonsense is refused beside the field.
    let (_, csrf, _) = form_of(&client, &app, &vendor_path).await;
    let url = app.url(&format!("{vendor_path}/commission"));
    let refused = client
        .post(
            url.clone(),
            &[("csrf", &csrf), ("commission", "12,5%%")],
            None,
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"commission-problem\"")
    );
    let set = client
        .post(url, &[("csrf", &csrf), ("commission", "12.5")], None)
        .await;
    assert_eq!(set.status(), 303);
    let vendor = uuid::Uuid::parse_str(&tv.a_id).unwrap();
    let rate = souk_storage::ledger::commission_of(&app.db, vendor)
        .await
        .unwrap();
    assert_eq!(rate, Some(Some(1250)));
    let page = client
        .get(app.url(&vendor_path))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("12.5 % for this vendor"), "{page}");

    // Cancelling asks first, then cancels with the reason given.
    let unpaid_id = unpaid["id"].as_str().unwrap();
    let confirm = client
        .get(app.url(&format!("/admin/orders/{unpaid_id}/cancel")))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        confirm.contains("unpaid@example.com is emailed"),
        "{confirm}"
    );
    let cancelled = client
        .post(
            app.url(&format!("/admin/orders/{unpaid_id}/cancel")),
            &[
                ("csrf", &csrf),
                ("confirm", "yes"),
                ("reason", "customer asked"),
            ],
            None,
        )
        .await;
    assert_eq!(cancelled.status(), 303);
    let (_, order) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{unpaid_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(order["status"], "cancelled", "{order}");
    // A paid order cannot be cancelled: the page says why.
    let paid_id = paid["id"].as_str().unwrap();
    let refused = client
        .post(
            app.url(&format!("/admin/orders/{paid_id}/cancel")),
            &[("csrf", &csrf), ("confirm", "yes")],
            None,
        )
        .await;
    assert_eq!(refused.status(), 409);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("not possible while the order is paid")
    );

    // Completing needs a fulfilled order: both vendors ship, then it completes.
    for token in [&tv.a_token, &tv.b_token] {
        let (_, list) = app
            .send(Method::GET, "/api/vendor/orders", token, None)
            .await;
        let vo = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|vo| vo["order_id"] == paid["id"])
            .unwrap_or_else(|| panic!("{list}"))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, body) = app
            .send(
                Method::POST,
                &format!("/api/vendor/orders/{vo}/fulfil"),
                token,
                Some(json!({"carrier": "DHL", "tracking_number": "TRACK1"})),
            )
            .await;
        assert!(status < 300, "{body}");
    }
    let page = client
        .get(app.url(&format!("/admin/orders/{paid_id}")))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Complete order"), "{page}");
    let completed = client
        .post(
            app.url(&format!("/admin/orders/{paid_id}/complete")),
            &[("csrf", &csrf)],
            None,
        )
        .await;
    assert_eq!(completed.status(), 303);
    let (_, order) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{paid_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(order["status"], "completed");

    // The order export follows the list's filters.
    let csv = client
        .get(app.url("/admin/orders.csv?status=cancelled"))
        .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("order_id,number,placed_at,email,status"));
    assert!(lines[1].starts_with(unpaid_id) && lines[1].contains("unpaid@example.com"));
    let vendor_filter = format!("/admin/orders.csv?vendor={}", tv.a_id);
    let text = client
        .get(app.url(&vendor_filter))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        text.lines().count(),
        3,
        "both orders include vendor A: {text}"
    );
    let today = &souk_domain::time::rfc3339(souk_storage::now_ms())[..10];
    let text = client
        .get(app.url(&format!("/admin/orders.csv?from=2000-01-01&to={today}")))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let text = client
        .get(app.url("/admin/orders.csv?to=2000-01-01"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(text.lines().count(), 1, "only the header: {text}");
    let bad = client.get(app.url("/admin/orders?from=yesterday")).await;
    assert_eq!(bad.status(), 400);

    // The payout report has a line per vendor.
    let report = client.get(app.url("/admin/payouts.csv")).await;
    assert_eq!(report.status(), 200);
    let text = report.text().await.unwrap();
    assert!(text.starts_with("vendor_id,vendor_name,currency"), "{text}");
    assert!(text.contains(&tv.a_id) && text.contains(&tv.b_id), "{text}");
}

#[tokio::test]
async fn coupons_and_tax_rates_are_set_from_the_money_page_and_nonsense_is_refused_beside_its_field()
 {
    let app = TestApp::spawn().await;
    let _admin = app.admin_token().await;
    let client = signed_in_client(&app).await;
    let page = client
        .get(app.url("/admin/money"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("No coupons yet."), "{page}");
    let csrf = hidden(&page, "csrf");
    let coupon = |code: &'static str, value: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("code", code.to_owned()),
            ("kind", "percent".to_owned()),
            ("value", value.to_owned()),
            ("min_subtotal", "20.00".to_owned()),
            ("expires", "2099-12-31".to_owned()),
            ("max_uses", "100".to_owned()),
        ]
    };
    let post = |path: &'static str, form: Vec<(&'static str, String)>| {
        let client = &client;
        let url = app.url(path);
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            client.post(url, &form, None).await
        }
    };
    let refused = post("/admin/coupons", coupon("summer10", "ten")).await;
    assert_eq!(refused.status(), 422);
    let page = refused.text().await.unwrap();
    assert!(page.contains("id=\"coupon-value-problem\""), "{page}");
    assert!(
        page.contains("value=\"summer10\""),
        "the form keeps what was typed"
    );
    assert!(
        souk_storage::coupons::list(&app.db)
            .await
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        post("/admin/coupons", coupon("summer10", "12.5"))
            .await
            .status(),
        303
    );
    let saved = souk_storage::coupons::list(&app.db).await.unwrap();
    assert_eq!(saved.len(), 1);
    let c = &saved[0];
    assert_eq!(
        (c.code.as_str(), c.kind.as_str(), c.value, c.min_subtotal),
        ("SUMMER10", "percent", 1250, 2000)
    );
    assert_eq!(c.max_uses, Some(100));
    assert_eq!(
        c.expires_at,
        souk_domain::time::parse_rfc3339("2099-12-31T23:59:59Z")
    );
    // The same code again is refused beside the code.
    let again = post("/admin/coupons", coupon("SUMMER10", "5")).await;
    assert_eq!(again.status(), 409);
    assert!(
        again
            .text()
            .await
            .unwrap()
            .contains("id=\"coupon-code-problem\"")
    );

    // Paused, then resumed.
    let url = app.url(&format!("/admin/coupons/{}/active", c.id));
    let pause = [("csrf", csrf.as_str()), ("active", "false")];
    assert_eq!(client.post(url, &pause, None).await.status(), 303);
    assert!(!souk_storage::coupons::list(&app.db).await.unwrap()[0].active);

    // Tax: a country, a region by its name, and a region that does not exist.
    let tax = |country: &str, region: &str, rate: &str| {
        vec![
            ("csrf", csrf.clone()),
            ("country", country.to_owned()),
            ("region", region.to_owned()),
            ("rate", rate.to_owned()),
        ]
    };
    assert_eq!(
        post("/admin/tax-rates", tax("de", "", "19")).await.status(),
        303
    );
    assert_eq!(
        post("/admin/tax-rates", tax("US", "California", "7.25"))
            .await
            .status(),
        303
    );
    let refused = post("/admin/tax-rates", tax("US", "Atlantis", "5")).await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"tax-region-problem\"")
    );
    let refused = post("/admin/tax-rates", tax("DE", "", "150")).await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"tax-rate-problem\"")
    );
    let rates = souk_storage::rates::tax_rates(&app.db).await.unwrap();
    let mut got: Vec<(String, String, i64)> = rates
        .into_iter()
        .map(|r| (r.country, r.region, r.rate_bps))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("DE".to_owned(), String::new(), 1900),
            ("US".to_owned(), "CA".to_owned(), 725)
        ]
    );

    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    browser.go("/admin/money").await;
    let text = browser.main_text().await;
    assert!(
        text.contains("SUMMER10") && text.contains("12.5 %") && text.contains("US-CA"),
        "{text}"
    );
    browser.screenshot("admin-money").await;
    browser.assert_accessible("admin-money").await;
    browser.close().await;
}
