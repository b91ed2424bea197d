//! For search engines: `robots.txt` and the sitemap — an index of product sitemaps of
//! [`PER_SITEMAP`] products each (so a catalog of any size stays within the protocol's 50,000
//! URLs and 50 MB per file), plus the home page, categories and shops.

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use souk_domain::catalog::category_tree;
use souk_storage::catalog;

use axum::http::HeaderMap;

use super::base_url;
use crate::AppState;

/// Products per sitemap file.
const PER_SITEMAP: i64 = 10_000;

pub async fn robots(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let body = format!(
        "User-agent: *\nDisallow: /admin\nDisallow: /vendor/\nDisallow: /checkout\n\
         Disallow: /orders/\nDisallow: /account\nDisallow: /api/\nAllow: /api/docs\n\n\
         Sitemap: {}/sitemap.xml\n",
        base_url(&state, &headers)
    );
    (
        [
            (
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, shared_cache(&state, 3600)),
        ],
        body,
    )
        .into_response()
}

/// Shared caches may keep these only when their links come from `SOUK_PUBLIC_URL`: built from
/// a request's `Host`, one forged `Host` would otherwise be served to everyone.
fn shared_cache(state: &AppState, seconds: u32) -> axum::http::HeaderValue {
    let value = if state.config.public_url.is_some() {
        format!("public, max-age={seconds}")
    } else {
        format!("private, max-age={seconds}")
    };
    axum::http::HeaderValue::from_str(&value).expect("ASCII")
}

fn xml(state: &AppState, body: String) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("application/xml; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, shared_cache(state, 600)),
        ],
        body,
    )
        .into_response()
}

/// Text for XML: handles are URL-safe already, but nothing unescaped goes out.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn date(ms: i64) -> String {
    souk_domain::time::rfc3339(ms)
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// The sitemap index: the pages sitemap (`/sitemaps/products/0` also lists the home page,
/// categories and shops) and one more per [`PER_SITEMAP`] products.
pub async fn sitemap_index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let count = match catalog::count_shop_products(&state.db).await {
        Ok(n) => n,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let base = base_url(&state, &headers);
    let pages = ((count + PER_SITEMAP - 1) / PER_SITEMAP).max(1);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    for page in 0..pages {
        out.push_str(&format!(
            "<sitemap><loc>{}/sitemaps/products/{page}</loc></sitemap>\n",
            esc(&base)
        ));
    }
    out.push_str("</sitemapindex>\n");
    xml(&state, out)
}

pub async fn sitemap_products(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(page): Path<String>,
) -> Response {
    let Ok(page) = page.parse::<i64>() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !(0..=100_000).contains(&page) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let products = match catalog::sitemap_page(&state.db, page, PER_SITEMAP).await {
        Ok(p) => p,
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    if products.is_empty() && page > 0 {
        return StatusCode::NOT_FOUND.into_response();
    }
    let base = esc(&base_url(&state, &headers));
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n",
    );
    if page == 0 {
        out.push_str(&format!("<url><loc>{base}/</loc></url>\n"));
        if let Ok(all) = catalog::all_categories(&state.db).await {
            let mut stack = category_tree(all);
            while let Some(node) = stack.pop() {
                out.push_str(&format!(
                    "<url><loc>{base}/categories/{}</loc></url>\n",
                    esc(&node.handle)
                ));
                stack.extend(node.children);
            }
        }
        if let Ok(vendors) = catalog::active_vendors(&state.db, None, 1000).await {
            for v in vendors {
                out.push_str(&format!(
                    "<url><loc>{base}/vendors/{}</loc></url>\n",
                    esc(&v.handle)
                ));
            }
        }
    }
    for (handle, updated) in products {
        out.push_str(&format!(
            "<url><loc>{base}/products/{}</loc><lastmod>{}</lastmod></url>\n",
            esc(&handle),
            date(updated)
        ));
    }
    out.push_str("</urlset>\n");
    xml(&state, out)
}
