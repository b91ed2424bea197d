//! `souk loadtest URL`: the shop owner's own proof that the shop holds. Simulated shoppers
//! browse, search, open products, fill carts and check out (with idempotency keys) against any
//! Souk deployment for a bounded time and number of orders, with a live progress line; then an
//! audit through the admin API checks that every acknowledged order exists with its totals,
//! that no idempotency key made two orders, and that stock was conserved and never negative.
//! The last line is the verdict; the exit code is non-zero when it fails.

mod audit;
mod shopper;
mod stats;
mod target;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::cli::LoadtestArgs;
use crate::generate::Rng;
use shopper::{Catalog, Run, Shop};
use stats::Stats;

pub async fn run(args: LoadtestArgs) -> anyhow::Result<ExitCode> {
    let target = match target::check(&args.url, args.i_own_this_host).await {
        Ok(t) => t,
        Err(why) => {
            eprintln!("error: {why}");
            return Ok(ExitCode::from(2));
        }
    };
    let admin_key = match (&args.admin_key, args.no_audit) {
        (Some(k), _) => Some(k.clone()),
        (None, true) => None,
        (None, false) => {
            eprintln!(
                "error: the audit needs a platform admin's API key (scope admin:read): pass \
                 --admin-key or set SOUK_LOADTEST_ADMIN_KEY, or skip the audit with --no-audit"
            );
            return Ok(ExitCode::from(2));
        }
    };
    let client = souk_payments::https_client_builder()
        .map_err(|e| anyhow!(e))?
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.shoppers as usize + 16)
        .build()
        .context("building the HTTP client")?;
    let shop = Shop {
        client,
        base: target.base.clone(),
        stats: Arc::new(Mutex::new(Stats::new())),
    };
    let catalog = Catalog::load(&shop, args.products as usize)
        .await
        .map_err(|e| anyhow!("reading {}: {e}", target.base))?;
    let product_ids: Vec<String> = catalog.products.iter().map(|(_, id)| id.clone()).collect();
    let baseline = match &admin_key {
        Some(key) => Some(
            audit::baseline(&shop, key, &product_ids)
                .await
                .map_err(|e| anyhow!("before the run: {e}"))?,
        ),
        None => None,
    };
    let mut seed = Rng(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1));
    let run_id = format!("{:08x}", seed.next() as u32);
    eprintln!(
        "load test {run_id}: {} shoppers for {} s (at most {} orders) against {}; buying from {} products ({} variants)",
        args.shoppers,
        args.duration.as_secs(),
        args.max_orders,
        target.base,
        catalog.products.len(),
        catalog.variants.len()
    );
    // Counters restart now: the catalog read and the baseline are not part of the load.
    *shop.stats.lock().await = Stats::new();
    let run = Arc::new(Run {
        shop,
        catalog,
        run_id: run_id.clone(),
        acknowledged: Mutex::new(Vec::new()),
        key_conflicts: Mutex::new(Vec::new()),
    });

    let deadline = Instant::now() + args.duration;
    let stop = Arc::new(AtomicBool::new(false));
    let mut shoppers = tokio::task::JoinSet::new();
    for n in 0..args.shoppers {
        let (run, stop) = (run.clone(), stop.clone());
        let mut rng = Rng(seed.next());
        let max_orders = args.max_orders;
        shoppers.spawn(async move {
            let mut round = 0;
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                run.journey(&mut rng, n, round).await;
                round += 1;
                if run.shop.stats.lock().await.orders >= max_orders {
                    stop.store(true, Ordering::Relaxed);
                }
            }
        });
    }
    let progress = tokio::spawn(show_progress(run.clone(), deadline));
    while let Some(done) = shoppers.join_next().await {
        done.context("a shopper task failed")?;
    }
    progress.abort();
    let summary = run.shop.stats.lock().await.summary();
    print_summary(&summary);

    let acknowledged = run.acknowledged.lock().await.clone();
    let conflicts = run.key_conflicts.lock().await.clone();
    let audit = match (&admin_key, &baseline) {
        (Some(key), Some(before)) => {
            eprintln!(
                "auditing {} acknowledged orders through the admin API…",
                acknowledged.len()
            );
            let shop = Arc::new(Shop {
                client: run.shop.client.clone(),
                base: run.shop.base.clone(),
                stats: Arc::new(Mutex::new(Stats::new())),
            });
            Some(
                audit::audit(shop, key, &product_ids, before, &acknowledged, &conflicts)
                    .await
                    .map_err(|e| anyhow!("audit: {e}"))?,
            )
        }
        _ => None,
    };

    let failed = summary["failed"].as_u64().unwrap_or(0);
    let mut problems: Vec<String> = audit.iter().flat_map(|a| a.violations.clone()).collect();
    if admin_key.is_none() {
        problems.extend(
            conflicts
                .iter()
                .map(|c| format!("one idempotency key, two orders: {c}")),
        );
    }
    if failed > 0 {
        problems.push(format!(
            "{failed} requests failed after every retry a client may make"
        ));
    }
    let passed = problems.is_empty();
    let verdict = verdict_line(passed, &summary, audit.as_ref(), &problems);
    if let Some(path) = &args.report {
        let report = json!({
            "target": target.base,
            "run_id": run_id,
            "shoppers": args.shoppers,
            "duration_seconds": args.duration.as_secs(),
            "max_orders": args.max_orders,
            "load": summary,
            "audit": audit.as_ref().map(audit::Audit::to_json),
            "problems": problems,
            "verdict": if passed { "pass" } else { "fail" },
        });
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing the report to {}", path.display()))?;
    }
    for p in &problems {
        println!("  problem: {p}");
    }
    println!("{verdict}");
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn show_progress(run: Arc<Run>, deadline: Instant) {
    // A terminal gets a line a second; a log file one every five seconds.
    let every = if std::io::stderr().is_terminal() {
        1
    } else {
        5
    };
    let mut ticks = tokio::time::interval(Duration::from_secs(every));
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let line = run.shop.stats.lock().await.tick();
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        eprintln!("{line}  [{left} s left]");
    }
}

fn print_summary(s: &Value) {
    println!(
        "{} requests in {} s ({} req/s); {} orders ({} orders/s); latency p50 {} ms, p95 {} ms, p99 {} ms",
        s["requests"],
        s["seconds"],
        s["requests_per_sec"],
        s["orders"],
        s["orders_per_sec"],
        s["latency"]["p50_ms"],
        s["latency"]["p95_ms"],
        s["latency"]["p99_ms"]
    );
    for (step, h) in s["steps"].as_object().into_iter().flatten() {
        println!(
            "  {step:<9} {:>8} requests  p50 {:>7} ms  p95 {:>7} ms  p99 {:>7} ms  max {:>7} ms",
            h["count"], h["p50_ms"], h["p95_ms"], h["p99_ms"], h["max_ms"]
        );
    }
    println!(
        "  sold out {}, throttled (429) {}, retried {}, replayed checkouts {}, failed {}",
        s["sold_out"], s["throttled"], s["retries"], s["replays"], s["failed"]
    );
    for (what, n) in s["failures"].as_object().into_iter().flatten() {
        println!("    {n} × {what}");
    }
}

fn verdict_line(
    passed: bool,
    s: &Value,
    audit: Option<&audit::Audit>,
    problems: &[String],
) -> String {
    if !passed {
        return format!(
            "verdict: FAIL — {} problem(s), listed above",
            problems.len()
        );
    }
    match audit {
        Some(a) => format!(
            "verdict: PASS — {} acknowledged orders all present with their totals, one order per \
             idempotency key, stock conserved on {} variants, none negative; no request failed",
            a.orders_checked, a.variants_checked
        ),
        None => format!(
            "verdict: PASS (not audited) — {} orders acknowledged; no request failed",
            s["orders"]
        ),
    }
}
