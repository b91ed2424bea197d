//! Who is calling: sessions (bearer token or cookie), CSRF protection for cookies, client
//! addresses. (Password hashing is in the accounts use cases.)
//!
//! API clients send `Authorization: Bearer <token>`; browsers get the same token in an
//! `HttpOnly` `SameSite=Lax` cookie (`Secure` when the public URL is https). A state-changing
//! request authenticated by the cookie must also carry `X-CSRF-Token` (the value of the
//! readable `souk_csrf` cookie) and must not come from a foreign `Origin`; bearer requests
//! cannot be forged cross-site and need neither.

use std::net::{IpAddr, SocketAddr};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use souk_domain::accounts::{csrf_token, secure_eq, token_hash};
use souk_storage::accounts::SessionUser;
use souk_storage::now_ms;
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "souk_session";
pub const CSRF_COOKIE: &str = "souk_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub use souk_app::accounts::SESSION_PREFIX;
pub use souk_app::api_keys::{API_KEY_PREFIX, API_KEY_SCOPES};

/// The peer address of the TCP connection, set by the server loop.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The client's address: the TCP peer, or — only when that peer is a configured trusted
/// proxy — the last address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(state: &AppState, parts: &Parts) -> Option<IpAddr> {
    let peer = parts.extensions.get::<PeerAddr>().map(|p| p.0.ip())?;
    let trusted = &state.config.trusted_proxies;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    Some(
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted.contains(ip))
            .unwrap_or(peer),
    )
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v)
        })
}

/// The caller's vendor, when they are vendor staff.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub vendor_id: Uuid,
    pub role: String,
    pub vendor_status: String,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub is_admin: bool,
    pub email_verified: bool,
    pub session_id: Uuid,
    pub vendor: Option<Membership>,
    /// Set when the caller is an API key rather than a person's session.
    pub api_key: Option<Uuid>,
}

impl Principal {
    pub(crate) fn from_session(s: SessionUser) -> Self {
        Principal {
            user_id: s.user_id,
            email: s.email,
            name: s.name,
            is_admin: s.is_admin,
            email_verified: s.email_verified_at.is_some(),
            session_id: s.session_id,
            vendor: match (s.vendor_id, s.vendor_role, s.vendor_status) {
                (Some(vendor_id), Some(role), Some(vendor_status)) => Some(Membership {
                    vendor_id,
                    role,
                    vendor_status,
                }),
                _ => None,
            },
            api_key: None,
        }
    }
}

fn key_allows(key: &souk_storage::api_keys::ApiKey, method: &Method, path: &str) -> bool {
    let scopes = key.scope_list();
    let read = !is_unsafe(method);
    if key.vendor_id.is_some() && path.starts_with("/api/vendor/") && path != "/api/vendor/apply" {
        // A catalog integration must not read customers' names and addresses: orders, balance
        // and shipping rates need their own scope.
        let catalog = ["/api/vendor/products", "/api/vendor/variants"]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")));
        let (write, read_only) = if catalog {
            ("catalog:write", "catalog:read")
        } else {
            ("orders:write", "orders:read")
        };
        return scopes.contains(&write) || (read && scopes.contains(&read_only));
    }
    key.vendor_id.is_none()
        && read
        && path.starts_with("/api/admin/")
        && scopes.contains(&"admin:read")
}

/// Authenticates an API key and checks its scopes against the request.
async fn api_key_principal(
    state: &AppState,
    parts: &Parts,
    token: &str,
) -> Result<Principal, ApiError> {
    let key = souk_storage::api_keys::by_hash(&state.db, &token_hash(token))
        .await?
        .ok_or_else(|| unauthenticated("the API key is not valid or was revoked"))?;
    if !key_allows(&key, &parts.method, parts.uri.path()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "Insufficient scope",
            format!("this API key ({}) may not do this", key.scopes),
        ));
    }
    let vendor = match key.vendor_id {
        Some(vendor_id) => {
            let status = souk_storage::catalog::vendor_by_id(&state.db, vendor_id)
                .await?
                .map_or_else(|| "suspended".to_owned(), |v| v.status);
            Some(Membership {
                vendor_id,
                role: "api_key".to_owned(),
                vendor_status: status,
            })
        }
        None => None,
    };
    if key.last_used_at.is_none_or(|t| now_ms() - t > 60_000) {
        let db = state.db.clone();
        let id = key.id;
        tokio::spawn(async move {
            let _ = souk_storage::api_keys::touch(&db, id).await;
        });
    }
    Ok(Principal {
        user_id: key.created_by,
        email: format!("api-key:{}", key.name),
        name: key.name.clone(),
        is_admin: key.vendor_id.is_none() && key.scope_list().contains(&"admin:read"),
        email_verified: true,
        session_id: key.id,
        vendor,
        api_key: Some(key.id),
    })
}

pub fn unauthenticated(detail: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Authentication required",
        detail,
    );
    e.www_authenticate = true;
    e
}

fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The origin this server is reached at: the configured public URL, else the `Host` header.
fn own_origin(state: &AppState, headers: &HeaderMap) -> Option<String> {
    if let Some(url) = &state.config.public_url {
        return Some(url.trim_end_matches('/').to_owned());
    }
    let host = headers.get(header::HOST)?.to_str().ok()?;
    Some(format!("http://{host}"))
}

/// Refuses a request from another site: `Origin` (when sent) must be ours, and
/// `Sec-Fetch-Site` (when sent) must be same-origin or a direct navigation.
pub fn check_same_origin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let forbidden = |detail: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "Cross-site request refused",
            detail,
        )
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(forbidden("the request comes from another site"));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && Some(origin.trim_end_matches('/').to_owned()) != own_origin(state, headers)
    {
        return Err(forbidden("the request comes from another origin"));
    }
    Ok(())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let (token, via_cookie) = match parts.headers.get(header::AUTHORIZATION) {
            Some(value) => {
                let value = value.to_str().unwrap_or_default();
                let token = value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))
                    .ok_or_else(|| unauthenticated("use 'Authorization: Bearer <token>'"))?;
                (token.trim().to_owned(), false)
            }
            None => match cookie(&parts.headers, SESSION_COOKIE) {
                Some(token) => (token.to_owned(), true),
                None => return Err(unauthenticated("log in first")),
            },
        };
        if token.len() > 200 {
            return Err(unauthenticated("the token is not valid"));
        }
        if !via_cookie && token.starts_with(API_KEY_PREFIX) {
            return api_key_principal(state, parts, &token).await;
        }
        if !token.starts_with(SESSION_PREFIX) {
            return Err(unauthenticated("the token is not valid"));
        }
        let session = souk_storage::accounts::session_by_token_hash(&state.db, &token_hash(&token))
            .await?
            .ok_or_else(|| unauthenticated("the session has expired or was ended; log in again"))?;
        if via_cookie && is_unsafe(&parts.method) {
            check_same_origin(state, &parts.headers)?;
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .map(HeaderValue::as_bytes)
                .unwrap_or_default();
            if !secure_eq(sent, csrf_token(&token).as_bytes()) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "Cross-site request refused",
                    "send the souk_csrf cookie's value in the X-CSRF-Token header",
                ));
            }
        }
        // Record activity at most once a minute per session.
        if now_ms() - session.last_seen_at > 60_000 {
            let db = state.db.clone();
            let id = session.session_id;
            tokio::spawn(async move {
                let _ = souk_storage::accounts::touch_session(&db, id).await;
            });
        }
        Ok(Principal::from_session(session))
    }
}

/// The caller when they sent credentials, `None` for an anonymous shopper. Credentials that
/// are sent but wrong are still refused (401), so a client never silently acts as a guest.
pub struct MaybePrincipal(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybePrincipal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.get(header::AUTHORIZATION).is_none()
            && cookie(&parts.headers, SESSION_COOKIE).is_none()
        {
            return Ok(MaybePrincipal(None));
        }
        Principal::from_request_parts(parts, state)
            .await
            .map(|p| MaybePrincipal(Some(p)))
    }
}

/// A platform admin.
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        if principal.is_admin {
            Ok(Admin(principal))
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                "platform admins only",
            ))
        }
    }
}

/// `Set-Cookie` values for a new session (and its CSRF token).
pub fn session_cookies(state: &AppState, token: &str) -> [HeaderValue; 2] {
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    let max_age = state.config.session_ttl.as_secs();
    let session = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    );
    let csrf = format!(
        "{CSRF_COOKIE}={}; Path=/; SameSite=Lax; Max-Age={max_age}{secure}",
        csrf_token(token)
    );
    [
        HeaderValue::from_str(&session).expect("cookie is ASCII"),
        HeaderValue::from_str(&csrf).expect("cookie is ASCII"),
    ]
}

pub fn clear_cookies(state: &AppState) -> [HeaderValue; 2] {
    let secure = if state.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    [
        HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
        ))
        .expect("ASCII"),
        HeaderValue::from_str(&format!(
            "{CSRF_COOKIE}=; Path=/; SameSite=Lax; Max-Age=0{secure}"
        ))
        .expect("ASCII"),
    ]
}

/// 403 `vendor_not_approved`: the vendor has applied but is not approved yet.
pub fn vendor_not_approved() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "vendor_not_approved",
        "Vendor not approved",
        "this needs an approved vendor; the application is still awaiting approval",
    )
}

impl VendorStaff {
    /// Whether the vendor is approved (`active`), not only applied.
    pub fn approved(&self) -> bool {
        self.principal
            .vendor
            .as_ref()
            .is_some_and(|m| m.vendor_status == "active")
    }

    /// 403 `vendor_not_approved` unless the vendor is approved.
    pub fn require_approved(&self) -> Result<(), ApiError> {
        if self.approved() {
            Ok(())
        } else {
            Err(vendor_not_approved())
        }
    }
}

/// Staff of a vendor that is not suspended: the vendor API's caller.
pub struct VendorStaff {
    pub principal: Principal,
    pub vendor_id: Uuid,
}

impl FromRequestParts<AppState> for VendorStaff {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let forbidden =
            |detail: &str| ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail);
        let Some(membership) = principal.vendor.clone() else {
            return Err(forbidden(
                "vendor staff only; apply with POST /api/vendor/apply",
            ));
        };
        if membership.vendor_status == "suspended" {
            return Err(forbidden("this vendor is suspended"));
        }
        Ok(VendorStaff {
            vendor_id: membership.vendor_id,
            principal,
        })
    }
}
