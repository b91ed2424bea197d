//! Vendors: applying to sell, moderation by platform staff (approve, suspend), the profile,
//! and staff invitations.

use souk_domain::accounts::{Email, validate_name};
use souk_domain::catalog::Handle;
use souk_storage::accounts;
use souk_storage::catalog::VendorRecord;
use souk_storage::vendors::{self, InvitationRecord, VendorProfileRecord};
use uuid::Uuid;

use crate::jobs::{
    VendorApprovedEmail, VendorInvitationEmail, enqueue_vendor_approved, enqueue_vendor_invitation,
};
use crate::{Actor, App, AppError, FieldProblem, Kind, record_audit};

/// Sets a vendor's status (`active` approves or reinstates; `suspended` hides its products and
/// locks its staff out), audited; the storefront's cached pages are dropped.
async fn set_status(
    app: &App,
    actor: &Actor,
    id: Uuid,
    status: &str,
) -> Result<VendorRecord, AppError> {
    let before = souk_storage::catalog::vendor_by_id(&app.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    let mut tx = app.db.begin_write().await?;
    let vendor = vendors::set_status(&mut tx, id, status)
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    if before.status == "pending" && status == "active" {
        // A first approval: the owner is told, with the link in (a reinstatement is not news
        // of the same kind, and an approval repeated sends nothing).
        enqueue_vendor_approved(&mut tx, &VendorApprovedEmail { vendor_id: id }).await?;
    }
    record_audit(
        &mut tx,
        actor,
        &format!("vendor.{status}"),
        ("vendor", id),
        Some(id),
        serde_json::json!({"status": status}),
    )
    .await?;
    tx.commit().await?;
    // The vendor's products appear in or vanish from the storefront.
    app.catalog_changed();
    Ok(vendor)
}

/// Approve (or reinstate) a vendor: it becomes active and its published products are shown.
pub async fn approve(app: &App, actor: &Actor, id: Uuid) -> Result<VendorRecord, AppError> {
    set_status(app, actor, id, "active").await
}

/// Suspend a vendor: its products disappear from the storefront and its staff lose access.
pub async fn suspend(app: &App, actor: &Actor, id: Uuid) -> Result<VendorRecord, AppError> {
    set_status(app, actor, id, "suspended").await
}

/// Invitations an owner may send per vendor and day.
const INVITATIONS_PER_DAY: i64 = 20;
/// How long an invitation to join a vendor stays open.
pub const INVITATION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// Applies to sell: creates a pending vendor owned by `actor`, announced on the admins' feed.
/// An admin approves it.
pub async fn apply(
    app: &App,
    actor: &Actor,
    name: &str,
    handle: &str,
) -> Result<VendorRecord, AppError> {
    let mut problems = Vec::new();
    let name = validate_name(name)
        .map_err(|m| problems.push(problem("name", m)))
        .ok();
    let handle = Handle::parse(handle)
        .map_err(|e| problems.push(problem("handle", e.to_string())))
        .ok();
    let (Some(name), Some(handle)) = (name, handle) else {
        return Err(AppError::invalid(problems));
    };
    if vendors::is_member_anywhere(&app.db, actor.user_id).await? {
        return Err(already_staff("you already belong to a vendor"));
    }
    let mut tx = app.db.begin_write().await?;
    let vendor = match vendors::apply(&mut tx, actor.user_id, handle.as_str(), &name).await {
        Ok(v) => v,
        Err(e) if e.is_unique_violation() => {
            return Err(AppError::handle_taken(&handle));
        }
        Err(e) => return Err(e.into()),
    };
    record_audit(
        &mut tx,
        actor,
        "vendor.apply",
        ("vendor", vendor.id),
        Some(vendor.id),
        serde_json::json!({"handle": vendor.handle}),
    )
    .await?;
    // The admins' live feed: a vendor is waiting for approval.
    let data =
        serde_json::json!({"vendor_id": vendor.id, "handle": vendor.handle, "name": vendor.name});
    crate::outbox::emit(&mut tx, "vendor.applied", None, None, &data).await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(vendor)
}

fn problem(field: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn already_staff(detail: &str) -> AppError {
    AppError::refused(
        Kind::Conflict,
        "already_vendor_staff",
        "Already vendor staff",
        detail,
    )
}

/// Sets the shop's logo from an uploaded image (checked and re-encoded like product images),
/// or removes it (`bytes: None`). Audited; the profile after.
pub async fn set_logo(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    bytes: Option<Vec<u8>>,
) -> Result<VendorProfileRecord, AppError> {
    let files = match bytes {
        Some(bytes) => crate::product_images::store_upload(app, bytes).await?,
        None => Vec::new(),
    };
    let url = files
        .first()
        .map(|f| crate::product_images::media_url(&f.name));
    let mut tx = app.db.begin_write().await?;
    crate::product_images::record_files(&mut tx, vendor_id, &files, souk_storage::now_ms()).await?;
    let profile = vendors::set_logo(&mut tx, vendor_id, url.as_deref())
        .await?
        .ok_or_else(|| AppError::not_found("no such vendor"))?;
    record_audit(
        &mut tx,
        actor,
        "vendor.logo",
        ("vendor", vendor_id),
        Some(vendor_id),
        serde_json::json!({"logo_url": url}),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    Ok(profile)
}

/// Changes a vendor's name and/or description; what is `None` stays. A new name shows at once
/// in the storefront and in search.
pub async fn update_profile(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<VendorProfileRecord, AppError> {
    if name.is_none() && description.is_none() {
        return Err(AppError::field(
            "name",
            "nothing to change: send name and/or description",
        ));
    }
    let mut problems = Vec::new();
    let name = name.and_then(|n| {
        validate_name(n)
            .map_err(|m| problems.push(problem("name", m)))
            .ok()
    });
    let description = description.map(|d| d.trim().to_owned());
    if let Some(d) = &description
        && (d.chars().count() > 2000
            || d.chars().any(|c| {
                !matches!(c, '\n' | '\r' | '\t') && souk_domain::text::is_hidden_control(c)
            }))
    {
        problems.push(problem(
            "description",
            "plain text, at most 2000 characters",
        ));
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let mut tx = app.db.begin_write().await?;
    let profile =
        vendors::update_profile(&mut tx, vendor_id, name.as_deref(), description.as_deref())
            .await?
            .ok_or_else(|| AppError::not_found("no such vendor"))?;
    record_audit(
        &mut tx,
        actor,
        "vendor.profile",
        ("vendor", vendor_id),
        Some(vendor_id),
        serde_json::json!({"name": name.is_some(), "description": description.is_some()}),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    Ok(profile)
}

/// Invites someone by email to join the vendor as staff; they get an email with a link, open
/// for 7 days. At most [`INVITATIONS_PER_DAY`] per vendor.
pub async fn invite(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    email: &str,
) -> Result<InvitationRecord, AppError> {
    let email = Email::parse(email).map_err(|m| AppError::field("email", m.to_string()))?;
    let conflict = |code: &'static str, detail: &str| {
        AppError::refused(Kind::Conflict, code, "Conflict", detail)
    };
    if let Some(user) = accounts::user_by_email(&app.db, email.as_str()).await?
        && vendors::member_vendor(&app.db, user.id).await? == Some(vendor_id)
    {
        return Err(conflict(
            "already_vendor_staff",
            "this address already belongs to your vendor",
        ));
    }
    if vendors::open_invitations_to(&app.db, vendor_id, email.as_str()).await? > 0 {
        return Err(conflict(
            "invitation_pending",
            "an invitation to this address is open; revoke it to send a new one",
        ));
    }
    let (sent, _) =
        accounts::rate_limit_hit(&app.db, &format!("invitations:{vendor_id}"), 24 * 3_600_000)
            .await?;
    if sent > INVITATIONS_PER_DAY {
        return Err(AppError::throttled(
            "too_many_attempts",
            "Too many invitations",
            format!("at most {INVITATIONS_PER_DAY} invitations per vendor and day"),
            3600,
        ));
    }
    let mut tx = app.db.begin_write().await?;
    let invitation = vendors::create_invitation(
        &mut tx,
        vendor_id,
        email.as_str(),
        actor.user_id,
        INVITATION_TTL_MS,
    )
    .await?;
    let job = VendorInvitationEmail {
        invitation_id: invitation.id,
    };
    enqueue_vendor_invitation(&mut tx, &job).await?;
    record_audit(
        &mut tx,
        actor,
        "vendor.invite",
        ("vendor_invitation", invitation.id),
        Some(vendor_id),
        serde_json::json!({"email": email.as_str()}),
    )
    .await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(invitation)
}

/// Withdraws an invitation not yet accepted: its link stops working.
pub async fn revoke_invitation(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    id: Uuid,
) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    if !vendors::revoke_invitation(&mut tx, vendor_id, id).await? {
        return Err(AppError::not_found("no open invitation with this id"));
    }
    record_audit(
        &mut tx,
        actor,
        "vendor.invitation_revoke",
        ("vendor_invitation", id),
        Some(vendor_id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Accepts an invitation by its emailed token: `actor` (who must have the invited address)
/// joins the vendor as staff, and the address counts as verified. Returns the vendor's id and
/// status.
pub async fn accept_invitation(
    app: &App,
    actor: &Actor,
    token: &str,
) -> Result<(Uuid, String), AppError> {
    let invalid = || {
        AppError::refused(
            Kind::Invalid,
            "invalid_token",
            "Invalid token",
            "the invitation link is invalid, expired, revoked or already used; ask for a new one",
        )
    };
    if token.len() > 200 {
        return Err(invalid());
    }
    let hash = souk_domain::accounts::token_hash(token);
    let mut tx = app.db.begin_write().await?;
    let vendor_id =
        match vendors::accept_invitation(&mut tx, &hash, actor.user_id, &actor.email).await? {
            Ok(vendor_id) => vendor_id,
            Err(vendors::AcceptError::Invalid) => return Err(invalid()),
            Err(vendors::AcceptError::OtherEmail) => {
                return Err(AppError::refused(
                    Kind::Forbidden,
                    "invitation_for_another_email",
                    "Invitation for another address",
                    "sign in with the address the invitation was sent to",
                ));
            }
            Err(vendors::AcceptError::AlreadyMember) => {
                return Err(already_staff("you already belong to a vendor"));
            }
        };
    // Following the emailed link proves the address.
    accounts::mark_email_verified(&mut tx, actor.user_id).await?;
    record_audit(
        &mut tx,
        actor,
        "vendor.join",
        ("vendor", vendor_id),
        Some(vendor_id),
        serde_json::json!({"role": "staff"}),
    )
    .await?;
    tx.commit().await?;
    let status = vendors::profile(&app.db, vendor_id)
        .await?
        .map(|p| p.status)
        .unwrap_or_default();
    Ok((vendor_id, status))
}

/// The invitation-email job's step: a fresh token for a still-pending invitation (only its
/// hash is stored) and the email with its link; `None` when the invitation was revoked,
/// accepted or expired before the email went out, or its vendor is gone.
pub async fn invitation_email(
    db: &souk_storage::Db,
    public_url: &str,
    job: &VendorInvitationEmail,
) -> Result<Option<crate::jobs::EmailJob>, souk_storage::StorageError> {
    let Some((invitation, vendor_name, inviter)) =
        vendors::invitation_for_email(db, job.invitation_id).await?
    else {
        return Ok(None);
    };
    if invitation.status(souk_storage::now_ms()) != "pending" {
        return Ok(None);
    }
    let (token, hash) = souk_domain::accounts::new_token("souk_i_");
    let mut tx = db.begin_write().await?;
    vendors::add_invitation_token(&mut tx, invitation.id, &hash).await?;
    tx.commit().await?;
    let link = format!(
        "{}/vendor/invitations/accept?token={token}",
        public_url.trim_end_matches('/')
    );
    Ok(Some(crate::jobs::EmailJob {
        to: invitation.email,
        template: "vendor_invitation".to_owned(),
        vars: serde_json::json!({
            "vendor_name": vendor_name,
            "inviter": inviter.unwrap_or_default(),
            "link": link,
            "expires_at": souk_domain::time::rfc3339(invitation.expires_at).get(..10).unwrap_or("").to_owned(),
        }),
    }))
}

/// The approval email of `job`'s vendor, to its owner, with the link to the dashboard; `None`
/// when there is no owner to tell or the shop is no longer active.
pub async fn approval_email(
    db: &souk_storage::Db,
    public_url: &str,
    job: &VendorApprovedEmail,
) -> Result<Option<crate::jobs::EmailJob>, souk_storage::StorageError> {
    let Some((name, status, email)) = vendors::owner_contact(db, job.vendor_id).await? else {
        return Ok(None);
    };
    if status != "active" {
        return Ok(None);
    }
    Ok(Some(crate::jobs::EmailJob {
        to: email,
        template: "vendor_approved".to_owned(),
        vars: serde_json::json!({
            "vendor_name": name,
            "link": format!("{}/vendor", public_url.trim_end_matches('/')),
        }),
    }))
}

/// Takes a staff member off the vendor: from their next request they no longer act for it.
/// Owners are not removed this way (404 as for anyone not on the staff).
pub async fn remove_staff(
    app: &App,
    actor: &Actor,
    vendor_id: Uuid,
    user_id: Uuid,
) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    if !vendors::remove_staff(&mut tx, vendor_id, user_id).await? {
        return Err(AppError::not_found("no such staff member"));
    }
    record_audit(
        &mut tx,
        actor,
        "vendor.remove_staff",
        ("user", user_id),
        Some(vendor_id),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
