//! Roles: platform admins (created from the command line), vendor applications and moderation,
//! the admin job and audit views.

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::helpers::{TestApp, souk_command};

const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// A platform admin made with `souk admin create` (password on stdin); returns a token.
    pub async fn admin_token(&self) -> String {
        let mut child = souk_command(&self.database)
            .args(["admin", "create", "--email", "root@souk.test"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
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

    pub async fn post_auth(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_auth_json(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self.get_auth(path, token).await;
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Registers a user who applies for `handle`; returns (token, vendor id).
    pub async fn vendor_owner(&self, email: &str, handle: &str) -> (String, String) {
        let token = self.register(email).await;
        let response = self
            .post_json(
                "/api/vendor/apply",
                json!({"name": format!("Shop {handle}"), "handle": handle}),
                Some(&token),
            )
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.unwrap();
        (token, body["id"].as_str().unwrap().to_owned())
    }
}

#[tokio::test]
async fn admin_create_takes_the_password_from_stdin_never_argv() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let (status, me) = app.get_auth_json("/api/auth/me", &token).await;
    assert_eq!((status, me["is_admin"].as_bool()), (200, Some(true)));
    let user = souk_storage::accounts::user_by_email(&app.db, "root@souk.test")
        .await
        .unwrap()
        .unwrap();
    assert!(user.password_hash.starts_with("$argon2id$"));
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

    let (_, me) = app.get_auth_json("/api/auth/me", &owner).await;
    assert_eq!(me["vendor"]["role"], "owner");
    assert_eq!(me["vendor"]["vendor_status"], "pending");
    app.expect_problem("/api/store/vendors/tea-house", 404, "not_found")
        .await;

    // One vendor per person; one vendor per handle.
    let response = app
        .post_json(
            "/api/vendor/apply",
            json!({"name": "Again", "handle": "tea-house-2"}),
            Some(&owner),
        )
        .await;
    assert_eq!(response.status(), 409);
    let other = app.register("rival@example.com").await;
    let response = app
        .post_json(
            "/api/vendor/apply",
            json!({"name": "Rival", "handle": "tea-house"}),
            Some(&other),
        )
        .await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "handle_taken");

    // Only admins moderate.
    assert_eq!(
        app.post_auth(&format!("/api/admin/vendors/{vendor_id}/approve"), &owner)
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
        .get_auth_json("/api/admin/vendors?status=pending", &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(pending["items"][0]["handle"], "tea-house");
    assert_eq!(pending["items"][0]["owner_email"], "owner@example.com");

    let (status, vendor) = app
        .post_auth(&format!("/api/admin/vendors/{vendor_id}/approve"), &admin)
        .await;
    assert_eq!((status, vendor["status"].as_str()), (200, Some("active")));
    let (status, _) = app.get_json("/api/store/vendors/tea-house").await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post_auth(&format!("/api/admin/vendors/{vendor_id}/suspend"), &admin)
        .await;
    assert_eq!(status, 200);
    app.expect_problem("/api/store/vendors/tea-house", 404, "not_found")
        .await;
    assert_eq!(
        app.post_auth(
            "/api/admin/vendors/00000000-0000-0000-0000-000000000000/approve",
            &admin
        )
        .await
        .0,
        404
    );
    assert_eq!(
        app.post_auth("/api/admin/vendors/not-an-id/approve", &admin)
            .await
            .0,
        404
    );

    let (status, log) = app.get_auth_json("/api/admin/audit-log", &admin).await;
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
        app.get_auth("/api/admin/audit-log", &owner).await.status(),
        403
    );
}

#[tokio::test]
async fn admins_see_the_job_queue_and_retry_only_dead_jobs() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.register("someone@example.com").await; // queues a verification email (no worker here)
    let (status, page) = app
        .get_auth_json("/api/admin/jobs?status=pending", &admin)
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
        .post_auth(
            &format!("/api/admin/jobs/{}/retry", job["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("job_not_dead"))
    );
    let (status, problem) = app
        .get_auth_json("/api/admin/jobs?status=bogus", &admin)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("validation_failed"))
    );
    assert_eq!(
        app.get_auth("/api/admin/jobs", &app.register("nosy@example.com").await)
            .await
            .status(),
        403
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
