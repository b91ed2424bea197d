//! A cart priced: each line checked (available, in stock), the coupon if usable now, each
//! vendor's chosen (or cheapest) shipping option and the destination's tax.

use std::collections::BTreeMap;

use souk_domain::pricing::{self, CartTotals, PricedLine, PricingError, ShippingRate, TaxRule};
use uuid::Uuid;

use super::{CartSnapshot, RateRow};

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
    pub rate: Option<RateRow>,
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
    /// Per line (same order as the snapshot's lines).
    pub problems: Vec<Option<LineProblem>>,
    /// Why the cart's coupon does not apply, if it does not (a stable code).
    pub coupon_rejection: Option<&'static str>,
}

/// Prices a snapshot with the domain rules: the coupon if it is usable now, each vendor's
/// chosen (or cheapest) shipping option, the destination's tax rule.
pub fn quote(
    s: &CartSnapshot,
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
            if l.product_status != "published"
                || l.vendor_status != "active"
                || l.currency != s.cart.currency
            {
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
            unit_price: l.price,
            quantity: l.quantity,
            grams: l.grams,
        })
        .collect();

    let (coupon, coupon_rejection) = match &s.coupon {
        None if s.cart.coupon_code.is_some() => (None, Some("coupon_not_found")),
        None => (None, None),
        Some(c) => match c.limits().check(now, s.customer_coupon_uses) {
            Ok(()) => (Some(c.coupon()), None),
            Err(r) => (None, Some(r.code())),
        },
    };

    // Vendors in cart order, with their goods (replaced below by the discounted amount) and weight.
    let mut vendors: Vec<(Uuid, String, i64, i64, i64)> = Vec::new();
    for l in &s.lines {
        let overflow = || PricingError::Overflow;
        let amount = l.price.checked_mul(l.quantity).ok_or_else(overflow)?;
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
    let tax = s.tax.map(|t| TaxRule {
        rate: t.rate_bps,
        inclusive: t.inclusive,
    });
    // Shipping rules (a free-over threshold) apply to the goods after the coupon, as charged:
    // price once without shipping to learn each vendor's discounted goods, then pick options.
    let unshipped = pricing::price_cart(&priced, coupon.as_ref(), &BTreeMap::new(), tax)?;
    for v in &mut vendors {
        v.2 = s
            .lines
            .iter()
            .zip(&unshipped.lines)
            .filter(|(l, _)| l.vendor_id == v.0)
            .map(|(_, t)| t.amount - t.discount)
            .sum();
    }
    let mut chosen: BTreeMap<Uuid, RateRow> = BTreeMap::new();
    for (vendor_id, _, goods, grams, _) in &vendors {
        let options: Vec<&RateRow> = s
            .rates
            .iter()
            .filter(|r| r.vendor_id == *vendor_id)
            .collect();
        let pick = options.iter().find(|r| r.chosen).or_else(|| {
            options
                .iter()
                // An option whose cost does not fit sorts last (pricing then refuses it).
                .min_by_key(|r| {
                    pricing::shipping_cost(&r.rate(), *goods, *grams).unwrap_or(i64::MAX)
                })
        });
        if let Some(rate) = pick {
            chosen.insert(*vendor_id, (*rate).clone());
        }
    }
    let shipping: BTreeMap<String, ShippingRate> = chosen
        .iter()
        .map(|(v, r)| (v.to_string(), r.rate()))
        .collect();
    // With tax-inclusive prices a line's amount contains its tax; commission is on goods only.
    let tax_in_amount = tax.is_some_and(|t| t.inclusive);
    let mut totals = pricing::price_cart(&priced, coupon.as_ref(), &shipping, tax)?;
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
