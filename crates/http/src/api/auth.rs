//! `/api/auth`: registration, login, logout, the current user, password reset and change,
//! email verification, and the caller's sessions.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use souk_app::accounts;
use souk_domain::time::rfc3339;
use souk_storage::accounts as store;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Principal, check_same_origin, clear_cookies, client_ip, session_cookies};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;

/// The request facts a login records: client address and user agent.
#[derive(Debug, Clone)]
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

impl From<ClientInfo> for accounts::Client {
    fn from(c: ClientInfo) -> Self {
        accounts::Client {
            ip: c.ip,
            user_agent: c.user_agent,
        }
    }
}

pub use souk_app::accounts::address_key;

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
    accounts::register(
        &state.app,
        &client.into(),
        &body.email,
        &body.name,
        body.password,
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted" })))
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
        (status = 403, description = "Cross-site request (`csrf_failed`), or the account was disabled by platform staff (`account_disabled`)", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts (`too_many_attempts`); see `Retry-After`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    check_same_origin(&state, &headers)?;
    let session = accounts::login(
        &state.app,
        &client.into(),
        &body.email,
        &body.password,
        body.cart_id,
    )
    .await?;
    signed_in(&state, session).await
}

/// The answer to a login or password change: the session's cookies and the user.
async fn signed_in(state: &AppState, session: accounts::Session) -> ApiResult<Response> {
    let principal = full_principal(state, &session.token).await?;
    let cookies = session_cookies(state, &session.token);
    Ok(with_cookies(
        StatusCode::OK,
        cookies,
        Json(SessionCreated {
            user: (&principal).into(),
            token: session.token,
            cart_id: session.cart_id,
        }),
    ))
}

/// The principal of a session just opened.
async fn full_principal(state: &AppState, token: &str) -> ApiResult<Principal> {
    let session =
        store::session_by_token_hash(&state.db, &souk_domain::accounts::token_hash(token))
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
    accounts::end_session(&state.app, principal.user_id, principal.session_id).await?;
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
    accounts::request_password_reset(&state.app, &body.email).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: "accepted" })))
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
    accounts::confirm_password_reset(&state.app, &body.token, body.password).await?;
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
    accounts::verify_email(&state.app, &body.token).await?;
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
    let session = accounts::change_password(
        &state.app,
        &client.into(),
        principal.user_id,
        &body.current_password,
        body.new_password,
    )
    .await?;
    signed_in(&state, session).await
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
    if accounts::end_session(&state.app, principal.user_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
