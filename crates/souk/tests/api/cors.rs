//! CORS for frontends on other origins (`SOUK_CORS_ORIGINS`): exact origins only, bearer tokens
//! across origins, the session cookie kept to the shop's own origin.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

const FRONT: &str = "https://front.example";

async fn app_with_cors() -> TestApp {
    TestApp::spawn_with(souk_http::HttpConfig {
        cors_origins: vec![FRONT.to_owned(), "http://localhost:3000".to_owned()],
        ..souk_http::HttpConfig::default()
    })
    .await
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.request_builder(Method::OPTIONS, "/api/store/carts", None, None)
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_listed_origin_is_answered_and_calls_with_a_bearer_token() {
    let app = app_with_cors().await;
    let response = preflight(&app, FRONT).await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(FRONT)
    );
    let methods = header(&response, "access-control-allow-methods").unwrap();
    assert!(
        methods.contains("POST") && methods.contains("PATCH"),
        "{methods}"
    );
    let headers = header(&response, "access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    for h in ["authorization", "content-type", "idempotency-key"] {
        assert!(headers.contains(h), "{headers}");
    }
    assert_eq!(header(&response, "access-control-allow-credentials"), None);

    // The real request, with a customer's bearer token: served, readable by that origin.
    let token = app.register("cross@example.com").await;
    let response = app
        .client
        .post(app.url("/api/store/carts"))
        .header("origin", FRONT)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some(FRONT)
    );
    assert!(
        header(&response, "vary")
            .unwrap_or_default()
            .to_lowercase()
            .contains("origin")
    );
    let exposed = header(&response, "access-control-expose-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("retry-after"),
        "{exposed}"
    );
    // Errors are readable too (a problem+json the frontend can show).
    let response = app
        .client
        .get(app.url("/api/store/products/nope"))
        .header("origin", "http://localhost:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        header(&response, "access-control-allow-origin").as_deref(),
        Some("http://localhost:3000")
    );
}

#[tokio::test]
async fn unlisted_and_null_origins_get_no_cors_headers() {
    let app = app_with_cors().await;
    for origin in [
        "https://evil.example",
        "null",
        "https://front.example.evil.example",
        "http://front.example",
        "https://FRONT.example:443/",
    ] {
        let response = preflight(&app, origin).await;
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            None,
            "preflight from {origin}"
        );
        let response = app
            .client
            .get(app.url("/api/store/products"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(header(&response, "access-control-allow-credentials"), None);
    }
    // Without SOUK_CORS_ORIGINS, no origin gets CORS headers at all.
    let plain = TestApp::spawn().await;
    let response = preflight(&plain, FRONT).await;
    assert_eq!(header(&response, "access-control-allow-origin"), None);
}

/// The session cookie stays with the shop's own origin: from a listed origin, a cookie-
/// authenticated change is refused even with the right CSRF token. From the shop's own origin,
/// reached as `localhost` or as `127.0.0.1` (no public URL configured), it works.
#[tokio::test]
async fn the_session_cookie_is_for_the_shops_own_origin_however_it_is_reached() {
    let app = app_with_cors().await;
    app.register("cookie@example.com").await;
    let login = app
        .login("cookie@example.com", "correct horse battery staple")
        .await;
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("souk_csrf="))
        .unwrap()
        .to_owned();
    let cookie = cookies.join("; ");
    let write = async |origin: &str, host: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/api/store/carts"))
            .header("cookie", cookie.clone())
            .header("x-csrf-token", csrf.clone())
            .header("origin", origin);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    let (status, problem) = write(FRONT, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("csrf_failed"))
    );
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    for host in ["localhost", "127.0.0.1"] {
        let (status, body) = write(
            &format!("http://{host}:{port}"),
            Some(format!("{host}:{port}")),
        )
        .await;
        assert_eq!(status, 201, "{host}: {body}");
    }
}
