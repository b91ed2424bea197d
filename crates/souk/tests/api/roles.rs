//! Roles: platform admins (created from the command line), vendor applications and moderation,
//! the admin job and audit views.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, run_with_stdin, souk_command};
use crate::smtp::{SmtpServer, free_port};

const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// A platform admin made with `souk admin create` (password on stdin); returns a token.
    pub async fn admin_token(&self) -> String {
        let out = run_with_stdin(
            souk_command(&self.database).args(["admin", "create", "--email", "root@souk.test"]),
            PASSWORD,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body: Value = self
            .login("root@souk.test", PASSWORD)
            .await
            .json()
            .await
            .unwrap();
        body["token"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn admin_create_takes_the_password_from_stdin_never_argv() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (status, me) = app.send(Method::GET, "/api/auth/me", &token, None).await;
    assert_eq!((status, me["is_admin"].as_bool()), (200, Some(true)));
    let user = souk_storage::accounts::user_by_email(&app.db, "root@souk.test")
        .await
        .unwrap()
        .unwrap();
    assert!(user.password_hash.starts_with("$argon2id$"));
    // The process that waits for the password has it nowhere in its argv or environment,
    // and there is no way to pass it there.
    let secret = "argv canary passphrase 9d2e";
    let mut child = souk_command(&app.database)
        .args(["admin", "create", "--email", "argv@souk.test"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once the process runs (exec done), its argv and environment are public to the machine.
    let mut cmdline = String::new();
    for _ in 0..200 {
        let raw = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap_or_default();
        cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains("admin create") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(cmdline.contains("admin create"), "{cmdline}");
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    assert!(!cmdline.contains(secret));
    assert!(!String::from_utf8_lossy(&environ).contains(secret));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{secret}\n").as_bytes()).unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success());
    for arg in ["--password", "--pass", "-p"] {
        let out = souk_command(&app.database)
            .args(["admin", "create", "--email", "flag@souk.test", arg, secret])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{arg} must not exist");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(secret));
    }
    let help = souk_command(&app.database)
        .args(["admin", "create", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_lowercase();
    assert!(help.contains("--email"), "{help}");
    assert!(!help.contains("--pass"), "{help}");
    assert!(
        !help.contains("password>"),
        "no option takes a password: {help}"
    );
    assert_eq!(
        app.login("argv@souk.test", secret).await.status(),
        200,
        "the password came from stdin"
    );
    assert!(
        souk_storage::accounts::user_by_email(&app.db, "flag@souk.test")
            .await
            .unwrap()
            .is_none()
    );

    // A weak password is refused and nothing is created.
    let mut child = souk_command(&app.database)
        .args(["admin", "create", "--email", "weak@souk.test"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("password"));
    assert!(
        souk_storage::accounts::user_by_email(&app.db, "weak@souk.test")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn vendors_apply_and_admins_approve_or_suspend_with_an_audit_trail() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (owner, vendor_id) = app.vendor_owner("owner@example.com", "tea-house").await;

    let (_, me) = app.send(Method::GET, "/api/auth/me", &owner, None).await;
    assert_eq!(me["vendor"]["role"], "owner");
    assert_eq!(me["vendor"]["vendor_status"], "pending");
    app.expect_problem("/api/store/vendors/tea-house", 404, "not_found")
        .await;

    // One vendor per person; one vendor per handle.
    assert_eq!(
        app.send(
            Method::POST,
            "/api/vendor/apply",
            &owner,
            Some(json!({"name": "Again", "handle": "tea-house-2"})),
        )
        .await
        .0,
        409
    );
    let other = app.register("rival@example.com").await;
    let (status, body) = app
        .send(
            Method::POST,
            "/api/vendor/apply",
            &other,
            Some(json!({"name": "Rival", "handle": "tea-house"})),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["code"], "handle_taken");

    // Only admins moderate.
    assert_eq!(
        app.send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor_id}/approve"),
            &owner,
            None,
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.client
            .post(app.url(&format!("/api/admin/vendors/{vendor_id}/approve")))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let (status, pending) = app
        .send(
            Method::GET,
            "/api/admin/vendors?status=pending",
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(pending["items"][0]["handle"], "tea-house");
    assert_eq!(pending["items"][0]["owner_email"], "owner@example.com");

    let (status, vendor) = app
        .send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor_id}/approve"),
            &admin,
            None,
        )
        .await;
    assert_eq!((status, vendor["status"].as_str()), (200, Some("active")));
    let (status, _) = app.get_json("/api/store/vendors/tea-house").await;
    assert_eq!(status, 200);
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor_id}/suspend"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.expect_problem("/api/store/vendors/tea-house", 404, "not_found")
        .await;
    assert_eq!(
        app.send(
            Method::POST,
            "/api/admin/vendors/00000000-0000-0000-0000-000000000000/approve",
            &admin,
            None,
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.send(
            Method::POST,
            "/api/admin/vendors/not-an-id/approve",
            &admin,
            None,
        )
        .await
        .0,
        404
    );

    let (status, log) = app
        .send(Method::GET, "/api/admin/audit-log", &admin, None)
        .await;
    assert_eq!(status, 200);
    let actions: Vec<_> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["vendor.suspended", "vendor.active", "vendor.apply"]
    );
    let apply = &log["items"][2];
    assert_eq!(apply["actor_email"], "owner@example.com");
    assert_eq!(apply["ip"], "127.0.0.1");
    assert_eq!(apply["subject_id"], vendor_id.as_str());
    assert!(apply["at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        app.send(Method::GET, "/api/admin/audit-log", &owner, None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn admins_see_the_job_queue_and_retry_only_dead_jobs() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.register("someone@example.com").await; // queues a verification email (no worker here)
    let (status, page) = app
        .send(Method::GET, "/api/admin/jobs?status=pending", &admin, None)
        .await;
    assert_eq!(status, 200);
    let job = &page["items"][0];
    assert_eq!(job["kind"], "account_email");
    assert_eq!(job["payload"]["email"], "someone@example.com");
    assert!(
        job["payload"].get("token").is_none(),
        "no secret in the queue"
    );
    let (status, problem) = app
        .send(
            Method::POST,
            &format!("/api/admin/jobs/{}/retry", job["id"].as_str().unwrap()),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("job_not_dead"))
    );
    let (status, problem) = app
        .send(Method::GET, "/api/admin/jobs?status=bogus", &admin, None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("validation_failed"))
    );
    assert_eq!(
        app.send(
            Method::GET,
            "/api/admin/jobs",
            &app.register("nosy@example.com").await,
            None,
        )
        .await
        .0,
        403
    );
}

/// An SMTP server that refuses each recipient the first time (550 5.1.1: the job is dead at
/// once) and accepts it afterwards (the mailbox was fixed).
const REFUSES_ONCE: &str = r#"
from aiosmtpd.handlers import Mailbox

class RefusesOnce(Mailbox):
    seen = set()
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address not in RefusesOnce.seen:
            RefusesOnce.seen.add(address)
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"
"#;

/// A dead email job, retried by an admin over HTTP, runs again and the email arrives, once; a
/// job that is not dead cannot be retried.
#[tokio::test]
async fn a_dead_job_retried_over_http_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("refuses_once.py"), REFUSES_ONCE).unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.handler = Some(("refuses_once.RefusesOnce".to_owned(), dir.path().to_owned()));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let admin = app.admin_token().await;
    app.register("fixed@example.com").await;
    let mut dead = Value::Null;
    for _ in 0..100 {
        let (_, page) = app
            .send(Method::GET, "/api/admin/jobs?status=dead", &admin, None)
            .await;
        if let Some(job) = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["payload"]["email"] == "fixed@example.com")
        {
            dead = job.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        dead["status"], "dead",
        "the refused email's job died: {dead}"
    );
    assert!(smtp.messages().is_empty());
    let id = dead["id"].as_str().unwrap();
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/admin/jobs/{id}/retry"),
            &admin,
            None,
        )
        .await;
    assert!((200..300).contains(&status), "{status} {body}");
    let mail = smtp.wait_for_exactly(1, Duration::from_secs(20)).await;
    let (_, raw) = mail.values().next().unwrap();
    assert!(raw.contains("To: fixed@example.com"), "{raw}");
    let (_, page) = app
        .send(Method::GET, "/api/admin/jobs?status=done", &admin, None)
        .await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id),
        "{page}"
    );
    // Done now, so not retried again.
    let (status, problem) = app
        .send(
            Method::POST,
            &format!("/api/admin/jobs/{id}/retry"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("job_not_dead"))
    );
}

#[tokio::test]
async fn admins_shape_the_category_tree() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let post = |body: Value| {
        app.client
            .post(app.url("/api/admin/categories"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
    };
    let garden: Value = post(json!({"name": "Garden"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(garden["handle"], "garden");
    let response = post(json!({"name": "Tools", "parent": "garden", "position": 2}))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let tools: Value = response.json().await.unwrap();
    assert_eq!(tools["parent_id"], garden["id"]);
    assert_eq!(
        post(json!({"name": "Garden"})).await.unwrap().status(),
        409,
        "handle taken"
    );
    assert_eq!(
        post(json!({"name": "X", "parent": "nope"}))
            .await
            .unwrap()
            .status(),
        400
    );
    let (_, tree) = app.get_json("/api/store/categories").await;
    assert_eq!(tree["items"][0]["children"][0]["handle"], "tools");

    // No cycles; no orphaned subtrees.
    let garden_id = garden["id"].as_str().unwrap();
    let tools_id = tools["id"].as_str().unwrap();
    let response = app
        .client
        .put(app.url(&format!("/api/admin/categories/{garden_id}")))
        .bearer_auth(&admin)
        .json(&json!({"name": "Garden", "parent": "tools"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = app
        .client
        .delete(app.url(&format!("/api/admin/categories/{garden_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let response = app
        .client
        .put(app.url(&format!("/api/admin/categories/{tools_id}")))
        .bearer_auth(&admin)
        .json(&json!({"name": "Garden tools"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let (_, tree) = app.get_json("/api/store/categories").await;
    let names: Vec<_> = tree["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Garden", "Garden tools"], "moved to the root");
    let response = app
        .client
        .delete(app.url(&format!("/api/admin/categories/{garden_id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let customer = app.register("shopper@example.com").await;
    let response = app
        .client
        .post(app.url("/api/admin/categories"))
        .bearer_auth(&customer)
        .json(&json!({"name": "Mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

/// A vendor's owner edits its name and description: the storefront and search follow at once
/// (the products are found by the new name, not the old); staff may read but not edit; bad
/// input changes nothing.
#[tokio::test]
async fn a_vendor_owner_edits_the_profile_and_the_storefront_and_search_follow() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (owner, vendor_id) = app
        .approved_vendor(&admin, "owner@example.com", "kiln")
        .await;
    app.seed("kiln", &[crate::helpers::product("bowl", "Bowl", &[1200])])
        .await;
    let (status, profile) = app
        .send(Method::GET, "/api/vendor/profile", &owner, None)
        .await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["handle"], "kiln");
    assert_eq!(profile["description"], "");

    let patch = json!({"name": "Zanzibar Ceramics", "description": "Hand-thrown.\nFired twice."});
    let (status, changed) = app
        .send(Method::PATCH, "/api/vendor/profile", &owner, Some(patch))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["name"], "Zanzibar Ceramics");
    let (_, public) = app.get_json("/api/store/vendors/kiln").await;
    assert_eq!(public["name"], "Zanzibar Ceramics");
    assert_eq!(public["description"], "Hand-thrown.\nFired twice.");
    let (_, found) = app.get_json("/api/store/products?q=zanzibar").await;
    assert_eq!(found["items"][0]["handle"], "bowl", "{found}");
    let (_, old) = app.get_json("/api/store/products?q=kiln").await;
    assert_eq!(
        old["items"],
        json!([]),
        "the old name no longer finds it: {old}"
    );

    // A patch with nothing in it is refused; only what is sent changes; invalid input changes
    // nothing.
    let (status, _) = app
        .send(
            Method::PATCH,
            "/api/vendor/profile",
            &owner,
            Some(json!({"description": null})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .send(
            Method::PATCH,
            "/api/vendor/profile",
            &owner,
            Some(json!({"description": "x".repeat(2001), "name": "Other"})),
        )
        .await;
    assert_eq!(status, 400);
    let (_, profile) = app
        .send(Method::GET, "/api/vendor/profile", &owner, None)
        .await;
    assert_eq!(profile["name"], "Zanzibar Ceramics");

    // Staff read the profile but do not edit it.
    let staff = app.register("staff@example.com").await;
    let user = souk_storage::accounts::user_by_email(&app.db, "staff@example.com")
        .await
        .unwrap()
        .unwrap();
    let mut tx = app.db.begin_write().await.unwrap();
    souk_storage::vendors::add_member(
        &mut tx,
        uuid::Uuid::parse_str(&vendor_id).unwrap(),
        user.id,
        "staff",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (status, _) = app
        .send(Method::GET, "/api/vendor/profile", &staff, None)
        .await;
    assert_eq!(status, 200);
    let (status, problem) = app
        .send(
            Method::PATCH,
            "/api/vendor/profile",
            &staff,
            Some(json!({"name": "Staff rename"})),
        )
        .await;
    assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden")));
}

/// The token of the invitation link in the newest email to `to` whose subject starts "Join".
pub fn invitation_token(
    mail: &std::collections::HashMap<String, (usize, String)>,
    to: &str,
) -> String {
    let raw = mail
        .values()
        .map(|(_, raw)| {
            raw.replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=")
        })
        .find(|raw| raw.contains(&format!("To: {to}")) && raw.contains("Subject: Join"))
        .unwrap_or_else(|| panic!("no invitation email to {to}"));
    let start = raw.find("token=").expect("a link") + "token=".len();
    raw[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

/// An owner invites by email; the invitee, signed in with that address, accepts by the link
/// once and becomes staff (and only staff); the link does nothing for another account, twice,
/// or after it was revoked; staff cannot invite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_invites_staff_who_join_by_the_emailed_link() {
    use crate::smtp::{SmtpServer, free_port};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let admin = app.admin_token().await;
    let (owner, vendor_id) = app
        .approved_vendor(&admin, "boss@example.com", "team-shop")
        .await;

    let invite = |email: &str| {
        app.send(
            Method::POST,
            "/api/vendor/invitations",
            &owner,
            Some(json!({"email": email})),
        )
    };
    let (status, invitation) = invite("Helper@Example.com").await;
    assert_eq!(status, 201, "{invitation}");
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["email"], "helper@example.com");
    let (status, problem) = invite("helper@example.com").await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("invitation_pending"))
    );
    let (status, _) = invite("second@example.com").await;
    assert_eq!(status, 201);

    // The invitee signs up (a verification email) and gets the invitation email.
    let helper = app.register("helper@example.com").await;
    let stranger = app.register("stranger@example.com").await;
    let mail = smtp.wait_for(5, Duration::from_secs(20)).await;
    let token = invitation_token(&mail, "helper@example.com");
    assert!(token.starts_with("souk_i_"), "{token}");
    let app = &app;
    let accept = |who: String, token: String| async move {
        app.send(
            Method::POST,
            "/api/vendor/invitations/accept",
            &who,
            Some(json!({"token": token})),
        )
        .await
    };
    let (status, problem) = accept(stranger.clone(), token.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("invitation_for_another_email"))
    );
    let (status, joined) = accept(helper.clone(), token.clone()).await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["vendor_id"], vendor_id.as_str());
    assert_eq!(joined["role"], "staff");
    let (status, problem) = accept(helper.clone(), token.clone()).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_token")),
        "once"
    );

    // Staff work the vendor's orders but do not invite or see invitations.
    let (status, _) = app
        .send(Method::GET, "/api/vendor/orders", &helper, None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .send(
            Method::POST,
            "/api/vendor/invitations",
            &helper,
            Some(json!({"email": "x@example.com"})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, list) = app
        .send(Method::GET, "/api/vendor/invitations", &owner, None)
        .await;
    assert_eq!(status, 200, "{list}");
    let statuses: Vec<(&str, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["email"].as_str().unwrap(), i["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("second@example.com", "pending"),
            ("helper@example.com", "accepted")
        ]
    );

    // A revoked invitation's link stops working.
    let second = list["items"][0]["id"].as_str().unwrap().to_owned();
    let second_user = app.register("second@example.com").await;
    let mail = smtp.wait_for(6, Duration::from_secs(20)).await;
    let second_token = invitation_token(&mail, "second@example.com");
    let (status, _) = app
        .send(
            Method::DELETE,
            &format!("/api/vendor/invitations/{second}"),
            &owner,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, problem) = accept(second_user, second_token).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_token"))
    );
}
