//! The `souk` binary itself: zero-configuration start, settings errors, migrate, shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{
    Backend, listening, only_on, run, run_with_stdin, souk_bin, souk_command, stderr, stdout,
    stop_gracefully, test_database,
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
    let (line, base) = listening(&mut child);
    assert!(
        line.starts_with("souk listening on http://127.0.0.1:"),
        "{line}"
    );
    assert!(
        line.contains("souk-data/souk.db"),
        "says where the data lives: {line}"
    );
    assert!(cwd.path().join("souk-data/souk.db").exists());
    let addr = base.trim_start_matches("http://").to_owned();

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

/// `souk --version` names the release and the commit the binary was built from.
#[test]
fn version_names_the_release_and_the_commit() {
    let out = run(Command::new(souk_bin()).arg("--version"));
    assert!(out.status.success());
    let text = stdout(&out);
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert!(
        text.starts_with(&format!("souk {} (git ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    if !commit.is_empty() {
        assert!(text.contains(&commit), "{text} does not name {commit}");
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
    for origins in [
        "*",
        "https://shop.example/app",
        "shop.example",
        "ftp://shop.example",
    ] {
        // Bounded: accepting the value would start a server that never stops.
        let out = run(Command::new("timeout")
            .arg("20")
            .arg(souk_bin())
            .env_clear()
            .env("SOUK_CORS_ORIGINS", format!("https://ok.example,{origins}"))
            .args(["serve", "--bind", "127.0.0.1:0"]));
        assert!(!out.status.success(), "{origins}");
        assert!(
            stderr(&out).contains("SOUK_CORS_ORIGINS"),
            "{}",
            stderr(&out)
        );
    }
    // Card payment on the pages: a publishable key, Stripe enabled, Stripe.js over https.
    let dir = tempfile::tempdir().unwrap();
    for (settings, named) in [
        (
            &[("SOUK_STRIPE_PUBLISHABLE_KEY", "pk_test_abc")][..],
            "SOUK_STRIPE_SECRET_KEY",
        ),
        (
            &[
                ("SOUK_STRIPE_PUBLISHABLE_KEY", "sk_test_abc"),
                ("SOUK_STRIPE_SECRET_KEY", "sk_test_abc"),
                ("SOUK_STRIPE_WEBHOOK_SECRET", "whsec_abc"),
            ][..],
            "SOUK_STRIPE_PUBLISHABLE_KEY",
        ),
        (
            &[
                ("SOUK_STRIPE_PUBLISHABLE_KEY", "pk_test_abc"),
                ("SOUK_STRIPE_SECRET_KEY", "sk_test_abc"),
                ("SOUK_STRIPE_WEBHOOK_SECRET", "whsec_abc"),
                ("SOUK_STRIPE_JS_URL", "http://cdn.example/v3/"),
            ][..],
            "SOUK_STRIPE_JS_URL",
        ),
    ] {
        let out = run(Command::new("timeout")
            .arg("20")
            .arg(souk_bin())
            .env_clear()
            .env("SOUK_DATA_DIR", dir.path())
            .envs(settings.iter().copied())
            .args(["serve", "--bind", "127.0.0.1:0"]));
        assert!(!out.status.success(), "{settings:?}");
        assert!(
            stderr(&out).contains(named),
            "{settings:?}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("whsec_abc"), "{}", stderr(&out));
    }
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

/// `souk admin create` against a database that does not exist (a mistyped `--data-dir` or URL)
/// refuses, and creates nothing, unless `--init`; it says which database it wrote to.
#[tokio::test]
async fn admin_create_needs_an_existing_database_or_init() {
    let database = test_database().await; // SQLite: no file yet; PostgreSQL: an empty database
    let password = "correct horse battery staple";
    let out = run_with_stdin(
        souk_command(&database).args(["admin", "create", "--email", "root@souk.test"]),
        password,
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("there is no Souk database at"), "{err}");
    assert!(err.contains("--init"), "{err}");
    if !crate::helpers::on_postgres() {
        assert!(
            !database.dir.path().join("souk.db").exists(),
            "no empty database was created"
        );
    }
    let out = run_with_stdin(
        souk_command(&database).args(["admin", "create", "--email", "root@souk.test", "--init"]),
        password,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    let expected = if crate::helpers::on_postgres() {
        "created platform admin root@souk.test in PostgreSQL"
    } else {
        "created platform admin root@souk.test in SQLite"
    };
    assert!(said.contains(expected), "{said}");
    // Now it exists: no --init needed.
    let out = run_with_stdin(
        souk_command(&database).args(["admin", "create", "--email", "second@souk.test"]),
        password,
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A shop whose catalog is priced in USD does not start in EUR: every price would silently
/// change its meaning. The message names both.
#[tokio::test]
async fn serve_refuses_a_currency_other_than_the_catalogs() {
    let database = test_database().await;
    let csv = database.dir.path().join("one.csv");
    std::fs::write(
        &csv,
        "Handle,Title,Variant SKU,Variant Price\nmug,Mug,MUG-1,12.50\n",
    )
    .unwrap();
    let out = run(souk_command(&database)
        .args(["import", "products", "--vendor", "acme"])
        .arg(&csv));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut child = souk_command(&database)
        .args(["--currency", "EUR", "serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("souk serve started in EUR over a USD catalog");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("SOUK_CURRENCY is EUR") && err.contains("priced in USD"),
        "{err}"
    );
    // In its own currency it starts.
    let mut child = souk_command(&database)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (line, _) = listening(&mut child);
    assert!(line.starts_with("souk listening on"), "{line}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Pretty logs written to a file or a pipe carry no colour codes (they are for terminals).
#[tokio::test]
async fn logs_are_plain_text_when_stderr_is_not_a_terminal() {
    let database = test_database().await;
    let log = database.dir.path().join("souk.log");
    let mut child = Command::new(souk_bin())
        .env_clear()
        .arg("--database-url")
        .arg(&database.url)
        .arg("--data-dir")
        .arg(database.dir.path().join("data"))
        .args(["--log-level", "info", "serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    listening(&mut child);
    child.kill().unwrap();
    child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("INFO"), "info logs were written: {text}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in a log file: {text:?}"
    );
}

/// Each subcommand's help lists its own options first, then the global ones under their own
/// heading.
#[test]
fn each_subcommand_help_shows_its_own_options_first() {
    for (args, own) in [
        (&["admin", "create", "--help"][..], "--email"),
        (&["serve", "--help"][..], "--bind"),
        (&["import", "products", "--help"][..], "--vendor"),
        (&["export", "products", "--help"][..], "--vendor"),
    ] {
        let out = run(Command::new(souk_bin()).env_clear().args(args));
        assert!(out.status.success(), "{args:?}");
        let help = stdout(&out);
        let own_at = help.find(own).unwrap_or_else(|| panic!("{args:?}: {help}"));
        let global_at = help
            .find("Global options:")
            .unwrap_or_else(|| panic!("{help}"));
        let data_dir_at = help.find("--data-dir <DATA_DIR>").unwrap();
        assert!(
            own_at < global_at && global_at < data_dir_at,
            "{args:?}: {help}"
        );
    }
}

/// Platform-as-a-service conventions: with only `PORT` and `DATABASE_URL` set, `souk migrate`
/// and `souk serve` use them (listening on every interface); `SOUK_BIND` and
/// `SOUK_DATABASE_URL` win over them; a `PORT` that is not a port stops the start, naming it.
#[tokio::test]
async fn sqlite_only_port_and_database_url_are_honoured_when_souk_settings_are_unset() {
    if !only_on(Backend::Sqlite) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("platform.db");
    let url = format!("sqlite://{}", db.display());
    let port = crate::smtp::free_port().to_string();
    let souk = |args: &[&str]| {
        let mut cmd = Command::new(souk_bin());
        cmd.current_dir(dir.path())
            .env_clear()
            .env("PORT", &port)
            .env("DATABASE_URL", &url)
            .args(args);
        cmd
    };
    let out = run(&mut souk(&["migrate"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(db.exists(), "migrated the DATABASE_URL database");

    let mut child = souk(&["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (line, _) = listening(&mut child);
    assert!(
        line.starts_with(&format!("souk listening on http://0.0.0.0:{port} ")),
        "{line}"
    );
    assert!(line.contains("platform.db"), "{line}");
    souk_payments::install_tls_provider();
    let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    stop_gracefully(&mut child);

    // Souk's own settings win.
    let mut child = souk(&["serve"])
        .env("SOUK_BIND", "127.0.0.1:0")
        .env(
            "SOUK_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("own.db").display()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (line, _) = listening(&mut child);
    assert!(
        line.starts_with("souk listening on http://127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("own.db"), "{line}");
    stop_gracefully(&mut child);

    let out = run(souk(&["serve"]).env("PORT", "eighty"));
    assert!(!out.status.success());
    assert!(stderr(&out).contains("PORT"), "{}", stderr(&out));
}
