//! Every job kind Souk queues and the payload it carries, defined once. The use cases enqueue
//! them in the transaction of the change they follow from; the worker (`souk_jobs`) decodes the
//! same structs. Payloads carry ids, not rendered content, so a job reads current data when it
//! runs and a fixed template applies to retries.

use serde::{Deserialize, Serialize};
use souk_storage::jobs::{NewJob, ScheduledJob, enqueue};
use souk_storage::{StorageError, Tx, now_ms};
use uuid::Uuid;

/// How a job's step ended badly; the worker decides from it whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth trying again later (network, a server that is down).
    #[error("{0}")]
    Retryable(String),
    /// Will never succeed (bad payload, refused address): dead-lettered at once.
    #[error("{0}")]
    Permanent(String),
    /// Not run now (e.g. its webhook endpoint already has enough deliveries in flight): back in
    /// the queue after this long, without using an attempt.
    #[error("deferred for {0:?}")]
    Defer(std::time::Duration),
}

/// Due jobs that have waited longer than this are a backlog (`/readyz` says so).
pub const BACKLOG_WARN_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Delivers one webhook message; queued by the outbox with the event it carries.
pub const WEBHOOK_DELIVERY_JOB: &str = "webhook.deliver";
/// Attempts per webhook message before it is marked failed (recoverable); the worker's
/// `SOUK_JOB_MAX_ATTEMPTS` (default 25) caps it. With the default backoff (5 s doubling, capped
/// at an hour, equal jitter) 25 attempts span about 8 to 15 hours.
pub const WEBHOOK_DELIVERY_MAX_ATTEMPTS: i64 = 30;

/// A rendered-on-send email (template + variables).
pub const EMAIL_JOB: &str = "email";
/// An email with a secret link (verification, password reset); the token is made on send.
pub const ACCOUNT_EMAIL_JOB: &str = "account_email";
/// An invitation to join a vendor's staff; the token is made on send.
pub const VENDOR_INVITATION_JOB: &str = "vendor_invitation";
/// The email telling a vendor's owner the shop is approved, with the link to the dashboard.
pub const VENDOR_APPROVED_JOB: &str = "vendor_approved";
/// An email about an order (see [`OrderEmail`]).
pub const ORDER_EMAIL_JOB: &str = "order_email";
/// The release of an unpaid order's stock when its hold ends (orders placed before the sweep).
pub const ORDER_EXPIRE_JOB: &str = "order_expire";
/// A pending refund sent to the payment provider.
pub const REFUND_JOB: &str = "payment_refund";

/// SMTP outages are common and short: keep trying for a long time.
pub const EMAIL_MAX_ATTEMPTS: i64 = 25;
/// A provider outage may last hours: keep trying a refund as long as an email.
pub const REFUND_MAX_ATTEMPTS: i64 = 25;

/// What an email job carries: the template and its variables, not the rendered text, so a
/// template fixed by the operator applies to retries too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmailJob {
    pub to: String,
    pub template: String,
    pub vars: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountEmailPurpose {
    VerifyEmail,
    PasswordReset,
    /// Someone tried to register an address that has an account: its owner is told (with a
    /// reset link) instead of the requester.
    AccountExists,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEmail {
    pub purpose: AccountEmailPurpose,
    /// Normalised email address of the account (which may not exist).
    pub email: String,
}

/// The email inviting someone to a vendor's staff; the token is made when it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorInvitationEmail {
    pub invitation_id: Uuid,
}

/// The email telling a vendor's owner that the shop was approved; who and what are read when
/// it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorApprovedEmail {
    pub vendor_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum OrderEmail {
    Customer {
        order_id: Uuid,
    },
    Vendor {
        order_id: Uuid,
        vendor_order_id: Uuid,
    },
    /// To the customer: the payment arrived (sent once, by the transition that paid).
    PaymentReceived {
        order_id: Uuid,
    },
    /// To the customer: money went back.
    Refunded {
        order_id: Uuid,
        refund_id: Uuid,
    },
    /// To the customer: one vendor's part shipped (carrier, tracking number); `corrected`
    /// when the vendor corrected the tracking of a shipment already announced.
    Shipped {
        order_id: Uuid,
        vendor_order_id: Uuid,
        /// The parcel (jobs queued before partial shipments have none: the whole part).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shipment_id: Option<Uuid>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        corrected: bool,
    },
    /// To the customer: the order was called off (by an admin, or unpaid past its hold time).
    Cancelled {
        order_id: Uuid,
    },
    /// To the customer, on request (guest order lookup): the link to their order.
    Link {
        order_id: Uuid,
    },
}

/// The payload of a [`WEBHOOK_DELIVERY_JOB`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryJob {
    pub message_id: Uuid,
}

/// The job that delivers webhook message `message_id`, due at `run_at`.
pub fn delivery_job(message_id: Uuid, run_at: i64) -> ScheduledJob {
    ScheduledJob {
        job: job(
            WEBHOOK_DELIVERY_JOB,
            DeliveryJob { message_id },
            WEBHOOK_DELIVERY_MAX_ATTEMPTS,
        ),
        run_at,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderExpiry {
    pub order_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundJob {
    pub refund_id: Uuid,
}

fn job(kind: &str, payload: impl Serialize, max_attempts: i64) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        payload: serde_json::to_value(payload).expect("a job payload serializes"),
        max_attempts,
    }
}

/// A test email from platform staff, tried once (its outcome is the point).
pub fn test_email_job(to: &str, sent_by: &str) -> NewJob {
    let email = EmailJob {
        to: to.to_owned(),
        template: "test_email".to_owned(),
        vars: serde_json::json!({"sent_by": sent_by}),
    };
    job(EMAIL_JOB, email, 1)
}

fn now(job: NewJob) -> ScheduledJob {
    ScheduledJob {
        job,
        run_at: now_ms(),
    }
}

/// An order email job, to enqueue in the transaction of the change it tells about.
pub fn email_job(email: OrderEmail) -> ScheduledJob {
    now(job(ORDER_EMAIL_JOB, email, EMAIL_MAX_ATTEMPTS))
}

/// The "payment received" email, to enqueue in the transaction that paid the order.
pub fn payment_received_email(order_id: Uuid) -> ScheduledJob {
    email_job(OrderEmail::PaymentReceived { order_id })
}

/// The job that sends a pending refund to its provider.
pub fn refund_job(refund_id: Uuid) -> ScheduledJob {
    refund_job_at(refund_id, now_ms())
}

/// [`refund_job`], first run at `run_at` (ms since the epoch).
pub fn refund_job_at(refund_id: Uuid, run_at: i64) -> ScheduledJob {
    ScheduledJob {
        job: job(REFUND_JOB, RefundJob { refund_id }, REFUND_MAX_ATTEMPTS),
        run_at,
    }
}

/// Queues an email inside `tx`: it is sent if and only if the transaction commits.
pub async fn enqueue_email(tx: &mut Tx, email: &EmailJob) -> Result<Uuid, StorageError> {
    enqueue(tx, &job(EMAIL_JOB, email, EMAIL_MAX_ATTEMPTS)).await
}

pub async fn enqueue_account_email(
    tx: &mut Tx,
    email: &AccountEmail,
) -> Result<Uuid, StorageError> {
    enqueue(tx, &job(ACCOUNT_EMAIL_JOB, email, EMAIL_MAX_ATTEMPTS)).await
}

pub async fn enqueue_vendor_invitation(
    tx: &mut Tx,
    email: &VendorInvitationEmail,
) -> Result<Uuid, StorageError> {
    enqueue(tx, &job(VENDOR_INVITATION_JOB, email, EMAIL_MAX_ATTEMPTS)).await
}

pub async fn enqueue_vendor_approved(
    tx: &mut Tx,
    email: &VendorApprovedEmail,
) -> Result<Uuid, StorageError> {
    enqueue(tx, &job(VENDOR_APPROVED_JOB, email, EMAIL_MAX_ATTEMPTS)).await
}

/// The jobs to enqueue in the checkout transaction of `order`: the confirmation emails.
pub fn checkout_jobs(order: &souk_storage::orders::OrderDetail) -> Vec<ScheduledJob> {
    let mut jobs = vec![email_job(OrderEmail::Customer {
        order_id: order.order.id,
    })];
    jobs.extend(order.vendor_orders.iter().map(|vo| {
        email_job(OrderEmail::Vendor {
            order_id: order.order.id,
            vendor_order_id: vo.id,
        })
    }));
    jobs
}
