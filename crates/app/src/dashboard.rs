//! What a platform admin sees first: what waits for someone, sales over the last day, week and
//! month, and the latest orders.

use std::sync::{Arc, Mutex};

use souk_storage::dashboard::{self, Waiting};
use souk_storage::now_ms;
use souk_storage::orders::{self, OrderFilter, OrderRow};

use crate::{App, AppError};

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Paid orders and their sum over a period ending now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sales {
    pub days: i64,
    pub orders: i64,
    /// Minor units of the shop's currency.
    pub total: i64,
}

/// Paid orders placed on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DaySales {
    /// Midnight UTC starting the day (Unix ms).
    pub day_ms: i64,
    pub orders: i64,
    pub total: i64,
}

pub struct AdminHome {
    pub waiting: Waiting,
    /// Today, the last 7 and the last 30 days (UTC calendar days, today included).
    pub sales: Vec<Sales>,
    /// The last 30 days, oldest first, days without sales included.
    pub by_day: Vec<DaySales>,
    pub latest: Vec<OrderRow>,
}

/// The days of the chart.
const CHART_DAYS: i64 = 30;

/// How long the home pages' money figures are reused. Summing 30 days of orders costs
/// milliseconds at 100,000 orders (it reads every order of the period), too much for every view
/// of a page many staff keep open; sales a few seconds old are fine on a dashboard. The counts
/// of what waits are read live.
const SALES_FRESH_MS: i64 = 5_000;

/// At most this many keys (vendors) are kept; beyond, the kept figures are dropped.
const REUSED_KEPT: usize = 10_000;

/// Figures recomputed at most every [`SALES_FRESH_MS`] and on a new UTC day, per key. One
/// request at a time recomputes a key's figures: while it does, the others get the previous
/// ones if they are from today, or wait for its answer. Without that, every request arriving
/// while the figures are stale sums the same month again (64 at once at 100,000 orders made a
/// vendor's home take 1.5 s).
pub(crate) struct Reused<K, V>(Arc<Mutex<std::collections::HashMap<K, Kept<V>>>>);

impl<K, V> Default for Reused<K, V> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K, V> Clone for Reused<K, V> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// One key's figures, when they were read (Unix ms), and the lock of whoever refreshes them.
struct Kept<V> {
    last: Option<(i64, Arc<V>)>,
    refresh: Arc<tokio::sync::Mutex<()>>,
}

/// What [`Reused`] holds of a key now: its figures if fresh, its figures if from today, and
/// the lock of whoever refreshes them.
struct Looked<V> {
    fresh: Option<Arc<V>>,
    today: Option<Arc<V>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
}

fn same_day(a: i64, b: i64) -> bool {
    a.div_euclid(DAY_MS) == b.div_euclid(DAY_MS)
}

impl<K: std::hash::Hash + Eq + Clone, V> Reused<K, V> {
    /// The kept figures of `key` and its refresh lock.
    fn kept(&self, key: &K, now: i64) -> Looked<V> {
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= REUSED_KEPT && !kept.contains_key(key) {
            kept.clear();
        }
        let entry = kept.entry(key.clone()).or_insert_with(|| Kept {
            last: None,
            refresh: Arc::default(),
        });
        let today = entry
            .last
            .as_ref()
            .filter(|(at, _)| same_day(*at, now))
            .map(|(at, v)| (*at, v.clone()));
        let fresh = today
            .as_ref()
            .filter(|(at, _)| now - at < SALES_FRESH_MS)
            .map(|(_, v)| v.clone());
        Looked {
            fresh,
            today: today.map(|(_, v)| v),
            refresh: entry.refresh.clone(),
        }
    }

    /// `key`'s figures, computed by `read` when none are fresh (see the type).
    async fn get<F, Fut>(&self, key: K, read: F) -> Result<Arc<V>, AppError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, AppError>>,
    {
        let Looked {
            fresh,
            today,
            refresh,
        } = self.kept(&key, now_ms());
        if let Some(v) = fresh {
            return Ok(v);
        }
        let _refreshing = match (refresh.try_lock(), today) {
            (Ok(guard), _) => guard,
            (Err(_), Some(v)) => return Ok(v),
            (Err(_), None) => {
                let guard = refresh.lock().await;
                if let Some(v) = self.kept(&key, now_ms()).fresh {
                    return Ok(v);
                }
                guard
            }
        };
        let value = Arc::new(read().await?);
        let mut kept = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = kept.get_mut(&key) {
            entry.last = Some((now_ms(), value.clone()));
        }
        Ok(value)
    }
}

/// Paid orders by day: (day number, count, total).
pub(crate) type SalesCache = Reused<(), Vec<(i64, i64, i64)>>;

/// `days` UTC days ending today, oldest first, from the days that had sales.
fn every_day(today: i64, days: i64, sold: &[(i64, i64, i64)]) -> Vec<DaySales> {
    (today - days + 1..=today)
        .map(|day| {
            let (orders, total) = sold
                .iter()
                .find(|(d, ..)| *d == day)
                .map_or((0, 0), |(_, o, t)| (*o, *t));
            DaySales {
                day_ms: day * DAY_MS,
                orders,
                total,
            }
        })
        .collect()
}

/// The sums of the last `days` days of `by_day`.
fn last_days(by_day: &[DaySales], days: i64) -> Sales {
    let skip = by_day.len().saturating_sub(days as usize);
    let (orders, total) = by_day[skip..].iter().fold((0i64, 0i64), |(o, t), d| {
        (o.saturating_add(d.orders), t.saturating_add(d.total))
    });
    Sales {
        days,
        orders,
        total,
    }
}

pub async fn admin_home(app: &App) -> Result<AdminHome, AppError> {
    let today = now_ms().div_euclid(DAY_MS);
    let since = (today - CHART_DAYS + 1) * DAY_MS;
    let sold = app
        .sales_by_day
        .get((), || async {
            Ok(dashboard::sales_by_day(&app.db, since).await?)
        })
        .await?;
    let by_day = every_day(today, CHART_DAYS, &sold);
    let sales = [1, 7, 30].map(|days| last_days(&by_day, days)).to_vec();
    let latest = orders::list(
        &app.db,
        &OrderFilter {
            user_id: None,
            status: None,
            query: None,
            before: None,
            limit: 10,
            ..Default::default()
        },
    )
    .await?;
    Ok(AdminHome {
        waiting: dashboard::waiting(&app.db).await?,
        sales,
        by_day,
        latest,
    })
}

/// What a vendor sees first: what waits for it, its sales, its money and its latest orders.
pub struct VendorHome {
    pub waiting: dashboard::VendorWaiting,
    /// Today, the last 7 and the last 30 days of its parts of paid orders.
    pub sales: Vec<Sales>,
    /// The last 30 days, oldest first, days without sales included.
    pub by_day: Vec<DaySales>,
    pub balance: souk_storage::ledger::Balance,
    /// Its latest payout, if it had one.
    pub last_payout: Option<souk_storage::ledger::PayoutRow>,
    pub latest: Vec<souk_storage::orders::VendorOrderSummary>,
}

const VENDOR_LATEST: i64 = 10;

/// What a vendor's home shows of its money: sales by day, balance, last payout.
pub(crate) struct VendorMoney {
    sold: Vec<(i64, i64, i64)>,
    balance: souk_storage::ledger::Balance,
    last_payout: Option<souk_storage::ledger::PayoutRow>,
}

/// Each vendor's home money, reused like the admin's sales ([`Reused`]). A busy vendor's month
/// is tens of thousands of orders and its balance sums every ledger entry it has (at 100,000
/// orders the page cost 10–20 ms); what waits to be shipped is read live, and the money page
/// reads everything live.
pub(crate) type VendorHomeCache = Reused<uuid::Uuid, VendorMoney>;

async fn vendor_money(
    app: &App,
    vendor_id: uuid::Uuid,
    since: i64,
) -> Result<VendorMoney, AppError> {
    Ok(VendorMoney {
        sold: dashboard::vendor_sales_by_day(&app.db, vendor_id, since).await?,
        balance: souk_storage::ledger::balance(&app.db, vendor_id)
            .await?
            .ok_or_else(|| AppError::not_found("no such vendor"))?,
        last_payout: souk_storage::ledger::payouts_page(&app.db, vendor_id, None, 1)
            .await?
            .into_iter()
            .next(),
    })
}

/// A vendor's home.
pub async fn vendor_home(app: &App, vendor_id: uuid::Uuid) -> Result<VendorHome, AppError> {
    let today = now_ms().div_euclid(DAY_MS);
    let since = (today - CHART_DAYS + 1) * DAY_MS;
    let money = app
        .vendor_homes
        .get(vendor_id, || vendor_money(app, vendor_id, since))
        .await?;
    let by_day = every_day(today, CHART_DAYS, &money.sold);
    let sales = [1, 7, 30].map(|days| last_days(&by_day, days)).to_vec();
    let balance = money.balance.clone();
    let last_payout = money.last_payout.clone();
    let latest =
        orders::vendor_order_summaries(&app.db, vendor_id, None, None, VENDOR_LATEST).await?;
    Ok(VendorHome {
        waiting: dashboard::vendor_waiting(&app.db, vendor_id).await?,
        sales,
        by_day,
        balance,
        last_payout,
        latest,
    })
}

/// What the admin panel's search box finds, a few of each.
pub struct Found {
    pub orders: Vec<OrderRow>,
    pub customers: Vec<souk_storage::customers::CustomerRow>,
    pub vendors: Vec<souk_storage::vendors::VendorAdminRecord>,
    pub products: Vec<souk_storage::catalog::ProductSummary>,
}

const FOUND_EACH: i64 = 10;

/// Orders (by the customer's email, the order number or the order id), customers (by the start of their email),
/// vendors (by name or handle) and products (by words) matching `text`.
pub async fn search(app: &App, text: &str) -> Result<Found, AppError> {
    let text: String = text.trim().chars().take(200).collect();
    if text.is_empty() {
        return Ok(Found {
            orders: Vec::new(),
            customers: Vec::new(),
            vendors: Vec::new(),
            products: Vec::new(),
        });
    }
    let lower = text.to_lowercase();
    let orders = orders::list(
        &app.db,
        &OrderFilter {
            query: Some(lower.clone()),
            limit: FOUND_EACH,
            ..Default::default()
        },
    )
    .await?;
    let customers = souk_storage::customers::list(&app.db, Some(&lower), None, FOUND_EACH).await?;
    let vendors = souk_storage::vendors::search(&app.db, &text, FOUND_EACH).await?;
    let products = souk_storage::catalog::all_products(
        &app.db,
        &souk_storage::catalog::ProductFilter {
            search: Some(text.clone()),
            limit: FOUND_EACH,
            ..Default::default()
        },
    )
    .await?;
    Ok(Found {
        orders,
        customers,
        vendors,
        products,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A read that takes a while and counts how often it ran.
    async fn slow_read(reads: &AtomicUsize, value: u32) -> Result<u32, AppError> {
        reads.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(value)
    }

    #[tokio::test]
    async fn many_asking_at_once_for_figures_nobody_has_read_share_one_read() {
        let reused: Reused<u8, u32> = Reused::default();
        let reads = Arc::new(AtomicUsize::new(0));
        let mut asks = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (reused, reads) = (reused.clone(), reads.clone());
            asks.spawn(async move { *reused.get(7, || slow_read(&reads, 42)).await.unwrap() });
        }
        let answers = asks.join_all().await;
        assert_eq!(answers, vec![42; 20]);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Fresh now: no read at all.
        assert_eq!(*reused.get(7, || slow_read(&reads, 1)).await.unwrap(), 42);
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stale_figures_from_today_are_answered_while_one_request_reads_them_again() {
        let reused: Reused<u8, u32> = Reused::default();
        let reads = AtomicUsize::new(0);
        let _ = reused.kept(&7, now_ms());
        let stale_at = now_ms() - SALES_FRESH_MS - 1;
        if !same_day(stale_at, now_ms()) {
            return; // Just after midnight UTC: yesterday's figures are never reused.
        }
        reused.0.lock().unwrap().get_mut(&7).unwrap().last = Some((stale_at, Arc::new(1)));
        let refreshing = reused.get(7, || slow_read(&reads, 2));
        let meanwhile = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            reused.get(7, || slow_read(&reads, 3)).await
        };
        let (refreshed, meanwhile) = tokio::join!(refreshing, meanwhile);
        assert_eq!(*refreshed.unwrap(), 2);
        assert_eq!(*meanwhile.unwrap(), 1, "the stale figures, without waiting");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        assert_eq!(*reused.get(7, || slow_read(&reads, 4)).await.unwrap(), 2);
    }

    #[test]
    fn the_chart_has_every_day_and_the_periods_add_up_its_days() {
        let today = 20_000;
        let sold = [(today - 29, 1, 500), (today - 6, 2, 1_000), (today, 3, 250)];
        let by_day = every_day(today, 30, &sold);
        assert_eq!(by_day.len(), 30);
        assert_eq!(by_day[0].day_ms, (today - 29) * DAY_MS);
        assert_eq!(by_day[0].orders, 1);
        assert_eq!(by_day[1].orders, 0);
        assert_eq!(
            last_days(&by_day, 1),
            Sales {
                days: 1,
                orders: 3,
                total: 250
            }
        );
        assert_eq!(
            last_days(&by_day, 7),
            Sales {
                days: 7,
                orders: 5,
                total: 1_250
            }
        );
        assert_eq!(
            last_days(&by_day, 30),
            Sales {
                days: 30,
                orders: 6,
                total: 1_750
            }
        );
    }
}
