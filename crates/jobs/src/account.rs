//! Emails that carry a secret link (email verification, password reset, staff invitations).
//! The job stores only the address (or invitation) and the purpose; the token is made when the
//! email is sent (by the use case in `souk_app`) and only its hash is stored, so no usable
//! secret ever sits in the jobs table. A retry makes a fresh token; earlier ones stay valid
//! until they expire or one is used.

use souk_storage::{Db, StorageError};
use uuid::Uuid;

use crate::JobError;
use crate::mail::Mailer;

pub use souk_app::jobs::{
    ACCOUNT_EMAIL_JOB, AccountEmail, AccountEmailPurpose, VENDOR_APPROVED_JOB,
    VENDOR_INVITATION_JOB, VendorApprovedEmail, VendorInvitationEmail, enqueue_account_email,
    enqueue_vendor_invitation,
};

fn retry(e: StorageError) -> JobError {
    JobError::Retryable(e.to_string())
}

pub(crate) async fn send(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    job_id: Uuid,
    job: &AccountEmail,
) -> Result<(), JobError> {
    match souk_app::accounts::account_email(db, public_url, job)
        .await
        .map_err(retry)?
    {
        Some(email) => mailer.send(job_id, &email).await,
        None => Ok(()),
    }
}

pub(crate) async fn send_vendor_invitation(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    job_id: Uuid,
    job: &VendorInvitationEmail,
) -> Result<(), JobError> {
    match souk_app::vendors::invitation_email(db, public_url, job)
        .await
        .map_err(retry)?
    {
        Some(email) => mailer.send(job_id, &email).await,
        None => Ok(()),
    }
}

pub(crate) async fn send_vendor_approved(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    job_id: Uuid,
    job: &VendorApprovedEmail,
) -> Result<(), JobError> {
    match souk_app::vendors::approval_email(db, public_url, job)
        .await
        .map_err(retry)?
    {
        Some(email) => mailer.send(job_id, &email).await,
        None => Ok(()),
    }
}
