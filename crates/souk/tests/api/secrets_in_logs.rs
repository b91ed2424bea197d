//! No password, token or cookie value reaches the logs, even at the most verbose level.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{listening, souk_bin, test_database};

#[tokio::test]
async fn canary_secrets_never_appear_in_trace_logs() {
    let database = test_database().await;
    let log_path = database.dir.path().join("souk.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(souk_bin())
        .env_clear()
        .env("SOUK_LOG", "trace")
        .env("SOUK_LOG_FORMAT", "json")
        .env("SOUK_JOB_POLL_MS", "50")
        .args(["--database-url", &database.url, "--data-dir"])
        .arg(database.dir.path().join("data"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let (_, base) = listening(&mut child);
    souk_payments::install_tls_provider();
    let client = reqwest::Client::new();

    let password = "canary-Pa55word-7f3a9c";
    let new_password = "canary-NewPa55-b81d02";
    let registered = client
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"email": "canary@example.com", "password": password, "name": "Canary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 202);
    let first: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "canary@example.com", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = first["token"].as_str().unwrap().to_owned();
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "canary@example.com", "password": password}))
        .send()
        .await
        .unwrap();
    let cookies: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let login: Value = login.json().await.unwrap();
    let token2 = login["token"].as_str().unwrap().to_owned();
    client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/api/auth/change-password"))
        .bearer_auth(&token2)
        .json(&json!({"current_password": password, "new_password": new_password}))
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/api/auth/password-reset"))
        .json(&json!({"email": "canary@example.com"}))
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": "canary@example.com", "password": "wrong-canary-guess-123"}))
        .send()
        .await
        .unwrap();
    // Let the worker send the emails (to .eml files: no SMTP configured).
    tokio::time::sleep(Duration::from_millis(800)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.lines().count() > 20,
        "trace logging was on: {} lines",
        logs.lines().count()
    );
    let mail_dir = database.dir.path().join("data").join("mail");
    let mut reset_token = None;
    for entry in std::fs::read_dir(&mail_dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path())
            .unwrap()
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        if let Some(i) = text.find("token=souk_r_") {
            reset_token = Some(
                text[i + 6..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect::<String>(),
            );
        }
    }
    let reset_token = reset_token.expect("the reset email was written");
    let session_cookie = cookies
        .iter()
        .find_map(|c| c.strip_prefix("souk_session="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf_cookie = cookies
        .iter()
        .find_map(|c| c.strip_prefix("souk_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    for (what, secret) in [
        ("password", password),
        ("new password", new_password),
        ("wrong password", "wrong-canary-guess-123"),
        ("session token", token.as_str()),
        ("second session token", token2.as_str()),
        ("session cookie", session_cookie.as_str()),
        ("csrf cookie", csrf_cookie.as_str()),
        ("reset token", reset_token.as_str()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}
