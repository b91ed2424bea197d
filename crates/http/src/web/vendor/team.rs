//! The shop's team: who is on its staff, the invitations sent, inviting someone by email and
//! taking a staff member off (owners only, as in the API); and the page the invitation email
//! links to, where the invited person joins.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use uuid::Uuid;

use super::{SellerSession, VendorForm, VendorSession, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::panel::{ActionForm, Confirm, done, refusal, with_problem};
use crate::web::session::{CsrfField, SignedForm};
use crate::web::{CspNonce, Flash, Page, PageError};

const INVITATIONS_SHOWN: i64 = 50;

fn owners_only(nonce: &CspNonce) -> Response {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Not allowed",
        "only the shop's owners manage its team",
    )
    .render(nonce)
}

async fn team_page(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    flash: &Flash,
    typed_email: &str,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let vendor = session.vendor_id;
    let members = souk_storage::vendors::members(&state.db, vendor).await;
    let invitations =
        souk_storage::vendors::invitations(&state.db, vendor, None, INVITATIONS_SHOWN).await;
    let (members, invitations) = match (members, invitations) {
        (Ok(m), Ok(i)) => (m, i),
        (Err(e), _) | (_, Err(e)) => return PageError::from(e).render(nonce),
    };
    let now = souk_storage::now_ms();
    let (status, problem) = with_problem(problem);
    let ctx = context! {
        members => members.iter().map(|m| context! {
            user_id => m.user_id.to_string(), name => m.name, email => m.email, role => m.role,
            joined_at => m.created_at, me => m.user_id == session.principal.user_id,
        }).collect::<Vec<_>>(),
        invitations => invitations.iter().map(|i| context! {
            id => i.id.to_string(), email => i.email, status => i.status(now),
            created_at => i.created_at, expires_at => i.expires_at,
        }).collect::<Vec<_>>(),
        owner => session.is_owner(),
        email => typed_email,
        problem => problem,
        ..chrome(&session.principal, &session.csrf, "team")
    };
    Page::new("vendor/team.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn show(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    team_page(&state, &session, &nonce, &flash, "", None).await
}

#[derive(Debug, Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

impl CsrfField for InviteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn invite(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    VendorForm { session, form }: VendorForm<InviteForm>,
) -> Response {
    if !session.is_owner() {
        return owners_only(&nonce);
    }
    let who = actor(&session.principal, &client);
    match souk_app::vendors::invite(&state.app, &who, session.vendor_id, &form.email).await {
        Ok(invitation) => done(
            "/vendor/team",
            &format!("Invitation sent to {}.", invitation.email),
        ),
        Err(e) => match refusal(e, "email") {
            Ok(r) => {
                let problem = Some((
                    r.status,
                    context! { field => r.field, message => r.message },
                ));
                team_page(&state, &session, &nonce, &Flash(None), &form.email, problem).await
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

pub async fn revoke(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    Path(id): Path<String>,
    VendorForm { session, .. }: VendorForm<ActionForm>,
) -> Response {
    if !session.is_owner() {
        return owners_only(&nonce);
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return PageError::not_found("no such invitation").render(&nonce);
    };
    let who = actor(&session.principal, &client);
    match souk_app::vendors::revoke_invitation(&state.app, &who, session.vendor_id, id).await {
        Ok(()) => done(
            "/vendor/team",
            "Invitation revoked: its link no longer works.",
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

/// The staff member `user` of this shop (not an owner), or 404.
async fn staff_member(
    state: &AppState,
    session: &VendorSession,
    user: &str,
) -> Result<souk_storage::vendors::MemberRecord, PageError> {
    let user = Uuid::parse_str(user).map_err(|_| PageError::not_found("no such staff member"))?;
    souk_storage::vendors::members(&state.db, session.vendor_id)
        .await?
        .into_iter()
        .find(|m| m.user_id == user && m.role == "staff")
        .ok_or_else(|| PageError::not_found("no such staff member"))
}

/// "Remove this person from the team?"
pub async fn confirm_remove(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    Path(user): Path<String>,
) -> Response {
    if !session.is_owner() {
        return owners_only(&nonce);
    }
    let member = match staff_member(&state, &session, &user).await {
        Ok(m) => m,
        Err(e) => return e.render(&nonce),
    };
    let ctx = context! {
        confirm => Confirm {
            title: format!("Remove {} ({}) from the team?", member.name, member.email),
            explain: vec!["From their next click they can no longer see or ship the shop's orders. They keep their account.".to_owned()],
            action: format!("/vendor/team/members/{}/remove", member.user_id),
            button: "Remove from the team".to_owned(),
            back: "/vendor/team".to_owned(),
            ..Default::default()
        },
        ..chrome(&session.principal, &session.csrf, "team")
    };
    Page::new("panel/confirm.html", ctx).render(&nonce, &Flash(None))
}

pub async fn remove(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    Path(user): Path<String>,
    VendorForm { session, form }: VendorForm<ActionForm>,
) -> Response {
    if !session.is_owner() {
        return owners_only(&nonce);
    }
    let member = match staff_member(&state, &session, &user).await {
        Ok(m) => m,
        Err(e) => return e.render(&nonce),
    };
    if !form.confirmed() {
        return Redirect::to(&format!("/vendor/team/members/{}/remove", member.user_id))
            .into_response();
    }
    let who = actor(&session.principal, &client);
    match souk_app::vendors::remove_staff(&state.app, &who, session.vendor_id, member.user_id).await
    {
        Ok(()) => done(
            "/vendor/team",
            &format!("{} is no longer on the team.", member.email),
        ),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct AcceptQuery {
    #[serde(default)]
    token: String,
}

/// Where the invitation email leads: "Join the shop?" for whoever is signed in (someone not
/// signed in is sent to sign in or up first, and comes back here).
pub async fn accept_form(
    session: SellerSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<AcceptQuery>,
) -> Response {
    let ctx = context! {
        token => query.token.chars().take(200).collect::<String>(),
        ..chrome(&session.principal, &session.csrf, "join")
    };
    Page::new("vendor/join.html", ctx).render(&nonce, &flash)
}

#[derive(Debug, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    token: String,
}

impl CsrfField for AcceptForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn accept(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    SignedForm { session, form }: SignedForm<SellerSession, AcceptForm>,
) -> Response {
    let who = actor(&session.principal, &client);
    match souk_app::vendors::accept_invitation(&state.app, &who, form.token.trim()).await {
        Ok(_) => done("/vendor", "Welcome to the team."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
