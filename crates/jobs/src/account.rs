//! Emails that carry a secret link (email verification, password reset).
//!
//! The job stores only the address and the purpose; the token is created when the email is
//! sent and only its hash is stored, so no usable secret ever sits in the jobs table. A retry
//! creates a fresh token; earlier ones stay valid until they expire or one is used. The job
//! looks the account up itself, so a reset request for an unknown address costs the HTTP
//! handler exactly as much as one for a known address (no account enumeration by timing).

use souk_domain::accounts::new_token;
use souk_storage::accounts::{self, TokenPurpose};
use souk_storage::{Db, StorageError, now_ms};
use uuid::Uuid;

use crate::JobError;
use crate::mail::{EmailJob, Mailer};

pub use souk_app::jobs::{
    ACCOUNT_EMAIL_JOB, AccountEmail, AccountEmailPurpose, VENDOR_INVITATION_JOB,
    VendorInvitationEmail, enqueue_account_email, enqueue_vendor_invitation,
};
pub const VERIFY_EMAIL_TTL_MS: i64 = 48 * 3600 * 1000;
pub const PASSWORD_RESET_TTL_MS: i64 = 30 * 60 * 1000;

pub(crate) async fn send(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    job_id: Uuid,
    job: &AccountEmail,
) -> Result<(), JobError> {
    let retry = |e: StorageError| JobError::Retryable(e.to_string());
    let Some(user) = accounts::user_by_email(db, &job.email)
        .await
        .map_err(retry)?
    else {
        return Ok(()); // no such account: nothing to send, and the requester is not told
    };
    let (purpose, prefix, ttl, path, template) = match job.purpose {
        AccountEmailPurpose::VerifyEmail => {
            if user.email_verified_at.is_some() {
                return Ok(());
            }
            (
                TokenPurpose::VerifyEmail,
                "souk_v_",
                VERIFY_EMAIL_TTL_MS,
                "verify-email",
                "verify_email",
            )
        }
        AccountEmailPurpose::PasswordReset => (
            TokenPurpose::PasswordReset,
            "souk_r_",
            PASSWORD_RESET_TTL_MS,
            "reset-password",
            "password_reset",
        ),
        AccountEmailPurpose::AccountExists => (
            TokenPurpose::PasswordReset,
            "souk_r_",
            PASSWORD_RESET_TTL_MS,
            "reset-password",
            "account_exists",
        ),
    };
    let (token, hash) = new_token(prefix);
    let mut tx = db.begin_write().await.map_err(retry)?;
    accounts::create_user_token(&mut tx, user.id, purpose, &hash, now_ms() + ttl)
        .await
        .map_err(retry)?;
    tx.commit().await.map_err(retry)?;
    let link = format!("{}/{path}?token={token}", public_url.trim_end_matches('/'));
    let email = EmailJob {
        to: user.email,
        template: template.to_owned(),
        vars: serde_json::json!({
            "name": user.name,
            "link": link,
            "expires_minutes": ttl / 60_000,
            "expires_hours": ttl / 3_600_000,
        }),
    };
    mailer.send(job_id, &email).await
}

pub(crate) async fn send_vendor_invitation(
    db: &Db,
    mailer: &Mailer,
    public_url: &str,
    job_id: Uuid,
    job: &VendorInvitationEmail,
) -> Result<(), JobError> {
    let retry = |e: StorageError| JobError::Retryable(e.to_string());
    let Some((invitation, vendor_name, inviter)) =
        souk_storage::vendors::invitation_for_email(db, job.invitation_id)
            .await
            .map_err(retry)?
    else {
        return Ok(()); // the vendor is gone
    };
    if invitation.status(now_ms()) != "pending" {
        return Ok(()); // revoked (or accepted, expired) before the email went out
    }
    let (token, hash) = new_token("souk_i_");
    let mut tx = db.begin_write().await.map_err(retry)?;
    souk_storage::vendors::add_invitation_token(&mut tx, invitation.id, &hash)
        .await
        .map_err(retry)?;
    tx.commit().await.map_err(retry)?;
    let link = format!(
        "{}/vendor/invitations/accept?token={token}",
        public_url.trim_end_matches('/')
    );
    let email = EmailJob {
        to: invitation.email,
        template: "vendor_invitation".to_owned(),
        vars: serde_json::json!({
            "vendor_name": vendor_name,
            "inviter": inviter.unwrap_or_default(),
            "link": link,
            "expires_at": souk_domain::time::rfc3339(invitation.expires_at).get(..10).unwrap_or("").to_owned(),
        }),
    };
    mailer.send(job_id, &email).await
}
