//! The storefront's branding in the admin panel: the shop's name, tagline, accent colour,
//! footer links and logo. The storefront shows a change at once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;
use souk_app::shop::BrandingInput;

use super::{ActionForm, AdminForm, AdminSession, CsrfField, chrome, done, refusal};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::{CspNonce, Flash, Page, PageError};

/// Footer link rows the form offers.
const LINK_ROWS: usize = souk_domain::branding::MAX_FOOTER_LINKS;

async fn page(
    state: &AppState,
    session: &AdminSession,
    nonce: &CspNonce,
    flash: &Flash,
    typed: Option<&BrandingForm>,
    problems: Option<(StatusCode, Vec<(String, String)>)>,
) -> Response {
    let branding = match souk_app::shop::branding(&state.app).await {
        Ok(b) => b,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let form = match typed {
        Some(f) => f.clone(),
        None => BrandingForm {
            shop_name: if branding.custom_name {
                branding.shop_name.clone()
            } else {
                String::new()
            },
            tagline: branding.tagline.clone(),
            accent_color: branding.accent_color.clone().unwrap_or_default(),
            links: branding
                .footer_links
                .iter()
                .map(|l| (l.label.clone(), l.url.clone()))
                .collect(),
            ..BrandingForm::default()
        },
    };
    let mut links = form.links.clone();
    links.resize(
        LINK_ROWS.max(links.len() + 1).min(LINK_ROWS),
        Default::default(),
    );
    let (status, problems) = problems.unwrap_or((StatusCode::OK, Vec::new()));
    let ctx = context! {
        form => context! {
            shop_name => form.shop_name, tagline => form.tagline, accent_color => form.accent_color,
        },
        links => links,
        server_name => state.app.settings.shop_name,
        logo_url => branding.logo_url,
        problems => problems.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
        ..chrome(session, "storefront")
    };
    Page::new("admin/storefront.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

pub async fn show(
    State(state): State<AppState>,
    session: AdminSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    page(&state, &session, &nonce, &flash, None, None).await
}

/// The branding form: footer links arrive as `link{i}.label` / `link{i}.url`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(from = "std::collections::HashMap<String, String>")]
pub struct BrandingForm {
    csrf: String,
    shop_name: String,
    tagline: String,
    accent_color: String,
    links: Vec<(String, String)>,
}

impl From<std::collections::HashMap<String, String>> for BrandingForm {
    fn from(mut m: std::collections::HashMap<String, String>) -> Self {
        let mut take = |k: &str| m.remove(k).unwrap_or_default();
        let mut form = BrandingForm {
            csrf: take("csrf"),
            shop_name: take("shop_name"),
            tagline: take("tagline"),
            accent_color: take("accent_color"),
            links: Vec::new(),
        };
        for i in 0..LINK_ROWS {
            form.links.push((
                take(&format!("link{i}.label")),
                take(&format!("link{i}.url")),
            ));
        }
        form
    }
}

impl CsrfField for BrandingForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

pub async fn save(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    AdminForm { session, form }: AdminForm<BrandingForm>,
) -> Response {
    let who = actor(&session.principal, &client);
    let input = BrandingInput {
        shop_name: form.shop_name.clone(),
        tagline: form.tagline.clone(),
        accent_color: form.accent_color.clone(),
        footer_links: form.links.clone(),
    };
    match souk_app::shop::update_branding(&state.app, &who, input).await {
        Ok(_) => done("/admin/storefront", "Saved: the storefront shows it now."),
        // Every field's problem at once, each beside its field (`footer_links[2]` is link 2).
        Err(souk_app::AppError::Refused {
            kind: souk_app::Kind::Invalid,
            fields,
            ..
        }) => {
            let problems = fields
                .into_iter()
                .map(|f| {
                    let field = f
                        .field
                        .strip_prefix("footer_links[")
                        .and_then(|rest| rest.strip_suffix(']'))
                        .map_or(f.field.clone(), |i| format!("link{i}"));
                    (field, f.message)
                })
                .collect();
            page(
                &state,
                &session,
                &nonce,
                &Flash(None),
                Some(&form),
                Some((StatusCode::UNPROCESSABLE_ENTITY, problems)),
            )
            .await
        }
        Err(e) => PageError::from(e).render(&nonce),
    }
}

/// The logo upload (`multipart/form-data`: `csrf`, `logo`).
pub async fn upload_logo(
    State(state): State<AppState>,
    session: AdminSession,
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
                    Err(e) => return crate::web::vendor::logo_unreadable(&nonce, e.status()),
                },
                _ => {}
            },
            Ok(None) => break,
            Err(e) => return crate::web::vendor::logo_unreadable(&nonce, e.status()),
        }
    }
    if !crate::web::session::genuine_form(&state, &headers, &session.csrf, &csrf) {
        return crate::web::session::csrf_refused(&nonce);
    }
    let refused = |message: String, status: StatusCode| {
        let problems = Some((status, vec![("logo".to_owned(), message)]));
        page(&state, &session, &nonce, &Flash(None), None, problems)
    };
    if logo.is_empty() {
        return refused(
            "choose an image for the logo".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let who = actor(&session.principal, &client);
    match souk_app::shop::set_logo(&state.app, &who, Some(logo)).await {
        Ok(_) => done(
            "/admin/storefront",
            "Logo saved: the storefront shows it now.",
        ),
        Err(e) => match refusal(e, "logo") {
            Ok(r) => refused(r.message, r.status).await,
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

pub async fn remove_logo(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    let who = actor(&session.principal, &client);
    match souk_app::shop::set_logo(&state.app, &who, None).await {
        Ok(_) => done("/admin/storefront", "Logo removed."),
        Err(e) => PageError::from(e).render(&nonce),
    }
}
