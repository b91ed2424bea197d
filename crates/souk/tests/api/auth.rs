//! Accounts and sessions over real HTTP, with a real SMTP server for the emailed links.

use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{TestApp, status_json};
use crate::smtp::{SmtpServer, free_port};

const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Registers, logs in and returns the bearer token.
    pub async fn register(&self, email: &str) -> String {
        let (status, body) = self
            .shop(
                Method::POST,
                "/api/auth/register",
                Some(json!({"email": email, "password": PASSWORD, "name": "Ada Lovelace"})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        let (status, body) = status_json(self.login(email, PASSWORD).await).await;
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.request_raw(
            Method::POST,
            "/api/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
    }
}

fn set_cookies(response: &Response) -> Vec<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value(cookies: &[String], name: &str) -> String {
    cookies
        .iter()
        .find_map(|c| c.strip_prefix(&format!("{name}=")))
        .and_then(|rest| rest.split(';').next())
        .unwrap()
        .to_owned()
}

fn link_token(raw_email: &str) -> String {
    // Quoted-printable may wrap long lines with "=\n"; undo that first.
    let text = raw_email
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

#[tokio::test]
async fn register_stores_an_owasp_argon2id_hash_and_logs_in_with_a_cookie() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.shop(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": " Ada@Example.com ", "password": PASSWORD, "name": "Ada"})),
        )
        .await
        .0,
        202
    );
    let response = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let cookies = set_cookies(&response);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("souk_session="))
        .unwrap();
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );
    assert!(
        !session.contains("Secure"),
        "no Secure flag over plain http: {session}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["email_verified"], false);
    let token = body["token"].as_str().unwrap();
    assert!(token.len() >= 40, "≥ 128 bits");
    assert_eq!(cookie_value(&cookies, "souk_session"), token);

    let user = souk_storage::accounts::user_by_email(&app.db, "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        user.password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        user.password_hash
    );
    assert!(!user.password_hash.contains(PASSWORD));

    let (status, me) = app.send(Method::GET, "/api/auth/me", token, None).await;
    assert_eq!(
        (status, me["email"].as_str()),
        (200, Some("ada@example.com"))
    );

    // Same email again, any case: the same answer as a new address (the owner is emailed
    // instead), and the account is unchanged.
    let (status, body) = app
        .shop(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": "ADA@example.com", "password": "another long passphrase", "name": "Eve"})),
        )
        .await;
    assert_eq!((status, body), (202, json!({"status": "accepted"})));
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn weak_or_malformed_registrations_are_refused_per_field() {
    let app = TestApp::spawn().await;
    let (status, problem) = app
        .shop(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": "nope", "password": "password1", "name": ""})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let fields: Vec<_> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "name", "password"]);
    let (status, problem) = app
        .shop(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": "a@b.co", "password": PASSWORD, "name": "A", "is_admin": true})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("validation_failed")),
        "unknown fields refused: {problem}"
    );
    assert!(
        souk_storage::accounts::user_by_email(&app.db, "a@b.co")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn login_answers_the_same_for_unknown_email_and_wrong_password_and_rotates_the_session() {
    let app = TestApp::spawn().await;
    let first = app.register("grace@example.com").await;
    let unknown = status_json(app.login("nobody@example.com", PASSWORD).await).await;
    let wrong = status_json(app.login("grace@example.com", "not the password").await).await;
    assert_eq!(unknown, wrong);
    assert_eq!(wrong.0, 401);
    assert_eq!(wrong.1["code"], "invalid_credentials");

    let response = app.login("GRACE@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let second = body["token"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "a new session id at every login");

    // Logout ends that session on the server; the other one lives on.
    let response = app
        .request_raw(
            Method::POST,
            "/api/auth/logout",
            Some(&second),
            Some(json!({})),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert!(
        set_cookies(&response)
            .iter()
            .any(|c| c.starts_with("souk_session=;") && c.contains("Max-Age=0"))
    );
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", &second, None).await.0,
        401
    );
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", &first, None).await.0,
        200
    );
    let response = app.get("/api/auth/me").await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_wrong_passwords_lock_that_account_only() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    app.register("target@example.com").await;
    app.register("bystander@example.com").await;
    // The guesses arrive together, as an attacker sends them: the limit must hold under a race.
    let guesses: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let response = app.login("target@example.com", "wrong password!").await;
                if response.status() == 429 {
                    let retry: u64 = response.headers()["retry-after"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    assert!(retry > 0 && retry <= 900);
                }
                response.status().as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 10);
    // Even the right password waits out the window…
    assert_eq!(
        app.login("target@example.com", PASSWORD).await.status(),
        429
    );
    // …while another account from the same address is unaffected.
    assert_eq!(
        app.login("bystander@example.com", PASSWORD).await.status(),
        200
    );
    // A forged X-Forwarded-For does not buy new attempts (no trusted proxy configured).
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "target@example.com", "password": "wrong password!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
}

#[tokio::test]
async fn cookie_authenticated_changes_need_the_csrf_token_and_our_origin() {
    let app = TestApp::spawn().await;
    app.register("csrf@example.com").await;
    let response = app.login("csrf@example.com", PASSWORD).await;
    let cookies = set_cookies(&response);
    let session = cookie_value(&cookies, "souk_session");
    let csrf = cookie_value(&cookies, "souk_csrf");
    let cookie_header = format!("souk_session={session}; souk_csrf={csrf}");
    let logout = |headers: Vec<(&'static str, String)>| {
        let mut request = app
            .client
            .post(app.url("/api/auth/logout"))
            .header("cookie", cookie_header.clone());
        for (k, v) in headers {
            request = request.header(k, v);
        }
        request.send()
    };
    // Reading with the cookie works without a token.
    let me = app
        .client
        .get(app.url("/api/auth/me"))
        .header("cookie", cookie_header.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // No token: refused, nothing changes.
    let (status, problem) = status_json(logout(vec![]).await.unwrap()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("csrf_failed"))
    );
    // Right token from a foreign origin: refused.
    let (status, _) = status_json(
        logout(vec![
            ("x-csrf-token", csrf.clone()),
            ("origin", "https://evil.example".into()),
        ])
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = status_json(
        logout(vec![
            ("x-csrf-token", csrf.clone()),
            ("sec-fetch-site", "cross-site".into()),
        ])
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", &session, None)
            .await
            .0,
        200,
        "still logged in"
    );
    // Token and our own origin: accepted.
    let origin = app.base.clone();
    let response = logout(vec![
        ("x-csrf-token", csrf),
        ("origin", origin),
        ("sec-fetch-site", "same-origin".into()),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", &session, None)
            .await
            .0,
        401
    );
}

/// Every route that changes something and accepts a session (cookie or bearer) refuses a cookie
/// session whose `X-CSRF-Token` is wrong, even from our own origin; the right token gets past the
/// check. The routes come from the OpenAPI document, so a new route is covered without editing
/// this test; the only exceptions are the routes that take no session at all (listed here).
#[tokio::test]
async fn every_cookie_authenticated_change_refuses_a_wrong_csrf_token_from_our_own_origin() {
    const NO_SESSION: &[&str] = &[
        "POST /api/auth/login",
        "POST /api/auth/register",
        "POST /api/auth/password-reset",
        "POST /api/auth/password-reset/confirm",
        "POST /api/auth/verify-email",
        "POST /api/hooks/stripe",
        "POST /api/store/orders/lookup",
    ];
    let app = TestApp::spawn().await;
    app.register("csrf-table@example.com").await;
    let response = app.login("csrf-table@example.com", PASSWORD).await;
    let cookies = set_cookies(&response);
    let session = cookie_value(&cookies, "souk_session");
    let csrf = cookie_value(&cookies, "souk_csrf");
    let (_, doc) = app.get_json("/api/openapi.json").await;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    // Logging out ends the session the rest of the table uses: last.
    routes.sort_by_key(|(_, path)| path == "/api/auth/logout");
    assert!(
        routes.len() > 40,
        "only {} write routes found",
        routes.len()
    );
    let request = |method: &str, path: &str, token: &str| {
        // Any path parameter: a well-formed id that names nothing.
        let concrete = path
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        app.client
            .request(method.parse().unwrap(), app.url(&concrete))
            .header(
                "cookie",
                format!("souk_session={session}; souk_csrf={csrf}"),
            )
            .header("origin", app.base.clone())
            .header("sec-fetch-site", "same-origin")
            .header("x-csrf-token", token)
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .json(&json!({}))
            .send()
    };
    let wrong = format!("{}x", &csrf[..csrf.len() - 1]);
    let mut checked = 0;
    for (method, path) in &routes {
        let route = format!("{method} {path}");
        for token in [wrong.as_str(), "x", ""] {
            let (status, problem) = status_json(request(method, path, token).await.unwrap()).await;
            if NO_SESSION.contains(&route.as_str()) {
                assert_ne!(problem["code"], "csrf_failed", "{route} takes no session");
            } else {
                assert_eq!(
                    (status, problem["code"].as_str()),
                    (403, Some("csrf_failed")),
                    "{route} with the CSRF token {token:?}"
                );
            }
        }
        if !NO_SESSION.contains(&route.as_str()) {
            let (status, problem) = status_json(request(method, path, &csrf).await.unwrap()).await;
            assert_ne!(
                problem["code"], "csrf_failed",
                "{route} refused the right token ({status})"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() - NO_SESSION.len());
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", &session, None)
            .await
            .0,
        401,
        "the right token reached logout"
    );
}

#[tokio::test]
async fn sessions_can_be_listed_and_revoked_and_die_with_a_password_change() {
    let app = TestApp::spawn().await;
    let phone = app.register("multi@example.com").await;
    let laptop: Value = app
        .login("multi@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let laptop = laptop["token"].as_str().unwrap().to_owned();
    let tablet: Value = app
        .login("multi@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let tablet = tablet["token"].as_str().unwrap().to_owned();

    let (_, list) = app
        .send(Method::GET, "/api/auth/sessions", &laptop, None)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(items[0]["created_at"].as_str().unwrap().ends_with('Z'));
    // Revoke the tablet from the laptop.
    let tablet_id = {
        let (_, list) = app
            .send(Method::GET, "/api/auth/sessions", &tablet, None)
            .await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == true)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let response = app
        .client
        .delete(app.url(&format!("/api/auth/sessions/{tablet_id}")))
        .bearer_auth(&laptop)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", &tablet, None).await.0,
        401
    );
    // Someone else's session id is simply not found.
    let other = app.register("other@example.com").await;
    let response = app
        .client
        .delete(app.url(&format!("/api/auth/sessions/{tablet_id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Changing the password ends every session and opens a fresh one.
    let (status, problem) = app
        .send(
            Method::POST,
            "/api/auth/change-password",
            &laptop,
            Some(json!({"current_password": "wrong!wrong!", "new_password": "a new long passphrase"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (status, body) = app
        .send(
            Method::POST,
            "/api/auth/change-password",
            &laptop,
            Some(json!({"current_password": PASSWORD, "new_password": "a new long passphrase"})),
        )
        .await;
    assert_eq!(status, 200);
    let fresh = body["token"].as_str().unwrap();
    for old in [&phone, &laptop] {
        assert_eq!(
            app.send(Method::GET, "/api/auth/me", old, None).await.0,
            401
        );
    }
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", fresh, None).await.0,
        200
    );
    assert_eq!(app.login("multi@example.com", PASSWORD).await.status(), 401);
    assert_eq!(
        app.login("multi@example.com", "a new long passphrase")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn verification_and_reset_emails_arrive_over_smtp_and_their_links_work_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let old_session = app.register("lin@example.com").await;

    // Verification email → link → verified.
    let mail = smtp.wait_for_exactly(1, Duration::from_secs(20)).await;
    if mail.is_empty() {
        let jobs = souk_storage::jobs::list(&app.db, None, None, 10)
            .await
            .unwrap();
        panic!("no verification email; jobs: {jobs:?}");
    }
    let (_, raw) = mail.values().next().expect("the verification email");
    assert!(raw.contains("To: lin@example.com"));
    let token = link_token(raw);
    assert!(token.starts_with("souk_v_"), "{token}");
    assert_eq!(
        app.shop(
            Method::POST,
            "/api/auth/verify-email",
            Some(json!({"token": token})),
        )
        .await
        .0,
        204
    );
    let (_, me) = app
        .send(Method::GET, "/api/auth/me", &old_session, None)
        .await;
    assert_eq!(me["email_verified"], true);
    let (status, problem) = app
        .shop(
            Method::POST,
            "/api/auth/verify-email",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_token")),
        "single use"
    );

    // Reset: known and unknown addresses get the same answer; only the known one gets mail.
    let known = app
        .shop(
            Method::POST,
            "/api/auth/password-reset",
            Some(json!({"email": "lin@example.com"})),
        )
        .await;
    let unknown = app
        .shop(
            Method::POST,
            "/api/auth/password-reset",
            Some(json!({"email": "ghost@example.com"})),
        )
        .await;
    assert_eq!(known, unknown);
    assert_eq!(known.0, 202);
    let mail = smtp.wait_for_exactly(2, Duration::from_secs(20)).await;
    assert_eq!(mail.len(), 2);
    let reset = mail
        .values()
        .map(|(_, raw)| raw)
        .find(|raw| raw.contains("reset-password"))
        .expect("the reset email");
    assert!(
        !mail
            .values()
            .any(|(_, raw)| raw.contains("ghost@example.com"))
    );
    let token = link_token(reset);
    assert!(token.starts_with("souk_r_"));

    let (status, _) = app
        .shop(
            Method::POST,
            "/api/auth/password-reset/confirm",
            Some(json!({"token": token, "password": "short"})),
        )
        .await;
    assert_eq!(status, 400, "policy applies");
    assert_eq!(
        app.shop(
            Method::POST,
            "/api/auth/password-reset/confirm",
            Some(json!({"token": token, "password": "brand new passphrase"})),
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", &old_session, None)
            .await
            .0,
        401,
        "sessions die with the reset"
    );
    assert_eq!(
        app.login("lin@example.com", "brand new passphrase")
            .await
            .status(),
        200
    );
    let (status, problem) = app
        .shop(
            Method::POST,
            "/api/auth/password-reset/confirm",
            Some(json!({"token": token, "password": "another new passphrase"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_token")),
        "single use"
    );
    // Only hashes are stored.
    let stored: Vec<Vec<u8>> = match &app.db {
        souk_storage::Db::Sqlite { read, .. } => {
            sqlx::query_scalar("SELECT token_hash FROM user_tokens")
                .fetch_all(read)
                .await
                .unwrap()
        }
        souk_storage::Db::Postgres(pool) => {
            sqlx::query_scalar("SELECT token_hash FROM user_tokens")
                .fetch_all(pool)
                .await
                .unwrap()
        }
    };
    assert!(stored.iter().all(|h| h.len() == 32));
}

#[tokio::test]
async fn hashes_with_old_parameters_are_upgraded_at_login() {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
    let app = TestApp::spawn().await;
    let weak = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(4096, 1, 1, None).unwrap(),
    )
    .hash_password(PASSWORD.as_bytes())
    .unwrap()
    .to_string();
    let mut tx = app.db.begin_write().await.unwrap();
    souk_storage::accounts::create_user(&mut tx, "old@example.com", "Old", &weak, false)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(app.login("old@example.com", PASSWORD).await.status(), 200);
    let user = souk_storage::accounts::user_by_email(&app.db, "old@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(
        user.password_hash
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{}",
        user.password_hash
    );
    assert_eq!(
        app.login("old@example.com", PASSWORD).await.status(),
        200,
        "the new hash works"
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_shop_is_served_over_https() {
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        public_url: Some("https://shop.example".into()),
        ..souk_http::HttpConfig::default()
    })
    .await;
    // The API document names the public URL as its server, for client generators.
    let (_, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(doc["servers"], json!([{"url": "https://shop.example"}]));
    assert_eq!(
        app.shop(
            Method::POST,
            "/api/auth/register",
            Some(json!({"email": "tls@example.com", "password": PASSWORD, "name": "T"})),
        )
        .await
        .0,
        202
    );
    let response = app.login("tls@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    for cookie in set_cookies(&response) {
        assert!(cookie.contains("; Secure"), "{cookie}");
    }
    // The public URL is the origin cookie-authenticated changes must come from.
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("origin", app.base.clone())
        .json(&json!({"email": "tls@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "plain-http origin is foreign to an https shop"
    );
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("origin", "https://shop.example")
        .json(&json!({"email": "tls@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_is_throttled() {
    let app = TestApp::spawn_with(souk_http::HttpConfig {
        trusted_proxies: vec!["127.0.0.1".parse().unwrap()],
        ..souk_http::HttpConfig::default()
    })
    .await;
    app.register("proxied@example.com").await;
    let attempt = |client_ip: &'static str, email: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", format!("{client_ip}, 127.0.0.1"))
            .json(&json!({"email": email, "password": "wrong password!"}))
            .send()
    };
    // 100 failures from one client address (spread over accounts) close that address…
    for i in 0..100 {
        let email: &'static str = Box::leak(format!("victim{i}@example.com").into_boxed_str());
        assert_eq!(attempt("198.51.100.7", email).await.unwrap().status(), 401);
    }
    assert_eq!(
        attempt("198.51.100.7", "another@example.com")
            .await
            .unwrap()
            .status(),
        429
    );
    // …not the proxy's other clients.
    assert_eq!(
        attempt("198.51.100.8", "another@example.com")
            .await
            .unwrap()
            .status(),
        401
    );
    let (_, sessions) = {
        let body: Value = app
            .login("proxied@example.com", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        let token = body["token"].as_str().unwrap().to_owned();
        app.send(Method::GET, "/api/auth/sessions", &token, None)
            .await
    };
    assert_eq!(
        sessions["items"][0]["ip"], "127.0.0.1",
        "this login came straight from the peer"
    );
}
