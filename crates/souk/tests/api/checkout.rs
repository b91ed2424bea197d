//! Carts, checkout, orders, stock and marketplace money, over real HTTP on both databases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::Method;
use serde_json::{Value, json};
use souk_domain::catalog::ProductDraft;
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::helpers::{TestApp, product};
use crate::scenario::{Coupon, ShippingRate, TaxRate};

pub fn address() -> Value {
    json!({"name": "Ada Lovelace", "line1": "1 Main St", "city": "Berlin",
           "postal_code": "10115", "country": "DE"})
}

pub fn checkout_body(email: &str) -> Value {
    json!({"email": email, "shipping_address": address(), "payment_method": "manual"})
}

/// A product whose variants all have `stock` units.
pub fn stocked(handle: &str, prices: &[i64], stock: i64) -> ProductDraft {
    let mut p = product(handle, handle, prices);
    for v in &mut p.variants {
        v.stock = Some(stock);
    }
    p
}

impl TestApp {
    /// The variant ids of a published product, in order.
    pub async fn variant_ids(&self, handle: &str) -> Vec<String> {
        let (status, body) = self
            .get_json(&format!("/api/store/products/{handle}"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["variants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A new guest cart's id.
    pub async fn new_cart(&self) -> String {
        let (status, body) = self.shop(Method::POST, "/api/store/carts", None).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    pub async fn add_to_cart(&self, cart: &str, variant: &str, quantity: i64) -> Value {
        let (status, body) = self
            .shop(
                Method::POST,
                &format!("/api/store/carts/{cart}/items"),
                Some(json!({"variant_id": variant, "quantity": quantity})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Checks a cart out; returns status, parsed body and the raw body text.
    pub async fn checkout(&self, cart: &str, key: &str, body: &Value) -> (u16, Value, String) {
        let response = self
            .request_builder(
                Method::POST,
                &format!("/api/store/carts/{cart}/checkout"),
                None,
                Some(body.clone()),
            )
            .header("Idempotency-Key", key)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        )
    }

    pub async fn stock_of(&self, variant: &str) -> i64 {
        souk_storage::catalog::variant_stock(&self.db, Uuid::parse_str(variant).unwrap())
            .await
            .unwrap()
            .unwrap()
    }

    /// An admin's cancel of an order (with `reason`, if any): status and body.
    pub async fn cancel_order(
        &self,
        admin: &str,
        order: &str,
        reason: Option<&str>,
    ) -> (u16, Value) {
        let body = reason.map_or_else(|| json!({}), |r| json!({ "reason": r }));
        self.send(
            Method::POST,
            &format!("/api/admin/orders/{order}/cancel"),
            admin,
            Some(body),
        )
        .await
    }

    /// A cart holding `quantity` of `variant`, ready to check out.
    pub async fn cart_with(&self, variant: &str, quantity: i64) -> String {
        let cart = self.new_cart().await;
        self.add_to_cart(&cart, variant, quantity).await;
        cart
    }
}

/// Two approved vendors with one product each, for orders that span them: vendor A
/// (`a@example.com`, `vendor-a`) sells `apple` at 10.00 and vendor B (`b@example.com`,
/// `vendor-b`) `banana` at 30.00, 10 of each in stock.
pub struct TwoVendors {
    pub a_token: String,
    pub a_id: String,
    pub b_token: String,
    pub b_id: String,
    pub apple: String,
    pub banana: String,
}

impl TestApp {
    pub async fn two_vendors(&self, admin: &str) -> TwoVendors {
        let [a, b] = self
            .vendors(
                admin,
                [("a@example.com", "vendor-a"), ("b@example.com", "vendor-b")],
            )
            .await;
        self.seed(&a.handle, &[stocked("apple", &[1000], 10)]).await;
        self.seed(&b.handle, &[stocked("banana", &[3000], 10)])
            .await;
        TwoVendors {
            a_token: a.token,
            a_id: a.id,
            b_token: b.token,
            b_id: b.id,
            apple: self.variant_ids("apple").await.remove(0),
            banana: self.variant_ids("banana").await.remove(0),
        }
    }
}

#[tokio::test]
async fn a_cart_is_priced_live_with_coupon_shipping_and_tax() {
    let app = TestApp::spawn().await;
    app.seed("acme", &[stocked("mug", &[1000], 20)]).await;
    let admin = app.admin_token().await;
    let mug = app.variant_ids("mug").await.remove(0);

    let cart = app.new_cart().await;
    let body = app.add_to_cart(&cart, &mug, 2).await;
    assert_eq!(body["subtotal"], json!({"amount": 2000, "currency": "USD"}));
    assert_eq!(body["total"]["amount"], 2000);
    assert_eq!(body["purchasable"], true);
    // Adding the same variant again adds to the line.
    let body = app.add_to_cart(&cart, &mug, 1).await;
    assert_eq!(body["lines"].as_array().unwrap().len(), 1);
    assert_eq!(body["lines"][0]["quantity"], 3);
    let line = body["lines"][0]["id"].as_str().unwrap().to_owned();

    // A 10 % coupon with a minimum, tax for the destination, a vendor shipping option.
    let (status, coupon) = app
        .send(
            Method::POST,
            "/api/admin/coupons",
            &admin,
            Some(json!({"code": "save10", "kind": "percent", "value": 1000, "min_subtotal": 2500})),
        )
        .await;
    assert_eq!(status, 201, "{coupon}");
    assert_eq!(coupon["code"], "SAVE10");
    app.tax_rates(&admin, &[TaxRate::exclusive("de", 1900)])
        .await;
    let (status, body) = app
        .shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/coupon"),
            Some(json!({"code": "Save10"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["discount"]["amount"], 300);
    assert_eq!(body["coupon"]["applied"], true);
    let (status, body) = app
        .shop(
            Method::PATCH,
            &format!("/api/store/carts/{cart}"),
            Some(json!({"email": "Ada@Example.com", "shipping_address": address()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "ada@example.com");
    // 3000 − 300 = 2700 net; 19 % exclusive tax = 513.
    assert_eq!(body["tax"]["amount"], 513);
    assert_eq!(body["total"]["amount"], 2700 + 513);

    // Below the coupon's minimum it stops applying, and says why.
    let (status, body) = app
        .shop(
            Method::PATCH,
            &format!("/api/store/carts/{cart}/items/{line}"),
            Some(json!({"quantity": 2})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["discount"]["amount"], 0);
    assert_eq!(body["coupon"]["problem"], "minimum_subtotal_not_reached");
    let (status, body) = app
        .shop(
            Method::DELETE,
            &format!("/api/store/carts/{cart}/coupon"),
            None,
        )
        .await;
    assert_eq!((status, &body["coupon"]), (200, &Value::Null));
    let (status, body) = app
        .shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/coupon"),
            Some(json!({"code": "NOPE"})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("coupon_not_found"))
    );

    // Stock shortfalls show in the cart before checkout.
    let (_, body) = app
        .shop(
            Method::PATCH,
            &format!("/api/store/carts/{cart}/items/{line}"),
            Some(json!({"quantity": 21})),
        )
        .await;
    assert_eq!(body["lines"][0]["problem"], "insufficient_stock");
    assert_eq!(body["lines"][0]["available_quantity"], 20);
    assert_eq!(body["purchasable"], false);

    // Unknown variant, bad quantity, unknown cart, removed line.
    let (status, body) = app
        .shop(
            Method::POST,
            &format!("/api/store/carts/{cart}/items"),
            Some(json!({"variant_id": Uuid::new_v4(), "quantity": 1})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("variant_unavailable"))
    );
    let (status, _) = app
        .shop(
            Method::POST,
            &format!("/api/store/carts/{cart}/items"),
            Some(json!({"variant_id": mug, "quantity": 0})),
        )
        .await;
    assert_eq!(status, 400);
    app.expect_problem(
        &format!("/api/store/carts/{}", Uuid::new_v4()),
        404,
        "not_found",
    )
    .await;
    let (status, body) = app
        .shop(
            Method::DELETE,
            &format!("/api/store/carts/{cart}/items/{line}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["lines"], json!([]));
    assert_eq!(body["total"]["amount"], 0);
}

#[tokio::test]
async fn shipping_options_are_per_vendor_and_the_cheapest_is_the_default() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "v@example.com", "shipper")
        .await;
    app.seed("shipper", &[stocked("crate", &[4000], 10)]).await;
    let v = app.variant_ids("crate").await.remove(0);
    app.shipping_rates(
        &vendor,
        &[
            ShippingRate::flat("Express", 900),
            ShippingRate::free_over("Standard", 500, 10000),
            ShippingRate::by_weight("Freight", 200, 100),
        ],
    )
    .await;
    let (status, body) = app
        .send(
            Method::POST,
            "/api/vendor/shipping-rates",
            &vendor,
            Some(json!({"name": "Odd", "kind": "free_over", "amount": 5})),
        )
        .await;
    assert_eq!(status, 400, "free_over needs a threshold: {body}");

    let cart = app.cart_with(&v, 1).await; // 4000, 100 g
    let (status, options) = app
        .shop(
            Method::GET,
            &format!("/api/store/carts/{cart}/shipping-options"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{options}");
    let list = options["vendors"][0]["options"].as_array().unwrap();
    let price = |name: &str| {
        list.iter().find(|o| o["name"] == name).unwrap()["price"]["amount"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(
        (price("Express"), price("Standard"), price("Freight")),
        (900, 500, 300)
    );
    let selected: Vec<&Value> = list.iter().filter(|o| o["selected"] == true).collect();
    assert_eq!(selected.len(), 1);
    assert_eq!(selected[0]["name"], "Freight", "cheapest by default");

    let express = list.iter().find(|o| o["name"] == "Express").unwrap()["id"].clone();
    let (status, body) = app
        .shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/shipping"),
            Some(json!({"option_id": express})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["shipping"]["amount"], 900);
    assert_eq!(body["total"]["amount"], 4900);
    assert_eq!(body["vendors"][0]["shipping_option"]["name"], "Express");
    let (status, body) = app
        .shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/shipping"),
            Some(json!({"option_id": Uuid::new_v4()})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("unknown_shipping_option"))
    );

    let (status, order, _) = app
        .checkout(&cart, "ship-1", &checkout_body("buyer@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["shipping"]["amount"], 900);
    assert_eq!(order["vendor_orders"][0]["shipping_option"], "Express");
}

#[tokio::test]
async fn two_vendors_make_two_vendor_orders_each_seeing_only_its_own_part() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let TwoVendors {
        a_token,
        a_id,
        b_token,
        apple,
        banana,
        ..
    } = app.two_vendors(&admin).await;
    // Vendor A takes 20 % instead of the platform's default 10 %.
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/admin/vendors/{a_id}/commission"),
            &admin,
            Some(json!({"commission_bps": 2000})),
        )
        .await;
    assert_eq!((status, body["effective_bps"].as_i64()), (200, Some(2000)));

    let cart = app.cart_with(&apple, 2).await;
    app.add_to_cart(&cart, &banana, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "two-vendors", &checkout_body("shopper@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "pending_payment");
    assert_eq!(order["total"]["amount"], 5000);
    assert_eq!(order["vendor_orders"].as_array().unwrap().len(), 2);
    let order_id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (app.stock_of(&apple).await, app.stock_of(&banana).await),
        (8, 9)
    );

    // Each vendor sees one vendor order with only its lines, and where to ship — not the
    // customer's email or the other vendor's goods.
    let (status, a_orders) = app
        .send(Method::GET, "/api/vendor/orders", &a_token, None)
        .await;
    assert_eq!(status, 200, "{a_orders}");
    let items = a_orders["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let a_part = &items[0];
    assert_eq!(a_part["lines"].as_array().unwrap().len(), 1);
    assert_eq!(a_part["lines"][0]["product_title"], "apple");
    assert_eq!(a_part["ship_to"]["city"], "Berlin");
    assert_eq!(a_part["total"]["amount"], 2000);
    assert_eq!(a_part["commission"]["amount"], 400);
    assert!(!a_orders.to_string().contains("shopper@example.com"));
    assert!(!a_orders.to_string().contains("banana"));
    let (_, b_orders) = app
        .send(Method::GET, "/api/vendor/orders", &b_token, None)
        .await;
    assert_eq!(b_orders["items"][0]["lines"][0]["product_title"], "banana");
    let a_vo = a_part["id"].as_str().unwrap().to_owned();
    let b_vo = b_orders["items"][0]["id"].as_str().unwrap().to_owned();
    // B cannot read or fulfil A's vendor order.
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/api/vendor/orders/{a_vo}"),
            &b_token,
            None,
        )
        .await
        .0,
        404
    );
    let fulfil = json!({"carrier": "DHL", "tracking_number": "JJD000123"});
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{a_vo}/fulfil"),
            &b_token,
            Some(fulfil.clone()),
        )
        .await;
    assert_eq!(status, 404);

    // Unpaid orders do not ship.
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{a_vo}/fulfil"),
            &a_token,
            Some(fulfil.clone()),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition"))
    );

    // Manual payment: the wrong amount is refused, the right one pays once.
    let pay = |amount: i64| json!({"amount": amount, "reference": "SEPA 42"});
    let path = format!("/api/admin/orders/{order_id}/payments");
    let (status, body) = app.send(Method::POST, &path, &admin, Some(pay(4999))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("amount_mismatch"))
    );
    let (status, body) = app.send(Method::POST, &path, &admin, Some(pay(5000))).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("paid")));
    let (status, body) = app.send(Method::POST, &path, &admin, Some(pay(5000))).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition"))
    );

    // Balances: A earns 2000 − 20 %, B 3000 − 10 %.
    let (_, a_balance) = app
        .send(Method::GET, "/api/vendor/balance", &a_token, None)
        .await;
    assert_eq!(a_balance["available"]["amount"], 1600);
    assert_eq!(a_balance["commission"]["amount"], 400);
    let (_, b_balance) = app
        .send(Method::GET, "/api/vendor/balance", &b_token, None)
        .await;
    assert_eq!(b_balance["available"]["amount"], 2700);

    // One vendor ships: partially fulfilled; the other: fulfilled; then completed.
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{a_vo}/fulfil"),
            &a_token,
            Some(fulfil.clone()),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("fulfilled")),
        "{body}"
    );
    assert_eq!(body["order_status"], "partially_fulfilled");
    assert_eq!(body["tracking_number"], "JJD000123");
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{a_vo}/fulfil"),
            &a_token,
            Some(fulfil.clone()),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{b_vo}/fulfil"),
            &b_token,
            Some(fulfil),
        )
        .await;
    assert_eq!(
        (status, body["order_status"].as_str()),
        (200, Some("fulfilled"))
    );
    let (status, body) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{order_id}/complete"),
            &admin,
            None,
        )
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("completed")));
    // A shipped order cannot be cancelled.
    let (status, _) = app.cancel_order(&admin, &order_id, None).await;
    assert_eq!(status, 409);

    // Payouts: not more than the balance; the report shows what is owed, also as CSV.
    let payout = format!("/api/admin/vendors/{a_id}/payouts");
    let (status, body) = app
        .send(Method::POST, &payout, &admin, Some(json!({"amount": 1601})))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("insufficient_balance"))
    );
    // Sent three times at once with one Idempotency-Key (a retried request): one payout.
    let pay = |amount: i64| {
        app.client
            .post(app.url(&payout))
            .bearer_auth(&admin)
            .header("Idempotency-Key", "wire-7")
            .json(&json!({"amount": amount, "reference": "wire 7"}))
            .send()
    };
    let (a1, a2, a3) = tokio::join!(pay(1000), pay(1000), pay(1000));
    let mut ids = Vec::new();
    for answer in [a1, a2, a3] {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 201);
        let body: Value = answer.json().await.unwrap();
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    assert!(ids.iter().all(|i| *i == ids[0]), "one payout: {ids:?}");
    let reused = pay(999).await.unwrap();
    assert_eq!(reused.status(), 422);
    // (The report below shows 1000 paid out, not 3000.)
    // The vendor sees its payout history; the other vendor sees none of it.
    let (status, history) = app
        .send(Method::GET, "/api/vendor/payouts", &a_token, None)
        .await;
    assert_eq!(status, 200, "{history}");
    assert_eq!(history["items"].as_array().unwrap().len(), 1, "{history}");
    assert_eq!(history["items"][0]["id"], ids[0].as_str());
    assert_eq!(
        history["items"][0]["amount"],
        json!({"amount": 1000, "currency": "USD"})
    );
    assert_eq!(history["items"][0]["reference"], "wire 7");
    assert_eq!(history["next_cursor"], Value::Null);
    let (_, theirs) = app
        .send(Method::GET, "/api/vendor/payouts", &b_token, None)
        .await;
    assert_eq!(theirs["items"], json!([]));
    let (status, report) = app
        .send(Method::GET, "/api/admin/payouts/report", &admin, None)
        .await;
    assert_eq!(status, 200, "{report}");
    let a_line = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["vendor_id"] == a_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(a_line["paid_out"]["amount"], 1000);
    assert_eq!(a_line["available"]["amount"], 600);
    let csv = app
        .request_raw(
            Method::GET,
            "/api/admin/payouts/report?format=csv",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with(
        "vendor_id,vendor_name,currency,earned,commission,paid_out,available,pending"
    ));
    assert!(
        csv.contains(&format!("{a_id},Shop vendor-a,USD,1600,400,1000,600,0")),
        "{csv}"
    );

    // The guest reads the order with its token; others cannot; the admin finds it by email.
    let token = order["access_token"].as_str().unwrap();
    let response = app
        .client
        .get(app.url(&format!("/api/store/orders/{order_id}")))
        .header("X-Order-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "completed");
    assert!(body.get("access_token").is_none());
    app.expect_problem(&format!("/api/store/orders/{order_id}"), 404, "not_found")
        .await;
    let (status, found) = app
        .send(
            Method::GET,
            "/api/admin/orders?q=shopper@example.com",
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (status, found["items"][0]["id"].as_str()),
        (200, Some(order_id.as_str()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_race_for_ten_units_and_exactly_ten_win() {
    let app = Arc::new(TestApp::spawn().await);
    app.seed("hot", &[stocked("drop", &[2500], 10)]).await;
    let variant = app.variant_ids("drop").await.remove(0);
    let mut carts = Vec::new();
    for _ in 0..200 {
        carts.push(app.cart_with(&variant, 1).await);
    }
    let barrier = Arc::new(Barrier::new(carts.len()));
    // A reader watching the stock through the race: it must never see a negative number.
    let racing = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (app, variant, racing) = (app.clone(), variant.clone(), racing.clone());
        tokio::spawn(async move {
            let mut lowest = i64::MAX;
            while racing.load(Ordering::Relaxed) {
                lowest = lowest.min(app.stock_of(&variant).await);
                tokio::task::yield_now().await;
            }
            lowest
        })
    };
    let mut tasks = Vec::new();
    for (i, cart) in carts.into_iter().enumerate() {
        let (app, barrier) = (app.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            app.checkout(
                &cart,
                &format!("k{i}"),
                &checkout_body(&format!("b{i}@example.com")),
            )
            .await
        }));
    }
    let mut created = 0;
    let mut sold_out = 0;
    for t in tasks {
        let (status, body, _) = t.await.unwrap();
        match status {
            201 => created += 1,
            409 => {
                assert_eq!(body["code"], "out_of_stock", "{body}");
                assert_eq!(body["variants"][0]["variant_id"], variant.as_str());
                assert_eq!(body["variants"][0]["requested"], 1);
                sold_out += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    racing.store(false, Ordering::Relaxed);
    assert_eq!((created, sold_out), (10, 190));
    assert_eq!(app.stock_of(&variant).await, 0);
    assert!(watcher.await.unwrap() >= 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_quantities_and_repeated_lines_never_oversell() {
    let app = Arc::new(TestApp::spawn().await);
    app.seed("bulk", &[stocked("bolt", &[100], 25)]).await;
    let variant = app.variant_ids("bolt").await.remove(0);
    let mut carts = Vec::new();
    for i in 0..60 {
        let qty = (i % 3) + 1;
        let cart = app.new_cart().await;
        if i % 4 == 0 {
            // The same variant on two lines of one cart (different notes): counted together.
            for note in ["gift", "plain"] {
                let (status, body) = app
                    .shop(
                        Method::POST,
                        &format!("/api/store/carts/{cart}/items"),
                        Some(json!({"variant_id": variant, "quantity": qty, "note": note})),
                    )
                    .await;
                assert_eq!(status, 201, "{body}");
            }
            carts.push((cart, 2 * qty));
        } else {
            app.add_to_cart(&cart, &variant, qty).await;
            carts.push((cart, qty));
        }
    }
    let barrier = Arc::new(Barrier::new(carts.len()));
    let mut tasks = Vec::new();
    for (i, (cart, qty)) in carts.into_iter().enumerate() {
        let (app, barrier) = (app.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let (status, body, _) = app
                .checkout(&cart, &format!("r{i}"), &checkout_body("r@example.com"))
                .await;
            (status, body, qty)
        }));
    }
    let mut sold = 0;
    for t in tasks {
        let (status, body, qty) = t.await.unwrap();
        match status {
            201 => {
                let lines: i64 = body["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l["quantity"].as_i64().unwrap())
                    .sum();
                assert_eq!(lines, qty);
                sold += qty;
            }
            409 => assert_eq!(body["code"], "out_of_stock"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(sold <= 25);
    assert_eq!(app.stock_of(&variant).await, 25 - sold);
    // Two lines asking 2 + 2 of a variant with 3 left are refused as 4, not as 2 and 2.
    app.seed("bulk", &[stocked("nut", &[100], 3)]).await;
    let nut = app.variant_ids("nut").await.remove(0);
    let cart = app.new_cart().await;
    for note in ["a", "b"] {
        app.shop(
            Method::POST,
            &format!("/api/store/carts/{cart}/items"),
            Some(json!({"variant_id": nut, "quantity": 2, "note": note})),
        )
        .await;
    }
    let (status, body, _) = app
        .checkout(&cart, "nuts", &checkout_body("n@example.com"))
        .await;
    assert_eq!(
        (status, body["variants"][0]["requested"].as_i64()),
        (409, Some(4))
    );
    assert_eq!(body["variants"][0]["available"], 3);
    assert_eq!(app.stock_of(&nut).await, 3, "nothing was taken");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_coupon_with_five_uses_discounts_exactly_five_of_fifty_racing_orders() {
    let app = Arc::new(TestApp::spawn().await);
    let admin = app.admin_token().await;
    app.seed("deals", &[stocked("lamp", &[5000], 100)]).await;
    app.coupons(&admin, &[Coupon::fixed("FIVE", 1000).max_uses(5)])
        .await;
    let variant = app.variant_ids("lamp").await.remove(0);
    let mut carts = Vec::new();
    for _ in 0..50 {
        let cart = app.cart_with(&variant, 1).await;
        let (status, _) = app
            .shop(
                Method::PUT,
                &format!("/api/store/carts/{cart}/coupon"),
                Some(json!({"code": "five"})),
            )
            .await;
        assert_eq!(status, 200);
        carts.push(cart);
    }
    let barrier = Arc::new(Barrier::new(carts.len()));
    let mut tasks = Vec::new();
    for (i, cart) in carts.into_iter().enumerate() {
        let (app, barrier) = (app.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            app.checkout(
                &cart,
                &format!("c{i}"),
                &checkout_body(&format!("c{i}@example.com")),
            )
            .await
        }));
    }
    let (mut discounted, mut refused) = (0, 0);
    for t in tasks {
        let (status, body, _) = t.await.unwrap();
        match status {
            201 => {
                assert_eq!(body["discount"]["amount"], 1000);
                assert_eq!(body["total"]["amount"], 4000);
                discounted += 1;
            }
            409 => {
                assert_eq!(body["code"], "coupon_exhausted", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((discounted, refused), (5, 45));
    assert_eq!(
        app.stock_of(&variant).await,
        95,
        "refused checkouts took no stock"
    );
    let (_, coupons) = app
        .send(Method::GET, "/api/admin/coupons", &admin, None)
        .await;
    assert_eq!(coupons["items"][0]["uses"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_per_customer_coupon_limit_holds_across_carts() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.seed("deals", &[stocked("pen", &[800], 100)]).await;
    app.coupons(
        &admin,
        &[Coupon::percent("ONCE", 5000).per_customer_limit(1)],
    )
    .await;
    let variant = app.variant_ids("pen").await.remove(0);
    let mut statuses = Vec::new();
    for i in 0..2 {
        let cart = app.cart_with(&variant, 1).await;
        app.shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/coupon"),
            Some(json!({"code": "ONCE"})),
        )
        .await;
        let (status, body, _) = app
            .checkout(&cart, &format!("o{i}"), &checkout_body("same@example.com"))
            .await;
        statuses.push((status, body["code"].as_str().map(str::to_owned)));
    }
    assert_eq!(statuses[0].0, 201);
    assert_eq!(
        statuses[1],
        (409, Some("coupon_customer_limit_reached".to_owned()))
    );

    // A limit of 2, four checkouts by one customer at once: exactly two get the coupon.
    app.coupons(
        &admin,
        &[Coupon::percent("TWICE", 5000).per_customer_limit(2)],
    )
    .await;
    let app = Arc::new(app);
    let barrier = Arc::new(Barrier::new(4));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let cart = app.cart_with(&variant, 1).await;
        app.shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/coupon"),
            Some(json!({"code": "TWICE"})),
        )
        .await;
        let (app, barrier) = (app.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            app.checkout(&cart, &format!("t{i}"), &checkout_body("twice@example.com"))
                .await
        }));
    }
    let mut won = Vec::new();
    for t in tasks {
        let (status, body, _) = t.await.unwrap();
        match status {
            201 => won.push(body["id"].as_str().unwrap().to_owned()),
            409 => assert_eq!(body["code"], "coupon_customer_limit_reached", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(
        won.len(),
        2,
        "the customer's limit of 2, no more and no less"
    );

    // Cancelling an order gives its use back, whichever number it had: cancel each of the
    // two in turn, and each time exactly one more discounted checkout goes through.
    let checkout_twice = async |round: usize| {
        let cart = app.cart_with(&variant, 1).await;
        app.shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/coupon"),
            Some(json!({"code": "TWICE"})),
        )
        .await;
        let (status, body, _) = app
            .checkout(
                &cart,
                &format!("again{round}"),
                &checkout_body("twice@example.com"),
            )
            .await;
        (status, body["code"].as_str().map(str::to_owned))
    };
    for (round, cancelled) in won.iter().enumerate() {
        let (status, body) = app.cancel_order(&admin, cancelled, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(checkout_twice(2 * round).await.0, 201, "round {round}");
        assert_eq!(
            checkout_twice(2 * round + 1).await,
            (409, Some("coupon_customer_limit_reached".to_owned())),
            "round {round}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkout_is_idempotent_under_fifty_concurrent_retries() {
    let app = Arc::new(TestApp::spawn().await);
    app.seed("idem", &[stocked("cup", &[1200], 100)]).await;
    let variant = app.variant_ids("cup").await.remove(0);
    let cart = app.cart_with(&variant, 2).await;
    let body = checkout_body("retry@example.com");

    // Without a key: refused, nothing written.
    let response = app
        .client
        .post(app.url(&format!("/api/store/carts/{cart}/checkout")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_required");
    // The missing key is reported before anything wrong with the body.
    let response = app
        .client
        .post(app.url(&format!("/api/store/carts/{cart}/checkout")))
        .json(&json!({"email": "not an address", "payment_method": "barter"}))
        .send()
        .await
        .unwrap();
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_key_required", "{problem}");

    let barrier = Arc::new(Barrier::new(50));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (app, barrier, cart, body) = (app.clone(), barrier.clone(), cart.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            app.checkout(&cart, "one-key", &body).await
        }));
    }
    let mut created: Vec<String> = Vec::new();
    let mut in_progress = 0;
    for t in tasks {
        let (status, parsed, text) = t.await.unwrap();
        match status {
            201 => created.push(text),
            409 => {
                assert_eq!(parsed["code"], "request_in_progress", "{parsed}");
                in_progress += 1;
            }
            other => panic!("unexpected {other}: {parsed}"),
        }
    }
    assert!(!created.is_empty());
    assert_eq!(created.len() + in_progress, 50);
    // Every 201 is the same order, byte for byte.
    assert!(created.iter().all(|t| t == &created[0]));
    let order: Value = serde_json::from_str(&created[0]).unwrap();
    assert_eq!(app.stock_of(&variant).await, 98, "one order, once");

    // A later replay: identical status and body (including the access token).
    let (status, _, text) = app.checkout(&cart, "one-key", &body).await;
    assert_eq!((status, text.as_str()), (201, created[0].as_str()));
    // The same key with another body: 422; another key for the same cart: already ordered.
    let (status, problem, _) = app
        .checkout(&cart, "one-key", &checkout_body("other@example.com"))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
    let (status, problem, _) = app.checkout(&cart, "another-key", &body).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("cart_already_ordered"))
    );
    assert_eq!(problem["order_id"], order["id"]);
    // The cart is closed.
    let (status, problem) = app
        .shop(
            Method::POST,
            &format!("/api/store/carts/{cart}/items"),
            Some(json!({"variant_id": variant, "quantity": 1})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("cart_not_open"))
    );
    assert_eq!(app.stock_of(&variant).await, 98);
}

#[tokio::test]
async fn invalid_checkouts_write_nothing() {
    let app = TestApp::spawn().await;
    app.seed("shop", &[stocked("sock", &[300], 5)]).await;
    let variant = app.variant_ids("sock").await.remove(0);
    let empty = app.new_cart().await;
    let (status, body, _) = app
        .checkout(&empty, "e", &checkout_body("e@example.com"))
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("cart_empty")));

    let cart = app.cart_with(&variant, 1).await;
    let mut bad = checkout_body("not-an-email");
    bad["shipping_address"]["country"] = json!("Germany");
    let (status, body, _) = app.checkout(&cart, "bad", &bad).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("validation_failed"))
    );
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["email", "shipping_address.country"]);
    let mut bad = checkout_body("ok@example.com");
    bad["payment_method"] = json!("bitcoin");
    let (status, body, _) = app.checkout(&cart, "bad2", &bad).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("payment_method_unavailable"))
    );

    // The product is withdrawn after it went into the cart: refused at checkout.
    let mut draft = stocked("sock", &[300], 5);
    draft.status = souk_domain::catalog::ProductStatus::Archived;
    app.seed("shop", &[draft]).await;
    let (status, body, _) = app
        .checkout(&cart, "gone", &checkout_body("ok@example.com"))
        .await;
    assert_eq!((status, body["code"].as_str()), (422, Some("cart_invalid")));
    assert_eq!(body["errors"][0]["field"], "lines[0]");
    assert_eq!(app.stock_of(&variant).await, 5);
    // After a failure the same key may be used again (nothing was stored).
    let (status, body) = app
        .shop(Method::GET, &format!("/api/store/carts/{cart}"), None)
        .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("open")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_gives_stock_back_exactly_once() {
    let app = Arc::new(TestApp::spawn().await);
    let admin = app.admin_token().await;
    app.seed("shop", &[stocked("vase", &[900], 4)]).await;
    let variant = app.variant_ids("vase").await.remove(0);
    let cart = app.cart_with(&variant, 3).await;
    let (status, order, _) = app
        .checkout(&cart, "c", &checkout_body("c@example.com"))
        .await;
    assert_eq!(status, 201);
    assert_eq!(app.stock_of(&variant).await, 1);
    let id = order["id"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (app, admin, id) = (app.clone(), admin.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            app.send(
                Method::POST,
                &format!("/api/admin/orders/{id}/cancel"),
                &admin,
                Some(json!({"reason": "customer asked"})),
            )
            .await
            .0
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    codes.sort_unstable();
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409));
    assert_eq!(app.stock_of(&variant).await, 4, "restored once");
    let (_, body) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(body["status"], "cancelled");
    assert_eq!(body["cancel_reason"], "customer asked");
    assert_eq!(body["vendor_orders"][0]["status"], "cancelled");
    // A cancelled order cannot be paid.
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            Some(json!({"amount": 2700})),
        )
        .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_customer_cart_is_private_and_a_guest_cart_merges_at_login() {
    let app = TestApp::spawn().await;
    app.seed("shop", &[stocked("hat", &[700, 900], 10)]).await;
    let ids = app.variant_ids("hat").await;
    let token = app.register("buyer@example.com").await;

    // The customer's cart.
    let (status, own) = app
        .send(Method::POST, "/api/store/carts", &token, None)
        .await;
    assert_eq!(status, 201);
    let own_id = own["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/store/carts/{own_id}/items"),
            &token,
            Some(json!({"variant_id": ids[0], "quantity": 1})),
        )
        .await;
    assert_eq!(status, 201);
    // Asking again gives the same open cart; a guest with the id cannot see it.
    let (_, again) = app
        .send(Method::POST, "/api/store/carts", &token, None)
        .await;
    assert_eq!(again["id"], own_id.as_str());
    let (status, _) = app
        .shop(Method::GET, &format!("/api/store/carts/{own_id}"), None)
        .await;
    assert_eq!(status, 404);

    // A guest cart merges into it at login.
    let guest = app.cart_with(&ids[0], 2).await;
    app.add_to_cart(&guest, &ids[1], 1).await;
    let (status, session) = app
        .shop(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": "buyer@example.com", "password": "correct horse battery staple", "cart_id": guest})),
        )
        .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["cart_id"], own_id.as_str());
    let token = session["token"].as_str().unwrap();
    let (_, merged) = app
        .send(
            Method::GET,
            &format!("/api/store/carts/{own_id}"),
            token,
            None,
        )
        .await;
    let quantities: Vec<i64> = merged["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["quantity"].as_i64().unwrap())
        .collect();
    assert_eq!(quantities, vec![3, 1]);
    let (_, old) = app
        .shop(Method::GET, &format!("/api/store/carts/{guest}"), None)
        .await;
    assert_eq!(old["status"], "merged");

    // The customer's orders list shows their order and nobody else's.
    let response = app
        .client
        .post(app.url(&format!("/api/store/carts/{own_id}/checkout")))
        .bearer_auth(token)
        .header("Idempotency-Key", "mine")
        .json(&checkout_body("buyer@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let order: Value = response.json().await.unwrap();
    let (status, list) = app
        .send(Method::GET, "/api/store/orders", token, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], order["id"]);
    let other = app.register("other@example.com").await;
    let (_, list) = app
        .send(Method::GET, "/api/store/orders", &other, None)
        .await;
    assert_eq!(list["items"], json!([]));
    let (status, _) = app
        .send(
            Method::GET,
            &format!("/api/store/orders/{}", order["id"].as_str().unwrap()),
            &other,
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn order_emails_arrive_over_smtp_and_unpaid_orders_expire() {
    use std::time::Duration;

    use crate::smtp::{SmtpServer, free_port};

    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_full(
        souk_http::HttpConfig {
            catalog_cache_ttl: Duration::ZERO,
            order_hold: Duration::from_millis(1500),
            ..souk_http::HttpConfig::default()
        },
        souk_http::server::ServerLimits::default(),
        Some(smtp.url()),
    )
    .await;
    let admin = app.admin_token().await;
    let vendor_tokens = app
        .vendors(
            &admin,
            [("a@example.com", "mail-a"), ("b@example.com", "mail-b")],
        )
        .await
        .map(|v| v.token);
    app.seed("mail-a", &[stocked("kettle", &[4500], 5)]).await;
    app.seed("mail-b", &[stocked("teapot", &[2500], 5)]).await;
    let kettle = app.variant_ids("kettle").await.remove(0);
    let teapot = app.variant_ids("teapot").await.remove(0);
    let cart = app.cart_with(&kettle, 1).await;
    app.add_to_cart(&cart, &teapot, 2).await;
    let (status, order, _) = app
        .checkout(&cart, "mail-1", &checkout_body("buyer@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(
        (app.stock_of(&kettle).await, app.stock_of(&teapot).await),
        (4, 3)
    );

    // One confirmation for the customer, one new-order mail per vendor (with its lines only),
    // besides the two vendor owners' email verifications and approvals.
    let mail = smtp.wait_for_exactly(7, Duration::from_secs(20)).await;
    assert_eq!(mail.len(), 7, "{:?}", mail.keys());
    let to = |addr: &str| {
        mail.values()
            .filter(|(_, raw)| raw.contains(&format!("To: {addr}")) && raw.contains("order #"))
            .map(|(_, raw)| raw.clone())
            .collect::<Vec<_>>()
    };
    let customer = to("buyer@example.com");
    assert_eq!(customer.len(), 1);
    assert!(customer[0].contains("kettle") && customer[0].contains("teapot"));
    assert!(customer[0].contains(order["number"].as_str().unwrap().trim_start_matches('#')));
    let vendor_a = to("a@example.com");
    assert_eq!(vendor_a.len(), 1);
    assert!(vendor_a[0].contains("kettle") && !vendor_a[0].contains("teapot"));
    assert!(
        vendor_a[0].contains("Berlin"),
        "vendors get the address to ship to"
    );
    assert_eq!(to("b@example.com").len(), 1);

    // Unpaid past the hold time: cancelled by the job, stock released.
    let id = order["id"].as_str().unwrap();
    let mut status = String::new();
    for _ in 0..100 {
        let (_, body) = app
            .send(
                Method::GET,
                &format!("/api/admin/orders/{id}"),
                &admin,
                None,
            )
            .await;
        status = body["status"].as_str().unwrap().to_owned();
        if status == "cancelled" {
            assert_eq!(body["cancel_reason"], "payment_timeout");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "cancelled");
    assert_eq!(
        (app.stock_of(&kettle).await, app.stock_of(&teapot).await),
        (5, 5)
    );

    // A paid order is left alone by its expiry job.
    let cart = app.cart_with(&kettle, 1).await;
    let (_, order, _) = app
        .checkout(&cart, "mail-2", &checkout_body("buyer@example.com"))
        .await;
    let id = order["id"].as_str().unwrap();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            Some(json!({"amount": 4500})),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(body["status"], "paid");
    assert_eq!(app.stock_of(&kettle).await, 4);

    // Vendor A ships it. The customer has been told of the cancellation, the payment and the
    // shipment (with carrier and tracking number), each once.
    let (_, a_orders) = app
        .send(
            Method::GET,
            "/api/vendor/orders?status=unfulfilled",
            &vendor_tokens[0],
            None,
        )
        .await;
    let vo = a_orders["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{vo}/fulfil"),
            &vendor_tokens[0],
            Some(json!({"carrier": "DHL", "tracking_number": "JJD000390007"})),
        )
        .await;
    assert_eq!(status, 200);
    // 7 earlier + cancellation + (confirmation, new order for A, payment received, shipped).
    let mail = smtp.wait_for_exactly(12, Duration::from_secs(20)).await;
    let subjects = |needle: &str| {
        mail.values()
            .filter(|(_, raw)| raw.contains("To: buyer@example.com") && raw.contains(needle))
            .count()
    };
    assert_eq!(subjects("was cancelled"), 1, "{:?}", mail.keys());
    assert_eq!(subjects("Payment received"), 1);
    let shipped: Vec<_> = mail
        .values()
        .filter(|(_, raw)| raw.contains("has shipped"))
        .collect();
    assert_eq!(shipped.len(), 1);
    assert!(shipped[0].1.contains("JJD000390007") && shipped[0].1.contains("DHL"));
}

/// An order with nothing to pay (a 100 % coupon, free shipping) is paid as placed: it is not
/// left waiting for a payment that cannot come, and is never cancelled as unpaid.
#[tokio::test]
async fn an_order_with_nothing_to_pay_is_paid_at_once() {
    let app = TestApp::spawn().await;
    app.seed("gift", &[stocked("card", &[2500], 5)]).await;
    let admin = app.admin_token().await;
    app.coupons(&admin, &[Coupon::percent("free100", 10000)])
        .await;
    let variant = app.variant_ids("card").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let (status, body) = app
        .shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/coupon"),
            Some(json!({"code": "FREE100"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, order, _) = app
        .checkout(&cart, "free", &checkout_body("gift@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["total"]["amount"], 0);
    assert_eq!(order["status"], "paid");
    assert!(order["paid_at"].is_string());
    assert_eq!(app.stock_of(&variant).await, 4);
}

/// A guest cart merged at login never takes the customer's cart past its 100-line cap: lines
/// both have add up, and of the guest's other lines the oldest that fit move over.
#[tokio::test]
async fn a_merged_cart_keeps_the_line_cap() {
    let app = TestApp::spawn().await;
    app.seed(
        "many",
        &[
            stocked("left", &[100; 60], 10),
            stocked("right", &[100; 60], 10),
        ],
    )
    .await;
    let left = app.variant_ids("left").await;
    let right = app.variant_ids("right").await;
    let token = app.register("hoarder@example.com").await;
    let (_, own) = app
        .send(Method::POST, "/api/store/carts", &token, None)
        .await;
    let own_id = own["id"].as_str().unwrap().to_owned();
    for v in &left {
        let (status, body) = app
            .send(
                Method::POST,
                &format!("/api/store/carts/{own_id}/items"),
                &token,
                Some(json!({"variant_id": v, "quantity": 1})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }
    // The guest has one line the customer has too, then 60 new ones.
    let guest = app.cart_with(&left[0], 2).await;
    for v in &right {
        app.add_to_cart(&guest, v, 1).await;
    }
    let (status, session) = app
        .shop(
            Method::POST,
            "/api/auth/login",
            Some(json!({"email": "hoarder@example.com", "password": "correct horse battery staple", "cart_id": guest})),
        )
        .await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().unwrap();
    let (_, merged) = app
        .send(
            Method::GET,
            &format!("/api/store/carts/{own_id}"),
            token,
            None,
        )
        .await;
    let lines = merged["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 100, "capped at 100 lines");
    let quantity_of = |variant: &str| {
        lines
            .iter()
            .find(|l| l["variant_id"] == variant)
            .map(|l| l["quantity"].as_i64().unwrap())
    };
    assert_eq!(quantity_of(&left[0]), Some(3), "shared line added up");
    assert_eq!(
        quantity_of(&right[0]),
        Some(1),
        "the guest's oldest lines moved"
    );
    assert_eq!(quantity_of(&right[39]), Some(1));
    assert_eq!(quantity_of(&right[40]), None, "past the cap");
    // Still a working cart: one more line is refused as for any full cart.
    let (status, problem) = app
        .send(
            Method::POST,
            &format!("/api/store/carts/{own_id}/items"),
            token,
            Some(json!({"variant_id": right[59], "quantity": 1})),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
}

/// A free-over threshold applies to the goods after the coupon, in the options shown, the
/// default choice and the charge alike: what a shopper is quoted is what they pay.
#[tokio::test]
async fn shipping_is_quoted_and_charged_on_the_discounted_goods() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "free@example.com", "freeship")
        .await;
    app.seed("freeship", &[stocked("rug", &[5200], 10)]).await;
    let rug = app.variant_ids("rug").await.remove(0);
    app.shipping_rates(
        &vendor,
        &[
            ShippingRate::free_over("Standard", 700, 5000),
            ShippingRate::flat("Courier", 600),
        ],
    )
    .await;
    app.coupons(&admin, &[Coupon::percent("tenoff", 1000)])
        .await;
    let cart = app.cart_with(&rug, 1).await; // 5200: over the threshold
    let options = async |cart: &str| {
        let (status, body) = app
            .shop(
                Method::GET,
                &format!("/api/store/carts/{cart}/shipping-options"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["vendors"][0]["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["name"].as_str().unwrap().to_owned(),
                    o["price"]["amount"].as_i64().unwrap(),
                    o["selected"].as_bool().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let before = options(&cart).await;
    assert!(
        before.contains(&("Standard".to_owned(), 0, true)),
        "{before:?}"
    );
    // 10 % off: 4680 of goods, under the threshold, so Standard costs 700 and Courier (600)
    // becomes the cheapest, in the options and in the cart's total.
    let (status, body) = app
        .shop(
            Method::PUT,
            &format!("/api/store/carts/{cart}/coupon"),
            Some(json!({"code": "tenoff"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let after = options(&cart).await;
    assert!(
        after.contains(&("Standard".to_owned(), 700, false)),
        "{after:?}"
    );
    assert!(
        after.contains(&("Courier".to_owned(), 600, true)),
        "{after:?}"
    );
    let (_, priced) = app
        .shop(Method::GET, &format!("/api/store/carts/{cart}"), None)
        .await;
    assert_eq!(priced["shipping"]["amount"], 600, "{priced}");
    let (status, order, _) = app
        .checkout(&cart, "free-over", &checkout_body("rug@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["shipping"]["amount"], 600);
    assert_eq!(order["total"]["amount"], 4680 + 600);
    // The vendor's set-up is in the audit log.
    let (_, log) = app
        .send(Method::GET, "/api/admin/audit-log", &admin, None)
        .await;
    let created = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "shipping_rate.create")
        .inspect(|e| assert_eq!(e["actor_email"], "free@example.com"))
        .count();
    assert_eq!(created, 2);
}

/// Admin changes to money rules leave an audit entry in their own transaction: coupons and tax
/// rates (a refused change leaves none).
#[tokio::test]
async fn admin_money_and_order_changes_are_audited() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.seed("audited", &[stocked("cup", &[800], 5)]).await;
    let id = app
        .coupons(&admin, &[Coupon::fixed("audit5", 500)])
        .await
        .remove(0);
    let (status, _) = app
        .send(
            Method::PUT,
            &format!("/api/admin/coupons/{id}/active"),
            &admin,
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(status, 200);
    app.tax_rates(&admin, &[TaxRate::inclusive("FR", 2000)])
        .await;
    // A refused change (duplicate code) is not recorded.
    let (status, _) = app
        .send(
            Method::POST,
            "/api/admin/coupons",
            &admin,
            Some(json!({"code": "AUDIT5", "kind": "fixed", "value": 100})),
        )
        .await;
    assert_eq!(status, 409);
    let (_, log) = app
        .send(Method::GET, "/api/admin/audit-log", &admin, None)
        .await;
    let entries: Vec<(String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["subject_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("tax_rate.put".to_owned(), "FR/".to_owned()),
            ("coupon.deactivate".to_owned(), id.to_owned()),
            ("coupon.create".to_owned(), id.to_owned()),
        ]
    );
    assert_eq!(log["items"][0]["actor_email"], "root@souk.test");
}

/// Text a vendor or shopper chose that looks like the checkout response's placeholders neither
/// captures the guest's access token nor hides it, and never starts a card payment.
#[tokio::test]
async fn placeholder_lookalikes_in_titles_do_not_capture_the_order_token() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, _) = app
        .approved_vendor(&admin, "v@example.com", "vendor-x")
        .await;
    let lure = "{{order_access_token}} {{payment_client_secret}} \"{{payment_client_secret}}\"";
    let (status, created) = app
        .send(
            Method::POST,
            "/api/vendor/products",
            &vendor,
            Some(json!({
                "handle": "lure", "title": lure, "status": "published",
                "options": ["Size"],
                "variants": [{"options": [lure], "price": {"amount": 500, "currency": "USD"}, "stock": 5}]
            })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let variant = created["variants"][0]["id"].as_str().unwrap().to_owned();
    let cart = app.cart_with(&variant, 1).await;
    let mut body = checkout_body("guest@example.com");
    body["email"] = json!("guest+{{order_access_token}}@example.com");
    let (status, order, raw) = app.checkout(&cart, "lure-key-1", &body).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["lines"][0]["product_title"], lure, "titles are kept");
    assert_eq!(order["email"], "guest+{{order_access_token}}@example.com");
    assert!(order.get("payment").is_none(), "a manual order: {order}");
    let token = order["access_token"].as_str().unwrap();
    assert!(!token.contains("{{"), "{order}");
    let response = app
        .client
        .get(app.url(&format!(
            "/api/store/orders/{}",
            order["id"].as_str().unwrap()
        )))
        .header("X-Order-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the token opens the order");
    // A replay answers the same bytes.
    let (status, _, replay) = app.checkout(&cart, "lure-key-1", &body).await;
    assert_eq!((status, replay), (201, raw));
}

/// An order placed before guest tokens were keyed by the server key keeps its token: a replay
/// of its checkout answers the token derived the older way, and that token opens the order.
#[tokio::test]
async fn a_replay_of_an_older_checkout_keeps_its_token() {
    let app = TestApp::spawn().await;
    app.seed("legacy", &[stocked("cup", &[900], 5)]).await;
    let variant = app.variant_ids("cup").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let body = checkout_body("old@example.com");
    let (status, order, _) = app.checkout(&cart, "old-key-1", &body).await;
    assert_eq!(status, 201, "{order}");
    let id = Uuid::parse_str(order["id"].as_str().unwrap()).unwrap();
    // As stored by the older version: the hash of the token keyed by the idempotency key alone.
    let older = souk_domain::orders::order_access_token_unkeyed("old-key-1", id.as_bytes());
    let hash = souk_domain::accounts::token_hash(&older);
    let mut tx = app.db.begin_write().await.unwrap();
    let sql = "UPDATE orders SET access_token_hash = $1 WHERE id = $2";
    souk_storage::sql::query(sql)
        .bind(&hash)
        .bind(id)
        .execute(&mut tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (status, replay, _) = app.checkout(&cart, "old-key-1", &body).await;
    assert_eq!(status, 201);
    assert_eq!(replay["access_token"], older.as_str());
    let response = app
        .client
        .get(app.url(&format!("/api/store/orders/{id}")))
        .header("X-Order-Token", older.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A checkout body without `email` and `shipping_address` uses the ones saved on the cart, and
/// charges exactly the tax and total the cart showed; without them anywhere it names each
/// missing field; a body's own address still wins.
#[tokio::test]
async fn checkout_uses_the_email_and_address_saved_on_the_cart() {
    let app = TestApp::spawn().await;
    app.seed("acme", &[stocked("mug", &[1000], 20)]).await;
    let admin = app.admin_token().await;
    app.tax_rates(&admin, &[TaxRate::exclusive("de", 1900)])
        .await;
    let mug = app.variant_ids("mug").await.remove(0);

    // Nothing saved and nothing sent: both fields named, nothing ordered.
    let bare = app.cart_with(&mug, 1).await;
    let (status, problem, _) = app
        .checkout(&bare, "saved-0", &json!({"payment_method": "manual"}))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("validation_failed")),
        "{problem}"
    );
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "shipping_address"]);
    assert_eq!(app.stock_of(&mug).await, 20, "nothing was reserved");

    let cart = app.cart_with(&mug, 2).await;
    let (status, shown) = app
        .shop(
            Method::PATCH,
            &format!("/api/store/carts/{cart}"),
            Some(json!({"email": "saved@example.com", "shipping_address": address()})),
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["tax"]["amount"], 380, "19 % of 2000");
    let (status, order, _) = app
        .checkout(&cart, "saved-1", &json!({"payment_method": "manual"}))
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["email"], "saved@example.com");
    assert_eq!(order["shipping_address"]["city"], "Berlin");
    assert_eq!(order["tax"], shown["tax"], "the tax the cart showed");
    assert_eq!(order["total"], shown["total"]);

    // A body's address wins over the saved one (an untaxed country here).
    let other = app.cart_with(&mug, 1).await;
    app.shop(
        Method::PATCH,
        &format!("/api/store/carts/{other}"),
        Some(json!({"email": "saved@example.com", "shipping_address": address()})),
    )
    .await;
    let mut elsewhere = address();
    elsewhere["country"] = json!("FR");
    elsewhere["city"] = json!("Paris");
    elsewhere["postal_code"] = json!("75001");
    let (status, order, _) = app
        .checkout(
            &other,
            "saved-2",
            &json!({"payment_method": "manual", "shipping_address": elsewhere}),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["shipping_address"]["city"], "Paris");
    assert_eq!(order["tax"]["amount"], 0);
    assert_eq!(order["email"], "saved@example.com");
}

/// The order link in a raw email: `(order id, token)` of `…/orders/{id}?access_token={token}`.
fn order_link(raw_email: &str) -> (String, String) {
    // Quoted-printable may wrap long lines with "=\n"; undo that first.
    let text = raw_email
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = text.find("/orders/").expect("an order link") + "/orders/".len();
    let id: String = text[at..].chars().take(36).collect();
    let start = text[at..].find("access_token=").unwrap() + at + "access_token=".len();
    let token = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    (id, token)
}

/// A guest never loses their order: the confirmation email carries a link whose token opens it
/// (`?access_token=`, like the checkout's token), and the link can be asked for again by email
/// and order number, answered the same whether or not they match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_gets_an_order_link_by_email_and_can_ask_for_it_again() {
    use crate::smtp::{SmtpServer, free_port};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    app.seed("acme", &[stocked("mug", &[1000], 20)]).await;
    let mug = app.variant_ids("mug").await.remove(0);
    let cart = app.cart_with(&mug, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "link-1", &checkout_body("guest@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let number = order["number"].as_str().unwrap().to_owned();
    let checkout_token = order["access_token"].as_str().unwrap().to_owned();

    // The confirmation email links to the order with a token that opens it.
    let mail = smtp.wait_for_exactly(1, Duration::from_secs(20)).await;
    let (_, raw) = mail.values().next().expect("the confirmation email");
    let (linked_id, link_token) = order_link(raw);
    assert_eq!(linked_id, id);
    assert!(link_token.starts_with("souk_l_"), "{link_token}");
    assert_ne!(link_token, checkout_token);
    for token in [&link_token, &checkout_token] {
        let (status, body) = app
            .get_json(&format!("/api/store/orders/{id}?access_token={token}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["number"], number.as_str());
        assert!(body.get("access_token").is_none(), "never echoed");
    }
    // A wrong token, or another order's link, opens nothing.
    let mut wrong = link_token.clone();
    wrong.pop();
    wrong.push(if link_token.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(
        app.get_json(&format!("/api/store/orders/{id}?access_token={wrong}"))
            .await
            .0,
        404
    );
    let other_cart = app.cart_with(&mug, 1).await;
    let (_, other, _) = app
        .checkout(&other_cart, "link-2", &checkout_body("other@example.com"))
        .await;
    let other_id = other["id"].as_str().unwrap();
    assert_eq!(
        app.get_json(&format!(
            "/api/store/orders/{other_id}?access_token={link_token}"
        ))
        .await
        .0,
        404
    );
    smtp.wait_for_exactly(2, Duration::from_secs(20)).await;

    // Asking again: the right email and number (any case, `#` optional) get the link mailed;
    // a wrong pairing gets the same answer and no email.
    let ask = |email: &str, number: &str| {
        app.shop(
            Method::POST,
            "/api/store/orders/lookup",
            Some(json!({"email": email, "number": number})),
        )
    };
    let wrong_pair = ask("other@example.com", &number).await;
    let right = ask(
        "Guest@Example.com",
        &number.trim_start_matches('#').to_lowercase(),
    )
    .await;
    assert_eq!(right, wrong_pair, "the same answer either way");
    assert_eq!(right.0, 202);
    let mail = smtp.wait_for_exactly(3, Duration::from_secs(20)).await;
    let resent: Vec<&String> = mail
        .values()
        .map(|(_, raw)| raw)
        .filter(|raw| raw.contains("as you asked"))
        .collect();
    assert_eq!(resent.len(), 1, "one link email");
    assert!(resent[0].contains("To: guest@example.com"));
    assert_eq!(order_link(resent[0]), (id.clone(), link_token.clone()));
    let (status, problem) = app
        .shop(
            Method::POST,
            "/api/store/orders/lookup",
            Some(json!({"email": "guest@example.com"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("validation_failed"))
    );
}

/// `payment_status` and `fulfillment_status` tell the money and the goods apart: a partly
/// refunded order that then ships in full reads `partially_refunded` / `fulfilled`, and can be
/// completed (its `status` alone, `partially_refunded`, could not say that everything shipped).
#[tokio::test]
async fn a_partly_refunded_order_that_shipped_can_be_completed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let TwoVendors {
        a_token,
        b_token,
        apple,
        banana,
        ..
    } = app.two_vendors(&admin).await;
    let cart = app.cart_with(&apple, 1).await;
    app.add_to_cart(&cart, &banana, 1).await;
    let (status, order, _) = app
        .checkout(&cart, "split-1", &checkout_body("split@example.com"))
        .await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    let statuses = |o: &Value| {
        (
            o["status"].as_str().unwrap().to_owned(),
            o["payment_status"].as_str().unwrap().to_owned(),
            o["fulfillment_status"].as_str().unwrap().to_owned(),
        )
    };
    let read = || async {
        let (status, o) = app
            .send(
                Method::GET,
                &format!("/api/admin/orders/{id}"),
                &admin,
                None,
            )
            .await;
        assert_eq!(status, 200, "{o}");
        statuses(&o)
    };
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        statuses(&order),
        s("pending_payment", "pending", "unfulfilled")
    );
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            Some(json!({"amount": 4000, "reference": "SEPA"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(read().await, s("paid", "paid", "unfulfilled"));

    let ship = |token: &str| {
        let token = token.to_owned();
        let app = &app;
        async move {
            let (_, mine) = app
                .send(Method::GET, "/api/vendor/orders", &token, None)
                .await;
            let vo = mine["items"][0]["id"].as_str().unwrap().to_owned();
            let (status, body) = app
                .send(
                    Method::POST,
                    &format!("/api/vendor/orders/{vo}/fulfil"),
                    &token,
                    Some(json!({"carrier": "DHL", "tracking_number": "JJD1"})),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    ship(&a_token).await;
    assert_eq!(
        read().await,
        s("partially_fulfilled", "paid", "partially_fulfilled")
    );
    let refund = app
        .client
        .post(app.url(&format!("/api/admin/orders/{id}/refunds")))
        .bearer_auth(&admin)
        .header("idempotency-key", "split-refund")
        .json(&json!({"amount": 500, "reason": "dented"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refund.status(), 201);
    assert_eq!(
        read().await,
        s(
            "partially_refunded",
            "partially_refunded",
            "partially_fulfilled"
        )
    );
    // Not everything has shipped: completing is refused.
    let complete = format!("/api/admin/orders/{id}/complete");
    let (status, problem) = app.send(Method::POST, &complete, &admin, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    ship(&b_token).await;
    assert_eq!(
        read().await,
        s("partially_refunded", "partially_refunded", "fulfilled")
    );
    let (status, done) = app.send(Method::POST, &complete, &admin, None).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        statuses(&done),
        s("completed", "partially_refunded", "fulfilled")
    );
    // The customer sees the same.
    let token = order["access_token"].as_str().unwrap();
    let (_, theirs) = app
        .get_json(&format!("/api/store/orders/{id}?access_token={token}"))
        .await;
    assert_eq!(
        statuses(&theirs),
        s("completed", "partially_refunded", "fulfilled")
    );
}

/// Money in requests is `{amount, currency}` everywhere (payments, refunds, payouts, shipping
/// rates, coupon minimums); the bare integer still works where it did; another currency is
/// 422 `currency_mismatch` and changes nothing.
#[tokio::test]
async fn money_is_amount_and_currency_everywhere_and_another_currency_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (vendor, vendor_id) = app
        .approved_vendor(&admin, "m@example.com", "money-shop")
        .await;
    app.seed("money-shop", &[stocked("mug", &[1000], 10)]).await;
    let usd = |amount: i64| json!({"amount": amount, "currency": "USD"});
    let eur = |amount: i64| json!({"amount": amount, "currency": "EUR"});
    let refused = |(status, body): (u16, Value)| {
        assert_eq!(
            (status, body["code"].as_str()),
            (422, Some("currency_mismatch")),
            "{body}"
        );
        assert!(body["detail"].as_str().unwrap().contains("EUR"), "{body}");
    };

    // Shipping rates: objects, the old bare integers, and EUR refused.
    let rate = |amount: Value, threshold: Value| json!({"name": "Post", "kind": "free_over", "amount": amount, "threshold": threshold});
    refused(
        app.send(
            Method::POST,
            "/api/vendor/shipping-rates",
            &vendor,
            Some(rate(eur(500), usd(5000))),
        )
        .await,
    );
    refused(
        app.send(
            Method::POST,
            "/api/vendor/shipping-rates",
            &vendor,
            Some(rate(usd(500), eur(5000))),
        )
        .await,
    );
    let (status, created) = app
        .send(
            Method::POST,
            "/api/vendor/shipping-rates",
            &vendor,
            Some(rate(usd(500), usd(5000))),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["threshold"], usd(5000));
    let (status, bare) = app
        .send(
            Method::POST,
            "/api/vendor/shipping-rates",
            &vendor,
            Some(json!({"name": "Courier", "kind": "flat", "amount": 900})),
        )
        .await;
    assert_eq!(
        (status, bare["amount"].clone()),
        (201, usd(900)),
        "deprecated, still accepted"
    );

    // Coupon minimums.
    let coupon =
        |min: Value| json!({"code": "min", "kind": "fixed", "value": 100, "min_subtotal": min});
    refused(
        app.send(
            Method::POST,
            "/api/admin/coupons",
            &admin,
            Some(coupon(eur(1))),
        )
        .await,
    );
    let (status, c) = app
        .send(
            Method::POST,
            "/api/admin/coupons",
            &admin,
            Some(coupon(usd(2000))),
        )
        .await;
    assert_eq!((status, c["min_subtotal"].clone()), (201, usd(2000)), "{c}");

    // A manual payment, a refund and a payout.
    let mug = app.variant_ids("mug").await.remove(0);
    let cart = app.cart_with(&mug, 2).await;
    let (_, order, _) = app
        .checkout(&cart, "money-1", &checkout_body("money@example.com"))
        .await;
    let id = order["id"].as_str().unwrap();
    let total = order["total"]["amount"].as_i64().unwrap();
    let pay = format!("/api/admin/orders/{id}/payments");
    refused(
        app.send(
            Method::POST,
            &pay,
            &admin,
            Some(json!({"amount": eur(total)})),
        )
        .await,
    );
    let (status, paid) = app
        .send(
            Method::POST,
            &pay,
            &admin,
            Some(json!({"amount": usd(total)})),
        )
        .await;
    assert_eq!(
        (status, paid["status"].as_str()),
        (200, Some("paid")),
        "{paid}"
    );
    let refund = |amount: Value, key: &str| {
        app.client
            .post(app.url(&format!("/api/admin/orders/{id}/refunds")))
            .bearer_auth(&admin)
            .header("idempotency-key", key)
            .json(&json!({"amount": amount}))
            .send()
    };
    let answer = refund(eur(100), "money-r1").await.unwrap();
    assert_eq!(answer.status(), 422);
    let answer = refund(usd(100), "money-r2").await.unwrap();
    assert_eq!(answer.status(), 201);
    let (_, after) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(after["refunded"], usd(100), "only the USD refund was made");
    let payout = format!("/api/admin/vendors/{vendor_id}/payouts");
    refused(
        app.send(
            Method::POST,
            &payout,
            &admin,
            Some(json!({"amount": eur(100)})),
        )
        .await,
    );
    let (status, p) = app
        .send(
            Method::POST,
            &payout,
            &admin,
            Some(json!({"amount": usd(100)})),
        )
        .await;
    assert_eq!((status, p["amount"].clone()), (201, usd(100)), "{p}");
    // Neither a string nor a half object is money.
    let (status, problem) = app
        .send(
            Method::POST,
            &payout,
            &admin,
            Some(json!({"amount": {"amount": 5}})),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("amount")),
        "{problem}"
    );
}

/// A vendor corrects the tracking of a part already shipped: the order shows the new number,
/// the customer gets one "corrected tracking" email, and sending the same details again, or
/// correcting a part that has not shipped or is another vendor's, changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_corrects_a_tracking_number_and_the_customer_is_told_once() {
    use crate::smtp::{SmtpServer, free_port};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let admin = app.admin_token().await;
    let [vendor, other] = app
        .vendors(
            &admin,
            [
                ("t@example.com", "track-shop"),
                ("o@example.com", "other-shop"),
            ],
        )
        .await
        .map(|v| v.token);
    app.seed("track-shop", &[stocked("crate", &[1000], 5)])
        .await;
    let variant = app.variant_ids("crate").await.remove(0);
    let cart = app.cart_with(&variant, 1).await;
    let (_, order, _) = app
        .checkout(&cart, "track-1", &checkout_body("parcel@example.com"))
        .await;
    let id = order["id"].as_str().unwrap();
    let (_, mine) = app
        .send(Method::GET, "/api/vendor/orders", &vendor, None)
        .await;
    let vo = mine["items"][0]["id"].as_str().unwrap().to_owned();
    let tracking = format!("/api/vendor/orders/{vo}/tracking");
    let details = |number: &str| json!({"carrier": "DHL", "tracking_number": number});

    // Not shipped yet: fulfil it first.
    let (status, problem) = app
        .send(Method::PUT, &tracking, &vendor, Some(details("JJD2")))
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("invalid_transition"))
    );
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            Some(json!({"amount": order["total"]["amount"]})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{vo}/fulfil"),
            &vendor,
            Some(details("JJD1")),
        )
        .await;
    assert_eq!(status, 200);

    let (status, corrected) = app
        .send(Method::PUT, &tracking, &vendor, Some(details("JJD2")))
        .await;
    assert_eq!(status, 200, "{corrected}");
    assert_eq!(corrected["tracking_number"], "JJD2");
    let (status, again) = app
        .send(Method::PUT, &tracking, &vendor, Some(details("JJD2")))
        .await;
    assert_eq!(
        (status, again["tracking_number"].as_str()),
        (200, Some("JJD2"))
    );
    let (status, _) = app
        .send(Method::PUT, &tracking, &other, Some(details("X")))
        .await;
    assert_eq!(status, 404, "another vendor's part");
    let token = order["access_token"].as_str().unwrap();
    let (_, seen) = app
        .get_json(&format!("/api/store/orders/{id}?access_token={token}"))
        .await;
    assert_eq!(seen["vendor_orders"][0]["tracking_number"], "JJD2");

    // Two vendor sign-ups' verifications and approvals, then confirmation, new order (vendor),
    // payment received, shipped, corrected: nine emails.
    let mail = smtp.wait_for_exactly(9, Duration::from_secs(20)).await;
    let corrections: Vec<&String> = mail
        .values()
        .map(|(_, raw)| raw)
        .filter(|raw| raw.contains("Corrected tracking"))
        .collect();
    assert_eq!(corrections.len(), 1, "one correction email");
    assert!(corrections[0].contains("JJD2") && corrections[0].contains("To: parcel@example.com"));
}

/// A refund aimed at one vendor order comes out of that vendor's earnings only (and the
/// platform's commission on it), up to what that part can give back; vendors see what was
/// refunded from their part; an untargeted refund is still spread over both.
#[tokio::test]
async fn a_refund_aimed_at_one_vendor_order_comes_out_of_that_vendor_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let TwoVendors {
        a_token,
        a_id,
        b_token,
        apple,
        banana,
        ..
    } = app.two_vendors(&admin).await;
    app.send(
        Method::PUT,
        &format!("/api/admin/vendors/{a_id}/commission"),
        &admin,
        Some(json!({"commission_bps": 2000})),
    )
    .await;
    let cart = app.cart_with(&apple, 2).await;
    app.add_to_cart(&cart, &banana, 1).await;
    let (_, order, _) = app
        .checkout(&cart, "aimed-1", &checkout_body("aimed@example.com"))
        .await;
    let id = order["id"].as_str().unwrap().to_owned();
    app.send(
        Method::POST,
        &format!("/api/admin/orders/{id}/payments"),
        &admin,
        Some(json!({"amount": 5000})),
    )
    .await;
    let balance = |token: String| {
        let app = &app;
        async move {
            let (_, b) = app
                .send(Method::GET, "/api/vendor/balance", &token, None)
                .await;
            b["available"]["amount"].as_i64().unwrap()
        }
    };
    assert_eq!(
        (
            balance(a_token.clone()).await,
            balance(b_token.clone()).await
        ),
        (1600, 2700)
    );
    let (_, b_orders) = app
        .send(Method::GET, "/api/vendor/orders", &b_token, None)
        .await;
    let b_vo = b_orders["items"][0]["id"].as_str().unwrap().to_owned();
    let refund = |key: &str, body: Value| {
        app.client
            .post(app.url(&format!("/api/admin/orders/{id}/refunds")))
            .bearer_auth(&admin)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let answer = refund(
        "aimed-r1",
        json!({"amount": 1000, "vendor_order_id": b_vo, "reason": "bruised"}),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 201);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["vendor_order_id"], b_vo.as_str());
    // B gives back 1000 less its 10 % commission; A is untouched.
    assert_eq!(
        (
            balance(a_token.clone()).await,
            balance(b_token.clone()).await
        ),
        (1600, 1800)
    );
    let (_, b_orders) = app
        .send(Method::GET, "/api/vendor/orders", &b_token, None)
        .await;
    assert_eq!(b_orders["items"][0]["refunded"]["amount"], 1000);
    let (_, a_orders) = app
        .send(Method::GET, "/api/vendor/orders", &a_token, None)
        .await;
    assert_eq!(a_orders["items"][0]["refunded"]["amount"], 0);

    // More than B's part can give back, or a vendor order of another order: refused.
    let answer = refund("aimed-r2", json!({"amount": 2001, "vendor_order_id": b_vo}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 409);
    let answer = refund(
        "aimed-r3",
        json!({"amount": 10, "vendor_order_id": uuid::Uuid::now_v7()}),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 400);
    let problem: Value = answer.json().await.unwrap();
    assert_eq!(
        problem["errors"][0]["field"], "vendor_order_id",
        "{problem}"
    );
    // The same key aimed elsewhere is another request.
    let answer = refund("aimed-r1", json!({"amount": 1000, "reason": "bruised"}))
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);

    // Untargeted: spread over what both parts can still give back.
    let answer = refund("aimed-r4", json!({"amount": 400})).await.unwrap();
    assert_eq!(answer.status(), 201);
    let (a_after, b_after) = (
        balance(a_token.clone()).await,
        balance(b_token.clone()).await,
    );
    assert!(
        a_after < 1600 && b_after < 1800,
        "both gave back: {a_after} {b_after}"
    );
    let (_, payments) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            None,
        )
        .await;
    let aimed: Vec<&Value> = payments["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["vendor_order_id"])
        .collect();
    assert_eq!(aimed.len(), 2, "{payments}");
    assert!(aimed.contains(&&json!(b_vo)) && aimed.contains(&&Value::Null));
}
