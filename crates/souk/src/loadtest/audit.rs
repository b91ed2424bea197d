//! The invariants audit, through the admin API: every acknowledged order exists with its
//! totals, one order per idempotency key, stock conserved per variant, no negative stock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::shopper::{Acknowledged, Shop, order_lines};
use super::stats::Step;

/// What the shop held before the first shopper started.
pub struct Baseline {
    /// The newest order then (orders are listed newest first; the audit reads back to it).
    newest_order: Option<String>,
    /// variant id → (stock, tracks inventory), for every variant of the products shoppers buy.
    stock: BTreeMap<String, (i64, bool)>,
}

/// The audit's findings.
pub struct Audit {
    pub orders_placed: usize,
    pub orders_checked: usize,
    pub variants_checked: usize,
    pub violations: Vec<String>,
}

impl Audit {
    pub fn to_json(&self) -> Value {
        json!({
            "orders_placed_during_run": self.orders_placed,
            "acknowledged_orders_checked": self.orders_checked,
            "variants_checked": self.variants_checked,
            "violations": self.violations,
        })
    }
}

struct Admin<'a> {
    shop: &'a Shop,
    key: &'a str,
}

impl Admin<'_> {
    async fn get(&self, path: &str) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.shop.base);
        let answer = self
            .shop
            .send(Step::Browse, |c| c.get(&url).bearer_auth(self.key))
            .await?;
        match answer.status {
            401 | 403 => Err(format!(
                "the admin API refused the key ({} {}): the audit needs a platform admin's key with admin:read",
                answer.status,
                answer.code()
            )),
            s => Ok((s, answer.body)),
        }
    }

    async fn get_ok(&self, path: &str) -> Result<Value, String> {
        match self.get(path).await? {
            (200, body) => Ok(body),
            (status, body) => Err(format!("GET {path} answered {status}: {body}")),
        }
    }

    /// Every variant of these products with its stock.
    async fn stock(&self, product_ids: &[String]) -> Result<BTreeMap<String, (i64, bool)>, String> {
        let mut stock = BTreeMap::new();
        for product in product_ids {
            let mut cursor = String::new();
            loop {
                let page = self
                    .get_ok(&format!(
                        "/api/admin/inventory?limit=100&product_id={product}{cursor}"
                    ))
                    .await?;
                for item in page["items"].as_array().into_iter().flatten() {
                    if let (Some(id), Some(n)) =
                        (item["variant_id"].as_str(), item["stock"].as_i64())
                    {
                        let tracked = item["track_inventory"].as_bool().unwrap_or(true);
                        stock.insert(id.to_owned(), (n, tracked));
                    }
                }
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = format!("&cursor={next}"),
                    None => break,
                }
            }
        }
        Ok(stock)
    }
}

pub async fn baseline(shop: &Shop, key: &str, product_ids: &[String]) -> Result<Baseline, String> {
    let admin = Admin { shop, key };
    let newest = admin.get_ok("/api/admin/orders?limit=1").await?;
    Ok(Baseline {
        newest_order: newest["items"][0]["id"].as_str().map(str::to_owned),
        stock: admin.stock(product_ids).await?,
    })
}

/// One order as the admin API shows it.
struct Placed {
    email: String,
    status: String,
    total: i64,
    lines: Vec<(String, i64)>,
}

pub async fn audit(
    shop: Arc<Shop>,
    key: &str,
    product_ids: &[String],
    before: &Baseline,
    acknowledged: &[Acknowledged],
    key_conflicts: &[String],
) -> Result<Audit, String> {
    let admin = Admin { shop: &shop, key };
    let mut violations: Vec<String> = key_conflicts
        .iter()
        .map(|c| format!("one idempotency key, two orders: {c}"))
        .collect();

    // Every order placed since the baseline, newest first.
    let mut ids = Vec::new();
    let mut cursor = String::new();
    'pages: loop {
        let page = admin
            .get_ok(&format!("/api/admin/orders?limit=100{cursor}"))
            .await?;
        for item in page["items"].as_array().into_iter().flatten() {
            let id = item["id"].as_str().unwrap_or_default();
            if before.newest_order.as_deref() == Some(id) {
                break 'pages;
            }
            ids.push(id.to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let placed = details(&shop, key, &ids).await?;

    // Acknowledged orders: present, with the total and lines the shopper was told.
    for ack in acknowledged {
        let Some(order) = placed.get(&ack.order_id) else {
            let (status, _) = admin
                .get(&format!("/api/admin/orders/{}", ack.order_id))
                .await?;
            violations.push(format!(
                "acknowledged order {} (key {}) is missing: the admin API answers {status}",
                ack.order_id, ack.key
            ));
            continue;
        };
        if order.total != ack.total || order.lines != ack.lines {
            violations.push(format!(
                "order {} changed: acknowledged total {} with lines {:?}, now total {} with lines {:?}",
                ack.order_id, ack.total, ack.lines, order.total, order.lines
            ));
        }
    }

    // One order per idempotency key: each key used its own email.
    let mut per_email: HashMap<&str, usize> = HashMap::new();
    for order in placed.values() {
        if order.email.starts_with("loadtest-") {
            *per_email.entry(order.email.as_str()).or_default() += 1;
        }
    }
    for (email, n) in per_email.into_iter().filter(|(_, n)| *n > 1) {
        violations.push(format!("{n} orders for the one checkout of {email}"));
    }

    // Stock conservation: what left each variant is what the orders still standing took.
    let mut taken: HashMap<&str, i64> = HashMap::new();
    for order in placed.values().filter(|o| o.status != "cancelled") {
        for (variant, quantity) in &order.lines {
            *taken.entry(variant.as_str()).or_default() += quantity;
        }
    }
    let after = admin.stock(product_ids).await?;
    let mut variants_checked = 0;
    for (variant, (was, tracked)) in &before.stock {
        let Some((now, _)) = after.get(variant) else {
            violations.push(format!("variant {variant} disappeared during the run"));
            continue;
        };
        if *now < 0 {
            violations.push(format!("variant {variant} has negative stock {now}"));
        }
        if !tracked {
            continue;
        }
        variants_checked += 1;
        let took = taken.get(variant.as_str()).copied().unwrap_or(0);
        if was - now != took {
            violations.push(format!(
                "variant {variant}: stock went from {was} to {now} ({} units) but orders took {took}",
                was - now
            ));
        }
    }
    let negative = admin
        .get_ok("/api/admin/inventory?max_stock=-1&limit=10")
        .await?;
    for item in negative["items"].as_array().into_iter().flatten() {
        violations.push(format!(
            "variant {} has negative stock {}",
            item["variant_id"].as_str().unwrap_or("?"),
            item["stock"]
        ));
    }
    violations.dedup();
    Ok(Audit {
        orders_placed: ids.len(),
        orders_checked: acknowledged.len(),
        variants_checked,
        violations,
    })
}

/// Each order's detail, 16 requests at a time.
async fn details(
    shop: &Arc<Shop>,
    key: &str,
    ids: &[String],
) -> Result<HashMap<String, Placed>, String> {
    let mut placed = HashMap::new();
    for chunk in ids.chunks(16) {
        let mut tasks = tokio::task::JoinSet::new();
        for id in chunk {
            let (shop, key, id) = (shop.clone(), key.to_owned(), id.clone());
            tasks.spawn(async move {
                let admin = Admin {
                    shop: &shop,
                    key: &key,
                };
                let order = admin.get_ok(&format!("/api/admin/orders/{id}")).await?;
                Ok::<_, String>((
                    id,
                    Placed {
                        email: order["email"].as_str().unwrap_or_default().to_owned(),
                        status: order["status"].as_str().unwrap_or_default().to_owned(),
                        total: order["total"]["amount"].as_i64().unwrap_or(-1),
                        lines: order_lines(&order),
                    },
                ))
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (id, order) = done.map_err(|e| format!("audit task: {e}"))??;
            placed.insert(id, order);
        }
    }
    Ok(placed)
}
