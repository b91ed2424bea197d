//! Generated orders for benchmarks and trials of the admin panel (`souk demo --orders N`): guest
//! orders of 1–4 lines from one or two vendors of the existing catalog, placed over the last
//! 90 days, in the statuses a running shop has (the last days' orders wait for payment or
//! shipping; older ones are shipped, completed or cancelled). Deterministic for a seed. Written straight into the order tables: no stock is
//! taken, no ledger entry, event or email is made (vendors' balances do not count them).

use souk_domain::money::Currency;
use souk_storage::orders::{GeneratedLine, GeneratedOrder, GeneratedPart, SampleVariant};
use souk_storage::{Db, now_ms, orders};
use uuid::Uuid;

use crate::generate::Rng;

/// Orders per write transaction.
const BATCH: usize = 1_000;
const DAY_MS: i64 = 24 * 3600 * 1000;
/// How many of the catalog's variants orders are made from.
const SAMPLE: i64 = 5_000;

/// Statuses by the order's age, as a running shop has them: (status, parts' status, paid?,
/// per mille). Recent orders wait for payment or shipping; old ones are done or cancelled.
type Shares = &'static [(&'static str, &'static str, bool, u64)];
const RECENT: Shares = &[
    ("pending_payment", "unfulfilled", false, 300),
    ("paid", "unfulfilled", true, 500),
    ("fulfilled", "fulfilled", true, 200),
];
const THIS_WEEK: Shares = &[
    ("pending_payment", "unfulfilled", false, 30),
    ("paid", "unfulfilled", true, 120),
    ("fulfilled", "fulfilled", true, 550),
    ("completed", "fulfilled", true, 250),
    ("cancelled", "unfulfilled", false, 50),
];
const OLDER: Shares = &[
    ("fulfilled", "fulfilled", true, 80),
    ("completed", "fulfilled", true, 850),
    ("cancelled", "unfulfilled", false, 70),
];

const FIRST: &[&str] = &[
    "ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "linus", "radia", "tim",
    "frances", "donald", "hedy", "john", "sophie", "niklaus",
];
const DOMAINS: &[&str] = &["example.com", "example.org", "mail.example", "shop.example"];
const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "10115", "DE"),
    ("Lyon", "69001", "FR"),
    ("Leeds", "LS1 1AA", "GB"),
    ("Porto", "4000-001", "PT"),
    ("Utrecht", "3511 AA", "NL"),
];

fn status(rng: &mut Rng, age_ms: i64) -> (&'static str, &'static str, bool) {
    let shares = if age_ms < 2 * DAY_MS {
        RECENT
    } else if age_ms < 7 * DAY_MS {
        THIS_WEEK
    } else {
        OLDER
    };
    let mut roll = rng.next() % 1000;
    for &(order, part, paid, share) in shares {
        if roll < share {
            return (order, part, paid);
        }
        roll -= share;
    }
    ("completed", "fulfilled", true)
}

/// The `i`th order, placed at `placed_at` (`age_ms` before now), from `variants`.
pub(crate) fn order(
    rng: &mut Rng,
    i: usize,
    placed_at: i64,
    age_ms: i64,
    variants: &[SampleVariant],
    currency: Currency,
    commission_bps: i64,
) -> GeneratedOrder {
    let id = Uuid::new_v7(uuid::Timestamp::from_unix(
        uuid::NoContext,
        (placed_at / 1000) as u64,
        ((placed_at % 1000) * 1_000_000) as u32,
    ));
    let email = format!("{}{}@{}", rng.pick(FIRST), i, rng.pick(DOMAINS));
    let (city, postal, country) = *rng.pick(CITIES);
    let address = serde_json::json!({
        "name": format!("{} Buyer", rng.pick(FIRST)), "line1": format!("{} Market St", 1 + rng.below(200)),
        "line2": null, "postal_code": postal, "city": city, "region": null, "country": country,
    });
    let (order_status, part_status, paid) = status(rng, age_ms);
    let mut lines: Vec<GeneratedLine> = (0..1 + rng.below(4))
        .map(|_| {
            let quantity = 1 + rng.below(3) as i64;
            GeneratedLine {
                variant: rng.pick(variants).clone(),
                quantity,
                shipped: if part_status == "fulfilled" {
                    quantity
                } else {
                    0
                },
            }
        })
        .collect();
    lines.sort_by_key(|l| l.variant.vendor_id);
    lines.dedup_by_key(|l| l.variant.variant_id);
    let mut parts: Vec<GeneratedPart> = Vec::new();
    for line in lines {
        let amount = line.variant.price * line.quantity;
        match parts.last_mut() {
            Some(part) if part.vendor_id == line.variant.vendor_id => {
                part.subtotal += amount;
                part.total += amount;
                part.lines.push(line);
            }
            _ => parts.push(GeneratedPart {
                id: Uuid::now_v7(),
                vendor_id: line.variant.vendor_id,
                status: part_status,
                subtotal: amount,
                shipping: 490,
                total: amount + 490,
                commission_bps,
                commission: 0,
                lines: vec![line],
            }),
        }
    }
    for part in &mut parts {
        part.commission = part.subtotal * commission_bps / 10_000;
    }
    let subtotal: i64 = parts.iter().map(|p| p.subtotal).sum();
    let shipping: i64 = parts.iter().map(|p| p.shipping).sum();
    let total = subtotal + shipping;
    GeneratedOrder {
        id,
        email,
        shipping_address: address.to_string(),
        status: order_status,
        currency: currency.code().to_owned(),
        subtotal,
        shipping,
        total,
        paid: if paid { total } else { 0 },
        placed_at,
        paid_at: paid.then_some(placed_at + 3_600_000),
        parts,
    }
}

/// Writes `count` generated orders; `progress` is called after each batch with the count so far.
pub async fn write_orders(
    db: &Db,
    currency: Currency,
    commission_bps: i64,
    count: usize,
    seed: u64,
    mut progress: impl FnMut(usize),
) -> anyhow::Result<usize> {
    let variants = orders::sample_variants(db, SAMPLE).await?;
    if variants.is_empty() {
        anyhow::bail!("no published products to order: generate a catalog first (--products N)");
    }
    let mut rng = Rng(seed ^ 0x6f72_6465_7273);
    let now = now_ms();
    let span = 90 * DAY_MS;
    let mut written = 0;
    while written < count {
        let end = (written + BATCH).min(count);
        let batch: Vec<GeneratedOrder> = (written..end)
            .map(|i| {
                // Spread evenly over the last 90 days, oldest first, so ids grow with time.
                let placed_at = now - span + span * i as i64 / count.max(1) as i64;
                let age = now - placed_at;
                order(
                    &mut rng,
                    i,
                    placed_at,
                    age,
                    &variants,
                    currency,
                    commission_bps,
                )
            })
            .collect();
        let mut tx = db.begin_write().await?;
        orders::insert_generated(&mut tx, &batch).await?;
        tx.commit().await?;
        written = end;
        progress(written);
    }
    orders::refresh_order_statistics(db).await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variants() -> Vec<SampleVariant> {
        (0..6)
            .map(|i| SampleVariant {
                variant_id: Uuid::from_u128(i),
                vendor_id: Uuid::from_u128(100 + i % 2),
                product_title: format!("P{i}"),
                variant_title: "Default".into(),
                sku: None,
                price: 1000 + i as i64,
            })
            .collect()
    }

    #[test]
    fn a_generated_order_adds_up_and_is_placed_when_its_id_says() {
        let mut rng = Rng(7);
        let placed_at = 1_796_000_000_000;
        for i in 0..200 {
            let age = (i as i64 % 30) * DAY_MS;
            let o = order(
                &mut rng,
                i,
                placed_at,
                age,
                &variants(),
                Currency::parse("EUR").unwrap(),
                1000,
            );
            let lines: i64 = o
                .parts
                .iter()
                .flat_map(|p| &p.lines)
                .map(|l| l.variant.price * l.quantity)
                .sum();
            assert_eq!(o.subtotal, lines);
            assert_eq!(o.total, o.subtotal + o.shipping);
            assert_eq!(o.parts.iter().map(|p| p.total).sum::<i64>(), o.total);
            assert!(o.parts.len() <= 2 && !o.parts.is_empty());
            assert_eq!(
                o.id.get_timestamp().unwrap().to_unix().0 as i64,
                placed_at / 1000
            );
            assert_eq!(o.paid == o.total, o.paid_at.is_some());
        }
    }
}
