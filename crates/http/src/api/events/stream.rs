//! One live stream: who may hold it (checked again while it runs), where it starts (replay
//! after `Last-Event-ID`), and the events it sends, filtered for its audience.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use souk_storage::events::{self, Audience, EventRow};
use souk_storage::{Exec, now_ms};
use tokio::sync::{broadcast, watch};

use super::{
    GUEST_STREAMS_PER_ADDRESS, HEARTBEAT, Holder, REPLAY_MAX, REPLAY_PAGE, REPLAY_WINDOW,
    STREAMS_PER_CALLER, Slot, take_slot,
};
use crate::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};

/// Where a reconnect's replay stands: the next page starts after `read_to`.
pub(super) struct Replay {
    read_to: i64,
    upto: i64,
    since: i64,
    sent: usize,
}

pub(super) struct StreamState {
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

pub(super) fn sse_event(e: &EventRow) -> Event {
    Event::default()
        .id(e.id.to_string())
        .event(e.kind.as_str())
        .data(e.data.as_str())
}

pub(super) fn resume_point(headers: &HeaderMap, query: Option<&str>) -> ApiResult<Option<i64>> {
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
pub(super) enum Grant {
    /// A guest's order access token: it does not expire, nothing to check again.
    OrderToken,
    Session(uuid::Uuid),
    ApiKey(uuid::Uuid),
}

impl Grant {
    pub(super) fn of(principal: Option<&Principal>) -> Grant {
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
pub(super) fn jittered(every: Duration) -> Duration {
    let spread = (uuid::Uuid::new_v4().as_u128() % 401) as f64 / 1000.0; // 0 ..= 0.4
    every.mul_f64(0.8 + spread)
}

/// Whether the holder of `grant` may still read `audience`'s events. A database error keeps
/// the stream (it is checked again later) rather than cutting every stream at once.
pub(super) async fn still_allowed(db: &souk_storage::Db, grant: Grant, audience: Audience) -> bool {
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
pub(super) fn holders(principal: Option<&Principal>, audience: Audience, ip: &str) -> Vec<Holder> {
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

pub(super) async fn open_stream(
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

/// Where a stream starts: after `Last-Event-ID` (with the replay to read up to `upto`), or now.
pub(super) async fn starting_point(
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
