//! Vendors as accounts: applications, membership, moderation.

use uuid::Uuid;

use crate::catalog::VendorRecord;
use crate::db::Arg;
use crate::{Db, StorageError, Tx, now_ms};

/// Creates a pending vendor owned by `user_id`. A taken handle, or a user who already belongs to
/// a vendor, is a unique violation (see [`StorageError::is_unique_violation`]).
pub async fn apply(
    tx: &mut Tx,
    user_id: Uuid,
    handle: &str,
    name: &str,
) -> Result<VendorRecord, StorageError> {
    let now = now_ms();
    let record = VendorRecord {
        id: Uuid::now_v7(),
        handle: handle.to_owned(),
        name: name.to_owned(),
        status: "pending".to_owned(),
    };
    {
        crate::sql::query("INSERT INTO vendors (id, handle, name, status, created_at, updated_at) VALUES ($1, $2, $3, 'pending', $4, $4)")
            .bind(record.id)
            .bind(handle)
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        crate::sql::query("INSERT INTO vendor_members (vendor_id, user_id, role, created_at) VALUES ($1, $2, 'owner', $3)")
            .bind(record.id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
    };
    Ok(record)
}

/// A vendor's profile as its staff edit it.
#[derive(Debug, Clone)]
pub struct VendorProfileRecord {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub description: String,
    pub status: String,
    /// An uploaded image's path (`/media/…`), if the shop has a logo.
    pub logo_url: Option<String>,
}

crate::from_row!(VendorProfileRecord {
    id,
    handle,
    name,
    description,
    status,
    logo_url
});

pub async fn profile(
    db: &Db,
    vendor_id: Uuid,
) -> Result<Option<VendorProfileRecord>, StorageError> {
    crate::sql::query_as(
        "SELECT id, handle, name, description, status, logo_url FROM vendors WHERE id = $1",
    )
    .bind(vendor_id)
    .fetch_optional(db)
    .await
}

/// Changes a vendor's name and/or description; a new name is also written into the search
/// index of every product of the vendor, in the same transaction (shoppers find a shop's
/// products by its name).
pub async fn update_profile(
    tx: &mut Tx,
    vendor_id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
) -> Result<Option<VendorProfileRecord>, StorageError> {
    let now = now_ms();
    let row: Option<VendorProfileRecord> = crate::sql::query_as(
            "UPDATE vendors SET name = COALESCE($2, name), description = COALESCE($3, description), updated_at = $4 \
             WHERE id = $1 RETURNING id, handle, name, description, status, logo_url",
        )
        .bind(vendor_id)
        .bind(name)
        .bind(description)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    if let (Some(row), Some(_)) = (&row, name) {
        crate::catalog::reindex_vendor_name(tx, vendor_id, &row.name).await?;
    }
    Ok(row)
}

/// Sets (or with `None` removes) a vendor's logo; the profile after, `None`: no such vendor.
pub async fn set_logo(
    tx: &mut Tx,
    vendor_id: Uuid,
    logo_url: Option<&str>,
) -> Result<Option<VendorProfileRecord>, StorageError> {
    crate::sql::query_as(
        "UPDATE vendors SET logo_url = $2, updated_at = $3 WHERE id = $1 \
             RETURNING id, handle, name, description, status, logo_url",
    )
    .bind(vendor_id)
    .bind(logo_url)
    .bind(now_ms())
    .fetch_optional(&mut *tx)
    .await
}

/// Makes `user_id` a member of `vendor_id` with `role` (`owner` or `staff`).
pub async fn add_member(
    tx: &mut Tx,
    vendor_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<(), StorageError> {
    let now = now_ms();
    crate::sql::query(
        "INSERT INTO vendor_members (vendor_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(vendor_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(())
}

/// The vendor `user_id` belongs to, if any.
pub async fn member_vendor(db: &Db, user_id: Uuid) -> Result<Option<Uuid>, StorageError> {
    crate::sql::query_scalar("SELECT vendor_id FROM vendor_members WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
}

pub async fn is_member_anywhere(db: &Db, user_id: Uuid) -> Result<bool, StorageError> {
    crate::sql::query_scalar("SELECT EXISTS (SELECT 1 FROM vendor_members WHERE user_id = $1)")
        .bind(user_id)
        .fetch_one(db)
        .await
}

/// Sets a vendor's status; returns the vendor, or `None` if there is no such vendor.
pub async fn set_status(
    tx: &mut Tx,
    id: Uuid,
    status: &str,
) -> Result<Option<VendorRecord>, StorageError> {
    crate::sql::query_as("UPDATE vendors SET status = $2, updated_at = $3 WHERE id = $1 RETURNING id, handle, name, status")
            .bind(id)
            .bind(status)
            .bind(now_ms())
            .fetch_optional(&mut *tx)
            .await
}

#[derive(Debug, Clone)]
pub struct VendorAdminRecord {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub status: String,
    pub created_at: i64,
    pub owner_email: Option<String>,
}

crate::from_row!(VendorAdminRecord {
    id,
    handle,
    name,
    status,
    created_at,
    owner_email
});

/// Vendors, newest first, optionally of one status.
pub async fn list(
    db: &Db,
    status: Option<&str>,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<VendorAdminRecord>, StorageError> {
    let mut filters = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    if let Some(s) = status {
        args.push(Arg::Text(s.to_owned()));
        filters.push(format!("v.status = ${}", args.len()));
    }
    if let Some(b) = before {
        args.push(Arg::Uuid(b));
        filters.push(format!("v.id < ${}", args.len()));
    }
    args.push(Arg::I64(limit));
    let sql = format!(
        "SELECT v.id, v.handle, v.name, v.status, v.created_at, \
         (SELECT u.email FROM vendor_members m JOIN users u ON u.id = m.user_id WHERE m.vendor_id = v.id AND m.role = 'owner' LIMIT 1) AS owner_email \
         FROM vendors v WHERE {} ORDER BY v.id DESC LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    crate::sql::query_as(sql).bind_all(args).fetch_all(db).await
}

/// Vendors whose name or handle contains `text` (any case), by name. Vendors are few (a
/// marketplace has hundreds, not millions): a scan of the table is cheap.
pub async fn search(
    db: &Db,
    text: &str,
    limit: i64,
) -> Result<Vec<VendorAdminRecord>, StorageError> {
    let pattern = format!(
        "%{}%",
        text.to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    crate::sql::query_as(
            "SELECT v.id, v.handle, v.name, v.status, v.created_at, \
             (SELECT u.email FROM vendor_members m JOIN users u ON u.id = m.user_id WHERE m.vendor_id = v.id AND m.role = 'owner' LIMIT 1) AS owner_email \
             FROM vendors v WHERE lower(v.name) LIKE $1 ESCAPE '\\' OR v.handle LIKE $1 ESCAPE '\\' \
             ORDER BY v.name LIMIT $2",
        )
        .bind(pattern)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Where a vendor's notifications go: its owners' addresses (staff if it has no owner).
pub async fn notification_emails(db: &Db, vendor_id: Uuid) -> Result<Vec<String>, StorageError> {
    crate::sql::query_scalar(
        "SELECT u.email FROM vendor_members m JOIN users u ON u.id = m.user_id \
             WHERE m.vendor_id = $1 ORDER BY (m.role = 'owner') DESC, m.created_at LIMIT 5",
    )
    .bind(vendor_id)
    .fetch_all(db)
    .await
}

/// An invitation to join a vendor as staff.
#[derive(Debug, Clone)]
pub struct InvitationRecord {
    pub id: Uuid,
    pub vendor_id: Uuid,
    pub email: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

crate::from_row!(InvitationRecord {
    id,
    vendor_id,
    email,
    created_at,
    expires_at,
    accepted_at,
    revoked_at
});

impl InvitationRecord {
    /// `pending`, `accepted`, `revoked` or `expired` at `now`.
    pub fn status(&self, now: i64) -> &'static str {
        if self.accepted_at.is_some() {
            "accepted"
        } else if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at <= now {
            "expired"
        } else {
            "pending"
        }
    }
}

const INVITATION_COLUMNS: &str =
    "id, vendor_id, email, created_at, expires_at, accepted_at, revoked_at";

pub async fn create_invitation(
    tx: &mut Tx,
    vendor_id: Uuid,
    email: &str,
    invited_by: Uuid,
    ttl_ms: i64,
) -> Result<InvitationRecord, StorageError> {
    let now = now_ms();
    let record = InvitationRecord {
        id: Uuid::now_v7(),
        vendor_id,
        email: email.to_owned(),
        created_at: now,
        expires_at: now + ttl_ms,
        accepted_at: None,
        revoked_at: None,
    };
    crate::sql::query(
        "INSERT INTO vendor_invitations (id, vendor_id, email, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(record.id)
    .bind(vendor_id)
    .bind(email)
    .bind(invited_by)
    .bind(now)
    .bind(record.expires_at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(record)
}

/// Open invitations of a vendor (not accepted, revoked or expired) to `email`: at most one
/// pending invitation per address.
pub async fn open_invitations_to(
    db: &Db,
    vendor_id: Uuid,
    email: &str,
) -> Result<i64, StorageError> {
    crate::sql::query_scalar(
        "SELECT COUNT(*) FROM vendor_invitations WHERE vendor_id = $1 AND email = $2 \
             AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
    )
    .bind(vendor_id)
    .bind(email)
    .bind(now_ms())
    .fetch_one(db)
    .await
}

/// A vendor's invitations, newest first, before `before` (a cursor).
pub async fn invitations(
    db: &Db,
    vendor_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<InvitationRecord>, StorageError> {
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM vendor_invitations WHERE vendor_id = $1 \
         AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3"
    );
    crate::sql::query_as(sql)
        .bind(vendor_id)
        .bind(before)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// An invitation with what its email needs: the vendor's name and the inviter's name.
pub async fn invitation_for_email(
    db: &Db,
    id: Uuid,
) -> Result<Option<(InvitationRecord, String, Option<String>)>, StorageError> {
    let sql = format!("SELECT {INVITATION_COLUMNS} FROM vendor_invitations WHERE id = $1");
    let Some(record): Option<InvitationRecord> = crate::sql::query_as(sql)
        .bind(id)
        .fetch_optional(db)
        .await?
    else {
        return Ok(None);
    };
    let names: Option<(String, Option<String>)> = crate::sql::query_as(
        "SELECT v.name, u.name FROM vendor_invitations i JOIN vendors v ON v.id = i.vendor_id \
             LEFT JOIN users u ON u.id = i.invited_by WHERE i.id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(names.map(|(vendor, inviter)| (record, vendor, inviter)))
}

/// Stores the hash of a token sent for an invitation.
pub async fn add_invitation_token(
    tx: &mut Tx,
    invitation_id: Uuid,
    token_hash: &[u8],
) -> Result<(), StorageError> {
    crate::sql::query(
        "INSERT INTO vendor_invitation_tokens (token_hash, invitation_id) VALUES ($1, $2)",
    )
    .bind(token_hash)
    .bind(invitation_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(())
}

/// Revokes a vendor's pending invitation; `false` when there is none with that id.
pub async fn revoke_invitation(
    tx: &mut Tx,
    vendor_id: Uuid,
    id: Uuid,
) -> Result<bool, StorageError> {
    let n = crate::sql::query(
        "UPDATE vendor_invitations SET revoked_at = $3 WHERE id = $1 AND vendor_id = $2 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(vendor_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Why an invitation could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptError {
    /// No such token, or the invitation was accepted, revoked or has expired.
    Invalid,
    /// The invitation is for another email address than the signed-in account's.
    OtherEmail,
    /// The account already belongs to a vendor.
    AlreadyMember,
}

/// Accepts the invitation of `token_hash` for `user_id` (whose email is `email`): the user
/// becomes staff of the vendor, once (a conditional update: a second acceptance finds it
/// taken).
pub async fn accept_invitation(
    tx: &mut Tx,
    token_hash: &[u8],
    user_id: Uuid,
    email: &str,
) -> Result<Result<Uuid, AcceptError>, StorageError> {
    let now = now_ms();
    let sql = format!(
        "SELECT {INVITATION_COLUMNS} FROM vendor_invitations WHERE id = \
         (SELECT invitation_id FROM vendor_invitation_tokens WHERE token_hash = $1)"
    );
    let found: Option<InvitationRecord> = crate::sql::query_as(sql)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(invitation) = found.filter(|i| i.status(now) == "pending") else {
        return Ok(Err(AcceptError::Invalid));
    };
    if invitation.email != email {
        return Ok(Err(AcceptError::OtherEmail));
    }
    let member: Option<i64> =
        crate::sql::query_scalar("SELECT 1 FROM vendor_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
    if member.is_some() {
        return Ok(Err(AcceptError::AlreadyMember));
    }
    let n = crate::sql::query(
        "UPDATE vendor_invitations SET accepted_at = $2, accepted_by = $3 WHERE id = $1 \
             AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(invitation.id)
    .bind(now)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n != 1 {
        return Ok(Err(AcceptError::Invalid));
    }
    match add_member(tx, invitation.vendor_id, user_id, "staff").await {
        Ok(()) => Ok(Ok(invitation.vendor_id)),
        Err(e) if e.is_unique_violation() => Ok(Err(AcceptError::AlreadyMember)),
        Err(e) => Err(e),
    }
}

/// A vendor's name, status and its owner's email address, if it has an owner.
pub async fn owner_contact(
    db: &Db,
    vendor_id: Uuid,
) -> Result<Option<(String, String, String)>, StorageError> {
    crate::sql::query_as(
        "SELECT v.name, v.status, u.email FROM vendors v \
             JOIN vendor_members m ON m.vendor_id = v.id AND m.role = 'owner' \
             JOIN users u ON u.id = m.user_id WHERE v.id = $1 LIMIT 1",
    )
    .bind(vendor_id)
    .fetch_optional(db)
    .await
}

/// Someone on a vendor's staff.
#[derive(Debug, Clone)]
pub struct MemberRecord {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub role: String,
    pub created_at: i64,
}

crate::from_row!(MemberRecord {
    user_id,
    name,
    email,
    role,
    created_at
});

/// A vendor's staff, owners first, then by when they joined (a vendor has few).
pub async fn members(db: &Db, vendor_id: Uuid) -> Result<Vec<MemberRecord>, StorageError> {
    crate::sql::query_as(
        "SELECT m.user_id, u.name, u.email, m.role, m.created_at FROM vendor_members m \
             JOIN users u ON u.id = m.user_id WHERE m.vendor_id = $1 \
             ORDER BY (m.role = 'owner') DESC, m.created_at, m.user_id LIMIT 200",
    )
    .bind(vendor_id)
    .fetch_all(db)
    .await
}

/// Takes `user_id` off `vendor_id`'s staff; owners are not removed this way. False: no such
/// staff member of this vendor.
pub async fn remove_staff(
    tx: &mut Tx,
    vendor_id: Uuid,
    user_id: Uuid,
) -> Result<bool, StorageError> {
    let done = crate::sql::query(
        "DELETE FROM vendor_members WHERE vendor_id = $1 AND user_id = $2 AND role = 'staff'",
    )
    .bind(vendor_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(done == 1)
}
