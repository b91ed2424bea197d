//! A customer's account in the shop: sign up, sign in and out, their orders, their sessions
//! (devices) and password; the pages the account emails open (`/verify-email`,
//! `/reset-password`); and a guest's "email me my order link". Each calls the same use case as
//! the API; refusals come back as the form with the message beside its field.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_domain::orders::order_number;
use souk_storage::orders::{self, OrderFilter};
use uuid::Uuid;

use super::{ShopError, ShopForm, Shopper, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::auth::{clear_cookies, session_cookies};
use crate::web::panel::{done, refusal};
use crate::web::session::CsrfField;
use crate::web::sign_in::{Panel, open_session};
use crate::web::{CspNonce, Flash, Page, PageError, money_text};

/// One field of a simple form page.
#[derive(serde::Serialize)]
struct Field {
    name: &'static str,
    label: &'static str,
    kind: &'static str,
    autocomplete: &'static str,
    value: String,
    hint: Option<&'static str>,
}

fn field(name: &'static str, label: &'static str, kind: &'static str, auto: &'static str) -> Field {
    Field {
        name,
        label,
        kind,
        autocomplete: auto,
        value: String::new(),
        hint: None,
    }
}

/// A simple form page (`store/form.html`): a title, an introduction, the fields, one button,
/// links below, and the problem of the last try beside its field.
struct FormPage {
    title: &'static str,
    intro: Option<String>,
    action: String,
    fields: Vec<Field>,
    hidden: Vec<(&'static str, String)>,
    button: &'static str,
    links: Vec<(&'static str, &'static str)>,
    /// (field, message); the field `form` puts it above the form.
    problem: Option<(String, String)>,
    status: StatusCode,
}

impl FormPage {
    fn new(title: &'static str, action: impl Into<String>, button: &'static str) -> Self {
        FormPage {
            title,
            intro: None,
            action: action.into(),
            fields: Vec::new(),
            hidden: Vec::new(),
            button,
            links: Vec::new(),
            problem: None,
            status: StatusCode::OK,
        }
    }

    async fn render(
        self,
        state: &AppState,
        shopper: &Shopper,
        nonce: &CspNonce,
        flash: &Flash,
    ) -> Response {
        let ctx = context! {
            title => self.title, intro => self.intro, action => self.action,
            fields => Value::from_serialize(&self.fields), hidden => self.hidden,
            button => self.button, links => self.links,
            problem => self.problem.map(|(f, m)| context! { field => f, message => m }),
            noindex => true,
            ..chrome(state, shopper).await
        };
        Page::new("store/form.html", ctx)
            .with_status(self.status)
            .render(nonce, flash)
    }

    fn refused(mut self, status: StatusCode, field: impl Into<String>, message: String) -> Self {
        self.status = status;
        self.problem = Some((field.into(), message));
        self
    }

    fn with_values(mut self, values: &[(&str, &str)]) -> Self {
        for f in &mut self.fields {
            if let Some((_, v)) = values.iter().find(|(n, _)| *n == f.name) {
                f.value = (*v).to_owned();
            }
        }
        self
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn sign_in_page(next: &str) -> FormPage {
    let mut page = FormPage::new("Sign in", "/account/sign-in", "Sign in");
    page.fields = vec![
        field("email", "Email", "email", "username"),
        field("password", "Password", "password", "current-password"),
    ];
    page.hidden = vec![("next", next.to_owned())];
    page.links = vec![
        ("/account/sign-up", "New here? Create an account"),
        ("/account/forgot-password", "Forgot your password?"),
        ("/orders/lookup", "Ordered as a guest? Find your order"),
    ];
    page
}

pub async fn sign_in_form(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<NextQuery>,
) -> Response {
    if shopper.customer.is_some() {
        return Redirect::to("/account").into_response();
    }
    let next = Panel::Store.local_next(query.next.as_deref());
    sign_in_page(&next)
        .render(&state, &shopper, &nonce, &flash)
        .await
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
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
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    number: String,
}

impl CsrfField for AccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<AccountForm>,
) -> Response {
    let next = Panel::Store.local_next(form.next.as_deref());
    let email = form.email.trim();
    match open_session(
        &state,
        client,
        Panel::Store,
        email,
        &form.password,
        &next,
        shopper.cart_id,
    )
    .await
    {
        Ok(Ok(signed_in)) => signed_in,
        Ok(Err((status, message))) => {
            sign_in_page(&next)
                .with_values(&[("email", email)])
                .refused(status, "form", message.to_owned())
                .render(&state, &shopper, &nonce, &Flash(None))
                .await
        }
        Err(e) => e.render(&nonce),
    }
}

fn sign_up_page() -> FormPage {
    let mut page = FormPage::new("Create your account", "/account/sign-up", "Create account");
    page.intro = Some("Follow your orders and check out faster.".to_owned());
    let mut password = field("password", "Password", "password", "new-password");
    password.hint = Some("At least 8 characters; not a common password.");
    page.fields = vec![
        field("name", "Your name", "text", "name"),
        field("email", "Email", "email", "email"),
        password,
    ];
    page.links = vec![("/account/sign-in", "Already have an account? Sign in")];
    page
}

pub async fn sign_up_form(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    sign_up_page()
        .render(&state, &shopper, &nonce, &flash)
        .await
}

/// A new account, signed in at once (with the cart). As in the API, the page does not tell
/// whether the address already had an account.
pub async fn sign_up(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<AccountForm>,
) -> Response {
    let email = form.email.trim();
    let name = form.name.trim();
    let page = || sign_up_page().with_values(&[("email", email), ("name", name)]);
    if let Err(e) = souk_app::accounts::register(
        &state.app,
        &client.clone().into(),
        email,
        name,
        form.password.clone(),
    )
    .await
    {
        return match refusal(e, "email") {
            Ok(r) => {
                page()
                    .refused(r.status, r.field, r.message)
                    .render(&state, &shopper, &nonce, &Flash(None))
                    .await
            }
            Err(e) => PageError::from(e).render(&nonce),
        };
    }
    match open_session(
        &state,
        client,
        Panel::Store,
        email,
        &form.password,
        "/account",
        shopper.cart_id,
    )
    .await
    {
        Ok(Ok(mut signed_in)) => {
            signed_in.headers_mut().append(
                header::SET_COOKIE,
                Flash::set("Welcome! We sent you an email to confirm your address."),
            );
            signed_in
        }
        Ok(Err(_)) => {
            let mut page = page();
            page.intro = Some(
                "Check your mailbox: if this address is new, your account is ready to sign in; \
                 if it already has one, sign in with its password instead."
                    .to_owned(),
            );
            page.render(&state, &shopper, &nonce, &Flash(None)).await
        }
        Err(e) => e.render(&nonce),
    }
}

pub async fn sign_out(
    State(state): State<AppState>,
    nonce: CspNonce,
    ShopForm { shopper, .. }: ShopForm<AccountForm>,
) -> Response {
    let Some(who) = shopper.customer else {
        return Redirect::to("/").into_response();
    };
    if let Err(e) = souk_app::accounts::end_session(&state.app, who.user_id, who.session_id).await {
        return PageError::from(e).render(&nonce);
    }
    let mut response = done("/", "You are signed out.");
    for cookie in clear_cookies(&state) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// To the sign-in page, back here afterwards.
fn to_sign_in(here: &str) -> Response {
    let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
    Redirect::to(&format!("/account/sign-in?next={next}")).into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    before: Option<String>,
}

const ORDERS_PER_PAGE: i64 = 20;

/// The account's home: its orders, newest first.
pub async fn home(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<PageQuery>,
) -> Response {
    let Some(who) = shopper.customer.as_ref() else {
        return to_sign_in("/account");
    };
    let before = query
        .before
        .as_deref()
        .and_then(|b| Uuid::parse_str(b).ok());
    let rows = match orders::list(
        &state.db,
        &OrderFilter {
            user_id: Some(who.user_id),
            before,
            limit: ORDERS_PER_PAGE,
            ..Default::default()
        },
    )
    .await
    {
        Ok(rows) => rows,
        Err(e) => return ShopError::from(e).render(&state, &shopper, &nonce).await,
    };
    let older = (rows.len() as i64 == ORDERS_PER_PAGE)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    let ctx = context! {
        title => "Your account", noindex => true,
        name => who.name, email => who.email, verified => who.email_verified,
        orders => rows.iter().map(|o| context! {
            id => o.id.to_string(), number => order_number(&o.id), status => o.status,
            total => money_text(o.total, &o.currency), placed_at => o.placed_at,
        }).collect::<Vec<_>>(),
        older => older,
        ..chrome(&state, &shopper).await
    };
    Page::new("store/account.html", ctx).render(&nonce, &flash)
}

/// The account's signed-in devices, each with a button to end it.
pub async fn sessions(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    let Some(who) = shopper.customer.as_ref() else {
        return to_sign_in("/account/sessions");
    };
    let list = match souk_storage::accounts::list_sessions(&state.db, who.user_id).await {
        Ok(list) => list,
        Err(e) => return ShopError::from(e).render(&state, &shopper, &nonce).await,
    };
    let ctx = context! {
        title => "Where you are signed in", noindex => true,
        sessions => list.iter().map(|s| context! {
            id => s.id.to_string(), current => s.id == who.session_id,
            device => s.user_agent.chars().take(120).collect::<String>(),
            created_at => s.created_at, last_seen_at => s.last_seen_at,
        }).collect::<Vec<_>>(),
        ..chrome(&state, &shopper).await
    };
    Page::new("store/sessions.html", ctx).render(&nonce, &flash)
}

pub async fn end_session(
    State(state): State<AppState>,
    nonce: CspNonce,
    Path(id): Path<String>,
    ShopForm { shopper, .. }: ShopForm<AccountForm>,
) -> Response {
    let Some(who) = shopper.customer.as_ref() else {
        return to_sign_in("/account/sessions");
    };
    let Ok(id) = Uuid::parse_str(&id) else {
        return ShopError::not_found("there is no such session")
            .render(&state, &shopper, &nonce)
            .await;
    };
    match souk_app::accounts::end_session(&state.app, who.user_id, id).await {
        Ok(true) => done("/account/sessions", "That session is ended."),
        Ok(false) => {
            ShopError::not_found("there is no such session")
                .render(&state, &shopper, &nonce)
                .await
        }
        Err(e) => ShopError::from(e).render(&state, &shopper, &nonce).await,
    }
}

fn password_page() -> FormPage {
    let mut page = FormPage::new(
        "Change your password",
        "/account/password",
        "Change password",
    );
    page.intro = Some("Every other device is signed out.".to_owned());
    let mut new = field("new_password", "New password", "password", "new-password");
    new.hint = Some("At least 8 characters; not a common password.");
    page.fields = vec![
        field(
            "current_password",
            "Current password",
            "password",
            "current-password",
        ),
        new,
    ];
    page.links = vec![("/account", "Back to your account")];
    page
}

pub async fn password_form(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    if shopper.customer.is_none() {
        return to_sign_in("/account/password");
    }
    password_page()
        .render(&state, &shopper, &nonce, &flash)
        .await
}

pub async fn change_password(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<AccountForm>,
) -> Response {
    let Some(who) = shopper.customer.as_ref() else {
        return to_sign_in("/account/password");
    };
    match souk_app::accounts::change_password(
        &state.app,
        &client.into(),
        who.user_id,
        &form.current_password,
        form.new_password.clone(),
    )
    .await
    {
        Ok(session) => {
            let mut response = done(
                "/account",
                "Your password is changed; other devices are signed out.",
            );
            for cookie in session_cookies(&state, &session.token) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => match refusal(e, "current_password") {
            Ok(r) => {
                // A wrong current password is reported as 403 by the use case; it is this
                // field's problem.
                let field =
                    if r.status == StatusCode::FORBIDDEN || r.status == StatusCode::UNAUTHORIZED {
                        "current_password".to_owned()
                    } else {
                        r.field
                    };
                password_page()
                    .refused(r.status, field, r.message)
                    .render(&state, &shopper, &nonce, &Flash(None))
                    .await
            }
            Err(e) => ShopError::from(e).render(&state, &shopper, &nonce).await,
        },
    }
}

fn forgot_page() -> FormPage {
    let mut page = FormPage::new(
        "Forgot your password?",
        "/account/forgot-password",
        "Email me a link",
    );
    page.intro = Some("We email you a link to choose a new password.".to_owned());
    page.fields = vec![field("email", "Email", "email", "email")];
    page.links = vec![("/account/sign-in", "Back to sign in")];
    page
}

pub async fn forgot_form(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    forgot_page().render(&state, &shopper, &nonce, &flash).await
}

/// The same answer whether or not the address has an account.
pub async fn forgot(
    State(state): State<AppState>,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<AccountForm>,
) -> Response {
    match souk_app::accounts::request_password_reset(&state.app, form.email.trim()).await {
        Ok(()) => done(
            "/account/sign-in",
            "If an account uses that address, a link to choose a new password is on its way.",
        ),
        Err(e) => match refusal(e, "email") {
            Ok(r) => {
                forgot_page()
                    .with_values(&[("email", form.email.trim())])
                    .refused(r.status, r.field, r.message)
                    .render(&state, &shopper, &nonce, &Flash(None))
                    .await
            }
            Err(e) => ShopError::from(e).render(&state, &shopper, &nonce).await,
        },
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn reset_page(token: &str) -> FormPage {
    let mut page = FormPage::new(
        "Choose a new password",
        "/reset-password",
        "Save the new password",
    );
    let mut password = field("password", "New password", "password", "new-password");
    password.hint = Some("At least 8 characters; not a common password.");
    page.fields = vec![password];
    page.hidden = vec![("token", token.to_owned())];
    page
}

/// The page the password-reset email links to.
pub async fn reset_form(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    Query(query): Query<TokenQuery>,
) -> Response {
    let token: String = query.token.unwrap_or_default().chars().take(200).collect();
    reset_page(&token)
        .render(&state, &shopper, &nonce, &Flash(None))
        .await
}

pub async fn reset(
    State(state): State<AppState>,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<AccountForm>,
) -> Response {
    match souk_app::accounts::confirm_password_reset(
        &state.app,
        form.token.trim(),
        form.password.clone(),
    )
    .await
    {
        Ok(()) => done(
            "/account/sign-in",
            "Your new password is saved: sign in with it.",
        ),
        Err(e) => match refusal(e, "password") {
            Ok(r) => {
                let field = if r.field == "token" {
                    "form".to_owned()
                } else {
                    r.field
                };
                reset_page(&form.token)
                    .refused(r.status, field, r.message)
                    .render(&state, &shopper, &nonce, &Flash(None))
                    .await
            }
            Err(e) => ShopError::from(e).render(&state, &shopper, &nonce).await,
        },
    }
}

/// The page the verification email links to: opening it confirms the address.
pub async fn verify_email(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    Query(query): Query<TokenQuery>,
) -> Response {
    let token = query.token.unwrap_or_default();
    let (status, title, message) =
        match souk_app::accounts::verify_email(&state.app, token.trim()).await {
            Ok(()) => (
                StatusCode::OK,
                "Email confirmed",
                "Thank you: your email address is confirmed.",
            ),
            Err(souk_app::AppError::Refused { .. }) => (
                StatusCode::BAD_REQUEST,
                "Link expired",
                "This link is not valid any more. Sign in to get a new one sent.",
            ),
            Err(e) => return ShopError::from(e).render(&state, &shopper, &nonce).await,
        };
    let ctx = context! {
        title => title, message => message, noindex => true,
        ..chrome(&state, &shopper).await
    };
    Page::new("store/message.html", ctx)
        .with_status(status)
        .render(&nonce, &Flash(None))
}

fn lookup_page() -> FormPage {
    let mut page = FormPage::new("Find your order", "/orders/lookup", "Email me the link");
    page.intro = Some(
        "Ordered without an account? Give the email you ordered with and the order number \
         from its confirmation (like #1A2B3C4D): we email you the link to the order."
            .to_owned(),
    );
    page.fields = vec![
        field("email", "Email", "email", "email"),
        field("number", "Order number", "text", "off"),
    ];
    page
}

pub async fn lookup_form(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    lookup_page().render(&state, &shopper, &nonce, &flash).await
}

/// The same answer whether or not an order matches (nobody learns who ordered).
pub async fn lookup(
    State(state): State<AppState>,
    client: ClientInfo,
    nonce: CspNonce,
    ShopForm { shopper, form }: ShopForm<AccountForm>,
) -> Response {
    match souk_app::orders::request_order_link(
        &state.app,
        &form.email,
        &form.number,
        &client.address_key(),
    )
    .await
    {
        Ok(()) => done(
            "/orders/lookup",
            "If an order matches, its link is on its way to that address.",
        ),
        Err(e) => ShopError::from(e).render(&state, &shopper, &nonce).await,
    }
}
