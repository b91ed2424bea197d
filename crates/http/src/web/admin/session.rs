//! Who is signed in to the admin panel, and the CSRF check of its forms.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use souk_domain::accounts::{csrf_token, secure_eq, token_hash};

use crate::AppState;
use crate::auth::{Principal, SESSION_COOKIE, SESSION_PREFIX, check_same_origin, cookie};
use crate::web::{CspNonce, PageError};

/// A platform admin's session, from the session cookie. Anyone else is sent to the sign-in
/// page (with the page they wanted to come back to); a signed-in non-admin gets 403.
pub struct AdminSession {
    pub principal: Principal,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let nonce = CspNonce::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let to_sign_in = || {
            let here = parts.uri.path_and_query().map_or("/admin", |p| p.as_str());
            let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
            Redirect::to(&format!("/admin/sign-in?next={next}")).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE)
            .filter(|t| t.starts_with(SESSION_PREFIX) && t.len() <= 200)
        else {
            return Err(to_sign_in());
        };
        let session = souk_storage::accounts::session_by_token_hash(&state.db, &token_hash(token))
            .await
            .map_err(|e| PageError::from(e).render(&nonce))?;
        let Some(session) = session else {
            return Err(to_sign_in());
        };
        if !session.is_admin {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "the admin panel is for platform admins",
            )
            .render(&nonce));
        }
        Ok(AdminSession {
            csrf: csrf_token(token),
            principal: Principal::from_session(session),
        })
    }
}

/// A form that carries the CSRF token it was rendered with, in its `csrf` field.
pub trait CsrfField {
    fn csrf(&self) -> &str;
}

/// A signed-in admin's form, already checked: it comes from this origin and carries this
/// session's token. Anything else is answered 403 and never reaches the handler.
pub struct AdminForm<T> {
    pub session: AdminSession,
    pub form: T,
}

impl<T> FromRequest<AppState> for AdminForm<T>
where
    T: serde::de::DeserializeOwned + CsrfField + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let nonce = CspNonce::from_request_parts(&mut parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let session = AdminSession::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = Request::from_parts(parts, body);
        let axum::Form(form) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(|_| csrf_refused(&nonce))?;
        check_form(state, &headers, &session.csrf, form.csrf())
            .map_err(|()| csrf_refused(&nonce))?;
        Ok(AdminForm { session, form })
    }
}

/// A form must come from this origin and carry the token it was rendered with.
pub fn check_form(
    state: &AppState,
    headers: &HeaderMap,
    expected: &str,
    sent: &str,
) -> Result<(), ()> {
    check_same_origin(state, headers).map_err(|_| ())?;
    if expected.is_empty() || !secure_eq(expected.as_bytes(), sent.as_bytes()) {
        return Err(());
    }
    Ok(())
}

/// 403: a form without its token (or from another site) changes nothing.
pub fn csrf_refused(nonce: &CspNonce) -> Response {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Form expired",
        "this form was not sent from this page or has expired; go back, reload and try again",
    )
    .render(nonce)
}
