//! Signing in to and out of a panel, and signing up to sell. The admin panel admits platform
//! admins only; the vendor dashboard admits anyone with an account (someone who does not sell
//! yet is offered the application form).

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::session::{csrf_refused, genuine_form};
use super::{CspNonce, Flash, Page, PageError};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::auth::{Principal, clear_cookies, session_cookies};

/// A panel with its own sign-in page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Admin,
    Vendor,
    /// The storefront's customer account.
    Store,
}

impl Panel {
    /// Its home, and the prefix of every page in it.
    pub fn home(self) -> &'static str {
        match self {
            Panel::Admin => "/admin",
            Panel::Vendor => "/vendor",
            Panel::Store => "/account",
        }
    }

    pub fn sign_in_path(self) -> &'static str {
        match self {
            Panel::Admin => "/admin/sign-in",
            Panel::Vendor => "/vendor/sign-in",
            Panel::Store => "/account/sign-in",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Panel::Admin => "admin/sign_in.html",
            Panel::Vendor => "vendor/sign_in.html",
            Panel::Store => "store/sign_in.html",
        }
    }

    /// Why a signed-in person may not use this panel, if they may not.
    fn refuses(self, session: &souk_storage::accounts::SessionUser) -> Option<&'static str> {
        match self {
            Panel::Admin if !session.is_admin => Some("This account is not a platform admin."),
            _ => None,
        }
    }

    /// Only a path inside this panel: never an absolute URL (an open redirect).
    pub(crate) fn local_next(self, next: Option<&str>) -> String {
        // A shopper may come back to any page of the shop (the cart, a product).
        let inside = if self == Panel::Store {
            "/"
        } else {
            self.home()
        };
        // Browsers drop tabs and newlines from URLs and read `\\` as `/`: none may appear,
        // or `/<tab>/evil.example` would become `//evil.example`.
        next.filter(|n| {
            n.starts_with(inside)
                && !n.starts_with("//")
                && !n.contains("://")
                && !n
                    .chars()
                    .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
        })
        .unwrap_or(self.home())
        .to_owned()
    }
}

/// The cookie that carries the sign-in (and sign-up) form's CSRF token (there is no session yet
/// to derive one from): the form's hidden field must match it.
const SIGN_IN_COOKIE: &str = "souk_signin";

#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    next: Option<String>,
}

/// What a sign-in or sign-up page shows again after a refusal.
#[derive(Debug, Default)]
struct Typed<'a> {
    email: &'a str,
    name: &'a str,
    problem: Option<&'a str>,
    /// The field the problem is about (sign-up), else the form's.
    field: Option<&'a str>,
}

fn form_page(
    panel: Panel,
    template: &'static str,
    nonce: &CspNonce,
    flash: &Flash,
    next: &str,
    typed: &Typed<'_>,
    status: StatusCode,
) -> Response {
    let (token, _) = souk_domain::accounts::new_token("");
    let ctx = context! {
        csrf => token, next => next, email => typed.email, name => typed.name,
        problem => typed.problem, field => typed.field, panel => panel.home(),
    };
    let mut response = Page::new(template, ctx)
        .with_status(status)
        .render(nonce, flash);
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{SIGN_IN_COOKIE}={token}; Path={}; HttpOnly; SameSite=Strict; Max-Age=3600",
        panel.home()
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub async fn sign_in_form(
    panel: Panel,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<SignInQuery>,
) -> Response {
    let next = panel.local_next(query.next.as_deref());
    form_page(
        panel,
        panel.template(),
        &nonce,
        &flash,
        &next,
        &Typed::default(),
        StatusCode::OK,
    )
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    next: Option<String>,
}

/// The refusal of a sign-in as its page says it, or the failure.
pub(crate) fn login_refusal(
    e: souk_app::AppError,
) -> Result<(StatusCode, &'static str), PageError> {
    match e {
        souk_app::AppError::Refused {
            kind: souk_app::Kind::Throttled,
            ..
        } => Ok((
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed attempts: wait a few minutes and try again.",
        )),
        souk_app::AppError::Refused {
            kind: souk_app::Kind::Forbidden,
            ..
        } => Ok((
            StatusCode::FORBIDDEN,
            "This account is disabled: ask the marketplace's staff.",
        )),
        souk_app::AppError::Refused { .. } => {
            Ok((StatusCode::UNAUTHORIZED, "Wrong email or password."))
        }
        e => Err(e.into()),
    }
}

/// Signs in with `email` and `password` for `panel`: the redirect to `next` with the session's
/// cookies, or the refusal (status and message).
pub(crate) async fn open_session(
    state: &AppState,
    client: ClientInfo,
    panel: Panel,
    email: &str,
    password: &str,
    next: &str,
    guest_cart: Option<uuid::Uuid>,
) -> Result<Result<Response, (StatusCode, &'static str)>, PageError> {
    let session =
        match souk_app::accounts::login(&state.app, &client.into(), email, password, guest_cart)
            .await
        {
            Ok(session) => session,
            Err(e) => return login_refusal(e).map(Err),
        };
    let user = souk_storage::accounts::session_by_token_hash(
        &state.db,
        &souk_domain::accounts::token_hash(&session.token),
    )
    .await?
    .ok_or_else(PageError::internal)?;
    if let Some(why) = panel.refuses(&user) {
        // Not for this panel: the session just opened is ended at once.
        let _ = souk_app::accounts::end_session(&state.app, user.user_id, user.session_id).await;
        return Ok(Err((StatusCode::FORBIDDEN, why)));
    }
    let mut response = Redirect::to(next).into_response();
    for cookie in session_cookies(state, &session.token) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    // A shopper's cart goes with them into their account (merged into the one they had).
    if guest_cart.is_some()
        && let Some(cart) = session.cart_id
    {
        response
            .headers_mut()
            .append(header::SET_COOKIE, super::store::cart_cookie(state, cart));
    }
    Ok(Ok(response))
}

pub async fn sign_in(
    panel: Panel,
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    nonce: CspNonce,
    axum::Form(form): axum::Form<SignInForm>,
) -> Response {
    let expected = crate::auth::cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !genuine_form(&state, &headers, expected, &form.csrf) {
        return csrf_refused(&nonce);
    }
    let next = panel.local_next(form.next.as_deref());
    let email = form.email.trim();
    match open_session(&state, client, panel, email, &form.password, &next, None).await {
        Ok(Ok(signed_in)) => signed_in,
        Ok(Err((status, message))) => {
            let typed = Typed {
                email,
                problem: Some(message),
                ..Typed::default()
            };
            form_page(
                panel,
                panel.template(),
                &nonce,
                &Flash(None),
                &next,
                &typed,
                status,
            )
        }
        Err(e) => e.render(&nonce),
    }
}

pub async fn sign_out(
    state: &AppState,
    nonce: &CspNonce,
    panel: Panel,
    who: &Principal,
) -> Response {
    if let Err(e) = souk_app::accounts::end_session(&state.app, who.user_id, who.session_id).await {
        return PageError::from(e).render(nonce);
    }
    let mut response = Redirect::to(panel.sign_in_path()).into_response();
    for cookie in clear_cookies(state) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .append(header::SET_COOKIE, Flash::set("You are signed out."));
    response
}

const SIGN_UP: &str = "vendor/sign_up.html";

pub async fn sign_up_form(nonce: CspNonce, flash: Flash) -> Response {
    form_page(
        Panel::Vendor,
        SIGN_UP,
        &nonce,
        &flash,
        "/vendor/apply",
        &Typed::default(),
        StatusCode::OK,
    )
}

/// A new account to sell with, signed in at once. Registration does not tell whether an
/// address already has an account (no enumeration): when it does and the password is not its
/// own, the page says to check the mailbox, as the API's 202 does.
pub async fn sign_up(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    nonce: CspNonce,
    axum::Form(form): axum::Form<SignInForm>,
) -> Response {
    let expected = crate::auth::cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !genuine_form(&state, &headers, expected, &form.csrf) {
        return csrf_refused(&nonce);
    }
    let email = form.email.trim();
    let name = form.name.trim();
    let refused = |status, field: Option<&str>, message: &str| {
        let typed = Typed {
            email,
            name,
            problem: Some(message),
            field,
        };
        form_page(
            Panel::Vendor,
            SIGN_UP,
            &nonce,
            &Flash(None),
            "/vendor/apply",
            &typed,
            status,
        )
    };
    let client_for_login = client.clone();
    match souk_app::accounts::register(
        &state.app,
        &client.into(),
        email,
        name,
        form.password.clone(),
    )
    .await
    {
        Ok(()) => {}
        Err(e) => {
            return match super::panel::refusal(e, "email") {
                Ok(r) => refused(r.status, Some(&r.field), &r.message),
                Err(e) => PageError::from(e).render(&nonce),
            };
        }
    }
    match open_session(
        &state,
        client_for_login,
        Panel::Vendor,
        email,
        &form.password,
        "/vendor/apply",
        None,
    )
    .await
    {
        Ok(Ok(signed_in)) => signed_in,
        Ok(Err(_)) => refused(
            StatusCode::OK,
            None,
            "Check your mailbox: if this address is new, your account is ready to sign in; if it \
             already has one, sign in with its password instead.",
        ),
        Err(e) => e.render(&nonce),
    }
}
