//! The admin panel under `/admin`: sign-in, the home page, orders. Each handler reads the
//! request, calls one use case (or a read), and renders a page; a refused action shows the form
//! again with the message beside its field.

mod operations;
mod orders;
mod session;
mod vendors;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::context;
use serde::Deserialize;

pub use session::{AdminForm, AdminSession, CsrfField};

use super::{CspNonce, Flash, Page, PageError};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::auth::{clear_cookies, session_cookies};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/sign-in", get(sign_in_form).post(sign_in))
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/orders", get(orders::list))
        .route("/admin/orders/{id}", get(orders::show))
        .route("/admin/orders/{id}/payment", post(orders::record_payment))
        .route("/admin/vendors", get(vendors::list))
        .route("/admin/vendors/{id}/approve", post(vendors::approve))
        .route(
            "/admin/vendors/{id}/suspend",
            get(vendors::confirm_suspend).post(vendors::suspend),
        )
        .route("/admin/jobs", get(operations::jobs))
        .route("/admin/jobs/{id}/retry", post(operations::retry_job))
        .route("/admin/audit", get(operations::audit))
}

/// A form that only carries its CSRF token (a button: approve, retry…).
#[derive(Debug, Deserialize)]
struct ActionForm {
    #[serde(default)]
    csrf: String,
}

impl CsrfField for ActionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// After an action: back to `to` (303), with `message` shown there once.
fn done(to: &str, message: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, Flash::set(message));
    response
}

/// The `before` cursor of a list page: `Some(None)` for the first page, `None` when damaged.
fn cursor(before: Option<&str>) -> Option<Option<uuid::Uuid>> {
    match before.filter(|b| !b.is_empty()) {
        None => Some(None),
        Some(b) => uuid::Uuid::parse_str(b).ok().map(Some),
    }
}

fn bad_cursor(nonce: &CspNonce) -> Response {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Bad page link",
        "the page link is damaged; start from the first page",
    )
    .render(nonce)
}

/// The cursor of the next (older) page, when this one was full.
fn next_cursor(
    ids: impl DoubleEndedIterator<Item = uuid::Uuid> + ExactSizeIterator,
    page_size: i64,
) -> Option<String> {
    if ids.len() as i64 == page_size {
        ids.last().map(|id| id.to_string())
    } else {
        None
    }
}

/// What the layout needs on every signed-in page.
fn chrome(session: &AdminSession, section: &str) -> minijinja::Value {
    context! {
        admin => context! { name => session.principal.name, email => session.principal.email },
        csrf => session.csrf,
        section => section,
    }
}

async fn home(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    let home = match souk_app::dashboard::admin_home(&state.app).await {
        Ok(home) => home,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let w = home.waiting;
    let sales: Vec<_> = home
        .sales
        .iter()
        .map(|s| context! { days => s.days, orders => s.orders, total => s.total })
        .collect();
    let latest: Vec<_> = home.latest.iter().map(orders::summary).collect();
    let ctx = context! {
        currency => state.config.currency.code(),
        waiting => context! {
            orders_awaiting_payment => w.orders_awaiting_payment,
            orders_to_ship => w.orders_to_ship,
            vendors_awaiting_approval => w.vendors_awaiting_approval,
            failed_jobs => w.failed_jobs,
        },
        sales => sales,
        latest => latest,
        ..chrome(&session, "home")
    };
    Page::new("admin/home.html", ctx).render(&nonce, &flash)
}

/// The cookie that carries the sign-in form's CSRF token (there is no session yet to derive
/// one from): the form's hidden field must match it.
const SIGN_IN_COOKIE: &str = "souk_signin";

#[derive(Debug, Default, Deserialize)]
struct SignInQuery {
    next: Option<String>,
}

/// Only a path inside the admin panel: never an absolute URL (an open redirect).
fn local_next(next: Option<&str>) -> String {
    next.filter(|n| n.starts_with("/admin") && !n.starts_with("//") && !n.contains("://"))
        .unwrap_or("/admin")
        .to_owned()
}

fn sign_in_page(
    nonce: &CspNonce,
    flash: &Flash,
    next: &str,
    email: &str,
    problem: Option<&str>,
    status: StatusCode,
) -> Response {
    let (token, _) = souk_domain::accounts::new_token("");
    let ctx = context! { csrf => token, next => next, email => email, problem => problem };
    let mut response = Page::new("admin/sign_in.html", ctx)
        .with_status(status)
        .render(nonce, flash);
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{SIGN_IN_COOKIE}={token}; Path=/admin; HttpOnly; SameSite=Strict; Max-Age=3600"
    )) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn sign_in_form(
    nonce: CspNonce,
    flash: Flash,
    query: axum::extract::Query<SignInQuery>,
) -> Response {
    let next = local_next(query.next.as_deref());
    sign_in_page(&nonce, &flash, &next, "", None, StatusCode::OK)
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: ClientInfo,
    nonce: CspNonce,
    axum::Form(form): axum::Form<SignInForm>,
) -> Response {
    let no_flash = Flash(None);
    let expected = crate::auth::cookie(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if session::check_form(&state, &headers, expected, &form.csrf).is_err() {
        return session::csrf_refused(&nonce);
    }
    let next = local_next(form.next.as_deref());
    let email = form.email.trim().to_owned();
    let refused = |status, message: &str| {
        sign_in_page(&nonce, &no_flash, &next, &email, Some(message), status)
    };
    let signed_in =
        souk_app::accounts::login(&state.app, &client.into(), &email, &form.password, None).await;
    let session = match signed_in {
        Ok(session) => session,
        Err(souk_app::AppError::Refused {
            kind: souk_app::Kind::Throttled,
            ..
        }) => {
            return refused(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts: wait a few minutes and try again.",
            );
        }
        Err(souk_app::AppError::Refused { .. }) => {
            return refused(StatusCode::UNAUTHORIZED, "Wrong email or password.");
        }
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let user = souk_storage::accounts::session_by_token_hash(
        &state.db,
        &souk_domain::accounts::token_hash(&session.token),
    )
    .await;
    match user {
        Ok(Some(user)) if user.is_admin => {}
        Ok(Some(user)) => {
            // Not for this panel: the session just opened is ended at once.
            let _ =
                souk_app::accounts::end_session(&state.app, user.user_id, user.session_id).await;
            return refused(
                StatusCode::FORBIDDEN,
                "This account is not a platform admin.",
            );
        }
        Ok(None) | Err(_) => return PageError::internal().render(&nonce),
    }
    let mut response = Redirect::to(&next).into_response();
    for cookie in session_cookies(&state, &session.token) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn sign_out(
    State(state): State<AppState>,
    nonce: CspNonce,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    let p = &session.principal;
    if let Err(e) = souk_app::accounts::end_session(&state.app, p.user_id, p.session_id).await {
        return PageError::from(e).render(&nonce);
    }
    let mut response = Redirect::to("/admin/sign-in").into_response();
    for cookie in clear_cookies(&state) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .append(header::SET_COOKIE, Flash::set("You are signed out."));
    response
}
