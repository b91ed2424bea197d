//! A per-instance cache of public catalog responses (`GET /api/store/…`).
//!
//! Storefront traffic is dominated by a few identical reads (the first page of a category, a
//! popular product). Caching their serialized bytes for a short time lets one instance serve
//! them at close to the machine's ceiling. Bounded staleness is the price: a response lives at
//! most `ttl` (default 1 s), and writes made through this instance invalidate everything at
//! once (the use cases signal `catalog_changed`), as do other instances' on PostgreSQL. The
//! time-to-live is the net for what is not signalled (`souk import` in another process, a lost
//! notice): such a write shows up within `ttl` in the API's responses and within twice `ttl`
//! in the storefront's pages (see [`ResponseCache::data`]). Only 200 responses of public,
//! unauthenticated routes are cached; checkout always re-reads prices and stock from the
//! database.
//!
//! Concurrent misses for one key are coalesced: when an entry expires under load, one request
//! rebuilds it and the others wait for that result instead of all hitting the database at once.
//! The storefront's data and pages have lifetimes staggered at random (up to a quarter
//! shorter), so that the few hot entries made together do not all expire together; the API's
//! responses keep the whole `ttl` (reads spread over many keys are not made together, and a
//! shorter life would only mean fewer hits).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moka::future::Cache;

use crate::AppState;

/// Largest response body kept.
const MAX_ENTRY_BYTES: usize = 1024 * 1024;

/// A cached body with the headers that describe it (its content coding, if compressed).
#[derive(Clone)]
struct Entry {
    body: Bytes,
    encoding: Option<HeaderValue>,
}

#[derive(Clone)]
pub struct ResponseCache {
    entries: Option<Cache<String, Entry>>,
    /// What the storefront's pages are made from (a product, a list page, the category tree)
    /// and the pages shared by shoppers without a cart, under the same budget and emptied with
    /// the responses. Fresh for the time-to-live; for one more, still served while the first
    /// request to find it stale has it loaded again in the background, so a popular page never
    /// waits for the database.
    data: Option<Cache<String, Datum>>,
    ttl: Duration,
    /// Part of every key, and moved on by [`ResponseCache::invalidate_all`]: a load that began
    /// before an invalidation and ends after it (a read of the old catalog) is stored under a
    /// key nobody asks for any more, instead of being served until it expires.
    generation: Arc<AtomicU64>,
    /// Reloads running in the background, at most [`BACKGROUND_RELOADS`]. When all are taken, a
    /// stale value is served without starting another: unbounded, they queued before the
    /// requests that found nothing (random product pages at 100,000 products, where nearly
    /// every request found its datum stale: p99 33 → 66 ms), and past its second time-to-live
    /// an entry is gone and loaded by the request that needs it.
    reloads: Arc<tokio::sync::Semaphore>,
}

/// How many stale values are loaded again at once in the background.
const BACKGROUND_RELOADS: usize = 2;

/// `ttl` less up to a quarter of it, at random. Entries made together (after a change, or at
/// start) would otherwise all expire at once, every `ttl`, and all be loaded again together: a
/// burst of database reads that every request then queues behind.
fn staggered(ttl: Duration) -> Duration {
    let fraction = f64::from(getrandom::u32().unwrap_or(0)) / f64::from(u32::MAX);
    ttl.mul_f64(1.0 - fraction / 4.0)
}

/// A datum's lifetime: its own.
struct Kept;

impl<K> moka::Expiry<K, Datum> for Kept {
    fn expire_after_create(&self, _: &K, datum: &Datum, _: Instant) -> Option<Duration> {
        Some(datum.kept_for)
    }

    /// A reloaded datum lives its own lifetime (by default an update keeps the old one's end,
    /// and the entry then expired right after its reload, making every request wait for a load).
    fn expire_after_update(
        &self,
        _: &K,
        datum: &Datum,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(datum.kept_for)
    }
}

/// A cached value of any type, with the bytes it is reckoned to take.
#[derive(Clone)]
struct Datum {
    value: Arc<dyn std::any::Any + Send + Sync>,
    weight: u32,
    /// Until when it is served as it is; after that, one request loads it again.
    fresh_until: Instant,
    /// How long it is kept from when it was made: fresh, then stale for up to `ttl`.
    kept_for: Duration,
    /// Taken by the request that loads it again.
    reloading: Arc<AtomicBool>,
}

/// The right to load a stale datum again, given back when dropped.
struct Reloading(Arc<AtomicBool>);

impl Drop for Reloading {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Datum {
    fn new(value: Arc<dyn std::any::Any + Send + Sync>, bytes: usize, ttl: Duration) -> Self {
        let fresh_for = staggered(ttl);
        Datum {
            value,
            weight: u32::try_from(bytes).unwrap_or(u32::MAX),
            fresh_until: Instant::now() + fresh_for,
            kept_for: fresh_for + ttl,
            reloading: Arc::default(),
        }
    }

    fn of<T: Send + Sync + 'static>(&self) -> Arc<T> {
        // A key names one type of value: its loader's.
        self.value
            .clone()
            .downcast::<T>()
            .unwrap_or_else(|_| panic!("a cached value of another type"))
    }
}

impl ResponseCache {
    /// `ttl` zero disables the cache; `max_bytes` bounds the memory the bodies take.
    pub fn new(ttl: Duration, max_bytes: u64) -> Self {
        let entries = (!ttl.is_zero() && max_bytes > 0).then(|| {
            Cache::builder()
                .time_to_live(ttl)
                .weigher(|key: &String, entry: &Entry| {
                    (key.len() + entry.body.len())
                        .try_into()
                        .unwrap_or(u32::MAX)
                })
                .max_capacity(max_bytes)
                .build()
        });
        let data = (!ttl.is_zero() && max_bytes > 0).then(|| {
            Cache::builder()
                .expire_after(Kept)
                .weigher(|key: &String, datum: &Datum| {
                    u32::try_from(key.len())
                        .unwrap_or(u32::MAX)
                        .saturating_add(datum.weight)
                })
                .max_capacity(max_bytes)
                .build()
        });
        ResponseCache {
            entries,
            data,
            ttl,
            generation: Arc::default(),
            reloads: Arc::new(tokio::sync::Semaphore::new(BACKGROUND_RELOADS)),
        }
    }

    /// Whether anything is kept (a time-to-live and a budget were given).
    pub fn is_on(&self) -> bool {
        self.data.is_some()
    }

    /// `key` in the current generation.
    fn key(&self, key: &str) -> String {
        format!("{}\n{key}", self.generation.load(Ordering::Acquire))
    }

    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.invalidate_all();
        }
        if let Some(data) = &self.data {
            data.invalidate_all();
        }
    }

    /// The value under `key`, made by the future `load` gives on a miss (concurrent misses
    /// wait for one load); that future also says how many bytes the value takes, roughly. A
    /// stale value is served as it is, and the first request to find it stale starts loading
    /// it again in the background, unless [`BACKGROUND_RELOADS`] are running already (a failed
    /// load keeps the old one). With the cache off, `load`
    /// runs every time. A failed load is not kept.
    ///
    /// Nobody waits for a reload: a request that did would wait its turn on the runtime at every
    /// read (one core shared by the 64 connections of the benchmark), and those few requests
    /// were the slowest one in a hundred of a cached page (p99 17 ms against 6 ms when nothing
    /// expired).
    pub async fn data<T, E, F>(
        &self,
        key: String,
        load: impl FnOnce() -> F,
    ) -> Result<Arc<T>, Arc<E>>
    where
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
        F: std::future::Future<Output = Result<(T, usize), E>> + Send + 'static,
    {
        let Some(data) = &self.data else {
            return load().await.map(|(v, _)| Arc::new(v)).map_err(Arc::new);
        };
        let key = self.key(&key);
        if let Some(old) = data.get(&key).await {
            let permit = (old.fresh_until <= Instant::now())
                .then(|| self.reloads.clone().try_acquire_owned().ok())
                .flatten();
            if let Some(permit) = permit
                && !old.reloading.swap(true, Ordering::AcqRel)
            {
                // Given back however this ends (a failed load, or the runtime shutting down),
                // so a later request tries again; a failed load leaves the old value until it
                // expires (the database's errors are logged where they happen).
                let reloading = Reloading(old.reloading.clone());
                let (data, ttl, load) = (data.clone(), self.ttl, load());
                tokio::spawn(async move {
                    let _held = (reloading, permit);
                    if let Ok((value, bytes)) = load.await {
                        data.insert(key, Datum::new(Arc::new(value), bytes, ttl))
                            .await;
                    }
                });
            }
            return Ok(old.of());
        }
        let datum = data
            .try_get_with(key, async {
                load()
                    .await
                    .map(|(value, bytes)| Datum::new(Arc::new(value), bytes, self.ttl))
            })
            .await?;
        Ok(datum.of())
    }
}

fn json_response(entry: Entry, cache: &'static str) -> Response {
    let mut response = Response::new(Body::from(entry.body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-cache", HeaderValue::from_static(cache));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Some(encoding) = entry.encoding {
        headers.insert(header::CONTENT_ENCODING, encoding);
    }
    response
}

/// Empties `cache` whenever another instance says it changed the catalog (PostgreSQL), until
/// `stop` turns true. Also when the listening connection was lost for a while (notices may have
/// been missed); while the database cannot be reached it tries again every second, and the
/// cache's time-to-live keeps staleness bounded meanwhile. Listens before it returns (call it
/// before serving): a change made after that is never missed, and nothing cached later is
/// emptied by a late first connection. Returns the task that follows.
pub async fn follow_other_instances(
    db: souk_storage::Db,
    cache: ResponseCache,
    me: uuid::Uuid,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    use souk_storage::catalog::notices::CatalogListener;
    if cache.entries.is_none() || db.backend() != souk_storage::Backend::Postgres {
        return tokio::spawn(async {});
    }
    let mut first = match CatalogListener::listen(&db, me).await {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for the other instances' catalog changes; retrying");
            None
        }
    };
    tokio::spawn(async move {
        let listen = async {
            loop {
                let mut listener = match first.take() {
                    Some(listener) => listener,
                    None => match CatalogListener::listen(&db, me).await {
                        Ok(Some(listener)) => {
                            // Changes made while nobody was listening.
                            cache.invalidate_all();
                            listener
                        }
                        Ok(None) => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot listen for the other instances' catalog changes; retrying");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            continue;
                        }
                    },
                };
                while listener.next().await.is_ok() {
                    cache.invalidate_all();
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        };
        tokio::select! {
            () = listen => {}
            _ = stop.wait_for(|stopped| *stopped) => {}
        }
    })
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
const PUBLIC_CATALOG: [&str; 4] = [
    "/api/store/products",
    "/api/store/facets",
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
    // Kept compressed as sent (the cache sits outside compression, so a hit costs no
    // compression): one entry per query and `Accept-Encoding`, which decides the coding.
    let accepts = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let key = state.cache.key(&format!(
        "{}\n{accepts}",
        req.uri().path_and_query().map_or("", |pq| pq.as_str())
    ));
    if let Some(entry) = entries.get(&key).await {
        return json_response(entry, "hit");
    }
    let result = entries.try_get_with(key, fill(req, next)).await;
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

/// Runs the request on a miss: a 200 becomes the entry, anything else is passed on uncached.
async fn fill(req: Request, next: Next) -> Result<Entry, Uncacheable> {
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
        Ok(Entry {
            body: bytes,
            encoding: parts.headers.get(header::CONTENT_ENCODING).cloned(),
        })
    } else {
        Err(Uncacheable {
            status: parts.status,
            headers: parts.headers,
            body: bytes,
        })
    }
}

/// `Cache-Control` of public catalog responses: browsers and shared caches may reuse one for
/// 5 s, and for 30 s more while they revalidate it in the background (a price change reaches a
/// shopper within 35 s at most; checkout always reads the live price).
pub const CATALOG_CACHE_CONTROL: &str = "public, max-age=5, stale-while-revalidate=30";

/// HTTP caching of public catalog responses: a strong `ETag` (a digest of the bytes sent, so
/// each content coding has its own), `Cache-Control`, and `304 Not Modified` without a body
/// when the client's `If-None-Match` names the current version.
pub async fn http_caching(req: Request, next: Next) -> Response {
    if !matches!(*req.method(), Method::GET | Method::HEAD) || !is_public_catalog(req.uri().path())
    {
        return next.run(req).await;
    }
    let if_none_match = req.headers().get(header::IF_NONE_MATCH).cloned();
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_ENTRY_BYTES * 2).await else {
        return crate::error::ApiError::internal().into_response();
    };
    let etag = etag_of(&bytes);
    parts.headers.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header value"),
    );
    parts.headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CATALOG_CACHE_CONTROL),
    );
    if if_none_match.is_some_and(|v| names(&v, &etag)) {
        let mut not_modified = Response::new(Body::empty());
        *not_modified.status_mut() = StatusCode::NOT_MODIFIED;
        for name in [header::ETAG, header::CACHE_CONTROL, header::VARY] {
            if let Some(v) = parts.headers.get(&name) {
                not_modified.headers_mut().insert(name, v.clone());
            }
        }
        return not_modified;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// A strong entity tag: 128 bits of the body's SHA-256.
fn etag_of(body: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether an `If-None-Match` value names `etag` (`*`, or a list compared weakly, as RFC 9110
/// prescribes for this header).
fn names(if_none_match: &HeaderValue, etag: &str) -> bool {
    let Ok(text) = if_none_match.to_str() else {
        return false;
    };
    text.split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_names_an_etag_in_a_list_weakly_or_by_star() {
        let etag = etag_of(b"{}");
        assert_eq!(etag.len(), 34);
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(names(&v(&etag), &etag));
        assert!(names(&v(&format!("\"x\", W/{etag}")), &etag));
        assert!(names(&v("*"), &etag));
        assert!(!names(&v("\"other\""), &etag));
        assert_ne!(etag_of(b"{}"), etag_of(b"[]"));
    }

    /// A load that must not happen.
    async fn not_loaded() -> Result<(u32, usize), ()> {
        panic!("loaded again")
    }

    #[tokio::test]
    async fn a_stale_value_is_served_at_once_and_loaded_again_in_the_background() {
        let ttl = Duration::from_millis(200);
        let cache = ResponseCache::new(ttl, 1 << 20);
        let first = cache.data("k".into(), || async { Ok::<_, ()>((1u32, 8)) });
        assert_eq!(*first.await.unwrap(), 1);
        assert_eq!(*cache.data("k".into(), not_loaded).await.unwrap(), 1);
        // Past its freshness (at most `ttl`), still kept (at least ¾ `ttl` + `ttl`).
        tokio::time::sleep(ttl + Duration::from_millis(10)).await;
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let loads = Arc::new(AtomicU64::new(0));
        let load = {
            let loads = loads.clone();
            || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                released.await.ok();
                Ok::<_, ()>((2u32, 8))
            }
        };
        // The request that finds it stale is served the old value without waiting for the load
        // it started (which waits to be released), and the next ones start no other.
        let served = tokio::time::timeout(Duration::from_secs(1), cache.data("k".into(), load));
        assert_eq!(*served.await.expect("not waiting for the load").unwrap(), 1);
        assert_eq!(*cache.data("k".into(), not_loaded).await.unwrap(), 1);
        release.send(()).unwrap();
        let mut now = 1;
        for _ in 0..100 {
            now = *cache.data("k".into(), not_loaded).await.unwrap();
            if now == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!((now, loads.load(Ordering::SeqCst)), (2, 1));
        // A failed reload keeps the old value and gives back its turn.
        tokio::time::sleep(ttl + Duration::from_millis(10)).await;
        let failed = cache.data("k".into(), || async { Err::<(u32, usize), ()>(()) });
        assert_eq!(*failed.await.unwrap(), 2);
        let mut again = 0;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let next = cache.data("k".into(), || async { Ok::<_, ()>((3u32, 8)) });
            assert!(matches!(*next.await.unwrap(), 2 | 3));
            again = *cache.data("k".into(), not_loaded).await.unwrap();
            if again == 3 {
                break;
            }
        }
        assert_eq!(again, 3, "a later request loaded it again");
        // Emptied: loaded again at once.
        cache.invalidate_all();
        let after = cache.data("k".into(), || async { Ok::<_, ()>((4u32, 8)) });
        assert_eq!(*after.await.unwrap(), 4);
    }

    #[tokio::test]
    async fn when_every_background_reload_is_taken_a_stale_value_is_served_without_another() {
        let ttl = Duration::from_millis(100);
        let cache = ResponseCache::new(ttl, 1 << 20);
        let keys: Vec<String> = (0..=BACKGROUND_RELOADS).map(|i| format!("k{i}")).collect();
        for key in &keys {
            let made = cache.data(key.clone(), || async { Ok::<_, ()>((1u32, 8)) });
            assert_eq!(*made.await.unwrap(), 1);
        }
        tokio::time::sleep(ttl + Duration::from_millis(10)).await;
        // Reloads that wait to be released take every permit…
        let (release, released) = tokio::sync::watch::channel(false);
        for key in &keys[..BACKGROUND_RELOADS] {
            let mut released = released.clone();
            let load = || async move {
                released.wait_for(|r| *r).await.ok();
                Ok::<_, ()>((2u32, 8))
            };
            assert_eq!(*cache.data(key.clone(), load).await.unwrap(), 1);
        }
        // …so the last stale key is served as it is, and nothing loads it.
        let last = keys[BACKGROUND_RELOADS].clone();
        assert_eq!(*cache.data(last.clone(), not_loaded).await.unwrap(), 1);
        release.send(true).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        // Permits given back: the next request to find it stale has it loaded again.
        let next = cache.data(last.clone(), || async { Ok::<_, ()>((3u32, 8)) });
        assert_eq!(*next.await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(*cache.data(last, not_loaded).await.unwrap(), 3);
    }
}
