//! Scoped API keys: created by an admin, shown once, stored hashed, limited to their scopes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

fn product(handle: &str) -> Value {
    json!({"handle": handle, "title": "Keyed", "status": "published",
           "variants": [{"sku": handle.to_uppercase(), "price": {"amount": 900, "currency": "USD"}, "stock": 2}]})
}

#[tokio::test]
async fn keys_act_within_their_scopes_and_die_when_revoked() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (_, vendor_id) = app
        .approved_vendor(&admin, "owner@example.com", "keyed-shop")
        .await;

    let (status, created) = app
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "ERP sync", "scopes": ["catalog:write"], "vendor_id": vendor_id})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("souk_k_") && secret.len() > 40);
    let key_id = created["id"].as_str().unwrap().to_owned();

    // The key manages its vendor's catalog…
    let (status, made) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &secret,
            Some(product("via-key")),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let (status, list) = app
        .send(Method::GET, "/api/vendor/products", &secret, None)
        .await;
    assert_eq!((status, list["items"].as_array().unwrap().len()), (200, 1));
    assert_eq!(
        app.get_json("/api/store/products/via-key").await.1["vendor"]["handle"],
        "keyed-shop"
    );
    // …and nothing else.
    for (method, path) in [
        (Method::GET, "/api/admin/vendors"),
        (Method::POST, "/api/admin/api-keys"),
        (Method::GET, "/api/auth/sessions"),
        (Method::POST, "/api/vendor/apply"),
    ] {
        let (status, problem) = app
            .send(method.clone(), path, &secret, Some(json!({})))
            .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("insufficient_scope")),
            "{method} {path}"
        );
    }

    // A read-only key reads but does not write; an admin key reads admin resources only.
    let (_, read_only) = app
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "feed", "scopes": ["catalog:read"], "vendor_id": vendor_id})),
        )
        .await;
    let read_only = read_only["secret"].as_str().unwrap();
    assert_eq!(
        app.send(Method::GET, "/api/vendor/products", read_only, None)
            .await
            .0,
        200
    );
    assert_eq!(
        app.send(
            Method::POST,
            "/api/vendor/products",
            read_only,
            Some(product("nope"))
        )
        .await
        .0,
        403
    );
    // Catalog keys do not reach customers' data: orders, balance and shipping rates need an
    // orders scope.
    for path in [
        "/api/vendor/orders",
        "/api/vendor/balance",
        "/api/vendor/shipping-rates",
    ] {
        let (status, problem) = app.send(Method::GET, path, read_only, None).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (403, Some("insufficient_scope")),
            "{path}"
        );
    }
    let (status, orders_key) = app
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "fulfilment", "scopes": ["orders:read"], "vendor_id": vendor_id})),
        )
        .await;
    assert_eq!(status, 201, "{orders_key}");
    let orders_key = orders_key["secret"].as_str().unwrap();
    for path in ["/api/vendor/orders", "/api/vendor/balance"] {
        assert_eq!(
            app.send(Method::GET, path, orders_key, None).await.0,
            200,
            "{path}"
        );
    }
    assert_eq!(
        app.send(Method::GET, "/api/vendor/products", orders_key, None)
            .await
            .0,
        403
    );
    let (_, reporting) = app
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "reports", "scopes": ["admin:read"]})),
        )
        .await;
    let reporting = reporting["secret"].as_str().unwrap();
    assert_eq!(
        app.send(Method::GET, "/api/admin/audit-log", reporting, None)
            .await
            .0,
        200
    );
    assert_eq!(
        app.send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor_id}/suspend"),
            reporting,
            None
        )
        .await
        .0,
        403
    );

    // Bad requests.
    for body in [
        json!({"name": "x", "scopes": ["catalog:write"]}),
        json!({"name": "x", "scopes": ["root"]}),
        json!({"name": "x", "scopes": ["admin:read"], "vendor_id": vendor_id}),
        json!({"name": "", "scopes": []}),
    ] {
        assert_eq!(
            app.send(
                Method::POST,
                "/api/admin/api-keys",
                &admin,
                Some(body.clone())
            )
            .await
            .0,
            400,
            "{body}"
        );
    }

    // Listed without secrets; stored hashed; revocation is immediate.
    let (_, keys) = app
        .send(Method::GET, "/api/admin/api-keys", &admin, None)
        .await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 4);
    assert!(!keys.to_string().contains(&secret));
    let stored: Vec<Vec<u8>> = match &app.db {
        souk_storage::Db::Sqlite { read, .. } => {
            sqlx::query_scalar("SELECT token_hash FROM api_keys")
                .fetch_all(read)
                .await
                .unwrap()
        }
        souk_storage::Db::Postgres(pool) => sqlx::query_scalar("SELECT token_hash FROM api_keys")
            .fetch_all(pool)
            .await
            .unwrap(),
    };
    assert!(stored.iter().all(|h| h.len() == 32));
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/admin/api-keys/{key_id}"),
            &admin,
            None
        )
        .await
        .0,
        204
    );
    assert_eq!(
        app.send(Method::GET, "/api/vendor/products", &secret, None)
            .await
            .0,
        401
    );
    assert_eq!(
        app.send(
            Method::DELETE,
            &format!("/api/admin/api-keys/{key_id}"),
            &admin,
            None
        )
        .await
        .0,
        404
    );
}
