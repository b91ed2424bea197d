//! Secrets are stored only as hashes: no session, reset, verification, API-key or order token,
//! nor any piece of one, can be read back from the database's bytes (the SQLite files, or a
//! `pg_dump` of the PostgreSQL database).

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::checkout::{checkout_body, stocked};
use crate::helpers::{TestApp, on_postgres};
use crate::smtp::{SmtpServer, free_port};

/// The token that follows `token=` in an emailed link.
fn emailed_token(raw: &str, prefix: &str) -> Option<String> {
    let text = raw
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = text.find(&format!("token={prefix}"))? + "token=".len();
    Some(
        text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect(),
    )
}

/// Everything the database holds, as bytes: SQLite's main file and its WAL (where the latest
/// commits live until a checkpoint), or a plain-text dump of the PostgreSQL database.
fn database_bytes(app: &TestApp) -> Vec<u8> {
    if on_postgres() {
        let pg_dump = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                let mut bins: Vec<_> = versions
                    .flatten()
                    .map(|v| v.path().join("bin/pg_dump"))
                    .filter(|p| p.exists())
                    .collect();
                bins.sort();
                bins.pop()
            })
            .unwrap_or_else(|| "pg_dump".into());
        let out = std::process::Command::new(pg_dump)
            .args(["--data-only", "--no-owner", &app.database.url])
            .output()
            .expect("pg_dump runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    } else {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(app.database.dir.path())
            .unwrap()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("souk.db") {
                bytes.extend(std::fs::read(entry.path()).unwrap());
            }
        }
        bytes
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_token_or_piece_of_one_is_stored_in_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    // The admin first, while the worker has nothing to send: `souk admin create` is another
    // process and waits for SQLite's write lock (docs/testing.md, "Known flake").
    let admin = app.admin_token().await;
    app.seed("acme", &[stocked("mug", &[1500], 5)]).await;

    // A session (and the verification email registering sends).
    let session = app.register("kept@example.com").await;
    // A reset link.
    assert_eq!(
        app.shop(
            Method::POST,
            "/api/auth/password-reset",
            Some(json!({"email": "kept@example.com"})),
        )
        .await
        .0,
        202
    );
    // An API key.
    let (status, key) = app
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "reports", "scopes": ["admin:read"]})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let api_key = key["secret"].as_str().unwrap().to_owned();
    // A guest order's access token.
    let mug = app.variant_ids("mug").await.remove(0);
    let cart = app.cart_with(&mug, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "at-rest-1", &checkout_body("guest@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let order_token = order["access_token"].as_str().unwrap().to_owned();

    // The emailed tokens: verification, reset (and the order confirmation's link, if any).
    let mut verification = None;
    let mut reset = None;
    for _ in 0..200 {
        for (_, raw) in smtp.messages().values() {
            verification = verification.or_else(|| emailed_token(raw, "souk_v_"));
            reset = reset.or_else(|| emailed_token(raw, "souk_r_"));
        }
        if verification.is_some() && reset.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let verification = verification.expect("the verification email arrived");
    let reset = reset.expect("the reset email arrived");

    // Every token works, so each has a stored counterpart to look for.
    assert_eq!(
        app.send(Method::GET, "/api/auth/me", &session, None)
            .await
            .0,
        200
    );
    assert_eq!(
        app.send(Method::GET, "/api/admin/audit-log", &api_key, None)
            .await
            .0,
        200
    );
    let response = app
        .client
        .get(app.url(&format!(
            "/api/store/orders/{}",
            order["id"].as_str().unwrap()
        )))
        .header("X-Order-Token", &order_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let stored = database_bytes(&app);
    assert!(
        contains(&stored, b"kept@example.com"),
        "the dump holds the data it should ({} bytes)",
        stored.len()
    );
    for (what, token) in [
        ("session token", session.as_str()),
        ("API key", api_key.as_str()),
        ("order access token", order_token.as_str()),
        ("verification token", verification.as_str()),
        ("reset token", reset.as_str()),
    ] {
        assert!(token.len() >= 24, "{what}: {token}");
        // The start, middle and end of the token, as text and as hex (how PostgreSQL dumps bytea).
        let mid = token.len() / 2 - 6;
        for piece in [
            &token[..12],
            &token[mid..mid + 12],
            &token[token.len() - 12..],
        ] {
            let hex: String = piece.bytes().map(|b| format!("{b:02x}")).collect();
            assert!(
                !contains(&stored, piece.as_bytes()),
                "a piece of the {what} ({piece}) is stored in the database"
            );
            assert!(
                !contains(&stored, hex.as_bytes()),
                "a piece of the {what} ({piece}) is stored in the database, hex-encoded"
            );
        }
    }
}
