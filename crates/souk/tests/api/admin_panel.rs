//! The admin panel in a real headless Chromium, and its security over plain HTTP: sign-in, the
//! home page, finding a guest's order by email, recording its payment; CSRF, CSP and escaping.

use reqwest::Method;
use serde_json::Value;

use crate::browser::Browser;
use crate::checkout::{checkout_body, stocked};
use crate::helpers::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";
pub const ADMIN: &str = "root@souk.test";

/// A shop with one vendor's kettle and one unpaid guest order for it, by `email`, whose
/// shipping name is `name`. Returns the admin's API token and the order.
async fn shop_with_an_unpaid_order(app: &TestApp, email: &str, name: &str) -> (String, Value) {
    let admin = app.admin_token().await;
    app.seed("acme", &[stocked("kettle", &[4500], 5)]).await;
    let variant = app.variant_ids("kettle").await.remove(0);
    let cart = app.cart_with(&variant, 2).await;
    let mut body = checkout_body(email);
    body["shipping_address"]["name"] = Value::from(name);
    let (status, order, _) = app.checkout(&cart, "admin-panel", &body).await;
    assert_eq!(status, 201, "{order}");
    (admin, order)
}

async fn order_status(app: &TestApp, admin: &str, id: &str) -> String {
    let (_, order) = app
        .send(Method::GET, &format!("/api/admin/orders/{id}"), admin, None)
        .await;
    order["status"].as_str().unwrap().to_owned()
}

pub async fn sign_in(browser: &Browser) {
    browser.go("/admin").await;
    assert!(
        browser.path().await.starts_with("/admin/sign-in"),
        "an anonymous visitor is sent to sign in"
    );
    browser.fill("#email", ADMIN).await;
    browser.fill("#password", PASSWORD).await;
    browser.click_and_wait("button.primary").await;
    browser.find("#waiting-title").await;
    assert_eq!(browser.path().await, "/admin");
}

#[tokio::test]
async fn an_admin_signs_in_finds_a_guest_order_by_email_and_records_its_payment() {
    let app = TestApp::spawn().await;
    let (admin, order) =
        shop_with_an_unpaid_order(&app, "guest.buyer@example.com", "Grace Hopper").await;
    let id = order["id"].as_str().unwrap();
    let browser = Browser::open(&app.base).await;

    // A wrong password shows the form again, with the message beside it.
    browser.go("/admin/sign-in").await;
    browser.fill("#email", ADMIN).await;
    browser.fill("#password", "not the password").await;
    browser.click_and_wait("button.primary").await;
    let problem = browser.find("#sign-in-problem").await.text().await.unwrap();
    assert_eq!(problem, "Wrong email or password.");
    browser.screenshot("admin-sign-in-refused").await;
    browser.assert_accessible("admin-sign-in-refused").await;

    sign_in(&browser).await;
    let home = browser.main_text().await;
    assert!(home.contains("1\norders awaiting payment"), "{home}");
    assert!(
        home.contains("guest.buyer@example.com"),
        "latest orders: {home}"
    );
    browser.screenshot("admin-home").await;
    browser.assert_accessible("admin-home").await;

    // The global search finds the order by the guest's email (any case).
    browser
        .fill("#global-search", "Guest.Buyer@Example.com")
        .await;
    browser.click_and_wait("form.search button").await;
    browser.find("table.orders").await;
    assert!(browser.path().await.starts_with("/admin/search?q="));
    let rows = browser.main_text().await;
    assert!(rows.contains("guest.buyer@example.com"), "{rows}");
    browser.screenshot("admin-search").await;
    browser.assert_accessible("admin-search").await;
    browser.click_and_wait("table.orders tbody a").await;
    browser.find("#amount").await;
    assert_eq!(browser.path().await, format!("/admin/orders/{id}"));
    let page = browser.main_text().await;
    assert!(
        page.contains("pending payment") && page.contains("Grace Hopper"),
        "{page}"
    );
    browser.screenshot("admin-order-unpaid").await;
    browser.assert_accessible("admin-order-unpaid").await;

    // The wrong amount is refused beside its field and nothing changes.
    browser.fill("#amount", "12.00").await;
    browser.click_and_wait("form.action button.primary").await;
    let problem = browser.find("#amount-problem").await.text().await.unwrap();
    assert!(problem.contains("90.00"), "names the amount due: {problem}");
    assert_eq!(order_status(&app, &admin, id).await, "pending_payment");

    // The right amount pays it, once, with a message on the order page.
    browser.fill("#amount", "90.00").await;
    browser.fill("#reference", "BANK-7731").await;
    browser.click_and_wait("form.action button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Payment recorded: the order is paid.");
    assert!(browser.main_text().await.contains("paid"));
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css("#amount"))
            .await
            .is_err(),
        "a paid order offers no payment form"
    );
    browser.screenshot("admin-order-paid").await;
    browser.assert_accessible("admin-order-paid").await;
    assert_eq!(order_status(&app, &admin, id).await, "paid");
    // The flash is shown once.
    browser.go(&format!("/admin/orders/{id}")).await;
    browser.find("#customer-title").await;
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css("p.flash"))
            .await
            .is_err()
    );

    // The audit log says who recorded it.
    let (_, audit) = app
        .send(Method::GET, "/api/admin/audit-log", &admin, None)
        .await;
    let payments: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "order.payment")
        .collect();
    assert_eq!(payments.len(), 1, "{audit}");
    assert_eq!(payments[0]["actor_email"], ADMIN);
    assert_eq!(payments[0]["details"]["reference"], "BANK-7731");

    // Signing out ends the session: the panel asks to sign in again.
    browser.click_and_wait("form.signout button").await;
    browser.find("#sign-in-title").await;
    browser.go("/admin/orders").await;
    browser.find("#sign-in-title").await;
    browser.close().await;
}

#[tokio::test]
async fn names_and_emails_that_look_like_html_are_shown_as_text_and_run_nothing() {
    let app = TestApp::spawn().await;
    let name = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    let (_, order) = shop_with_an_unpaid_order(&app, "xss@example.com", name).await;
    let id = order["id"].as_str().unwrap();
    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    browser.go(&format!("/admin/orders/{id}")).await;
    browser.find("#customer-title").await;
    browser.assert_no_dialog().await;
    let text = browser.main_text().await;
    assert!(text.contains(name), "the name is shown as typed: {text}");
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css("main img, main script"))
            .await
            .is_err(),
        "no element was injected"
    );
    browser.screenshot("admin-order-escaped").await;
    browser.close().await;
}

/// A browser-like client over plain HTTP: it keeps the cookies it is given and follows no
/// redirects, so each answer can be checked.
pub struct FormClient {
    http: reqwest::Client,
    cookies: std::sync::Mutex<Vec<(String, String)>>,
}

impl Default for FormClient {
    fn default() -> Self {
        Self::new()
    }
}

impl FormClient {
    pub fn new() -> Self {
        FormClient {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Default::default(),
        }
    }

    fn keep(&self, response: &reqwest::Response) {
        let mut jar = self.cookies.lock().unwrap();
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            jar.retain(|(n, _)| n != name);
            if !value.is_empty() {
                jar.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    fn cookie_header(&self) -> String {
        let jar = self.cookies.lock().unwrap();
        jar.iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&self, url: String) -> reqwest::Response {
        let response = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    pub async fn post(
        &self,
        url: String,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        self.keep(&response);
        response
    }

    /// Posts a body already encoded (a `multipart/form-data` upload) with its content type.
    pub async fn post_bytes(
        &self,
        url: String,
        content_type: &str,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let response = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }
}

/// A [`FormClient`] signed in as the admin.
pub async fn signed_in_client(app: &TestApp) -> FormClient {
    signed_in_at(app, "/admin/sign-in", ADMIN).await
}

/// A [`FormClient`] signed in as `email` through the sign-in page at `path`.
pub async fn signed_in_at(app: &TestApp, path: &str, email: &str) -> FormClient {
    let client = FormClient::new();
    let form = client.get(app.url(path)).await.text().await.unwrap();
    let csrf = hidden(&form, "csrf");
    let signed_in = client
        .post(
            app.url(path),
            &[
                ("csrf", csrf.as_str()),
                ("email", email),
                ("password", PASSWORD),
            ],
            None,
        )
        .await;
    assert_eq!(signed_in.status(), 303);
    client
}

/// The audit log page lists each of `actions`, and the admin who did them.
pub async fn assert_audited(browser: &Browser, actions: &[&str]) {
    browser.go("/admin/audit").await;
    browser.find("table.audit").await;
    let log = browser.main_text().await;
    for action in actions {
        assert!(log.contains(action), "{action} in {log}");
    }
    assert!(log.contains(ADMIN));
}

/// The value of the hidden input `name` in `html`.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("a hidden field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_form_sent_without_its_csrf_token_or_from_another_site_changes_nothing() {
    let app = TestApp::spawn().await;
    let (admin, order) = shop_with_an_unpaid_order(&app, "csrf@example.com", "Ada").await;
    let id = order["id"].as_str().unwrap();
    let client = signed_in_client(&app).await;
    let page = client
        .get(app.url(&format!("/admin/orders/{id}")))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&page, "csrf");
    let url = app.url(&format!("/admin/orders/{id}/payment"));
    let missing = client.post(url.clone(), &[("amount", "90.00")], None).await;
    assert_eq!(missing.status(), 403);
    assert!(missing.text().await.unwrap().contains("Form expired"));
    let forged = [("csrf", "forged"), ("amount", "90.00")];
    assert_eq!(client.post(url.clone(), &forged, None).await.status(), 403);
    let genuine = [("csrf", csrf.as_str()), ("amount", "90.00")];
    let cross_site = client
        .post(url.clone(), &genuine, Some("https://evil.example"))
        .await;
    assert_eq!(cross_site.status(), 403);
    assert_eq!(order_status(&app, &admin, id).await, "pending_payment");
    // With its token, from this site, the same form works.
    assert_eq!(client.post(url, &genuine, None).await.status(), 303);
    assert_eq!(order_status(&app, &admin, id).await, "paid");
    // The sign-in form needs its own token too.
    let anonymous = reqwest::Client::new();
    let login = anonymous
        .post(app.url("/admin/sign-in"))
        .form(&[("email", ADMIN), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 403);
}

#[tokio::test]
async fn every_admin_page_sends_a_csp_nonce_and_is_never_stored() {
    let app = TestApp::spawn().await;
    let (_, order) = shop_with_an_unpaid_order(&app, "headers@example.com", "Ada").await;
    let id = order["id"].as_str().unwrap();
    let vendor = souk_storage::vendors::list(&app.db, None, None, 1)
        .await
        .unwrap()[0]
        .id;
    let client = signed_in_client(&app).await;
    let mut nonces = Vec::new();
    for path in [
        "/admin".to_owned(),
        "/admin/orders".to_owned(),
        "/admin/orders?status=pending_payment".to_owned(),
        format!("/admin/orders/{id}"),
        format!("/admin/orders/{id}/cancel"),
        "/admin/orders/00000000-0000-0000-0000-000000000000".to_owned(),
        "/admin/vendors".to_owned(),
        format!("/admin/vendors/{vendor}"),
        "/admin/customers".to_owned(),
        "/admin/sessions".to_owned(),
        "/admin/search?q=ada".to_owned(),
        "/admin/products".to_owned(),
        "/admin/categories".to_owned(),
        "/admin/money".to_owned(),
        "/admin/feed".to_owned(),
        "/admin/webhooks".to_owned(),
        "/admin/api-keys".to_owned(),
        "/admin/email".to_owned(),
        "/admin/jobs".to_owned(),
        "/admin/audit".to_owned(),
    ] {
        let response = client.get(app.url(&path)).await;
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("{path}: no nonce in {csp}"));
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{path}");
        nonces.push(nonce.to_owned());
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 20, "a fresh nonce per response");
    // The stylesheet has a content-hashed name and may be kept for a year.
    let page = client.get(app.url("/admin")).await.text().await.unwrap();
    let start = page.find("/assets/admin.").unwrap();
    let href = page[start..].split('"').next().unwrap();
    let css = client.get(app.url(href)).await;
    assert_eq!(css.status(), 200);
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

async fn vendor_status(app: &TestApp, admin: &str, id: &str) -> String {
    let (_, page) = app
        .send(Method::GET, "/api/admin/vendors", admin, None)
        .await;
    let vendor = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("vendor {id} in {page}"));
    vendor["status"].as_str().unwrap().to_owned()
}

/// A job that gave up (as the worker records one after its last attempt).
pub async fn dead_job(app: &TestApp) -> uuid::Uuid {
    let mut tx = app.db.begin_write().await.unwrap();
    let job = souk_storage::jobs::enqueue(
        &mut tx,
        &souk_storage::jobs::NewJob {
            kind: "email".into(),
            payload: serde_json::json!({"to": "nobody@example.com", "template": "x", "vars": {}}),
            max_attempts: 1,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    souk_storage::jobs::claim(&app.db, "test-worker", 60_000, 10)
        .await
        .unwrap();
    souk_app::outbox::fail_job(&app.db, job, "test-worker", "550 mailbox unavailable", None)
        .await
        .unwrap();
    job
}

#[tokio::test]
async fn an_admin_approves_a_vendor_suspends_it_after_confirming_retries_a_failed_job_and_reads_the_audit_log()
 {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, vendor_id) = app.vendor_owner("seller@example.com", "night-market").await;
    let job = dead_job(&app).await;
    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    let home = browser.main_text().await;
    assert!(home.contains("1\nvendors awaiting approval"), "{home}");
    assert!(home.contains("1\nfailed jobs"), "{home}");

    // From the home tile to the pending vendors; approve.
    browser
        .click("a[href='/admin/vendors?status=pending']")
        .await;
    browser.find("table.vendors").await;
    assert!(browser.main_text().await.contains("seller@example.com"));
    browser.screenshot("admin-vendors-pending").await;
    browser.assert_accessible("admin-vendors-pending").await;
    browser
        .click("button[aria-label='Approve Shop night-market']")
        .await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Shop night-market is approved and can sell.");
    assert_eq!(vendor_status(&app, &admin, &vendor_id).await, "active");

    // Suspending asks first; cancelling changes nothing, confirming suspends.
    browser
        .click("a[aria-label='Suspend Shop night-market']")
        .await;
    browser.find("#confirm-title").await;
    browser.screenshot("admin-vendor-suspend-confirm").await;
    browser
        .assert_accessible("admin-vendor-suspend-confirm")
        .await;
    browser.click_and_wait(".confirm a").await;
    browser.find("#balance-title").await;
    assert_eq!(vendor_status(&app, &admin, &vendor_id).await, "active");
    browser.go("/admin/vendors").await;
    browser
        .click("a[aria-label='Suspend Shop night-market']")
        .await;
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert!(
        flash.starts_with("Shop night-market is suspended"),
        "{flash}"
    );
    assert_eq!(vendor_status(&app, &admin, &vendor_id).await, "suspended");

    // The failed job, with its error, runs again.
    browser.go("/admin/jobs").await;
    let jobs = browser.main_text().await;
    assert!(jobs.contains("550 mailbox unavailable"), "{jobs}");
    browser.screenshot("admin-jobs-failed").await;
    browser.assert_accessible("admin-jobs-failed").await;
    browser
        .click("button[aria-label='Retry the email job']")
        .await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "The email job runs again.");
    let record = souk_storage::jobs::get(&app.db, job)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.status, "pending");

    // The audit log has every one of those actions, by this admin.
    assert_audited(
        &browser,
        &[
            "vendor.active",
            "vendor.suspended",
            "job.retry",
            "vendor.apply",
        ],
    )
    .await;
    browser.screenshot("admin-audit").await;
    browser.assert_accessible("admin-audit").await;
    browser.close().await;
}

/// The ids of the orders `GET /api/admin/orders?q=…` finds for `asked`.
async fn orders_found(app: &TestApp, admin: &str, asked: &str) -> Vec<String> {
    let q = url::form_urlencoded::byte_serialize(asked.as_bytes()).collect::<String>();
    let (status, found) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders?q={q}"),
            admin,
            None,
        )
        .await;
    assert_eq!(status, 200, "{found}");
    found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A customer on the phone quotes the number from their confirmation email (`#A1B2C3D4`): the
/// admin finds that order by it — with or without the `#`, in any case — in the API, the order
/// list and the global search, and not the shop's other orders.
#[tokio::test]
async fn an_admin_finds_an_order_by_the_number_its_customer_quotes() {
    let app = TestApp::spawn().await;
    let (admin, order) = shop_with_an_unpaid_order(&app, "caller@example.com", "Ada").await;
    let id = order["id"].as_str().unwrap().to_owned();
    let variant = app.variant_ids("kettle").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let (status, other, _) = app
        .checkout(&cart, "another", &checkout_body("other@example.com"))
        .await;
    assert_eq!(status, 201, "{other}");
    let other_id = other["id"].as_str().unwrap().to_owned();
    let number = souk_domain::orders::order_number(&id.parse().unwrap());
    assert_ne!(
        number,
        souk_domain::orders::order_number(&other_id.parse().unwrap())
    );
    for asked in [
        number.clone(),
        number[1..].to_lowercase(),
        format!("  {}  ", number.to_lowercase()),
    ] {
        assert_eq!(
            orders_found(&app, &admin, &asked).await,
            [id.as_str()],
            "asked {asked:?}"
        );
    }
    // A number no order has finds nothing; an email still finds its orders.
    let unused = if number == "#00000000" {
        "#00000001"
    } else {
        "#00000000"
    };
    assert!(orders_found(&app, &admin, unused).await.is_empty());
    assert_eq!(
        orders_found(&app, &admin, "other@example.com").await,
        [other_id.as_str()]
    );

    // The pages: the order list's search field and the search box on every page.
    let encode = |q: &str| url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
    let client = signed_in_client(&app).await;
    for path in [
        format!("/admin/orders?q={}", encode(&number)),
        format!("/admin/search?q={}", encode(&number[1..].to_lowercase())),
    ] {
        let response = client.get(app.url(&path)).await;
        assert_eq!(response.status(), 200, "{path}");
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("/admin/orders/{id}")),
            "{path}: {page}"
        );
        assert!(
            !page.contains(&format!("/admin/orders/{other_id}")),
            "{path}"
        );
        assert!(page.contains(&number), "{path}");
    }
}

/// The home counts the variants low on stock (tracked, 5 or fewer left) exactly up to 100, then
/// says "or more": a large catalog has tens of thousands, and counting them all cost every view.
#[tokio::test]
async fn the_admin_home_counts_low_stock_variants_up_to_a_hundred() {
    let app = TestApp::spawn().await;
    app.seed(
        "acme",
        &[
            stocked("plenty", &[1000], 50),
            stocked("few", &[1000, 1100, 1200], 2),
        ],
    )
    .await;
    app.admin_token().await;
    let client = signed_in_client(&app).await;
    let home = client.get(app.url("/admin")).await.text().await.unwrap();
    assert!(
        home.contains("<strong>3</strong> variants low on stock"),
        "{home}"
    );
    let prices: Vec<i64> = (0..60).map(|i| 1000 + i).collect();
    app.seed(
        "acme",
        &[
            stocked("sold-out", &prices, 0),
            stocked("last-ones", &prices, 1),
        ],
    )
    .await;
    let home = client.get(app.url("/admin")).await.text().await.unwrap();
    assert!(
        home.contains("<strong>100 or more</strong> variants low on stock"),
        "123 low: {home}"
    );
}
