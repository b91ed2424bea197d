//! Static assets, compiled into the binary and served under content-hashed names
//! (`admin.3f9a…css`): a new release changes the name, so browsers may keep each one for a year.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    /// As templates name it: `admin.css`.
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "admin.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/admin.css"),
    },
    Asset {
        name: "store.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("assets/store.css"),
    },
    Asset {
        name: "order_live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/order_live.js"),
    },
    Asset {
        name: "cart.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/cart.js"),
    },
    Asset {
        name: "variant_picker.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/variant_picker.js"),
    },
    Asset {
        name: "pay.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/pay.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/favicon.svg"),
    },
    Asset {
        name: "feed.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/feed.js"),
    },
    Asset {
        name: "vendor_live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/vendor_live.js"),
    },
    Asset {
        name: "upload.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/upload.js"),
    },
    Asset {
        name: "import_progress.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/import_progress.js"),
    },
];

/// Each asset with its served name (`stem.<hash>.ext`).
fn hashed() -> &'static [(String, &'static Asset)] {
    static HASHED: OnceLock<Vec<(String, &'static Asset)>> = OnceLock::new();
    HASHED.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
                let (stem, ext) = a.name.rsplit_once('.').unwrap_or((a.name, ""));
                (format!("{stem}.{hash}.{ext}"), a)
            })
            .collect()
    })
}

/// The URL a page links `name` with (an unknown name links nothing: a template bug shows).
pub fn url(name: &str) -> String {
    hashed()
        .iter()
        .find(|(_, a)| a.name == name)
        .map(|(served, _)| format!("/assets/{served}"))
        .unwrap_or_default()
}

pub async fn serve(Path(name): Path<String>) -> Response {
    let Some((_, asset)) = hashed().iter().find(|(served, _)| *served == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}
