//! The shop a test sets up before it acts, said in the product's words: vendors who applied
//! and were approved, their shipping rates, the platform's coupons and tax rates.
//!
//! Each helper takes a table, sends one request per row and asserts that every one succeeded,
//! so a setup that breaks fails loudly where it breaks, not in the assertions after it. A test
//! about one of these requests' own answers (a validation error, say) sends it itself.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// An approved vendor: its owner's token, its id and its handle.
#[derive(Debug)]
pub struct Vendor {
    pub token: String,
    pub id: String,
    pub handle: String,
}

/// A vendor's shipping option, for [`TestApp::shipping_rates`].
pub struct ShippingRate(Value);

impl ShippingRate {
    /// `amount` per vendor order.
    pub fn flat(name: &str, amount: i64) -> Self {
        ShippingRate(json!({"name": name, "kind": "flat", "amount": amount}))
    }

    /// `amount`, free from `threshold` of goods on.
    pub fn free_over(name: &str, amount: i64, threshold: i64) -> Self {
        ShippingRate(
            json!({"name": name, "kind": "free_over", "amount": amount, "threshold": threshold}),
        )
    }

    /// `amount` plus `per_kg` for every kilogram.
    pub fn by_weight(name: &str, amount: i64, per_kg: i64) -> Self {
        ShippingRate(json!({"name": name, "kind": "by_weight", "amount": amount, "per_kg": per_kg}))
    }
}

/// A platform coupon, for [`TestApp::coupons`].
pub struct Coupon(Value);

impl Coupon {
    /// `basis_points` off the goods (1000 = 10 %).
    pub fn percent(code: &str, basis_points: i64) -> Self {
        Coupon(json!({"code": code, "kind": "percent", "value": basis_points}))
    }

    /// `amount` off the goods.
    pub fn fixed(code: &str, amount: i64) -> Self {
        Coupon(json!({"code": code, "kind": "fixed", "value": amount}))
    }

    /// Good for `uses` orders in all.
    pub fn max_uses(mut self, uses: i64) -> Self {
        self.0["max_uses"] = json!(uses);
        self
    }

    /// Good for `uses` orders per customer.
    pub fn per_customer_limit(mut self, uses: i64) -> Self {
        self.0["per_customer_limit"] = json!(uses);
        self
    }
}

/// A country's tax rate, for [`TestApp::tax_rates`].
pub struct TaxRate(Value);

impl TaxRate {
    /// `basis_points` included in the prices shown (1900 = 19 %).
    pub fn inclusive(country: &str, basis_points: i64) -> Self {
        TaxRate(json!({"country": country, "rate_bps": basis_points, "inclusive": true}))
    }

    /// `basis_points` added on top of the prices shown.
    pub fn exclusive(country: &str, basis_points: i64) -> Self {
        TaxRate(json!({"country": country, "rate_bps": basis_points, "inclusive": false}))
    }
}

impl TestApp {
    /// Registers `email`, who applies for a vendor `handle` ("Shop {handle}"); returns
    /// (owner token, vendor id). The vendor awaits approval.
    pub async fn vendor_owner(&self, email: &str, handle: &str) -> (String, String) {
        let token = self.register(email).await;
        let id = self
            .apply_as_vendor(&token, &format!("Shop {handle}"), handle)
            .await;
        (token, id)
    }

    /// `owner` applies for a vendor named `name` at `handle`; its id.
    pub async fn apply_as_vendor(&self, owner: &str, name: &str, handle: &str) -> String {
        let (status, body) = self
            .send(
                Method::POST,
                "/api/vendor/apply",
                owner,
                Some(json!({"name": name, "handle": handle})),
            )
            .await;
        assert_eq!(status, 201, "apply for {handle}: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// The admin approves vendor `id`.
    pub async fn approve_vendor(&self, admin: &str, id: &str) {
        let (status, body) = self
            .send(
                Method::POST,
                &format!("/api/admin/vendors/{id}/approve"),
                admin,
                None,
            )
            .await;
        assert_eq!(status, 200, "approve {id}: {body}");
    }

    /// An approved vendor's owner token and vendor id.
    pub async fn approved_vendor(
        &self,
        admin: &str,
        email: &str,
        handle: &str,
    ) -> (String, String) {
        let (token, id) = self.vendor_owner(email, handle).await;
        self.approve_vendor(admin, &id).await;
        (token, id)
    }

    /// One approved vendor per (owner email, handle), in order.
    pub async fn vendors<const N: usize>(
        &self,
        admin: &str,
        owners: [(&str, &str); N],
    ) -> [Vendor; N] {
        let mut vendors = Vec::with_capacity(N);
        for (email, handle) in owners {
            let (token, id) = self.approved_vendor(admin, email, handle).await;
            vendors.push(Vendor {
                token,
                id,
                handle: handle.to_owned(),
            });
        }
        vendors.try_into().unwrap()
    }

    /// Creates `vendor`'s shipping options; their ids, in order.
    pub async fn shipping_rates(&self, vendor: &str, rates: &[ShippingRate]) -> Vec<String> {
        let mut ids = Vec::with_capacity(rates.len());
        for ShippingRate(rate) in rates {
            ids.push(
                self.created(
                    "/api/vendor/shipping-rates",
                    vendor,
                    rate,
                    &format!("shipping rate {}", rate["name"]),
                )
                .await,
            );
        }
        ids
    }

    /// Creates coupons; their ids, in order.
    pub async fn coupons(&self, admin: &str, coupons: &[Coupon]) -> Vec<String> {
        let mut ids = Vec::with_capacity(coupons.len());
        for Coupon(coupon) in coupons {
            ids.push(
                self.created(
                    "/api/admin/coupons",
                    admin,
                    coupon,
                    &format!("coupon {}", coupon["code"]),
                )
                .await,
            );
        }
        ids
    }

    /// Sets tax rates (each replaces its country's rate).
    pub async fn tax_rates(&self, admin: &str, rates: &[TaxRate]) {
        for TaxRate(rate) in rates {
            let (status, body) = self
                .send(
                    Method::PUT,
                    "/api/admin/tax-rates",
                    admin,
                    Some(rate.clone()),
                )
                .await;
            assert_eq!(status, 200, "tax rate {rate}: {body}");
        }
    }

    /// POSTs `body` to `path` as `token`, which must answer 201; the new row's id.
    async fn created(&self, path: &str, token: &str, body: &Value, what: &str) -> String {
        let (status, row) = self
            .send(Method::POST, path, token, Some(body.clone()))
            .await;
        assert_eq!(status, 201, "{what}: {row}");
        row["id"].as_str().unwrap().to_owned()
    }
}

impl TestApp {
    /// The admin records the manual payment of `order`'s whole total (as a bank transfer).
    pub async fn pay_in_full(&self, admin: &str, order: &Value) {
        let id = order["id"].as_str().unwrap();
        let (status, body) = self
            .send(
                Method::POST,
                &format!("/api/admin/orders/{id}/payments"),
                admin,
                Some(json!({"amount": order["total"]["amount"], "reference": "BANK-1"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// What vendor `vendor` (its id) may be paid out now, in minor units.
    pub async fn available(&self, vendor: &str) -> i64 {
        let id = uuid::Uuid::parse_str(vendor).unwrap();
        souk_storage::ledger::balance(&self.db, id)
            .await
            .unwrap()
            .unwrap()
            .available
    }
}
