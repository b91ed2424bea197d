//! A vendor's catalog in the dashboard: creating a product with options and variants in
//! Chromium, the form shown again with its mistakes, prices and stock edited in bulk without
//! undoing sales made meanwhile, and another vendor's products answering 404 and unchanged.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_panel::{hidden, signed_in_at};
use crate::browser::Browser;
use crate::helpers::TestApp;

const PASSWORD: &str = "correct horse battery staple";

/// The vendor's product `id` as the API shows it (any status).
async fn vendor_product(app: &TestApp, token: &str, id: &str) -> Value {
    let (status, body) = app
        .send(
            Method::GET,
            &format!("/api/vendor/products/{id}"),
            token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn variant<'a>(product: &'a Value, sku: &str) -> &'a Value {
    product["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["sku"] == sku)
        .unwrap_or_else(|| panic!("no variant {sku}: {product}"))
}

#[tokio::test]
async fn a_vendor_creates_a_product_with_two_variants_fixes_a_mistake_and_edits_prices_and_stock_in_bulk()
 {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let vendors = app.two_vendors(&admin).await;
    let (status, body) = app
        .send(
            Method::POST,
            "/api/admin/categories",
            &admin,
            Some(json!({"name": "Shirts", "handle": "shirts"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let browser = Browser::open(&app.base).await;
    browser
        .sign_in_at("/vendor/sign-in", "a@example.com", PASSWORD)
        .await;
    browser.click_and_wait("a[href='/vendor/products']").await;
    browser
        .click_and_wait("a[href='/vendor/products/new']")
        .await;
    browser.assert_accessible("vendor new product").await;
    browser.fill("#f-title", "Linen Shirt").await;
    browser
        .fill(
            "#f-description",
            "<p>Soft <strong>linen</strong>.</p><script>alert('x')</script>",
        )
        .await;
    browser.fill("#f-option1", "Size").await;
    for (row, (size, sku, price, stock)) in
        [("S", "LS-S", "25.00", "4"), ("M", "LS-M", "27.50", "6")]
            .into_iter()
            .enumerate()
    {
        browser
            .fill(&format!("input[name='v{row}.o1']"), size)
            .await;
        browser
            .fill(&format!("input[name='v{row}.sku']"), sku)
            .await;
        browser
            .fill(&format!("input[name='v{row}.price']"), price)
            .await;
        browser
            .fill(&format!("input[name='v{row}.stock']"), stock)
            .await;
        browser
            .fill(&format!("input[name='v{row}.grams']"), "300")
            .await;
    }
    browser.click("#cat-shirts").await;
    browser.click("#f-status option[value='published']").await;
    browser.click_and_wait("form.editor button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(
        flash,
        "Product created and published: shoppers can buy it now."
    );
    browser.assert_accessible("vendor edit product").await;
    browser.screenshot("vendor-product-edit").await;
    browser.assert_no_dialog().await;

    // The shop sells it: two variants, their prices, the category, a description without script.
    let (status, shop) = app.get_json("/api/store/products/linen-shirt").await;
    assert_eq!(status, 200, "{shop}");
    let id = shop["id"].as_str().unwrap().to_owned();
    let prices: Vec<i64> = shop["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["price"]["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [2500, 2750], "{shop}");
    let description = shop["description_html"].as_str().unwrap();
    assert!(
        description.contains("<strong>linen</strong>"),
        "{description}"
    );
    assert!(!description.contains("script"), "{description}");
    assert!(
        shop.to_string().contains("shirts"),
        "in its category: {shop}"
    );

    // A mistake comes back beside its field, with everything else as typed; nothing changes.
    browser.fill("#f-title", "Linen Shirt, washed").await;
    browser.fill("input[name='v1.price']", "27,5O").await;
    browser.click_and_wait("form.editor button.primary").await;
    let problem = browser
        .find("#v1\\.price-problem")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(problem, "a price such as 12.50");
    let title = browser.find("#f-title").await.prop("value").await.unwrap();
    assert_eq!(title.as_deref(), Some("Linen Shirt, washed"));
    browser.assert_accessible("vendor product refused").await;
    let (_, unchanged) = app.get_json("/api/store/products/linen-shirt").await;
    assert_eq!(unchanged["title"], "Linen Shirt");
    browser.fill("input[name='v1.price']", "28").await;
    browser.click_and_wait("form.editor button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Saved: the shop shows the change now.");
    let saved = vendor_product(&app, &vendors.a_token, &id).await;
    assert_eq!(saved["title"], "Linen Shirt, washed");
    assert_eq!(variant(&saved, "LS-M")["price"]["amount"], 2800);
    assert_eq!(variant(&saved, "LS-S")["stock"], 4, "stock untouched");

    // Bulk: a new price for S and new stock for M, saved together.
    browser
        .click_and_wait(&format!("a[href='/vendor/inventory?product={id}']"))
        .await;
    browser.assert_accessible("vendor prices and stock").await;
    browser.screenshot("vendor-inventory").await;
    let s = variant(&saved, "LS-S")["id"].as_str().unwrap().to_owned();
    let m = variant(&saved, "LS-M")["id"].as_str().unwrap().to_owned();
    browser
        .fill(&format!("input[name='price:{s}']"), "24")
        .await;
    browser
        .fill(&format!("input[name='stock:{m}']"), "10")
        .await;
    browser.click_and_wait("main form button.primary").await;
    let flash = browser.find("p.flash").await.text().await.unwrap();
    assert_eq!(flash, "Saved 2 variants: the shop shows them now.");
    let after = vendor_product(&app, &vendors.a_token, &id).await;
    assert_eq!(variant(&after, "LS-S")["price"]["amount"], 2400);
    assert_eq!(variant(&after, "LS-S")["stock"], 4);
    assert_eq!(variant(&after, "LS-M")["stock"], 10);
    let (_, listed) = app
        .get_json("/api/store/products?sort=price_asc&min_price=2450")
        .await;
    assert!(
        listed.to_string().contains("linen-shirt"),
        "the price range follows the variants (M at 28.00): {listed}"
    );
    browser.close().await;

    // A sale while the bulk page is open: saving a price change does not undo it.
    let a = signed_in_at(&app, "/vendor/sign-in", "a@example.com").await;
    let page = a
        .get(app.url(&format!("/vendor/inventory?product={id}")))
        .await
        .text()
        .await
        .unwrap();
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/vendor/variants/{m}/stock"),
            &vendors.a_token,
            Some(json!({"stock": 7})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let mut form = form_of(&page);
    set(&mut form, &format!("price:{m}"), "30.00");
    let saved = a
        .post(app.url("/vendor/inventory"), &borrowed(&form), None)
        .await;
    assert_eq!(saved.status(), 303);
    let after = vendor_product(&app, &vendors.a_token, &id).await;
    assert_eq!(variant(&after, "LS-M")["price"]["amount"], 3000);
    assert_eq!(
        variant(&after, "LS-M")["stock"],
        7,
        "the sale is not undone"
    );

    // A bad stock refuses the whole edit: the good price beside it is not saved either.
    let mut form = form_of(&page);
    set(&mut form, &format!("price:{s}"), "1.00");
    set(&mut form, &format!("stock:{m}"), "-3");
    let refused = a
        .post(app.url("/vendor/inventory"), &borrowed(&form), None)
        .await;
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(text.contains("a whole number from 0 to"), "{text}");
    let after = vendor_product(&app, &vendors.a_token, &id).await;
    assert_eq!(variant(&after, "LS-S")["price"]["amount"], 2400);

    // Vendor B: A's product and variants are not found, and stay as they are.
    let b = signed_in_at(&app, "/vendor/sign-in", "b@example.com").await;
    assert_eq!(
        b.get(app.url(&format!("/vendor/products/{id}")))
            .await
            .status(),
        404
    );
    let b_page = b
        .get(app.url("/vendor/products/new"))
        .await
        .text()
        .await
        .unwrap();
    let b_csrf = hidden(&b_page, "csrf");
    let edit = b
        .post(
            app.url(&format!("/vendor/products/{id}")),
            &[
                ("csrf", b_csrf.as_str()),
                ("title", "Taken over"),
                ("v0.o1", "S"),
                ("v0.price", "1"),
            ],
            None,
        )
        .await;
    assert_eq!(edit.status(), 404);
    let price_key = format!("price:{s}");
    let was_key = format!("price_was:{s}");
    let bulk = b
        .post(
            app.url("/vendor/inventory"),
            &[
                ("csrf", b_csrf.as_str()),
                (was_key.as_str(), "24.00"),
                (price_key.as_str(), "0.01"),
            ],
            None,
        )
        .await;
    assert_eq!(bulk.status(), 404);
    let b_list = b
        .get(app.url("/vendor/inventory"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!b_list.contains("Linen"), "{b_list}");
    let after = vendor_product(&app, &vendors.a_token, &id).await;
    assert_eq!(after["title"], "Linen Shirt, washed");
    assert_eq!(variant(&after, "LS-S")["price"]["amount"], 2400);

    // A handle another vendor holds is refused on the form, beside nothing half-made.
    let taken = b
        .post(
            app.url("/vendor/products/new"),
            &[
                ("csrf", b_csrf.as_str()),
                ("title", "Shirt"),
                ("handle", "linen-shirt"),
                ("v0.price", "5"),
            ],
            None,
        )
        .await;
    assert_eq!(taken.status(), 409);
    assert_eq!(
        app.get_json("/api/store/products/linen-shirt").await.1["title"],
        "Linen Shirt, washed"
    );
}

/// Every `name="…" value="…"` input of the page's post form (hidden and text), as pairs.
pub(crate) fn form_of(page: &str) -> Vec<(String, String)> {
    let form = &page[page
        .find("method=\"post\" action=\"/vendor/inventory\"")
        .expect("the form")..];
    let mut pairs = Vec::new();
    for tag in form.split("<input").skip(1) {
        let tag = tag.split('>').next().unwrap();
        let attr = |name: &str| {
            let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
            Some(tag[start..].split('"').next()?.to_owned())
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            let unescape = |s: String| s.replace("&#x2f;", "/").replace("&amp;", "&");
            pairs.push((unescape(n), unescape(v)));
        }
    }
    pairs
}

pub(crate) fn set(form: &mut [(String, String)], name: &str, value: &str) {
    let field = form
        .iter_mut()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"));
    field.1 = value.to_owned();
}

pub(crate) fn borrowed(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn a_vendor_imports_a_csv_watches_the_progress_reach_100_sees_the_refused_line_and_exports() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    app.two_vendors(&admin).await;
    // 250 products (three batches) and one line with a price that is not a price.
    let mut csv = String::from(
        "Handle,Title,Body (HTML),Vendor,Option1 Name,Option1 Value,Variant SKU,Variant Price,Variant Inventory Qty,Status\n",
    );
    for i in 0..250 {
        csv.push_str(&format!(
            "teapot-{i:03},Teapot {i},<p>Holds {i} cups</p>,Someone Else,Size,Small,TP-{i:03},{}.50,5,active\n",
            10 + i
        ));
    }
    csv.push_str("broken-kettle,Kettle,,,Size,Small,BK-1,twelve,1,active\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("teapots.csv");
    std::fs::write(&file, &csv).unwrap();

    let browser = Browser::open(&app.base).await;
    browser
        .sign_in_at("/vendor/sign-in", "a@example.com", PASSWORD)
        .await;
    browser.go("/vendor/products").await;
    browser
        .click_and_wait("a[href='/vendor/products/import']")
        .await;
    browser.assert_accessible("vendor import").await;
    browser
        .find("#f-file")
        .await
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    browser.click_and_wait("form.import button.primary").await;
    // The page follows the import to its end (the script reloads it when it is done).
    let started = std::time::Instant::now();
    loop {
        // The page reloads itself when the import ends: an element read as it goes is stale.
        let status = browser.find("#import-status").await.text().await;
        if status.as_deref().ok() == Some("Import finished.") {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "still: {status:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let count = browser.find("#import-count").await.text().await.unwrap();
    assert_eq!(
        count,
        "100 % · 250 of 250 products imported, from 251 lines."
    );
    let bar = browser.find("#import-progress").await;
    assert_eq!(bar.attr("value").await.unwrap().as_deref(), Some("250"));
    assert_eq!(bar.attr("max").await.unwrap().as_deref(), Some("250"));
    let refused = browser.find("table.rejected").await.text().await.unwrap();
    assert!(
        refused.contains("252") && refused.contains("Variant Price"),
        "the refused line is reported by its line number: {refused}"
    );
    browser.assert_accessible("vendor import report").await;
    browser.screenshot("vendor-import-report").await;
    let import_url = browser.path().await;
    browser.close().await;

    // Imported for this vendor, whatever the file's Vendor column says.
    let (status, teapot) = app.get_json("/api/store/products/teapot-042").await;
    assert_eq!(status, 200, "{teapot}");
    assert_eq!(teapot["vendor"]["handle"], "vendor-a");
    assert_eq!(
        app.get("/api/store/products/broken-kettle").await.status(),
        404
    );

    // The export holds A's products (the 250 and its apple), not B's.
    let a = signed_in_at(&app, "/vendor/sign-in", "a@example.com").await;
    let export = a.get(app.url("/vendor/products/export.csv")).await;
    assert_eq!(export.status(), 200);
    assert!(
        export.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let exported = export.text().await.unwrap();
    assert!(exported.starts_with("Handle,Title"), "{exported}");
    assert!(exported.contains("teapot-249") && exported.contains("apple"));
    assert!(!exported.contains("banana"), "only A's products");

    // B sees neither A's import nor its progress.
    let b = signed_in_at(&app, "/vendor/sign-in", "b@example.com").await;
    assert_eq!(b.get(app.url(&import_url)).await.status(), 404);
    assert_eq!(
        b.get(app.url(&format!("{import_url}/progress")))
            .await
            .status(),
        404
    );
    let b_imports = b
        .get(app.url("/vendor/products/import"))
        .await
        .text()
        .await
        .unwrap();
    assert!(!b_imports.contains("teapots.csv"), "{b_imports}");
}
