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
    action: Option<String>,
    subject_type: Option<String>,
    subject_id: Option<String>,
    vendor: Option<String>,
}

/// A filter's text: trimmed, bounded, `None` when blank.
fn filter_text(value: Option<&str>) -> Option<String> {
    value
        .map(|v| v.trim().chars().take(100).collect::<String>())
        .filter(|v| !v.is_empty())
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
    let vendor = match filter_text(query.vendor.as_deref()) {
        None => None,
        Some(v) => match Uuid::parse_str(&v) {
            Ok(id) => Some(id),
            Err(_) => {
                return PageError::new(
                    StatusCode::BAD_REQUEST,
                    "Bad vendor id",
                    "the vendor filter takes a vendor id, as shown on the vendor's page",
                )
                .render(&nonce);
            }
        },
    };
    let action = filter_text(query.action.as_deref());
    let subject_type = filter_text(query.subject_type.as_deref());
    let subject_id = filter_text(query.subject_id.as_deref());
    let filter = souk_storage::audit::AuditFilter {
        vendor_id: vendor,
        subject: subject_type.clone().zip(subject_id.clone()),
        action: action.clone(),
        before,
        limit: PAGE_SIZE,
    };
    let rows = match souk_storage::audit::list(&state.db, &filter).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let older = super::next_cursor(rows.iter().map(|a| a.id), PAGE_SIZE);
    let items: Vec<_> = rows
        .iter()
        .map(|a| {
            context! {
                at => a.created_at, actor => a.actor_email, action => a.action,
                subject_type => a.subject_type, subject_id => a.subject_id, ip => a.ip,
                details => a.details,
            }
        })
        .collect();
    let ctx = context! {
        entries => items,
        filters => context! {
            action => action, subject_type => subject_type, subject_id => subject_id,
            vendor => vendor.map(|v| v.to_string()),
        },
        older => older,
        first_page => before.is_none(),
        ..chrome(&session, "audit")
    };
    Page::new("admin/audit.html", ctx).render(&nonce, &flash)
}

/// How many events the feed shows before it goes live.
const FEED_ROWS: i64 = 50;

/// The live admin feed: the latest events, and (with JavaScript) new ones as they happen, over
/// the admin event stream from just after the newest one shown.
pub async fn feed(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    let rows = match souk_storage::events::latest(&state.db, FEED_ROWS).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let after = rows.first().map_or(0, |e| e.id);
    // One line per change: an event written once per audience shows once.
    let mut seen = std::collections::HashSet::new();
    let events: Vec<_> = rows
        .iter()
        .filter(|e| seen.insert((e.kind.clone(), e.order_id, e.created_at)))
        .map(|e| {
            let data: serde_json::Value = serde_json::from_str(&e.data).unwrap_or_default();
            context! {
                id => e.id, kind => e.kind, at => e.created_at,
                order_id => e.order_id.map(|o| o.to_string()),
                status => data.get("status").and_then(|s| s.as_str()).map(str::to_owned),
            }
        })
        .collect();
    let ctx = context! {
        events => events,
        after => after,
        types => souk_domain::webhooks::EVENT_TYPES.join(" "),
        ..chrome(&session, "feed")
    };
    Page::new("admin/feed.html", ctx).render(&nonce, &flash)
}

#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

/// The search box of every page: orders, customers, vendors and products at once.
pub async fn search(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = query.q.unwrap_or_default().trim().to_owned();
    let found = match souk_app::dashboard::search(&state.app, &q).await {
        Ok(found) => found,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let ctx = context! {
        q => q,
        orders => found.orders.iter().map(super::orders::summary).collect::<Vec<_>>(),
        customers => found.customers.iter().map(|c| context! {
            id => c.id.to_string(), email => c.email, name => c.name, orders => c.orders,
        }).collect::<Vec<_>>(),
        vendors => found.vendors.iter().map(|v| context! {
            id => v.id.to_string(), name => v.name, handle => v.handle, status => v.status,
        }).collect::<Vec<_>>(),
        products => found.products.iter().map(|p| context! {
            title => p.title, status => p.status.as_str(), vendor => p.vendor.name,
            vendor_id => p.vendor.id.to_string(),
        }).collect::<Vec<_>>(),
        ..chrome(&session, "search")
    };
    Page::new("admin/search.html", ctx).render(&nonce, &flash)
}
