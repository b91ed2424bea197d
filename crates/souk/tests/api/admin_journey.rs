//! The admin panel's whole journey in one sitting, in Chromium: sign in, approve a vendor, find
//! a guest's order by email, record its payment, refund one vendor's part, see that vendor's
//! balance drop, retry a failed job, and read the audit entries of all of it.

use crate::admin_panel::{assert_audited, dead_job, sign_in};
use crate::browser::Browser;
use crate::checkout::checkout_body;
use crate::helpers::TestApp;

#[tokio::test]
async fn an_admin_approves_a_vendor_pays_and_refunds_a_guest_order_retries_a_job_and_reads_the_audit_log()
 {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let tv = app.two_vendors(&admin).await;
    let (_, newcomer) = app.vendor_owner("newcomer@example.com", "newcomer").await;
    let job = dead_job(&app).await;
    let cart = app.cart_with(&tv.apple, 2).await;
    app.add_to_cart(&cart, &tv.banana, 1).await;
    let (status, order, _) = app
        .checkout(
            &cart,
            "journey",
            &checkout_body("Journey.Guest@example.com"),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap();

    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;

    // Approve the vendor waiting for it.
    browser.go("/admin/vendors?status=pending").await;
    browser
        .click("button[aria-label='Approve Shop newcomer']")
        .await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Shop newcomer is approved and can sell.");

    // Find the guest's order by email from the search box, and record the transfer.
    browser
        .fill("#global-search", "journey.guest@example.com")
        .await;
    browser.click_and_wait("form.search button").await;
    browser.click_and_wait("table.orders tbody a").await;
    browser.find("#amount").await;
    assert_eq!(browser.path().await, format!("/admin/orders/{id}"));
    browser.fill("#reference", "SEPA-4411").await;
    browser.click_and_wait("form.action button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Payment recorded: the order is paid.");
    let before = app.available(&tv.b_id).await;
    assert!(before > 0);

    // Refund vendor B's part (its whole 30.00 banana), after confirming.
    let options = browser
        .client
        .find_all(fantoccini::Locator::Css("#refund-part option"))
        .await
        .unwrap();
    for option in options {
        if option.text().await.unwrap().contains("vendor-b") {
            option.click().await.unwrap();
        }
    }
    browser.fill("#refund-amount", "30.00").await;
    browser
        .click_and_wait("form[action$='/refund'] button")
        .await;
    browser.find("#confirm-title").await;
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Refunded 30.00 USD.");

    // The vendor's page shows the lower balance.
    browser.go(&format!("/admin/vendors/{}", tv.b_id)).await;
    let after = app.available(&tv.b_id).await;
    assert!(after < before, "{before} → {after}");
    assert_eq!(
        browser.find("#available").await.text().await.unwrap(),
        format!("{}.{:02} USD", after / 100, after % 100)
    );

    // Retry the failed job.
    browser.go("/admin/jobs").await;
    browser
        .click("button[aria-label='Retry the email job']")
        .await;
    assert_eq!(
        browser.find("p.flash").await.text().await.unwrap(),
        "The email job runs again."
    );
    let record = souk_storage::jobs::get(&app.db, job)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, "pending");

    // The audit log has each of those, by this admin.
    assert_audited(
        &browser,
        &[
            "vendor.active",
            "order.payment",
            "order.refund",
            "job.retry",
        ],
    )
    .await;
    browser
        .go(&format!(
            "/admin/audit?subject_type=vendor&subject_id={newcomer}"
        ))
        .await;
    let vendor_log = browser.main_text().await;
    assert!(vendor_log.contains("vendor.active") && !vendor_log.contains("order.refund"));
    browser.screenshot("admin-journey-audit").await;
    browser.close().await;
}
