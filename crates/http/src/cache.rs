//! A per-instance cache of public catalog responses (`GET /api/store/…`).
//!
//! Storefront traffic is dominated by a few identical reads (the first page of a category, a
//! popular product). Caching their serialized bytes for a short time lets one instance serve
//! them at close to the machine's ceiling. Bounded staleness is the price: an entry lives at
//! most `ttl` (default 1 s), and writes made through this instance invalidate everything at
//! once (`AppState::invalidate_catalog`). Writes by another process (`souk import`) or another
//! instance show up within `ttl`. Only 200 responses of public, unauthenticated routes are
//! cached; checkout always re-reads prices and stock from the database.
//!
//! Concurrent misses for one key are coalesced: when an entry expires under load, one request
//! rebuilds it and the others wait for that result instead of all hitting the database at once.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moka::future::Cache;

use crate::AppState;

/// Largest response body kept.
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
pub struct ResponseCache {
    entries: Option<Cache<String, Bytes>>,
}

impl ResponseCache {
    /// `ttl` zero disables the cache; `max_bytes` bounds the memory the bodies take.
    pub fn new(ttl: Duration, max_bytes: u64) -> Self {
        let entries = (!ttl.is_zero() && max_bytes > 0).then(|| {
            Cache::builder()
                .time_to_live(ttl)
                .weigher(|key: &String, body: &Bytes| {
                    (key.len() + body.len()).try_into().unwrap_or(u32::MAX)
                })
                .max_capacity(max_bytes)
                .build()
        });
        ResponseCache { entries }
    }

    pub fn invalidate_all(&self) {
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
    }
}

fn json_response(body: Bytes, cache: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-cache", HeaderValue::from_static(cache));
    response
}

/// A response that is not cached, in a form every coalesced waiter can rebuild.
struct Uncacheable {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Uncacheable {
    fn to_response(&self) -> Response {
        let mut response = Response::new(Body::from(self.body.clone()));
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers.clone();
        response
    }
}

/// Routes whose responses are the same for everyone. An allowlist, not a prefix: carts and
/// orders under `/api/store/` belong to one shopper and must never be served from a shared cache.
const PUBLIC_CATALOG: [&str; 3] = [
    "/api/store/products",
    "/api/store/categories",
    "/api/store/vendors/",
];

fn is_public_catalog(path: &str) -> bool {
    PUBLIC_CATALOG.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'))
    })
}

/// Serves cacheable catalog reads from the cache, and fills it on a miss.
pub async fn cache_catalog_reads(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let Some(entries) = &state.cache.entries else {
        return next.run(req).await;
    };
    if req.method() != Method::GET || !is_public_catalog(req.uri().path()) {
        return next.run(req).await;
    }
    let key = req
        .uri()
        .path_and_query()
        .map_or_else(String::new, |pq| pq.as_str().to_owned());
    if let Some(body) = entries.get(&key).await {
        return json_response(body, "hit");
    }
    let result = entries
        .try_get_with(key, async move {
            let response = next.run(req).await;
            let (parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, MAX_ENTRY_BYTES)
                .await
                .map_err(|_| Uncacheable {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    headers: HeaderMap::new(),
                    body: Bytes::new(),
                })?;
            if parts.status == StatusCode::OK {
                Ok(bytes)
            } else {
                Err(Uncacheable {
                    status: parts.status,
                    headers: parts.headers,
                    body: bytes,
                })
            }
        })
        .await;
    match result {
        Ok(body) => json_response(body, "miss"),
        Err(e) => {
            let e: Arc<Uncacheable> = e;
            if e.status == StatusCode::INTERNAL_SERVER_ERROR && e.body.is_empty() {
                return crate::error::ApiError::internal().into_response();
            }
            e.to_response()
        }
    }
}
