//! Stripe: PaymentIntents for the order total, the Refunds API, and signed webhooks.
//!
//! Requests are form-encoded, carry a pinned `Stripe-Version`, and every POST carries an
//! `Idempotency-Key` derived from Souk's own ids, so a retry (after a timeout, a dropped
//! connection or a crash) returns the object the first request created instead of charging
//! again. Retries follow Stripe's guidance: connection errors, timeouts, 409, 429 and 5xx are
//! retried with exponential backoff and jitter, unless Stripe answers `Stripe-Should-Retry:
//! false`; other 4xx answers are final.

use std::time::Duration;

use serde_json::Value;
use souk_domain::payments::{
    PaymentState, STRIPE_SIGNATURE_TOLERANCE_SECS, SignatureError, verify_stripe_signature,
};

use crate::{
    BoxFuture, CreatePayment, PaymentProvider, ProviderError, ProviderPayment, ProviderRefund,
    RefundPayment, WebhookError, WebhookEvent,
};

/// The Stripe API version Souk is written against (sent on every request).
pub const API_VERSION: &str = "2024-06-20";
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

#[derive(Clone)]
pub struct StripeConfig {
    /// `sk_live_…` / `sk_test_…` / a restricted key.
    pub secret_key: String,
    /// The endpoint's signing secret, `whsec_…`.
    pub webhook_secret: String,
    pub api_base: String,
    /// Per attempt; the whole call may take `(max_retries + 1)` times this plus backoff.
    pub timeout: Duration,
    pub max_retries: u32,
}

// Secrets stay out of logs and panics.
impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

pub struct Stripe {
    http: reqwest::Client,
    config: StripeConfig,
}

impl Stripe {
    pub fn new(config: StripeConfig) -> Result<Stripe, String> {
        let http = crate::https_client_builder()?
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .timeout(config.timeout)
            .user_agent(concat!("souk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Stripe { http, config })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_base.trim_end_matches('/'))
    }

    /// One API call with Stripe's retry rules. `form` is `None` for GET.
    async fn call(
        &self,
        path: &str,
        form: Option<&[(&str, String)]>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, ProviderError> {
        let mut attempt = 0;
        loop {
            let mut request = match form {
                Some(form) => self.http.post(self.url(path)).form(form),
                None => self.http.get(self.url(path)),
            };
            request = request
                .bearer_auth(&self.config.secret_key)
                .header("Stripe-Version", API_VERSION);
            if let Some(key) = idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            let (retry, error) = match request.send().await {
                Err(e) => (true, ProviderError::Unavailable(transport_error(&e))),
                Ok(response) => {
                    let status = response.status().as_u16();
                    let should_retry = response
                        .headers()
                        .get("stripe-should-retry")
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v == "true");
                    match response.json::<Value>().await {
                        Ok(body) if (200..300).contains(&status) => return Ok(body),
                        Ok(body) => {
                            let message = body["error"]["message"]
                                .as_str()
                                .unwrap_or("no message")
                                .to_owned();
                            let transient = status == 409 || status == 429 || status >= 500;
                            let retry = should_retry.unwrap_or(transient);
                            let text = format!("HTTP {status}: {message}");
                            if transient || retry {
                                (retry, ProviderError::Unavailable(text))
                            } else {
                                (false, ProviderError::Refused(text))
                            }
                        }
                        // The answer was cut off: the request may or may not have been done.
                        Err(e) => (
                            should_retry.unwrap_or(true),
                            ProviderError::Unavailable(format!(
                                "HTTP {status}, unreadable body: {}",
                                transport_error(&e)
                            )),
                        ),
                    }
                }
            };
            if !retry || attempt >= self.config.max_retries {
                return Err(error);
            }
            attempt += 1;
            let delay = backoff(attempt);
            tracing::warn!(path, attempt, retry_in = ?delay, error = %error, "Stripe call failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "connection failed".to_owned()
    }
}

/// 0.5 s, 1 s, 2 s … (capped at 8 s), each with up to 50 % random jitter taken off.
fn backoff(attempt: u32) -> Duration {
    let full = Duration::from_millis(500)
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(Duration::from_secs(8));
    let random = (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 1000.0;
    full.mul_f64(1.0 - 0.5 * random)
}

/// Stripe ids go into URL paths: only their own alphabet is let through.
fn check_id(id: &str) -> Result<(), ProviderError> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(ProviderError::Refused(format!("bad Stripe id '{id}'")))
    }
}

/// A PaymentIntent object as a [`ProviderPayment`].
fn intent(object: &Value) -> Result<ProviderPayment, String> {
    let id = object["id"].as_str().ok_or("PaymentIntent without id")?;
    let status = object["status"].as_str().unwrap_or_default();
    let state = PaymentState::from_stripe_intent(status)
        .ok_or_else(|| format!("unknown PaymentIntent status '{status}'"))?;
    // `payment_failed` leaves the intent in `requires_payment_method` with an error attached.
    let state = if state == PaymentState::Pending && object["last_payment_error"].is_object() {
        PaymentState::Failed
    } else {
        state
    };
    Ok(ProviderPayment {
        provider_ref: id.to_owned(),
        state,
        amount: object["amount"].as_i64().unwrap_or(0),
        amount_refunded: 0,
        client_secret: object["client_secret"].as_str().map(str::to_owned),
        latest_refund_ref: None,
    })
}

/// A Charge object (from `charge.refunded`): a refunded charge was a successful payment.
fn charge(object: &Value) -> Result<ProviderPayment, String> {
    let intent = object["payment_intent"]
        .as_str()
        .ok_or("charge without payment_intent")?;
    let succeeded =
        object["status"].as_str() == Some("succeeded") || object["paid"].as_bool() == Some(true);
    Ok(ProviderPayment {
        provider_ref: intent.to_owned(),
        state: if succeeded {
            PaymentState::Succeeded
        } else {
            PaymentState::Pending
        },
        amount: object["amount"].as_i64().unwrap_or(0),
        amount_refunded: object["amount_refunded"].as_i64().unwrap_or(0),
        client_secret: None,
        latest_refund_ref: object["refunds"]["data"][0]["id"]
            .as_str()
            .map(str::to_owned),
    })
}

impl PaymentProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn create_payment<'a>(
        &'a self,
        request: &'a CreatePayment,
    ) -> BoxFuture<'a, Result<ProviderPayment, ProviderError>> {
        Box::pin(async move {
            let form = [
                ("amount", request.amount.to_string()),
                ("currency", request.currency.to_ascii_lowercase()),
                ("automatic_payment_methods[enabled]", "true".to_owned()),
                ("metadata[souk_order_id]", request.order_id.to_string()),
            ];
            let body = self
                .call(
                    "/v1/payment_intents",
                    Some(&form),
                    Some(&request.idempotency_key),
                )
                .await?;
            intent(&body).map_err(ProviderError::Refused)
        })
    }

    fn fetch_payment<'a>(
        &'a self,
        provider_ref: &'a str,
    ) -> BoxFuture<'a, Result<ProviderPayment, ProviderError>> {
        Box::pin(async move {
            check_id(provider_ref)?;
            let body = self
                .call(&format!("/v1/payment_intents/{provider_ref}"), None, None)
                .await?;
            intent(&body).map_err(ProviderError::Refused)
        })
    }

    fn refund<'a>(
        &'a self,
        request: &'a RefundPayment,
    ) -> BoxFuture<'a, Result<ProviderRefund, ProviderError>> {
        Box::pin(async move {
            check_id(&request.provider_ref)?;
            let souk_id = request.souk_refund_id.to_string();
            // Done before? (A retry after a lost answer, possibly after the idempotency key
            // expired at Stripe.) Stripe returns refunds newest first; 100 covers any order.
            let existing = self
                .call(
                    &format!(
                        "/v1/refunds?payment_intent={}&limit=100",
                        request.provider_ref
                    ),
                    None,
                    None,
                )
                .await?;
            let found = existing["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["metadata"]["souk_refund_id"].as_str() == Some(&souk_id))
                .cloned();
            let body = match found {
                Some(refund) => refund,
                None => {
                    let form = [
                        ("payment_intent", request.provider_ref.clone()),
                        ("amount", request.amount.to_string()),
                        ("metadata[souk_refund_id]", souk_id.clone()),
                    ];
                    self.call("/v1/refunds", Some(&form), Some(&request.idempotency_key))
                        .await?
                }
            };
            let id = body["id"]
                .as_str()
                .ok_or_else(|| ProviderError::Refused("refund without id".to_owned()))?;
            let status = body["status"].as_str().unwrap_or("pending");
            Ok(ProviderRefund {
                refund_ref: id.to_owned(),
                succeeded: status == "succeeded",
                pending: matches!(status, "pending" | "requires_action"),
            })
        })
    }

    fn cancel_payment<'a>(
        &'a self,
        provider_ref: &'a str,
    ) -> BoxFuture<'a, Result<ProviderPayment, ProviderError>> {
        Box::pin(async move {
            check_id(provider_ref)?;
            let form = [("cancellation_reason", "abandoned".to_owned())];
            let body = self
                .call(
                    &format!("/v1/payment_intents/{provider_ref}/cancel"),
                    Some(&form),
                    // A refusal ("processing") is remembered under its key: a new key each
                    // hour lets a later pass try again.
                    Some(&format!(
                        "souk-cancel-{provider_ref}-{}",
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs() / 3600)
                    )),
                )
                .await?;
            intent(&body).map_err(ProviderError::Refused)
        })
    }

    fn parse_webhook(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        let header = signature_header
            .ok_or_else(|| WebhookError::Signature("missing Stripe-Signature header".to_owned()))?;
        verify_stripe_signature(
            header,
            body,
            &self.config.webhook_secret,
            STRIPE_SIGNATURE_TOLERANCE_SECS,
            now_secs,
        )
        .map_err(|e: SignatureError| WebhookError::Signature(e.to_string()))?;
        let event: Value = serde_json::from_slice(body)
            .map_err(|e| WebhookError::Malformed(format!("not JSON: {e}")))?;
        let id = event["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= 255)
            .ok_or_else(|| WebhookError::Malformed("event without id".to_owned()))?;
        let kind = event["type"]
            .as_str()
            .ok_or_else(|| WebhookError::Malformed("event without type".to_owned()))?;
        let object = &event["data"]["object"];
        let payment = match kind {
            "payment_intent.succeeded"
            | "payment_intent.payment_failed"
            | "payment_intent.processing"
            | "payment_intent.canceled" => {
                let mut p = intent(object).map_err(WebhookError::Malformed)?;
                if kind == "payment_intent.payment_failed" && p.state == PaymentState::Pending {
                    p.state = PaymentState::Failed;
                }
                Some(p)
            }
            "charge.refunded" => Some(charge(object).map_err(WebhookError::Malformed)?),
            _ => None,
        };
        Ok(WebhookEvent {
            id: id.to_owned(),
            kind: kind.to_owned(),
            payment,
        })
    }
}
