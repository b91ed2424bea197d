//! The vendor dashboard under `/vendor`: where a seller signs up, applies, and (once approved)
//! runs its shop. It shares the admin panel's foundation (sessions, CSRF, CSP, layout, assets)
//! and calls the same use cases as `/api/vendor`.

mod editor;
mod images;
mod imports;
mod inventory;
mod money;
mod orders;
mod products;
mod shop;
pub(crate) use shop::logo_unreadable;
mod team;

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::{Value, context};
use serde::Deserialize;

use super::panel::{ActionForm, refusal};
use super::session::{CsrfField, PanelSession, SignedForm, signed_in, to_sign_in};
use super::sign_in::{self, Panel};
use super::{CspNonce, Flash, Page, PageError};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::auth::{Membership, Principal};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/vendor", get(home))
        .route(
            "/vendor/sign-in",
            get(|nonce, flash, query| sign_in::sign_in_form(Panel::Vendor, nonce, flash, query))
                .post(|state, headers, client, nonce, form| {
                    sign_in::sign_in(Panel::Vendor, state, headers, client, nonce, form)
                }),
        )
        .route(
            "/vendor/sign-up",
            get(sign_in::sign_up_form).post(sign_in::sign_up),
        )
        .route("/vendor/sign-out", post(sign_out))
        .route("/vendor/apply", get(apply_form).post(apply))
        .route("/vendor/orders", get(orders::list))
        .route("/vendor/orders/{id}", get(orders::show))
        .route("/vendor/orders/{id}/fulfil", post(orders::fulfil))
        .route(
            "/vendor/orders/{id}/tracking",
            post(orders::correct_tracking),
        )
        .merge(crate::web::webhooks::routes::<VendorSession>())
        .route("/vendor/products", get(products::list))
        .route(
            "/vendor/products/new",
            get(editor::new_product).post(editor::create),
        )
        .route(
            "/vendor/products/{id}",
            get(editor::edit_product).post(editor::update),
        )
        .route("/vendor/products/{id}/images", post(images::upload))
        .route(
            "/vendor/products/import",
            get(imports::show_form).post(imports::start),
        )
        .route("/vendor/products/export.csv", get(imports::export))
        .route("/vendor/imports/{id}", get(imports::show))
        .route("/vendor/imports/{id}/progress", get(imports::progress))
        .route(
            "/vendor/inventory",
            get(inventory::show).post(inventory::save),
        )
        .route(
            "/vendor/products/{id}/archive",
            get(products::confirm_archive).post(products::archive),
        )
        .route("/vendor/money", get(money::show))
        .route(
            "/vendor/shop",
            get(shop::profile).post(shop::update_profile),
        )
        .route("/vendor/shop/logo", post(shop::upload_logo))
        .route("/vendor/shop/logo/remove", post(shop::remove_logo))
        .route("/vendor/team", get(team::show))
        .route("/vendor/team/invite", post(team::invite))
        .route("/vendor/team/invitations/{id}/revoke", post(team::revoke))
        .route(
            "/vendor/team/members/{user}/remove",
            get(team::confirm_remove).post(team::remove),
        )
        .route(
            "/vendor/invitations/accept",
            get(team::accept_form).post(team::accept),
        )
        .route("/vendor/shipping", get(shop::rates).post(shop::create_rate))
        .route(
            "/vendor/shipping/{id}/delete",
            get(shop::confirm_delete_rate).post(shop::delete_rate),
        )
        .route("/vendor/statement.csv", get(money::statement))
}

/// Someone signed in to the dashboard, selling or not yet. Anyone else is sent to sign in.
pub struct SellerSession {
    pub principal: Principal,
    pub csrf: String,
}

impl FromRequestParts<AppState> for SellerSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let nonce = CspNonce::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        match signed_in(parts, state, &nonce).await? {
            Some(s) => Ok(SellerSession {
                principal: s.principal,
                csrf: s.csrf,
            }),
            None => Err(to_sign_in(parts, Panel::Vendor.sign_in_path())),
        }
    }
}

impl PanelSession for SellerSession {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Staff of an approved vendor: every page that acts for a shop. Someone without a shop is
/// sent to apply; one whose shop awaits approval to the home page (which says so); staff of a
/// suspended shop get 403.
pub struct VendorSession {
    pub principal: Principal,
    pub csrf: String,
    pub vendor_id: uuid::Uuid,
}

impl FromRequestParts<AppState> for VendorSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let nonce = CspNonce::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let seller = SellerSession::from_request_parts(parts, state).await?;
        let Some(Membership {
            vendor_id,
            vendor_status,
            ..
        }) = seller.principal.vendor.clone()
        else {
            return Err(Redirect::to("/vendor/apply").into_response());
        };
        match vendor_status.as_str() {
            "active" => Ok(VendorSession {
                principal: seller.principal,
                csrf: seller.csrf,
                vendor_id,
            }),
            "suspended" => Err(suspended(&nonce)),
            _ => Err(Redirect::to("/vendor").into_response()),
        }
    }
}

impl VendorSession {
    /// Whether the signed-in person owns the shop (owners edit its profile and its staff).
    pub fn is_owner(&self) -> bool {
        self.principal
            .vendor
            .as_ref()
            .is_some_and(|m| m.role == "owner")
    }
}

impl PanelSession for VendorSession {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl crate::web::webhooks::WebhookPanel for VendorSession {
    const PAGES: &'static str = "/vendor/webhooks";

    fn owner(&self) -> souk_storage::webhooks::Owner {
        souk_storage::webhooks::Owner::Vendor(self.vendor_id)
    }

    fn principal(&self) -> &Principal {
        &self.principal
    }

    fn chrome(&self) -> Value {
        chrome(&self.principal, &self.csrf, "webhooks")
    }
}

/// A vendor's form, already checked (see [`SignedForm`]).
pub type VendorForm<T> = SignedForm<VendorSession, T>;

fn suspended(nonce: &CspNonce) -> Response {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Shop suspended",
        "the marketplace has suspended this shop; its staff cannot use the dashboard until it is \
         reinstated. Write to the marketplace's staff.",
    )
    .render(nonce)
}

/// What the layout needs on every signed-in page.
fn chrome(principal: &Principal, csrf: &str, section: &str) -> Value {
    context! {
        seller => context! { name => principal.name, email => principal.email },
        selling => principal.vendor.as_ref().is_some_and(|m| m.vendor_status == "active"),
        layout => "vendor/base.html",
        csrf => csrf,
        section => section,
    }
}

async fn sign_out(
    State(state): State<AppState>,
    nonce: CspNonce,
    SignedForm { session, .. }: SignedForm<SellerSession, ActionForm>,
) -> Response {
    sign_in::sign_out(&state, &nonce, Panel::Vendor, &session.principal).await
}

async fn home(
    State(state): State<AppState>,
    session: SellerSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    let Some(membership) = session.principal.vendor.clone() else {
        return Redirect::to("/vendor/apply").into_response();
    };
    match membership.vendor_status.as_str() {
        "active" => {}
        "suspended" => return suspended(&nonce),
        _ => {
            let vendor = match souk_storage::vendors::profile(&state.db, membership.vendor_id).await
            {
                Ok(Some(v)) => v,
                Ok(None) => return PageError::not_found("no such shop").render(&nonce),
                Err(e) => return PageError::from(e).render(&nonce),
            };
            let ctx = context! {
                shop => context! { name => vendor.name, handle => vendor.handle },
                ..chrome(&session.principal, &session.csrf, "home")
            };
            return Page::new("vendor/awaiting.html", ctx).render(&nonce, &flash);
        }
    }
    let home = match souk_app::dashboard::vendor_home(&state.app, membership.vendor_id).await {
        Ok(home) => home,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    // The live announcements start after the newest event there is now.
    let after = match souk_storage::events::latest(&state.db, 1).await {
        Ok(rows) => rows.first().map_or(0, |e| e.id),
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let currency = state.config.currency.code();
    let w = home.waiting;
    let b = &home.balance;
    let ctx = context! {
        currency => currency,
        shop => context! { name => b.vendor_name },
        waiting => context! {
            orders_to_ship => w.orders_to_ship,
            orders_awaiting_payment => w.orders_awaiting_payment,
            low_stock_variants => w.low_stock_variants,
        },
        low_stock_counted => souk_storage::dashboard::LOW_STOCK_COUNTED,
        balance => context! {
            available => b.available, earned => b.earned, commission => b.commission,
            paid_out => b.paid_out, pending => b.pending,
        },
        last_payout => home.last_payout.as_ref().map(|p| context! {
            amount => p.amount, currency => p.currency, created_at => p.created_at,
        }),
        sales => home.sales.iter()
            .map(|s| context! { days => s.days, orders => s.orders, total => s.total })
            .collect::<Vec<_>>(),
        chart => Value::from_safe_string(super::chart::sales_svg(&home.by_day, currency)),
        latest => home.latest.iter().map(|d| orders::summary(d, currency)).collect::<Vec<_>>(),
        after => after,
        ..chrome(&session.principal, &session.csrf, "home")
    };
    Page::new("vendor/home.html", ctx).render(&nonce, &flash)
}

async fn apply_form(session: SellerSession, nonce: CspNonce, flash: Flash) -> Response {
    if session.principal.vendor.is_some() {
        return Redirect::to("/vendor").into_response();
    }
    apply_page(&session, &nonce, &flash, &ApplyForm::default(), None)
}

#[derive(Debug, Default, Deserialize)]
struct ApplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    handle: String,
}

impl CsrfField for ApplyForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

fn apply_page(
    session: &SellerSession,
    nonce: &CspNonce,
    flash: &Flash,
    form: &ApplyForm,
    problem: Option<(StatusCode, Value)>,
) -> Response {
    let (status, problem) = super::panel::with_problem(problem);
    let ctx = context! {
        form => context! { name => form.name, handle => form.handle },
        problem => problem,
        ..chrome(&session.principal, &session.csrf, "apply")
    };
    Page::new("vendor/apply.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

/// Applies to sell with a shop name and handle; the shop waits for the marketplace's approval.
async fn apply(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    SignedForm { session, form }: SignedForm<SellerSession, ApplyForm>,
) -> Response {
    let who = actor(&session.principal, &client);
    match souk_app::vendors::apply(&state.app, &who, &form.name, &form.handle).await {
        Ok(_) => super::panel::done("/vendor", "Application sent: the marketplace reviews it."),
        Err(e) => match refusal(e, "name") {
            Ok(r) => {
                let problem = context! { field => r.field, message => r.message };
                apply_page(
                    &session,
                    &nonce,
                    &Flash(None),
                    &form,
                    Some((r.status, problem)),
                )
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}
