//! Orders: the state machine, addresses, coupon eligibility, commission, and the guest access
//! token. Pure rules; storage applies them inside its transactions.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::pricing::{Bps, div_round_half_even};

/// The customer order's life. Payment moves it forward; vendors' fulfilments move it to
/// (partially) fulfilled; it can be cancelled only before anything shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    PartiallyFulfilled,
    Fulfilled,
    Completed,
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

pub const ORDER_STATUSES: [OrderStatus; 8] = [
    OrderStatus::PendingPayment,
    OrderStatus::Paid,
    OrderStatus::PartiallyFulfilled,
    OrderStatus::Fulfilled,
    OrderStatus::Completed,
    OrderStatus::Cancelled,
    OrderStatus::PartiallyRefunded,
    OrderStatus::Refunded,
];

/// Where the money of an order stands, apart from its shipping: Shopify's "financial status".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Waiting for the payment.
    Pending,
    /// Paid in full (or there was nothing to pay), nothing refunded.
    Paid,
    PartiallyRefunded,
    /// Everything paid went back.
    Refunded,
    /// Called off before any money came in.
    Voided,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 5] = [
        Self::Pending,
        Self::Paid,
        Self::PartiallyRefunded,
        Self::Refunded,
        Self::Voided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
            Self::Voided => "voided",
        }
    }

    /// From the order's status and its money: `paid` and `refunded` in minor units.
    pub fn of(status: OrderStatus, paid: i64, refunded: i64) -> PaymentStatus {
        match status {
            OrderStatus::PendingPayment => Self::Pending,
            OrderStatus::Cancelled if paid == 0 => Self::Voided,
            _ if refunded > 0 && refunded >= paid => Self::Refunded,
            _ if refunded > 0 => Self::PartiallyRefunded,
            _ => Self::Paid,
        }
    }
}

/// Where the goods of an order stand, apart from its money: from its vendor orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FulfillmentStatus {
    Unfulfilled,
    PartiallyFulfilled,
    Fulfilled,
    /// Nothing will ship: every vendor order was cancelled.
    Cancelled,
}

impl FulfillmentStatus {
    pub const ALL: [FulfillmentStatus; 4] = [
        Self::Unfulfilled,
        Self::PartiallyFulfilled,
        Self::Fulfilled,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unfulfilled => "unfulfilled",
            Self::PartiallyFulfilled => "partially_fulfilled",
            Self::Fulfilled => "fulfilled",
            Self::Cancelled => "cancelled",
        }
    }

    /// From the vendor orders' statuses and units: each part is (status, units shipped,
    /// units ordered); cancelled parts do not count. A part that shipped some of its units is
    /// partially fulfilled even while its status is still `unfulfilled`.
    pub fn of(parts: impl IntoIterator<Item = (VendorOrderStatus, i64, i64)>) -> FulfillmentStatus {
        let (mut shipped, mut open, mut some) = (0, 0, false);
        for (status, sent, ordered) in parts {
            match status {
                VendorOrderStatus::Cancelled => {}
                VendorOrderStatus::Fulfilled => shipped += 1,
                VendorOrderStatus::Unfulfilled if sent >= ordered && ordered > 0 => shipped += 1,
                VendorOrderStatus::Unfulfilled => {
                    open += 1;
                    some |= sent > 0;
                }
            }
        }
        match (shipped, open) {
            (0, 0) => Self::Cancelled,
            (0, _) if !some => Self::Unfulfilled,
            (_, 0) => Self::Fulfilled,
            _ => Self::PartiallyFulfilled,
        }
    }
}

/// What happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The full amount was received.
    Pay,
    /// A vendor shipped; `all` when every vendor order is now fulfilled.
    Fulfil {
        all: bool,
    },
    Complete,
    Cancel,
    /// Money was returned; `full` when everything paid is now refunded.
    Refund {
        full: bool,
    },
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::PartiallyFulfilled => "partially_fulfilled",
            OrderStatus::Fulfilled => "fulfilled",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::PartiallyRefunded => "partially_refunded",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ORDER_STATUSES.into_iter().find(|o| o.as_str() == s)
    }

    /// The status after `event`, or `None` when the event is not allowed now (HTTP 409).
    pub fn next(self, event: OrderEvent) -> Option<OrderStatus> {
        use OrderStatus::*;
        match (self, event) {
            (PendingPayment, OrderEvent::Pay) => Some(Paid),
            (Paid | PartiallyFulfilled, OrderEvent::Fulfil { all: true }) => Some(Fulfilled),
            (Paid | PartiallyFulfilled, OrderEvent::Fulfil { all: false }) => {
                Some(PartiallyFulfilled)
            }
            // A partial refund does not stop the rest of the order from shipping.
            (PartiallyRefunded, OrderEvent::Fulfil { .. }) => Some(PartiallyRefunded),
            (Fulfilled, OrderEvent::Complete) => Some(Completed),
            // A partial refund keeps the order open: once everything left has shipped it can
            // be completed too (the caller checks that every vendor order is fulfilled).
            (PartiallyRefunded, OrderEvent::Complete) => Some(Completed),
            // Nothing has shipped: the order can be called off (a paid one is refunded).
            (PendingPayment | Paid, OrderEvent::Cancel) => Some(Cancelled),
            (
                Paid | PartiallyFulfilled | Fulfilled | Completed | PartiallyRefunded | Cancelled,
                OrderEvent::Refund { full },
            ) => Some(if full { Refunded } else { PartiallyRefunded }),
            _ => None,
        }
    }

    /// Statuses from which `event` is allowed (for conditional `UPDATE … WHERE status IN`).
    pub fn allowing(event: OrderEvent) -> Vec<OrderStatus> {
        ORDER_STATUSES
            .into_iter()
            .filter(|s| s.next(event).is_some())
            .collect()
    }
}

/// A vendor's part of an order ships on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VendorOrderStatus {
    Unfulfilled,
    Fulfilled,
    Cancelled,
}

impl VendorOrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VendorOrderStatus::Unfulfilled => "unfulfilled",
            VendorOrderStatus::Fulfilled => "fulfilled",
            VendorOrderStatus::Cancelled => "cancelled",
        }
    }

    pub const ALL: [VendorOrderStatus; 3] = [
        VendorOrderStatus::Unfulfilled,
        VendorOrderStatus::Fulfilled,
        VendorOrderStatus::Cancelled,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The platform's commission on a vendor order: a rate of the goods after discount (not of tax
/// or shipping), rounded half-to-even; the vendor earns the rest of the vendor order's total.
pub fn commission(goods_after_discount: i64, rate: Bps, vendor_total: i64) -> i64 {
    let c = div_round_half_even(
        i128::from(goods_after_discount.max(0)) * i128::from(rate.clamp(0, 10_000)),
        10_000,
    ) as i64;
    c.min(vendor_total.max(0))
}

/// A shipping address. Every field is trimmed text; country is ISO 3166-1 alpha-2.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub city: String,
    #[serde(default)]
    pub region: String,
    pub postal_code: String,
    pub country: String,
    #[serde(default)]
    pub phone: String,
}

impl Address {
    /// Checks and normalises (trim, upper-case country and region); errors name the field.
    pub fn validate(mut self) -> Result<Address, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let fields: [(&'static str, &mut String, bool, usize); 8] = [
            ("name", &mut self.name, true, 200),
            ("line1", &mut self.line1, true, 200),
            ("line2", &mut self.line2, false, 200),
            ("city", &mut self.city, true, 100),
            ("region", &mut self.region, false, 100),
            ("postal_code", &mut self.postal_code, true, 20),
            ("country", &mut self.country, true, 100),
            ("phone", &mut self.phone, false, 40),
        ];
        for (name, value, required, max) in fields {
            *value = value.trim().to_owned();
            if required && value.is_empty() {
                errors.push((name, "is required".to_owned()));
            } else if value.chars().count() > max {
                errors.push((name, format!("at most {max} characters")));
            } else if crate::text::has_hidden_controls(value) {
                errors.push((
                    name,
                    "must not contain control or text-direction characters".to_owned(),
                ));
            }
        }
        self.country = self.country.to_ascii_uppercase();
        if !self.country.is_empty() && !crate::geo::is_country(&self.country) {
            errors.push(("country", "an ISO 3166-1 alpha-2 code, like DE".to_owned()));
        }
        self.region = self.region.to_uppercase();
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(errors)
        }
    }
}

impl Address {
    /// Where rules are keyed by region (the country has regional tax rates), the region must be
    /// one of the country's ISO 3166-2 subdivisions, and becomes its code however it was spelled
    /// (`California`, `ca.` → `CA`): an unknown spelling would otherwise escape the rule.
    /// Elsewhere the region stays as typed. Call after [`Address::validate`].
    pub fn normalise_region(&mut self) -> Result<(), String> {
        match crate::geo::subdivision(&self.country, &self.region) {
            Some(code) => {
                code.clone_into(&mut self.region);
                Ok(())
            }
            None => Err(format!(
                "must be an ISO 3166-2 subdivision of {} (its code or name), one of: {}",
                self.country,
                crate::geo::subdivision_codes(&self.country)
            )),
        }
    }
}

/// A coupon's rules beyond its discount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponLimits {
    pub active: bool,
    pub starts_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub per_customer_limit: Option<i64>,
}

/// Why a coupon cannot be used now (a stable code for clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponRejection {
    Inactive,
    NotStarted,
    Expired,
    Exhausted,
    CustomerLimitReached,
}

impl CouponRejection {
    pub fn code(self) -> &'static str {
        match self {
            CouponRejection::Inactive => "coupon_inactive",
            CouponRejection::NotStarted => "coupon_not_started",
            CouponRejection::Expired => "coupon_expired",
            CouponRejection::Exhausted => "coupon_exhausted",
            CouponRejection::CustomerLimitReached => "coupon_customer_limit_reached",
        }
    }
}

impl CouponLimits {
    /// Whether the coupon may be used at `now` by a customer who used it `customer_uses` times.
    /// Checkout re-checks total uses with a conditional update, so this is advisory for carts.
    pub fn check(&self, now: i64, customer_uses: i64) -> Result<(), CouponRejection> {
        if !self.active {
            return Err(CouponRejection::Inactive);
        }
        if self.starts_at.is_some_and(|s| now < s) {
            return Err(CouponRejection::NotStarted);
        }
        if self.expires_at.is_some_and(|e| now >= e) {
            return Err(CouponRejection::Expired);
        }
        if self.max_uses.is_some_and(|m| self.uses >= m) {
            return Err(CouponRejection::Exhausted);
        }
        if self.per_customer_limit.is_some_and(|l| customer_uses >= l) {
            return Err(CouponRejection::CustomerLimitReached);
        }
        Ok(())
    }
}

/// Coupon codes compare case-insensitively: stored upper-case.
pub fn normalise_coupon_code(code: &str) -> Option<String> {
    let code = code.trim().to_ascii_uppercase();
    (!code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then_some(code)
}

/// The guest's order access token: an HMAC under the server key of the checkout's idempotency
/// key and the order id. Neither the token nor the key is stored (only their hashes), yet a
/// replayed checkout response carries the same token: the client sends the key again. The
/// server key keeps it unguessable even when a client's idempotency keys are predictable and
/// the order id is known (vendors see it).
pub fn order_access_token(server_key: &[u8], idempotency_key: &str, order_id: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(server_key).expect("any key length");
    mac.update(b"souk-order-access:");
    mac.update(&(idempotency_key.len() as u64).to_be_bytes());
    mac.update(idempotency_key.as_bytes());
    mac.update(order_id);
    format!(
        "souk_o_{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The token in a guest's emailed order link: derived from the server key and the order id
/// alone, so it is never stored, can be emailed again on request, and opens the order like the
/// checkout's `access_token` does. (Rotating the server key invalidates every link.)
pub fn order_link_token(server_key: &[u8], order_id: &[u8]) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(server_key).expect("any key length");
    mac.update(b"souk-order-link:");
    mac.update(order_id);
    format!(
        "souk_l_{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The guest token of orders placed before tokens were keyed by the server key (HMAC keyed by
/// the idempotency key alone): still accepted for their replays, never issued for new orders.
pub fn order_access_token_unkeyed(idempotency_key: &str, order_id: &[u8]) -> String {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(idempotency_key.as_bytes()).expect("any key length");
    mac.update(b"souk-order-access:");
    mac.update(order_id);
    format!(
        "souk_o_{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// A short reference for people (emails, phone calls): the random tail of the order id.
/// The id stays the key; two orders may, rarely, share a number.
pub fn order_number(id: &uuid::Uuid) -> String {
    let hex = id.simple().to_string();
    format!("#{}", hex[24..].to_ascii_uppercase())
}

/// The last four bytes of the order ids an order number (as [`order_number`] writes it, the
/// `#` optional, any case, spaces around) stands for; `None` if `text` is not one.
pub fn parse_order_number(text: &str) -> Option<[u8; 4]> {
    let text = text.trim();
    let hex = text.strip_prefix('#').unwrap_or(text).as_bytes();
    if hex.len() != 8 || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut tail = [0u8; 4];
    for (byte, pair) in tail.iter_mut().zip(hex.chunks(2)) {
        let pair = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(tail)
}

/// SHA-256 of a request, to tell a replay (same body) from a reused key (different body).
pub fn request_fingerprint(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_number_is_read_back_as_the_tail_of_its_id() {
        for _ in 0..100 {
            let id = uuid::Uuid::now_v7();
            let tail: [u8; 4] = id.as_bytes()[12..].try_into().unwrap();
            let number = order_number(&id);
            assert_eq!(parse_order_number(&number), Some(tail));
            assert_eq!(parse_order_number(&number.to_lowercase()), Some(tail));
            assert_eq!(
                parse_order_number(&format!("  {}\t", &number[1..])),
                Some(tail)
            );
        }
        for not_one in [
            "",
            "#",
            "#ABC",
            "#ABCDEF0",
            "#ABCDEF012",
            "#ABCDEFG0",
            "AB CD EF 01",
            "##ABCDEF01",
            "a@b.example",
        ] {
            assert_eq!(parse_order_number(not_one), None, "{not_one:?}");
        }
    }

    #[test]
    fn payment_and_fulfilment_status_are_read_apart() {
        use OrderStatus::*;
        use PaymentStatus as P;
        assert_eq!(P::of(PendingPayment, 0, 0), P::Pending);
        assert_eq!(P::of(Cancelled, 0, 0), P::Voided);
        assert_eq!(P::of(Paid, 1000, 0), P::Paid);
        assert_eq!(P::of(Paid, 0, 0), P::Paid, "nothing to pay");
        assert_eq!(P::of(Completed, 1000, 0), P::Paid);
        assert_eq!(P::of(Completed, 1000, 300), P::PartiallyRefunded);
        assert_eq!(P::of(PartiallyRefunded, 1000, 999), P::PartiallyRefunded);
        assert_eq!(P::of(Refunded, 1000, 1000), P::Refunded);
        assert_eq!(
            P::of(Cancelled, 1000, 1000),
            P::Refunded,
            "a paid order called off"
        );
        use FulfillmentStatus as F;
        use VendorOrderStatus::{Cancelled as C, Fulfilled as Shipped, Unfulfilled as Open};
        assert_eq!(F::of([(Open, 0, 2), (Open, 0, 1)]), F::Unfulfilled);
        assert_eq!(
            F::of([(Shipped, 2, 2), (Open, 0, 1)]),
            F::PartiallyFulfilled
        );
        assert_eq!(
            F::of([(Open, 1, 3)]),
            F::PartiallyFulfilled,
            "a part sent in parcels, one so far"
        );
        assert_eq!(F::of([(Shipped, 2, 2), (Shipped, 1, 1)]), F::Fulfilled);
        assert_eq!(
            F::of([(Shipped, 1, 1), (C, 0, 4)]),
            F::Fulfilled,
            "cancelled parts do not count"
        );
        assert_eq!(F::of([(C, 0, 1), (C, 0, 1)]), F::Cancelled);
        assert_eq!(F::of([]), F::Cancelled);
        assert_eq!(
            PartiallyRefunded.next(OrderEvent::Complete),
            Some(Completed)
        );
        assert_eq!(
            Paid.next(OrderEvent::Complete),
            None,
            "not before it shipped"
        );
    }

    #[test]
    fn state_machine_allows_only_forward_moves() {
        use OrderStatus::*;
        assert_eq!(PendingPayment.next(OrderEvent::Pay), Some(Paid));
        assert_eq!(Paid.next(OrderEvent::Pay), None, "paid once");
        assert_eq!(
            Paid.next(OrderEvent::Fulfil { all: false }),
            Some(PartiallyFulfilled)
        );
        assert_eq!(
            PartiallyFulfilled.next(OrderEvent::Fulfil { all: true }),
            Some(Fulfilled)
        );
        assert_eq!(PendingPayment.next(OrderEvent::Fulfil { all: true }), None);
        assert_eq!(PendingPayment.next(OrderEvent::Cancel), Some(Cancelled));
        assert_eq!(Cancelled.next(OrderEvent::Cancel), None, "cancelled once");
        assert_eq!(Fulfilled.next(OrderEvent::Cancel), None);
        assert_eq!(Fulfilled.next(OrderEvent::Complete), Some(Completed));
        assert_eq!(
            Paid.next(OrderEvent::Refund { full: false }),
            Some(PartiallyRefunded)
        );
        assert_eq!(Refunded.next(OrderEvent::Refund { full: true }), None);
        assert_eq!(
            PartiallyRefunded.next(OrderEvent::Fulfil { all: true }),
            Some(PartiallyRefunded),
            "what was not refunded still ships"
        );
        assert_eq!(
            OrderStatus::allowing(OrderEvent::Cancel),
            vec![PendingPayment, Paid]
        );
        for s in ORDER_STATUSES {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn commission_rounds_half_even_and_never_exceeds_the_total() {
        assert_eq!(commission(10_000, 1000, 12_000), 1000);
        assert_eq!(commission(125, 1000, 200), 12); // 12.5 → 12
        assert_eq!(commission(135, 1000, 200), 14); // 13.5 → 14
        assert_eq!(commission(10_000, 10_000, 500), 500);
        assert_eq!(commission(0, 1000, 0), 0);
    }

    #[test]
    fn addresses_are_normalised_and_checked() {
        let a = Address {
            name: " Ada ".into(),
            line1: "1 Road".into(),
            line2: String::new(),
            city: "Berlin".into(),
            region: "be".into(),
            postal_code: "10115".into(),
            country: "de".into(),
            phone: String::new(),
        };
        let ok = a.clone().validate().unwrap();
        assert_eq!(
            (ok.name.as_str(), ok.country.as_str(), ok.region.as_str()),
            ("Ada", "DE", "BE")
        );
        let bad = Address {
            country: "Germany".into(),
            city: " ".into(),
            ..a
        };
        let errors = bad.validate().unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.0).collect();
        assert_eq!(fields, vec!["city", "country"]);
    }

    #[test]
    fn coupon_limits() {
        let c = CouponLimits {
            active: true,
            starts_at: Some(100),
            expires_at: Some(200),
            max_uses: Some(5),
            uses: 4,
            per_customer_limit: Some(1),
        };
        assert_eq!(c.check(150, 0), Ok(()));
        assert_eq!(c.check(50, 0), Err(CouponRejection::NotStarted));
        assert_eq!(c.check(200, 0), Err(CouponRejection::Expired));
        assert_eq!(c.check(150, 1), Err(CouponRejection::CustomerLimitReached));
        let used_up = CouponLimits { uses: 5, ..c };
        assert_eq!(used_up.check(150, 0), Err(CouponRejection::Exhausted));
        assert_eq!(normalise_coupon_code(" save10 ").as_deref(), Some("SAVE10"));
        assert_eq!(normalise_coupon_code("no spaces"), None);
    }

    #[test]
    fn access_tokens_depend_on_key_and_salt() {
        let a = order_access_token(b"server", "key-1", b"salt");
        assert_eq!(a, order_access_token(b"server", "key-1", b"salt"));
        assert_ne!(a, order_access_token(b"server", "key-2", b"salt"));
        assert_ne!(a, order_access_token(b"server", "key-1", b"pepper"));
        assert_ne!(a, order_access_token(b"other", "key-1", b"salt"));
        assert!(a.starts_with("souk_o_") && a.len() > 40);
    }
}
