//! Payment rules that do not depend on a provider's transport: the provider payment's state
//! and how it may move, Stripe's webhook signature scheme, and how a refund is split over the
//! vendors of an order.

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::accounts::secure_eq;
use crate::pricing::{allocate, div_round_half_even};

/// Where a provider's payment for an order stands. Final states (succeeded, canceled) never
/// change (see [`PaymentState::advance`]): events that arrive late, duplicated or out of order
/// can never move a payment out of them, so the final state does not depend on arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// Created at the provider (or about to be); the customer has not paid yet.
    Pending,
    /// The last attempt failed; the customer may try again with the same payment.
    Failed,
    /// The provider is processing (e.g. a bank debit).
    Processing,
    /// The money was taken. Final.
    Succeeded,
    /// Called off before any money moved. Final.
    Canceled,
}

impl PaymentState {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Pending => "pending",
            PaymentState::Failed => "failed",
            PaymentState::Processing => "processing",
            PaymentState::Succeeded => "succeeded",
            PaymentState::Canceled => "canceled",
        }
    }

    pub const ALL: [PaymentState; 5] = [
        PaymentState::Pending,
        PaymentState::Failed,
        PaymentState::Processing,
        PaymentState::Succeeded,
        PaymentState::Canceled,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Final states (the money moved, or the payment was called off) never change.
    pub fn is_final(self) -> bool {
        matches!(self, PaymentState::Succeeded | PaymentState::Canceled)
    }

    /// The state to keep when `observed` is reported for a payment now in `self`: a final
    /// state stays; otherwise the newest report wins (a failed attempt can be followed by a
    /// processing or successful one on the same payment, and a processing bank debit can fail).
    /// Only final states carry money, so late or reordered reports can change what a shopper
    /// sees while paying, never whether an order is paid or the state it ends in.
    pub fn advance(self, observed: PaymentState) -> PaymentState {
        if self.is_final() { self } else { observed }
    }

    /// A Stripe PaymentIntent `status` as a payment state.
    pub fn from_stripe_intent(status: &str) -> Option<PaymentState> {
        Some(match status {
            "requires_payment_method" | "requires_confirmation" | "requires_action" => {
                PaymentState::Pending
            }
            "processing" | "requires_capture" => PaymentState::Processing,
            "succeeded" => PaymentState::Succeeded,
            "canceled" => PaymentState::Canceled,
            _ => return None,
        })
    }
}

/// Stripe's default tolerance for a webhook's timestamp.
pub const STRIPE_SIGNATURE_TOLERANCE_SECS: i64 = 300;

/// Why a `Stripe-Signature` header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("unable to extract timestamp and signatures from header")]
    Malformed,
    #[error("no v1 signatures in header")]
    NoSignatures,
    #[error("no signature matches the payload")]
    Mismatch,
    #[error("timestamp outside the tolerance zone")]
    Expired,
}

/// Verifies a `Stripe-Signature` header (`t=<unix>,v1=<hex>[,v1=<hex>…]`) over the raw body,
/// exactly as Stripe's own libraries do: the expected signature is the lower-case hex
/// HMAC-SHA256, keyed by the whole endpoint secret (`whsec_…`), of `"{t}.{body}"`; any `v1`
/// may match (compared in constant time); a timestamp older than `tolerance_secs` is refused.
/// Like Stripe's libraries, a timestamp in the future is accepted (the signature binds it).
pub fn verify_stripe_signature(
    header: &str,
    payload: &[u8],
    secret: &str,
    tolerance_secs: i64,
    now_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let mut parts = item.splitn(3, '=');
        let key = parts.next().unwrap_or_default();
        if key == "t" && timestamp.is_none() {
            let value = parts.next().ok_or(SignatureError::Malformed)?;
            timestamp = Some(parse_python_int(value).ok_or(SignatureError::Malformed)?);
        } else if key == "v1" {
            signatures.push(parts.next().ok_or(SignatureError::Malformed)?);
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoSignatures);
    }
    let expected = stripe_signature(timestamp, payload, secret);
    if !signatures
        .iter()
        .any(|s| secure_eq(expected.as_bytes(), s.as_bytes()))
    {
        return Err(SignatureError::Mismatch);
    }
    if tolerance_secs > 0 && i128::from(timestamp) < i128::from(now_secs - tolerance_secs) {
        return Err(SignatureError::Expired);
    }
    Ok(())
}

/// The lower-case hex `v1` signature Stripe sends for `payload` at `timestamp`.
pub fn stripe_signature(timestamp: i64, payload: &[u8], secret: &str) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An integer as Python's `int()` reads text (Stripe's reference implementation does so):
/// surrounding whitespace, an optional sign, digits with single underscores between them.
fn parse_python_int(text: &str) -> Option<i64> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let bytes = digits.as_bytes();
    if bytes.is_empty()
        || !bytes[0].is_ascii_digit()
        || !bytes[bytes.len() - 1].is_ascii_digit()
        || bytes.windows(2).any(|w| w == b"__")
        || !bytes.iter().all(|b| b.is_ascii_digit() || *b == b'_')
    {
        return None;
    }
    let value: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -value } else { value })
}

/// One vendor order's share of the money, for splitting refunds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VendorShare {
    /// What the customer paid for this vendor's part.
    pub total: i64,
    /// The platform's commission on it.
    pub commission: i64,
    /// Refunded from it so far.
    pub refunded: i64,
}

/// How a refund moves one vendor order's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundSplit {
    /// Newly refunded from this vendor order.
    pub amount: i64,
    /// Taken back from the platform's commission (≥ 0; written as a negative ledger entry).
    pub commission_reversal: i64,
    /// Taken back from the vendor's earning (≥ 0; written as a negative ledger entry).
    pub earning_reversal: i64,
}

/// Splits a refund of `amount` over vendor orders in proportion to what is still refundable
/// from each, and reverses commission proportionally. Reversals are computed from cumulative
/// totals (what should have been reversed after this refund, minus what already was), so a
/// series of partial refunds that adds up to everything reverses the commission and earnings
/// exactly, leaving the order's ledger at zero. `None` if `amount` exceeds what is refundable.
pub fn split_refund(amount: i64, shares: &[VendorShare]) -> Option<Vec<RefundSplit>> {
    let refundable: Vec<i64> = shares
        .iter()
        .map(|s| (s.total - s.refunded).max(0))
        .collect();
    if amount < 0 || amount > refundable.iter().sum::<i64>() {
        return None;
    }
    let amounts = allocate(amount, &refundable);
    Some(
        shares
            .iter()
            .zip(amounts)
            .map(|(s, a)| {
                let reversed = |refunded: i64| -> i64 {
                    if s.total == 0 {
                        0
                    } else {
                        div_round_half_even(
                            i128::from(s.commission) * i128::from(refunded),
                            i128::from(s.total),
                        ) as i64
                    }
                };
                let commission_reversal = reversed(s.refunded + a) - reversed(s.refunded);
                RefundSplit {
                    amount: a,
                    commission_reversal,
                    earning_reversal: a - commission_reversal,
                }
            })
            .collect(),
    )
}

/// Like [`split_refund`], but the whole refund comes out of the vendor order at `target`
/// (its vendor gives it back; the others are untouched). `None` if `amount` exceeds what that
/// vendor order can still give back, or there is no such index.
pub fn split_refund_to(
    amount: i64,
    shares: &[VendorShare],
    target: usize,
) -> Option<Vec<RefundSplit>> {
    shares.get(target)?;
    // Every other share is taken as already fully refunded: nothing is allocated to it, and
    // its reversals (computed from cumulative totals) stay zero.
    let aimed: Vec<VendorShare> = shares
        .iter()
        .enumerate()
        .map(|(i, s)| {
            if i == target {
                *s
            } else {
                VendorShare {
                    refunded: s.total.max(s.refunded),
                    ..*s
                }
            }
        })
        .collect();
    split_refund(amount, &aimed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_targeted_refund_comes_out_of_one_vendor_order_only() {
        let shares = [
            VendorShare {
                total: 2000,
                commission: 400,
                refunded: 0,
            },
            VendorShare {
                total: 3000,
                commission: 300,
                refunded: 0,
            },
        ];
        let split = split_refund_to(1000, &shares, 1).unwrap();
        assert_eq!(
            split[0],
            RefundSplit {
                amount: 0,
                commission_reversal: 0,
                earning_reversal: 0
            }
        );
        assert_eq!(
            split[1],
            RefundSplit {
                amount: 1000,
                commission_reversal: 100,
                earning_reversal: 900
            }
        );
        assert_eq!(
            split_refund_to(3001, &shares, 1),
            None,
            "more than that part"
        );
        assert_eq!(split_refund_to(10, &shares, 2), None, "no such part");
        // The untargeted split would have taken from both.
        let spread = split_refund(1000, &shares).unwrap();
        assert!(spread[0].amount > 0 && spread[1].amount > 0);
    }

    const SECRET: &str = "whsec_test_secret";

    fn header(t: i64, payload: &[u8]) -> String {
        format!("t={t},v1={}", stripe_signature(t, payload, SECRET))
    }

    #[test]
    fn a_valid_signature_is_accepted_and_anything_else_refused() {
        let body = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;
        let now = 1_700_000_000;
        assert_eq!(
            verify_stripe_signature(&header(now, body), body, SECRET, 300, now),
            Ok(())
        );
        // Several signatures (secret rotation): any one matching is enough.
        let rotated = format!(
            "t={now},v1=00ff,{}",
            &header(now, body)[format!("t={now},").len()..]
        );
        assert_eq!(
            verify_stripe_signature(&rotated, body, SECRET, 300, now),
            Ok(())
        );
        let tampered = br#"{"id":"evt_1","type":"payment_intent.succeeded "}"#;
        assert_eq!(
            verify_stripe_signature(&header(now, body), tampered, SECRET, 300, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_stripe_signature(&header(now, body), body, "whsec_other", 300, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_stripe_signature(&header(now - 301, body), body, SECRET, 300, now),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify_stripe_signature(&header(now - 300, body), body, SECRET, 300, now),
            Ok(())
        );
        // In the future: accepted, as Stripe's libraries do.
        assert_eq!(
            verify_stripe_signature(&header(now + 3600, body), body, SECRET, 300, now),
            Ok(())
        );
        for bad in ["", "v1=abc", "t=x,v1=abc", "t,v1=abc", "t=1,v1"] {
            assert_eq!(
                verify_stripe_signature(bad, body, SECRET, 300, now),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            verify_stripe_signature(&format!("t={now},v0=abc"), body, SECRET, 300, now),
            Err(SignatureError::NoSignatures)
        );
        // Upper-case hex is not what Stripe sends, and its libraries compare text.
        let upper = header(now, body)
            .to_uppercase()
            .replace("T=", "t=")
            .replace("V1=", "v1=");
        assert_eq!(
            verify_stripe_signature(&upper, body, SECRET, 300, now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn final_payment_states_never_change() {
        use PaymentState::*;
        assert_eq!(Pending.advance(Succeeded), Succeeded);
        assert_eq!(
            Succeeded.advance(Failed),
            Succeeded,
            "a late failure changes nothing"
        );
        assert_eq!(
            Failed.advance(Succeeded),
            Succeeded,
            "a retry after a failure can succeed"
        );
        assert_eq!(Processing.advance(Failed), Failed, "a bank debit can fail");
        assert_eq!(Canceled.advance(Succeeded), Canceled);
        assert_eq!(Succeeded.advance(Canceled), Succeeded);
        assert_eq!(
            PaymentState::from_stripe_intent("requires_payment_method"),
            Some(Pending)
        );
        assert_eq!(
            PaymentState::from_stripe_intent("succeeded"),
            Some(Succeeded)
        );
        assert_eq!(PaymentState::from_stripe_intent("bogus"), None);
    }

    #[test]
    fn thirty_then_seventy_percent_reverses_everything() {
        let mut shares = vec![
            VendorShare {
                total: 3333,
                commission: 333,
                refunded: 0,
            },
            VendorShare {
                total: 6667,
                commission: 667,
                refunded: 0,
            },
        ];
        let (mut commission, mut earning) = (0, 0);
        for amount in [3000, 7000] {
            let split = split_refund(amount, &shares).unwrap();
            assert_eq!(split.iter().map(|s| s.amount).sum::<i64>(), amount);
            for (s, r) in shares.iter_mut().zip(&split) {
                s.refunded += r.amount;
                commission += r.commission_reversal;
                earning += r.earning_reversal;
            }
        }
        assert_eq!(commission, 1000);
        assert_eq!(earning, 9000);
        assert_eq!(split_refund(1, &shares), None, "nothing left to refund");
    }

    proptest! {
        /// Whatever the series of partial refunds, the split adds up, never reverses more than
        /// was earned, and a series that refunds everything reverses everything.
        #[test]
        fn refund_splits_add_up(
            parts in proptest::collection::vec((0i64..100_000, 0u16..=10_000), 1..4),
            cuts in proptest::collection::vec(1i64..100, 1..5),
        ) {
            let mut shares: Vec<VendorShare> = parts
                .iter()
                .map(|(total, bps)| VendorShare {
                    total: *total,
                    commission: total * i64::from(*bps) / 10_000,
                    refunded: 0,
                })
                .collect();
            let total: i64 = shares.iter().map(|s| s.total).sum();
            let weight: i64 = cuts.iter().sum();
            let mut left = total;
            let (mut commission, mut earning) = (0, 0);
            for (i, cut) in cuts.iter().enumerate() {
                let amount = if i + 1 == cuts.len() { left } else { total * cut / weight };
                let amount = amount.min(left);
                let split = split_refund(amount, &shares).unwrap();
                prop_assert_eq!(split.iter().map(|s| s.amount).sum::<i64>(), amount);
                for (s, r) in shares.iter_mut().zip(&split) {
                    prop_assert!(r.amount >= 0 && r.commission_reversal >= 0 && r.earning_reversal >= 0);
                    s.refunded += r.amount;
                    prop_assert!(s.refunded <= s.total);
                    commission += r.commission_reversal;
                    earning += r.earning_reversal;
                }
                left -= amount;
            }
            let all_commission: i64 = shares.iter().map(|s| s.commission).sum();
            prop_assert_eq!(commission, all_commission);
            prop_assert_eq!(earning, total - all_commission);
        }

        #[test]
        fn python_int_parsing_accepts_what_int_accepts(n in any::<i32>()) {
            prop_assert_eq!(parse_python_int(&format!(" {n} ")), Some(i64::from(n)));
            prop_assert_eq!(parse_python_int(&format!("+{}", n.unsigned_abs())), Some(i64::from(n.unsigned_abs())));
        }
    }
}
