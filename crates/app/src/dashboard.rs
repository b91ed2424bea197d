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

/// How long the sales by day are reused. Summing 30 days of orders costs milliseconds at
/// 100,000 orders (it reads every order of the period), too much for every view of a page many
/// staff keep open; sales a few seconds old are fine on a dashboard. The counts of what waits
/// are read live.
const SALES_FRESH_MS: i64 = 5_000;

/// Paid orders by day: (day number, count, total).
type DaysSold = Arc<Vec<(i64, i64, i64)>>;

/// The last sales by day read, and when (Unix ms); one reader at a time refreshes them.
#[derive(Clone, Default)]
pub(crate) struct SalesCache {
    last: Arc<Mutex<Option<(i64, DaysSold)>>>,
    refresh: Arc<tokio::sync::Mutex<()>>,
}

impl SalesCache {
    fn fresh(&self, now: i64) -> Option<DaysSold> {
        let last = self.last.lock().ok()?.clone();
        last.filter(|(at, _)| {
            now - at < SALES_FRESH_MS && at.div_euclid(DAY_MS) == now.div_euclid(DAY_MS)
        })
        .map(|(_, sold)| sold)
    }

    /// The sales since `since`, read again when older than [`SALES_FRESH_MS`] or from another
    /// day. While one request reads them, the others wait for its answer instead of each
    /// summing the same month again.
    async fn get(&self, app: &App, since: i64) -> Result<DaysSold, AppError> {
        if let Some(sold) = self.fresh(now_ms()) {
            return Ok(sold);
        }
        let _refreshing = self.refresh.lock().await;
        if let Some(sold) = self.fresh(now_ms()) {
            return Ok(sold);
        }
        let sold = Arc::new(dashboard::sales_by_day(&app.db, since).await?);
        if let Ok(mut last) = self.last.lock() {
            *last = Some((now_ms(), sold.clone()));
        }
        Ok(sold)
    }
}

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
    let sold = app.sales_by_day.get(app, since).await?;
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
    pub latest: Vec<souk_storage::orders::VendorOrderDetail>,
}

const VENDOR_LATEST: i64 = 10;

/// What a vendor's home shows of its money: sales by day, balance, last payout.
struct VendorMoney {
    sold: Vec<(i64, i64, i64)>,
    balance: souk_storage::ledger::Balance,
    last_payout: Option<souk_storage::ledger::PayoutRow>,
}

/// Each vendor's home money and when it was read (Unix ms). A busy vendor's month is tens of
/// thousands of orders and its balance sums every ledger entry it has (at 100,000 orders the
/// page cost 10–20 ms), so, as on the admin home, figures a few seconds old are reused; what
/// waits to be shipped is read live, and the money page reads everything live. Bounded:
/// emptied when it holds more vendors than [`VENDOR_HOMES_KEPT`].
#[derive(Clone, Default)]
pub(crate) struct VendorHomeCache(Arc<Mutex<KeptHomes>>);

/// Each vendor's home money with when it was read.
type KeptHomes = std::collections::HashMap<uuid::Uuid, (i64, Arc<VendorMoney>)>;

const VENDOR_HOMES_KEPT: usize = 10_000;

impl VendorHomeCache {
    async fn get(
        &self,
        app: &App,
        vendor_id: uuid::Uuid,
        since: i64,
    ) -> Result<Arc<VendorMoney>, AppError> {
        let now = now_ms();
        let fresh = self.0.lock().ok().and_then(|kept| {
            kept.get(&vendor_id)
                .filter(|(at, _)| {
                    now - at < SALES_FRESH_MS && at.div_euclid(DAY_MS) == now.div_euclid(DAY_MS)
                })
                .map(|(_, money)| money.clone())
        });
        if let Some(money) = fresh {
            return Ok(money);
        }
        let money = Arc::new(VendorMoney {
            sold: dashboard::vendor_sales_by_day(&app.db, vendor_id, since).await?,
            balance: souk_storage::ledger::balance(&app.db, vendor_id)
                .await?
                .ok_or_else(|| AppError::not_found("no such vendor"))?,
            last_payout: souk_storage::ledger::payouts_page(&app.db, vendor_id, None, 1)
                .await?
                .into_iter()
                .next(),
        });
        if let Ok(mut kept) = self.0.lock() {
            if kept.len() >= VENDOR_HOMES_KEPT {
                kept.clear();
            }
            kept.insert(vendor_id, (now, money.clone()));
        }
        Ok(money)
    }
}

/// A vendor's home.
pub async fn vendor_home(app: &App, vendor_id: uuid::Uuid) -> Result<VendorHome, AppError> {
    let today = now_ms().div_euclid(DAY_MS);
    let since = (today - CHART_DAYS + 1) * DAY_MS;
    let money = app.vendor_homes.get(app, vendor_id, since).await?;
    let by_day = every_day(today, CHART_DAYS, &money.sold);
    let sales = [1, 7, 30].map(|days| last_days(&by_day, days)).to_vec();
    let balance = money.balance.clone();
    let last_payout = money.last_payout.clone();
    let latest = orders::vendor_orders(&app.db, vendor_id, None, None, VENDOR_LATEST).await?;
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
    pub products: Vec<souk_domain::catalog::Product>,
}

const FOUND_EACH: i64 = 10;

/// Orders (by the customer's email or the order id), customers (by the start of their email),
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
