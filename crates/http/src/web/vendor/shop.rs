//! The shop's settings: its public profile (name, description) and its shipping options.
//! Owners edit the profile (as in the API); any staff manage shipping options.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::AppError;
use souk_app::shipping::RateDraft;
use souk_domain::money::parse_decimal;
use uuid::Uuid;

use super::{VendorForm, VendorSession, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::panel::{ActionForm, Confirm, done, refusal, with_problem};
use crate::web::session::CsrfField;
use crate::web::{CspNonce, Flash, Page, PageError};

#[derive(Debug, Default, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

impl CsrfField for ProfileForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The profile page; `typed` and `problem` show a refused edit again.
async fn profile_page(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    flash: &Flash,
    typed: Option<&ProfileForm>,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let vendor = match souk_storage::vendors::profile(&state.db, session.vendor_id).await {
        Ok(Some(v)) => v,
        Ok(None) => return PageError::not_found("no such shop").render(nonce),
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (status, problem) = with_problem(problem);
    let ctx = context! {
        shop => context! {
            handle => vendor.handle,
            name => typed.map_or(vendor.name.clone(), |t| t.name.clone()),
            description => typed.map_or(vendor.description.clone(), |t| t.description.clone()),
            logo_url => vendor.logo_url,
        },
        owner => session.is_owner(),
        problem => problem,
        ..chrome(&session.principal, &session.csrf, "shop")
    };
    Page::new("vendor/shop.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn profile(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    profile_page(&state, &session, &nonce, &flash, None, None).await
}

pub async fn update_profile(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    VendorForm { session, form }: VendorForm<ProfileForm>,
) -> Response {
    if !session.is_owner() {
        return not_owner(&nonce);
    }
    let who = actor(&session.principal, &client);
    let updated = souk_app::vendors::update_profile(
        &state.app,
        &who,
        session.vendor_id,
        Some(&form.name),
        Some(&form.description),
    )
    .await;
    match updated {
        Ok(_) => done(
            "/vendor/shop",
            "Shop profile saved: the storefront shows it now.",
        ),
        Err(e) => match refusal(e, "name") {
            Ok(r) => {
                let problem = context! { field => r.field, message => r.message };
                let flash = Flash(None);
                let problem = Some((r.status, problem));
                profile_page(&state, &session, &nonce, &flash, Some(&form), problem).await
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

/// The logo upload (`multipart/form-data`: `csrf`, `logo`); owners only.
pub async fn upload_logo(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    client: ClientInfo,
    headers: axum::http::HeaderMap,
    mut multipart: axum::extract::Multipart,
) -> Response {
    let mut csrf = String::new();
    let mut logo = Vec::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("csrf") => csrf = field.text().await.unwrap_or_default(),
                Some("logo") => match field.bytes().await {
                    Ok(bytes) => logo = bytes.to_vec(),
                    Err(e) => return logo_unreadable(&nonce, e.status()),
                },
                _ => {}
            },
            Ok(None) => break,
            Err(e) => return logo_unreadable(&nonce, e.status()),
        }
    }
    if !crate::web::session::genuine_form(&state, &headers, &session.csrf, &csrf) {
        return crate::web::session::csrf_refused(&nonce);
    }
    if !session.is_owner() {
        return not_owner(&nonce);
    }
    let refused = |message: String, status: StatusCode| {
        let problem = Some((status, context! { field => "logo", message => message }));
        profile_page(&state, &session, &nonce, &Flash(None), None, problem)
    };
    if logo.is_empty() {
        return refused(
            "choose an image for the logo".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let who = actor(&session.principal, &client);
    match souk_app::vendors::set_logo(&state.app, &who, session.vendor_id, Some(logo)).await {
        Ok(_) => done("/vendor/shop", "Logo saved: your shop's pages show it now."),
        Err(e) => match refusal(e, "logo") {
            Ok(r) => refused(r.message, r.status).await,
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

pub(crate) fn logo_unreadable(nonce: &CspNonce, status: StatusCode) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "File too large",
            "a logo may be at most 20 MB",
        )
        .render(nonce);
    }
    crate::web::session::csrf_refused(nonce)
}

pub async fn remove_logo(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    VendorForm { session, .. }: VendorForm<ActionForm>,
) -> Response {
    if !session.is_owner() {
        return not_owner(&nonce);
    }
    let who = actor(&session.principal, &client);
    match souk_app::vendors::set_logo(&state.app, &who, session.vendor_id, None).await {
        Ok(_) => done("/vendor/shop", "Logo removed."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}

fn not_owner(nonce: &CspNonce) -> Response {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Not allowed",
        "only the shop's owners edit its profile",
    )
    .render(nonce)
}

#[derive(Debug, Default, Deserialize)]
pub struct RateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    per_kg: String,
}

impl CsrfField for RateForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn rates_page(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    flash: &Flash,
    typed: Option<&RateForm>,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let rates = match souk_storage::rates::shipping_rates(&state.db, session.vendor_id).await {
        Ok(rates) => rates,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (status, problem) = with_problem(problem);
    let blank = RateForm {
        kind: "flat".to_owned(),
        ..RateForm::default()
    };
    let t = typed.unwrap_or(&blank);
    let ctx = context! {
        currency => state.config.currency.code(),
        rates => rates.iter().map(|r| context! {
            id => r.id.to_string(), name => r.name, kind => r.kind, amount => r.amount,
            threshold => r.threshold, per_kg => r.per_kg,
        }).collect::<Vec<_>>(),
        form => context! {
            name => t.name, kind => t.kind, amount => t.amount, threshold => t.threshold,
            per_kg => t.per_kg,
        },
        problem => problem,
        ..chrome(&session.principal, &session.csrf, "shipping")
    };
    Page::new("vendor/shipping.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn rates(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    rates_page(&state, &session, &nonce, &flash, None, None).await
}

/// The form as the use case takes it: amounts typed as decimals (`4.95`).
fn draft(form: &RateForm, currency: souk_domain::money::Currency) -> Result<RateDraft, AppError> {
    let money = |field: &str, text: &str| -> Result<Option<i64>, AppError> {
        match text.trim() {
            "" => Ok(None),
            t => parse_decimal(t, currency)
                .map(Some)
                .map_err(|e| AppError::field(field, e.to_string())),
        }
    };
    Ok(RateDraft {
        name: form.name.clone(),
        kind: form.kind.clone(),
        amount: money("amount", &form.amount)?.unwrap_or(0),
        threshold: money("threshold", &form.threshold)?,
        per_kg: money("per_kg", &form.per_kg)?,
    })
}

pub async fn create_rate(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    VendorForm { session, form }: VendorForm<RateForm>,
) -> Response {
    let who = actor(&session.principal, &client);
    let created = match draft(&form, state.config.currency) {
        Ok(d) => souk_app::shipping::create(&state.app, &who, session.vendor_id, &d).await,
        Err(e) => Err(e),
    };
    match created {
        Ok(rate) => done(
            "/vendor/shipping",
            &format!("Shipping option “{}” added.", rate.name),
        ),
        Err(e) => match refusal(e, "name") {
            Ok(r) => {
                let problem = context! { field => r.field, message => r.message };
                let problem = Some((r.status, problem));
                rates_page(&state, &session, &nonce, &Flash(None), Some(&form), problem).await
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

/// "Remove this shipping option?"
pub async fn confirm_delete_rate(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    Path(id): Path<String>,
) -> Response {
    let rates = match souk_storage::rates::shipping_rates(&state.db, session.vendor_id).await {
        Ok(rates) => rates,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let Some(rate) = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| rates.into_iter().find(|r| r.id == id))
    else {
        return PageError::not_found("no such shipping option").render(&nonce);
    };
    let ctx = context! {
        confirm => Confirm {
            title: format!("Remove the shipping option “{}”?", rate.name),
            explain: vec!["Carts that chose it switch to your cheapest option; orders already placed keep theirs.".to_owned()],
            action: format!("/vendor/shipping/{}/delete", rate.id),
            button: "Remove the option".to_owned(),
            back: "/vendor/shipping".to_owned(),
            ..Default::default()
        },
        ..chrome(&session.principal, &session.csrf, "shipping")
    };
    Page::new("panel/confirm.html", ctx).render(&nonce, &Flash(None))
}

pub async fn delete_rate(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    Path(id): Path<String>,
    VendorForm { session, form }: VendorForm<ActionForm>,
) -> Response {
    let Ok(id) = Uuid::parse_str(&id) else {
        return PageError::not_found("no such shipping option").render(&nonce);
    };
    if !form.confirmed() {
        return Redirect::to(&format!("/vendor/shipping/{id}/delete")).into_response();
    }
    let who = actor(&session.principal, &client);
    match souk_app::shipping::delete(&state.app, &who, session.vendor_id, id).await {
        Ok(()) => done("/vendor/shipping", "Shipping option removed."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
