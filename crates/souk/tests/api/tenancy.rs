//! Vendor catalog API and the tenancy matrix: every id-taking endpoint refuses other tenants,
//! changes nothing for them, and no list shows another tenant's rows.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, handles, walk};
use crate::scenario::{Coupon, ShippingRate};

fn product_input(handle: &str, sku: &str) -> Value {
    json!({
        "handle": handle,
        "title": format!("Product {handle}"),
        "description_html": "<p>Nice <script>alert(1)</script><b>thing</b></p>",
        "status": "published",
        "options": ["Size"],
        "variants": [
            {"sku": sku, "options": ["S"], "price": {"amount": 1500, "currency": "USD"}, "stock": 3},
            {"sku": format!("{sku}-M"), "options": ["M"], "price": {"amount": 1700, "currency": "USD"}, "stock": 1}
        ],
        "images": [{"url": "https://img.example/a.png", "alt": "A"}]
    })
}

#[tokio::test]
async fn vendors_manage_their_catalog_and_the_storefront_follows() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (a, _) = app
        .approved_vendor(&admin, "a@example.com", "vendor-a")
        .await;

    let (status, created) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &a,
            Some(product_input("lamp", "LAMP-S")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["description_html"], "<p>Nice <b>thing</b></p>",
        "sanitized"
    );
    assert_eq!(created["variants"][0]["stock"], 3);
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, public) = app.get_json("/api/store/products/lamp").await;
    assert_eq!(public["vendor"]["handle"], "vendor-a");
    assert!(
        public["variants"][0].get("stock").is_none(),
        "shoppers do not see stock levels"
    );

    // Replace: variants kept by option values keep their ids.
    let mut input = product_input("lamp", "LAMP-S");
    input["title"] = json!("Desk lamp");
    let (status, updated) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/products/{id}"),
            &a,
            Some(input),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["variants"][0]["id"], created["variants"][0]["id"]);
    assert_eq!(
        app.get_json("/api/store/products/lamp").await.1["title"],
        "Desk lamp"
    );
    let mut renamed = product_input("lamp-2", "LAMP-S");
    renamed["title"] = json!("x");
    assert_eq!(
        app.send(
            Method::PUT,
            &format!("/api/vendor/products/{id}"),
            &a,
            Some(renamed)
        )
        .await
        .0,
        400
    );

    // Stock.
    let variant = created["variants"][1]["id"].as_str().unwrap();
    let (status, after) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/variants/{variant}/stock"),
            &a,
            Some(json!({"stock": 0})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(after["variants"][1]["available"], false);
    assert_eq!(
        app.send(
            Method::PUT,
            &format!("/api/vendor/variants/{variant}/stock"),
            &a,
            Some(json!({"stock": -1}))
        )
        .await
        .0,
        400
    );

    // Bad input is refused whole.
    let mut bad = product_input("mug", "MUG-1");
    bad["variants"][0]["price"]["currency"] = json!("EUR");
    let (status, problem) = app
        .send(Method::POST, "/api/vendor/products", &a, Some(bad))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("currency_mismatch")),
        "{problem}"
    );
    let mut extra = product_input("mug", "MUG-1");
    extra["vendor_id"] = json!("someone-else");
    assert_eq!(
        app.send(Method::POST, "/api/vendor/products", &a, Some(extra))
            .await
            .0,
        400,
        "unknown fields refused"
    );
    let (status, problem) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &a,
            Some(product_input("lamp", "OTHER")),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("handle_taken"))
    );
    assert!(app.get_json("/api/store/products/mug").await.0 == 404);

    // Archive.
    let (status, archived) = app
        .send(
            Method::POST,
            &format!("/api/vendor/products/{id}/archive"),
            &a,
            None,
        )
        .await;
    assert_eq!(
        (status, archived["status"].as_str()),
        (200, Some("archived"))
    );
    app.expect_problem("/api/store/products/lamp", 404, "not_found")
        .await;
    let (_, mine) = app
        .send(
            Method::GET,
            "/api/vendor/products?status=archived",
            &a,
            None,
        )
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);

    let (_, log) = app
        .send(Method::GET, "/api/admin/audit-log", &admin, None)
        .await;
    let actions: Vec<_> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.starts_with(&[
            "product.archive",
            "variant.stock",
            "product.update",
            "product.create"
        ]),
        "{actions:?}"
    );
}

#[tokio::test]
async fn no_tenant_can_read_or_change_another_tenants_rows() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let [(a, vendor_a), (b, _)] = app
        .vendors(
            &admin,
            [("a@example.com", "vendor-a"), ("b@example.com", "vendor-b")],
        )
        .await
        .map(|v| (v.token, v.id));
    let customer = app.register("c@example.com").await;
    let (_, pa) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &a,
            Some(product_input("a-thing", "A-1")),
        )
        .await;
    let (_, pb) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &b,
            Some(product_input("b-thing", "B-1")),
        )
        .await;
    let pa_id = pa["id"].as_str().unwrap().to_owned();
    let va_id = pa["variants"][0]["id"].as_str().unwrap().to_owned();
    let before = app
        .send(
            Method::GET,
            &format!("/api/vendor/products/{pa_id}"),
            &a,
            None,
        )
        .await
        .1;

    // B and the customer against A's ids: not found / forbidden, nothing changes.
    let attempts = [
        (Method::GET, format!("/api/vendor/products/{pa_id}"), None),
        (
            Method::PUT,
            format!("/api/vendor/products/{pa_id}"),
            Some(product_input("a-thing", "A-1")),
        ),
        (
            Method::POST,
            format!("/api/vendor/products/{pa_id}/archive"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/vendor/variants/{va_id}/stock"),
            Some(json!({"stock": 99})),
        ),
    ];
    for (method, path, body) in &attempts {
        let (status, _) = app.send(method.clone(), path, &b, body.clone()).await;
        assert_eq!(status, 404, "vendor B: {method} {path}");
        let (status, _) = app
            .send(method.clone(), path, &customer, body.clone())
            .await;
        assert_eq!(status, 403, "customer: {method} {path}");
    }
    // B cannot take A's SKU or handle either.
    let (status, problem) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &b,
            Some(product_input("b-two", "A-1")),
        )
        .await;
    assert_eq!((status, problem["code"].as_str()), (409, Some("sku_taken")));
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/api/vendor/products/{pa_id}"),
            &a,
            None,
        )
        .await
        .1,
        before,
        "A's product unchanged"
    );

    // Lists never show other tenants' rows.
    let (_, list_b) = app
        .send(Method::GET, "/api/vendor/products", &b, None)
        .await;
    let ids: Vec<_> = list_b["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [pb["id"].as_str().unwrap()]);

    // Admin endpoints are for admins only.
    let (_, key) = app
        .send(
            Method::POST,
            "/api/admin/api-keys",
            &admin,
            Some(json!({"name": "k", "scopes": ["admin:read"]})),
        )
        .await;
    let key_id = key["id"].as_str().unwrap().to_owned();
    let (_, category) = app
        .send(
            Method::POST,
            "/api/admin/categories",
            &admin,
            Some(json!({"name": "Lamps"})),
        )
        .await;
    let category_id = category["id"].as_str().unwrap().to_owned();
    let (_, jobs) = app.send(Method::GET, "/api/admin/jobs", &admin, None).await;
    let job_id = jobs["items"][0]["id"].as_str().unwrap().to_owned();
    let admin_attempts = [
        (Method::DELETE, format!("/api/admin/api-keys/{key_id}")),
        (Method::GET, "/api/admin/api-keys".to_owned()),
        (Method::PUT, format!("/api/admin/categories/{category_id}")),
        (
            Method::DELETE,
            format!("/api/admin/categories/{category_id}"),
        ),
        (Method::POST, format!("/api/admin/jobs/{job_id}/retry")),
        (Method::GET, "/api/admin/vendors".to_owned()),
        (
            Method::POST,
            format!("/api/admin/vendors/{vendor_a}/suspend"),
        ),
        (
            Method::POST,
            format!("/api/admin/vendors/{vendor_a}/approve"),
        ),
        (Method::GET, "/api/admin/jobs".to_owned()),
        (Method::GET, "/api/admin/audit-log".to_owned()),
    ];
    for (method, path) in &admin_attempts {
        for token in [&a, &b, &customer] {
            assert_eq!(
                app.send(method.clone(), path, token, None).await.0,
                403,
                "{method} {path}"
            );
        }
    }
    assert_eq!(
        handles(&walk(&app, "/api/store/products?limit=100&sort=title").await),
        ["a-thing", "b-thing"],
        "A not suspended"
    );

    // A suspended vendor's staff lose access; its products leave the storefront.
    assert_eq!(
        app.send(
            Method::POST,
            &format!("/api/admin/vendors/{vendor_a}/suspend"),
            &admin,
            None,
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.send(Method::GET, "/api/vendor/products", &a, None)
            .await
            .0,
        403
    );
    assert_eq!(
        handles(&walk(&app, "/api/store/products?limit=100").await),
        ["b-thing"]
    );
}

/// A vendor who saves a product loaded before some sales does not undo those sales: a variant's
/// stock is only changed when the request names it. Absurd sizes are refused.
#[tokio::test]
async fn saving_a_product_keeps_stock_sold_since_it_was_loaded() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (a, _) = app
        .approved_vendor(&admin, "a@example.com", "vendor-a")
        .await;
    let mut input = product_input("kettle", "KET-S");
    input["variants"][0]["stock"] = json!(10);
    let (status, created) = app
        .send(Method::POST, "/api/vendor/products", &a, Some(input))
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let variant = created["variants"][0]["id"].as_str().unwrap().to_owned();

    // The vendor's editor has the product open; a shopper buys 3 meanwhile.
    let cart = app.cart_with(&variant, 3).await;
    let (status, order, _) = app
        .checkout(
            &cart,
            "stale-edit-1",
            &crate::checkout::checkout_body("s@example.com"),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(app.stock_of(&variant).await, 7);

    // Saving the edit without stock figures keeps what is left on hand.
    let mut edit = product_input("kettle", "KET-S");
    edit["title"] = json!("Steel kettle");
    for v in edit["variants"].as_array_mut().unwrap() {
        v.as_object_mut().unwrap().remove("stock");
    }
    let (status, saved) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/products/{id}"),
            &a,
            Some(edit.clone()),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["title"], "Steel kettle");
    assert_eq!(saved["variants"][0]["stock"], 7, "sales are not undone");
    assert_eq!(app.stock_of(&variant).await, 7);

    // Naming the stock sets it.
    edit["variants"][0]["stock"] = json!(20);
    let (status, saved) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/products/{id}"),
            &a,
            Some(edit.clone()),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(app.stock_of(&variant).await, 20);

    // Out-of-range stock, price and weight are refused and change nothing.
    for (field, value) in [
        ("stock", json!(9_223_372_036_854_775_807i64)),
        ("grams", json!(2_000_000_000i64)),
        (
            "price",
            json!({"amount": 2_000_000_000_000i64, "currency": "USD"}),
        ),
    ] {
        let mut bad = edit.clone();
        bad["variants"][0][field] = value;
        let (status, problem) = app
            .send(
                Method::PUT,
                &format!("/api/vendor/products/{id}"),
                &a,
                Some(bad),
            )
            .await;
        assert_eq!(status, 400, "{field}: {problem}");
        assert_eq!(problem["code"], "validation_failed", "{problem}");
    }
    assert_eq!(app.stock_of(&variant).await, 20);
}

/// Every route with an id in its path, from the OpenAPI document, is called with another
/// tenant's real id: vendor B against vendor A's rows, customer C2 against customer C1's cart,
/// order and session (and a guest against them too), and every non-admin against each admin
/// route. Each is refused, and afterwards nothing of A's or C1's has changed. A route in the
/// document that this table does not exercise fails the test, so a new route must be added.
#[tokio::test]
async fn every_route_with_an_id_refuses_other_tenants() {
    use std::collections::BTreeSet;

    use crate::checkout::checkout_body;

    /// Public by design: a handle names a published product or an active vendor.
    const PUBLIC: &[&str] = &[
        "GET /api/store/products/{handle}",
        "GET /api/store/vendors/{handle}",
    ];
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let [(a, vendor_a), (b, _)] = app
        .vendors(
            &admin,
            [("a@example.com", "vendor-a"), ("b@example.com", "vendor-b")],
        )
        .await
        .map(|v| (v.token, v.id));
    let c1 = app.register("c1@example.com").await;
    let c2 = app.register("c2@example.com").await;
    let created = |body: &Value| body["id"].as_str().unwrap().to_owned();
    // Creates a row as `token`; its id.
    let create = async |path: &str, token: &str, body: Value| {
        let (status, row) = app.send(Method::POST, path, token, Some(body)).await;
        assert_eq!(status, 201, "{path}: {row}");
        created(&row)
    };

    // A's rows.
    let (status, pa) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &a,
            Some(product_input("a-thing", "A-1")),
        )
        .await;
    assert_eq!(status, 201, "{pa}");
    let pa_id = created(&pa);
    let va_id = pa["variants"][0]["id"].as_str().unwrap().to_owned();
    let rate_a = app
        .shipping_rates(&a, &[ShippingRate::flat("A post", 500)])
        .await
        .remove(0);
    let rate_b = app
        .shipping_rates(&b, &[ShippingRate::flat("B post", 500)])
        .await
        .remove(0);
    let invitation_a = create(
        "/api/vendor/invitations",
        &a,
        json!({"email": "helper-a@example.com"}),
    )
    .await;
    let hook = |url: &str| json!({"url": url, "events": ["order.created"]});
    let hook_a = create(
        "/api/vendor/webhooks",
        &a,
        hook("https://hooks.example.com/a"),
    )
    .await;
    let hook_b = create(
        "/api/vendor/webhooks",
        &b,
        hook("https://hooks.example.com/b"),
    )
    .await;
    let (status, test_a) = app
        .send(
            Method::POST,
            &format!("/api/vendor/webhooks/{hook_a}/test"),
            &a,
            None,
        )
        .await;
    assert_eq!(status, 202, "{test_a}");
    let (_, messages) = app
        .send(
            Method::GET,
            &format!("/api/vendor/webhooks/{hook_a}/messages"),
            &a,
            None,
        )
        .await;
    let message_a = messages["items"][0]["id"].as_str().unwrap().to_owned();

    // C1's rows: an order (from a first cart), an open cart with a line, a session.
    let customer_cart = async |token: &str| {
        let (status, cart) = app
            .send(Method::POST, "/api/store/carts", token, None)
            .await;
        assert_eq!(status, 201, "{cart}");
        let cart = created(&cart);
        let (status, body) = app
            .send(
                Method::POST,
                &format!("/api/store/carts/{cart}/items"),
                token,
                Some(json!({"variant_id": va_id, "quantity": 1})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (cart, body["lines"][0]["id"].as_str().unwrap().to_owned())
    };
    let (first_cart, _) = customer_cart(&c1).await;
    let response = app
        .client
        .post(app.url(&format!("/api/store/carts/{first_cart}/checkout")))
        .bearer_auth(&c1)
        .header("Idempotency-Key", "c1-order")
        .json(&checkout_body("c1@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let order_c1 = created(&response.json::<Value>().await.unwrap());
    let (cart_c1, line_c1) = customer_cart(&c1).await;
    let (_, orders_a) = app.send(Method::GET, "/api/vendor/orders", &a, None).await;
    let vo_a = orders_a["items"][0]["id"].as_str().unwrap().to_owned();
    let (_, sessions) = app.send(Method::GET, "/api/auth/sessions", &c1, None).await;
    let session_c1 = sessions["items"][0]["id"].as_str().unwrap().to_owned();

    // Admin rows.
    let key_id = create(
        "/api/admin/api-keys",
        &admin,
        json!({"name": "k", "scopes": ["admin:read"]}),
    )
    .await;
    let category_id = create("/api/admin/categories", &admin, json!({"name": "Lamps"})).await;
    let coupon_id = app
        .coupons(&admin, &[Coupon::percent("KEEP", 500)])
        .await
        .remove(0);
    let (_, jobs) = app.send(Method::GET, "/api/admin/jobs", &admin, None).await;
    let job_id = jobs["items"][0]["id"].as_str().unwrap().to_owned();
    let platform_hook = create(
        "/api/admin/webhooks",
        &admin,
        hook("https://hooks.example.com/platform"),
    )
    .await;

    // What the victims see before.
    let snapshot = async || {
        let mut seen = Vec::new();
        for (path, token) in [
            (format!("/api/vendor/products/{pa_id}"), &a),
            ("/api/vendor/shipping-rates".to_owned(), &a),
            (format!("/api/vendor/webhooks/{hook_a}"), &a),
            (format!("/api/vendor/webhooks/{hook_a}/secret"), &a),
            (format!("/api/vendor/webhooks/{hook_a}/messages"), &a),
            (format!("/api/vendor/orders/{vo_a}"), &a),
            (format!("/api/store/carts/{cart_c1}"), &c1),
            (format!("/api/store/orders/{order_c1}"), &c1),
            ("/api/auth/sessions".to_owned(), &c1),
            (format!("/api/admin/orders/{order_c1}"), &admin),
            ("/api/admin/vendors".to_owned(), &admin),
            ("/api/admin/api-keys".to_owned(), &admin),
            ("/api/admin/coupons".to_owned(), &admin),
            (format!("/api/admin/webhooks/{platform_hook}"), &admin),
            (
                format!("/api/admin/webhooks/{platform_hook}/secret"),
                &admin,
            ),
        ] {
            let (status, mut body) = app.send(Method::GET, &path, token, None).await;
            assert_eq!(status, 200, "{path}: {body}");
            // Sessions show when they were last used; that may move.
            if path == "/api/auth/sessions" {
                for s in body["items"].as_array_mut().unwrap() {
                    s.as_object_mut().unwrap().remove("last_seen_at");
                }
            }
            seen.push((path, body));
        }
        seen
    };
    let before = snapshot().await;
    let stock_before = app.stock_of(&va_id).await;

    let since = json!({"since": "2026-01-01T00:00:00Z"});
    let store_owned = [
        (
            "GET",
            "/api/store/carts/{id}",
            format!("/api/store/carts/{cart_c1}"),
            None,
        ),
        (
            "PATCH",
            "/api/store/carts/{id}",
            format!("/api/store/carts/{cart_c1}"),
            Some(json!({"email": "thief@example.com"})),
        ),
        (
            "POST",
            "/api/store/carts/{id}/checkout",
            format!("/api/store/carts/{cart_c1}/checkout"),
            Some(checkout_body("thief@example.com")),
        ),
        (
            "PUT",
            "/api/store/carts/{id}/coupon",
            format!("/api/store/carts/{cart_c1}/coupon"),
            Some(json!({"code": "KEEP"})),
        ),
        (
            "DELETE",
            "/api/store/carts/{id}/coupon",
            format!("/api/store/carts/{cart_c1}/coupon"),
            None,
        ),
        (
            "POST",
            "/api/store/carts/{id}/items",
            format!("/api/store/carts/{cart_c1}/items"),
            Some(json!({"variant_id": va_id, "quantity": 1})),
        ),
        (
            "PATCH",
            "/api/store/carts/{id}/items/{line_id}",
            format!("/api/store/carts/{cart_c1}/items/{line_c1}"),
            Some(json!({"quantity": 3})),
        ),
        (
            "DELETE",
            "/api/store/carts/{id}/items/{line_id}",
            format!("/api/store/carts/{cart_c1}/items/{line_c1}"),
            None,
        ),
        (
            "PUT",
            "/api/store/carts/{id}/shipping",
            format!("/api/store/carts/{cart_c1}/shipping"),
            Some(json!({"option_id": rate_a})),
        ),
        (
            "GET",
            "/api/store/carts/{id}/shipping-options",
            format!("/api/store/carts/{cart_c1}/shipping-options"),
            None,
        ),
        (
            "GET",
            "/api/store/orders/{id}",
            format!("/api/store/orders/{order_c1}"),
            None,
        ),
        (
            "GET",
            "/api/store/orders/{id}/events",
            format!("/api/store/orders/{order_c1}/events"),
            None,
        ),
        (
            "GET",
            "/api/store/orders/{id}/payment",
            format!("/api/store/orders/{order_c1}/payment"),
            None,
        ),
        (
            "POST",
            "/api/store/orders/{id}/payment/confirm",
            format!("/api/store/orders/{order_c1}/payment/confirm"),
            None,
        ),
        (
            "DELETE",
            "/api/auth/sessions/{id}",
            format!("/api/auth/sessions/{session_c1}"),
            None,
        ),
    ];
    let vendor_owned = [
        (
            "GET",
            "/api/vendor/orders/{id}",
            format!("/api/vendor/orders/{vo_a}"),
            None,
        ),
        (
            "POST",
            "/api/vendor/orders/{id}/fulfil",
            format!("/api/vendor/orders/{vo_a}/fulfil"),
            Some(json!({"carrier": "DHL", "tracking_number": "JJD1"})),
        ),
        (
            "DELETE",
            "/api/vendor/invitations/{id}",
            format!("/api/vendor/invitations/{invitation_a}"),
            None,
        ),
        (
            "PUT",
            "/api/vendor/orders/{id}/tracking",
            format!("/api/vendor/orders/{vo_a}/tracking"),
            Some(json!({"carrier": "DHL", "tracking_number": "JJD2"})),
        ),
        (
            "GET",
            "/api/vendor/products/{id}",
            format!("/api/vendor/products/{pa_id}"),
            None,
        ),
        (
            "PUT",
            "/api/vendor/products/{id}",
            format!("/api/vendor/products/{pa_id}"),
            Some(product_input("a-thing", "A-1")),
        ),
        (
            "POST",
            "/api/vendor/products/{id}/archive",
            format!("/api/vendor/products/{pa_id}/archive"),
            None,
        ),
        (
            "DELETE",
            "/api/vendor/shipping-rates/{id}",
            format!("/api/vendor/shipping-rates/{rate_a}"),
            None,
        ),
        (
            "PUT",
            "/api/vendor/variants/{id}/stock",
            format!("/api/vendor/variants/{va_id}/stock"),
            Some(json!({"stock": 99})),
        ),
        (
            "GET",
            "/api/vendor/webhooks/{id}",
            format!("/api/vendor/webhooks/{hook_a}"),
            None,
        ),
        (
            "PATCH",
            "/api/vendor/webhooks/{id}",
            format!("/api/vendor/webhooks/{hook_a}"),
            Some(json!({"enabled": false})),
        ),
        (
            "DELETE",
            "/api/vendor/webhooks/{id}",
            format!("/api/vendor/webhooks/{hook_a}"),
            None,
        ),
        (
            "GET",
            "/api/vendor/webhooks/{id}/deliveries",
            format!("/api/vendor/webhooks/{hook_a}/deliveries"),
            None,
        ),
        (
            "GET",
            "/api/vendor/webhooks/{id}/messages",
            format!("/api/vendor/webhooks/{hook_a}/messages"),
            None,
        ),
        (
            "POST",
            "/api/vendor/webhooks/{id}/messages/{message_id}/redeliver",
            format!("/api/vendor/webhooks/{hook_a}/messages/{message_a}/redeliver"),
            None,
        ),
        // B's own endpoint with A's message: still A's message.
        (
            "POST",
            "/api/vendor/webhooks/{id}/messages/{message_id}/redeliver",
            format!("/api/vendor/webhooks/{hook_b}/messages/{message_a}/redeliver"),
            None,
        ),
        (
            "POST",
            "/api/vendor/webhooks/{id}/recover",
            format!("/api/vendor/webhooks/{hook_a}/recover"),
            Some(since.clone()),
        ),
        (
            "GET",
            "/api/vendor/webhooks/{id}/secret",
            format!("/api/vendor/webhooks/{hook_a}/secret"),
            None,
        ),
        (
            "POST",
            "/api/vendor/webhooks/{id}/secret/rotate",
            format!("/api/vendor/webhooks/{hook_a}/secret/rotate"),
            None,
        ),
        (
            "POST",
            "/api/vendor/webhooks/{id}/test",
            format!("/api/vendor/webhooks/{hook_a}/test"),
            None,
        ),
    ];
    let admin_only = [
        (
            "DELETE",
            "/api/admin/api-keys/{id}",
            format!("/api/admin/api-keys/{key_id}"),
            None,
        ),
        (
            "PUT",
            "/api/admin/categories/{id}",
            format!("/api/admin/categories/{category_id}"),
            Some(json!({"name": "Stolen"})),
        ),
        (
            "DELETE",
            "/api/admin/categories/{id}",
            format!("/api/admin/categories/{category_id}"),
            None,
        ),
        (
            "PUT",
            "/api/admin/coupons/{id}/active",
            format!("/api/admin/coupons/{coupon_id}/active"),
            Some(json!({"active": false})),
        ),
        (
            "POST",
            "/api/admin/jobs/{id}/retry",
            format!("/api/admin/jobs/{job_id}/retry"),
            None,
        ),
        (
            "GET",
            "/api/admin/orders/{id}",
            format!("/api/admin/orders/{order_c1}"),
            None,
        ),
        (
            "POST",
            "/api/admin/orders/{id}/cancel",
            format!("/api/admin/orders/{order_c1}/cancel"),
            Some(json!({"reason": "mine now"})),
        ),
        (
            "POST",
            "/api/admin/orders/{id}/complete",
            format!("/api/admin/orders/{order_c1}/complete"),
            None,
        ),
        (
            "GET",
            "/api/admin/orders/{id}/payments",
            format!("/api/admin/orders/{order_c1}/payments"),
            None,
        ),
        (
            "POST",
            "/api/admin/orders/{id}/payments",
            format!("/api/admin/orders/{order_c1}/payments"),
            Some(json!({"amount": 1000, "reference": "x"})),
        ),
        (
            "POST",
            "/api/admin/orders/{id}/refunds",
            format!("/api/admin/orders/{order_c1}/refunds"),
            Some(json!({"amount": 100})),
        ),
        (
            "POST",
            "/api/admin/vendors/{id}/approve",
            format!("/api/admin/vendors/{vendor_a}/approve"),
            None,
        ),
        (
            "POST",
            "/api/admin/vendors/{id}/suspend",
            format!("/api/admin/vendors/{vendor_a}/suspend"),
            None,
        ),
        (
            "PUT",
            "/api/admin/vendors/{id}/commission",
            format!("/api/admin/vendors/{vendor_a}/commission"),
            Some(json!({"commission_bps": 0})),
        ),
        (
            "POST",
            "/api/admin/vendors/{id}/payouts",
            format!("/api/admin/vendors/{vendor_a}/payouts"),
            Some(json!({"amount": 1, "reference": "x"})),
        ),
        (
            "GET",
            "/api/admin/webhooks/{id}",
            format!("/api/admin/webhooks/{platform_hook}"),
            None,
        ),
        (
            "PATCH",
            "/api/admin/webhooks/{id}",
            format!("/api/admin/webhooks/{platform_hook}"),
            Some(json!({"enabled": false})),
        ),
        (
            "DELETE",
            "/api/admin/webhooks/{id}",
            format!("/api/admin/webhooks/{platform_hook}"),
            None,
        ),
        (
            "GET",
            "/api/admin/webhooks/{id}/deliveries",
            format!("/api/admin/webhooks/{platform_hook}/deliveries"),
            None,
        ),
        (
            "GET",
            "/api/admin/webhooks/{id}/messages",
            format!("/api/admin/webhooks/{platform_hook}/messages"),
            None,
        ),
        (
            "POST",
            "/api/admin/webhooks/{id}/messages/{message_id}/redeliver",
            format!("/api/admin/webhooks/{platform_hook}/messages/{message_a}/redeliver"),
            None,
        ),
        (
            "POST",
            "/api/admin/webhooks/{id}/recover",
            format!("/api/admin/webhooks/{platform_hook}/recover"),
            Some(since.clone()),
        ),
        (
            "GET",
            "/api/admin/webhooks/{id}/secret",
            format!("/api/admin/webhooks/{platform_hook}/secret"),
            None,
        ),
        (
            "POST",
            "/api/admin/webhooks/{id}/secret/rotate",
            format!("/api/admin/webhooks/{platform_hook}/secret/rotate"),
            None,
        ),
        (
            "POST",
            "/api/admin/webhooks/{id}/test",
            format!("/api/admin/webhooks/{platform_hook}/test"),
            None,
        ),
    ];
    let attempt = async |method: &str, path: &str, token: Option<&str>, body: &Option<Value>| {
        let mut request = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    let mut exercised = BTreeSet::new();
    for (method, template, path, body) in &store_owned {
        for (who, token) in [("customer C2", Some(c2.as_str())), ("a guest", None)] {
            if template.starts_with("/api/auth/") && token.is_none() {
                continue; // needs a session of one's own: 401 for a guest
            }
            let (status, problem) = attempt(method, path, token, body).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (404, Some("not_found")),
                "{who}: {method} {path}"
            );
        }
        exercised.insert(format!("{method} {template}"));
    }
    for (method, template, path, body) in &vendor_owned {
        let (status, problem) = attempt(method, path, Some(&b), body).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (404, Some("not_found")),
            "vendor B: {method} {path}"
        );
        let (status, _) = attempt(method, path, Some(&c2), body).await;
        assert_eq!(status, 403, "customer C2: {method} {path}");
        exercised.insert(format!("{method} {template}"));
    }
    // The image upload takes a multipart body: B's upload to A's product is not found (and
    // nothing is stored), C2 is not vendor staff.
    let upload = format!("/api/vendor/products/{pa_id}/images");
    for (who, token, wanted) in [("vendor B", &b, 404), ("customer C2", &c2, 403)] {
        let boundary = "tenancy-upload";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\n"
        )
        .into_bytes();
        body.extend(crate::vendor_images::png(8, 8));
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = app
            .client
            .post(app.url(&upload))
            .bearer_auth(token)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), wanted, "{who}: POST {upload}");
    }
    exercised.insert("POST /api/vendor/products/{id}/images".to_owned());
    for (method, template, path, body) in &admin_only {
        for (who, token) in [("vendor A", &a), ("vendor B", &b), ("customer C1", &c1)] {
            let (status, problem) = attempt(method, path, Some(token), body).await;
            assert_eq!(
                (status, problem["code"].as_str()),
                (403, Some("forbidden")),
                "{who}: {method} {path}"
            );
        }
        exercised.insert(format!("{method} {template}"));
    }
    // An id in the body: C1 cannot choose vendor B's (real) shipping option for a cart that
    // holds only A's goods.
    let (status, problem) = app
        .send(
            Method::PUT,
            &format!("/api/store/carts/{cart_c1}/shipping"),
            &c1,
            Some(json!({"option_id": rate_b})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("unknown_shipping_option"))
    );

    // Nothing of the victims' changed.
    assert_eq!(snapshot().await, before);
    assert_eq!(app.stock_of(&va_id).await, stock_before);

    // Every route with a path parameter in the document was exercised (or is public).
    let (_, doc) = app.get_json("/api/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let public: BTreeSet<String> = PUBLIC.iter().map(|s| (*s).to_owned()).collect();
    let missing: Vec<_> = documented
        .difference(&exercised)
        .filter(|r| !public.contains(*r))
        .collect();
    assert!(
        missing.is_empty(),
        "routes with an id this test does not exercise: {missing:#?}"
    );
    let stale: Vec<_> = exercised.difference(&documented).collect();
    assert!(stale.is_empty(), "not in the document: {stale:#?}");
}
