//! The event hub: one poller per process follows the `events` table and fans rows out to the
//! open streams, which are bounded in number overall and per caller.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use souk_storage::Db;
use souk_storage::events::{self, Audience, EventRow};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, watch};

use crate::error::{ApiError, ApiResult};

/// How long events can be replayed after a disconnection.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);
/// How often the poller looks for events committed by other instances.
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long the poller waits for a missing id (a transaction that took an id and has not
/// committed yet) before it assumes the id was rolled back and moves on.
pub(super) const GAP_PATIENCE: Duration = Duration::from_secs(2);
pub(super) const BROADCAST_CAPACITY: usize = 1024;
pub(super) const HEARTBEAT: Duration = Duration::from_secs(15);
/// A reconnect replays at most this many events; a client further behind is sent these and
/// disconnected, and catches up by reconnecting from the last one.
pub(super) const REPLAY_MAX: usize = 5_000;
/// The replay is read from the table this many events at a time, as the client takes them:
/// a stream holds at most one page in memory, however far behind it starts.
pub(super) const REPLAY_PAGE: i64 = 500;
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
    pub(super) live: broadcast::Sender<Arc<EventRow>>,
    streams: Arc<Semaphore>,
    /// Slots only admins may take (see [`admin_reserve`]).
    admin_streams: Arc<Semaphore>,
    max_streams: usize,
    wake: Arc<tokio::sync::Notify>,
    pub(super) closing: watch::Sender<bool>,
    /// The last event id broadcast (every lower id was broadcast or given up as rolled
    /// back); `i64::MAX` until the poller has started.
    pub(super) cursor: Arc<AtomicI64>,
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
            let whole_page = rows.len() == 500;
            // A page that stopped at a gap waits for the next poll rather than reading on.
            full_batch = self.publish(rows, &mut cursor, &mut gap) && whole_page;
        }
    }

    /// Sends `rows` to the live streams in id order from `cursor`. At a gap in the ids (a
    /// transaction that took an id has not committed yet) it stops and waits, up to
    /// [`GAP_PATIENCE`], before passing over it. `false` when it stopped at a gap.
    fn publish(
        &self,
        rows: Vec<EventRow>,
        cursor: &mut i64,
        gap: &mut Option<(i64, Instant)>,
    ) -> bool {
        for row in rows {
            if row.id != *cursor + 1 {
                match *gap {
                    Some((missing, since))
                        if missing == *cursor + 1 && since.elapsed() >= GAP_PATIENCE => {}
                    Some((missing, _)) if missing == *cursor + 1 => return false,
                    _ => {
                        *gap = Some((*cursor + 1, Instant::now()));
                        return false;
                    }
                }
            }
            *gap = None;
            *cursor = row.id;
            self.cursor.store(*cursor, Ordering::SeqCst);
            // No receivers is fine: nobody is watching.
            let _ = self.live.send(Arc::new(row));
        }
        true
    }
}

/// A stream's slot in the bound; given back when the stream ends (`/metrics` reports how many
/// are taken as `souk_sse_streams`).
/// A stream's place: one of the server's slots and one of its caller's; both freed on drop.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    id: u64,
    /// Who this stream counts against (a user; a guest's order and address).
    holders: Vec<String>,
    per_caller: Arc<std::sync::Mutex<CallerStreams>>,
    /// Fired when a holder opened one stream too many and this is its oldest.
    pub(super) evicted: Arc<tokio::sync::Notify>,
}

/// Who a stream counts against, how many that one may hold, and what happens at the cap.
pub(super) struct Holder {
    pub(super) key: String,
    pub(super) cap: usize,
    /// At the cap: end this holder's own oldest stream (a user, a guest order — most likely
    /// a connection that died), or refuse (a client address shared by many guests, whose
    /// oldest stream is likely someone else's).
    pub(super) evict: bool,
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

pub(super) fn too_many_streams() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "too_many_streams",
        "Too many live streams",
        "this server (or this client address) has as many live streams open as it allows; retry shortly",
    );
    e.retry_after = Some(5);
    e
}

/// A place among the open streams, or 429: the admin feed may use the reserve when the rest
/// is taken.
pub(super) fn take_slot(
    hub: &EventHub,
    audience: &Audience,
    holders: Vec<Holder>,
) -> ApiResult<Slot> {
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
