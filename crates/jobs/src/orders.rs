//! Order emails: the worker sends what `souk_app::order_emails` composes for the job.

use uuid::Uuid;

use crate::JobError;
use crate::mail::Mailer;

pub use souk_app::jobs::{ORDER_EMAIL_JOB, ORDER_EXPIRE_JOB, OrderEmail, OrderExpiry};
use souk_app::order_emails::{OrderLinks, order_email};

pub(crate) async fn send(
    db: &souk_storage::Db,
    mailer: &Mailer,
    config: &crate::WorkerConfig,
    job_id: Uuid,
    job: &OrderEmail,
) -> Result<(), JobError> {
    let links = OrderLinks {
        public_url: config.public_url.clone(),
        key: config.order_link_key.clone(),
    };
    match order_email(db, &links, job).await? {
        Some(email) => mailer.send(job_id, &email).await,
        None => Ok(()),
    }
}
