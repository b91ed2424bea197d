//! Vendor catalog API and the tenancy matrix: every id-taking endpoint refuses other tenants,
//! changes nothing for them, and no list shows another tenant's rows.

use serde_json::{Value, json};

use crate::helpers::{TestApp, handles, walk};

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

impl TestApp {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, self.url(path))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// An approved vendor's owner token and vendor id.
    pub async fn approved_vendor(
        &self,
        admin: &str,
        email: &str,
        handle: &str,
    ) -> (String, String) {
        let (token, id) = self.vendor_owner(email, handle).await;
        assert_eq!(
            self.post_auth(&format!("/api/admin/vendors/{id}/approve"), admin)
                .await
                .0,
            200
        );
        (token, id)
    }
}

#[tokio::test]
async fn vendors_manage_their_catalog_and_the_storefront_follows() {
    use reqwest::Method;
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
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("variants[0].price.currency"))
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
        .get_auth_json("/api/vendor/products?status=archived", &a)
        .await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);

    let (_, log) = app.get_auth_json("/api/admin/audit-log", &admin).await;
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
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (a, vendor_a) = app
        .approved_vendor(&admin, "a@example.com", "vendor-a")
        .await;
    let (b, _) = app
        .approved_vendor(&admin, "b@example.com", "vendor-b")
        .await;
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
        .get_auth_json(&format!("/api/vendor/products/{pa_id}"), &a)
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
        app.get_auth_json(&format!("/api/vendor/products/{pa_id}"), &a)
            .await
            .1,
        before,
        "A's product unchanged"
    );

    // Lists never show other tenants' rows.
    let (_, list_b) = app.get_auth_json("/api/vendor/products", &b).await;
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
    let (_, jobs) = app.get_auth_json("/api/admin/jobs", &admin).await;
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
        app.post_auth(&format!("/api/admin/vendors/{vendor_a}/suspend"), &admin)
            .await
            .0,
        200
    );
    assert_eq!(app.get_auth("/api/vendor/products", &a).await.status(), 403);
    assert_eq!(
        handles(&walk(&app, "/api/store/products?limit=100").await),
        ["b-thing"]
    );
}

/// A vendor who saves a product loaded before some sales does not undo those sales: a variant's
/// stock is only changed when the request names it. Absurd sizes are refused.
#[tokio::test]
async fn saving_a_product_keeps_stock_sold_since_it_was_loaded() {
    use reqwest::Method;
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
