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

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use souk_storage::events::{self, Audience, EventRow};
use souk_storage::{Db, Exec, now_ms};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};
use utoipa::IntoParams;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::store::orders::{readable_order, with_query_token};
use crate::auth::{Admin, MaybePrincipal, Principal, VendorStaff};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiQuery;

/// How long events can be replayed after a disconnection.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How often the poller looks for events committed by other instances.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long the poller waits for a missing id (a transaction that took an id and has not
/// committed yet) before it assumes the id was rolled back and moves on.
const GAP_PATIENCE: Duration = Duration::from_secs(2);
const BROADCAST_CAPACITY: usize = 1024;
const HEARTBEAT: Duration = Duration::from_secs(15);
/// A reconnect replays at most this many events; a client further behind is sent these and
/// disconnected, and catches up by reconnecting from the last one.
const REPLAY_MAX: usize = 5_000;
/// The replay is read from the table this many events at a time, as the client takes them:
/// a stream holds at most one page in memory, however far behind it starts.
const REPLAY_PAGE: i64 = 500;
/// Live streams one caller may hold at once (per session, API key, or guest order): a single
/// caller cannot take every slot of the server's `SOUK_MAX_STREAMS`. Opening one more ends the
/// caller's oldest (likely a connection that died without closing: a phone changing networks).
pub const STREAMS_PER_CALLER: usize = 8;
/// Guest streams (order access tokens) from one client address at once: guests behind one
/// address (an office, a mobile carrier's NAT) share it, so it is larger than a user's.
pub const GUEST_STREAMS_PER_ADDRESS: usize = 64;

/// Stream slots kept for platform admins: however many streams shoppers and vendors hold, an
/// admin can still open the admin feed.
pub fn admin_reserve(max_streams: usize) -> usize {
    if max_streams < 2 {
        0
    } else {
        (max_streams / 10).clamp(1, 16)
    }
}

/// A caller's open streams, oldest first: each stream's id and the signal that ends it.
type CallerStreams = HashMap<String, VecDeque<(u64, Arc<tokio::sync::Notify>)>>;

/// The process-wide fan-out of the event log.
#[derive(Clone)]
pub struct EventHub {
    live: broadcast::Sender<Arc<EventRow>>,
    streams: Arc<Semaphore>,
    /// Slots only admins may take (see [`admin_reserve`]).
    admin_streams: Arc<Semaphore>,
    max_streams: usize,
    wake: Arc<tokio::sync::Notify>,
    closing: watch::Sender<bool>,
    /// The last event id broadcast (every lower id was broadcast or given up as rolled
    /// back); `i64::MAX` until the poller has started.
    cursor: Arc<AtomicI64>,
    /// Streams open per caller (see [`STREAMS_PER_CALLER`]).
    per_caller: Arc<std::sync::Mutex<CallerStreams>>,
    next_stream: Arc<std::sync::atomic::AtomicU64>,
}

impl EventHub {
    pub fn new(max_streams: usize) -> Self {
        EventHub {
            live: broadcast::channel(BROADCAST_CAPACITY).0,
            streams: Arc::new(Semaphore::new(max_streams - admin_reserve(max_streams))),
            admin_streams: Arc::new(Semaphore::new(admin_reserve(max_streams))),
            max_streams,
            wake: Arc::new(tokio::sync::Notify::new()),
            closing: watch::channel(false).0,
            cursor: Arc::new(AtomicI64::new(i64::MAX)),
            per_caller: Arc::new(std::sync::Mutex::new(HashMap::new())),
            next_stream: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.max_streams - self.streams.available_permits() - self.admin_streams.available_permits()
    }

    /// Looks for new events now (after this process committed some) — if anyone is watching;
    /// otherwise the regular poll is soon enough and the checkout path stays cheap.
    pub fn wake(&self) {
        if self.live.receiver_count() > 0 {
            self.wake.notify_one();
        }
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
        self.cursor.store(cursor, Ordering::SeqCst);
        let mut gap: Option<(i64, Instant)> = None;
        let mut failing = false;
        let mut full_batch = false;
        loop {
            if !full_batch {
                tokio::select! {
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                    () = self.wake.notified() => {}
                    _ = shutdown.changed() => {}
                }
            }
            if *shutdown.borrow() {
                return;
            }
            let rows = match events::after(&db, cursor, 500).await {
                Ok(rows) => {
                    if failing {
                        tracing::info!("event poller reads again");
                        failing = false;
                    }
                    rows
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "event poller cannot read; retrying");
                        failing = true;
                    }
                    full_batch = false;
                    continue;
                }
            };
            full_batch = rows.len() == 500;
            for row in rows {
                if row.id != cursor + 1 {
                    match gap {
                        Some((missing, since))
                            if missing == cursor + 1 && since.elapsed() >= GAP_PATIENCE => {}
                        Some((missing, _)) if missing == cursor + 1 => {
                            full_batch = false;
                            break;
                        }
                        _ => {
                            gap = Some((cursor + 1, Instant::now()));
                            full_batch = false;
                            break;
                        }
                    }
                }
                gap = None;
                cursor = row.id;
                self.cursor.store(cursor, Ordering::SeqCst);
                // No receivers is fine: nobody is watching.
                let _ = self.live.send(Arc::new(row));
            }
        }
    }
}

/// A stream's slot in the bound; given back when the stream ends (`/metrics` reports how many
/// are taken as `souk_sse_streams`).
/// A stream's place: one of the server's slots and one of its caller's; both freed on drop.
struct Slot {
    _permit: OwnedSemaphorePermit,
    id: u64,
    /// Who this stream counts against (a user; a guest's order and address).
    holders: Vec<String>,
    per_caller: Arc<std::sync::Mutex<CallerStreams>>,
    /// Fired when a holder opened one stream too many and this is its oldest.
    evicted: Arc<tokio::sync::Notify>,
}

/// Who a stream counts against, how many that one may hold, and what happens at the cap.
struct Holder {
    key: String,
    cap: usize,
    /// At the cap: end this holder's own oldest stream (a user, a guest order — most likely
    /// a connection that died), or refuse (a client address shared by many guests, whose
    /// oldest stream is likely someone else's).
    evict: bool,
}

impl Slot {
    /// A slot for a stream, or `None` when a refusing holder is at its cap.
    fn new(permit: OwnedSemaphorePermit, hub: &EventHub, holders: Vec<Holder>) -> Option<Self> {
        let id = hub.next_stream.fetch_add(1, Ordering::Relaxed);
        let evicted = Arc::new(tokio::sync::Notify::new());
        let mut map = hub.per_caller.lock().unwrap_or_else(|e| e.into_inner());
        if holders
            .iter()
            .any(|h| !h.evict && map.get(&h.key).is_some_and(|held| held.len() >= h.cap))
        {
            return None;
        }
        for holder in &holders {
            let held = map.entry(holder.key.clone()).or_default();
            while holder.evict && held.len() >= holder.cap {
                if let Some((_, oldest)) = held.pop_front() {
                    metrics::counter!("souk_sse_evicted_total").increment(1);
                    oldest.notify_one();
                }
            }
            held.push_back((id, evicted.clone()));
        }
        drop(map);
        Some(Slot {
            _permit: permit,
            id,
            holders: holders.into_iter().map(|h| h.key).collect(),
            per_caller: hub.per_caller.clone(),
            evicted,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.per_caller.lock().unwrap_or_else(|e| e.into_inner());
        for holder in &self.holders {
            if let Some(held) = map.get_mut(holder) {
                held.retain(|(id, _)| *id != self.id);
                if held.is_empty() {
                    map.remove(holder);
                }
            }
        }
    }
}

/// Where a reconnect's replay stands: the next page starts after `read_to`.
struct Replay {
    read_to: i64,
    upto: i64,
    since: i64,
    sent: usize,
}

struct StreamState {
    audience: Audience,
    backlog: VecDeque<EventRow>,
    /// More of the replay to read, a page at a time.
    replay: Option<Replay>,
    /// The caller opened a newer stream beyond its limit: this one ends.
    evicted: Arc<tokio::sync::Notify>,
    live: broadcast::Receiver<Arc<EventRow>>,
    closing: watch::Receiver<bool>,
    last_sent: i64,
    /// Events committed before a fresh stream opened that the poller had not broadcast yet:
    /// not sent (the stream starts at its opening).
    already_there: HashSet<i64>,
    /// The replay was cut at [`REPLAY_MAX`]: end after it, so the client resumes from there.
    truncated: bool,
    grant: Grant,
    db: souk_storage::Db,
    recheck_every: Duration,
    next_check: tokio::time::Instant,
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
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderStreamParams {
    /// Resume after this event id (for clients that cannot send the `Last-Event-ID` header).
    #[param(value_type = Option<i64>)]
    pub last_event_id: Option<String>,
    /// The checkout's `access_token` or the order link's token (guests; `EventSource` cannot
    /// send headers).
    pub access_token: Option<String>,
}

fn resume_point(headers: &HeaderMap, query: Option<&str>) -> ApiResult<Option<i64>> {
    let raw = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("x").to_owned())
        .or_else(|| query.map(str::to_owned));
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

/// The credentials a stream was opened with, checked again while it runs: a logout, a revoked
/// key, a lost role or a suspended vendor ends the stream within
/// [`HttpConfig::stream_recheck`](crate::HttpConfig).
#[derive(Debug, Clone, Copy)]
enum Grant {
    /// A guest's order access token: it does not expire, nothing to check again.
    OrderToken,
    Session(uuid::Uuid),
    ApiKey(uuid::Uuid),
}

impl Grant {
    fn of(principal: Option<&Principal>) -> Grant {
        match principal {
            None => Grant::OrderToken,
            Some(p) => match p.api_key {
                Some(key) => Grant::ApiKey(key),
                None => Grant::Session(p.session_id),
            },
        }
    }
}

/// `every` ± 20 %, so streams opened together (reconnects after a restart) do not all check at
/// the same moment.
fn jittered(every: Duration) -> Duration {
    let spread = (uuid::Uuid::new_v4().as_u128() % 401) as f64 / 1000.0; // 0 ..= 0.4
    every.mul_f64(0.8 + spread)
}

/// Whether the holder of `grant` may still read `audience`'s events. A database error keeps
/// the stream (it is checked again later) rather than cutting every stream at once.
async fn still_allowed(db: &souk_storage::Db, grant: Grant, audience: Audience) -> bool {
    let vendor_active = |status: Option<&str>| status == Some("active");
    let verdict: Result<bool, souk_storage::StorageError> = async {
        Ok(match grant {
            Grant::OrderToken => true,
            Grant::Session(id) => match souk_storage::accounts::session_by_id(db, id).await? {
                None => false,
                Some(s) => match audience {
                    Audience::Admin => s.is_admin,
                    Audience::Vendor(v) => {
                        s.vendor_id == Some(v) && vendor_active(s.vendor_status.as_deref())
                    }
                    Audience::Order(_) => true,
                },
            },
            Grant::ApiKey(id) => match souk_storage::api_keys::live_by_id(db, id).await? {
                None => false,
                Some(key) => match audience {
                    Audience::Admin => {
                        key.vendor_id.is_none() && key.scope_list().contains(&"admin:read")
                    }
                    Audience::Vendor(v) => {
                        key.vendor_id == Some(v)
                            && vendor_active(
                                souk_storage::catalog::vendor_by_id(db, v)
                                    .await?
                                    .map(|v| v.status)
                                    .as_deref(),
                            )
                    }
                    Audience::Order(_) => true,
                },
            },
        })
    }
    .await;
    verdict.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot re-check a stream's access; keeping it until the next check");
        true
    })
}

/// Who a stream counts against: a person or key by its user (so more logins do not mean more
/// streams), a guest by order and by client address (its /64 for IPv6).
fn holders(principal: Option<&Principal>, audience: Audience, ip: &str) -> Vec<Holder> {
    let user = |p: &Principal| Holder {
        key: format!("user:{}", p.user_id),
        cap: STREAMS_PER_CALLER,
        evict: true,
    };
    let address = Holder {
        key: format!("guest:{}", crate::api::auth::address_key(ip)),
        cap: GUEST_STREAMS_PER_ADDRESS,
        evict: false,
    };
    match (principal, audience) {
        (Some(p), _) => vec![user(p)],
        (None, Audience::Order(order)) => vec![
            Holder {
                key: format!("order:{order}"),
                cap: STREAMS_PER_CALLER,
                evict: true,
            },
            address,
        ],
        (None, _) => vec![address],
    }
}

fn too_many_streams() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_streams",
        "Too many live streams",
        "this server (or this client address) has as many live streams open as it allows; retry shortly",
    );
    e.retry_after = Some(5);
    e
}

async fn open_stream(
    state: &AppState,
    audience: Audience,
    grant: Grant,
    holders: Vec<Holder>,
    resume_after: Option<i64>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>> {
    let hub = &state.events;
    let slot = take_slot(hub, &audience, holders)?;
    // Subscribe before reading the backlog, and replay only up to what the poller has
    // broadcast (it waits for ids committed out of order; the table alone does not): every
    // event is then in the replay or in the live channel, and duplicates are skipped by id.
    let live = hub.live.subscribe();
    let upto = hub.cursor.load(Ordering::SeqCst);
    let (replay, last_sent, already_there) = starting_point(state, resume_after, upto).await?;
    let s = StreamState {
        audience,
        backlog: VecDeque::new(),
        replay,
        evicted: slot.evicted.clone(),
        live,
        closing: hub.closing.subscribe(),
        last_sent,
        already_there,
        truncated: false,
        grant,
        db: state.db.clone(),
        recheck_every: state.config.stream_recheck,
        next_check: tokio::time::Instant::now() + jittered(state.config.stream_recheck),
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(s, StreamState::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

/// A place among the open streams, or 429: the admin feed may use the reserve when the rest
/// is taken.
fn take_slot(hub: &EventHub, audience: &Audience, holders: Vec<Holder>) -> ApiResult<Slot> {
    let permit = match hub.streams.clone().try_acquire_owned() {
        Ok(permit) => Ok(permit),
        Err(_) if matches!(audience, Audience::Admin) => {
            hub.admin_streams.clone().try_acquire_owned()
        }
        Err(e) => Err(e),
    };
    let Ok(permit) = permit else {
        return Err(too_many_streams());
    };
    Slot::new(permit, hub, holders).ok_or_else(too_many_streams)
}

/// Where a stream starts: after `Last-Event-ID` (with the replay to read up to `upto`), or now.
async fn starting_point(
    state: &AppState,
    resume_after: Option<i64>,
    upto: i64,
) -> ApiResult<(Option<Replay>, i64, HashSet<i64>)> {
    if let Some(cursor) = resume_after {
        if cursor > events::latest_id(&state.db).await? {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_last_event_id",
                "Invalid Last-Event-ID",
                "Last-Event-ID is not an event id this server sent",
            ));
        }
        let replay = Replay {
            read_to: cursor,
            upto,
            since: now_ms() - REPLAY_WINDOW.as_millis() as i64,
            sent: 0,
        };
        return Ok((Some(replay), cursor, HashSet::new()));
    }
    // From now on: what committed before the stream opened is not sent, even if the poller
    // has not broadcast it yet. Ids are not committed in order on PostgreSQL: an event with a
    // lower id than the newest may still commit after this point, and must be sent. So skip
    // exactly the ids committed now that the poller has not broadcast yet. One read, so
    // nothing commits between "what is there" and "from where". The poller is normally at most
    // a poll behind; if it is far behind (stalled), start after the newest event instead of
    // holding every id since.
    const BEHIND_MAX: i64 = 10_000;
    let start = if upto == i64::MAX {
        events::latest_id(&state.db).await?
    } else {
        upto
    };
    let committed = events::ids_after(&state.db, start, BEHIND_MAX + 1).await?;
    if committed.len() as i64 > BEHIND_MAX {
        return Ok((None, events::latest_id(&state.db).await?, HashSet::new()));
    }
    Ok((None, start, committed.into_iter().collect()))
}

impl StreamState {
    /// The stream's next event: the replay first, a page at a time, then live events. `None`
    /// ends the stream (shutdown, eviction, revoked access, a client too slow for the live
    /// buffer, or a replay cut at its bound): the client reconnects with `Last-Event-ID`.
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        if *self.closing.borrow() {
            return None;
        }
        if self.backlog.is_empty() && self.replay.is_some() {
            self.read_replay_page().await?;
        }
        if let Some(e) = self.backlog.pop_front() {
            self.last_sent = e.id;
            return Some((Ok(sse_event(&e)), self));
        }
        if self.truncated {
            return None;
        }
        let e = self.next_live().await?;
        Some((Ok(sse_event(&e)), self))
    }

    /// Reads the next page of the replay into the backlog (`None`: the stream ends).
    async fn read_replay_page(&mut self) -> Option<()> {
        let r = self.replay.as_mut()?;
        if r.sent >= REPLAY_MAX {
            // Far behind: end here; the client resumes from the last event it got.
            self.truncated = true;
            self.replay = None;
            return Some(());
        }
        let page = events::backlog(
            Exec::Db(&self.db),
            self.audience,
            r.read_to,
            r.upto,
            r.since,
            REPLAY_PAGE,
        )
        .await;
        match page {
            Ok(rows) => {
                let done = (rows.len() as i64) < REPLAY_PAGE;
                if let Some(last) = rows.last() {
                    r.read_to = last.id;
                }
                r.sent += rows.len();
                self.backlog.extend(rows);
                if done {
                    self.replay = None;
                }
                Some(())
            }
            // The client reconnects with the last id it got and the replay goes on.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a stream's replay; ending it");
                None
            }
        }
    }

    /// Waits for the next live event this stream's audience may see, re-checking its access
    /// now and then.
    async fn next_live(&mut self) -> Option<Arc<EventRow>> {
        loop {
            if *self.closing.borrow() {
                return None;
            }
            let received = tokio::select! {
                r = self.live.recv() => r,
                _ = self.closing.changed() => return None,
                () = self.evicted.notified() => return None,
                () = tokio::time::sleep_until(self.next_check) => {
                    // Bounded, so a slow database cannot hold the stream (and let its live
                    // buffer overflow); an unanswered check keeps the stream until the next.
                    let check = still_allowed(&self.db, self.grant, self.audience);
                    let allowed = tokio::time::timeout(Duration::from_secs(2), check)
                        .await
                        .unwrap_or(true);
                    if !allowed {
                        metrics::counter!("souk_sse_revoked_total").increment(1);
                        return None;
                    }
                    self.next_check = tokio::time::Instant::now() + jittered(self.recheck_every);
                    continue;
                }
            };
            match received {
                Ok(e) if e.id > self.last_sent && self.already_there.remove(&e.id) => {
                    self.last_sent = e.id;
                }
                Ok(e) if e.id > self.last_sent && self.audience.admits(&e) => {
                    self.last_sent = e.id;
                    return Some(e);
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
    }
}

/// Live changes of one order (`order.paid`, `order.fulfilled`, …) for its customer: logged in,
/// or a guest with the checkout's access token (`X-Order-Token` or `?access_token=`).
#[utoipa::path(get, path = "/api/store/orders/{id}/events", tag = "store",
    params(
        ("id" = uuid::Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "The checkout's `access_token` (guests)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        OrderStreamParams,
    ),
    responses(
        (status = 200, description = "A live stream of `StreamEvent`s", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn order_events(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    client: ClientInfo,
    mut headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<OrderStreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    with_query_token(&mut headers, params.access_token.as_deref());
    let detail = readable_order(&state, &caller, &headers, &id).await?;
    let resume = resume_point(&headers, params.last_event_id.as_deref())?;
    // The owner's session is checked again; a guest's token is not (it does not expire).
    let owner = caller
        .0
        .as_ref()
        .filter(|p| detail.order.user_id == Some(p.user_id));
    let audience = Audience::Order(detail.order.id);
    let holders = holders(caller.0.as_ref(), audience, &client.ip);
    open_stream(&state, audience, Grant::of(owner), holders, resume).await
}

/// Live feed for a vendor: its new orders and their payment, fulfilment, cancellation and
/// refunds — only this vendor's part of each order.
#[utoipa::path(get, path = "/api/vendor/events", tag = "vendor", security(("bearer" = [])),
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "A live stream of `StreamEvent`s", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of an approved vendor (`forbidden`, `vendor_not_approved`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn vendor_events(
    State(state): State<AppState>,
    staff: VendorStaff,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // A vendor awaiting approval has no orders to follow: no streams to hold either.
    staff.require_approved()?;
    let resume = resume_point(&headers, params.last_event_id.as_deref())?;
    let grant = Grant::of(Some(&staff.principal));
    let audience = Audience::Vendor(staff.vendor_id);
    let holders = holders(Some(&staff.principal), audience, "");
    open_stream(&state, audience, grant, holders, resume).await
}

/// The platform feed for admins: every order event.
#[utoipa::path(get, path = "/api/admin/events", tag = "admin", security(("bearer" = [])),
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "A live stream of `StreamEvent`s", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin_events(
    State(state): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume = resume_point(&headers, params.last_event_id.as_deref())?;
    let holders = holders(Some(&admin.0), Audience::Admin, "");
    open_stream(
        &state,
        Audience::Admin,
        Grant::of(Some(&admin.0)),
        holders,
        resume,
    )
    .await
}

/// The shapes of a live stream's events, for the OpenAPI document (`StreamEvent` and the
/// `data` schemas; the streams' responses point to them). The data is the event log's row as
/// it was committed; the stream tests check every event they receive against these schemas.
pub mod documented {
    #![allow(dead_code)] // Described, never built: the rows are written as JSON by their emitters.

    use utoipa::openapi::schema::{AnyOfBuilder, Schema};
    use utoipa::openapi::{Ref, RefOr};
    use utoipa::{PartialSchema, ToSchema};
    use uuid::Uuid;

    use crate::api::vocabulary;

    /// One Server-Sent Event: `id:` (resume with `Last-Event-ID`), `event:` (its type) and
    /// `data:` (one line of JSON). Comments (`: heartbeat`) come every 15 s.
    #[derive(ToSchema)]
    pub struct StreamEvent {
        /// Increasing; send the last one seen as `Last-Event-ID` to resume.
        #[schema(value_type = String, pattern = "^[0-9]+$")]
        id: String,
        #[schema(value_type = vocabulary::StreamEventType)]
        event: String,
        data: StreamEventData,
    }

    /// The `data:` of an event: which shape goes with the `event:` type is said on each (any
    /// of them, as one JSON object could fit more than one).
    pub struct StreamEventData;

    /// Each `data` shape with its name, for the document's components.
    fn shapes() -> Vec<(String, RefOr<Schema>)> {
        fn shape<T: ToSchema>() -> (String, RefOr<Schema>) {
            (T::name().into_owned(), T::schema())
        }
        vec![
            shape::<OrderEventData>(),
            shape::<VendorOrderEventData>(),
            shape::<PaymentFailedData>(),
            shape::<ProductUpdatedData>(),
            shape::<StockLowData>(),
            shape::<VendorAppliedData>(),
            shape::<JobFailedData>(),
        ]
    }

    impl PartialSchema for StreamEventData {
        fn schema() -> RefOr<Schema> {
            let mut any = AnyOfBuilder::new().description(Some(
                "The event's data (see each shape for the types it goes with).",
            ));
            for (name, _) in shapes() {
                any = any.item(Ref::from_schema_name(name));
            }
            any.into()
        }
    }

    impl ToSchema for StreamEventData {
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.extend(shapes());
            schemas.push(shape_of_change());
        }
    }

    fn shape_of_change() -> (String, RefOr<Schema>) {
        (ProductChange::name().into_owned(), ProductChange::schema())
    }

    /// `order.*` on a customer's order stream and the admin feed (the order's row).
    #[derive(ToSchema)]
    pub struct OrderEventData {
        order_id: Uuid,
        #[schema(value_type = vocabulary::OrderStatus)]
        status: String,
    }

    /// `order.*` on a vendor's stream (that vendor's part of the order only).
    #[derive(ToSchema)]
    pub struct VendorOrderEventData {
        order_id: Uuid,
        vendor_order_id: Uuid,
        #[schema(value_type = vocabulary::VendorOrderStatus)]
        status: String,
        #[schema(value_type = vocabulary::OrderStatus)]
        order_status: String,
    }

    /// `payment.failed` (customer's order stream and the admin feed): the order stays payable.
    #[derive(ToSchema)]
    pub struct PaymentFailedData {
        order_id: Uuid,
        #[schema(value_type = vocabulary::PaymentState)]
        payment_state: String,
    }

    /// `product.updated` (vendor stream, admin feed).
    #[derive(ToSchema)]
    pub struct ProductUpdatedData {
        #[schema(value_type = ProductChange)]
        change: String,
        product_id: Uuid,
        vendor_id: Uuid,
        /// For `created` and `replaced`.
        handle: Option<String>,
        /// For `stock`.
        variant_id: Option<Uuid>,
        /// For `stock`.
        stock: Option<i64>,
    }

    /// What happened to the product.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ProductChange {
        Created,
        Replaced,
        Archived,
        Stock,
    }

    /// `stock.low` (vendor stream, admin feed): a checkout took a variant to 5 or below.
    #[derive(ToSchema)]
    pub struct StockLowData {
        variant_id: Uuid,
        sku: String,
        product_title: String,
        stock: i64,
    }

    /// `vendor.applied` (admin feed): a vendor is waiting for approval.
    #[derive(ToSchema)]
    pub struct VendorAppliedData {
        vendor_id: Uuid,
        handle: String,
        name: String,
    }

    /// `job.failed` (admin feed): a job gave up after its last attempt.
    #[derive(ToSchema)]
    pub struct JobFailedData {
        job_id: Uuid,
        /// The job's kind (`order_email`, `webhook_delivery`, …).
        kind: String,
        error: String,
    }
}
