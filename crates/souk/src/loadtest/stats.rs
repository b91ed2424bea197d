//! What the shoppers saw: latency histograms per step, outcome counts, and the live progress
//! line (interval figures, reset at each tick).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// One kind of request a shopper makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Browse,
    Search,
    Product,
    Cart,
    AddItem,
    Checkout,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Browse,
        Step::Search,
        Step::Product,
        Step::Cart,
        Step::AddItem,
        Step::Checkout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Browse => "browse",
            Step::Search => "search",
            Step::Product => "product",
            Step::Cart => "cart",
            Step::AddItem => "add_item",
            Step::Checkout => "checkout",
        }
    }
}

/// Microseconds from 1 µs to 10 min, 3 significant digits.
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

fn percentiles(h: &Histogram<u64>) -> Value {
    let ms = |q: f64| (h.value_at_quantile(q) as f64 / 10.0).round() / 100.0;
    json!({
        "count": h.len(),
        "p50_ms": ms(0.50),
        "p95_ms": ms(0.95),
        "p99_ms": ms(0.99),
        "max_ms": (h.max() as f64 / 10.0).round() / 100.0,
    })
}

pub struct Stats {
    started: Instant,
    steps: Vec<Histogram<u64>>,
    interval: Histogram<u64>,
    interval_started: Instant,
    interval_orders: u64,
    interval_failures: u64,
    /// Orders acknowledged with 201.
    pub orders: u64,
    /// Checkouts refused because the stock ran out (409 `out_of_stock`): the shop doing its job.
    pub sold_out: u64,
    /// Requests the shop throttled (429), e.g. checkouts per client address per hour.
    pub throttled: u64,
    /// Requests sent again after a transport error, 502/503/504 or `request_in_progress`.
    pub retries: u64,
    /// Checkouts sent again with the same key on purpose, each answered with the same order.
    pub replays: u64,
    /// "step status code" (or "step transport …") → count, for requests that failed for good.
    pub failures: BTreeMap<String, u64>,
}

impl Stats {
    pub fn new() -> Self {
        let now = Instant::now();
        Stats {
            started: now,
            steps: Step::ALL.iter().map(|_| histogram()).collect(),
            interval: histogram(),
            interval_started: now,
            interval_orders: 0,
            interval_failures: 0,
            orders: 0,
            sold_out: 0,
            throttled: 0,
            retries: 0,
            replays: 0,
            failures: BTreeMap::new(),
        }
    }

    /// A response (any status) arrived after `took`.
    pub fn answered(&mut self, step: Step, took: Duration) {
        let us = (took.as_micros() as u64).clamp(1, 600_000_000);
        let _ = self.steps[step as usize].record(us);
        let _ = self.interval.record(us);
    }

    pub fn ordered(&mut self) {
        self.orders += 1;
        self.interval_orders += 1;
    }

    pub fn failed(&mut self, what: String) {
        *self.failures.entry(what).or_default() += 1;
        self.interval_failures += 1;
    }

    pub fn failed_total(&self) -> u64 {
        self.failures.values().sum()
    }

    pub fn requests(&self) -> u64 {
        self.steps.iter().map(|h| h.len()).sum()
    }

    /// The progress line for the interval since the last call, which starts a new interval.
    pub fn tick(&mut self) -> String {
        let secs = self.interval_started.elapsed().as_secs_f64().max(0.001);
        let ms = |q: f64| self.interval.value_at_quantile(q) as f64 / 1000.0;
        let line = format!(
            "{:>5.0}s  {:>6.0} req/s  {:>5.0} orders/s  p50 {:>6.1} ms  p95 {:>6.1} ms  p99 {:>6.1} ms  errors {:<4} (orders {}, sold out {}, throttled {}, retried {})",
            self.started.elapsed().as_secs_f64(),
            self.interval.len() as f64 / secs,
            self.interval_orders as f64 / secs,
            ms(0.50),
            ms(0.95),
            ms(0.99),
            self.interval_failures,
            self.orders,
            self.sold_out,
            self.throttled,
            self.retries,
        );
        self.interval.reset();
        self.interval_started = Instant::now();
        self.interval_orders = 0;
        self.interval_failures = 0;
        line
    }

    /// The whole run's figures, for the summary and `--report`.
    pub fn summary(&self) -> Value {
        let seconds = self.started.elapsed().as_secs_f64();
        let mut all = histogram();
        let mut steps = serde_json::Map::new();
        for step in Step::ALL {
            let h = &self.steps[step as usize];
            let _ = all.add(h);
            steps.insert(step.name().to_owned(), percentiles(h));
        }
        json!({
            "seconds": (seconds * 10.0).round() / 10.0,
            "requests": self.requests(),
            "requests_per_sec": (self.requests() as f64 / seconds).round(),
            "orders": self.orders,
            "orders_per_sec": ((self.orders as f64 / seconds) * 10.0).round() / 10.0,
            "latency": percentiles(&all),
            "steps": steps,
            "sold_out": self.sold_out,
            "throttled": self.throttled,
            "retries": self.retries,
            "replays": self.replays,
            "failed": self.failed_total(),
            "failures": self.failures,
        })
    }
}
