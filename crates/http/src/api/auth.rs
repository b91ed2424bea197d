//! `/api/auth`: registration, login, logout, the current user, password reset and change,
//! email verification, and the caller's sessions.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use souk_domain::accounts::{self, Email, PasswordCheck, new_token};
use souk_domain::time::rfc3339;
use souk_jobs::account::{AccountEmail, AccountEmailPurpose, enqueue_account_email};
use souk_storage::accounts::{self as store, NewSession, TokenPurpose};
use souk_storage::now_ms;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{
    Principal, SESSION_PREFIX, check_same_origin, clear_cookies, client_ip, hash_password,
    session_cookies, verify_password,
};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::ApiJson;

/// Password-reset emails per address and window (beyond: accepted, not sent).
pub const RESETS_PER_EMAIL: i64 = 5;
pub const RESET_WINDOW_MS: i64 = 60 * 60 * 1000;

/// The request facts a login records: client address and user agent.
pub struct ClientInfo {
    pub ip: String,
    pub user_agent: String,
}

impl ClientInfo {
    /// What per-address limits count under: an IPv4 address, or an IPv6 address's /64 (one
    /// subscriber's usual allocation, so rotating addresses inside it buys nothing).
    pub fn address_key(&self) -> String {
        address_key(&self.ip)
    }
}

/// See [`ClientInfo::address_key`].
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

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientInfo {
            ip: client_ip(state, parts)
                .map(|ip| ip.to_string())
                .unwrap_or_default(),
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect(),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorMembershipBody {
    pub vendor_id: Uuid,
    /// `owner` or `staff`.
    #[schema(value_type = crate::api::vocabulary::VendorRole)]
    pub role: String,
    /// The vendor's status: `pending`, `active` or `suspended`.
    #[schema(value_type = crate::api::vocabulary::VendorStatus)]
    pub vendor_status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserBody {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    pub is_admin: bool,
    pub vendor: Option<VendorMembershipBody>,
}

impl From<&Principal> for UserBody {
    fn from(p: &Principal) -> Self {
        UserBody {
            id: p.user_id,
            email: p.email.clone(),
            name: p.name.clone(),
            email_verified: p.email_verified,
            is_admin: p.is_admin,
            vendor: p.vendor.as_ref().map(|m| VendorMembershipBody {
                vendor_id: m.vendor_id,
                role: m.role.clone(),
                vendor_status: m.vendor_status.clone(),
            }),
        }
    }
}

/// A new session: the user and the bearer token (also set as the `souk_session` cookie).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionCreated {
    pub user: UserBody,
    /// Send as `Authorization: Bearer <token>`. Shown once; stored only as a hash.
    pub token: String,
    /// At login with a guest `cart_id`: the customer's cart, now holding the guest's lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cart_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    /// At least 8 characters, not a common password.
    pub password: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// A guest cart to merge into the customer's cart (its lines are added).
    #[serde(default)]
    pub cart_id: Option<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    /// The token from the emailed link.
    pub token: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    pub token: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Always `accepted`.
    #[schema(value_type = crate::api::vocabulary::AcceptedStatus)]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionBody {
    pub id: Uuid,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub last_seen_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    pub user_agent: String,
    pub ip: String,
    /// The session this request was made with.
    pub current: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    pub items: Vec<SessionBody>,
    /// Always null: the whole list is in this page (every list has this one shape).
    pub next_cursor: Option<String>,
}

fn field(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }
}

fn invalid_token() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_token",
        "Invalid token",
        "the link is invalid, expired or already used; ask for a new one",
    )
}

fn with_cookies(
    status: StatusCode,
    cookies: [axum::http::HeaderValue; 2],
    body: impl IntoResponse,
) -> Response {
    let mut response = (status, body).into_response();
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// Opens a session for `user_id` in `tx`; returns the token.
async fn open_session(
    tx: &mut souk_storage::Tx,
    state: &AppState,
    user_id: Uuid,
    client: &ClientInfo,
) -> ApiResult<String> {
    let (token, hash) = new_token(SESSION_PREFIX);
    let ttl_ms = i64::try_from(state.config.session_ttl.as_millis()).unwrap_or(i64::MAX / 2);
    store::create_session(
        tx,
        &NewSession {
            user_id,
            token_hash: &hash,
            expires_at: now_ms() + ttl_ms,
            user_agent: &client.user_agent,
            ip: &client.ip,
        },
    )
    .await?;
    Ok(token)
}

/// Create an account.
///
/// Always 202 with the same body, whether or not the address already has an account, so
/// registration cannot tell which addresses are customers: a new account gets a verification
/// email, an existing one's owner an email saying so (with a password-reset link). Log in with
/// `POST /api/auth/login` afterwards. At most `SOUK_REGISTRATIONS_PER_ADDRESS_PER_HOUR`
/// registrations per client address (429 `too_many_attempts`).
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 202, description = "Accepted: check your email, then log in", body = Accepted),
        (status = 400, description = "Invalid input (`validation_failed`, `invalid_json`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cross-site request (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many registrations from this address (`too_many_attempts`); see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    check_same_origin(&state, &headers)?;
    let mut errors = Vec::new();
    let email = Email::parse(&body.email)
        .map_err(|m| errors.push(field("email", m)))
        .ok();
    let name = accounts::validate_name(&body.name)
        .map_err(|m| errors.push(field("name", m)))
        .ok();
    if let Err(m) =
        accounts::check_password_policy(&body.password, email.as_ref().map(Email::as_str))
    {
        errors.push(field("password", m));
    }
    let (Some(email), Some(name), true) = (email, name, errors.is_empty()) else {
        return Err(ApiError::validation(errors));
    };
    const HOUR_MS: i64 = 3600 * 1000;
    let bucket = format!("register:address:{}", client.address_key());
    if let Err(start) = store::rate_limit_reserve(
        &state.db,
        &bucket,
        HOUR_MS,
        state.config.limits.registrations_per_address,
    )
    .await?
    {
        return Err(too_many_attempts(start + HOUR_MS - now_ms()));
    }
    // Hashed whether or not the account exists: both answers take the same time.
    let hash = hash_password(&state, body.password).await?;
    let mut tx = state.db.begin_write().await?;
    let purpose = match store::create_user(&mut tx, email.as_str(), &name, &hash, false).await {
        Ok(_) => AccountEmailPurpose::VerifyEmail,
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            // The owner's notice carries a reset link: it counts against the address's reset
            // emails, so registering someone's address over and over cannot flood them.
            let (hits, _) =
                store::rate_limit_hit(&state.db, &format!("reset:{email}"), RESET_WINDOW_MS)
                    .await?;
            if hits > RESETS_PER_EMAIL {
                return Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted" })));
            }
            // The failed insert ended the transaction on PostgreSQL: queue in a new one.
            tx = state.db.begin_write().await?;
            AccountEmailPurpose::AccountExists
        }
        Err(e) => return Err(e.into()),
    };
    enqueue_account_email(
        &mut tx,
        &AccountEmail {
            purpose,
            email: email.to_string(),
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_jobs();
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted" })))
}

fn too_many_attempts(retry_after_ms: i64) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "Too many attempts",
        "too many attempts; wait before trying again (see Retry-After)",
    );
    e.retry_after = Some(u32::try_from((retry_after_ms / 1000).max(1)).unwrap_or(u32::MAX));
    e
}

/// Log in.
///
/// A wrong password and an unknown email get the same answer, in similar time. After 10 failed
/// attempts for an account (or 100 from one address) in 15 minutes, further attempts get 429.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = SessionCreated),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cross-site request (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts (`too_many_attempts`); see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    check_same_origin(&state, &headers)?;
    let email = body.email.trim().to_lowercase();
    // No address is longer than 254 characters: a longer one cannot grow the bucket table.
    let account_bucket = format!(
        "login:account:{}",
        email.chars().take(254).collect::<String>()
    );
    let address_bucket = format!("login:address:{}", client.address_key());
    let limits = &state.config.limits;
    let window = limits.login_window_ms();
    // Both attempts are reserved before the hash runs, so parallel guesses count at once; a
    // right password gives them back.
    let account_window = match store::rate_limit_reserve(
        &state.db,
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
        &state.db,
        &address_bucket,
        window,
        limits.login_failures_per_address,
    )
    .await?
    {
        Ok(start) => start,
        Err(start) => {
            store::rate_limit_refund(&state.db, &account_bucket, account_window).await?;
            return Err(too_many_attempts(start + window - now_ms()));
        }
    };
    let user = if body.password.len() > accounts::MAX_PASSWORD_BYTES || email.len() > 254 {
        None
    } else {
        store::user_by_email(&state.db, &email).await?
    };
    let stored = user.as_ref().map_or_else(
        || accounts::dummy_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let password: String = body
        .password
        .chars()
        .take(accounts::MAX_PASSWORD_BYTES)
        .collect();
    let check = verify_password(&state, password.clone(), stored).await?;
    let user = match (user, check) {
        (Some(user), PasswordCheck::Correct | PasswordCheck::CorrectNeedsRehash) => user,
        _ => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
                "wrong email or password",
            ));
        }
    };
    store::rate_limit_refund(&state.db, &address_bucket, address_window).await?;
    let rehash = if check == PasswordCheck::CorrectNeedsRehash {
        Some(hash_password(&state, password).await?)
    } else {
        None
    };
    let mut tx = state.db.begin_write().await?;
    if let Some(hash) = rehash {
        store::set_password_hash(&mut tx, user.id, &hash).await?;
    }
    // A fresh token at every login: a session id planted before login is useless after it.
    let token = open_session(&mut tx, &state, user.id, &client).await?;
    tx.commit().await?;
    store::rate_limit_reset(&state.db, &account_bucket).await?;
    let principal = full_principal(&state, &token).await?;
    let cart_id = match body.cart_id {
        Some(guest) => souk_storage::carts::merge_into_customer(&state.db, guest, user.id).await?,
        None => None,
    };
    let cookies = session_cookies(&state, &token);
    Ok(with_cookies(
        StatusCode::OK,
        cookies,
        Json(SessionCreated {
            user: (&principal).into(),
            token,
            cart_id,
        }),
    ))
}

/// The principal of a session just opened.
async fn full_principal(state: &AppState, token: &str) -> ApiResult<Principal> {
    let session = store::session_by_token_hash(&state.db, &accounts::token_hash(token))
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(Principal {
        user_id: session.user_id,
        email: session.email,
        name: session.name,
        is_admin: session.is_admin,
        email_verified: session.email_verified_at.is_some(),
        session_id: session.session_id,
        vendor: match (
            session.vendor_id,
            session.vendor_role,
            session.vendor_status,
        ) {
            (Some(vendor_id), Some(role), Some(vendor_status)) => Some(crate::auth::Membership {
                vendor_id,
                role,
                vendor_status,
            }),
            _ => None,
        },
        api_key: None,
    })
}

/// Log out: ends this session on the server and clears the cookies.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "Not logged in (`unauthenticated`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie without CSRF token (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logout(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    store::revoke_session(&state.db, principal.user_id, principal.session_id).await?;
    Ok(with_cookies(
        StatusCode::NO_CONTENT,
        clear_cookies(&state),
        (),
    ))
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The current user", body = UserBody),
        (status = 401, description = "Not logged in (`unauthenticated`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(principal: Principal) -> Json<UserBody> {
    Json((&principal).into())
}

/// Ask for a password-reset email.
///
/// Always 202, whether or not the address has an account (no account enumeration); at most 5
/// emails per address per hour are sent.
#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth", request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "If the account exists, an email is on its way", body = Accepted),
        (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PasswordResetRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let accepted = (StatusCode::ACCEPTED, Json(Accepted { status: "accepted" }));
    let Ok(email) = Email::parse(&body.email) else {
        return Ok(accepted);
    };
    let (hits, _) =
        store::rate_limit_hit(&state.db, &format!("reset:{email}"), RESET_WINDOW_MS).await?;
    if hits > RESETS_PER_EMAIL {
        return Ok(accepted);
    }
    let mut tx = state.db.begin_write().await?;
    enqueue_account_email(
        &mut tx,
        &AccountEmail {
            purpose: AccountEmailPurpose::PasswordReset,
            email: email.to_string(),
        },
    )
    .await?;
    tx.commit().await?;
    state.wake_jobs();
    Ok(accepted)
}

/// Set a new password with the token from the reset email. Ends every session of the account.
#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses(
        (status = 204, description = "Password changed; log in with it"),
        (status = 400, description = "Invalid, expired or used token (`invalid_token`), or a weak password (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<PasswordResetConfirm>,
) -> ApiResult<StatusCode> {
    if let Err(m) = accounts::check_password_policy(&body.password, None) {
        return Err(ApiError::validation(vec![field("password", m)]));
    }
    if body.token.len() > 200 {
        return Err(invalid_token());
    }
    let hash = hash_password(&state, body.password).await?;
    let mut tx = state.db.begin_write().await?;
    let user_id = store::consume_user_token(
        &mut tx,
        &accounts::token_hash(&body.token),
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
    Ok(StatusCode::NO_CONTENT)
}

/// Confirm the email address with the token from the verification email.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "Email address verified"),
        (status = 400, description = "Invalid, expired or used token (`invalid_token`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> ApiResult<StatusCode> {
    if body.token.len() > 200 {
        return Err(invalid_token());
    }
    let mut tx = state.db.begin_write().await?;
    let user_id = store::consume_user_token(
        &mut tx,
        &accounts::token_hash(&body.token),
        TokenPurpose::VerifyEmail,
    )
    .await?
    .ok_or_else(invalid_token)?;
    store::mark_email_verified(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password. Ends every session of the account and opens a new one for this client.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth", request_body = ChangePasswordRequest, security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed; a new session", body = SessionCreated),
        (status = 400, description = "Weak new password (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in, or wrong current password (`invalid_credentials`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie without CSRF token (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong passwords for this account (`too_many_attempts`); see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> ApiResult<Response> {
    if let Err(m) = accounts::check_password_policy(&body.new_password, Some(&principal.email)) {
        return Err(ApiError::validation(vec![field("new_password", m)]));
    }
    let user = store::user_by_id(&state.db, principal.user_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    let current: String = body
        .current_password
        .chars()
        .take(accounts::MAX_PASSWORD_BYTES)
        .collect();
    // The current-password check is a login in disguise: it takes from the same per-account
    // budget as logging in (a stolen session gets no extra guesses), before the hash.
    let limits = &state.config.limits;
    let window = limits.login_window_ms();
    let bucket = format!("login:account:{}", user.email);
    if let Err(start) = store::rate_limit_reserve(
        &state.db,
        &bucket,
        window,
        limits.login_failures_per_account,
    )
    .await?
    {
        return Err(too_many_attempts(start + window - now_ms()));
    }
    if verify_password(&state, current, user.password_hash).await? == PasswordCheck::Wrong {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Invalid credentials",
            "the current password is wrong",
        ));
    }
    let hash = hash_password(&state, body.new_password).await?;
    let mut tx = state.db.begin_write().await?;
    store::set_password_hash(&mut tx, user.id, &hash).await?;
    store::revoke_all_sessions(&mut tx, user.id).await?;
    // A reset link mailed before the change must not undo it.
    store::expire_user_tokens(&mut tx, user.id, TokenPurpose::PasswordReset).await?;
    let token = open_session(&mut tx, &state, user.id, &client).await?;
    tx.commit().await?;
    store::rate_limit_reset(&state.db, &bucket).await?;
    let principal = full_principal(&state, &token).await?;
    let cart_id = None;
    let cookies = session_cookies(&state, &token);
    Ok(with_cookies(
        StatusCode::OK,
        cookies,
        Json(SessionCreated {
            user: (&principal).into(),
            token,
            cart_id,
        }),
    ))
}

/// The caller's active sessions (devices), newest first.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Active sessions", body = SessionList),
        (status = 401, description = "Not logged in (`unauthenticated`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_sessions(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<SessionList>> {
    let sessions = store::list_sessions(&state.db, principal.user_id).await?;
    Ok(Json(SessionList {
        next_cursor: None,
        items: sessions
            .into_iter()
            .map(|s| SessionBody {
                current: s.id == principal.session_id,
                id: s.id,
                created_at: rfc3339(s.created_at),
                last_seen_at: rfc3339(s.last_seen_at),
                expires_at: rfc3339(s.expires_at),
                user_agent: s.user_agent,
                ip: s.ip,
            })
            .collect(),
    }))
}

/// End one of the caller's sessions (e.g. a lost device).
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses(
        (status = 204, description = "Session ended"),
        (status = 401, description = "Not logged in (`unauthenticated`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Cookie without CSRF token (`csrf_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such session of yours (`not_found`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_session(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found("no such session");
    let id = Uuid::try_parse(&id).map_err(|_| not_found())?;
    if store::revoke_session(&state.db, principal.user_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
