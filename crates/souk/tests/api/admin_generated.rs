//! The order generator behind `souk demo --orders N` and the admin benchmark: its orders are
//! whole (parts and lines add up, dated by their ids) and the admin pages read them like real
//! ones, on both databases.

use reqwest::Method;
use souk::generate::{CatalogSpec, write_catalog};
use souk::generate_orders::write_orders;
use souk_domain::money::Currency;

use crate::admin_panel::signed_in_client;
use crate::helpers::TestApp;

#[tokio::test]
async fn generated_orders_are_whole_and_the_admin_pages_list_filter_and_show_them() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let spec = CatalogSpec {
        products: 60,
        vendors: 4,
        seed: 3,
    };
    write_catalog(&app.db, Currency::USD, &spec, |_| {})
        .await
        .unwrap();
    let written = write_orders(&app.db, Currency::USD, 1000, 1500, 3, |_| {})
        .await
        .unwrap();
    assert_eq!(written, 1500);

    // Every order's total is its parts', and every part's subtotal its lines'.
    let (_, page) = app
        .send(Method::GET, "/api/admin/orders?limit=50", &admin, None)
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 50, "{page}");
    for o in items.iter().take(10) {
        let id = o["id"].as_str().unwrap();
        let id = uuid::Uuid::parse_str(id).unwrap();
        let detail = souk_storage::orders::detail(souk_storage::Exec::Db(&app.db), id)
            .await
            .unwrap()
            .unwrap();
        let parts: i64 = detail.vendor_orders.iter().map(|v| v.total).sum();
        assert_eq!(parts, detail.order.total, "{id}");
        for vo in &detail.vendor_orders {
            let lines: i64 = detail
                .lines
                .iter()
                .filter(|l| l.vendor_order_id == vo.id)
                .map(|l| l.total)
                .sum();
            assert_eq!(lines, vo.subtotal, "{id}");
        }
    }

    let client = signed_in_client(&app).await;
    let home = client.get(app.url("/admin")).await.text().await.unwrap();
    assert!(home.contains("orders awaiting payment"), "{home}");
    // Spread over 90 days: the last 30 hold about a third of them.
    let today = &souk_domain::time::rfc3339(souk_storage::now_ms())[..10];
    let month_ago = &souk_domain::time::rfc3339(souk_storage::now_ms() - 29 * 86_400_000)[..10];
    let recent = client
        .get(app.url(&format!("/admin/orders.csv?from={month_ago}&to={today}")))
        .await
        .text()
        .await
        .unwrap();
    let recent = recent.lines().count() - 1;
    assert!((400..=600).contains(&recent), "{recent} of 1500 in 30 days");
    let all = client
        .get(app.url("/admin/orders.csv"))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(all.lines().count(), 1501);
    let first = items[0]["id"].as_str().unwrap();
    let order = client.get(app.url(&format!("/admin/orders/{first}"))).await;
    assert_eq!(order.status(), 200);
    let order = order.text().await.unwrap();
    assert!(order.contains("Payments and refunds") && order.contains("Timeline"));
}
