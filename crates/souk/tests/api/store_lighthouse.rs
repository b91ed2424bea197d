//! Lighthouse (npm, installed by the test command) scores the demo shop's home, a category
//! page, a product page and a cart with two items, in the system Chromium: performance,
//! accessibility, best practices and SEO each at least 95. The pages are the same on both
//! databases, so this runs on SQLite only. (`bench/storefront-lighthouse` reports the same
//! scores for a release build.)

use crate::admin_lighthouse::lighthouse;
use crate::helpers::TestApp;

#[tokio::test]
async fn sqlite_only_lighthouse_scores_the_demo_storefront_at_least_95() {
    let app = TestApp::spawn().await;
    let media = souk_storage::media::MediaStore::new(app.database.dir.path().join("media"));
    souk::seed::seed_demo(&app.db, souk_domain::money::Currency::USD, Some(&media))
        .await
        .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // A shopper's cookies: the form token, then a cart with two products in it.
    let page = client
        .get(app.url("/products/classic-t-shirt"))
        .send()
        .await
        .unwrap();
    let cookie_of = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
    };
    let shop = cookie_of(&page, "souk_shop").unwrap();
    let html = page.text().await.unwrap();
    let value = |name: &str| {
        html.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .to_owned()
    };
    let (csrf, variant) = (value("csrf"), value("variant_id"));
    let added = client
        .post(app.url("/cart/add"))
        .header("origin", &app.base)
        .header("cookie", &shop)
        .form(&[("csrf", csrf.as_str()), ("variant_id", variant.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 303);
    let cookies = format!("{shop}; {}", cookie_of(&added, "souk_cart").unwrap());
    let paths = [
        "/",
        "/categories/kitchen",
        "/products/hand-thrown-teapot",
        "/cart",
    ];
    // Each page once first: the score is about the page, not this debug build's first request.
    for path in paths {
        let response = client
            .get(app.url(path))
            .header("cookie", &cookies)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let mut low = Vec::new();
    for path in paths {
        let url = app.url(path);
        let cookies = cookies.clone();
        let (scores, metrics) = tokio::task::spawn_blocking(move || {
            lighthouse(
                &url,
                "performance,accessibility,best-practices,seo",
                &cookies,
            )
        })
        .await
        .unwrap();
        assert_eq!(scores.len(), 4, "{path}: {scores:?}");
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
