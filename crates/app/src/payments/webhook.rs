//! A provider's webhook: verified over the raw body, each event applied once.

use souk_payments::WebhookError;
use souk_storage::now_ms;

use super::{Observed, observe};
use crate::{App, AppError, Kind};

/// What a provider's webhook call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Applied to its payment (which may not have changed).
    Processed,
    /// This event id was processed before: nothing changed.
    Duplicate,
    /// Not an event Souk acts on.
    Ignored,
    /// Not a payment Souk knows.
    UnknownPayment,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Processed => "processed",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::UnknownPayment => "unknown_payment",
        }
    }
}

/// Without Stripe keys the webhook does not exist for this shop: a lasting configuration state,
/// not a temporary outage.
fn stripe_not_configured() -> AppError {
    AppError::refused(
        Kind::NotFound,
        "provider_not_configured",
        "Payment provider not configured",
        "Stripe is not configured on this server (set SOUK_STRIPE_SECRET_KEY and SOUK_STRIPE_WEBHOOK_SECRET)",
    )
}

/// Stripe's webhook: the signature is verified over the raw body before anything is parsed or
/// written (a failed check writes nothing); each event id is processed once; duplicates, late
/// and out-of-order events never move a payment out of a final state.
pub async fn receive_stripe_webhook(
    app: &App,
    signature: Option<&str>,
    body: &[u8],
) -> Result<WebhookOutcome, AppError> {
    let Some(stripe) = app.providers.stripe.clone() else {
        return Err(stripe_not_configured());
    };
    let event = stripe
        .parse_webhook(signature, body, now_ms() / 1000)
        .map_err(|e| match e {
            WebhookError::Signature(m) => {
                AppError::refused(Kind::Invalid, "invalid_signature", "Invalid signature", m)
            }
            WebhookError::Malformed(m) => {
                AppError::refused(Kind::Invalid, "invalid_event", "Invalid event", m)
            }
        })?;
    let Some(payment) = &event.payment else {
        return Ok(WebhookOutcome::Ignored);
    };
    let observed = observe(&app.db, "stripe", payment, Some((&event.id, &event.kind))).await?;
    app.jobs_committed();
    Ok(match observed {
        Observed::DuplicateEvent => WebhookOutcome::Duplicate,
        Observed::UnknownPayment => WebhookOutcome::UnknownPayment,
        Observed::Applied(_) => WebhookOutcome::Processed,
    })
}
