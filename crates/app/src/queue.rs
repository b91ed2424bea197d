//! The job queue as staff see it: a dead job run again.

use souk_storage::jobs::{self, JobRecord};
use uuid::Uuid;

use crate::{Actor, App, AppError, Kind, record_audit};

/// Why a dead job cannot be run again.
#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error("no such job")]
    NotFound,
    #[error("the job is {status}; only dead jobs are retried")]
    NotDead { status: String },
}

impl From<RetryError> for AppError {
    fn from(e: RetryError) -> Self {
        match &e {
            RetryError::NotFound => AppError::not_found(e.to_string()),
            RetryError::NotDead { .. } => AppError::refused(
                Kind::Conflict,
                "job_not_dead",
                "Job not dead",
                e.to_string(),
            ),
        }
    }
}

/// Puts a dead job back in the queue with a fresh set of attempts, audited, and wakes the
/// worker. Returns the job as it now stands.
pub async fn retry_dead(app: &App, actor: &Actor, id: Uuid) -> Result<JobRecord, AppError> {
    let job = jobs::get(&app.db, id).await?.ok_or(RetryError::NotFound)?;
    let mut tx = app.db.begin_write().await?;
    if !jobs::retry(&mut tx, id).await? {
        return Err(RetryError::NotDead { status: job.status }.into());
    }
    record_audit(
        &mut tx,
        actor,
        "job.retry",
        ("job", id),
        None,
        serde_json::json!({"kind": job.kind}),
    )
    .await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(jobs::get(&app.db, id).await?.ok_or(RetryError::NotFound)?)
}

/// Sends a test email to `to` through the job worker and the configured transport, once (no
/// retry: the point is to see what the mail server says). Returns the job to watch: `done`
/// when the server accepted it, `dead` with the server's answer when it did not.
pub async fn send_test_email(app: &App, actor: &Actor, to: &str) -> Result<Uuid, AppError> {
    let to = souk_domain::accounts::Email::parse(to).map_err(|m| AppError::field("to", m))?;
    let to = to.as_str();
    let job = crate::jobs::test_email_job(to, &actor.email);
    let mut tx = app.db.begin_write().await?;
    let id = jobs::enqueue(&mut tx, &job).await?;
    record_audit(
        &mut tx,
        actor,
        "email.test",
        ("job", id),
        None,
        serde_json::json!({"to": to}),
    )
    .await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(id)
}
