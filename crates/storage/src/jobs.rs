//! The durable job queue (transactional outbox).
//!
//! [`enqueue`] takes the caller's transaction, so a job exists if and only if the change that
//! caused it committed. Workers [`claim`] due jobs with a lease; a job whose worker died (lease
//! expired while `running`) is claimed again, so every job runs at least once. On PostgreSQL
//! several instances claim concurrently with `FOR UPDATE SKIP LOCKED`; on SQLite the single
//! writer serialises claims.

use serde::Serialize;
use uuid::Uuid;

use crate::dialect::skip_locked;
use crate::{Db, StorageError, Tx, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Pending,
    Running,
    Done,
    /// Failed `max_attempts` times; kept for inspection and manual retry.
    Dead,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Dead => "dead",
        }
    }

    pub const ALL: [JobStatus; 4] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Done,
        JobStatus::Dead,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|j| j.as_str() == s)
    }
}

/// A job to run after the surrounding transaction commits.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    pub max_attempts: i64,
}

/// Adds a job inside `tx`; returns its id.
pub async fn enqueue(tx: &mut Tx, job: &NewJob) -> Result<Uuid, StorageError> {
    let id = Uuid::now_v7();
    let now = now_ms();
    crate::sql::query(
            "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) \
             VALUES ($1, $2, $3, 'pending', 0, $4, $5, $5, $5)",
        )
        .bind(id)
        .bind(&job.kind)
        .bind(job.payload.to_string())
        .bind(job.max_attempts.max(1))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(id)
}

/// A job that becomes due at `run_at` (Unix ms).
#[derive(Debug, Clone)]
pub struct ScheduledJob {
    pub job: NewJob,
    pub run_at: i64,
}

/// Adds several jobs inside `tx` in one statement.
pub async fn enqueue_many(tx: &mut Tx, jobs: &[ScheduledJob]) -> Result<(), StorageError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut args = Vec::with_capacity(jobs.len() * 6);
    for j in jobs {
        args.push(crate::db::Arg::Uuid(Uuid::now_v7()));
        args.push(crate::db::Arg::Text(j.job.kind.clone()));
        args.push(crate::db::Arg::Text(j.job.payload.to_string()));
        args.push(crate::db::Arg::I64(j.job.max_attempts.max(1)));
        args.push(crate::db::Arg::I64(j.run_at));
        args.push(crate::db::Arg::I64(now));
    }
    let rows: Vec<String> = (0..jobs.len())
        .map(|r| {
            let b = r * 6;
            format!(
                "(${}, ${}, ${}, 'pending', 0, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 6
            )
        })
        .collect();
    let sql = format!(
        "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at, created_at, updated_at) VALUES {}",
        rows.join(", ")
    );
    crate::sql::query(sql)
        .bind_all(args)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

/// A job leased to one worker.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: Uuid,
    pub kind: String,
    pub payload: String,
    /// Including this run.
    pub attempts: i64,
    pub max_attempts: i64,
}

crate::from_row!(ClaimedJob {
    id,
    kind,
    payload,
    attempts,
    max_attempts
});

/// Leases up to `limit` due jobs to `worker` for `lease_ms`.
pub async fn claim(
    db: &Db,
    worker: &str,
    lease_ms: i64,
    limit: i64,
) -> Result<Vec<ClaimedJob>, StorageError> {
    complete_and_claim(db, worker, &[], lease_ms, limit, true).await
}

/// The claim statement: due pending jobs, oldest first, from the `jobs_pending_due` index (an
/// ordered walk that stops after `$4` rows, whatever the backlog).
pub fn claim_sql(backend: crate::db::Backend) -> String {
    format!(
        "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $3 ORDER BY run_at LIMIT $4{}) \
         RETURNING id, kind, payload, attempts, max_attempts",
        skip_locked(backend)
    )
}

/// Jobs whose worker died (lease over while `running`, attempts left): the rare second claim
/// statement, from the `jobs_lease` index.
pub fn reclaim_sql(backend: crate::db::Backend) -> String {
    format!(
        "UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT id FROM jobs WHERE status = 'running' AND locked_until < $3 AND attempts < max_attempts \
         ORDER BY locked_until LIMIT $4{}) \
         RETURNING id, kind, payload, attempts, max_attempts",
        skip_locked(backend)
    )
}

/// One write transaction for a worker's round: marks `done` the jobs it finished (those it
/// still holds), then leases up to `limit` due jobs — and, when `reclaim`, jobs whose worker
/// died. Batching both keeps the queue's share of the (SQLite: only) writer small: one
/// transaction per batch, not two per job.
pub async fn complete_and_claim(
    db: &Db,
    worker: &str,
    done: &[Uuid],
    lease_ms: i64,
    limit: i64,
    reclaim: bool,
) -> Result<Vec<ClaimedJob>, StorageError> {
    let now = now_ms();
    let mut tx = db.begin_relaxed_write().await?;
    update_held(
        &mut tx,
        worker,
        now,
        done,
        "status = 'done', finished_at = $2, updated_at = $2, locked_by = NULL, locked_until = NULL, \
         last_error = NULL",
        "",
    )
    .await?;
    let mut claimed: Vec<ClaimedJob> = Vec::new();
    let statements = if reclaim {
        vec![reclaim_sql(db.backend()), claim_sql(db.backend())]
    } else {
        vec![claim_sql(db.backend())]
    };
    for sql in statements {
        let room = limit - claimed.len() as i64;
        if room <= 0 {
            break;
        }
        let more: Vec<ClaimedJob> = crate::sql::query_as(sql)
            .bind(worker)
            .bind(now + lease_ms)
            .bind(now)
            .bind(room)
            .fetch_all(&mut tx)
            .await?;
        claimed.extend(more);
    }
    tx.commit().await?;
    Ok(claimed)
}

/// Hands jobs `worker` claimed but never started back to the queue (at shutdown), without
/// counting the claim as an attempt.
pub async fn release_claimed(db: &Db, worker: &str, ids: &[Uuid]) -> Result<(), StorageError> {
    let now = now_ms();
    let mut tx = db.begin_relaxed_write().await?;
    update_held(
        &mut tx,
        worker,
        now,
        ids,
        "status = 'pending', attempts = attempts - 1, updated_at = $2, locked_by = NULL, locked_until = NULL",
        " AND attempts > 0",
    )
    .await?;
    tx.commit().await
}

/// Applies `set` (which may use `$2` = `now`) to the jobs of `ids` that `worker` still holds
/// running (and match `and`), 500 ids per statement.
async fn update_held(
    tx: &mut Tx,
    worker: &str,
    now: i64,
    ids: &[Uuid],
    set: &str,
    and: &str,
) -> Result<(), StorageError> {
    for chunk in ids.chunks(500) {
        let mut args = vec![
            crate::db::Arg::Text(worker.to_owned()),
            crate::db::Arg::I64(now),
        ];
        let placeholders: Vec<String> = chunk
            .iter()
            .map(|id| {
                args.push(crate::db::Arg::Uuid(*id));
                format!("${}", args.len())
            })
            .collect();
        let sql = format!(
            "UPDATE jobs SET {set} WHERE locked_by = $1 AND status = 'running'{and} AND id IN ({})",
            placeholders.join(", ")
        );
        crate::sql::query(sql)
            .bind_all(args)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    Ok(())
}

/// How far behind the queue is: due pending jobs (counted up to `cap`) and how long the oldest
/// has waited, in ms (0 when none). Reads the `jobs_pending_due` index only.
pub async fn backlog(db: &Db, cap: i64) -> Result<(i64, i64), StorageError> {
    let now = now_ms();
    let (due, oldest): (i64, Option<i64>) = crate::sql::query_as(
            "SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM jobs WHERE status = 'pending' AND run_at <= $1 LIMIT $2) AS d), \
             (SELECT MIN(run_at) FROM jobs WHERE status = 'pending' AND run_at <= $1)",
        )
        .bind(now)
        .bind(cap)
        .fetch_one(db)
        .await?;
    Ok((due, oldest.map_or(0, |t| (now - t).max(0))))
}

/// Marks a job done, if `worker` still holds it. Returns false if the lease was lost.
pub async fn complete(db: &Db, id: Uuid, worker: &str) -> Result<bool, StorageError> {
    let now = now_ms();
    let mut tx = db.begin_relaxed_write().await?;
    let n = crate::sql::query(
            "UPDATE jobs SET status = 'done', finished_at = $3, updated_at = $3, locked_by = NULL, locked_until = NULL, \
             last_error = NULL WHERE id = $1 AND locked_by = $2 AND status = 'running'",
        )
        .bind(id)
        .bind(worker)
        .bind(now)
        .execute(&mut tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// A job that gave up.
#[derive(Debug, Clone)]
pub struct DeadJob {
    pub id: Uuid,
    pub kind: String,
    /// JSON (filled by [`dead_letter_abandoned`], which needs it to tell what was abandoned).
    pub payload: String,
    pub error: String,
}

/// Records a failed run in `tx`: back to `pending` at `retry_at`, or `dead` when `retry_at` is
/// `None` (then it returns the dead job; the application's outbox also tells the admins).
pub async fn fail(
    tx: &mut Tx,
    id: Uuid,
    worker: &str,
    error: &str,
    retry_at: Option<i64>,
) -> Result<Option<DeadJob>, StorageError> {
    let now = now_ms();
    let error: String = error.chars().take(2000).collect();
    let dead: Option<String> = match retry_at {
            Some(at) => {
                crate::sql::query(
                "UPDATE jobs SET status = 'pending', run_at = $3, last_error = $4, updated_at = $5, locked_by = NULL, \
                 locked_until = NULL WHERE id = $1 AND locked_by = $2 AND status = 'running'",
            )
            .bind(id)
            .bind(worker)
            .bind(at)
            .bind(&error)
            .bind(now)
            .execute(&mut *tx)
            .await?;
                None
            }
            None => crate::sql::query_scalar(
                "UPDATE jobs SET status = 'dead', finished_at = $3, last_error = $4, updated_at = $3, locked_by = NULL, \
                 locked_until = NULL WHERE id = $1 AND locked_by = $2 AND status = 'running' RETURNING kind",
            )
            .bind(id)
            .bind(worker)
            .bind(now)
            .bind(&error)
            .fetch_optional(&mut *tx)
            .await?,
        };
    Ok(dead.map(|kind| DeadJob {
        id,
        kind,
        payload: String::new(),
        error,
    }))
}

/// Puts a claimed job back to wait until `run_at` without counting this run as an attempt
/// (the job stepped aside, e.g. its webhook endpoint is busy).
pub async fn defer(db: &Db, id: Uuid, worker: &str, run_at: i64) -> Result<(), StorageError> {
    let now = now_ms();
    let mut tx = db.begin_relaxed_write().await?;
    crate::sql::query(
            "UPDATE jobs SET status = 'pending', run_at = $3, attempts = attempts - 1, updated_at = $4, locked_by = NULL, \
             locked_until = NULL WHERE id = $1 AND locked_by = $2 AND status = 'running' AND attempts > 0",
        )
        .bind(id)
        .bind(worker)
        .bind(run_at)
        .bind(now)
        .execute(&mut tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct JobRecord {
    pub id: Uuid,
    pub kind: String,
    pub payload: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

crate::from_row!(JobRecord {
    id,
    kind,
    payload,
    status,
    attempts,
    max_attempts,
    run_at,
    last_error,
    created_at,
    finished_at
});

/// Jobs, newest first, optionally of one status; `before` is the id to continue after.
pub async fn list(
    db: &Db,
    status: Option<JobStatus>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<JobRecord>, StorageError> {
    let mut filters = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    if let Some(status) = status {
        args.push(crate::db::Arg::Text(status.as_str().to_owned()));
        filters.push(format!("status = ${}", args.len()));
    }
    if let Some(before) = before {
        args.push(crate::db::Arg::Uuid(before));
        filters.push(format!("id < ${}", args.len()));
    }
    args.push(crate::db::Arg::I64(limit));
    let sql = format!(
        "SELECT id, kind, payload, status, attempts, max_attempts, run_at, last_error, created_at, finished_at \
         FROM jobs WHERE {} ORDER BY id DESC LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    crate::sql::query_as(sql).bind_all(args).fetch_all(db).await
}

pub async fn get(db: &Db, id: Uuid) -> Result<Option<JobRecord>, StorageError> {
    crate::sql::query_as(
            "SELECT id, kind, payload, status, attempts, max_attempts, run_at, last_error, created_at, finished_at \
             FROM jobs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Puts a dead job back in the queue with a fresh set of attempts. Returns false if the job is
/// not dead (a pending, running or done job is left alone).
pub async fn retry(tx: &mut Tx, id: Uuid) -> Result<bool, StorageError> {
    let now = now_ms();
    let n = crate::sql::query(
            "UPDATE jobs SET status = 'pending', attempts = 0, run_at = $2, updated_at = $2, finished_at = NULL \
             WHERE id = $1 AND status = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Number of jobs per status, for metrics.
pub async fn counts(db: &Db) -> Result<Vec<(String, i64)>, StorageError> {
    crate::sql::query_as("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        .fetch_all(db)
        .await
}

/// Deletes finished (done) jobs older than `before_ms`; dead jobs are kept.
pub async fn purge_done(db: &Db, before_ms: i64) -> Result<u64, StorageError> {
    db.purge(
        "DELETE FROM jobs WHERE status = 'done' AND finished_at < $1",
        before_ms,
    )
    .await
}

/// Dead-letters, in `tx`, jobs whose last allowed attempt never finished (its worker crashed
/// or was killed and the lease ran out): they are not claimed again and show as `dead`.
/// The application's outbox runs it with what follows from it.
pub async fn dead_letter_abandoned(tx: &mut Tx) -> Result<Vec<DeadJob>, StorageError> {
    let now = now_ms();
    let dead: Vec<(Uuid, String, String)> = crate::sql::query_as(
            "UPDATE jobs SET status = 'dead', finished_at = $1, updated_at = $1, locked_by = NULL, locked_until = NULL, \
             last_error = 'its last attempt never finished (the worker stopped or crashed)' \
             WHERE status = 'running' AND locked_until < $1 AND attempts >= max_attempts RETURNING id, kind, payload",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    Ok(dead
        .into_iter()
        .map(|(id, kind, payload)| DeadJob {
            id,
            kind,
            payload,
            error: "its last attempt never finished".to_owned(),
        })
        .collect())
}
