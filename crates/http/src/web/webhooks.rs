//! Webhook endpoints in a panel: the platform's in the admin panel, a vendor's in its dashboard.
//! Register one (its signing secret is shown once), see what was sent and each delivery
//! attempt, send a test event, redeliver a message, enable a disabled endpoint again, delete one
//! after confirming. The same handlers serve both panels; the session type says whose endpoints
//! they are and where the pages live.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::webhooks::{EndpointPatch, NewEndpoint};
use souk_storage::webhooks::{Endpoint, Owner};
use uuid::Uuid;

use super::panel::{ActionForm, Confirm, done, refusal, with_problem};
use super::session::{CsrfField, PanelSession, SignedForm};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::auth::Principal;
use crate::web::{CspNonce, Flash, Page, PageError};

/// A panel's session that has webhook endpoints of its own.
pub trait WebhookPanel: PanelSession + Send + Sync + 'static {
    /// Whose endpoints these are.
    fn owner(&self) -> Owner;
    fn principal(&self) -> &Principal;
    /// Where the endpoint pages live (`/admin/webhooks`).
    const PAGES: &'static str;
    /// The layout's context: who is signed in, the section, the base template (`layout`).
    fn chrome(&self) -> Value;
}

/// The endpoint pages of panel `S`, under `S::PAGES`.
pub fn routes<S: WebhookPanel>() -> Router<AppState> {
    let at = |tail: &str| format!("{}{tail}", S::PAGES);
    Router::new()
        .route(&at(""), get(list::<S>).post(create::<S>))
        .route(&at("/{id}"), get(show::<S>))
        .route(&at("/{id}/test"), post(send_test::<S>))
        .route(&at("/{id}/enable"), post(enable::<S>))
        .route(
            &at("/{id}/messages/{message}/redeliver"),
            post(redeliver::<S>),
        )
        .route(
            &at("/{id}/rotate"),
            get(confirm_rotate::<S>).post(rotate::<S>),
        )
        .route(
            &at("/{id}/delete"),
            get(confirm_delete::<S>).post(delete::<S>),
        )
}

/// What every endpoint page's context starts with.
fn base<S: WebhookPanel>(session: &S) -> Value {
    context! { hooks => S::PAGES, ..session.chrome() }
}

const LOG_ROWS: i64 = 25;
/// Checkboxes are named `event:<type>`.
const EVENT_FIELD: &str = "event:";

fn endpoint_row(e: &Endpoint) -> Value {
    context! {
        id => e.id.to_string(), url => e.url, description => e.description,
        events => e.event_types.split(' ').collect::<Vec<_>>(), status => e.status,
        disabled_reason => e.disabled_reason, failing_since => e.failing_since,
        created_at => e.created_at,
    }
}

/// The list page; `problem` (a refused registration) is shown beside its field.
async fn list_page<S: WebhookPanel>(
    state: &AppState,
    session: &S,
    nonce: &CspNonce,
    flash: &Flash,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let endpoints = match souk_storage::webhooks::list(&state.db, session.owner()).await {
        Ok(list) => list,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (status, problem) = with_problem(problem);
    let ctx = context! {
        endpoints => endpoints.iter().map(endpoint_row).collect::<Vec<_>>(),
        event_types => souk_domain::webhooks::EVENT_TYPES
            .iter()
            .filter(|t| {
                matches!(session.owner(), Owner::Platform)
                    || !souk_domain::webhooks::PLATFORM_ONLY_TYPES.contains(t)
            })
            .collect::<Vec<_>>(),
        problem => problem,
        ..base(session)
    };
    Page::new("panel/webhooks.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn list<S: WebhookPanel>(
    State(state): State<AppState>,
    session: S,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    list_page(&state, &session, &nonce, &flash, None).await
}

#[derive(Debug, Deserialize)]
pub struct EndpointForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    /// The ticked `event:<type>` boxes, among anything else sent.
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

impl CsrfField for EndpointForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn create<S: WebhookPanel>(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    SignedForm { session, form }: SignedForm<S, EndpointForm>,
) -> Response {
    let mut events: Vec<String> = form
        .rest
        .keys()
        .filter_map(|k| k.strip_prefix(EVENT_FIELD))
        .map(str::to_owned)
        .collect();
    events.sort();
    let actor = actor(session.principal(), &client);
    let new = NewEndpoint {
        url: form.url.clone(),
        events: events.clone(),
        description: Some(form.description.clone()),
    };
    match souk_app::webhooks::create(&state.app, &actor, session.owner(), new).await {
        // Shown here, once, and never again: not in a redirect's cookie or URL.
        Ok(keyed) => {
            let ctx = context! {
                endpoint => endpoint_row(&keyed.endpoint),
                secret => keyed.secret,
                ..base(&session)
            };
            Page::new("panel/webhook_created.html", ctx)
                .with_status(StatusCode::CREATED)
                .render(&nonce, &Flash(None))
        }
        Err(e) => match refusal(e, "url") {
            Ok(r) => {
                let problem = context! {
                    field => r.field, message => r.message, url => form.url,
                    description => form.description, events => events,
                };
                let problem = Some((r.status, problem));
                list_page(&state, &session, &nonce, &Flash(None), problem).await
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

fn no_such_endpoint(nonce: &CspNonce) -> Response {
    PageError::not_found("no such endpoint").render(nonce)
}

pub async fn show<S: WebhookPanel>(
    State(state): State<AppState>,
    session: S,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_endpoint(&nonce);
    };
    let endpoint = match souk_app::webhooks::endpoint(&state.app, session.owner(), id).await {
        Ok(e) => e,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let db = &state.db;
    let messages = souk_storage::webhooks::messages(db, id, None, None, LOG_ROWS).await;
    let attempts = souk_storage::webhooks::attempts(db, id, None, None, LOG_ROWS).await;
    let (messages, attempts) = match (messages, attempts) {
        (Ok(m), Ok(a)) => (m, a),
        (Err(e), _) | (_, Err(e)) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        endpoint => endpoint_row(&endpoint),
        messages => messages.iter().map(|m| context! {
            id => m.id.to_string(), event_type => m.event_type, status => m.status,
            attempts => m.attempts, created_at => m.created_at, delivered_at => m.delivered_at,
        }).collect::<Vec<_>>(),
        attempts => attempts.iter().map(|a| context! {
            message_id => a.message_id.to_string(), attempt => a.attempt,
            status_code => a.status_code, error => a.error, latency_ms => a.latency_ms,
            at => a.created_at,
        }).collect::<Vec<_>>(),
        ..base(&session)
    };
    Page::new("panel/webhook.html", ctx).render(&nonce, &flash)
}

pub async fn send_test<S: WebhookPanel>(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    SignedForm { session, .. }: SignedForm<S, ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_endpoint(&nonce);
    };
    let actor = actor(session.principal(), &client);
    match souk_app::webhooks::send_test(&state.app, &actor, session.owner(), id).await {
        Ok(_) => done(
            &format!("{}/{id}", S::PAGES),
            "Test event queued: its delivery shows below.",
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

pub async fn redeliver<S: WebhookPanel>(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path((id, message)): Path<(String, String)>,
    SignedForm { session, .. }: SignedForm<S, ActionForm>,
) -> Response {
    let (Ok(id), Ok(message)) = (Uuid::parse_str(&id), Uuid::parse_str(&message)) else {
        return PageError::not_found("no such message").render(&nonce);
    };
    let actor = actor(session.principal(), &client);
    match souk_app::webhooks::redeliver(&state.app, &actor, session.owner(), id, message).await {
        Ok(()) => done(
            &format!("{}/{id}", S::PAGES),
            "The message is sent again (same webhook-id).",
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

pub async fn enable<S: WebhookPanel>(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    SignedForm { session, .. }: SignedForm<S, ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_endpoint(&nonce);
    };
    let actor = actor(session.principal(), &client);
    let patch = EndpointPatch {
        enabled: Some(true),
        ..Default::default()
    };
    match souk_app::webhooks::update(&state.app, &actor, session.owner(), id, patch).await {
        Ok(_) => done(
            &format!("{}/{id}", S::PAGES),
            "The endpoint is enabled again.",
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

/// A confirmation about endpoint `id`: the `(title, explanation, button)` made from its URL,
/// posting to `{PAGES}/{id}/{action}`.
async fn endpoint_confirm<S: WebhookPanel>(
    state: &AppState,
    session: &S,
    nonce: &CspNonce,
    id: &str,
    action: &str,
    words: impl FnOnce(&str) -> (String, &'static str, &'static str),
) -> Response {
    let Ok(id) = Uuid::parse_str(id) else {
        return no_such_endpoint(nonce);
    };
    let endpoint = match souk_app::webhooks::endpoint(&state.app, session.owner(), id).await {
        Ok(e) => e,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (title, explain, button) = words(&endpoint.url);
    let ctx = context! {
        confirm => Confirm {
            title,
            explain: vec![explain.to_owned()],
            action: format!("{}/{id}/{action}", S::PAGES),
            button: button.to_owned(),
            back: format!("{}/{id}", S::PAGES),
            ..Default::default()
        },
        ..base(session)
    };
    Page::new("panel/confirm.html", ctx).render(nonce, &Flash(None))
}

/// "Replace the signing secret?"
pub async fn confirm_rotate<S: WebhookPanel>(
    State(state): State<AppState>,
    session: S,
    nonce: CspNonce,
    Path(id): Path<String>,
) -> Response {
    endpoint_confirm(&state, &session, &nonce, &id, "rotate", |url| {
        (
            format!("Replace the signing secret of {url}?"),
            "A new secret signs every delivery from now on; the receiver must be given it, or \
             it will reject what it gets. The new secret is shown once.",
            "Replace the secret",
        )
    })
    .await
}

pub async fn rotate<S: WebhookPanel>(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    SignedForm { session, form }: SignedForm<S, ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_endpoint(&nonce);
    };
    if !form.confirmed() {
        return Redirect::to(&format!("{}/{id}/rotate", S::PAGES)).into_response();
    }
    let actor = actor(session.principal(), &client);
    match souk_app::webhooks::rotate_secret(&state.app, &actor, session.owner(), id).await {
        Ok(keyed) => {
            let ctx = context! {
                endpoint => endpoint_row(&keyed.endpoint),
                secret => keyed.secret,
                rotated => true,
                ..base(&session)
            };
            Page::new("panel/webhook_created.html", ctx).render(&nonce, &Flash(None))
        }
        Err(e) => PageError::from(e).render(&nonce),
    }
}

/// "Delete this endpoint?"
pub async fn confirm_delete<S: WebhookPanel>(
    State(state): State<AppState>,
    session: S,
    nonce: CspNonce,
    Path(id): Path<String>,
) -> Response {
    endpoint_confirm(&state, &session, &nonce, &id, "delete", |url| {
        (
            format!("Delete the endpoint {url}?"),
            "Nothing more is sent to it, and its delivery log goes with it.",
            "Delete the endpoint",
        )
    })
    .await
}

pub async fn delete<S: WebhookPanel>(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    SignedForm { session, form }: SignedForm<S, ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return no_such_endpoint(&nonce);
    };
    if !form.confirmed() {
        return Redirect::to(&format!("{}/{id}/delete", S::PAGES)).into_response();
    }
    let actor = actor(session.principal(), &client);
    match souk_app::webhooks::delete(&state.app, &actor, session.owner(), id).await {
        Ok(()) => done(S::PAGES, "Endpoint deleted."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
