//! Operations in the admin panel: the job queue (a dead job can be run again) and the audit
//! log of every admin and vendor action.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use souk_storage::jobs::{self, JobStatus};
use uuid::Uuid;

use super::{ActionForm, AdminForm, AdminSession, chrome, done};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::{CspNonce, Flash, Page, PageError};

const PAGE_SIZE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    before: Option<String>,
}

pub async fn jobs(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<ListQuery>,
) -> Response {
    // Dead jobs first: they are what an admin comes here for.
    let status = query.status.unwrap_or_else(|| "dead".to_owned());
    let filter = match status.as_str() {
        "" | "any" => None,
        s => match JobStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                return PageError::new(
                    StatusCode::BAD_REQUEST,
                    "Unknown status",
                    "pick a status from the list",
                )
                .render(&nonce);
            }
        },
    };
    let Some(before) = super::cursor(query.before.as_deref()) else {
        return super::bad_cursor(&nonce);
    };
    let rows = match jobs::list(&state.db, filter, before, PAGE_SIZE).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let older = super::next_cursor(rows.iter().map(|j| j.id), PAGE_SIZE);
    let items: Vec<_> = rows
        .iter()
        .map(|j| {
            context! {
                id => j.id.to_string(), kind => j.kind, status => j.status, attempts => j.attempts,
                max_attempts => j.max_attempts, last_error => j.last_error, created_at => j.created_at,
            }
        })
        .collect();
    let ctx = context! {
        jobs => items,
        statuses => ["dead", "pending", "running", "done", "any"],
        status => status,
        older => older,
        first_page => before.is_none(),
        ..chrome(&session, "jobs")
    };
    Page::new("admin/jobs.html", ctx).render(&nonce, &flash)
}

pub async fn retry_job(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    Path(id): Path<String>,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return PageError::not_found("no such job").render(&nonce);
    };
    let actor = actor(&session.principal, &client);
    match souk_app::queue::retry_dead(&state.app, &actor, id).await {
        Ok(job) => done("/admin/jobs", &format!("The {} job runs again.", job.kind)),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    before: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<AuditQuery>,
) -> Response {
    let Some(before) = super::cursor(query.before.as_deref()) else {
        return super::bad_cursor(&nonce);
    };
    let rows = match souk_storage::audit::list(&state.db, None, before, PAGE_SIZE).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let older = super::next_cursor(rows.iter().map(|a| a.id), PAGE_SIZE);
    let items: Vec<_> = rows
        .iter()
        .map(|a| {
            context! {
                at => a.created_at, actor => a.actor_email, action => a.action,
                subject => format!("{} {}", a.subject_type, a.subject_id), ip => a.ip,
                details => a.details,
            }
        })
        .collect();
    let ctx = context! {
        entries => items,
        older => older,
        first_page => before.is_none(),
        ..chrome(&session, "audit")
    };
    Page::new("admin/audit.html", ctx).render(&nonce, &flash)
}
