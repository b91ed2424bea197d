//! One simulated shopper: browse, search, open a product, fill a cart, check out with an
//! idempotency key — retrying what a careful client may retry, and nothing else.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::stats::{Stats, Step};
use crate::generate::Rng;

/// The shop over HTTP, with the run's shared figures.
pub struct Shop {
    pub client: reqwest::Client,
    pub base: String,
    pub stats: Arc<Mutex<Stats>>,
}

/// A response that arrived.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    retry_after: Option<Duration>,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// Worth sending again unchanged: the shop or the proxy did not handle it (502/503/504).
    fn transient(&self) -> bool {
        matches!(self.status, 502..=504)
    }
}

const ATTEMPTS: u32 = 6;

fn backoff(attempt: u32, hint: Option<Duration>) -> Duration {
    let exponential = Duration::from_millis(100u64 << attempt.min(5));
    hint.unwrap_or(exponential).min(Duration::from_secs(3))
}

impl Shop {
    /// Sends one request once, timing it.
    async fn once(&self, step: Step, request: reqwest::RequestBuilder) -> Result<Answer, String> {
        let started = Instant::now();
        let response = request.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "error"
            };
            format!("{} transport {kind}", step.name())
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.json().await.unwrap_or(Value::Null);
        self.stats.lock().await.answered(step, started.elapsed());
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    /// Sends a request that may safely be repeated (a read, a new empty cart, a checkout with
    /// its idempotency key) until it gets an answer that is not transient.
    pub async fn send(
        &self,
        step: Step,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Answer, String> {
        let mut attempt = 0;
        loop {
            let result = self.once(step, build(&self.client)).await;
            let hint = match &result {
                Ok(a) if a.transient() => a.retry_after,
                // Another copy of this checkout is still running: ask again shortly.
                Ok(a) if a.status == 409 && a.code() == "request_in_progress" => {
                    Some(Duration::from_millis(200))
                }
                Ok(_) => return result,
                Err(_) => None,
            };
            attempt += 1;
            if attempt >= ATTEMPTS {
                return result;
            }
            self.stats.lock().await.retries += 1;
            tokio::time::sleep(backoff(attempt, hint)).await;
        }
    }

    async fn fail(&self, step: Step, what: Result<Answer, String>) {
        let key = match what {
            Ok(a) => format!("{} {} {}", step.name(), a.status, a.code()),
            Err(e) => e,
        };
        self.stats.lock().await.failed(key.trim_end().to_owned());
    }
}

/// What shoppers pick from, read once from the catalog before the run.
#[derive(Debug, Default)]
pub struct Catalog {
    /// (handle, id) of in-stock products.
    pub products: Vec<(String, String)>,
    /// Ids of variants that were available.
    pub variants: Vec<String>,
    pub words: Vec<String>,
    pub vendors: Vec<String>,
    pub categories: Vec<String>,
    pub price_low: i64,
    pub price_high: i64,
}

impl Catalog {
    /// The first `want` in-stock products the store lists.
    pub async fn load(shop: &Shop, want: usize) -> Result<Catalog, String> {
        let mut catalog = Catalog {
            price_low: i64::MAX,
            ..Catalog::default()
        };
        let mut cursor: Option<String> = None;
        while catalog.products.len() < want {
            let path = match &cursor {
                None => "/api/store/products?limit=100&in_stock=true".to_owned(),
                Some(c) => format!("/api/store/products?limit=100&in_stock=true&cursor={c}"),
            };
            let page = shop
                .send(Step::Browse, |c| c.get(format!("{}{path}", shop.base)))
                .await?;
            if page.status != 200 {
                return Err(format!(
                    "the catalog answered {} {} at {path}",
                    page.status,
                    page.code()
                ));
            }
            for p in page.body["items"].as_array().into_iter().flatten() {
                if catalog.products.len() >= want {
                    break;
                }
                catalog.add(p);
            }
            cursor = page.body["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        if catalog.variants.is_empty() {
            return Err("the shop lists no product in stock: nothing to buy".to_owned());
        }
        catalog.words.sort();
        catalog.words.dedup();
        catalog.vendors.sort();
        catalog.vendors.dedup();
        catalog.categories.sort();
        catalog.categories.dedup();
        Ok(catalog)
    }

    fn add(&mut self, p: &Value) {
        let (Some(handle), Some(id)) = (p["handle"].as_str(), p["id"].as_str()) else {
            return;
        };
        self.products.push((handle.to_owned(), id.to_owned()));
        for word in p["title"].as_str().unwrap_or("").split_whitespace() {
            let word: String = word.chars().filter(|c| c.is_alphanumeric()).collect();
            if word.chars().count() >= 4 {
                self.words.push(word.to_lowercase());
            }
        }
        if let Some(v) = p["vendor"]["handle"].as_str() {
            self.vendors.push(v.to_owned());
        }
        for c in p["categories"].as_array().into_iter().flatten() {
            if let Some(h) = c["handle"].as_str() {
                self.categories.push(h.to_owned());
            }
        }
        for v in p["variants"].as_array().into_iter().flatten() {
            if v["available"].as_bool() == Some(true)
                && let Some(id) = v["id"].as_str()
            {
                self.variants.push(id.to_owned());
                let price = v["price"]["amount"].as_i64().unwrap_or(0);
                self.price_low = self.price_low.min(price);
                self.price_high = self.price_high.max(price);
            }
        }
    }
}

/// An order the shop acknowledged with 201, as the shopper was told it.
#[derive(Debug, Clone)]
pub struct Acknowledged {
    pub order_id: String,
    pub key: String,
    pub total: i64,
    /// (variant id, quantity), sorted.
    pub lines: Vec<(String, i64)>,
}

pub fn order_lines(order: &Value) -> Vec<(String, i64)> {
    let mut lines: Vec<(String, i64)> = order["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| {
            Some((
                l["variant_id"].as_str()?.to_owned(),
                l["quantity"].as_i64()?,
            ))
        })
        .collect();
    lines.sort();
    lines
}

/// Everything one shopper needs, shared by all of them.
pub struct Run {
    pub shop: Shop,
    pub catalog: Catalog,
    /// A few hex digits that make this run's idempotency keys and emails its own.
    pub run_id: String,
    pub acknowledged: Mutex<Vec<Acknowledged>>,
    /// Two answers for one key that named different orders (`key: first ≠ second`).
    pub key_conflicts: Mutex<Vec<String>>,
}

impl Run {
    pub fn email(&self, shopper: u64, round: u64) -> String {
        format!("loadtest-{}-{shopper}-{round}@example.com", self.run_id)
    }

    /// One journey; a step that fails for good is counted and ends the journey.
    pub async fn journey(&self, rng: &mut Rng, shopper: u64, round: u64) {
        let shop = &self.shop;
        let base = &shop.base;
        let mut reads = vec![(Step::Browse, self.browse_path(rng))];
        if let Some(word) = (!self.catalog.words.is_empty()).then(|| rng.pick(&self.catalog.words))
        {
            let filtered = match rng.below(3) {
                0 => format!("&sort=price_asc&min_price={}", self.catalog.price_low),
                1 => "&sort=relevance".to_owned(),
                _ => String::new(),
            };
            reads.push((
                Step::Search,
                format!("/api/store/products?limit=20&q={word}{filtered}"),
            ));
        }
        let (handle, _) = rng.pick(&self.catalog.products);
        reads.push((Step::Product, format!("/api/store/products/{handle}")));
        for (step, path) in reads {
            match shop.send(step, |c| c.get(format!("{base}{path}"))).await {
                Ok(a) if a.status == 200 => {
                    // Now and then, the next page of a listing (cursor pages).
                    if step == Step::Browse
                        && rng.below(3) == 0
                        && let Some(next) = a.body["next_cursor"].as_str()
                    {
                        let sep = if path.contains('?') { '&' } else { '?' };
                        let deep = format!("{base}{path}{sep}cursor={next}");
                        if let Ok(a) = shop.send(step, |c| c.get(&deep)).await
                            && a.status != 200
                        {
                            shop.fail(step, Ok(a)).await;
                        }
                    }
                }
                Ok(a) if a.status == 429 => self.shop.stats.lock().await.throttled += 1,
                other => return shop.fail(step, other).await,
            }
        }
        self.buy(rng, shopper, round).await;
    }

    fn browse_path(&self, rng: &mut Rng) -> String {
        let c = &self.catalog;
        match rng.below(6) {
            0 if !c.vendors.is_empty() => {
                format!(
                    "/api/store/products?limit=20&vendor={}",
                    rng.pick(&c.vendors)
                )
            }
            1 if !c.categories.is_empty() => {
                format!(
                    "/api/store/products?limit=20&category={}",
                    rng.pick(&c.categories)
                )
            }
            2 => {
                // Relevance needs a query; the other orders do not.
                let sorts: Vec<_> = souk_domain::catalog::ProductSort::ALL
                    .into_iter()
                    .filter(|s| *s != souk_domain::catalog::ProductSort::Relevance)
                    .collect();
                format!(
                    "/api/store/products?limit=20&sort={}",
                    rng.pick(&sorts).as_str()
                )
            }
            3 => {
                let span = (c.price_high - c.price_low).max(1);
                let low = c.price_low + (span as f64 * rng.unit() / 2.0) as i64;
                format!(
                    "/api/store/products?limit=20&in_stock=true&min_price={low}&max_price={}",
                    low + span / 2
                )
            }
            4 => "/api/store/categories".to_owned(),
            _ => "/api/store/products?limit=20".to_owned(),
        }
    }

    async fn buy(&self, rng: &mut Rng, shopper: u64, round: u64) {
        let shop = &self.shop;
        let base = &shop.base;
        let cart = match shop
            .send(Step::Cart, |c| c.post(format!("{base}/api/store/carts")))
            .await
        {
            Ok(a) if a.status == 201 && a.body["id"].is_string() => {
                a.body["id"].as_str().unwrap_or_default().to_owned()
            }
            Ok(a) if a.status == 429 => return shop.stats.lock().await.throttled += 1,
            other => return shop.fail(Step::Cart, other).await,
        };
        let variants = &self.catalog.variants;
        let first = rng.below(variants.len());
        let mut picks = vec![(variants[first].clone(), 1 + rng.below(2) as i64)];
        if variants.len() > 1 && rng.below(2) == 0 {
            let second = (first + 1 + rng.below(variants.len() - 1)) % variants.len();
            picks.push((variants[second].clone(), 1));
        }
        for (variant, quantity) in &picks {
            if let Err(failure) = self.add_item(&cart, variant, *quantity).await {
                return shop.fail(Step::AddItem, failure).await;
            }
        }
        let key = format!("loadtest-{}-{shopper}-{round}", self.run_id);
        let body = json!({
            "email": self.email(shopper, round),
            "shipping_address": {"name": "Load Test", "line1": "1 Main St", "city": "Berlin",
                                 "postal_code": "10115", "country": "DE"},
            "payment_method": "manual",
        });
        let checkout = |c: &reqwest::Client| {
            c.post(format!("{base}/api/store/carts/{cart}/checkout"))
                .header("Idempotency-Key", &key)
                .json(&body)
        };
        let answer = match shop.send(Step::Checkout, checkout).await {
            Ok(a) if a.status == 201 => a,
            Ok(a) if a.status == 409 && a.code() == "out_of_stock" => {
                return shop.stats.lock().await.sold_out += 1;
            }
            Ok(a) if a.status == 429 => return shop.stats.lock().await.throttled += 1,
            other => return shop.fail(Step::Checkout, other).await,
        };
        let order_id = answer.body["id"].as_str().unwrap_or_default().to_owned();
        self.acknowledged.lock().await.push(Acknowledged {
            order_id: order_id.clone(),
            key: key.clone(),
            total: answer.body["total"]["amount"].as_i64().unwrap_or(-1),
            lines: order_lines(&answer.body),
        });
        shop.stats.lock().await.ordered();
        // One checkout in ten is sent again, as a client that never saw the answer would: the
        // shop must name the same order, not make a second.
        if rng.below(10) == 0 {
            match shop.send(Step::Checkout, checkout).await {
                Ok(a) if a.status == 201 => {
                    let again = a.body["id"].as_str().unwrap_or_default();
                    if again != order_id {
                        self.key_conflicts
                            .lock()
                            .await
                            .push(format!("{key}: {order_id} then {again}"));
                    }
                    shop.stats.lock().await.replays += 1;
                }
                other => shop.fail(Step::Checkout, other).await,
            }
        }
    }

    /// Adds a line. Adding is not idempotent, so after a lost answer the cart is read first and
    /// the request repeated only if the line is not there.
    async fn add_item(
        &self,
        cart: &str,
        variant: &str,
        quantity: i64,
    ) -> Result<(), Result<Answer, String>> {
        let shop = &self.shop;
        let base = &shop.base;
        let body = json!({"variant_id": variant, "quantity": quantity});
        for attempt in 0..ATTEMPTS {
            let sent = shop
                .once(
                    Step::AddItem,
                    shop.client
                        .post(format!("{base}/api/store/carts/{cart}/items"))
                        .json(&body),
                )
                .await;
            match sent {
                Ok(a) if a.status == 201 || a.status == 200 => return Ok(()),
                Ok(a) if !a.transient() => return Err(Ok(a)),
                _ if attempt + 1 == ATTEMPTS => return Err(sent),
                _ => {}
            }
            shop.stats.lock().await.retries += 1;
            tokio::time::sleep(backoff(attempt + 1, None)).await;
            let seen = shop
                .send(Step::Browse, |c| {
                    c.get(format!("{base}/api/store/carts/{cart}"))
                })
                .await;
            if let Ok(a) = &seen
                && a.status == 200
                && a.body["lines"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|l| l["variant_id"] == variant)
            {
                return Ok(());
            }
        }
        Err(Err("add_item gave up".to_owned()))
    }
}
