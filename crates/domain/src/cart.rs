//! A cart priced: each line checked (for sale, in stock over all lines of its variant), the
//! coupon if usable now, each vendor's chosen (or cheapest) shipping option, the destination's
//! tax, and each vendor's part of the totals; then the order it becomes ([`plan_order`]). Pure:
//! storage reads a cart into [`CartPricing`] at one moment, and the cart page, the cart API and
//! checkout all price it here.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::orders::{CouponLimits, commission};
use crate::pricing::{
    CartTotals, Coupon, PricedLine, PricingError, ShippingRate, TaxRule, price_cart, shipping_cost,
};

/// One cart line as it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub variant_id: Uuid,
    pub vendor_id: Uuid,
    pub vendor_name: String,
    /// The variant's current price, per unit.
    pub unit_price: i64,
    pub quantity: i64,
    /// Weight per unit.
    pub grams: i64,
    pub stock: i64,
    pub track_inventory: bool,
    /// Published, its vendor active, priced in the cart's currency.
    pub for_sale: bool,
    /// The vendor's own commission rate, if it has one.
    pub commission_bps: Option<i64>,
}

/// One of a vendor's shipping options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShippingOption {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub name: String,
    pub rate: ShippingRate,
    /// The shopper chose it for this cart.
    pub chosen: bool,
}

/// The coupon on a cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CartCoupon {
    None,
    /// A code was entered that matches no coupon.
    Unknown,
    Known {
        coupon: Coupon,
        limits: CouponLimits,
    },
}

/// Everything that prices a cart, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartPricing {
    pub lines: Vec<CartLine>,
    /// The shipping options of the cart's vendors.
    pub options: Vec<ShippingOption>,
    pub coupon: CartCoupon,
    /// The destination's tax rule, if any.
    pub tax: Option<TaxRule>,
    /// How often the cart's email already used its coupon.
    pub customer_coupon_uses: i64,
}

/// Why a line cannot be bought as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineProblem {
    /// The product is not published, its vendor not active, or it is priced in another currency.
    Unavailable,
    /// Fewer units in stock than the cart asks for (over all lines of the variant).
    InsufficientStock { available: i64 },
}

/// One vendor's part of a priced cart.
#[derive(Debug, Clone)]
pub struct VendorQuote {
    pub vendor_id: Uuid,
    pub vendor_name: String,
    /// The chosen option, or the cheapest when none was chosen; `None`: the vendor has no
    /// shipping options set up and ships for free.
    pub rate: Option<ShippingOption>,
    pub shipping: i64,
    /// What shipping rules see: the vendor's line amounts after the coupon's discount.
    pub shipping_basis: i64,
    /// The vendor's lines' weight.
    pub grams: i64,
    /// Σ line amounts after discount.
    pub goods: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    pub commission_bps: i64,
}

#[derive(Debug, Clone)]
pub struct Quote {
    pub totals: CartTotals,
    pub vendors: Vec<VendorQuote>,
    /// Per line (same order as the cart's lines).
    pub problems: Vec<Option<LineProblem>>,
    /// Why the cart's coupon does not apply, if it does not (a stable code).
    pub coupon_rejection: Option<&'static str>,
}

/// Prices a cart as it stands at `now`: the coupon if it is usable now, each vendor's chosen
/// (or cheapest) shipping option, the destination's tax rule; vendors without a rate of their
/// own pay `default_commission_bps`.
pub fn quote(
    s: &CartPricing,
    now: i64,
    default_commission_bps: i64,
) -> Result<Quote, PricingError> {
    let mut per_variant: BTreeMap<Uuid, i64> = BTreeMap::new();
    for l in &s.lines {
        *per_variant.entry(l.variant_id).or_default() += l.quantity;
    }
    let problems = s
        .lines
        .iter()
        .map(|l| {
            if !l.for_sale {
                Some(LineProblem::Unavailable)
            } else if l.track_inventory && per_variant[&l.variant_id] > l.stock {
                Some(LineProblem::InsufficientStock { available: l.stock })
            } else {
                None
            }
        })
        .collect();
    let priced: Vec<PricedLine> = s
        .lines
        .iter()
        .map(|l| PricedLine {
            vendor: l.vendor_id.to_string(),
            unit_price: l.unit_price,
            quantity: l.quantity,
            grams: l.grams,
        })
        .collect();

    let (coupon, coupon_rejection) = match &s.coupon {
        CartCoupon::None => (None, None),
        CartCoupon::Unknown => (None, Some("coupon_not_found")),
        CartCoupon::Known { coupon, limits } => match limits.check(now, s.customer_coupon_uses) {
            Ok(()) => (Some(coupon.clone()), None),
            Err(r) => (None, Some(r.code())),
        },
    };

    // Vendors in cart order, with their goods (replaced below by the discounted amount) and weight.
    let mut vendors: Vec<(Uuid, String, i64, i64, i64)> = Vec::new();
    for l in &s.lines {
        let overflow = || PricingError::Overflow;
        let amount = l.unit_price.checked_mul(l.quantity).ok_or_else(overflow)?;
        let grams = l.grams.checked_mul(l.quantity).ok_or_else(overflow)?;
        match vendors.iter_mut().find(|v| v.0 == l.vendor_id) {
            Some(v) => {
                v.2 = v.2.checked_add(amount).ok_or_else(overflow)?;
                v.3 = v.3.checked_add(grams).ok_or_else(overflow)?;
            }
            None => vendors.push((
                l.vendor_id,
                l.vendor_name.clone(),
                amount,
                grams,
                l.commission_bps.unwrap_or(default_commission_bps),
            )),
        }
    }
    let tax = s.tax;
    // Shipping rules (a free-over threshold) apply to the goods after the coupon, as charged:
    // price once without shipping to learn each vendor's discounted goods, then pick options.
    let unshipped = price_cart(&priced, coupon.as_ref(), &BTreeMap::new(), tax)?;
    for v in &mut vendors {
        v.2 = s
            .lines
            .iter()
            .zip(&unshipped.lines)
            .filter(|(l, _)| l.vendor_id == v.0)
            .map(|(_, t)| t.amount - t.discount)
            .sum();
    }
    let mut chosen: BTreeMap<Uuid, ShippingOption> = BTreeMap::new();
    for (vendor_id, _, goods, grams, _) in &vendors {
        let options: Vec<&ShippingOption> = s
            .options
            .iter()
            .filter(|r| r.vendor_id == *vendor_id)
            .collect();
        let pick = options.iter().find(|r| r.chosen).or_else(|| {
            options
                .iter()
                // An option whose cost does not fit sorts last (pricing then refuses it).
                .min_by_key(|r| shipping_cost(&r.rate, *goods, *grams).unwrap_or(i64::MAX))
        });
        if let Some(rate) = pick {
            chosen.insert(*vendor_id, (*rate).clone());
        }
    }
    let shipping: BTreeMap<String, ShippingRate> = chosen
        .iter()
        .map(|(v, r)| (v.to_string(), r.rate.clone()))
        .collect();
    // With tax-inclusive prices a line's amount contains its tax; commission is on goods only.
    let tax_in_amount = tax.is_some_and(|t| t.inclusive);
    let mut totals = price_cart(&priced, coupon.as_ref(), &shipping, tax)?;
    let coupon_rejection = coupon_rejection.or(totals.coupon_rejected);
    if totals.coupon_rejected.is_some() {
        totals.coupon_rejected = None;
    }

    let vendor_quotes = vendors
        .into_iter()
        .map(
            |(vendor_id, vendor_name, shipping_basis, grams, commission_bps)| {
                let key = vendor_id.to_string();
                let (mut goods, mut discount, mut tax, mut lines_total) = (0i64, 0i64, 0i64, 0i64);
                for (l, t) in s.lines.iter().zip(&totals.lines) {
                    if l.vendor_id == vendor_id {
                        goods += t.amount - t.discount - if tax_in_amount { t.tax } else { 0 };
                        discount += t.discount;
                        tax += t.tax;
                        lines_total += t.total;
                    }
                }
                let shipping = totals.shipping.get(&key).copied().unwrap_or(0);
                VendorQuote {
                    vendor_id,
                    vendor_name,
                    rate: chosen.get(&vendor_id).cloned(),
                    shipping,
                    shipping_basis,
                    grams,
                    goods,
                    discount,
                    tax,
                    total: lines_total + shipping,
                    commission_bps,
                }
            },
        )
        .collect();
    Ok(Quote {
        totals,
        vendors: vendor_quotes,
        problems,
        coupon_rejection,
    })
}

/// Stock at or below which a vendor is told (once, by the order that crosses it). The partial
/// indexes `variants_low_stock` and `variants_low_stock_product` (storage migrations 0018 and
/// 0028) repeat it: change them together.
pub const LOW_STOCK_THRESHOLD: i64 = 5;

/// Whether an order that took `taken` units, leaving `left`, took the variant down to the
/// low-stock threshold (it was above it before).
pub fn crossed_low_stock(left: i64, taken: i64) -> bool {
    left <= LOW_STOCK_THRESHOLD && left + taken > LOW_STOCK_THRESHOLD
}

/// Units wanted per stock-tracked variant over all lines, in variant id order: the order
/// checkout takes stock in, so concurrent checkouts never wait on each other in a circle.
pub fn tracked_units(lines: &[CartLine]) -> BTreeMap<Uuid, i64> {
    let mut wanted: BTreeMap<Uuid, i64> = BTreeMap::new();
    for l in lines.iter().filter(|l| l.track_inventory) {
        *wanted.entry(l.variant_id).or_default() += l.quantity;
    }
    wanted
}

/// Why a priced cart cannot become an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotOrderable {
    /// Lines that are not for sale (their indexes).
    Unavailable(Vec<usize>),
    /// The cart's coupon cannot be used (a stable code).
    Coupon(&'static str),
}

/// An order's amounts as it is placed: its totals, one part per vendor (in cart order) and
/// each line's share. Storage writes it with ids and the lines' titles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPlan {
    pub subtotal: i64,
    pub discount: i64,
    pub shipping_total: i64,
    pub tax: i64,
    pub total: i64,
    pub parts: Vec<PartPlan>,
    /// Per cart line, in cart order.
    pub lines: Vec<LinePlan>,
}

impl OrderPlan {
    /// Nothing to pay (a full discount, free shipping): the order is paid as placed, so it
    /// ships and is never cancelled as unpaid.
    pub fn nothing_to_pay(&self) -> bool {
        self.total == 0
    }
}

/// One vendor's part of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartPlan {
    pub vendor_id: Uuid,
    pub vendor_name: String,
    /// The goods after discount, without tax.
    pub subtotal: i64,
    pub discount: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    /// The name of the shipping option it ships with.
    pub shipping_option: Option<String>,
    pub commission_bps: i64,
    /// The platform's share of `total`; the vendor earns the rest.
    pub commission: i64,
}

/// One order line's amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePlan {
    /// Index of its vendor's part in [`OrderPlan::parts`].
    pub part: usize,
    pub unit_price: i64,
    pub quantity: i64,
    pub amount: i64,
    pub discount: i64,
    pub tax: i64,
    pub total: i64,
    /// Its units come out of stock (and go back if the order is cancelled).
    pub stock_reserved: bool,
}

/// The order a priced cart becomes, or why it cannot: every line must be for sale and the
/// coupon usable. (Stock is not judged here: checkout takes it with conditional updates.)
pub fn plan_order(cart: &CartPricing, quote: &Quote) -> Result<OrderPlan, NotOrderable> {
    let unavailable: Vec<usize> = quote
        .problems
        .iter()
        .enumerate()
        .filter_map(|(i, p)| (*p == Some(LineProblem::Unavailable)).then_some(i))
        .collect();
    if !unavailable.is_empty() {
        return Err(NotOrderable::Unavailable(unavailable));
    }
    if let Some(code) = quote.coupon_rejection {
        return Err(NotOrderable::Coupon(code));
    }
    let parts: Vec<PartPlan> = quote
        .vendors
        .iter()
        .map(|v| PartPlan {
            vendor_id: v.vendor_id,
            vendor_name: v.vendor_name.clone(),
            subtotal: v.goods,
            discount: v.discount,
            shipping: v.shipping,
            tax: v.tax,
            total: v.total,
            shipping_option: v.rate.as_ref().map(|r| r.name.clone()),
            commission_bps: v.commission_bps,
            commission: commission(v.goods, v.commission_bps, v.total),
        })
        .collect();
    let lines = cart
        .lines
        .iter()
        .zip(&quote.totals.lines)
        .map(|(l, t)| LinePlan {
            part: parts
                .iter()
                .position(|p| p.vendor_id == l.vendor_id)
                .expect("every line's vendor has a part"),
            unit_price: l.unit_price,
            quantity: l.quantity,
            amount: t.amount,
            discount: t.discount,
            tax: t.tax,
            total: t.total,
            stock_reserved: l.track_inventory,
        })
        .collect();
    let totals = &quote.totals;
    Ok(OrderPlan {
        subtotal: totals.subtotal,
        discount: totals.discount,
        shipping_total: totals.shipping_total,
        tax: totals.tax,
        total: totals.total,
        parts,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::pricing::Discount;

    fn vendor(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn line(variant: u128, vendor_n: u128, unit_price: i64, quantity: i64) -> CartLine {
        CartLine {
            variant_id: Uuid::from_u128(1000 + variant),
            vendor_id: vendor(vendor_n),
            vendor_name: format!("vendor {vendor_n}"),
            unit_price,
            quantity,
            grams: 250,
            stock: 100,
            track_inventory: true,
            for_sale: true,
            commission_bps: None,
        }
    }

    fn option(id: u128, vendor_n: u128, rate: ShippingRate) -> ShippingOption {
        ShippingOption {
            id: Uuid::from_u128(id),
            vendor_id: vendor(vendor_n),
            name: format!("option {id}"),
            rate,
            chosen: false,
        }
    }

    fn cart(lines: Vec<CartLine>) -> CartPricing {
        CartPricing {
            lines,
            options: Vec::new(),
            coupon: CartCoupon::None,
            tax: None,
            customer_coupon_uses: 0,
        }
    }

    fn percent_off(bps: i64) -> CartCoupon {
        CartCoupon::Known {
            coupon: Coupon {
                discount: Discount::Percent(bps),
                min_subtotal: 0,
            },
            limits: CouponLimits {
                active: true,
                starts_at: None,
                expires_at: None,
                max_uses: None,
                uses: 0,
                per_customer_limit: None,
            },
        }
    }

    #[test]
    fn stock_is_checked_over_every_line_of_a_variant_and_unsellable_lines_are_named() {
        let mut a = line(1, 1, 1000, 3);
        a.stock = 5;
        let b = a.clone(); // the same variant again: 6 wanted, 5 in stock
        let mut gone = line(2, 1, 500, 1);
        gone.for_sale = false;
        let mut untracked = line(3, 1, 500, 50);
        untracked.stock = 0;
        untracked.track_inventory = false;
        let q = quote(&cart(vec![a, b, gone, untracked]), 0, 1000).unwrap();
        let short = Some(LineProblem::InsufficientStock { available: 5 });
        assert_eq!(
            q.problems,
            vec![short, short, Some(LineProblem::Unavailable), None]
        );
    }

    #[test]
    fn the_cheapest_option_is_picked_after_the_discount_unless_one_was_chosen() {
        let mut c = cart(vec![line(1, 1, 6000, 1)]);
        c.options = vec![
            option(
                10,
                1,
                ShippingRate::FreeOver {
                    amount: 900,
                    threshold: 5000,
                },
            ),
            option(11, 1, ShippingRate::Flat(300)),
        ];
        // 60.00 of goods: free over 50.00 costs nothing.
        let q = quote(&c, 0, 1000).unwrap();
        assert_eq!(q.vendors[0].rate.as_ref().unwrap().id, Uuid::from_u128(10));
        assert_eq!(q.vendors[0].shipping, 0);
        // 25 % off leaves 45.00: below the threshold, so the flat 3.00 is cheaper.
        c.coupon = percent_off(2500);
        let q = quote(&c, 0, 1000).unwrap();
        assert_eq!(q.vendors[0].rate.as_ref().unwrap().id, Uuid::from_u128(11));
        assert_eq!(q.vendors[0].shipping, 300);
        assert_eq!(q.totals.total, 4500 + 300);
        // The shopper's choice stands even when it costs more.
        c.options[0].chosen = true;
        let q = quote(&c, 0, 1000).unwrap();
        assert_eq!(q.vendors[0].shipping, 900);
    }

    #[test]
    fn a_coupon_that_cannot_be_used_is_named_and_discounts_nothing() {
        let mut c = cart(vec![line(1, 1, 2000, 1)]);
        c.coupon = CartCoupon::Unknown;
        let q = quote(&c, 0, 1000).unwrap();
        assert_eq!(q.coupon_rejection, Some("coupon_not_found"));
        assert_eq!(q.totals.discount, 0);

        c.coupon = percent_off(1000);
        if let CartCoupon::Known { limits, .. } = &mut c.coupon {
            limits.expires_at = Some(50);
        }
        let q = quote(&c, 100, 1000).unwrap();
        assert_eq!(q.coupon_rejection, Some("coupon_expired"));
        assert_eq!(q.totals.total, 2000);
        let q = quote(&c, 10, 1000).unwrap();
        assert_eq!(q.coupon_rejection, None);
        assert_eq!(q.totals.total, 1800);
    }

    #[test]
    fn vendors_without_a_rate_of_their_own_pay_the_default_commission() {
        let mut own = line(2, 2, 1000, 1);
        own.commission_bps = Some(500);
        let q = quote(&cart(vec![line(1, 1, 1000, 1), own]), 0, 1500).unwrap();
        let rates: Vec<i64> = q.vendors.iter().map(|v| v.commission_bps).collect();
        assert_eq!(rates, vec![1500, 500]);
    }

    fn any_rate() -> impl Strategy<Value = ShippingRate> {
        prop_oneof![
            (0i64..2000).prop_map(ShippingRate::Flat),
            (0i64..2000, 0i64..20_000)
                .prop_map(|(amount, threshold)| ShippingRate::FreeOver { amount, threshold }),
            (0i64..1000, 0i64..500)
                .prop_map(|(base, per_kg)| ShippingRate::ByWeight { base, per_kg }),
        ]
    }

    proptest! {
        /// However a cart is made up, its vendors' parts add up to exactly what the shopper pays.
        #[test]
        fn the_vendors_parts_add_up_to_the_cart(
            lines in prop::collection::vec((0u128..6, 1u128..4, 0i64..50_000, 1i64..10), 1..8),
            rates in prop::collection::vec((1u128..4, any_rate()), 0..6),
            coupon_bps in prop::option::of(1i64..=10_000),
            tax in prop::option::of((0i64..3000, any::<bool>())),
        ) {
            let mut c = cart(lines.iter().map(|&(v, vd, p, q)| line(v * 10 + vd, vd, p, q)).collect());
            c.options = rates.iter().enumerate().map(|(i, (vd, r))| option(i as u128, *vd, r.clone())).collect();
            if let Some(bps) = coupon_bps {
                c.coupon = percent_off(bps);
            }
            c.tax = tax.map(|(rate, inclusive)| TaxRule { rate, inclusive });
            let q = quote(&c, 0, 1000).unwrap();
            let sum = |f: fn(&VendorQuote) -> i64| q.vendors.iter().map(f).sum::<i64>();
            prop_assert_eq!(sum(|v| v.total), q.totals.total);
            prop_assert_eq!(sum(|v| v.shipping), q.totals.shipping_total);
            prop_assert_eq!(sum(|v| v.discount), q.totals.discount);
            prop_assert_eq!(sum(|v| v.tax), q.totals.tax);
            for v in &q.vendors {
                prop_assert!(v.goods >= 0 && v.total >= v.shipping);
                // A vendor with options always has one picked; one without ships free.
                let has_options = c.options.iter().any(|o| o.vendor_id == v.vendor_id);
                prop_assert_eq!(v.rate.is_some(), has_options);
                if !has_options {
                    prop_assert_eq!(v.shipping, 0);
                }
            }
        }
    }

    #[test]
    fn an_order_plan_splits_by_vendor_with_commission_on_goods_only() {
        let mut c = cart(vec![
            line(1, 1, 1000, 2),
            line(2, 2, 3000, 1),
            line(3, 1, 500, 1),
        ]);
        c.options = vec![option(10, 2, ShippingRate::Flat(450))];
        c.tax = Some(TaxRule {
            rate: 1000,
            inclusive: false,
        });
        let q = quote(&c, 0, 1000).unwrap();
        let plan = plan_order(&c, &q).unwrap();
        assert_eq!(plan.parts.len(), 2);
        assert_eq!(
            plan.lines.iter().map(|l| l.part).collect::<Vec<_>>(),
            vec![0, 1, 0]
        );
        let north = &plan.parts[0];
        assert_eq!((north.subtotal, north.tax, north.total), (2500, 250, 2750));
        assert_eq!(north.commission, 250); // 10 % of the goods, not of the tax
        let south = &plan.parts[1];
        assert_eq!(south.shipping_option.as_deref(), Some("option 10"));
        assert_eq!((south.subtotal, south.total), (3000, 3000 + 300 + 450));
        assert_eq!(plan.total, north.total + south.total);
        assert!(!plan.nothing_to_pay());
    }

    #[test]
    fn a_cart_with_a_line_not_for_sale_or_an_unusable_coupon_is_not_orderable() {
        let mut gone = line(2, 1, 500, 1);
        gone.for_sale = false;
        let c = cart(vec![line(1, 1, 1000, 1), gone]);
        let q = quote(&c, 0, 1000).unwrap();
        assert_eq!(plan_order(&c, &q), Err(NotOrderable::Unavailable(vec![1])));
        let mut c = cart(vec![line(1, 1, 1000, 1)]);
        c.coupon = CartCoupon::Unknown;
        let q = quote(&c, 0, 1000).unwrap();
        assert_eq!(
            plan_order(&c, &q),
            Err(NotOrderable::Coupon("coupon_not_found"))
        );
        // A full discount leaves nothing to pay.
        c.coupon = percent_off(10_000);
        let q = quote(&c, 0, 1000).unwrap();
        assert!(plan_order(&c, &q).unwrap().nothing_to_pay());
    }

    #[test]
    fn low_stock_is_told_once_by_the_order_that_crosses_the_threshold() {
        assert!(crossed_low_stock(5, 1)); // 6 → 5
        assert!(crossed_low_stock(0, 10)); // 10 → 0
        assert!(!crossed_low_stock(4, 1)); // already below
        assert!(!crossed_low_stock(6, 3)); // still above
        let mut untracked = line(2, 1, 100, 4);
        untracked.track_inventory = false;
        let units = tracked_units(&[line(1, 1, 100, 2), untracked, line(1, 1, 100, 3)]);
        assert_eq!(
            units.into_iter().collect::<Vec<_>>(),
            vec![(Uuid::from_u128(1001), 5)]
        );
    }
}
