//! The request and response bodies of the webhook endpoints' API.

use serde::{Deserialize, Serialize};
use souk_domain::time::rfc3339;
use souk_storage::webhooks::Endpoint;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    /// Where to POST events: `https://…` (plain `http://` only when the shop itself is not on
    /// https); loopback and private addresses are refused unless the operator allows them.
    pub url: String,
    /// Event types to receive: `order.created`, `order.paid`, `order.fulfilled`,
    /// `order.partially_fulfilled`, `order.completed`, `order.cancelled`, `order.refunded`,
    /// `order.partially_refunded`, `product.updated`, `stock.low`, and for platform endpoints
    /// only `payment.failed`.
    #[schema(value_type = Vec<crate::api::vocabulary::EventType>)]
    pub events: Vec<String>,
    /// A note for people (up to 200 characters).
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointPatch {
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<crate::api::vocabulary::EventType>>)]
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// `true` re-enables a disabled endpoint (and forgets its past failures).
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointBody {
    pub id: Uuid,
    /// The vendor whose events it receives; `null` for a platform endpoint.
    pub vendor_id: Option<Uuid>,
    pub url: String,
    pub description: String,
    #[schema(value_type = Vec<crate::api::vocabulary::EventType>)]
    pub events: Vec<String>,
    pub enabled: bool,
    /// Why it is disabled (by its owner, or after failing for too long).
    pub disabled_reason: Option<String>,
    /// Since when every delivery has failed (`null`: healthy).
    #[schema(format = DateTime)]
    pub failing_since: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Endpoint> for EndpointBody {
    fn from(e: &Endpoint) -> Self {
        EndpointBody {
            id: e.id,
            vendor_id: e.vendor_id,
            url: e.url.clone(),
            description: e.description.clone(),
            events: e.event_list().into_iter().map(str::to_owned).collect(),
            enabled: e.enabled(),
            disabled_reason: e.disabled_reason.clone(),
            failing_since: e.failing_since.map(rfc3339),
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointCreated {
    #[serde(flatten)]
    pub endpoint: EndpointBody,
    /// The signing secret (`whsec_…`, Standard Webhooks): verify `webhook-signature` with it.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointList {
    pub items: Vec<EndpointBody>,
    /// Always null: the whole list is in this page (every list has this one shape).
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretBody {
    /// `whsec_` + base64 of the signing key.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    pub id: Uuid,
    /// The `webhook-id` header of every attempt of this message.
    pub webhook_id: String,
    #[schema(value_type = crate::api::vocabulary::EventType)]
    pub event_type: String,
    /// `pending`, `delivered`, `failed` (gave up) or `skipped` (the endpoint was disabled).
    #[schema(value_type = crate::api::vocabulary::MessageStatus)]
    pub status: String,
    pub attempts: i64,
    /// The exact JSON body sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<MessageBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptBody {
    pub id: Uuid,
    pub message_id: Uuid,
    pub webhook_id: String,
    /// 1 for the first try of a message.
    pub attempt: i64,
    /// The receiver's HTTP status; `null` when there was no response.
    pub status_code: Option<i64>,
    pub error: Option<String>,
    /// The first kilobyte of the response body.
    pub response_snippet: Option<String>,
    pub latency_ms: i64,
    #[schema(format = DateTime)]
    pub at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptPage {
    pub items: Vec<AttemptBody>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedeliveryBody {
    pub message_id: Uuid,
    pub webhook_id: String,
    #[schema(value_type = crate::api::vocabulary::MessageStatus)]
    pub status: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// 1–100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only the attempts of this message.
    pub message_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// RFC 3339: messages created at or after this time are sent again.
    pub since: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecoverBody {
    /// Messages queued again (`failed` and `skipped` ones, oldest first).
    pub queued: usize,
    /// More remain (at most 1000 per call): call again with the same `since`.
    pub more: bool,
}
