//! A shopper's one-letter slip in a search that finds nothing is corrected to the title word
//! it nearly spells: on the API (with `corrected_q`), its later pages and facets, and the
//! storefront's search page.

use serde_json::Value;

use crate::helpers::{TestApp, product};

fn handles(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["handle"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_one_letter_slip_is_corrected_when_the_search_finds_nothing() {
    let app = TestApp::spawn().await;
    app.seed(
        "lights",
        &[
            product("brass-lantern", "Brass Lantern", &[4500]),
            product("storm-lantern", "Storm Lantern", &[3900]),
            product("paper-lantern", "Paper Lantern", &[1200]),
            product("linen-cushion", "Linen Cushion", &[2500]),
            product("wool-blanket", "Wool Blanket", &[8900]),
        ],
    )
    .await;

    // Each kind of slip: two letters swapped, one left out, one added, one changed.
    for (typed, meant, found) in [
        ("lantren", "lantern", 3),
        ("cushon", "cushion", 1),
        ("blankett", "blanket", 1),
        ("blancet", "blanket", 1),
        ("brass lantren", "brass lantern", 1),
    ] {
        let (status, page) = app
            .get_json(&format!("/api/store/products?q={typed}"))
            .await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["corrected_q"], meant, "{typed}: {page}");
        assert_eq!(handles(&page).len(), found, "{typed}: {page}");
    }

    // Nothing to correct: a search that finds something (even a rare word), a short word,
    // a word with no near neighbour.
    for (typed, found) in [("lantern", 3), ("wuul", 0), ("zzzzzzz", 0), ("paper", 1)] {
        let (_, page) = app
            .get_json(&format!("/api/store/products?q={typed}"))
            .await;
        assert_eq!(page["corrected_q"], Value::Null, "{typed}: {page}");
        assert_eq!(handles(&page).len(), found, "{typed}");
    }

    // Later pages of a corrected search keep the original `q` and stay corrected.
    let (_, first) = app
        .get_json("/api/store/products?q=lantren&limit=2&sort=price_asc")
        .await;
    assert_eq!(handles(&first), ["paper-lantern", "storm-lantern"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .get_json(&format!(
            "/api/store/products?q=lantren&limit=2&sort=price_asc&cursor={cursor}"
        ))
        .await;
    assert_eq!(handles(&second), ["brass-lantern"]);
    assert_eq!(second["corrected_q"], "lantern");
    assert_eq!(second["next_cursor"], Value::Null);

    // The facets count what the corrected search shows.
    let (_, facets) = app.get_json("/api/store/facets?q=lantren").await;
    assert_eq!(facets["total"], 3, "{facets}");

    // A product added later is corrected to as well (its title words are remembered).
    app.seed(
        "lights",
        &[product("tealight-holder", "Tealight Holder", &[900])],
    )
    .await;
    let (_, page) = app.get_json("/api/store/products?q=tealihgt").await;
    assert_eq!(page["corrected_q"], "tealight", "{page}");
    assert_eq!(handles(&page), ["tealight-holder"]);

    // The storefront's search page says what it shows.
    let html = app.get("/search?q=lantren").await.text().await.unwrap();
    assert!(html.contains("Results for “lantern”"), "{html}");
    assert!(html.contains("Nothing matched “lantren”"), "{html}");
    assert!(html.contains("/products/brass-lantern"), "{html}");
}
