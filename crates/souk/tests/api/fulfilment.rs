//! Partial shipments (a vendor order sent in parcels, per line and quantity) and refunds aimed
//! at given lines.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::checkout::{TwoVendors, checkout_body, stocked};
use crate::helpers::TestApp;
use crate::smtp::{SmtpServer, free_port};

/// A paid order of vendor A's apple ×3 and pear ×1 and vendor B's banana ×1: (order, A's
/// vendor order id, B's vendor order id).
async fn paid_order(app: &TestApp, admin: &str, v: &TwoVendors) -> (Value, String, String) {
    app.seed("vendor-a", &[stocked("pear", &[500], 10)]).await;
    let pear = app.variant_ids("pear").await.remove(0);
    let cart = app.cart_with(&v.apple, 3).await;
    app.add_to_cart(&cart, &pear, 1).await;
    app.add_to_cart(&cart, &v.banana, 1).await;
    let (_, order, _) = app
        .checkout(&cart, "parcels-1", &checkout_body("parcels@example.com"))
        .await;
    let id = order["id"].as_str().unwrap();
    let (status, paid) = app
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/payments"),
            admin,
            Some(json!({"amount": order["total"]["amount"]})),
        )
        .await;
    assert_eq!(status, 200, "{paid}");
    let (_, a) = app
        .send(Method::GET, "/api/vendor/orders", &v.a_token, None)
        .await;
    let (_, b) = app
        .send(Method::GET, "/api/vendor/orders", &v.b_token, None)
        .await;
    (
        order,
        a["items"][0]["id"].as_str().unwrap().to_owned(),
        b["items"][0]["id"].as_str().unwrap().to_owned(),
    )
}

/// The id of the line of `vendor_order` whose product is `title`.
fn line_id(vendor_order: &Value, title: &str) -> String {
    vendor_order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_title"] == title)
        .unwrap_or_else(|| panic!("no {title} line in {vendor_order}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The text of a raw email with quoted-printable soft line breaks joined.
fn plain(raw: &str) -> String {
    raw.replace("=\r\n", "").replace("=\n", "")
}

/// A vendor ships its part in two parcels: the first takes two of three apples, so the part
/// and the order are partially fulfilled and the order can no longer be cancelled; the second
/// (lines omitted) takes everything left. Each parcel has its own tracking (correctable one by
/// one) and its own email naming only its units; bad parcels are refused with the field named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_ships_its_part_in_parcels_and_the_order_follows_the_units() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::new(free_port(), &dir.path().join("maildir"));
    smtp.start();
    let app = TestApp::spawn_with_mail(&smtp.url()).await;
    let admin = app.admin_token().await;
    let v = app.two_vendors(&admin).await;
    let (order, a_vo, b_vo) = paid_order(&app, &admin, &v).await;
    let id = order["id"].as_str().unwrap();
    let (_, part) = app
        .send(
            Method::GET,
            &format!("/api/vendor/orders/{a_vo}"),
            &v.a_token,
            None,
        )
        .await;
    let (apple, pear) = (line_id(&part, "apple"), line_id(&part, "pear"));
    let (_, b_part) = app
        .send(
            Method::GET,
            &format!("/api/vendor/orders/{b_vo}"),
            &v.b_token,
            None,
        )
        .await;
    let banana = line_id(&b_part, "banana");
    let fulfil = format!("/api/vendor/orders/{a_vo}/fulfil");
    let parcel = |number: &str, lines: Value| json!({"carrier": "DHL", "tracking_number": number, "lines": lines});

    // Parcels that cannot be: each refused with the offending line named, nothing shipped.
    for (lines, field) in [
        (json!([{"line_id": apple, "quantity": 4}]), "lines[0]"),
        (json!([{"line_id": apple, "quantity": 0}]), "lines[0]"),
        (
            json!([{"line_id": pear, "quantity": 1}, {"line_id": banana, "quantity": 1}]),
            "lines[1]",
        ),
        (
            json!([{"line_id": pear, "quantity": 1}, {"line_id": pear, "quantity": 1}]),
            "lines[1]",
        ),
        (json!([]), "lines"),
    ] {
        let (status, problem) = app
            .send(
                Method::POST,
                &fulfil,
                &v.a_token,
                Some(parcel("BAD", lines.clone())),
            )
            .await;
        assert_eq!(
            (status, problem["errors"][0]["field"].as_str()),
            (400, Some(field)),
            "{lines}: {problem}"
        );
    }

    // Parcel one: two of the three apples.
    let (status, shipped) = app
        .send(
            Method::POST,
            &fulfil,
            &v.a_token,
            Some(parcel("P1", json!([{"line_id": apple, "quantity": 2}]))),
        )
        .await;
    assert_eq!(status, 200, "{shipped}");
    assert_eq!(shipped["status"], "unfulfilled", "units are left to ship");
    assert_eq!(shipped["fulfillment_status"], "partially_fulfilled");
    assert_eq!(line_of(&shipped, &apple)["shipped_quantity"], 2);
    assert_eq!(line_of(&shipped, &pear)["shipped_quantity"], 0);
    assert_eq!(shipped["shipments"].as_array().unwrap().len(), 1);
    assert_eq!(
        shipped["shipments"][0]["lines"],
        json!([{"line_id": apple, "quantity": 2}])
    );
    let first = shipped["shipments"][0]["id"].as_str().unwrap().to_owned();
    // Two vendor verifications, the confirmation, two new-order notices, payment received and
    // this parcel's email (sent before its tracking is corrected below).
    smtp.wait_for(7, Duration::from_secs(20)).await;
    let admin_order = format!("/api/admin/orders/{id}");
    let (_, o) = app.send(Method::GET, &admin_order, &admin, None).await;
    assert_eq!(
        (o["status"].as_str(), o["fulfillment_status"].as_str()),
        (Some("partially_fulfilled"), Some("partially_fulfilled")),
        "{o}"
    );
    // Something has shipped: the order can no longer be called off.
    let (status, problem) = app
        .send(
            Method::POST,
            &format!("{admin_order}/cancel"),
            &admin,
            Some(json!({"reason": "changed mind"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("invalid_transition")),
        "{problem}"
    );
    // Only one apple is left to ship.
    let (status, problem) = app
        .send(
            Method::POST,
            &fulfil,
            &v.a_token,
            Some(parcel("P9", json!([{"line_id": apple, "quantity": 2}]))),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("1 left"),
        "{problem}"
    );

    // Parcel two, lines omitted: everything left (one apple and the pear).
    let (status, done) = app
        .send(
            Method::POST,
            &fulfil,
            &v.a_token,
            Some(json!({"carrier": "UPS", "tracking_number": "P2"})),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (done["status"].as_str(), done["fulfillment_status"].as_str()),
        (Some("fulfilled"), Some("fulfilled"))
    );
    assert_eq!(done["tracking_number"], "P2", "the latest parcel's");
    let second = &done["shipments"][1];
    let mut units: Vec<(String, i64)> = second["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["line_id"].as_str().unwrap().to_owned(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect();
    units.sort();
    let mut expected = vec![(apple.clone(), 1), (pear.clone(), 1)];
    expected.sort();
    assert_eq!(units, expected);
    let (status, _) = app
        .send(
            Method::POST,
            &fulfil,
            &v.a_token,
            Some(json!({"carrier": "UPS", "tracking_number": "P3"})),
        )
        .await;
    assert_eq!(status, 409, "nothing is left to ship");

    // Correct the first parcel's tracking: the latest stays what it was.
    let tracking = format!("/api/vendor/orders/{a_vo}/tracking");
    let (status, corrected) = app
        .send(
            Method::PUT,
            &tracking,
            &v.a_token,
            Some(json!({"carrier": "DHL", "tracking_number": "P1-FIXED", "shipment_id": first})),
        )
        .await;
    assert_eq!(status, 200, "{corrected}");
    assert_eq!(corrected["shipments"][0]["tracking_number"], "P1-FIXED");
    assert_eq!(corrected["shipments"][1]["tracking_number"], "P2");
    assert_eq!(corrected["tracking_number"], "P2");
    let (status, problem) = app
        .send(
            Method::PUT,
            &tracking,
            &v.a_token,
            Some(json!({"carrier": "DHL", "tracking_number": "X", "shipment_id": uuid::Uuid::now_v7()})),
        )
        .await;
    assert_eq!(
        (status, problem["errors"][0]["field"].as_str()),
        (400, Some("shipment_id"))
    );

    // The customer sees both parcels; once B ships, the order is fulfilled and completes.
    let token = order["access_token"].as_str().unwrap();
    let (_, seen) = app
        .get_json(&format!("/api/store/orders/{id}?access_token={token}"))
        .await;
    let a_summary = seen["vendor_orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == a_vo.as_str())
        .unwrap();
    assert_eq!(a_summary["shipments"].as_array().unwrap().len(), 2);
    assert_eq!(seen["fulfillment_status"], "partially_fulfilled");
    let (status, _) = app
        .send(
            Method::POST,
            &format!("/api/vendor/orders/{b_vo}/fulfil"),
            &v.b_token,
            Some(json!({"carrier": "GLS", "tracking_number": "B1"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, o) = app.send(Method::GET, &admin_order, &admin, None).await;
    assert_eq!(
        (o["status"].as_str(), o["fulfillment_status"].as_str()),
        (Some("fulfilled"), Some("fulfilled"))
    );
    let (status, _) = app
        .send(
            Method::POST,
            &format!("{admin_order}/complete"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 200);

    // Emails: two vendor verifications and approvals, the confirmation, two new-order notices,
    // payment received, three parcels and one correction.
    let mail = smtp.wait_for_exactly(12, Duration::from_secs(20)).await;
    let shipped: Vec<String> = mail
        .values()
        .map(|(_, raw)| plain(raw))
        .filter(|raw| raw.contains("Tracking number"))
        .collect();
    // By the tracking line itself: a MIME boundary or Message-ID may contain "P1" by chance.
    let with = |number: &str| {
        let line = format!("Tracking number: {number}");
        shipped
            .iter()
            .filter(|raw| raw.lines().any(|l| l.trim_start().starts_with(&line)))
            .cloned()
            .collect::<Vec<_>>()
    };
    let p1 = with("P1");
    assert_eq!(p1.len(), 2, "parcel one and its correction");
    let announced = p1.iter().find(|raw| !raw.contains("P1-FIXED")).unwrap();
    assert!(
        announced.contains("2 × apple") || announced.contains("2 =C3=97 apple"),
        "the parcel's units: {announced}"
    );
    assert!(!announced.contains("pear"), "only this parcel's lines");
    assert!(announced.contains("will follow"), "{announced}");
    let p2 = with("P2");
    assert_eq!(p2.len(), 1);
    assert!(
        p2[0].contains("pear") && !p2[0].contains("will follow"),
        "{}",
        p2[0]
    );
}

fn line_of<'a>(vendor_order: &'a Value, id: &str) -> &'a Value {
    vendor_order["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == id)
        .unwrap()
}

/// A refund aimed at units of lines gives back what they are worth, from that vendor's part;
/// units cannot be refunded twice; lines of two vendor orders, or an amount that is not what
/// the units are worth, are refused; the same key replays the same refund.
#[tokio::test]
async fn a_refund_aimed_at_lines_gives_back_what_those_units_are_worth() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let v = app.two_vendors(&admin).await;
    let (order, a_vo, b_vo) = paid_order(&app, &admin, &v).await;
    let id = order["id"].as_str().unwrap();
    let (_, part) = app
        .send(
            Method::GET,
            &format!("/api/vendor/orders/{a_vo}"),
            &v.a_token,
            None,
        )
        .await;
    let apple = line_id(&part, "apple");
    let (_, b_part) = app
        .send(
            Method::GET,
            &format!("/api/vendor/orders/{b_vo}"),
            &v.b_token,
            None,
        )
        .await;
    let banana = line_id(&b_part, "banana");
    let refund = |key: &str, body: Value| {
        app.client
            .post(app.url(&format!("/api/admin/orders/{id}/refunds")))
            .bearer_auth(&admin)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };

    let answer = refund(
        "lines-1",
        json!({"lines": [{"line_id": apple, "quantity": 2}], "reason": "bruised"}),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 201);
    let made: Value = answer.json().await.unwrap();
    assert_eq!(made["amount"], json!({"amount": 2000, "currency": "USD"}));
    assert_eq!(made["vendor_order_id"], a_vo.as_str(), "{made}");
    assert_eq!(made["lines"][0]["quantity"], 2);
    // The same key and lines: the same refund.
    let again: Value = refund(
        "lines-1",
        json!({"lines": [{"line_id": apple, "quantity": 2}], "reason": "bruised"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(again["id"], made["id"]);
    let reused = refund(
        "lines-1",
        json!({"lines": [{"line_id": apple, "quantity": 1}]}),
    )
    .await
    .unwrap();
    assert_eq!(reused.status(), 422, "the key was used for other lines");

    // Refused: more units than are left, two vendors' lines, an amount they are not worth.
    for (body, field) in [
        (
            json!({"lines": [{"line_id": apple, "quantity": 2}]}),
            "lines[0]",
        ),
        (
            json!({"lines": [{"line_id": apple, "quantity": 1}, {"line_id": banana, "quantity": 1}]}),
            "lines[1]",
        ),
        (
            json!({"lines": [{"line_id": apple, "quantity": 1}], "amount": {"amount": 999, "currency": "USD"}}),
            "amount",
        ),
        (json!({"reason": "nothing named"}), "amount"),
    ] {
        let answer = refund("lines-bad", body.clone()).await.unwrap();
        assert_eq!(answer.status(), 400, "{body}");
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
    }

    // The vendor sees it on its part, by line; the other vendor's part is untouched.
    let (_, part) = app
        .send(
            Method::GET,
            &format!("/api/vendor/orders/{a_vo}"),
            &v.a_token,
            None,
        )
        .await;
    assert_eq!(part["refunded"]["amount"], 2000);
    assert_eq!(line_of(&part, &apple)["refunded_quantity"], 2);
    let (_, b_part) = app
        .send(
            Method::GET,
            &format!("/api/vendor/orders/{b_vo}"),
            &v.b_token,
            None,
        )
        .await;
    assert_eq!(b_part["refunded"]["amount"], 0);
    let (_, payments) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{id}/payments"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        payments["refunds"][0]["lines"][0]["line_id"],
        apple.as_str()
    );
    let (_, o) = app
        .send(
            Method::GET,
            &format!("/api/admin/orders/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (o["refunded"]["amount"].as_i64(), o["status"].as_str()),
        (Some(2000), Some("partially_refunded"))
    );
    // The last apple, with its amount given as it is worth.
    let answer = refund(
        "lines-2",
        json!({"lines": [{"line_id": apple, "quantity": 1}], "amount": {"amount": 1000, "currency": "USD"}}),
    )
    .await
    .unwrap();
    assert_eq!(answer.status(), 201);
}
