//! Outgoing webhook endpoints: a vendor's (its own events) and the platform's (every event).
//! Registering, changing, deleting and re-keying an endpoint, and sending on demand (redeliver a
//! message, a test event, recovery after an outage), each with its audit entry in the same
//! transaction. Delivery itself is the worker's.

use std::sync::Arc;

use souk_domain::webhooks::{
    EVENT_TYPES, PLATFORM_ONLY_TYPES, TargetPolicy, check_target, endpoint_key, format_secret,
};
use souk_storage::webhooks::{self as store, Endpoint, EndpointChanges, MAX_ENDPOINTS, Owner};
use souk_storage::{accounts, now_ms, vendors};
use uuid::Uuid;

use crate::jobs::delivery_job;
use crate::{Actor, App, AppError, FieldProblem, Kind, outbox, record_audit};

/// How endpoint secrets are derived and which targets are allowed.
#[derive(Clone)]
pub struct WebhookSettings {
    /// Every endpoint's signing secret is derived from this key, its id and its version.
    pub server_key: Arc<[u8]>,
    pub policy: TargetPolicy,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("server_key", &"<redacted>")
            .field("policy", &self.policy)
            .finish()
    }
}

impl Default for WebhookSettings {
    /// A random key for this process (tests, embedding); `souk serve` passes the configured one.
    fn default() -> Self {
        WebhookSettings {
            server_key: souk_domain::webhooks::random_key().to_vec().into(),
            policy: TargetPolicy {
                allow_http: true,
                allow_private: false,
            },
        }
    }
}

/// A new endpoint, as asked for.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    /// `true` re-enables a disabled endpoint (and forgets its past failures).
    pub enabled: Option<bool>,
}

/// An endpoint with its signing secret (`whsec_…`).
#[derive(Debug, Clone)]
pub struct Keyed {
    pub endpoint: Endpoint,
    pub secret: String,
}

/// What a recovery queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    pub queued: usize,
    /// More remain: ask again with the same `since`.
    pub more: bool,
}

fn no_endpoint() -> AppError {
    AppError::not_found("no such webhook endpoint")
}

fn problem(problems: &mut Vec<FieldProblem>, field: &str, message: String) {
    problems.push(FieldProblem {
        field: field.to_owned(),
        message,
    });
}

fn check_events(owner: Owner, events: &[String], problems: &mut Vec<FieldProblem>) -> Vec<String> {
    let mut list: Vec<String> = events.iter().map(|e| e.trim().to_owned()).collect();
    list.sort();
    list.dedup();
    if list.is_empty() {
        problem(problems, "events", "name at least one event type".into());
    }
    for e in &list {
        if !EVENT_TYPES.contains(&e.as_str()) {
            problem(
                problems,
                "events",
                format!("unknown event type '{e}'; use {}", EVENT_TYPES.join(", ")),
            );
        } else if matches!(owner, Owner::Vendor(_)) && PLATFORM_ONLY_TYPES.contains(&e.as_str()) {
            problem(
                problems,
                "events",
                format!("'{e}' is a platform event; vendor endpoints cannot receive it"),
            );
        }
    }
    list
}

fn check_url(app: &App, url: &str, problems: &mut Vec<FieldProblem>) -> String {
    match check_target(url, app.settings.webhooks.policy) {
        Ok(url) => url.to_string(),
        Err(e) => {
            problem(problems, "url", e.to_string());
            String::new()
        }
    }
}

fn check_description(description: &str, problems: &mut Vec<FieldProblem>) -> String {
    let description = description.trim();
    if description.chars().count() > 200 {
        problem(
            problems,
            "description",
            "must be at most 200 characters".into(),
        );
    }
    description.to_owned()
}

/// The endpoint's current signing secret.
pub fn secret(app: &App, endpoint: &Endpoint) -> String {
    format_secret(&endpoint_key(
        &app.settings.webhooks.server_key,
        endpoint.id,
        endpoint.secret_version,
    ))
}

fn vendor_of(owner: Owner) -> Option<Uuid> {
    match owner {
        Owner::Vendor(v) => Some(v),
        Owner::Platform => None,
    }
}

/// One of the owner's endpoints (another owner's is not found).
pub async fn endpoint(app: &App, owner: Owner, id: Uuid) -> Result<Endpoint, AppError> {
    store::get(&app.db, owner, id)
        .await?
        .ok_or_else(no_endpoint)
}

/// Registers an endpoint (at most [`MAX_ENDPOINTS`] per owner); the answer holds its secret.
pub async fn create(
    app: &App,
    actor: &Actor,
    owner: Owner,
    new: NewEndpoint,
) -> Result<Keyed, AppError> {
    let mut problems = Vec::new();
    let url = check_url(app, &new.url, &mut problems);
    let events = check_events(owner, &new.events, &mut problems);
    let description = check_description(new.description.as_deref().unwrap_or(""), &mut problems);
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let mut tx = app.db.begin_write().await?;
    if store::count(&mut tx, owner).await? >= MAX_ENDPOINTS {
        return Err(AppError::refused(
            Kind::Conflict,
            "too_many_endpoints",
            "Too many webhook endpoints",
            format!("at most {MAX_ENDPOINTS} endpoints; delete one first"),
        ));
    }
    let endpoint = store::create(
        &mut tx,
        &store::NewEndpoint {
            owner,
            url: &url,
            description: &description,
            event_types: &events,
            created_by: actor.user_id,
        },
    )
    .await?;
    record_audit(
        &mut tx,
        actor,
        "webhook.create",
        ("webhook_endpoint", endpoint.id),
        endpoint.vendor_id,
        serde_json::json!({"url": url, "events": events}),
    )
    .await?;
    tx.commit().await?;
    Ok(Keyed {
        secret: secret(app, &endpoint),
        endpoint,
    })
}

/// Changes an endpoint's URL, events, description, or re-enables it.
pub async fn update(
    app: &App,
    actor: &Actor,
    owner: Owner,
    id: Uuid,
    patch: EndpointPatch,
) -> Result<Endpoint, AppError> {
    let mut problems = Vec::new();
    let changes = EndpointChanges {
        url: patch
            .url
            .as_deref()
            .map(|u| check_url(app, u, &mut problems)),
        event_types: patch
            .events
            .as_deref()
            .map(|e| check_events(owner, e, &mut problems)),
        description: patch
            .description
            .as_deref()
            .map(|d| check_description(d, &mut problems)),
        enabled: patch.enabled,
        rotate_secret: false,
    };
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let mut tx = app.db.begin_write().await?;
    let endpoint = store::update(&mut tx, owner, id, &changes)
        .await?
        .ok_or_else(no_endpoint)?;
    record_audit(
        &mut tx,
        actor,
        "webhook.update",
        ("webhook_endpoint", id),
        endpoint.vendor_id,
        serde_json::json!({"url": changes.url, "events": changes.event_types, "enabled": changes.enabled}),
    )
    .await?;
    tx.commit().await?;
    Ok(endpoint)
}

pub async fn delete(app: &App, actor: &Actor, owner: Owner, id: Uuid) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    if !store::delete(&mut tx, owner, id).await? {
        return Err(no_endpoint());
    }
    record_audit(
        &mut tx,
        actor,
        "webhook.delete",
        ("webhook_endpoint", id),
        vendor_of(owner),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A new signing secret; the old one stops working at once.
pub async fn rotate_secret(
    app: &App,
    actor: &Actor,
    owner: Owner,
    id: Uuid,
) -> Result<Keyed, AppError> {
    let mut tx = app.db.begin_write().await?;
    let changes = EndpointChanges {
        rotate_secret: true,
        ..EndpointChanges::default()
    };
    let endpoint = store::update(&mut tx, owner, id, &changes)
        .await?
        .ok_or_else(no_endpoint)?;
    record_audit(
        &mut tx,
        actor,
        "webhook.rotate_secret",
        ("webhook_endpoint", id),
        endpoint.vendor_id,
        serde_json::json!({"secret_version": endpoint.secret_version}),
    )
    .await?;
    tx.commit().await?;
    Ok(Keyed {
        secret: secret(app, &endpoint),
        endpoint,
    })
}

/// Sends one message of the endpoint again (its `webhook-id` stays the same).
pub async fn redeliver(
    app: &App,
    actor: &Actor,
    owner: Owner,
    endpoint_id: Uuid,
    message_id: Uuid,
) -> Result<(), AppError> {
    let endpoint = endpoint(app, owner, endpoint_id).await?;
    let mut tx = app.db.begin_write().await?;
    if store::redeliver(
        &mut tx,
        endpoint.id,
        message_id,
        &delivery_job(message_id, now_ms()).job,
    )
    .await?
    .is_none()
    {
        return Err(AppError::not_found("no such message of this endpoint"));
    }
    record_audit(
        &mut tx,
        actor,
        "webhook.redeliver",
        ("webhook_message", message_id),
        endpoint.vendor_id,
        serde_json::json!({"endpoint_id": endpoint.id}),
    )
    .await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(())
}

fn endpoint_disabled() -> AppError {
    AppError::refused(
        Kind::Conflict,
        "endpoint_disabled",
        "Endpoint disabled",
        "the endpoint is disabled; re-enable it first (PATCH with {\"enabled\": true})",
    )
}

/// Sending on demand (test events, recovery) is for approved vendors and the platform, a
/// bounded number of times per owner and hour: otherwise anyone who applies as a vendor could
/// use the shop as a request reflector towards any public host.
async fn may_send_now(app: &App, endpoint: &Endpoint, owner: Owner) -> Result<(), AppError> {
    if !endpoint.enabled() {
        return Err(endpoint_disabled());
    }
    if let Owner::Vendor(vendor) = owner {
        let active = vendors::profile(&app.db, vendor)
            .await?
            .is_some_and(|v| v.status == "active");
        if !active {
            return Err(AppError::refused(
                Kind::Forbidden,
                "vendor_not_approved",
                "Vendor not approved",
                "this needs an approved vendor; the application is still awaiting approval",
            ));
        }
    }
    const HOUR_MS: i64 = 3600 * 1000;
    // Per owner, not per endpoint: deleting and creating endpoints buys no new budget.
    let bucket = match owner {
        Owner::Vendor(vendor) => format!("webhook-send:vendor:{vendor}"),
        Owner::Platform => "webhook-send:platform".to_owned(),
    };
    if let Err(start) = accounts::rate_limit_reserve(
        &app.db,
        &bucket,
        HOUR_MS,
        app.settings.webhook_sends_per_hour,
    )
    .await?
    {
        let wait = (start + HOUR_MS - now_ms()) / 1000;
        return Err(AppError::throttled(
            "too_many_requests",
            "Too many requests",
            "too many test events or recoveries this hour; wait before trying again",
            u32::try_from(wait.max(1)).unwrap_or(u32::MAX),
        ));
    }
    Ok(())
}

/// Queues a `webhook.test` event to the endpoint, whatever its event filter; returns the
/// message's id.
pub async fn send_test(
    app: &App,
    actor: &Actor,
    owner: Owner,
    endpoint_id: Uuid,
) -> Result<Uuid, AppError> {
    let endpoint = endpoint(app, owner, endpoint_id).await?;
    may_send_now(app, &endpoint, owner).await?;
    let mut tx = app.db.begin_write().await?;
    let message_id = store::queue_test(&mut tx, endpoint.id).await?;
    outbox::queue_deliveries(&mut tx, &[message_id]).await?;
    record_audit(
        &mut tx,
        actor,
        "webhook.test",
        ("webhook_endpoint", endpoint.id),
        endpoint.vendor_id,
        serde_json::json!({"message_id": message_id}),
    )
    .await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(message_id)
}

/// Sends again every `failed` or `skipped` message created since `since` (RFC 3339), at most
/// [`store::RECOVER_MAX`] per call.
pub async fn recover(
    app: &App,
    actor: &Actor,
    owner: Owner,
    endpoint_id: Uuid,
    since: &str,
) -> Result<Recovered, AppError> {
    let Some(since_ms) = souk_domain::time::parse_rfc3339(since) else {
        return Err(AppError::field(
            "since",
            "must be an RFC 3339 time like 2026-12-01T00:00:00Z",
        ));
    };
    let endpoint = endpoint(app, owner, endpoint_id).await?;
    may_send_now(app, &endpoint, owner).await?;
    let mut tx = app.db.begin_write().await?;
    let recovered = store::recover(&mut tx, endpoint.id, since_ms).await?;
    outbox::queue_deliveries(&mut tx, &recovered).await?;
    let queued = recovered.len();
    record_audit(
        &mut tx,
        actor,
        "webhook.recover",
        ("webhook_endpoint", endpoint.id),
        endpoint.vendor_id,
        serde_json::json!({"since": since, "queued": queued}),
    )
    .await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(Recovered {
        queued,
        more: queued as i64 == store::RECOVER_MAX,
    })
}

/// The delivery job's bookkeeping after one attempt: logs it and moves the message on
/// (delivered, retry, given up); an endpoint that has failed for longer than
/// `disable_after_ms` is disabled and its owners are emailed, in the same transaction.
pub async fn record_delivery(
    db: &souk_storage::Db,
    endpoint: &Endpoint,
    record: &store::AttemptRecord,
    disable_after_ms: i64,
) -> Result<store::AfterAttempt, souk_storage::StorageError> {
    let mut tx = db.begin_write().await?;
    let after = store::record_attempt(&mut tx, record, disable_after_ms).await?;
    if after == store::AfterAttempt::EndpointDisabled {
        let api_path = match endpoint.vendor_id {
            Some(_) => format!("/api/vendor/webhooks/{}", endpoint.id),
            None => format!("/api/admin/webhooks/{}", endpoint.id),
        };
        for to in store::owner_emails(&mut tx, endpoint.id).await? {
            let email = crate::jobs::EmailJob {
                to,
                template: "webhook_disabled".to_owned(),
                vars: serde_json::json!({
                    "url": endpoint.url,
                    "endpoint_id": endpoint.id,
                    "reason": record.error.clone().unwrap_or_default(),
                    "api_path": api_path,
                }),
            };
            crate::jobs::enqueue_email(&mut tx, &email).await?;
        }
    }
    tx.commit().await?;
    Ok(after)
}
