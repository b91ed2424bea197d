//! Lighthouse (npm, installed by the test command) scores the admin home, the order list and
//! an order page in the system Chromium, signed in: performance, accessibility and best
//! practices each at least 95. The pages are the same on both databases, so this runs on
//! SQLite only.

use std::process::Command;

use crate::checkout::{checkout_body, stocked};
use crate::helpers::TestApp;

const PASSWORD: &str = "correct horse battery staple";

/// The scores of one page, by category, from 0 to 100, and the performance metrics behind them.
fn scores(url: &str, token: &str) -> (Vec<(String, u32)>, String) {
    lighthouse(
        url,
        "performance,accessibility,best-practices",
        &format!("souk_session={token}"),
    )
}

/// Lighthouse's scores of `url` in `categories` (comma-separated) with `cookie` sent, by
/// category from 0 to 100, and the performance metrics behind them.
pub fn lighthouse(url: &str, categories: &str, cookie: &str) -> (Vec<(String, u32)>, String) {
    let lighthouse = std::env::var("SOUK_TEST_LIGHTHOUSE").unwrap_or_else(|_| {
        format!(
            "{}/../../target/tools/node_modules/.bin/lighthouse",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new(&lighthouse)
        .env("CHROME_PATH", "/usr/bin/chromium")
        .args([
            url,
            "--quiet",
            &format!("--only-categories={categories}"),
            &format!("--extra-headers={{\"Cookie\":\"{cookie}\"}}"),
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
            "--output=json",
            &format!("--output-path={}", out.path().display()),
        ])
        .status()
        .unwrap_or_else(|e| panic!("lighthouse at {lighthouse} (scripts/test installs it): {e}"));
    assert!(status.success(), "lighthouse failed on {url}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path()).unwrap()).unwrap();
    // The metrics that make up the performance score, so a low score says what was slow.
    let metrics = [
        "first-contentful-paint",
        "largest-contentful-paint",
        "total-blocking-time",
        "cumulative-layout-shift",
        "speed-index",
    ]
    .iter()
    .map(|id| {
        let display = report["audits"][id]["displayValue"].as_str().unwrap_or("?");
        format!("{id} {display}")
    })
    .collect::<Vec<_>>()
    .join(", ");
    let categories = report["categories"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                (c["score"].as_f64().unwrap_or(0.0) * 100.0).round() as u32,
            )
        })
        .collect();
    (categories, metrics)
}

#[tokio::test]
async fn sqlite_only_lighthouse_scores_the_admin_pages_at_least_95() {
    let app = TestApp::spawn().await;
    let _admin = app.admin_token().await;
    app.seed("acme", &[stocked("kettle", &[4500], 50)]).await;
    let variant = app.variant_ids("kettle").await.remove(0);
    let mut order_id = String::new();
    for i in 0..30 {
        let cart = app.cart_with(&variant, 1).await;
        let email = format!("shopper{i}@example.com");
        let (status, order, _) = app
            .checkout(&cart, &format!("lh-{i}"), &checkout_body(&email))
            .await;
        assert_eq!(status, 201, "{order}");
        order_id = order["id"].as_str().unwrap().to_owned();
    }
    // A session of its own, as a browser would have after signing in.
    let (status, body) =
        crate::helpers::status_json(app.login("root@souk.test", PASSWORD).await).await;
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap().to_owned();
    let paths = [
        "/admin".to_owned(),
        "/admin/orders".to_owned(),
        format!("/admin/orders/{order_id}"),
    ];
    // Each page once before measuring, as an admin's browser would have: the score is about
    // the page, not about this debug build's first request after start-up.
    for path in &paths {
        let response = app
            .client
            .get(app.url(path))
            .header("cookie", format!("souk_session={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let mut low = Vec::new();
    for path in paths {
        let url = app.url(&path);
        let url = tokio::task::spawn_blocking({
            let token = token.clone();
            move || (scores(&url, &token), url)
        })
        .await
        .unwrap();
        let ((scores, metrics), url) = url;
        assert_eq!(scores.len(), 3, "{url}: {scores:?}");
        eprintln!("{path}: {metrics}");
        for (category, score) in scores {
            eprintln!("{path}: {category} {score}");
            if score < 95 {
                low.push(format!("{path} {category} {score}"));
            }
        }
    }
    assert!(low.is_empty(), "below 95: {low:?}");
}
