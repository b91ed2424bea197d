//! Background work: the worker that runs queued jobs (the relay side of the transactional
//! outbox) and the jobs themselves. Runs inside `souk serve` and as `souk worker`.

pub mod account;
pub mod mail;
pub mod maintenance;
pub mod orders;
pub mod payments;
pub mod webhooks;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use souk_storage::jobs::{self, ClaimedJob};
use souk_storage::{Db, now_ms};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::account::{ACCOUNT_EMAIL_JOB, AccountEmail};
use crate::mail::{EMAIL_JOB, EmailJob, Mailer};
use crate::orders::{ORDER_EMAIL_JOB, ORDER_EXPIRE_JOB, OrderEmail, OrderExpiry};
use souk_app::jobs::{REFUND_JOB, RefundJob};
use souk_app::payments::Providers;
use souk_app::{NoSignals, Signals};

pub use souk_app::jobs::JobError;

/// A worker's round in flight: the jobs it records as done, and its claim.
struct Round {
    finished: Vec<Uuid>,
    limit: i64,
    task: tokio::task::JoinHandle<Result<Vec<ClaimedJob>, souk_storage::StorageError>>,
}

/// A finished job: a success goes into the next batch of completions.
fn collect(finished: Option<Result<Option<Uuid>, tokio::task::JoinError>>, done: &mut Vec<Uuid>) {
    match finished {
        Some(Ok(Some(id))) => done.push(id),
        Some(Ok(None)) | None => {}
        Some(Err(e)) => log_panic(Some(Err(e))),
    }
}

/// Cancels unpaid orders whose hold ran out, every `every`, until shutdown.
async fn release_sweep(
    db: Db,
    signals: Arc<dyn Signals>,
    every: Duration,
    shutdown: watch::Receiver<bool>,
) {
    self::every(every, shutdown, || {
        let db = db.clone();
        let signals = signals.clone();
        async move {
            match souk_app::orders::release_overdue(&db).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(orders = n, "released unpaid orders past their hold");
                    // Their stock is back on sale; their emails are queued.
                    signals.catalog_changed();
                    signals.jobs_committed();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the release sweep failed; the next pass retries")
                }
            }
        }
    })
    .await;
}

pub use souk_app::jobs::BACKLOG_WARN_AFTER;

/// A job that panicked: its lease runs out and it is tried again (or dead-lettered after its
/// last attempt by housekeeping); say so, or the failure would leave no trace.
fn log_panic(finished: Option<Result<(), tokio::task::JoinError>>) {
    if let Some(Err(e)) = finished
        && e.is_panic()
    {
        tracing::error!(error = %e, "a job panicked; it will be retried when its lease expires");
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Jobs run at once by this process.
    pub concurrency: usize,
    /// How often to look for due jobs when idle.
    pub poll_interval: Duration,
    /// How long a claimed job is reserved; a worker that dies loses it after this.
    pub lease: Duration,
    /// First retry delay; doubles per attempt up to `retry_max`, with jitter.
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Where links in emails point (`https://shop.example`).
    pub public_url: String,
    /// Runs after which a failing job is dead-lettered.
    pub max_attempts: i64,
    /// The server key, to put a guest's order link in their emails (`None`: no links).
    pub order_link_key: Option<Arc<[u8]>>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            // 4 fell behind a checkout rush on one core (600 emails/s for 1,200 wanted): a job
            // mostly waits (a read, a file or an SMTP server), so more at once keep up.
            concurrency: 16,
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(120),
            retry_base: Duration::from_secs(5),
            retry_max: Duration::from_secs(3600),
            public_url: "http://127.0.0.1:8080".to_owned(),
            max_attempts: 25,
            order_link_key: None,
        }
    }
}

/// Delay before the next attempt: exponential with "equal jitter" (half fixed, half random), so
/// a burst of failures does not come back as a burst of retries.
pub fn backoff(config: &WorkerConfig, attempts: i64) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = config
        .retry_base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(config.retry_max);
    let half = full / 2;
    let random = (Uuid::new_v4().as_u128() % 1_000_000) as u32;
    half + half.mul_f64(f64::from(random) / 1_000_000.0)
}

/// Runs `pass` every `every` until `shutdown` turns true (for periodic work: reconciliation,
/// housekeeping). A pass in progress finishes first.
pub async fn every<F, Fut>(every: Duration, mut shutdown: watch::Receiver<bool>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        pass().await;
    }
}

/// Runs jobs until `shutdown` turns true; in-flight jobs are finished first.
pub struct Worker {
    db: Db,
    mailer: Arc<Mailer>,
    config: WorkerConfig,
    id: String,
    wake: Arc<Notify>,
    providers: Providers,
    webhooks: Option<Arc<webhooks::WebhookSender>>,
    /// Told of what the worker's steps commit (the catalog cache, live streams, this worker).
    signals: Arc<dyn Signals>,
}

impl Worker {
    pub fn new(db: Db, mailer: Arc<Mailer>, config: WorkerConfig) -> Self {
        Worker {
            db,
            mailer,
            config,
            id: format!("{}-{}", std::process::id(), Uuid::new_v4().simple()),
            wake: Arc::new(Notify::new()),
            providers: Providers::default(),
            webhooks: None,
            signals: Arc::new(NoSignals),
        }
    }

    /// Tells `signals` what its steps commit (in `souk serve`, the HTTP face's: a released
    /// order's stock shows in the cached catalog at once).
    pub fn with_signals(mut self, signals: Arc<dyn Signals>) -> Self {
        self.signals = signals;
        self
    }

    /// Delivers webhook messages (without it, delivery jobs wait for a worker that has it).
    pub fn with_webhooks(mut self, sender: Arc<webhooks::WebhookSender>) -> Self {
        self.webhooks = Some(sender);
        self
    }

    /// The payment providers refund jobs talk to.
    pub fn with_providers(mut self, providers: Providers) -> Self {
        self.providers = providers;
        self
    }

    /// Notified after this process commits new jobs, so they start without waiting for a poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(worker = %self.id, concurrency = self.config.concurrency, "job worker started");
        let this = Arc::new(self);
        let lease_ms = i64::try_from(this.config.lease.as_millis()).unwrap_or(i64::MAX);
        // Jobs whose worker died are looked for now and then, not at every claim.
        let reclaim_every =
            (this.config.lease / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
        let mut next_reclaim = Instant::now();
        let release = tokio::spawn(release_sweep(
            this.db.clone(),
            this.signals.clone(),
            this.config.poll_interval.min(Duration::from_secs(1)),
            shutdown.clone(),
        ));
        // Jobs are claimed in batches into a local queue and run `concurrency` at a time; slots
        // are refilled as jobs finish, so one slow job (a webhook endpoint that does not answer)
        // never holds up the others. Each round — one write transaction, run beside the jobs —
        // records the jobs finished since the last and claims the next batch: on a busy SQLite
        // writer a round waits its turn, and one round per batch (not two transactions per
        // job) is what lets the queue keep up with a rush of orders.
        let concurrency = this.config.concurrency.max(1);
        let batch = (concurrency * 16).clamp(16, 256);
        let mut running: JoinSet<Option<Uuid>> = JoinSet::new();
        let mut queue: VecDeque<ClaimedJob> = VecDeque::new();
        let mut done: Vec<Uuid> = Vec::new();
        let mut round: Option<Round> = None;
        // The last round found nothing due: wait for a poll or a wake-up before looking again.
        let mut idle = false;
        loop {
            if *shutdown.borrow() {
                break;
            }
            while let Some(finished) = running.try_join_next() {
                collect(Some(finished), &mut done);
            }
            while running.len() < concurrency
                && let Some(job) = queue.pop_front()
            {
                let this = this.clone();
                running.spawn(async move { this.execute(job).await });
            }
            let room = batch.saturating_sub(queue.len() + running.len());
            let want_more = !idle && queue.len() < concurrency && room > 0;
            let flush = done.len() >= batch / 2 || (!done.is_empty() && queue.is_empty());
            if round.is_none() && (want_more || flush) {
                let reclaim = want_more && Instant::now() >= next_reclaim;
                if reclaim {
                    next_reclaim = Instant::now() + reclaim_every;
                }
                let finished = std::mem::take(&mut done);
                let limit = if want_more { room as i64 } else { 0 };
                let (db, id) = (this.db.clone(), this.id.clone());
                let ids = finished.clone();
                round = Some(Round {
                    finished,
                    task: tokio::spawn(async move {
                        jobs::complete_and_claim(&db, &id, &ids, lease_ms, limit, reclaim).await
                    }),
                    limit,
                });
            }
            tokio::select! {
                outcome = async { (&mut round.as_mut().expect("checked").task).await }, if round.is_some() => {
                    let Round { finished, limit, .. } = round.take().expect("checked");
                    match outcome {
                        Ok(Ok(claimed)) => {
                            idle = limit > 0 && claimed.is_empty();
                            queue.extend(claimed);
                        }
                        failed => {
                            match failed {
                                Ok(Err(e)) => tracing::warn!(error = %e, "cannot claim jobs; retrying"),
                                Err(e) => tracing::warn!(error = %e, "a claim round failed; retrying"),
                                Ok(Ok(_)) => {}
                            }
                            // The finished jobs are recorded with a later round; wait a poll.
                            done.extend(finished);
                            idle = true;
                        }
                    }
                }
                Some(finished) = running.join_next(), if !running.is_empty() => collect(Some(finished), &mut done),
                () = tokio::time::sleep(this.config.poll_interval), if idle => idle = false,
                () = this.wake.notified() => idle = false,
                _ = shutdown.changed() => {}
            }
        }
        if let Some(r) = round.take() {
            match r.task.await {
                Ok(Ok(claimed)) => queue.extend(claimed),
                _ => done.extend(r.finished),
            }
        }
        while let Some(finished) = running.join_next().await {
            collect(Some(finished), &mut done);
        }
        // Jobs claimed but not started go back to the queue at once (not after their lease).
        let unstarted: Vec<Uuid> = queue.iter().map(|j| j.id).collect();
        if !unstarted.is_empty()
            && let Err(e) = jobs::release_claimed(&this.db, &this.id, &unstarted).await
        {
            tracing::warn!(error = %e, "cannot hand back unstarted jobs; they run after their lease");
        }
        if !done.is_empty()
            && let Err(e) =
                jobs::complete_and_claim(&this.db, &this.id, &done, lease_ms, 0, false).await
        {
            tracing::warn!(error = %e, "cannot record finished jobs at shutdown; they run again after their lease");
        }
        let _ = release.await;
        tracing::info!(worker = %this.id, "job worker stopped");
    }

    /// Runs one job and records a failure; a success is returned (`Some(id)`) to be recorded
    /// with the next claim.
    async fn execute(&self, job: ClaimedJob) -> Option<Uuid> {
        // Finish well inside the lease, so no other worker starts the same job meanwhile.
        let deadline = self.config.lease.mul_f64(0.8);
        let outcome = match tokio::time::timeout(deadline, self.dispatch(&job)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(JobError::Retryable(format!("timed out after {deadline:?}"))),
        };
        let result = match &outcome {
            Ok(()) => Ok(()),
            Err(JobError::Defer(after)) => {
                let at = now_ms() + i64::try_from(after.as_millis()).unwrap_or(1000);
                jobs::defer(&self.db, job.id, &self.id, at).await
            }
            Err(JobError::Retryable(e))
                if job.attempts < job.max_attempts.min(self.config.max_attempts) =>
            {
                let delay = backoff(&self.config, job.attempts);
                tracing::warn!(job = %job.id, kind = %job.kind, attempt = job.attempts, retry_in = ?delay, error = %e, "job failed; will retry");
                let at = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                souk_app::outbox::fail_job(&self.db, job.id, &self.id, e, Some(at)).await
            }
            Err(e) => {
                tracing::error!(job = %job.id, kind = %job.kind, attempt = job.attempts, error = %e, "job failed for good (dead-lettered)");
                souk_app::outbox::fail_job(&self.db, job.id, &self.id, &e.to_string(), None).await
            }
        };
        let retries_left = job.attempts < job.max_attempts.min(self.config.max_attempts);
        let label = match &outcome {
            Ok(()) => "done",
            Err(JobError::Retryable(_)) if retries_left => "retry",
            // A retryable failure on the last attempt dead-letters the job too.
            Err(JobError::Retryable(_) | JobError::Permanent(_)) => "dead",
            Err(JobError::Defer(_)) => "deferred",
        };
        metrics::counter!("souk_jobs_total", "kind" => job.kind.clone(), "outcome" => label)
            .increment(1);
        if let Err(e) = result {
            // The job stays leased and will be picked up again when the lease expires.
            tracing::warn!(job = %job.id, error = %e, "cannot record the job's outcome");
        }
        outcome.is_ok().then_some(job.id)
    }

    async fn dispatch(&self, job: &ClaimedJob) -> Result<(), JobError> {
        match job.kind.as_str() {
            EMAIL_JOB => {
                let email: EmailJob = serde_json::from_str(&job.payload)
                    .map_err(|e| JobError::Permanent(format!("bad email payload: {e}")))?;
                self.mailer.send(job.id, &email).await
            }
            ACCOUNT_EMAIL_JOB => {
                let email: AccountEmail = serde_json::from_str(&job.payload)
                    .map_err(|e| JobError::Permanent(format!("bad account email payload: {e}")))?;
                account::send(
                    &self.db,
                    &self.mailer,
                    &self.config.public_url,
                    job.id,
                    &email,
                )
                .await
            }
            account::VENDOR_INVITATION_JOB => {
                let email: account::VendorInvitationEmail = serde_json::from_str(&job.payload)
                    .map_err(|e| JobError::Permanent(format!("bad invitation payload: {e}")))?;
                account::send_vendor_invitation(
                    &self.db,
                    &self.mailer,
                    &self.config.public_url,
                    job.id,
                    &email,
                )
                .await
            }
            account::VENDOR_APPROVED_JOB => {
                let email: account::VendorApprovedEmail = serde_json::from_str(&job.payload)
                    .map_err(|e| JobError::Permanent(format!("bad approval payload: {e}")))?;
                account::send_vendor_approved(
                    &self.db,
                    &self.mailer,
                    &self.config.public_url,
                    job.id,
                    &email,
                )
                .await
            }
            ORDER_EMAIL_JOB => {
                let email: OrderEmail = serde_json::from_str(&job.payload)
                    .map_err(|e| JobError::Permanent(format!("bad order email payload: {e}")))?;
                orders::send(&self.db, &self.mailer, &self.config, job.id, &email).await
            }
            ORDER_EXPIRE_JOB => {
                let expiry: OrderExpiry = serde_json::from_str(&job.payload)
                    .map_err(|e| JobError::Permanent(format!("bad order expiry payload: {e}")))?;
                let released = souk_app::orders::expire_unpaid(&self.db, expiry.order_id)
                    .await
                    .map_err(|e| JobError::Retryable(e.to_string()))?;
                if released {
                    self.signals.catalog_changed();
                    self.signals.jobs_committed();
                }
                Ok(())
            }
            REFUND_JOB => {
                let refund: RefundJob = serde_json::from_str(&job.payload)
                    .map_err(|e| JobError::Permanent(format!("bad refund payload: {e}")))?;
                souk_app::payments::run_refund_job(&self.db, &self.providers, &refund).await
            }
            souk_app::jobs::WEBHOOK_DELIVERY_JOB => match &self.webhooks {
                Some(sender) => {
                    let last = job.attempts >= job.max_attempts.min(self.config.max_attempts);
                    sender.run_job(&self.db, &job.payload, last).await
                }
                // A worker without the server key cannot sign: leave the job to one that can.
                None => Err(JobError::Defer(Duration::from_secs(30))),
            },
            // Perhaps queued by a newer version of Souk sharing this database during a rolling
            // upgrade: retried with backoff (a newer worker takes it), dead only after the
            // attempts run out.
            other => Err(JobError::Retryable(format!(
                "unknown job kind '{other}' (queued by another version of Souk?)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let config = WorkerConfig {
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(60),
            ..WorkerConfig::default()
        };
        for attempts in 1..=10 {
            let full =
                Duration::from_secs(2 * 2u64.pow(attempts as u32 - 1)).min(Duration::from_secs(60));
            let d = backoff(&config, attempts);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempts}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| backoff(&config, 3)).collect();
        assert!(samples.len() > 1, "jitter varies the delay");
    }
}
