//! Payment providers. A provider is one module implementing [`PaymentProvider`]: create a
//! payment for an order (with an idempotency key derived from the order and attempt), fetch its
//! current state, refund, and verify + parse its webhooks. The rules that do not depend on a
//! provider's transport (state ordering, signature scheme, refund split) live in
//! `souk_domain::payments`; what Souk does with the answers lives in `souk_app::payments`.
//!
//! The `manual` method (bank transfer, cash on delivery) needs no provider: an admin records
//! the payment.

pub mod stripe;

use std::future::Future;
use std::pin::Pin;

use souk_domain::payments::PaymentState;

/// Makes ring this process's TLS crypto provider (rustls with ring is already in the build for
/// SMTP; it avoids compiling a second one). Every HTTP client in the process relies on it: call
/// it before building one. Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// An HTTP client builder with rustls (ring) and the public web roots: what every outgoing
/// HTTPS call of Souk (payment providers, webhooks) starts from.
pub fn https_client_builder() -> Result<reqwest::ClientBuilder, String> {
    install_tls_provider();
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS set-up: {e}"))?
    .with_root_certificates(rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    })
    .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(tls))
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Ask the provider to collect an order's total. The amount comes from the order.
#[derive(Debug, Clone)]
pub struct CreatePayment {
    pub order_id: uuid::Uuid,
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    /// Same for every retry of one attempt, so the provider never charges twice.
    pub idempotency_key: String,
}

/// The provider's view of a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderPayment {
    /// The provider's id (Stripe: `pi_…`).
    pub provider_ref: String,
    pub state: PaymentState,
    pub amount: i64,
    /// Cumulative amount refunded, as the provider counts it.
    pub amount_refunded: i64,
    /// For the storefront to complete the payment (Stripe's `client_secret`). Never stored.
    pub client_secret: Option<String>,
    /// The provider's id of the latest refund, when known.
    pub latest_refund_ref: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefundPayment {
    pub provider_ref: String,
    pub amount: i64,
    /// Souk's refund id: stored with the provider's refund so a retry can find it even after
    /// the provider has forgotten the idempotency key (Stripe keeps them about 24 hours).
    pub souk_refund_id: uuid::Uuid,
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    pub refund_ref: String,
    /// `false` if the provider reports the refund failed.
    pub succeeded: bool,
    /// `true` while the provider is still working on it.
    pub pending: bool,
}

/// An incoming, verified webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub id: String,
    pub kind: String,
    /// What the event says about a payment; `None` for events Souk does not act on.
    pub payment: Option<ProviderPayment>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Worth retrying later with the same idempotency key (timeout, connection lost, 5xx, 429).
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
    /// The provider refused the request; retrying will not help.
    #[error("payment provider refused: {0}")]
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("signature verification failed: {0}")]
    Signature(String),
    #[error("malformed event: {0}")]
    Malformed(String),
}

pub trait PaymentProvider: Send + Sync {
    /// The name stored with orders and payments (`stripe`).
    fn name(&self) -> &'static str;
    fn create_payment<'a>(
        &'a self,
        request: &'a CreatePayment,
    ) -> BoxFuture<'a, Result<ProviderPayment, ProviderError>>;
    fn fetch_payment<'a>(
        &'a self,
        provider_ref: &'a str,
    ) -> BoxFuture<'a, Result<ProviderPayment, ProviderError>>;
    /// Refunds, or — if a refund for `souk_refund_id` exists already — reports that one.
    fn refund<'a>(
        &'a self,
        request: &'a RefundPayment,
    ) -> BoxFuture<'a, Result<ProviderRefund, ProviderError>>;
    /// Calls off a payment nobody will complete (its order was cancelled). Refused by the
    /// provider if the money already moved: then fetch it and refund instead.
    fn cancel_payment<'a>(
        &'a self,
        provider_ref: &'a str,
    ) -> BoxFuture<'a, Result<ProviderPayment, ProviderError>>;
    /// Verifies the signature over the raw `body` before parsing anything.
    fn parse_webhook(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<WebhookEvent, WebhookError>;
}
