//! `/api/hooks`: what payment providers tell Souk. Stripe's webhook is verified over the raw body
//! before anything is parsed; every path that learns a payment's state goes through
//! `souk_app::payments`' one idempotent transition.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use souk_app::payments::{self as flows};
use utoipa::ToSchema;

use crate::AppState;
use crate::error::{ApiResult, Problem};

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    /// `processed`, `duplicate` (seen before: nothing changed), `ignored` (not an event Souk
    /// acts on) or `unknown_payment`.
    pub outcome: &'static str,
}

/// Stripe's webhook. The `Stripe-Signature` header is verified over the raw body before
/// anything is parsed or written; a failed check is 400 and writes nothing. Each event id is
/// processed once; duplicates, late and out-of-order events are answered 200 and never move a
/// payment out of a final state (succeeded, canceled).
#[utoipa::path(post, path = "/api/hooks/stripe", tag = "hooks",
    request_body(content = String, description = "The raw Stripe event JSON", content_type = "application/json"),
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    responses(
        (status = 200, description = "Accepted (processed, duplicate or ignored)", body = WebhookAck),
        (status = 400, description = "`invalid_signature` or `invalid_event`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`provider_not_configured`: Stripe is not set up on this server", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<WebhookAck>> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = flows::receive_stripe_webhook(&state.app, signature, &body).await?;
    Ok(Json(WebhookAck {
        received: true,
        outcome: outcome.as_str(),
    }))
}
