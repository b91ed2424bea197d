//! Catalog oversight in the admin panel (in Chromium): finding any vendor's product, archiving
//! it with a reason the vendor is told, and keeping the category tree.

use reqwest::Method;

use crate::admin_panel::{sign_in, signed_in_client};
use crate::browser::Browser;
use crate::helpers::{TestApp, product};

async fn store_handles(app: &TestApp) -> Vec<String> {
    let (_, page) = app.get_json("/api/store/products?limit=100").await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["handle"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_admin_finds_a_product_and_archives_it_with_a_reason_after_confirming() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.seed(
        "acme",
        &[
            product("copper-kettle", "Copper kettle", &[4500]),
            product("glass-teapot", "Glass teapot", &[2500, 2900]),
        ],
    )
    .await;
    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    browser.go("/admin/products").await;
    browser.find("table.products").await;
    let all = browser.main_text().await;
    assert!(
        all.contains("Copper kettle") && all.contains("Glass teapot"),
        "{all}"
    );
    assert!(all.contains("25.00 USD – 29.00 USD"), "price range: {all}");
    browser.screenshot("admin-products").await;
    browser.assert_accessible("admin-products").await;

    // Found by a word of its title.
    browser.fill("#q", "kettle").await;
    browser.click_and_wait("form.filters button").await;
    browser.find("table.products").await;
    let found = browser.main_text().await;
    assert!(
        found.contains("Copper kettle") && !found.contains("Glass teapot"),
        "{found}"
    );

    // Archiving asks for a reason first; without one it is refused beside the field.
    browser
        .click_and_wait("a[aria-label='Archive Copper kettle']")
        .await;
    let title = browser.find("#confirm-title").await.text().await.unwrap();
    assert_eq!(title, "Archive “Copper kettle” by Vendor acme?");
    browser.screenshot("admin-product-archive-confirm").await;
    browser
        .assert_accessible("admin-product-archive-confirm")
        .await;
    browser.click_and_wait("button.danger").await;
    let problem = browser.find("#reason-problem").await.text().await.unwrap();
    assert_eq!(problem, "say why: the vendor is told");
    assert!(
        store_handles(&app)
            .await
            .contains(&"copper-kettle".to_owned())
    );
    browser.fill("#reason", "counterfeit listing").await;
    browser.click_and_wait("button.danger").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "“Copper kettle” is archived now.");
    // Gone from the shop at once (the catalog cache is told), still listed for staff.
    assert_eq!(store_handles(&app).await, ["glass-teapot"]);
    browser.go("/admin/products?status=archived").await;
    let archived = browser.main_text().await;
    assert!(archived.contains("Copper kettle") && !archived.contains("Glass teapot"));

    let (_, audit) = app
        .send(Method::GET, "/api/admin/audit-log", &admin, None)
        .await;
    let entry = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "product.status")
        .unwrap_or_else(|| panic!("{audit}"))
        .clone();
    assert_eq!(entry["details"]["reason"], "counterfeit listing");
    assert_eq!(entry["details"]["status"], "archived");
    browser.close().await;
}

#[tokio::test]
async fn an_admin_keeps_the_category_tree_create_nest_rename_move_and_delete() {
    let app = TestApp::spawn().await;
    let _admin = app.admin_token().await;
    let browser = Browser::open(&app.base).await;
    sign_in(&browser).await;
    browser.go("/admin/categories").await;
    browser.find("#create-new-name").await;

    // A nameless category is refused beside the name.
    browser.click("form.card button.primary").await;
    let bad = browser
        .client
        .find(fantoccini::Locator::Css("#create-new-name-problem"))
        .await;
    // The browser itself refuses an empty required field; the server refuses it too.
    assert!(bad.is_err(), "the required field stops the browser first");
    let client = signed_in_client(&app).await;
    let page = client
        .get(app.url("/admin/categories"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = crate::admin_panel::hidden(&page, "csrf");
    let refused = client
        .post(
            app.url("/admin/categories"),
            &[("csrf", csrf.as_str()), ("name", " ")],
            None,
        )
        .await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("id=\"create-new-name-problem\"")
    );

    browser.fill("#create-new-name", "Kitchen").await;
    browser.click_and_wait("form.card button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Category “Kitchen” created.");
    browser.fill("#create-new-name", "Kettles").await;
    let options = browser
        .client
        .find_all(fantoccini::Locator::Css("#create-new-parent option"))
        .await
        .unwrap();
    for option in options {
        if option.text().await.unwrap() == "Kitchen" {
            option.click().await.unwrap();
        }
    }
    browser.click_and_wait("form.card button.primary").await;
    browser.find("p.flash").await;
    let (_, tree) = app.get_json("/api/store/categories").await;
    let text = tree.to_string();
    assert!(
        text.contains("\"kitchen\"") && text.contains("\"kettles\""),
        "{tree}"
    );
    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css(".tree .depth-1"))
            .await
            .unwrap()
            .len(),
        1,
        "Kettles is nested under Kitchen"
    );
    browser.screenshot("admin-categories").await;
    browser.assert_accessible("admin-categories").await;

    // Rename and move Kettles to the top level.
    let kettles = browser
        .client
        .find_all(fantoccini::Locator::Css(".tree summary"))
        .await
        .unwrap()
        .remove(1);
    kettles.click().await.unwrap();
    let name_input = browser
        .client
        .find(fantoccini::Locator::Css(
            ".tree .depth-1 input[name='name']",
        ))
        .await
        .unwrap();
    name_input.clear().await.unwrap();
    name_input.send_keys("Electric kettles").await.unwrap();
    let top = browser
        .client
        .find(fantoccini::Locator::Css(
            ".tree .depth-1 select option[value='']",
        ))
        .await
        .unwrap();
    top.click().await.unwrap();
    browser.click_and_wait(".tree .depth-1 button").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Category “Electric kettles” saved.");
    assert!(
        browser
            .client
            .find(fantoccini::Locator::Css(".tree .depth-1"))
            .await
            .is_err(),
        "both at the top level now"
    );

    // Deleting asks first.
    browser.click(".tree summary").await;
    browser.click_and_wait(".tree a[href$='/delete']").await;
    let title = browser.find("#confirm-title").await.text().await.unwrap();
    assert!(title.starts_with("Delete the category"), "{title}");
    browser.click_and_wait("button.danger").await;
    assert_eq!(
        browser.find("p.flash").await.text().await.unwrap(),
        "Category deleted."
    );
    let (_, tree) = app.get_json("/api/store/categories").await;
    assert_eq!(tree.to_string().matches("\"handle\"").count(), 1, "{tree}");
    browser.close().await;
}
