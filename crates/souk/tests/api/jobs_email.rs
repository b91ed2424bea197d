//! The durable job queue and transactional email, against a real SMTP server process.

use std::collections::HashSet;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use souk::startup::open_database;
use souk_jobs::mail::{EmailJob, Mailer, enqueue_email};
use souk_jobs::{Worker, WorkerConfig};
use souk_storage::jobs::{self, JobStatus};
use tokio::sync::watch;
use uuid::Uuid;

use crate::helpers::{souk_command, test_database};
use crate::smtp::{SmtpServer, free_port};

fn email(i: usize) -> EmailJob {
    EmailJob {
        to: format!("shopper{i}@example.com"),
        template: "password_reset".to_owned(),
        vars: serde_json::json!({"name": format!("Shopper {i}"), "link": format!("https://shop.example/reset?token=t{i}"), "expires_minutes": 60}),
    }
}

async fn enqueue_many(db: &souk_storage::Db, n: usize) -> Vec<Uuid> {
    let mut tx = db.begin_write().await.unwrap();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(enqueue_email(&mut tx, &email(i)).await.unwrap());
    }
    tx.commit().await.unwrap();
    ids
}

fn fast_worker_config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 8,
        poll_interval: Duration::from_millis(50),
        lease: Duration::from_secs(5),
        retry_base: Duration::from_millis(100),
        retry_max: Duration::from_millis(800),
        ..WorkerConfig::default()
    }
}

#[tokio::test]
async fn fifty_emails_queued_during_an_smtp_outage_all_arrive_once_it_is_back() {
    let database = test_database().await;
    let db = open_database(&database.url, 4).await.unwrap();
    let mut smtp = SmtpServer::new(free_port(), &database.dir.path().join("maildir"));
    let mailer = Mailer::new(
        Some(&smtp.url()),
        "Souk Test <shop@souk.test>",
        database.dir.path(),
        "Test Shop",
    )
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let worker =
        tokio::spawn(Worker::new(db.clone(), Arc::new(mailer), fast_worker_config()).run(stopped));

    let ids = enqueue_many(&db, 50).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(smtp.messages().is_empty());
    let job = jobs::get(&db, ids[0]).await.unwrap().unwrap();
    assert!(
        job.attempts >= 2,
        "retried while the server was down: {job:?}"
    );
    assert!(job.last_error.is_some());
    assert_ne!(job.status, "dead");

    smtp.start();
    let messages = smtp.wait_for_exactly(50, Duration::from_secs(30)).await;
    assert_eq!(messages.len(), 50, "every queued email arrives");
    let expected: HashSet<String> = ids.iter().map(|id| format!("<{id}@souk.test>")).collect();
    assert_eq!(
        messages.keys().cloned().collect::<HashSet<_>>(),
        expected,
        "Message-ID is derived from the job"
    );
    let (_, raw) = &messages[&format!("<{}@souk.test>", ids[7])];
    assert!(raw.contains("To: shopper7@example.com"), "{raw}");
    assert!(
        raw.contains("Subject: Reset your Test Shop password"),
        "{raw}"
    );
    assert!(
        raw.contains("multipart/alternative"),
        "text and HTML parts: {raw}"
    );

    // Give the worker a moment to record the last outcomes, then stop it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(true);
    worker.await.unwrap();
    for id in ids {
        assert_eq!(jobs::get(&db, id).await.unwrap().unwrap().status, "done");
    }
}

#[tokio::test]
async fn a_job_that_can_never_succeed_is_dead_lettered_and_can_be_retried() {
    let database = test_database().await;
    let db = open_database(&database.url, 4).await.unwrap();
    let mailer = Mailer::new(None, "shop@souk.test", database.dir.path(), "Test Shop").unwrap();
    let (stop, stopped) = watch::channel(false);
    let worker =
        tokio::spawn(Worker::new(db.clone(), Arc::new(mailer), fast_worker_config()).run(stopped));
    let mut tx = db.begin_write().await.unwrap();
    let bad = enqueue_email(
        &mut tx,
        &EmailJob {
            to: "not an address".into(),
            ..email(1)
        },
    )
    .await
    .unwrap();
    let good = enqueue_email(&mut tx, &email(2)).await.unwrap();
    tx.commit().await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let dead = jobs::get(&db, bad).await.unwrap().unwrap();
    assert_eq!(
        (dead.status.as_str(), dead.attempts),
        ("dead", 1),
        "no pointless retries: {dead:?}"
    );
    assert!(dead.last_error.unwrap().contains("not an email address"));
    let listed = jobs::list(&db, Some(JobStatus::Dead), None, 10)
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|j| j.id).collect::<Vec<_>>(), vec![bad]);
    // Without SMTP the good one became an .eml file named after the job.
    let eml = std::fs::read_to_string(database.dir.path().join("mail").join(format!("{good}.eml")))
        .unwrap();
    assert!(eml.contains("To: shopper2@example.com"));
    let mut tx = db.begin_write().await.unwrap();
    assert!(jobs::retry(&mut tx, bad).await.unwrap());
    assert!(
        !jobs::retry(&mut tx, good).await.unwrap(),
        "only dead jobs are retried"
    );
    tx.commit().await.unwrap();
    let _ = stop.send(true);
    worker.await.unwrap();
}

#[tokio::test]
async fn a_rolled_back_transaction_leaves_no_job() {
    let database = test_database().await;
    let db = open_database(&database.url, 4).await.unwrap();
    let mut tx = db.begin_write().await.unwrap();
    enqueue_email(&mut tx, &email(1)).await.unwrap();
    drop(tx); // rolled back
    assert!(jobs::list(&db, None, None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn kill_9_of_souk_serve_with_jobs_in_flight_loses_none() {
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    // A server that takes 100 ms per message keeps deliveries in flight when the kill comes.
    let module_dir = database.dir.path().join("py");
    std::fs::create_dir_all(&module_dir).unwrap();
    std::fs::write(module_dir.join("slow.py"), SLOW_HANDLER).unwrap();
    let mut smtp = SmtpServer::new(free_port(), &database.dir.path().join("maildir"));
    smtp.handler = Some(("slow.Slow".to_owned(), module_dir));
    smtp.start();
    let ids = enqueue_many(&db, 50).await;
    db.close().await;

    let serve = || {
        let mut cmd = souk_command(&database);
        cmd.env("SOUK_SMTP_URL", smtp.url())
            .env("SOUK_MAIL_FROM", "shop@souk.test")
            .env("SOUK_JOB_LEASE_SECS", "1")
            .env("SOUK_JOB_POLL_MS", "50")
            .env("SOUK_JOB_RETRY_BASE_MS", "100")
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd.spawn().unwrap()
    };
    // Kill it once some emails arrived and others are on the wire (how many varies per run).
    let mut first = serve();
    smtp.wait_for(3, Duration::from_secs(20)).await;
    // SIGKILL: no chance to finish anything.
    first.kill().unwrap();
    first.wait().unwrap();
    let sent_before_restart = smtp.messages().len();
    assert!(
        (1..50).contains(&sent_before_restart),
        "the kill came mid-delivery: {sent_before_restart} of 50 sent"
    );

    let mut child = serve();
    let messages = smtp.wait_for(50, Duration::from_secs(30)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        messages.len(),
        50,
        "killed with {sent_before_restart} sent: every job still ran"
    );
    let expected: HashSet<String> = ids.iter().map(|id| format!("<{id}@souk.test>")).collect();
    assert_eq!(messages.keys().cloned().collect::<HashSet<_>>(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_on_one_database_never_run_a_job_twice() {
    let database = test_database().await;
    let db = open_database(&database.url, 8).await.unwrap();
    let ids = enqueue_many(&db, 100).await;
    let mut workers = Vec::new();
    let (stop, stopped) = watch::channel(false);
    for n in 0..2 {
        let dir = database.dir.path().join(format!("worker-{n}"));
        let mailer = Mailer::new(None, "shop@souk.test", &dir, "Test Shop").unwrap();
        let config = WorkerConfig {
            concurrency: 8,
            ..fast_worker_config()
        };
        workers.push(tokio::spawn(
            Worker::new(db.clone(), Arc::new(mailer), config).run(stopped.clone()),
        ));
    }
    let started = std::time::Instant::now();
    loop {
        let done = jobs::list(&db, Some(JobStatus::Done), None, 200)
            .await
            .unwrap()
            .len();
        if done == 100 || started.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop.send(true);
    for w in workers {
        w.await.unwrap();
    }
    let mut sent = Vec::new();
    for n in 0..2 {
        if let Ok(entries) =
            std::fs::read_dir(database.dir.path().join(format!("worker-{n}")).join("mail"))
        {
            sent.extend(
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned()),
            );
        }
    }
    assert_eq!(
        sent.len(),
        100,
        "each job ran exactly once across both workers"
    );
    let unique: HashSet<_> = sent.iter().collect();
    assert_eq!(unique.len(), 100);
    for id in ids {
        assert_eq!(jobs::get(&db, id).await.unwrap().unwrap().attempts, 1);
    }
}

#[tokio::test]
async fn souk_worker_runs_queued_jobs_and_stops_on_sigterm() {
    let database = test_database().await;
    let db = open_database(&database.url, 2).await.unwrap();
    let ids = enqueue_many(&db, 5).await;
    let mut child = souk_command(&database)
        .env("SOUK_JOB_POLL_MS", "50")
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mail = database.dir.path().join("data").join("mail");
    let started = std::time::Instant::now();
    while std::fs::read_dir(&mail).map_or(0, |d| d.count()) < 5
        && started.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &ids {
        assert!(
            mail.join(format!("{id}.eml")).exists(),
            "job {id} ran as an .eml file"
        );
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "souk worker did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One email queued and a worker with `mailer` given 700 ms to try it: its id and job.
async fn one_email_attempted(db: &souk_storage::Db, mailer: Mailer) -> (Uuid, jobs::JobRecord) {
    let (stop, stopped) = watch::channel(false);
    let worker =
        tokio::spawn(Worker::new(db.clone(), Arc::new(mailer), fast_worker_config()).run(stopped));
    let id = enqueue_many(db, 1).await[0];
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _ = stop.send(true);
    worker.await.unwrap();
    (id, jobs::get(db, id).await.unwrap().unwrap())
}

/// A throwaway certificate authority and a `localhost` server certificate it signed.
fn make_certificates(dir: &std::path::Path) {
    let script = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=Souk Test CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout key.pem -out leaf.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 2 -extfile leaf.ext 2>/dev/null
"#;
    let status = std::process::Command::new("bash")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .status()
        .expect("openssl");
    assert!(status.success(), "openssl could not make test certificates");
}

#[tokio::test]
async fn email_goes_over_starttls_and_smtps_and_refuses_an_untrusted_certificate() {
    let database = test_database().await;
    let db = open_database(&database.url, 4).await.unwrap();
    let dir = database.dir.path();
    make_certificates(dir);
    let cert = dir.join("cert.pem").display().to_string();
    let key = dir.join("key.pem").display().to_string();
    let mut starttls = SmtpServer::new(free_port(), &dir.join("starttls-mail"));
    starttls.args = vec![
        "--tlscert".into(),
        cert.clone(),
        "--tlskey".into(),
        key.clone(),
    ];
    starttls.start();
    let mut smtps = SmtpServer::new(free_port(), &dir.join("smtps-mail"));
    smtps.args = vec!["--smtpscert".into(), cert, "--smtpskey".into(), key];
    smtps.start();

    for (server, url) in [
        (
            &starttls,
            format!("smtp://localhost:{}?tls=starttls", starttls.port),
        ),
        (&smtps, format!("smtps://localhost:{}", smtps.port)),
    ] {
        let mailer = Mailer::with_ca(
            Some(&url),
            Some(&dir.join("ca.pem")),
            "shop@souk.test",
            dir,
            "Test Shop",
        )
        .unwrap();
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(
            Worker::new(db.clone(), Arc::new(mailer), fast_worker_config()).run(stopped),
        );
        let ids = enqueue_many(&db, 3).await;
        let messages = server.wait_for(3, Duration::from_secs(20)).await;
        let _ = stop.send(true);
        worker.await.unwrap();
        for id in ids {
            assert!(
                messages.contains_key(&format!("<{id}@souk.test>")),
                "{url}: job {id} delivered over TLS"
            );
        }
    }

    // Without trusting the test CA, the certificate is refused and nothing is sent in clear.
    let mailer = Mailer::new(
        Some(&format!("smtp://localhost:{}?tls=starttls", starttls.port)),
        "shop@souk.test",
        dir,
        "Test Shop",
    )
    .unwrap();
    let (untrusted, job) = one_email_attempted(&db, mailer).await;
    assert_ne!(job.status, "done", "{job:?}");
    assert!(job.attempts >= 1 && job.last_error.is_some(), "{job:?}");
    assert!(
        !starttls
            .messages()
            .contains_key(&format!("<{untrusted}@souk.test>"))
    );

    // A server that offers no STARTTLS at all (or an attacker who strips the offer): with
    // `tls=starttls` Souk refuses to go on in clear; the email waits, unsent.
    let mut plain = SmtpServer::new(free_port(), &dir.join("plain-mail"));
    plain.start();
    let mailer = Mailer::with_ca(
        Some(&format!("smtp://localhost:{}?tls=starttls", plain.port)),
        Some(&dir.join("ca.pem")),
        "shop@souk.test",
        dir,
        "Test Shop",
    )
    .unwrap();
    let (_, job) = one_email_attempted(&db, mailer).await;
    assert_ne!(job.status, "done", "{job:?}");
    assert!(job.attempts >= 1 && job.last_error.is_some(), "{job:?}");
    assert!(plain.messages().is_empty(), "sent in clear");
}

/// An SMTP server that takes 100 ms to accept each message.
const SLOW_HANDLER: &str = r#"
import asyncio
from aiosmtpd.handlers import Mailbox

class Slow(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.1)
        return await super().handle_DATA(server, session, envelope)
"#;

/// An SMTP server that refuses some recipients: `nobody@…` does not exist (550 5.1.1, final),
/// `quota@…` hits the server's sending quota (550 5.4.5, fixed on the server's side).
const REFUSING_HANDLER: &str = r#"
from aiosmtpd.handlers import Mailbox

class Refusing(Mailbox):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        if address.startswith("quota@"):
            return "550 5.4.5 Daily sending quota exceeded"
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

/// Only a refusal of the recipient itself dead-letters an email; a quota (or a rejected login)
/// on the server's side keeps it queued and retried, so the mail is not lost.
#[tokio::test]
async fn only_a_refused_recipient_is_final_a_server_side_refusal_is_retried() {
    let database = test_database().await;
    let db = open_database(&database.url, 4).await.unwrap();
    let module_dir = database.dir.path().join("py");
    std::fs::create_dir_all(&module_dir).unwrap();
    std::fs::write(module_dir.join("refusing.py"), REFUSING_HANDLER).unwrap();
    let mut smtp = SmtpServer::new(free_port(), &database.dir.path().join("maildir"));
    smtp.handler = Some(("refusing.Refusing".to_owned(), module_dir));
    smtp.start();
    let mailer = Mailer::new(
        Some(&smtp.url()),
        "Souk Test <shop@souk.test>",
        database.dir.path(),
        "Test Shop",
    )
    .unwrap();
    let (stop, stopped) = watch::channel(false);
    let worker =
        tokio::spawn(Worker::new(db.clone(), Arc::new(mailer), fast_worker_config()).run(stopped));
    let mut tx = db.begin_write().await.unwrap();
    let mut queue = async |to: &str| {
        enqueue_email(
            &mut tx,
            &EmailJob {
                to: to.to_owned(),
                ..email(1)
            },
        )
        .await
        .unwrap()
    };
    let nobody = queue("nobody@example.com").await;
    let quota = queue("quota@example.com").await;
    let fine = queue("fine@example.com").await;
    tx.commit().await.unwrap();
    let delivered = smtp.wait_for(1, Duration::from_secs(10)).await;
    assert!(delivered.contains_key(&format!("<{fine}@souk.test>")));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let nobody = jobs::get(&db, nobody).await.unwrap().unwrap();
    assert_eq!(
        (nobody.status.as_str(), nobody.attempts),
        ("dead", 1),
        "{nobody:?}"
    );
    let quota = jobs::get(&db, quota).await.unwrap().unwrap();
    assert_ne!(quota.status, "dead", "{quota:?}");
    assert!(quota.attempts >= 2, "retried: {quota:?}");
    assert!(quota.last_error.unwrap().contains("quota"));
    let _ = stop.send(true);
    worker.await.unwrap();
}
