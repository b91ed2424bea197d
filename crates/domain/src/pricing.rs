//! Cart pricing: subtotal, coupon discount, shipping per vendor, tax — integer minor units only.
//!
//! Rules (documented in docs/pricing.md):
//! - A coupon discount is spread over the lines in proportion to their amounts (largest
//!   remainder), so line discounts add up to the discount exactly.
//! - Tax is computed per line on the discounted line amount and rounded half-to-even to the
//!   minor unit. With tax-inclusive prices the tax is the part of the amount that is tax
//!   (`amount × rate / (1 + rate)`); with exclusive prices it is added on top.
//! - Shipping is per vendor and is not taxed.
//! - Nothing is ever negative, and `total = Σ line totals + Σ shipping`.

use std::collections::BTreeMap;

/// Basis points: 1 % = 100 bps.
pub type Bps = i64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub vendor: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub grams: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// Basis points of the subtotal (1000 = 10 %), at most 10000.
    Percent(Bps),
    /// A fixed amount off, at most the subtotal.
    Fixed(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    pub discount: Discount,
    /// The subtotal needed for the coupon to apply.
    pub min_subtotal: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShippingRate {
    Flat(i64),
    /// `amount`, or free when the vendor's subtotal (after discount) reaches `threshold`.
    FreeOver {
        amount: i64,
        threshold: i64,
    },
    /// `base` plus `per_kg` for every started kilogram.
    ByWeight {
        base: i64,
        per_kg: i64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxRule {
    pub rate: Bps,
    /// Prices already include the tax (EU style) or not (US style).
    pub inclusive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineTotals {
    /// unit price × quantity.
    pub amount: i64,
    pub discount: i64,
    pub tax: i64,
    /// What the customer pays for the line: amount − discount (+ tax when exclusive).
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartTotals {
    pub lines: Vec<LineTotals>,
    pub subtotal: i64,
    pub discount: i64,
    /// Shipping per vendor.
    pub shipping: BTreeMap<String, i64>,
    pub shipping_total: i64,
    pub tax: i64,
    pub total: i64,
    /// Why a coupon given did not apply, if it did not.
    pub coupon_rejected: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("quantities must be at least 1")]
    Quantity,
    #[error("prices must not be negative")]
    Price,
    #[error("an amount is too large (an order is at most 10^12 minor units)")]
    Overflow,
}

/// Rounds `numerator / denominator` (both ≥ 0, denominator > 0) half to even.
pub fn div_round_half_even(numerator: i128, denominator: i128) -> i128 {
    let q = numerator / denominator;
    let r = numerator % denominator;
    match (2 * r).cmp(&denominator) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// Splits `total` over `weights` in proportion, exactly (largest remainder; ties to the earlier).
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum == 0 || total == 0 {
        return vec![0; weights.len()];
    }
    let mut shares: Vec<i64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(i128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = i128::from(total) * i128::from(*w);
        shares.push((exact / sum) as i64);
        remainders.push((exact % sum, i));
    }
    let mut left = total - shares.iter().sum::<i64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders {
        if left == 0 {
            break;
        }
        shares[i] += 1;
        left -= 1;
    }
    shares
}

/// The largest total one order may have, in minor units (10^12: ten billion in a currency
/// with cents). Every input is bounded too (prices and rates ≤ 10^12, grams ≤ 10^9, quantities
/// ≤ the cart limit), so no sum over orders a shop can take in comes near `i64::MAX`.
pub const MAX_ORDER_TOTAL: i64 = 1_000_000_000_000;

/// What `rate` charges for goods worth `vendor_subtotal` weighing `grams`; `Overflow` when the
/// charge does not fit (a per-kg price times a huge weight), never a saturated number.
pub fn shipping_cost(
    rate: &ShippingRate,
    vendor_subtotal: i64,
    grams: i64,
) -> Result<i64, PricingError> {
    let cost = match *rate {
        ShippingRate::Flat(amount) => amount.max(0),
        ShippingRate::FreeOver { amount, threshold } => {
            if vendor_subtotal >= threshold {
                0
            } else {
                amount.max(0)
            }
        }
        ShippingRate::ByWeight { base, per_kg } => {
            let kilos = grams.max(0) / 1000 + i64::from(grams.max(0) % 1000 != 0);
            per_kg
                .max(0)
                .checked_mul(kilos)
                .and_then(|w| w.checked_add(base.max(0)))
                .ok_or(PricingError::Overflow)?
        }
    };
    if cost > MAX_ORDER_TOTAL {
        return Err(PricingError::Overflow);
    }
    Ok(cost)
}

/// Prices a cart. `shipping` gives each vendor's chosen rate (vendors without one ship free).
pub fn price_cart(
    lines: &[PricedLine],
    coupon: Option<&Coupon>,
    shipping: &BTreeMap<String, ShippingRate>,
    tax: Option<TaxRule>,
) -> Result<CartTotals, PricingError> {
    let mut amounts = Vec::with_capacity(lines.len());
    for l in lines {
        if l.quantity < 1 {
            return Err(PricingError::Quantity);
        }
        if l.unit_price < 0 {
            return Err(PricingError::Price);
        }
        amounts.push(
            l.unit_price
                .checked_mul(l.quantity)
                .ok_or(PricingError::Overflow)?,
        );
    }
    let subtotal = amounts
        .iter()
        .try_fold(0i64, |acc, a| acc.checked_add(*a))
        .ok_or(PricingError::Overflow)?;

    let (discount, coupon_rejected) = match coupon {
        None => (0, None),
        Some(c) if subtotal < c.min_subtotal => (0, Some("minimum_subtotal_not_reached")),
        Some(c) => {
            let d = match c.discount {
                Discount::Percent(bps) => div_round_half_even(
                    i128::from(subtotal) * i128::from(bps.clamp(0, 10_000)),
                    10_000,
                ) as i64,
                Discount::Fixed(amount) => amount.max(0),
            };
            (d.min(subtotal), None)
        }
    };
    let line_discounts = allocate(discount, &amounts);

    let mut line_totals = Vec::with_capacity(lines.len());
    let mut vendor_subtotals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut tax_total = 0i64;
    for (i, l) in lines.iter().enumerate() {
        let net = amounts[i] - line_discounts[i];
        let line_tax = match tax {
            None => 0,
            Some(TaxRule {
                rate,
                inclusive: true,
            }) => div_round_half_even(
                i128::from(net) * i128::from(rate.max(0)),
                10_000 + i128::from(rate.max(0)),
            ) as i64,
            Some(TaxRule {
                rate,
                inclusive: false,
            }) => div_round_half_even(i128::from(net) * i128::from(rate.max(0)), 10_000) as i64,
        };
        let total = match tax {
            Some(TaxRule {
                inclusive: false, ..
            }) => net.checked_add(line_tax).ok_or(PricingError::Overflow)?,
            _ => net,
        };
        tax_total = tax_total
            .checked_add(line_tax)
            .ok_or(PricingError::Overflow)?;
        let entry = vendor_subtotals.entry(l.vendor.clone()).or_insert((0, 0));
        entry.0 = entry.0.checked_add(net).ok_or(PricingError::Overflow)?;
        entry.1 = l
            .grams
            .max(0)
            .checked_mul(l.quantity)
            .and_then(|g| g.checked_add(entry.1))
            .ok_or(PricingError::Overflow)?;
        line_totals.push(LineTotals {
            amount: amounts[i],
            discount: line_discounts[i],
            tax: line_tax,
            total,
        });
    }

    let shipping_by_vendor: BTreeMap<String, i64> = vendor_subtotals
        .iter()
        .map(|(vendor, (sub, grams))| {
            let cost = match shipping.get(vendor) {
                Some(rate) => shipping_cost(rate, *sub, *grams)?,
                None => 0,
            };
            Ok((vendor.clone(), cost))
        })
        .collect::<Result<_, PricingError>>()?;
    let shipping_total = shipping_by_vendor
        .values()
        .try_fold(0i64, |a, b| a.checked_add(*b))
        .ok_or(PricingError::Overflow)?;
    let lines_total = line_totals
        .iter()
        .try_fold(0i64, |a, l| a.checked_add(l.total))
        .ok_or(PricingError::Overflow)?;
    let total = lines_total
        .checked_add(shipping_total)
        .filter(|t| *t <= MAX_ORDER_TOTAL)
        .ok_or(PricingError::Overflow)?;
    Ok(CartTotals {
        lines: line_totals,
        subtotal,
        discount,
        shipping: shipping_by_vendor,
        shipping_total,
        tax: tax_total,
        total,
        coupon_rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(vendor: &str, price: i64, qty: i64) -> PricedLine {
        PricedLine {
            vendor: vendor.into(),
            unit_price: price,
            quantity: qty,
            grams: 500,
        }
    }

    #[test]
    fn half_even_rounding() {
        assert_eq!(div_round_half_even(5, 2), 2);
        assert_eq!(div_round_half_even(7, 2), 4);
        assert_eq!(div_round_half_even(10, 4), 2);
        assert_eq!(div_round_half_even(11, 4), 3);
        assert_eq!(div_round_half_even(9, 4), 2);
    }

    #[test]
    fn allocation_is_exact_and_proportional() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(10, &[100, 300]), vec![3, 7]);
        assert_eq!(allocate(0, &[5, 5]), vec![0, 0]);
        assert_eq!(allocate(7, &[0, 0]), vec![0, 0]);
    }

    #[test]
    fn exclusive_tax_percent_coupon_and_shipping() {
        let mut shipping = BTreeMap::new();
        shipping.insert("a".to_owned(), ShippingRate::Flat(500));
        shipping.insert(
            "b".to_owned(),
            ShippingRate::FreeOver {
                amount: 700,
                threshold: 5000,
            },
        );
        let coupon = Coupon {
            discount: Discount::Percent(1000),
            min_subtotal: 0,
        };
        let t = price_cart(
            &[line("a", 1999, 2), line("b", 5000, 1)],
            Some(&coupon),
            &shipping,
            Some(TaxRule {
                rate: 800,
                inclusive: false,
            }),
        )
        .unwrap();
        assert_eq!(t.subtotal, 8998);
        assert_eq!(t.discount, 900); // 899.8 → 900
        assert_eq!(t.lines[0].discount + t.lines[1].discount, 900);
        assert_eq!(t.shipping["a"], 500);
        assert_eq!(
            t.shipping["b"], 700,
            "b's 5000 minus its share of the discount is under the threshold"
        );
        assert_eq!(t.total, t.lines.iter().map(|l| l.total).sum::<i64>() + 1200);
        assert_eq!(t.tax, t.lines.iter().map(|l| l.tax).sum::<i64>());
        // 8 % of each line's net: (3998 − 400) × 8 % = 287.84 → 288, (5000 − 500) × 8 % = 360.
        assert_eq!(
            t.lines
                .iter()
                .map(|l| (l.discount, l.tax))
                .collect::<Vec<_>>(),
            [(400, 288), (500, 360)]
        );
        assert_eq!((t.tax, t.total), (648, 8998 - 900 + 648 + 1200));
    }

    #[test]
    fn boundaries_of_prices_coupons_and_shipping() {
        // Free goods are goods.
        let t = price_cart(&[line("a", 0, 2)], None, &BTreeMap::new(), None).unwrap();
        assert_eq!(t.total, 0);
        // A coupon's minimum is inclusive.
        let coupon = Coupon {
            discount: Discount::Fixed(100),
            min_subtotal: 1000,
        };
        let t = price_cart(&[line("a", 500, 2)], Some(&coupon), &BTreeMap::new(), None).unwrap();
        assert_eq!((t.discount, t.coupon_rejected), (100, None));
        // Started kilograms: under one is one, an exact number is that number.
        let by_weight = ShippingRate::ByWeight {
            base: 0,
            per_kg: 100,
        };
        assert_eq!(shipping_cost(&by_weight, 0, 500), Ok(100));
        assert_eq!(shipping_cost(&by_weight, 0, 2000), Ok(200));
        assert_eq!(shipping_cost(&by_weight, 0, 2001), Ok(300));
        assert_eq!(shipping_cost(&by_weight, 0, 0), Ok(0));
        // The bound is inclusive.
        assert_eq!(
            shipping_cost(&ShippingRate::Flat(MAX_ORDER_TOTAL), 0, 0),
            Ok(MAX_ORDER_TOTAL)
        );
        assert_eq!(
            shipping_cost(&ShippingRate::Flat(MAX_ORDER_TOTAL + 1), 0, 0),
            Err(PricingError::Overflow)
        );
    }

    #[test]
    fn inclusive_tax_is_contained_in_the_price() {
        let t = price_cart(
            &[line("a", 1190, 1)],
            None,
            &BTreeMap::new(),
            Some(TaxRule {
                rate: 1900,
                inclusive: true,
            }),
        )
        .unwrap();
        assert_eq!((t.tax, t.total), (190, 1190));
    }

    #[test]
    fn coupons_respect_minimums_and_never_exceed_the_subtotal() {
        let fixed = Coupon {
            discount: Discount::Fixed(10_000),
            min_subtotal: 0,
        };
        let t = price_cart(&[line("a", 300, 1)], Some(&fixed), &BTreeMap::new(), None).unwrap();
        assert_eq!((t.discount, t.total), (300, 0));
        let min = Coupon {
            discount: Discount::Fixed(100),
            min_subtotal: 5000,
        };
        let t = price_cart(&[line("a", 300, 1)], Some(&min), &BTreeMap::new(), None).unwrap();
        assert_eq!(
            (t.discount, t.coupon_rejected),
            (0, Some("minimum_subtotal_not_reached"))
        );
    }

    #[test]
    fn weight_based_shipping_counts_started_kilograms() {
        let mut shipping = BTreeMap::new();
        shipping.insert(
            "a".to_owned(),
            ShippingRate::ByWeight {
                base: 300,
                per_kg: 100,
            },
        );
        let t = price_cart(&[line("a", 100, 3)], None, &shipping, None).unwrap(); // 1.5 kg → 2 kg
        assert_eq!(t.shipping["a"], 500);
    }

    #[test]
    fn bad_lines_are_refused() {
        assert_eq!(
            price_cart(&[line("a", 100, 0)], None, &BTreeMap::new(), None),
            Err(PricingError::Quantity)
        );
        assert_eq!(
            price_cart(&[line("a", -1, 1)], None, &BTreeMap::new(), None),
            Err(PricingError::Price)
        );
        assert_eq!(
            price_cart(&[line("a", i64::MAX, 2)], None, &BTreeMap::new(), None),
            Err(PricingError::Overflow)
        );
    }

    fn arb_line() -> impl Strategy<Value = PricedLine> {
        (
            prop::sample::select(vec!["a", "b", "c"]),
            0i64..1_000_000,
            1i64..50,
            0i64..5000,
        )
            .prop_map(|(v, p, q, g)| PricedLine {
                vendor: v.to_owned(),
                unit_price: p,
                quantity: q,
                grams: g,
            })
    }

    fn arb_coupon() -> impl Strategy<Value = Option<Coupon>> {
        prop_oneof![
            Just(None),
            (0i64..=10_000, 0i64..100_000).prop_map(|(bps, min)| Some(Coupon {
                discount: Discount::Percent(bps),
                min_subtotal: min
            })),
            (0i64..10_000_000, 0i64..100_000).prop_map(|(amt, min)| Some(Coupon {
                discount: Discount::Fixed(amt),
                min_subtotal: min
            })),
        ]
    }

    proptest! {
        #[test]
        fn totals_are_consistent(
            lines in prop::collection::vec(arb_line(), 1..12),
            coupon in arb_coupon(),
            rate in 0i64..3000,
            inclusive in any::<bool>(),
            flat in 0i64..2000,
        ) {
            let mut shipping = BTreeMap::new();
            shipping.insert("a".to_owned(), ShippingRate::Flat(flat));
            shipping.insert("b".to_owned(), ShippingRate::FreeOver { amount: flat, threshold: 50_000 });
            shipping.insert("c".to_owned(), ShippingRate::ByWeight { base: flat, per_kg: 150 });
            let t = price_cart(&lines, coupon.as_ref(), &shipping, Some(TaxRule { rate, inclusive })).unwrap();
            prop_assert!(t.total >= 0 && t.tax >= 0 && t.discount >= 0 && t.shipping_total >= 0);
            prop_assert!(t.discount <= t.subtotal);
            prop_assert_eq!(t.lines.iter().map(|l| l.discount).sum::<i64>(), t.discount);
            prop_assert_eq!(t.lines.iter().map(|l| l.amount).sum::<i64>(), t.subtotal);
            prop_assert_eq!(t.lines.iter().map(|l| l.tax).sum::<i64>(), t.tax);
            prop_assert_eq!(t.lines.iter().map(|l| l.total).sum::<i64>() + t.shipping_total, t.total);
            for l in &t.lines {
                prop_assert!(l.discount <= l.amount && l.total >= 0);
            }
            if inclusive {
                prop_assert_eq!(t.total, t.subtotal - t.discount + t.shipping_total);
            } else {
                prop_assert_eq!(t.total, t.subtotal - t.discount + t.tax + t.shipping_total);
            }
        }

        /// Any inputs, however large: pricing never panics and never saturates. It either
        /// gives exact totals within the order bound or says `Overflow`.
        #[test]
        fn extreme_inputs_give_exact_totals_or_overflow(
            prices in prop::collection::vec(0i64..=i64::MAX, 1..4),
            quantities in prop::collection::vec(1i64..=i64::MAX, 4),
            grams in 0i64..=i64::MAX,
            base in 0i64..=i64::MAX,
            per_kg in 0i64..=i64::MAX,
            rate in 0i64..=i64::MAX / 20_000,
            inclusive in any::<bool>(),
        ) {
            let lines: Vec<PricedLine> = prices
                .iter()
                .zip(&quantities)
                .map(|(p, q)| PricedLine { vendor: "a".into(), unit_price: *p, quantity: *q, grams })
                .collect();
            let mut shipping = BTreeMap::new();
            shipping.insert("a".to_owned(), ShippingRate::ByWeight { base, per_kg });
            match price_cart(&lines, None, &shipping, Some(TaxRule { rate, inclusive })) {
                Ok(t) => {
                    prop_assert!(t.total <= MAX_ORDER_TOTAL && t.total >= 0);
                    prop_assert!(t.total != i64::MAX);
                    let exact: i128 = t.lines.iter().map(|l| i128::from(l.total)).sum::<i128>()
                        + i128::from(t.shipping_total);
                    prop_assert_eq!(exact, i128::from(t.total));
                    let kilos = i128::from(grams) * lines.iter().map(|l| i128::from(l.quantity)).sum::<i128>();
                    let kilos = (kilos + 999) / 1000;
                    prop_assert_eq!(i128::from(t.shipping_total), i128::from(base) + i128::from(per_kg) * kilos);
                }
                Err(e) => prop_assert_eq!(e, PricingError::Overflow),
            }
        }
    }

    #[test]
    fn a_huge_per_kg_price_overflows_instead_of_saturating() {
        let mut shipping = BTreeMap::new();
        shipping.insert(
            "a".to_owned(),
            ShippingRate::ByWeight {
                base: 0,
                per_kg: 1_000_000_000_000,
            },
        );
        let heavy = PricedLine {
            vendor: "a".into(),
            unit_price: 100,
            quantity: 1000,
            grams: 1_000_000_000,
        };
        assert_eq!(
            price_cart(&[heavy], None, &shipping, None),
            Err(PricingError::Overflow)
        );
    }
}
