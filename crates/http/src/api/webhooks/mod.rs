//! `/api/vendor/webhooks` and `/api/admin/webhooks`: outgoing webhook endpoints, their secrets,
//! messages and delivery log, and manual redelivery. A vendor manages its own endpoints (which
//! receive only its events); admins manage the platform's (which receive every event). The two
//! sets of routes share one implementation and differ only in whose endpoints they touch.

mod bodies;

pub use bodies::*;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use souk_app::webhooks as flows;
use souk_domain::time::rfc3339;
use souk_domain::webhooks::message_header_id;
use souk_storage::webhooks::{self as store, Endpoint, Owner};
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{PageParams, actor, next_cursor, path_id};
use crate::auth::{Admin, Principal, VendorStaff};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{ApiJson, ApiQuery};

/// Who is calling, and whose endpoints that means.
struct Caller<'a> {
    owner: Owner,
    principal: &'a Principal,
    client: &'a ClientInfo,
}

impl Caller<'_> {
    fn actor(&self) -> souk_app::Actor {
        actor(self.principal, self.client)
    }
}

async fn create(
    state: &AppState,
    caller: Caller<'_>,
    body: EndpointRequest,
) -> ApiResult<(StatusCode, Json<EndpointCreated>)> {
    let new = flows::NewEndpoint {
        url: body.url,
        events: body.events,
        description: body.description,
    };
    let made = flows::create(&state.app, &caller.actor(), caller.owner, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(EndpointCreated {
            secret: made.secret,
            endpoint: (&made.endpoint).into(),
        }),
    ))
}

async fn list(state: &AppState, owner: Owner) -> ApiResult<Json<EndpointList>> {
    let endpoints = store::list(&state.db, owner).await?;
    Ok(Json(EndpointList {
        next_cursor: None,
        items: endpoints.iter().map(Into::into).collect(),
    }))
}

async fn get(state: &AppState, owner: Owner, id: &str) -> ApiResult<Endpoint> {
    let id = path_id(id, "webhook endpoint")?;
    Ok(flows::endpoint(&state.app, owner, id).await?)
}

async fn update(
    state: &AppState,
    caller: Caller<'_>,
    id: &str,
    body: EndpointPatch,
) -> ApiResult<Json<EndpointBody>> {
    let id = path_id(id, "webhook endpoint")?;
    let patch = flows::EndpointPatch {
        url: body.url,
        events: body.events,
        description: body.description,
        enabled: body.enabled,
    };
    let endpoint = flows::update(&state.app, &caller.actor(), caller.owner, id, patch).await?;
    Ok(Json((&endpoint).into()))
}

async fn delete(state: &AppState, caller: Caller<'_>, id: &str) -> ApiResult<StatusCode> {
    let id = path_id(id, "webhook endpoint")?;
    flows::delete(&state.app, &caller.actor(), caller.owner, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reading a secret back is for people: a read-only API key could otherwise learn it and forge
/// events to the receiver. (A key allowed to create or rotate endpoints gets the secret it
/// made in that response.)
fn person_only(principal: &Principal) -> ApiResult<()> {
    if principal.api_key.is_some() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "Insufficient scope",
            "API keys cannot read webhook secrets",
        ));
    }
    Ok(())
}

async fn rotate(state: &AppState, caller: Caller<'_>, id: &str) -> ApiResult<Json<SecretBody>> {
    let id = path_id(id, "webhook endpoint")?;
    let keyed = flows::rotate_secret(&state.app, &caller.actor(), caller.owner, id).await?;
    Ok(Json(SecretBody {
        secret: keyed.secret,
    }))
}

async fn messages(
    state: &AppState,
    owner: Owner,
    id: &str,
    params: PageParams,
) -> ApiResult<Json<MessagePage>> {
    let (limit, before, status) = params.parse(crate::api::vocabulary::MESSAGE_STATUSES)?;
    let endpoint = get(state, owner, id).await?;
    let rows = store::messages(&state.db, endpoint.id, status.as_deref(), before, limit).await?;
    Ok(Json(MessagePage {
        next_cursor: next_cursor(rows.iter().map(|m| m.id), rows.len(), limit),
        items: rows
            .iter()
            .map(|m| MessageBody {
                id: m.id,
                webhook_id: message_header_id(m.id),
                event_type: m.event_type.clone(),
                status: m.status.clone(),
                attempts: m.attempts,
                payload: serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null),
                created_at: rfc3339(m.created_at),
                delivered_at: m.delivered_at.map(rfc3339),
            })
            .collect(),
    }))
}

async fn deliveries(
    state: &AppState,
    owner: Owner,
    id: &str,
    params: DeliveryParams,
) -> ApiResult<Json<AttemptPage>> {
    let (limit, before, _) = PageParams {
        limit: params.limit,
        cursor: params.cursor,
        status: None,
    }
    .parse(&[])?;
    let message_id = match params.message_id.as_deref() {
        None => None,
        Some(m) => Some(Uuid::try_parse(m).map_err(|_| {
            ApiError::validation(vec![FieldError {
                field: "message_id".into(),
                message: "is not a message id".into(),
            }])
        })?),
    };
    let endpoint = get(state, owner, id).await?;
    let rows = store::attempts(&state.db, endpoint.id, message_id, before, limit).await?;
    Ok(Json(AttemptPage {
        next_cursor: next_cursor(rows.iter().map(|a| a.id), rows.len(), limit),
        items: rows
            .iter()
            .map(|a| AttemptBody {
                id: a.id,
                message_id: a.message_id,
                webhook_id: message_header_id(a.message_id),
                attempt: a.attempt,
                status_code: a.status_code,
                error: a.error.clone(),
                response_snippet: a.response_snippet.clone(),
                latency_ms: a.latency_ms,
                at: rfc3339(a.created_at),
            })
            .collect(),
    }))
}

async fn redeliver(
    state: &AppState,
    caller: Caller<'_>,
    id: &str,
    message_id: &str,
) -> ApiResult<(StatusCode, Json<RedeliveryBody>)> {
    let id = path_id(id, "webhook endpoint")?;
    let message_id = path_id(message_id, "message")?;
    flows::redeliver(&state.app, &caller.actor(), caller.owner, id, message_id).await?;
    Ok((StatusCode::ACCEPTED, Json(queued(message_id))))
}

fn queued(message_id: Uuid) -> RedeliveryBody {
    RedeliveryBody {
        message_id,
        webhook_id: message_header_id(message_id),
        status: "pending".to_owned(),
    }
}

async fn send_test(
    state: &AppState,
    caller: Caller<'_>,
    id: &str,
) -> ApiResult<(StatusCode, Json<RedeliveryBody>)> {
    let id = path_id(id, "webhook endpoint")?;
    let message_id = flows::send_test(&state.app, &caller.actor(), caller.owner, id).await?;
    Ok((StatusCode::ACCEPTED, Json(queued(message_id))))
}

async fn recover(
    state: &AppState,
    caller: Caller<'_>,
    id: &str,
    body: RecoverRequest,
) -> ApiResult<(StatusCode, Json<RecoverBody>)> {
    let id = path_id(id, "webhook endpoint")?;
    let done = flows::recover(&state.app, &caller.actor(), caller.owner, id, &body.since).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RecoverBody {
            queued: done.queued,
            more: done.more,
        }),
    ))
}

/// The routes of one owner kind: `$who` is the extractor (`VendorStaff` or `Admin`), `$owner`
/// turns it into the owner and principal, `$base` is the path prefix, `$tag` the OpenAPI tag.
macro_rules! webhook_routes {
    (
        $module:ident, $who:ty, |$w:ident| $owner:expr, $principal:expr, $tag:literal,
        $list:literal, $one:literal, $secret:literal, $rotate:literal, $messages:literal,
        $deliveries:literal, $redeliver:literal, $test:literal, $recover:literal
    ) => {
        pub mod $module {
            use super::*;

            /// Register a webhook endpoint; the response holds its signing secret.
            #[utoipa::path(post, path = $list, tag = $tag, operation_id = concat!($tag, "_create_webhook"), request_body = EndpointRequest, security(("bearer" = [])),
                responses(
                    (status = 201, description = "Created", body = EndpointCreated),
                    (status = 400, description = "Invalid URL or event types (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
                    (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Not allowed, or CSRF", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "Endpoint limit reached (`too_many_endpoints`)", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn create(
                State(state): State<AppState>,
                $w: $who,
                client: ClientInfo,
                ApiJson(body): ApiJson<EndpointRequest>,
            ) -> ApiResult<(StatusCode, Json<EndpointCreated>)> {
                let caller = Caller { owner: $owner, principal: $principal, client: &client };
                super::create(&state, caller, body).await
            }

            /// The webhook endpoints (never their secrets).
            #[utoipa::path(get, path = $list, tag = $tag, operation_id = concat!($tag, "_list_webhooks"), security(("bearer" = [])),
                responses(
                    (status = 200, description = "Endpoints", body = EndpointList),
                    (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn list(State(state): State<AppState>, $w: $who) -> ApiResult<Json<EndpointList>> {
                let _ = $principal;
                super::list(&state, $owner).await
            }

            /// One webhook endpoint.
            #[utoipa::path(get, path = $one, tag = $tag, operation_id = concat!($tag, "_get_webhook"), security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id")),
                responses(
                    (status = 200, description = "The endpoint", body = EndpointBody),
                    (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn get(
                State(state): State<AppState>,
                $w: $who,
                Path(id): Path<String>,
            ) -> ApiResult<Json<EndpointBody>> {
                let _ = $principal;
                Ok(Json((&super::get(&state, $owner, &id).await?).into()))
            }

            /// Change an endpoint's URL, events or description; disable or re-enable it.
            #[utoipa::path(patch, path = $one, tag = $tag, operation_id = concat!($tag, "_update_webhook"), request_body = EndpointPatch, security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id")),
                responses(
                    (status = 200, description = "The changed endpoint", body = EndpointBody),
                    (status = 400, description = "Invalid URL or event types (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Not allowed, or CSRF", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn update(
                State(state): State<AppState>,
                $w: $who,
                client: ClientInfo,
                Path(id): Path<String>,
                ApiJson(body): ApiJson<EndpointPatch>,
            ) -> ApiResult<Json<EndpointBody>> {
                let caller = Caller { owner: $owner, principal: $principal, client: &client };
                super::update(&state, caller, &id, body).await
            }

            /// Delete an endpoint with its messages and delivery log.
            #[utoipa::path(delete, path = $one, tag = $tag, operation_id = concat!($tag, "_delete_webhook"), security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id")),
                responses(
                    (status = 204, description = "Deleted"),
                    (status = 403, description = "Not allowed, or CSRF", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn delete(
                State(state): State<AppState>,
                $w: $who,
                client: ClientInfo,
                Path(id): Path<String>,
            ) -> ApiResult<StatusCode> {
                let caller = Caller { owner: $owner, principal: $principal, client: &client };
                super::delete(&state, caller, &id).await
            }

            /// The endpoint's signing secret (people only, not API keys).
            #[utoipa::path(get, path = $secret, tag = $tag, operation_id = concat!($tag, "_get_webhook_secret"), security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id")),
                responses(
                    (status = 200, description = "The secret", body = SecretBody),
                    (status = 403, description = "Not allowed, or an API key (`insufficient_scope`)", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn secret(
                State(state): State<AppState>,
                $w: $who,
                Path(id): Path<String>,
            ) -> ApiResult<Json<SecretBody>> {
                person_only($principal)?;
                let endpoint = super::get(&state, $owner, &id).await?;
                Ok(Json(SecretBody { secret: flows::secret(&state.app, &endpoint) }))
            }

            /// Replace the signing secret at once; the old one stops verifying.
            #[utoipa::path(post, path = $rotate, tag = $tag, operation_id = concat!($tag, "_rotate_webhook_secret"), security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id")),
                responses(
                    (status = 200, description = "The new secret", body = SecretBody),
                    (status = 403, description = "Not allowed, or CSRF", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn rotate_secret(
                State(state): State<AppState>,
                $w: $who,
                client: ClientInfo,
                Path(id): Path<String>,
            ) -> ApiResult<Json<SecretBody>> {
                let caller = Caller { owner: $owner, principal: $principal, client: &client };
                super::rotate(&state, caller, &id).await
            }

            /// The endpoint's messages (one per event), newest first.
            #[utoipa::path(get, path = $messages, tag = $tag, operation_id = concat!($tag, "_list_webhook_messages"), security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id"), PageParams),
                responses(
                    (status = 200, description = "Messages", body = MessagePage),
                    (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn messages(
                State(state): State<AppState>,
                $w: $who,
                Path(id): Path<String>,
                ApiQuery(params): ApiQuery<PageParams>,
            ) -> ApiResult<Json<MessagePage>> {
                let _ = $principal;
                super::messages(&state, $owner, &id, params).await
            }

            /// The delivery log: every attempt with its status, latency and response, newest first.
            #[utoipa::path(get, path = $deliveries, tag = $tag, operation_id = concat!($tag, "_list_webhook_deliveries"), security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id"), DeliveryParams),
                responses(
                    (status = 200, description = "Attempts", body = AttemptPage),
                    (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Not allowed", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn deliveries(
                State(state): State<AppState>,
                $w: $who,
                Path(id): Path<String>,
                ApiQuery(params): ApiQuery<DeliveryParams>,
            ) -> ApiResult<Json<AttemptPage>> {
                let _ = $principal;
                super::deliveries(&state, $owner, &id, params).await
            }

            /// Send a message again (same `webhook-id`), e.g. after fixing the receiver.
            #[utoipa::path(post, path = $redeliver, tag = $tag, operation_id = concat!($tag, "_redeliver_webhook_message"), security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id"), ("message_id" = Uuid, Path, description = "Message id")),
                responses(
                    (status = 202, description = "Queued", body = RedeliveryBody),
                    (status = 403, description = "Not allowed, or CSRF", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint or message of yours", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn redeliver(
                State(state): State<AppState>,
                $w: $who,
                client: ClientInfo,
                Path((id, message_id)): Path<(String, String)>,
            ) -> ApiResult<(StatusCode, Json<RedeliveryBody>)> {
                let caller = Caller { owner: $owner, principal: $principal, client: &client };
                super::redeliver(&state, caller, &id, &message_id).await
            }

            /// Send a `webhook.test` event to the endpoint now, whatever its event filter.
            #[utoipa::path(post, path = $test, tag = $tag, operation_id = concat!($tag, "_send_webhook_test"), security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id")),
                responses(
                    (status = 202, description = "Queued", body = RedeliveryBody),
                    (status = 403, description = "Not allowed, or CSRF", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "The endpoint is disabled (`endpoint_disabled`)", body = Problem, content_type = "application/problem+json"),
                    (status = 429, description = "Too many test events and recoveries this hour (`too_many_requests`)", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn send_test(
                State(state): State<AppState>,
                $w: $who,
                client: ClientInfo,
                Path(id): Path<String>,
            ) -> ApiResult<(StatusCode, Json<RedeliveryBody>)> {
                let caller = Caller { owner: $owner, principal: $principal, client: &client };
                super::send_test(&state, caller, &id).await
            }

            /// Send again every `failed` or `skipped` message created since a time (after an
            /// outage; at most 1000 per call).
            #[utoipa::path(post, path = $recover, tag = $tag, operation_id = concat!($tag, "_recover_webhook_messages"), request_body = RecoverRequest, security(("bearer" = [])),
                params(("id" = Uuid, Path, description = "Endpoint id")),
                responses(
                    (status = 202, description = "Queued", body = RecoverBody),
                    (status = 400, description = "Invalid `since` (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
                    (status = 403, description = "Not allowed, or CSRF", body = Problem, content_type = "application/problem+json"),
                    (status = 404, description = "No such endpoint of yours", body = Problem, content_type = "application/problem+json"),
                    (status = 409, description = "The endpoint is disabled (`endpoint_disabled`)", body = Problem, content_type = "application/problem+json"),
                    (status = 429, description = "Too many test events and recoveries this hour (`too_many_requests`)", body = Problem, content_type = "application/problem+json"),
                ))]
            pub async fn recover(
                State(state): State<AppState>,
                $w: $who,
                client: ClientInfo,
                Path(id): Path<String>,
                ApiJson(body): ApiJson<RecoverRequest>,
            ) -> ApiResult<(StatusCode, Json<RecoverBody>)> {
                let caller = Caller { owner: $owner, principal: $principal, client: &client };
                super::recover(&state, caller, &id, body).await
            }
        }
    };
}

webhook_routes!(
    vendor,
    VendorStaff,
    |staff| Owner::Vendor(staff.vendor_id),
    &staff.principal,
    "vendor",
    "/api/vendor/webhooks",
    "/api/vendor/webhooks/{id}",
    "/api/vendor/webhooks/{id}/secret",
    "/api/vendor/webhooks/{id}/secret/rotate",
    "/api/vendor/webhooks/{id}/messages",
    "/api/vendor/webhooks/{id}/deliveries",
    "/api/vendor/webhooks/{id}/messages/{message_id}/redeliver",
    "/api/vendor/webhooks/{id}/test",
    "/api/vendor/webhooks/{id}/recover"
);

webhook_routes!(
    admin,
    Admin,
    |admin| Owner::Platform,
    &admin.0,
    "admin",
    "/api/admin/webhooks",
    "/api/admin/webhooks/{id}",
    "/api/admin/webhooks/{id}/secret",
    "/api/admin/webhooks/{id}/secret/rotate",
    "/api/admin/webhooks/{id}/messages",
    "/api/admin/webhooks/{id}/deliveries",
    "/api/admin/webhooks/{id}/messages/{message_id}/redeliver",
    "/api/admin/webhooks/{id}/test",
    "/api/admin/webhooks/{id}/recover"
);
