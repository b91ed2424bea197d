//! Product detail, categories and vendors.

use souk_domain::catalog::ImageDraft;

use crate::helpers::{TestApp, product};

#[tokio::test]
async fn product_detail_has_the_documented_shape() {
    let app = TestApp::spawn().await;
    let mut p = product("tee", "Tee", &[1999, 2199]);
    p.option_names = vec!["Size".into(), "Colour".into()];
    p.variants[0].option_values = vec!["S".into(), "Red".into()];
    p.variants[1].option_values = vec!["M".into(), "Red".into()];
    p.variants[1].compare_at_price = Some(2500);
    p.description_html = "<p>Soft</p>".into();
    p.category_path = vec!["Apparel".into(), "Tops".into()];
    p.images.push(ImageDraft {
        url: "https://img.example/back.png".into(),
        alt: "Back".into(),
    });
    app.seed("acme", &[p]).await;

    let (status, body) = app.get_json("/api/store/products/tee").await;
    assert_eq!(status, 200);
    assert!(body["id"].is_string());
    assert_eq!(body["handle"], "tee");
    assert_eq!(body["title"], "Tee");
    assert_eq!(body["description_html"], "<p>Soft</p>");
    assert_eq!(body["vendor"]["handle"], "acme");
    assert_eq!(body["vendor"]["name"], "Vendor acme");
    assert!(body["vendor"]["id"].is_string());
    assert_eq!(body["categories"][0]["handle"], "tops");
    assert_eq!(body["images"][1]["url"], "https://img.example/back.png");
    assert_eq!(body["images"][1]["alt"], "Back");
    assert_eq!(body["options"][0]["name"], "Size");
    assert_eq!(body["options"][0]["values"], serde_json::json!(["S", "M"]));
    assert_eq!(body["options"][1]["values"], serde_json::json!(["Red"]));
    let v = &body["variants"][1];
    assert_eq!(v["sku"], "TEE-1");
    assert_eq!(v["title"], "M / Red");
    assert_eq!(
        v["options"],
        serde_json::json!({"Size": "M", "Colour": "Red"})
    );
    assert_eq!(
        v["price"],
        serde_json::json!({"amount": 2199, "currency": "USD"})
    );
    assert_eq!(
        v["compare_at_price"],
        serde_json::json!({"amount": 2500, "currency": "USD"})
    );
    assert_eq!(
        body["variants"][0]["compare_at_price"],
        serde_json::Value::Null
    );
    assert_eq!(v["available"], true);
}

#[tokio::test]
async fn missing_things_are_404_problems() {
    let app = TestApp::spawn().await;
    let body = app
        .expect_problem("/api/store/products/nope", 404, "not_found")
        .await;
    assert!(body["detail"].as_str().unwrap().contains("nope"));
    app.expect_problem("/api/store/products/NOT%20A%20HANDLE", 404, "not_found")
        .await;
    app.expect_problem("/api/store/vendors/nobody", 404, "not_found")
        .await;
    app.expect_problem("/api/store/nothing-here", 404, "not_found")
        .await;
}

#[tokio::test]
async fn categories_come_as_a_tree() {
    let app = TestApp::spawn().await;
    let mut a = product("a", "A", &[1]);
    a.category_path = vec!["Home".into(), "Kitchen".into(), "Mugs".into()];
    let mut b = product("b", "B", &[1]);
    b.category_path = vec!["Home".into(), "Decor".into()];
    let mut c = product("c", "C", &[1]);
    c.category_path = vec!["Garden".into()];
    app.seed("acme", &[a, b, c]).await;
    let (status, body) = app.get_json("/api/store/categories").await;
    assert_eq!(status, 200);
    let roots = body["items"].as_array().unwrap();
    let names: Vec<_> = roots.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Garden", "Home"]);
    let home = &roots[1];
    let kids: Vec<_> = home["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["handle"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["decor", "kitchen"]);
    assert_eq!(home["children"][1]["children"][0]["handle"], "mugs");
}
