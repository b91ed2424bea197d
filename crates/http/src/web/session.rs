//! Who is signed in to a panel (the admin panel, the vendor dashboard), and the CSRF check of
//! their forms. Each panel's session type says who may enter; the cookie, the session lookup
//! and the form check are the same for all.

use crate::AppState;
use crate::auth::{Principal, SESSION_COOKIE, SESSION_PREFIX, check_same_origin, cookie};
use crate::web::{CspNonce, PageError};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use souk_domain::accounts::{csrf_token, secure_eq, token_hash};

/// The session behind the cookie, with the CSRF token of its forms.
pub struct SignedIn {
    pub principal: Principal,
    /// The token every form of this session carries.
    pub csrf: String,
}

/// The session of the request's cookie: `Ok(None)` when there is none (or it ended).
pub async fn signed_in(
    parts: &Parts,
    state: &AppState,
    nonce: &CspNonce,
) -> Result<Option<SignedIn>, Response> {
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE)
        .filter(|t| t.starts_with(SESSION_PREFIX) && t.len() <= 200)
    else {
        return Ok(None);
    };
    let user = souk_storage::accounts::session_by_token_hash(&state.db, &token_hash(token))
        .await
        .map_err(|e| PageError::from(e).render(nonce))?;
    Ok(user.map(|user| SignedIn {
        principal: Principal::from_session(user),
        csrf: csrf_token(token),
    }))
}

/// To `sign_in` (a panel's sign-in page), coming back to the page asked for afterwards.
pub fn to_sign_in(parts: &Parts, sign_in: &str) -> Response {
    let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
    Redirect::to(&format!("{sign_in}?next={next}")).into_response()
}

/// A panel's session: how its forms find the token they must carry.
pub trait PanelSession: FromRequestParts<AppState, Rejection = Response> {
    fn csrf(&self) -> &str;
}

/// A form that carries the CSRF token it was rendered with, in its `csrf` field.
pub trait CsrfField {
    fn csrf(&self) -> &str;
}

/// A signed-in person's form, already checked: it comes from this origin and carries this
/// session's token. Anything else is answered 403 and never reaches the handler.
pub struct SignedForm<S, T> {
    pub session: S,
    pub form: T,
}

impl<S, T> FromRequest<AppState> for SignedForm<S, T>
where
    S: PanelSession + Send,
    T: serde::de::DeserializeOwned + CsrfField + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let nonce = CspNonce::from_request_parts(&mut parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let session = S::from_request_parts(&mut parts, state).await?;
        let headers = parts.headers.clone();
        let req = Request::from_parts(parts, body);
        let axum::Form(form) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(|_| csrf_refused(&nonce))?;
        if !genuine_form(state, &headers, session.csrf(), form.csrf()) {
            return Err(csrf_refused(&nonce));
        }
        Ok(SignedForm { session, form })
    }
}

/// Whether a form comes from this origin and carries the token it was rendered with.
pub fn genuine_form(state: &AppState, headers: &HeaderMap, expected: &str, sent: &str) -> bool {
    check_same_origin(state, headers).is_ok()
        && !expected.is_empty()
        && secure_eq(expected.as_bytes(), sent.as_bytes())
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
