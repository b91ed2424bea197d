//! Integrations in the admin panel: API keys (made with their scopes, the secret shown once;
//! revoked after confirming) and a test email that shows what the mail server answered.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::api_keys::{API_KEY_SCOPES, NewApiKey};
use uuid::Uuid;

use super::{ActionForm, AdminForm, AdminSession, Confirm, CsrfField, chrome, done, refusal};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::{CspNonce, Flash, Page, PageError};

/// Checkboxes are named `scope:<scope>`.
const SCOPE_FIELD: &str = "scope:";

/// The keys page; `problem` (a refused key) is shown beside its field.
async fn keys_page(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    flash: &Flash,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let keys = match souk_storage::api_keys::list(&state.db).await {
        Ok(keys) => keys,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (status, problem) = super::with_problem(problem);
    let ctx = context! {
        keys => keys.iter().map(|k| context! {
            id => k.id.to_string(), name => k.name, scopes => k.scopes.replace(',', ", "),
            vendor_id => k.vendor_id.map(|v| v.to_string()), created_at => k.created_at,
            last_used_at => k.last_used_at,
        }).collect::<Vec<_>>(),
        scopes => API_KEY_SCOPES,
        problem => problem,
        ..chrome(session, "api_keys")
    };
    Page::new("admin/api_keys.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn api_keys(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    keys_page(&state, &session, &nonce, &flash, None).await
}

#[derive(Debug, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    /// The vendor a catalog or orders key acts for (its id).
    #[serde(default)]
    vendor: String,
    /// The ticked `scope:<scope>` boxes, among anything else sent.
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

impl CsrfField for KeyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn create_api_key(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    AdminForm { session, form }: AdminForm<KeyForm>,
) -> Response {
    let mut scopes: Vec<String> = form
        .rest
        .keys()
        .filter_map(|k| k.strip_prefix(SCOPE_FIELD))
        .map(str::to_owned)
        .collect();
    scopes.sort();
    let vendor = match form.vendor.trim() {
        "" => Ok(None),
        v => Uuid::parse_str(v).map(Some).map_err(|_| {
            souk_app::AppError::field("vendor_id", "a vendor id, as on the vendor's page")
        }),
    };
    let actor = actor(&session.principal, &client);
    let made = match vendor {
        Ok(vendor_id) => {
            let input = NewApiKey {
                name: form.name.clone(),
                scopes: scopes.clone(),
                vendor_id,
            };
            souk_app::api_keys::create(&state.app, &actor, input).await
        }
        Err(e) => Err(e),
    };
    match made {
        // Shown here, once: not in a redirect's cookie or URL.
        Ok((key, secret)) => {
            let ctx = context! {
                key => context! { name => key.name, scopes => key.scopes.replace(',', ", ") },
                secret => secret,
                ..chrome(&session, "api_keys")
            };
            Page::new("admin/api_key_created.html", ctx)
                .with_status(StatusCode::CREATED)
                .render(&nonce, &Flash(None))
        }
        Err(e) => match refusal(e, "name") {
            Ok(r) => {
                let problem = context! {
                    field => r.field, message => r.message, name => form.name,
                    vendor => form.vendor, scopes => scopes,
                };
                let problem = Some((r.status, problem));
                keys_page(&state, &session, &nonce, &Flash(None), problem).await
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

pub async fn confirm_revoke(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    Path(id): Path<String>,
) -> Response {
    let key = match Uuid::parse_str(&id) {
        Ok(id) => souk_storage::api_keys::live_by_id(&state.db, id).await,
        Err(_) => Ok(None),
    };
    let key = match key {
        Ok(Some(k)) => k,
        Ok(None) => return PageError::not_found("no such API key").render(&nonce),
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        confirm => Confirm {
            title: format!("Revoke the key “{}”?", key.name),
            explain: vec![
                "It stops working at once: whatever uses it gets 401 from its next request."
                    .to_owned(),
            ],
            action: format!("/admin/api-keys/{}/revoke", key.id),
            button: "Revoke the key".to_owned(),
            back: "/admin/api-keys".to_owned(),
            ..Default::default()
        },
        ..chrome(&session, "api_keys")
    };
    Page::new("panel/confirm.html", ctx).render(&nonce, &Flash(None))
}

pub async fn revoke_api_key(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, form }: AdminForm<ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return PageError::not_found("no such API key").render(&nonce);
    };
    if !form.confirmed() {
        return Redirect::to(&format!("/admin/api-keys/{id}/revoke")).into_response();
    }
    let actor = actor(&session.principal, &client);
    match souk_app::api_keys::revoke(&state.app, &actor, id).await {
        Ok(()) => done("/admin/api-keys", "Key revoked."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

/// The test-email form, with the admin's own address filled in.
pub async fn email_form(session: AdminSession, nonce: CspNonce, flash: Flash) -> Response {
    let ctx = context! {
        to => session.principal.email,
        ..chrome(&session, "email")
    };
    Page::new("admin/email_test.html", ctx).render(&nonce, &flash)
}

#[derive(Debug, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
}

impl CsrfField for EmailForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn send_test_email(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    AdminForm { session, form }: AdminForm<EmailForm>,
) -> Response {
    let actor = actor(&session.principal, &client);
    match souk_app::queue::send_test_email(&state.app, &actor, &form.to).await {
        Ok(job) => done(&format!("/admin/email/{job}"), "Test email queued."),
        Err(souk_app::AppError::Refused { fields, detail, .. }) => {
            let message = fields.into_iter().next().map_or(detail, |f| f.message);
            let ctx = context! {
                to => form.to, problem => message,
                ..chrome(&session, "email")
            };
            Page::new("admin/email_test.html", ctx)
                .with_status(StatusCode::UNPROCESSABLE_ENTITY)
                .render(&nonce, &Flash(None))
        }
        Err(e) => PageError::from(e).render(&nonce),
    }
}

/// What became of a test email: waiting, accepted by the mail server, or refused (with the
/// server's answer). The page refreshes itself until it knows.
pub async fn email_result(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let job = match Uuid::parse_str(&id) {
        Ok(id) => souk_storage::jobs::get(&state.db, id).await,
        Err(_) => Ok(None),
    };
    let job = match job {
        Ok(Some(j)) if j.kind == souk_app::jobs::EMAIL_JOB => j,
        Ok(_) => return PageError::not_found("no such test email").render(&nonce),
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let to = serde_json::from_str::<serde_json::Value>(&job.payload)
        .ok()
        .and_then(|p| p.get("to").and_then(|t| t.as_str()).map(str::to_owned));
    let ctx = context! {
        to => to,
        status => job.status,
        error => job.last_error,
        finished_at => job.finished_at,
        waiting => job.status == "pending" || job.status == "running",
        ..chrome(&session, "email")
    };
    Page::new("admin/email_result.html", ctx).render(&nonce, &flash)
}
