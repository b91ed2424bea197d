//! What a platform admin sees first: what waits for someone, sales over the last day, week and
//! month, and the latest orders.

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

pub struct AdminHome {
    pub waiting: Waiting,
    /// The last 1, 7 and 30 days.
    pub sales: Vec<Sales>,
    pub latest: Vec<OrderRow>,
}

pub async fn admin_home(app: &App) -> Result<AdminHome, AppError> {
    let now = now_ms();
    let mut sales = Vec::with_capacity(3);
    for days in [1, 7, 30] {
        let (orders, total) = dashboard::sales_since(&app.db, now - days * DAY_MS).await?;
        sales.push(Sales {
            days,
            orders,
            total,
        });
    }
    let latest = orders::list(
        &app.db,
        &OrderFilter {
            user_id: None,
            status: None,
            query: None,
            before: None,
            limit: 10,
        },
    )
    .await?;
    Ok(AdminHome {
        waiting: dashboard::waiting(&app.db).await?,
        sales,
        latest,
    })
}
