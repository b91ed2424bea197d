//! The admin panel under `/admin`: sign-in, the home page, orders. Each handler reads the
//! request, calls one use case (or a read), and renders a page; a refused action shows the form
//! again with the message beside its field.

mod catalog;
mod customers;
mod integrations;
mod money;
mod operations;
mod order_actions;
mod orders;
mod session;
mod storefront;
mod vendor_money;
mod vendors;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use minijinja::context;

pub(crate) use crate::web::panel::{
    ActionForm, Confirm, bad_cursor, cursor, done, next_cursor, refusal, with_problem,
};
pub use crate::web::session::CsrfField;
pub use session::{AdminForm, AdminSession};

use super::{CspNonce, Flash, Page, PageError};
use crate::AppState;
use crate::web::sign_in::{self, Panel};
use crate::web::webhooks;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route(
            "/admin/sign-in",
            get(|nonce, flash, query| sign_in::sign_in_form(Panel::Admin, nonce, flash, query))
                .post(|state, headers, client, nonce, form| {
                    sign_in::sign_in(Panel::Admin, state, headers, client, nonce, form)
                }),
        )
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/orders", get(orders::list))
        .route("/admin/orders.csv", get(orders::export))
        .route("/admin/orders/{id}", get(orders::show))
        .route(
            "/admin/orders/{id}/payment",
            post(order_actions::record_payment),
        )
        .route("/admin/orders/{id}/refund", post(order_actions::refund))
        .route(
            "/admin/orders/{id}/cancel",
            get(order_actions::confirm_cancel).post(order_actions::cancel),
        )
        .route("/admin/orders/{id}/complete", post(order_actions::complete))
        .route("/admin/vendors", get(vendors::list))
        .route("/admin/vendors/{id}", get(vendor_money::show))
        .route(
            "/admin/vendors/{id}/commission",
            post(vendor_money::set_commission),
        )
        .route(
            "/admin/vendors/{id}/payouts",
            post(vendor_money::record_payout),
        )
        .route("/admin/payouts.csv", get(vendor_money::payout_report))
        .route("/admin/vendors/{id}/approve", post(vendors::approve))
        .route(
            "/admin/vendors/{id}/suspend",
            get(vendors::confirm_suspend).post(vendors::suspend),
        )
        .route("/admin/products", get(catalog::products))
        .route(
            "/admin/products/{id}/status",
            get(catalog::confirm_status).post(catalog::set_status),
        )
        .route(
            "/admin/categories",
            get(catalog::categories).post(catalog::create_category),
        )
        .route("/admin/categories/{id}", post(catalog::update_category))
        .route(
            "/admin/categories/{id}/delete",
            get(catalog::confirm_delete_category).post(catalog::delete_category),
        )
        .route("/admin/money", get(money::show))
        .route(
            "/admin/storefront",
            get(storefront::show).post(storefront::save),
        )
        .route("/admin/storefront/logo", post(storefront::upload_logo))
        .route(
            "/admin/storefront/logo/remove",
            post(storefront::remove_logo),
        )
        .route("/admin/coupons", post(money::create_coupon))
        .route("/admin/coupons/{id}/active", post(money::set_coupon_active))
        .route("/admin/tax-rates", post(money::put_tax_rate))
        .route("/admin/customers", get(customers::list))
        .route("/admin/customers/{id}", get(customers::show))
        .route(
            "/admin/customers/{id}/disable",
            get(customers::confirm_disable).post(customers::disable),
        )
        .route("/admin/customers/{id}/enable", post(customers::enable))
        .route(
            "/admin/customers/{id}/sessions/{session}/end",
            post(customers::end_session),
        )
        .route("/admin/sessions", get(customers::my_sessions))
        .route(
            "/admin/sessions/{session}/end",
            post(customers::end_my_session),
        )
        .merge(webhooks::routes::<AdminSession>())
        .route(
            "/admin/api-keys",
            get(integrations::api_keys).post(integrations::create_api_key),
        )
        .route(
            "/admin/api-keys/{id}/revoke",
            get(integrations::confirm_revoke).post(integrations::revoke_api_key),
        )
        .route(
            "/admin/email",
            get(integrations::email_form).post(integrations::send_test_email),
        )
        .route("/admin/email/{id}", get(integrations::email_result))
        .route("/admin/jobs", get(operations::jobs))
        .route("/admin/jobs/{id}/retry", post(operations::retry_job))
        .route("/admin/audit", get(operations::audit))
        .route("/admin/feed", get(operations::feed))
        .route("/admin/search", get(operations::search))
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
            failing_endpoints => w.failing_endpoints,
            low_stock_variants => w.low_stock_variants,
        },
        low_stock_counted => souk_storage::dashboard::LOW_STOCK_COUNTED,
        chart => minijinja::Value::from_safe_string(
            crate::web::chart::sales_svg(&home.by_day, state.config.currency.code()),
        ),
        sales => sales,
        latest => latest,
        ..chrome(&session, "home")
    };
    Page::new("admin/home.html", ctx).render(&nonce, &flash)
}

async fn sign_out(
    State(state): State<AppState>,
    nonce: CspNonce,
    AdminForm { session, .. }: AdminForm<ActionForm>,
) -> Response {
    sign_in::sign_out(&state, &nonce, Panel::Admin, &session.principal).await
}
