//! Customer and staff accounts: register, log in, log out, verify the address, reset or change
//! the password, end a session. Passwords are hashed (argon2) off the async threads, a bounded
//! number at once; answers do not tell which addresses have accounts.

use souk_domain::accounts::{self, Email, PasswordCheck, new_token};
use souk_storage::accounts::{self as store, NewSession, TokenPurpose};
use souk_storage::{carts, now_ms};
use uuid::Uuid;

use crate::jobs::{AccountEmail, AccountEmailPurpose, enqueue_account_email};
use crate::{App, AppError, FieldProblem, Kind};

/// Session tokens start with this, API keys with `souk_k_`.
pub const SESSION_PREFIX: &str = "souk_s_";
/// Password-reset emails per address and window (beyond: accepted, not sent).
pub const RESETS_PER_EMAIL: i64 = 5;
pub const RESET_WINDOW_MS: i64 = 60 * 60 * 1000;
const HOUR_MS: i64 = 3600 * 1000;

/// The limits that keep guessing and registration floods out.
#[derive(Debug, Clone)]
pub struct AccountLimits {
    /// The window failed password checks are counted in.
    pub login_window_ms: i64,
    /// Failed password checks per account (login, and change-password's current password).
    pub login_failures_per_account: i64,
    /// Failed logins per client address.
    pub login_failures_per_address: i64,
    /// Registrations per client address per hour.
    pub registrations_per_address: i64,
    /// How long a login lasts.
    pub session_ttl_ms: i64,
}

impl Default for AccountLimits {
    fn default() -> Self {
        AccountLimits {
            login_window_ms: 15 * 60 * 1000,
            login_failures_per_account: 10,
            login_failures_per_address: 100,
            registrations_per_address: 20,
            session_ttl_ms: 720 * HOUR_MS,
        }
    }
}

/// The client a request came from, as sessions and per-address limits record it.
#[derive(Debug, Clone)]
pub struct Client {
    pub ip: String,
    pub user_agent: String,
}

impl Client {
    /// What per-address limits count under: an IPv4 address, or an IPv6 address's /64 (one
    /// subscriber's usual allocation, so rotating addresses inside it buys nothing).
    pub fn address_key(&self) -> String {
        address_key(&self.ip)
    }
}

/// See [`Client::address_key`].
pub fn address_key(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{prefix}/64")
            }
        },
        _ => ip.to_owned(),
    }
}

/// A session just opened: its token (shown once) and the account.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub user_id: Uuid,
    /// The customer's cart after a guest cart was merged into it at login.
    pub cart_id: Option<Uuid>,
}

fn problem(field: &str, message: &str) -> FieldProblem {
    FieldProblem {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn invalid_token() -> AppError {
    AppError::refused(
        Kind::Invalid,
        "invalid_token",
        "Invalid token",
        "the link is invalid, expired or already used; ask for a new one",
    )
}

fn too_many_attempts(retry_after_ms: i64) -> AppError {
    AppError::throttled(
        "too_many_attempts",
        "Too many attempts",
        "too many attempts; wait before trying again (see Retry-After)",
        u32::try_from((retry_after_ms / 1000).max(1)).unwrap_or(u32::MAX),
    )
}

fn invalid_credentials(detail: &str) -> AppError {
    AppError::refused(
        Kind::Unauthenticated,
        "invalid_credentials",
        "Invalid credentials",
        detail,
    )
}

/// Hashes a password on the blocking pool, at most a few at once.
pub async fn hash_password(app: &App, password: String) -> Result<String, AppError> {
    let permit = app.hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        accounts::hash_password(&password)
    })
    .await
    .map_err(|_| AppError::internal("password hashing stopped"))
}

pub async fn verify_password(
    app: &App,
    password: String,
    hash: String,
) -> Result<PasswordCheck, AppError> {
    let permit = app.hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        accounts::verify_password(&password, &hash)
    })
    .await
    .map_err(|_| AppError::internal("password hashing stopped"))
}

/// Opens a session for `user_id` in `tx`; returns the token.
async fn open_session(
    tx: &mut souk_storage::Tx,
    app: &App,
    user_id: Uuid,
    client: &Client,
) -> Result<String, AppError> {
    let (token, hash) = new_token(SESSION_PREFIX);
    store::create_session(
        tx,
        &NewSession {
            user_id,
            token_hash: &hash,
            expires_at: now_ms() + app.settings.accounts.session_ttl_ms,
            user_agent: &client.user_agent,
            ip: &client.ip,
        },
    )
    .await?;
    Ok(token)
}

/// Creates an account, or — when the address has one — emails its owner instead (with a
/// password-reset link). The caller cannot tell which happened. Limited per client address.
pub async fn register(
    app: &App,
    client: &Client,
    email: &str,
    name: &str,
    password: String,
) -> Result<(), AppError> {
    let mut problems = Vec::new();
    let email = Email::parse(email)
        .map_err(|m| problems.push(problem("email", m)))
        .ok();
    let name = accounts::validate_name(name)
        .map_err(|m| problems.push(problem("name", m)))
        .ok();
    if let Err(m) = accounts::check_password_policy(&password, email.as_ref().map(Email::as_str)) {
        problems.push(problem("password", m));
    }
    let (Some(email), Some(name), true) = (email, name, problems.is_empty()) else {
        return Err(AppError::invalid(problems));
    };
    let bucket = format!("register:address:{}", client.address_key());
    let limit = app.settings.accounts.registrations_per_address;
    if let Err(start) = store::rate_limit_reserve(&app.db, &bucket, HOUR_MS, limit).await? {
        return Err(too_many_attempts(start + HOUR_MS - now_ms()));
    }
    // Hashed whether or not the account exists: both answers take the same time.
    let hash = hash_password(app, password).await?;
    let mut tx = app.db.begin_write().await?;
    let purpose = match store::create_user(&mut tx, email.as_str(), &name, &hash, false).await {
        Ok(_) => AccountEmailPurpose::VerifyEmail,
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            // The owner's notice carries a reset link: it counts against the address's reset
            // emails, so registering someone's address over and over cannot flood them.
            let (hits, _) =
                store::rate_limit_hit(&app.db, &format!("reset:{email}"), RESET_WINDOW_MS).await?;
            if hits > RESETS_PER_EMAIL {
                return Ok(());
            }
            // The failed insert ended the transaction on PostgreSQL: queue in a new one.
            tx = app.db.begin_write().await?;
            AccountEmailPurpose::AccountExists
        }
        Err(e) => return Err(e.into()),
    };
    let job = AccountEmail {
        purpose,
        email: email.to_string(),
    };
    enqueue_account_email(&mut tx, &job).await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(())
}

/// Logs in: a wrong password and an unknown email get the same answer in similar time; after
/// too many failures per account or per client address, further attempts are throttled. A
/// guest cart given by the client is merged into the customer's.
pub async fn login(
    app: &App,
    client: &Client,
    email: &str,
    password: &str,
    guest_cart: Option<Uuid>,
) -> Result<Session, AppError> {
    let email = email.trim().to_lowercase();
    // No address is longer than 254 characters: a longer one cannot grow the bucket table.
    let account_bucket = format!(
        "login:account:{}",
        email.chars().take(254).collect::<String>()
    );
    let address_bucket = format!("login:address:{}", client.address_key());
    let limits = &app.settings.accounts;
    let window = limits.login_window_ms;
    // Both attempts are reserved before the hash runs, so parallel guesses count at once; a
    // right password gives them back.
    let account_window = match store::rate_limit_reserve(
        &app.db,
        &account_bucket,
        window,
        limits.login_failures_per_account,
    )
    .await?
    {
        Ok(start) => start,
        Err(start) => return Err(too_many_attempts(start + window - now_ms())),
    };
    let address_window = match store::rate_limit_reserve(
        &app.db,
        &address_bucket,
        window,
        limits.login_failures_per_address,
    )
    .await?
    {
        Ok(start) => start,
        Err(start) => {
            store::rate_limit_refund(&app.db, &account_bucket, account_window).await?;
            return Err(too_many_attempts(start + window - now_ms()));
        }
    };
    let user = if password.len() > accounts::MAX_PASSWORD_BYTES || email.len() > 254 {
        None
    } else {
        store::user_by_email(&app.db, &email).await?
    };
    let stored = user.as_ref().map_or_else(
        || accounts::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let password: String = password
        .chars()
        .take(accounts::MAX_PASSWORD_BYTES)
        .collect();
    let check = verify_password(app, password.clone(), stored).await?;
    let user = match (user, check) {
        (Some(user), PasswordCheck::Correct | PasswordCheck::CorrectNeedsRehash) => user,
        _ => return Err(invalid_credentials("wrong email or password")),
    };
    if user.disabled_at.is_some() {
        // Said only to whoever knows the password.
        return Err(AppError::refused(
            Kind::Forbidden,
            "account_disabled",
            "Account disabled",
            "this account is disabled; contact the shop",
        ));
    }
    store::rate_limit_refund(&app.db, &address_bucket, address_window).await?;
    let rehash = if check == PasswordCheck::CorrectNeedsRehash {
        Some(hash_password(app, password).await?)
    } else {
        None
    };
    let mut tx = app.db.begin_write().await?;
    if let Some(hash) = rehash {
        store::set_password_hash(&mut tx, user.id, &hash).await?;
    }
    // A fresh token at every login: a session id planted before login is useless after it.
    let token = open_session(&mut tx, app, user.id, client).await?;
    tx.commit().await?;
    store::rate_limit_reset(&app.db, &account_bucket).await?;
    let cart_id = match guest_cart {
        Some(guest) => carts::merge_into_customer(&app.db, guest, user.id).await?,
        None => None,
    };
    Ok(Session {
        token,
        user_id: user.id,
        cart_id,
    })
}

/// Ends one of `user_id`'s sessions. False: no such session of theirs.
pub async fn end_session(app: &App, user_id: Uuid, session_id: Uuid) -> Result<bool, AppError> {
    Ok(store::revoke_session(&app.db, user_id, session_id).await?)
}

/// Queues a password-reset email, whether or not the address has an account (the caller
/// cannot tell); at most [`RESETS_PER_EMAIL`] per address and hour are sent.
pub async fn request_password_reset(app: &App, email: &str) -> Result<(), AppError> {
    let Ok(email) = Email::parse(email) else {
        return Ok(());
    };
    let (hits, _) =
        store::rate_limit_hit(&app.db, &format!("reset:{email}"), RESET_WINDOW_MS).await?;
    if hits > RESETS_PER_EMAIL {
        return Ok(());
    }
    let mut tx = app.db.begin_write().await?;
    let job = AccountEmail {
        purpose: AccountEmailPurpose::PasswordReset,
        email: email.to_string(),
    };
    enqueue_account_email(&mut tx, &job).await?;
    tx.commit().await?;
    app.jobs_committed();
    Ok(())
}

/// Sets a new password with the emailed token; ends every session of the account.
pub async fn confirm_password_reset(
    app: &App,
    token: &str,
    password: String,
) -> Result<(), AppError> {
    if let Err(m) = accounts::check_password_policy(&password, None) {
        return Err(AppError::invalid(vec![problem("password", m)]));
    }
    if token.len() > 200 {
        return Err(invalid_token());
    }
    let hash = hash_password(app, password).await?;
    let mut tx = app.db.begin_write().await?;
    let user_id = store::consume_user_token(
        &mut tx,
        &accounts::token_hash(token),
        TokenPurpose::PasswordReset,
    )
    .await?
    .ok_or_else(invalid_token)?;
    store::set_password_hash(&mut tx, user_id, &hash).await?;
    store::revoke_all_sessions(&mut tx, user_id).await?;
    store::expire_user_tokens(&mut tx, user_id, TokenPurpose::PasswordReset).await?;
    // Following the emailed link proves the address too.
    store::mark_email_verified(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Confirms the address with the token from the verification email.
pub async fn verify_email(app: &App, token: &str) -> Result<(), AppError> {
    if token.len() > 200 {
        return Err(invalid_token());
    }
    let mut tx = app.db.begin_write().await?;
    let user_id = store::consume_user_token(
        &mut tx,
        &accounts::token_hash(token),
        TokenPurpose::VerifyEmail,
    )
    .await?
    .ok_or_else(invalid_token)?;
    store::mark_email_verified(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the password after checking the current one (which counts against the account's
/// login budget); ends every session and opens a new one for this client.
pub async fn change_password(
    app: &App,
    client: &Client,
    user_id: Uuid,
    current: &str,
    new: String,
) -> Result<Session, AppError> {
    let user = store::user_by_id(&app.db, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("no such account"))?;
    if let Err(m) = accounts::check_password_policy(&new, Some(&user.email)) {
        return Err(AppError::invalid(vec![problem("new_password", m)]));
    }
    let current: String = current.chars().take(accounts::MAX_PASSWORD_BYTES).collect();
    // The current-password check is a login in disguise: it takes from the same per-account
    // budget as logging in (a stolen session gets no extra guesses), before the hash.
    let limits = &app.settings.accounts;
    let window = limits.login_window_ms;
    let bucket = format!("login:account:{}", user.email);
    let limit = limits.login_failures_per_account;
    if let Err(start) = store::rate_limit_reserve(&app.db, &bucket, window, limit).await? {
        return Err(too_many_attempts(start + window - now_ms()));
    }
    if verify_password(app, current, user.password_hash).await? == PasswordCheck::Wrong {
        return Err(invalid_credentials("the current password is wrong"));
    }
    let hash = hash_password(app, new).await?;
    let mut tx = app.db.begin_write().await?;
    store::set_password_hash(&mut tx, user.id, &hash).await?;
    store::revoke_all_sessions(&mut tx, user.id).await?;
    // A reset link mailed before the change must not undo it.
    store::expire_user_tokens(&mut tx, user.id, TokenPurpose::PasswordReset).await?;
    let token = open_session(&mut tx, app, user.id, client).await?;
    tx.commit().await?;
    store::rate_limit_reset(&app.db, &bucket).await?;
    Ok(Session {
        token,
        user_id: user.id,
        cart_id: None,
    })
}

/// How long an emailed verification link works.
pub const VERIFY_EMAIL_TTL_MS: i64 = 48 * 3600 * 1000;
/// How long an emailed password-reset link works.
pub const PASSWORD_RESET_TTL_MS: i64 = 30 * 60 * 1000;

/// The account-email job's step: a fresh single-use token for the account (only its hash is
/// stored) and the email carrying its link, or `None` when there is nothing to send (no such
/// account — the requester is not told — or an address already verified). Looking the account
/// up here, not in the request, makes a reset request for an unknown address cost the request
/// exactly what one for a known address costs.
pub async fn account_email(
    db: &souk_storage::Db,
    public_url: &str,
    job: &AccountEmail,
) -> Result<Option<crate::jobs::EmailJob>, souk_storage::StorageError> {
    let Some(user) = store::user_by_email(db, &job.email).await? else {
        return Ok(None);
    };
    let (purpose, prefix, ttl, path, template) = match job.purpose {
        AccountEmailPurpose::VerifyEmail => {
            if user.email_verified_at.is_some() {
                return Ok(None);
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
    let mut tx = db.begin_write().await?;
    store::create_user_token(&mut tx, user.id, purpose, &hash, now_ms() + ttl).await?;
    tx.commit().await?;
    let link = format!("{}/{path}?token={token}", public_url.trim_end_matches('/'));
    Ok(Some(crate::jobs::EmailJob {
        to: user.email,
        template: template.to_owned(),
        vars: serde_json::json!({
            "name": user.name,
            "link": link,
            "expires_minutes": ttl / 60_000,
            "expires_hours": ttl / 3_600_000,
        }),
    }))
}

/// What [`make_platform_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAccount {
    Created,
    /// An existing account became an admin: its password was replaced, its sessions ended.
    Promoted,
}

/// Makes `email` a platform admin whose password hashes to `password_hash` (the operator's
/// way in, from the command line): an existing account is promoted, otherwise one is made.
pub async fn make_platform_admin(
    app: &App,
    email: &Email,
    name: &str,
    password_hash: &str,
) -> Result<AdminAccount, AppError> {
    let mut tx = app.db.begin_write().await?;
    let made = if store::promote_admin(&mut tx, email.as_str(), password_hash).await? {
        if let Some(user) = store::user_by_email(&app.db, email.as_str()).await? {
            store::revoke_all_sessions(&mut tx, user.id).await?;
        }
        AdminAccount::Promoted
    } else {
        store::create_user(&mut tx, email.as_str(), name, password_hash, true).await?;
        AdminAccount::Created
    };
    tx.commit().await?;
    Ok(made)
}
