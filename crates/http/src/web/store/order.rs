//! An order's page, for its customer: the one checkout leads to and the one its emails link to
//! (`/orders/{id}?access_token=…`). It shows what was bought from whom, what was paid, and each
//! parcel; with JavaScript it follows the order's event stream and shows changes as they happen.
//! An unpaid card order is paid here, with Stripe's Payment Element.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use souk_domain::orders::{Address, order_number};
use souk_domain::payments::PaymentState;
use souk_storage::orders::OrderDetail;
use uuid::Uuid;

use super::{ShopError, Shopper, chrome};
use crate::AppState;
use crate::web::{CspNonce, Flash, Page, ThirdPartyOrigins, money_text};

#[derive(Debug, Default, Deserialize)]
pub struct OrderQuery {
    access_token: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    shopper: Shopper,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
    Query(query): Query<OrderQuery>,
) -> Response {
    let result = async {
        let not_found = || ShopError::not_found("there is no such order, or this link is not its own");
        let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
        let token = query.access_token.as_deref().filter(|t| t.len() <= 200);
        let mut detail = souk_app::orders::readable(&state.app, shopper.customer_id(), token, id)
            .await
            .map_err(|_| not_found())?;
        let (pay, origins) = card_payment(&state, &mut detail).await;
        let ctx = context! {
            title => format!("Order {}", order_number(&detail.order.id)),
            order => order_value(&detail),
            pay => pay,
            // The stream is read with the same key the page was opened with.
            events_url => format!(
                "/api/store/orders/{}/events{}",
                detail.order.id,
                token.map(|t| format!("?access_token={}", form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>())).unwrap_or_default()
            ),
            ..chrome(&state, &shopper).await
        };
        let mut page = Page::new("store/order.html", ctx).render(&nonce, &flash);
        if let Some(origins) = origins {
            page.extensions_mut().insert(origins);
        }
        Ok::<_, ShopError>(page)
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => e.render(&state, &shopper, &nonce).await,
    }
}

/// An unpaid card order: Souk asks Stripe where its payment stands (the shopper may be back
/// from paying: then the order is paid now, never trusting the address's `redirect_status`) and
/// gets the client secret Stripe's Payment Element needs, with the origins the page's
/// Content-Security-Policy must then allow. `None` for every other order.
async fn card_payment(
    state: &AppState,
    detail: &mut OrderDetail,
) -> (Option<Value>, Option<ThirdPartyOrigins>) {
    let order = &detail.order;
    let Some(browser) = state.config.stripe_browser.as_ref() else {
        return (None, None);
    };
    if order.payment_method != "stripe" || order.status != "pending_payment" {
        return (None, None);
    }
    let (state_now, secret) = match souk_app::payments::refresh(&state.app, order).await {
        Ok(view) => {
            detail.order = view.order;
            if detail.order.status != "pending_payment" {
                return (None, None);
            }
            (view.state, view.client_secret)
        }
        Err(e) => {
            tracing::warn!(order = %order.id, error = %e, "the card payment's state could not be read");
            (PaymentState::Pending, None)
        }
    };
    let origins = browser
        .csp_origins()
        .map(|(script, frame, connect)| ThirdPartyOrigins {
            script,
            frame,
            connect,
        });
    let pay = context! {
        key => browser.publishable_key,
        js_url => browser.js_url,
        // Without it the form cannot be shown: Stripe could not be reached just now.
        secret => secret,
        processing => state_now == PaymentState::Processing,
        failed => state_now == PaymentState::Failed,
    };
    (Some(pay), origins)
}

/// The words a customer reads for an order's state.
fn order_status_text(status: &str) -> &'static str {
    match status {
        "pending_payment" => "Waiting for payment",
        "paid" => "Paid — being prepared",
        "partially_fulfilled" => "Partly shipped",
        "fulfilled" => "Shipped",
        "completed" => "Completed",
        "cancelled" => "Cancelled",
        "refunded" => "Refunded",
        "partially_refunded" => "Partly refunded",
        _ => "In progress",
    }
}

fn order_value(d: &OrderDetail) -> Value {
    let o = &d.order;
    let m = |amount: i64| money_text(amount, &o.currency);
    let address: Option<Address> = serde_json::from_str(&o.shipping_address).ok();
    let parts: Vec<Value> = d
        .vendor_orders
        .iter()
        .map(|vo| {
            let lines: Vec<Value> = d
                .lines
                .iter()
                .filter(|l| l.vendor_order_id == vo.id)
                .map(|l| {
                    context! {
                        title => l.product_title, variant => l.variant_title, quantity => l.quantity,
                        shipped => l.shipped_quantity, total => m(l.total),
                    }
                })
                .collect();
            let shipments: Vec<Value> = d
                .shipments
                .iter()
                .filter(|s| s.vendor_order_id == vo.id)
                .map(|s| {
                    context! {
                        carrier => s.carrier, tracking => s.tracking_number, at => s.created_at,
                        units => s.lines.iter().map(|l| l.quantity).sum::<i64>(),
                    }
                })
                .collect();
            let shipped: i64 = d
                .lines
                .iter()
                .filter(|l| l.vendor_order_id == vo.id)
                .map(|l| l.shipped_quantity)
                .sum();
            let units: i64 = d
                .lines
                .iter()
                .filter(|l| l.vendor_order_id == vo.id)
                .map(|l| l.quantity)
                .sum();
            let state = if vo.status == "cancelled" {
                "Cancelled"
            } else if units > 0 && shipped >= units {
                "Shipped"
            } else if shipped > 0 {
                "Partly shipped"
            } else {
                "Not shipped yet"
            };
            context! {
                vendor => vo.vendor_name, lines => lines, shipments => shipments,
                state => state, shipping_rate => vo.shipping_rate, shipping => m(vo.shipping),
                total => m(vo.total),
            }
        })
        .collect();
    context! {
        id => o.id.to_string(), number => order_number(&o.id), status => o.status,
        status_text => order_status_text(&o.status),
        email => o.email, placed_at => o.placed_at,
        manual => o.payment_method == "manual",
        paid => o.paid_at.is_some(),
        address => address.map(|a| context! {
            name => a.name, line1 => a.line1, line2 => a.line2, city => a.city, region => a.region,
            postal_code => a.postal_code, country => a.country,
        }),
        parts => parts,
        subtotal => m(o.subtotal), discount => (o.discount > 0).then(|| m(o.discount)),
        shipping => m(o.shipping_total), tax => m(o.tax), total => m(o.total),
        refunded => (o.refunded_amount > 0).then(|| m(o.refunded_amount)),
    }
}
