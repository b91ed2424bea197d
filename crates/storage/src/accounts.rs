//! Users, sessions, single-use tokens, vendor membership and rate-limit counters.

use uuid::Uuid;

use crate::{Db, StorageError, Tx, now_ms};

#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub email_verified_at: Option<i64>,
    pub is_admin: bool,
    pub created_at: i64,
    /// Set when platform staff disabled the account.
    pub disabled_at: Option<i64>,
}

crate::from_row!(User {
    id,
    email,
    name,
    password_hash,
    email_verified_at,
    is_admin,
    created_at,
    disabled_at
});

const USER_COLUMNS: &str =
    "id, email, name, password_hash, email_verified_at, is_admin, created_at, disabled_at";

/// Creates a user; a taken email is reported by [`StorageError::is_unique_violation`].
pub async fn create_user(
    tx: &mut Tx,
    email: &str,
    name: &str,
    password_hash: &str,
    is_admin: bool,
) -> Result<User, StorageError> {
    let now = now_ms();
    let user = User {
        id: Uuid::now_v7(),
        email: email.to_owned(),
        name: name.to_owned(),
        password_hash: password_hash.to_owned(),
        email_verified_at: None,
        is_admin,
        created_at: now,
        disabled_at: None,
    };
    crate::sql::query(
        "INSERT INTO users (id, email, name, password_hash, is_admin, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.name)
    .bind(&user.password_hash)
    .bind(is_admin)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(user)
}

pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>, StorageError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1");
    crate::sql::query_as(sql)
        .bind(email)
        .fetch_optional(db)
        .await
}

pub async fn user_by_id(db: &Db, id: Uuid) -> Result<Option<User>, StorageError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    crate::sql::query_as(sql).bind(id).fetch_optional(db).await
}

pub async fn set_password_hash(tx: &mut Tx, user_id: Uuid, hash: &str) -> Result<(), StorageError> {
    crate::sql::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

pub async fn mark_email_verified(tx: &mut Tx, user_id: Uuid) -> Result<(), StorageError> {
    crate::sql::query("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(())
}

/// Makes an existing user a platform admin (and resets their password), or returns false.
pub async fn promote_admin(
    tx: &mut Tx,
    email: &str,
    password_hash: &str,
) -> Result<bool, StorageError> {
    let n = crate::sql::query(
        "UPDATE users SET is_admin = TRUE, password_hash = $2, updated_at = $3 WHERE email = $1",
    )
    .bind(email)
    .bind(password_hash)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

// ----- sessions -----

pub struct NewSession<'a> {
    pub user_id: Uuid,
    pub token_hash: &'a [u8],
    pub expires_at: i64,
    pub user_agent: &'a str,
    pub ip: &'a str,
}

pub async fn create_session(tx: &mut Tx, s: &NewSession<'_>) -> Result<Uuid, StorageError> {
    let id = Uuid::now_v7();
    let now = now_ms();
    let user_agent: String = s.user_agent.chars().take(300).collect();
    crate::sql::query(
            "INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, expires_at, user_agent, ip) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(s.user_id)
        .bind(s.token_hash)
        .bind(now)
        .bind(s.expires_at)
        .bind(&user_agent)
        .bind(s.ip)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(id)
}

/// Who a live session belongs to, with their vendor membership if any.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionUser {
    pub session_id: Uuid,
    pub last_seen_at: i64,
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub email_verified_at: Option<i64>,
    pub vendor_id: Option<Uuid>,
    pub vendor_role: Option<String>,
    pub vendor_status: Option<String>,
}

crate::from_row!(SessionUser {
    session_id,
    last_seen_at,
    user_id,
    email,
    name,
    is_admin,
    email_verified_at,
    vendor_id,
    vendor_role,
    vendor_status
});

/// The live (not revoked, not expired) session with this token hash.
pub async fn session_by_token_hash(
    db: &Db,
    hash: &[u8],
) -> Result<Option<SessionUser>, StorageError> {
    crate::sql::query_as(
            "SELECT s.id AS session_id, s.last_seen_at, u.id AS user_id, u.email, u.name, u.is_admin, u.email_verified_at, \
             m.vendor_id, m.role AS vendor_role, v.status AS vendor_status \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN vendor_members m ON m.user_id = u.id LEFT JOIN vendors v ON v.id = m.vendor_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(hash)
        .bind(now_ms())
        .fetch_optional(db)
        .await
}

/// A live (not revoked, not expired) session by id: whether an open stream may go on.
pub async fn session_by_id(db: &Db, session_id: Uuid) -> Result<Option<SessionUser>, StorageError> {
    crate::sql::query_as(
            "SELECT s.id AS session_id, s.last_seen_at, u.id AS user_id, u.email, u.name, u.is_admin, u.email_verified_at, \
             m.vendor_id, m.role AS vendor_role, v.status AS vendor_status \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN vendor_members m ON m.user_id = u.id LEFT JOIN vendors v ON v.id = m.vendor_id \
             WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2 AND u.disabled_at IS NULL",
        )
        .bind(session_id)
        .bind(now_ms())
        .fetch_optional(db)
        .await
}

pub async fn touch_session(db: &Db, session_id: Uuid) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    crate::sql::query("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
        .bind(session_id)
        .bind(now_ms())
        .execute(&mut tx)
        .await?
        .rows_affected();
    tx.commit().await
}

/// Revokes one of `user_id`'s sessions; false if it is not theirs or already revoked.
pub async fn revoke_session(
    db: &Db,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<bool, StorageError> {
    let mut tx = db.begin_write().await?;
    let revoked = revoke_session_in(&mut tx, user_id, session_id).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// [`revoke_session`] in the caller's transaction.
pub async fn revoke_session_in(
    tx: &mut Tx,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<bool, StorageError> {
    let n = crate::sql::query(
        "UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Disables (or enables again) an account. False: no such user.
pub async fn set_disabled(
    tx: &mut Tx,
    user_id: Uuid,
    disabled: bool,
) -> Result<bool, StorageError> {
    let at = disabled.then(now_ms);
    Ok(
        crate::sql::query("UPDATE users SET disabled_at = $2, updated_at = $3 WHERE id = $1")
            .bind(user_id)
            .bind(at)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1,
    )
}

pub async fn revoke_all_sessions(tx: &mut Tx, user_id: Uuid) -> Result<u64, StorageError> {
    Ok(crate::sql::query(
        "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected())
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub id: Uuid,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub user_agent: String,
    pub ip: String,
}

crate::from_row!(SessionRecord {
    id,
    created_at,
    last_seen_at,
    expires_at,
    user_agent,
    ip
});

/// A user's live sessions, newest first.
pub async fn list_sessions(db: &Db, user_id: Uuid) -> Result<Vec<SessionRecord>, StorageError> {
    crate::sql::query_as(
            "SELECT id, created_at, last_seen_at, expires_at, user_agent, ip FROM sessions \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC LIMIT 100",
        )
        .bind(user_id)
        .bind(now_ms())
        .fetch_all(db)
        .await
}

// ----- single-use tokens -----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    VerifyEmail,
    PasswordReset,
}

impl TokenPurpose {
    fn as_str(self) -> &'static str {
        match self {
            TokenPurpose::VerifyEmail => "verify_email",
            TokenPurpose::PasswordReset => "password_reset",
        }
    }
}

pub async fn create_user_token(
    tx: &mut Tx,
    user_id: Uuid,
    purpose: TokenPurpose,
    hash: &[u8],
    expires_at: i64,
) -> Result<(), StorageError> {
    crate::sql::query("INSERT INTO user_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(hash)
            .bind(user_id)
            .bind(purpose.as_str())
            .bind(now_ms())
            .bind(expires_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(())
}

/// Uses a token once: returns its user if it exists, has this purpose, is unused and unexpired.
/// Atomic, so two concurrent uses cannot both succeed.
pub async fn consume_user_token(
    tx: &mut Tx,
    hash: &[u8],
    purpose: TokenPurpose,
) -> Result<Option<Uuid>, StorageError> {
    let now = now_ms();
    crate::sql::query_scalar(
            "UPDATE user_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL \
             AND expires_at > $3 RETURNING user_id",
        )
        .bind(hash)
        .bind(purpose.as_str())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
}

/// Invalidates a user's other unused tokens of a purpose (an older reset link stops working).
pub async fn expire_user_tokens(
    tx: &mut Tx,
    user_id: Uuid,
    purpose: TokenPurpose,
) -> Result<(), StorageError> {
    crate::sql::query("UPDATE user_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
            .bind(user_id)
            .bind(purpose.as_str())
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(())
}

// ----- rate limits -----

/// Hits recorded in `bucket`'s current window (0 if the window is over).
pub async fn rate_limit_count(
    db: &Db,
    bucket: &str,
    window_ms: i64,
) -> Result<(i64, i64), StorageError> {
    let now = now_ms();
    let row: Option<(i64, i64)> =
        crate::sql::query_as("SELECT hits, window_start FROM rate_limits WHERE bucket = $1")
            .bind(bucket)
            .fetch_optional(db)
            .await?;
    Ok(match row {
        Some((hits, start)) if start + window_ms > now => (hits, start),
        _ => (0, now),
    })
}

/// Records one hit in `bucket` (starting a new window if the last one is over); returns the
/// hits in the current window and when it started.
pub async fn rate_limit_hit(
    db: &Db,
    bucket: &str,
    window_ms: i64,
) -> Result<(i64, i64), StorageError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let row: (i64, i64) = crate::sql::query_as(
            "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (bucket) DO UPDATE SET \
             hits = CASE WHEN rate_limits.window_start + $3 <= $2 THEN 1 ELSE rate_limits.hits + 1 END, \
             window_start = CASE WHEN rate_limits.window_start + $3 <= $2 THEN $2 ELSE rate_limits.window_start END \
             RETURNING hits, window_start",
        )
        .bind(bucket)
        .bind(now)
        .bind(window_ms)
        .fetch_one(&mut tx)
        .await?;
    tx.commit().await?;
    Ok(row)
}

/// Takes one of `limit` hits in `bucket`'s window, atomically: `Ok(window_start)` of the
/// window the hit was taken in, or `Err(window_start)` when that window is already full
/// (nothing is recorded). Reserving before slow work (a password hash) is what makes a limit
/// hold against parallel attempts; give the hit back with [`rate_limit_refund`] when the
/// attempt is good.
pub async fn rate_limit_reserve(
    db: &Db,
    bucket: &str,
    window_ms: i64,
    limit: i64,
) -> Result<Result<i64, i64>, StorageError> {
    let mut tx = db.begin_relaxed_write().await?;
    let outcome = take_rate_limit_hit(&mut tx, bucket, window_ms, limit).await?;
    tx.commit().await?;
    Ok(outcome)
}

/// [`rate_limit_reserve`] inside the caller's transaction: the hit stands or falls with it.
pub(crate) async fn take_rate_limit_hit(
    tx: &mut Tx,
    bucket: &str,
    window_ms: i64,
    limit: i64,
) -> Result<Result<i64, i64>, StorageError> {
    let now = now_ms();
    let taken: Option<i64> = crate::sql::query_scalar(
            "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (bucket) DO UPDATE SET \
             hits = CASE WHEN rate_limits.window_start + $3 <= $2 THEN 1 ELSE rate_limits.hits + 1 END, \
             window_start = CASE WHEN rate_limits.window_start + $3 <= $2 THEN $2 ELSE rate_limits.window_start END \
             WHERE rate_limits.window_start + $3 <= $2 OR rate_limits.hits < $4 \
             RETURNING window_start",
        )
        .bind(bucket)
        .bind(now)
        .bind(window_ms)
        .bind(limit)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(match taken {
        Some(start) => Ok(start),
        None => Err(crate::sql::query_scalar(
            "SELECT window_start FROM rate_limits WHERE bucket = $1",
        )
        .bind(bucket)
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(now)),
    })
}

/// Gives back one hit taken by [`rate_limit_reserve`] in the window starting at
/// `window_start` (the attempt turned out fine). A hit from a window that has since ended is
/// not given back: it would take one from the new window's count.
pub async fn rate_limit_refund(
    db: &Db,
    bucket: &str,
    window_start: i64,
) -> Result<(), StorageError> {
    let mut tx = db.begin_relaxed_write().await?;
    crate::sql::query(
            "UPDATE rate_limits SET hits = hits - 1 WHERE bucket = $1 AND window_start = $2 AND hits > 0",
        )
        .bind(bucket)
        .bind(window_start)
        .execute(&mut tx)
        .await?
        .rows_affected();
    tx.commit().await
}

pub async fn rate_limit_reset(db: &Db, bucket: &str) -> Result<(), StorageError> {
    let mut tx = db.begin_write().await?;
    crate::sql::query("DELETE FROM rate_limits WHERE bucket = $1")
        .bind(bucket)
        .execute(&mut tx)
        .await?
        .rows_affected();
    tx.commit().await
}

/// Housekeeping: forgets sessions expired or revoked before `before_ms`, sign-in links
/// (verification, password reset) expired before it, and rate-limit windows that started
/// before it. Returns the rows deleted.
pub async fn purge_expired(db: &Db, before_ms: i64) -> Result<u64, StorageError> {
    let mut n = db
        .purge_in_batches(
            "sessions",
            "id",
            "expires_at < $1 OR revoked_at < $1",
            before_ms,
        )
        .await?;
    n += db
        .purge_in_batches("user_tokens", "token_hash", "expires_at < $1", before_ms)
        .await?;
    n += db
        .purge_in_batches("rate_limits", "bucket", "window_start < $1", before_ms)
        .await?;
    Ok(n)
}
