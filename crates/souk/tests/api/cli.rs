//! The `souk` binary itself: zero-configuration start, settings errors, migrate, shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{
    Backend, only_on, run, souk_bin, souk_command, stderr, stdout, test_database,
};

#[tokio::test]
async fn sqlite_only_serve_with_no_configuration_uses_souk_data_and_stops_on_sigterm() {
    // This test is about the zero-configuration SQLite default.
    if !only_on(Backend::Sqlite) {
        return;
    }
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(souk_bin())
        .current_dir(cwd.path())
        .env_clear()
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with("souk listening on http://127.0.0.1:"),
        "{line}"
    );
    assert!(
        line.contains("souk-data/souk.db"),
        "says where the data lives: {line}"
    );
    assert!(cwd.path().join("souk-data/souk.db").exists());
    let addr = line
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    // reqwest is built with rustls and no provider of its own (see souk_payments).
    souk_payments::install_tls_provider();
    let body: serde_json::Value =
        reqwest::get(format!("http://{addr}/api/store/products?limit=100"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        body["items"].as_array().unwrap().len(),
        60,
        "the demo catalog"
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn wrong_settings_fail_at_start_naming_the_setting() {
    let out = run(Command::new(souk_bin())
        .env_clear()
        .env("SOUK_BIND", "not-an-address")
        .arg("serve"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("SOUK_BIND"), "{}", stderr(&out));
    let out = run(Command::new(souk_bin())
        .env_clear()
        .env("SOUK_LOG_FORMAT", "xml")
        .arg("migrate"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("log-format"), "{}", stderr(&out));
    let out = run(Command::new(souk_bin()).env_clear().args([
        "--database-url",
        "mysql://souk:s3cret@x/y",
        "migrate",
    ]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("SOUK_DATABASE_URL"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    let out = run(Command::new(souk_bin())
        .env_clear()
        .args(["--currency", "dollars", "migrate"]));
    assert!(stderr(&out).contains("SOUK_CURRENCY"), "{}", stderr(&out));
    let out = run(Command::new(souk_bin()).arg("--help"));
    for command in ["serve", "migrate", "import", "export"] {
        assert!(stdout(&out).contains(command), "{}", stdout(&out));
    }
}

#[tokio::test]
async fn migrate_is_idempotent() {
    let db = test_database().await;
    for _ in 0..2 {
        let out = run(souk_command(&db).arg("migrate"));
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(stdout(&out).contains("migrations applied"));
    }
}

#[tokio::test]
async fn unreachable_database_fails_with_a_clear_message() {
    let out = run(Command::new(souk_bin()).env_clear().args([
        "--database-url",
        "postgres://souk:secret-pw@127.0.0.1:1/souk",
        "migrate",
    ]));
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("cannot open the database"), "{err}");
    assert!(!err.contains("secret-pw"), "no password in messages: {err}");
}
