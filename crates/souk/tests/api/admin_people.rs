//! People in the admin panel: finding a customer, disabling the account (its sessions end and
//! it cannot sign in) and enabling it again; the admin ending their own other sessions.

use reqwest::Method;

use crate::admin_panel::{ADMIN, PASSWORD, hidden, sign_in, signed_in_client};
use crate::browser::Browser;
use crate::helpers::{TestApp, status_json};

async fn whoami(app: &TestApp, token: &str) -> u16 {
    app.send(Method::GET, "/api/auth/me", token, None).await.0
}

#[tokio::test]
async fn an_admin_finds_a_customer_disables_the_account_after_confirming_and_enables_it_again() {
    let app = TestApp::spawn().await;
    let _admin = app.admin_token().await;
    let shopper = app.register("shopper.one@example.com").await;
    app.register("other@example.com").await;
    assert_eq!(whoami(&app, &shopper).await, 200);

    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    browser.go("/admin/customers").await;
    browser.find("table.customers").await;
    browser.screenshot("admin-customers").await;
    browser.assert_accessible("admin-customers").await;
    // Searching by the start of the email, in any case.
    browser.fill("#q", "SHOPPER").await;
    browser.click_and_wait("form.filters button").await;
    browser.find("table.customers").await;
    let found = browser.main_text().await;
    assert!(found.contains("shopper.one@example.com"), "{found}");
    assert!(!found.contains("other@example.com"), "{found}");
    browser.click_and_wait("table.customers tbody a").await;
    browser.find("#sessions-title").await;
    let page = browser.main_text().await;
    assert!(page.contains("Ada Lovelace"), "{page}");
    browser.screenshot("admin-customer").await;
    browser.assert_accessible("admin-customer").await;
    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("table.sessions tbody tr"))
            .await
            .unwrap()
            .len(),
        1,
        "the shopper's one session"
    );

    // Disabling asks first, then ends the shopper's session at once.
    browser.click_and_wait("a[href$='/disable']").await;
    browser.find("#confirm-title").await;
    browser.screenshot("admin-customer-disable-confirm").await;
    browser
        .assert_accessible("admin-customer-disable-confirm")
        .await;
    assert_eq!(
        whoami(&app, &shopper).await,
        200,
        "nothing before confirming"
    );
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(
        flash,
        "shopper.one@example.com is disabled: its sessions have ended."
    );
    assert_eq!(whoami(&app, &shopper).await, 401);
    let (status, problem) = status_json(app.login("shopper.one@example.com", PASSWORD).await).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("account_disabled"))
    );
    // A wrong password still says only that.
    let (status, _) = status_json(app.login("shopper.one@example.com", "wrong").await).await;
    assert_eq!(status, 401);

    // Enabled again, it signs in.
    browser
        .click_and_wait("form[action$='/enable'] button")
        .await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "shopper.one@example.com can sign in again.");
    let (status, _) = status_json(app.login("shopper.one@example.com", PASSWORD).await).await;
    assert_eq!(status, 200);

    browser.go("/admin/audit?subject_type=user").await;
    let log = browser.main_text().await;
    assert!(
        log.contains("user.disable") && log.contains("user.enable"),
        "{log}"
    );
    browser.close().await;
}

#[tokio::test]
async fn an_admin_ends_another_of_their_sessions_but_cannot_disable_themselves() {
    let app = TestApp::spawn().await;
    let elsewhere = app.admin_token().await;
    assert_eq!(whoami(&app, &elsewhere).await, 200);
    let client = signed_in_client(&app).await;
    let page = client
        .get(app.url("/admin/sessions"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        page.matches("<tr>").count(),
        3,
        "header and two sessions: {page}"
    );
    assert_eq!(page.matches("this browser").count(), 1, "{page}");
    let csrf = hidden(&page, "csrf");
    // Attribute values are HTML-escaped (`/` as `&#x2f;`).
    let page = page.replace("&#x2f;", "/");
    let start = page
        .find("action=\"/admin/sessions/")
        .unwrap_or_else(|| panic!("{page}"))
        + "action=\"".len();
    let action = page[start..].split('"').next().unwrap().to_owned();
    let ended = client
        .post(app.url(&action), &[("csrf", csrf.as_str())], None)
        .await;
    assert_eq!(ended.status(), 303);
    assert_eq!(
        whoami(&app, &elsewhere).await,
        401,
        "the other session ended"
    );
    // This browser's session goes on.
    let again = client.get(app.url("/admin/sessions")).await;
    assert_eq!(again.status(), 200);

    let me = souk_storage::accounts::user_by_email(&app.db, ADMIN)
        .await
        .unwrap()
        .unwrap()
        .id;
    // Posted from anywhere but its confirmation page, a destructive action goes there first.
    let unconfirmed = client
        .post(
            app.url(&format!("/admin/customers/{me}/disable")),
            &[("csrf", csrf.as_str())],
            None,
        )
        .await;
    assert_eq!(unconfirmed.status(), 303);
    assert_eq!(
        unconfirmed.headers()["location"],
        format!("/admin/customers/{me}/disable").as_str()
    );
    let refused = client
        .post(
            app.url(&format!("/admin/customers/{me}/disable")),
            &[("csrf", csrf.as_str()), ("confirm", "yes")],
            None,
        )
        .await;
    assert_eq!(refused.status(), 409);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("you cannot disable the account you are signed in with")
    );
    assert_eq!(client.get(app.url("/admin")).await.status(), 200);
}
