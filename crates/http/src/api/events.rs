//! Live streams (Server-Sent Events): an order's changes for its customer, a vendor's orders,
//! and the platform feed for admins.
//!
//! One poller per process follows the durable `events` table by id and fans new rows out over
//! a broadcast channel; every stream filters for its audience. Events committed by any instance
//! on the same database reach every instance's streams within the poll interval, with no extra
//! server. A client that reconnects with `Last-Event-ID` first gets what it missed from the table
//! (kept for [`REPLAY_WINDOW`]), then live events. A consumer too slow to keep up with the
//! broadcast buffer is disconnected (it reconnects and catches up from the table) instead of
//! holding memory or slowing others. Streams are bounded in number (`SOUK_MAX_STREAMS`).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use souk_storage::events::{self, Audience, EventRow};
use souk_storage::{Db, Exec, now_ms};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use utoipa::IntoParams;

use crate::AppState;
use crate::api::store::orders::{ORDER_TOKEN_HEADER, readable_order};
use crate::auth::{Admin, MaybePrincipal, VendorStaff};
use crate::error::{ApiError, ApiResult, Problem};

/// How long events can be replayed after a disconnection.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How often the poller looks for events committed by other instances.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long the poller waits for a missing id (a transaction that took an id and has not
/// committed yet) before it assumes the id was rolled back and moves on.
const GAP_PATIENCE: Duration = Duration::from_secs(2);
const BROADCAST_CAPACITY: usize = 1024;
const HEARTBEAT: Duration = Duration::from_secs(15);

/// The process-wide fan-out of the event log.
#[derive(Clone)]
pub struct EventHub {
    live: broadcast::Sender<Arc<EventRow>>,
    streams: Arc<Semaphore>,
    max_streams: usize,
    wake: Arc<tokio::sync::Notify>,
    closing: watch::Sender<bool>,
}

impl EventHub {
    pub fn new(max_streams: usize) -> Self {
        EventHub {
            live: broadcast::channel(BROADCAST_CAPACITY).0,
            streams: Arc::new(Semaphore::new(max_streams)),
            max_streams,
            wake: Arc::new(tokio::sync::Notify::new()),
            closing: watch::channel(false).0,
        }
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.max_streams - self.streams.available_permits()
    }

    /// Looks for new events now (after this process committed some).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Ends every stream (at shutdown, so connections can close).
    pub fn close(&self) {
        let _ = self.closing.send(true);
    }

    /// Follows the event log until `shutdown` turns true.
    pub async fn run_poller(self, db: Db, mut shutdown: watch::Receiver<bool>) {
        let mut cursor = loop {
            match events::latest_id(&db).await {
                Ok(id) => break id,
                Err(e) => {
                    tracing::warn!(error = %e, "event poller cannot start; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        let mut gap: Option<(i64, Instant)> = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(POLL_INTERVAL) => {}
                () = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            let rows = match events::after(&db, cursor, 500).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "event poller cannot read; retrying");
                    continue;
                }
            };
            for row in rows {
                if row.id != cursor + 1 {
                    match gap {
                        Some((missing, since))
                            if missing == cursor + 1 && since.elapsed() >= GAP_PATIENCE => {}
                        Some((missing, _)) if missing == cursor + 1 => break,
                        _ => {
                            gap = Some((cursor + 1, Instant::now()));
                            break;
                        }
                    }
                }
                gap = None;
                cursor = row.id;
                // No receivers is fine: nobody is watching.
                let _ = self.live.send(Arc::new(row));
            }
        }
    }
}

/// A stream's slot; gives it back and updates the gauge when the stream ends.
struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit) -> Self {
        metrics::gauge!("souk_sse_streams").increment(1.0);
        Slot { _permit: permit }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        metrics::gauge!("souk_sse_streams").decrement(1.0);
    }
}

struct StreamState {
    audience: Audience,
    backlog: VecDeque<EventRow>,
    live: broadcast::Receiver<Arc<EventRow>>,
    closing: watch::Receiver<bool>,
    last_sent: i64,
    _slot: Slot,
}

fn sse_event(e: &EventRow) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(e.data.as_str())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Resume after this event id (for clients that cannot send the `Last-Event-ID` header).
    #[param(value_type = Option<i64>)]
    pub last_event_id: Option<String>,
    /// The checkout's `access_token` (guests; `EventSource` cannot send headers).
    pub access_token: Option<String>,
}

fn resume_point(headers: &HeaderMap, params: &StreamParams) -> ApiResult<Option<i64>> {
    let raw = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("x").to_owned())
        .or_else(|| params.last_event_id.clone());
    match raw {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_last_event_id",
                    "Invalid Last-Event-ID",
                    "Last-Event-ID must be an event id this server sent",
                )
            }),
    }
}

async fn open_stream(
    state: &AppState,
    audience: Audience,
    resume_after: Option<i64>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>> {
    let hub = &state.events;
    let Ok(permit) = hub.streams.clone().try_acquire_owned() else {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too_many_streams",
            "Too many live streams",
            "this server has as many live streams open as it allows; retry shortly",
        );
        e.retry_after = Some(5);
        return Err(e);
    };
    // Subscribe before reading the backlog, so nothing falls between the two.
    let live = hub.live.subscribe();
    let mut backlog = VecDeque::new();
    let mut last_sent = 0;
    if let Some(cursor) = resume_after {
        last_sent = cursor;
        let since = now_ms() - REPLAY_WINDOW.as_millis() as i64;
        loop {
            let rows =
                events::backlog(Exec::Db(&state.db), audience, last_sent, since, 500).await?;
            let done = rows.len() < 500;
            if let Some(last) = rows.last() {
                last_sent = last.id;
            }
            backlog.extend(rows);
            if done || backlog.len() >= 5_000 {
                break;
            }
        }
        last_sent = backlog.front().map_or(last_sent, |e| e.id - 1);
    }
    let s = StreamState {
        audience,
        backlog,
        live,
        closing: hub.closing.subscribe(),
        last_sent,
        _slot: Slot::new(permit),
    };
    let stream = futures_util::stream::unfold(s, |mut s| async move {
        if let Some(e) = s.backlog.pop_front() {
            s.last_sent = e.id;
            return Some((Ok(sse_event(&e)), s));
        }
        loop {
            if *s.closing.borrow() {
                return None;
            }
            let received = tokio::select! {
                r = s.live.recv() => r,
                _ = s.closing.changed() => return None,
            };
            match received {
                Ok(e) if e.id > s.last_sent && s.audience.admits(&e) => {
                    s.last_sent = e.id;
                    return Some((Ok(sse_event(&e)), s));
                }
                Ok(_) => {}
                // Too slow for the live buffer: end the stream; the client reconnects with
                // Last-Event-ID and catches up from the table.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    metrics::counter!("souk_sse_dropped_total").increment(1);
                    return None;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

/// Live changes of one order (`order.paid`, `order.fulfilled`, …) for its customer: logged in,
/// or a guest with the checkout's access token (`X-Order-Token` or `?access_token=`).
#[utoipa::path(get, path = "/api/store/orders/{id}/events", tag = "store",
    params(
        ("id" = uuid::Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "The checkout's `access_token` (guests)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "`text/event-stream`: `id`, `event` (the kind) and `data` (JSON) per event; `: heartbeat` comments every 15 s", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn order_events(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    mut headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    if let Some(token) = &params.access_token
        && !headers.contains_key(ORDER_TOKEN_HEADER)
        && let Ok(value) = HeaderValue::from_str(token)
    {
        headers.insert(ORDER_TOKEN_HEADER, value);
    }
    let detail = readable_order(&state, &caller, &headers, &id).await?;
    let resume = resume_point(&headers, &params)?;
    open_stream(&state, Audience::Order(detail.order.id), resume).await
}

/// Live feed for a vendor: its new orders and their payment, fulfilment, cancellation and
/// refunds — only this vendor's part of each order.
#[utoipa::path(get, path = "/api/vendor/events", tag = "vendor", security(("bearer" = [])),
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "`text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a vendor member", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn vendor_events(
    State(state): State<AppState>,
    staff: VendorStaff,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume = resume_point(&headers, &params)?;
    open_stream(&state, Audience::Vendor(staff.vendor_id), resume).await
}

/// The platform feed for admins: every order event.
#[utoipa::path(get, path = "/api/admin/events", tag = "admin", security(("bearer" = [])),
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "`text/event-stream`", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin_events(
    State(state): State<AppState>,
    _admin: Admin,
    headers: HeaderMap,
    Query(params): Query<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume = resume_point(&headers, &params)?;
    open_stream(&state, Audience::Admin, resume).await
}
