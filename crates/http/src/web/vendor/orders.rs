//! A vendor's orders: the list (status and cursor in the URL), an order's page with what the
//! customer bought from this shop and paid, where to ship, the parcels sent, and the forms to
//! ship all or some of it and to correct a tracking number.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{Value, context};
use serde::Deserialize;
use souk_app::fulfilment::{self, Tracking};
use souk_domain::orders::{Address, FulfillmentStatus, VendorOrderStatus, order_number};
use souk_storage::orders::{ShipLine, VendorOrderDetail, VendorOrderSummary};
use uuid::Uuid;

use super::{VendorForm, VendorSession, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::api::store::orders::part_fulfillment;
use crate::web::panel::{Refusal, bad_cursor, cursor, done, next_cursor, refusal};
use crate::web::session::CsrfField;
use crate::web::{CspNonce, Flash, Page, PageError};

const PAGE_SIZE: i64 = 25;

/// The statuses a vendor order can be listed by.
const STATUSES: [&str; 3] = ["unfulfilled", "fulfilled", "cancelled"];

/// One vendor order in a list.
pub fn summary(o: &VendorOrderSummary, currency: &str) -> Value {
    let ship_to = serde_json::from_str::<Address>(&o.shipping_address)
        .map(|a| a.name)
        .unwrap_or_default();
    let status = VendorOrderStatus::parse(&o.status).unwrap_or(VendorOrderStatus::Unfulfilled);
    context! {
        id => o.id.to_string(),
        number => order_number(&o.order_id),
        order_status => o.order_status,
        fulfillment => FulfillmentStatus::of([(status, o.shipped_units, o.units)]).as_str(),
        ship_to => ship_to,
        units => o.units,
        total => o.total,
        currency => currency,
        placed_at => o.placed_at,
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    before: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
    Query(query): Query<ListQuery>,
) -> Response {
    let status = query.status.filter(|s| !s.is_empty());
    if status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return PageError::new(
            StatusCode::BAD_REQUEST,
            "Unknown status",
            "pick a status from the list",
        )
        .render(&nonce);
    }
    let Some(before) = cursor(query.before.as_deref()) else {
        return bad_cursor(&nonce);
    };
    let rows = match souk_storage::orders::vendor_order_summaries(
        &state.db,
        session.vendor_id,
        status.as_deref(),
        before,
        PAGE_SIZE,
    )
    .await
    {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(&nonce),
    };
    let currency = state.config.currency.code();
    let ctx = context! {
        orders => rows.iter().map(|d| summary(d, currency)).collect::<Vec<_>>(),
        statuses => STATUSES,
        status => status,
        older => next_cursor(rows.iter().map(|o| o.id), PAGE_SIZE),
        first_page => before.is_none(),
        ..chrome(&session.principal, &session.csrf, "orders")
    };
    Page::new("vendor/orders.html", ctx).render(&nonce, &flash)
}

/// The vendor order `id` of this vendor: another vendor's (or no) order is 404.
async fn load(
    state: &AppState,
    session: &VendorSession,
    id: &str,
) -> Result<VendorOrderDetail, PageError> {
    let id = Uuid::parse_str(id).map_err(|_| PageError::not_found("no such order"))?;
    Ok(fulfilment::vendor_order(&state.app, session.vendor_id, id).await?)
}

pub async fn show(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    match load(&state, &session, &id).await {
        Ok(d) => order_page(&state, &session, &nonce, &flash, &d, None),
        Err(e) => e.render(&nonce),
    }
}

/// A refused form on the order page: which form, the field and the message.
struct Problem {
    form: &'static str,
    refusal: Refusal,
}

fn order_page(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    flash: &Flash,
    d: &VendorOrderDetail,
    problem: Option<Problem>,
) -> Response {
    let currency = state.config.currency.code();
    let v = &d.vendor_order;
    let address = serde_json::from_str::<Address>(&d.shipping_address).ok();
    let lines: Vec<Value> = d
        .lines
        .iter()
        .map(|l| {
            context! {
                id => l.id.to_string(), title => l.product_title, variant => l.variant_title,
                sku => l.sku, note => l.note, quantity => l.quantity, unit_price => l.unit_price,
                total => l.total, shipped => l.shipped_quantity, refunded => l.refunded_quantity,
                left => (l.quantity - l.shipped_quantity).max(0),
            }
        })
        .collect();
    let titles: HashMap<Uuid, String> = d
        .lines
        .iter()
        .map(|l| (l.id, format!("{} — {}", l.product_title, l.variant_title)))
        .collect();
    let shipments: Vec<Value> = d
        .shipments
        .iter()
        .map(|s| {
            context! {
                id => s.id.to_string(), carrier => s.carrier, tracking_number => s.tracking_number,
                created_at => s.created_at, updated_at => s.updated_at,
                lines => s.lines.iter().map(|l| context! {
                    title => titles.get(&l.order_line_id).cloned().unwrap_or_default(),
                    quantity => l.quantity,
                }).collect::<Vec<_>>(),
            }
        })
        .collect();
    let can_ship = v.status == "unfulfilled"
        && matches!(d.order_status.as_str(), "paid" | "partially_fulfilled");
    let status = problem
        .as_ref()
        .map_or(StatusCode::OK, |p| p.refusal.status);
    let ctx = context! {
        currency => currency,
        order => context! {
            id => v.id.to_string(), number => order_number(&v.order_id), order_status => d.order_status,
            status => v.status, fulfillment => part_fulfillment(&v.status, &d.lines, v.id),
            placed_at => d.placed_at, shipping_option => v.shipping_rate,
            subtotal => v.subtotal, discount => v.discount, shipping => v.shipping, tax => v.tax,
            total => v.total, commission => v.commission, refunded => v.refunded,
            earned => v.total.saturating_sub(v.commission),
            address => address.map(|a| context! {
                name => a.name, line1 => a.line1, line2 => a.line2, city => a.city,
                region => a.region, postal_code => a.postal_code, country => a.country, phone => a.phone,
            }),
        },
        lines => lines,
        shipments => shipments,
        can_ship => can_ship,
        problem => problem.map(|p| context! {
            form => p.form, field => p.refusal.field, message => p.refusal.message,
        }),
        ..chrome(&session.principal, &session.csrf, "orders")
    };
    Page::new("vendor/order.html", ctx)
        .with_status(status)
        .render(nonce, flash)
}

/// The parcel form: carrier, tracking number, and `qty-<line id>` units of each line.
#[derive(Debug, Deserialize)]
pub struct FulfilForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_number: String,
    #[serde(flatten)]
    quantities: HashMap<String, String>,
}

impl CsrfField for FulfilForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// The units the form puts in the parcel (lines at 0 stay out), or the problem with a number.
fn parcel(form: &FulfilForm) -> Result<Vec<ShipLine>, Refusal> {
    let mut lines = Vec::new();
    for (name, value) in &form.quantities {
        let Some(line) = name.strip_prefix("qty-") else {
            continue;
        };
        let bad = || Refusal {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: name.clone(),
            message: "a whole number of units, 0 or more".to_owned(),
        };
        let line_id = Uuid::parse_str(line).map_err(|_| bad())?;
        let value = value.trim();
        let quantity: i64 = if value.is_empty() {
            0
        } else {
            value.parse().map_err(|_| bad())?
        };
        if quantity < 0 {
            return Err(bad());
        }
        if quantity > 0 {
            lines.push(ShipLine { line_id, quantity });
        }
    }
    if lines.is_empty() {
        return Err(Refusal {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            field: "lines".to_owned(),
            message: "put at least one unit in the parcel".to_owned(),
        });
    }
    Ok(lines)
}

/// Ships one parcel: the units given per line, with its carrier and tracking number.
pub async fn fulfil(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    Path(id): Path<String>,
    VendorForm { session, form }: VendorForm<FulfilForm>,
) -> Response {
    let d = match load(&state, &session, &id).await {
        Ok(d) => d,
        Err(e) => return e.render(&nonce),
    };
    let refused = |refusal: Refusal| {
        let problem = Problem {
            form: "fulfil",
            refusal,
        };
        order_page(&state, &session, &nonce, &Flash(None), &d, Some(problem))
    };
    let lines = match parcel(&form) {
        Ok(lines) => lines,
        Err(r) => return refused(r),
    };
    let tracking = Tracking {
        carrier: form.carrier,
        tracking_number: form.tracking_number,
    };
    let who = actor(&session.principal, &client);
    let shipped = fulfilment::fulfil(
        &state.app,
        &who,
        session.vendor_id,
        d.vendor_order.id,
        &tracking,
        Some(lines),
    )
    .await;
    match shipped {
        Ok(after) => {
            let message = if after.vendor_order.status == "fulfilled" {
                "Parcel recorded: everything has shipped. The customer is emailed."
            } else {
                "Parcel recorded. The customer is emailed."
            };
            done(&format!("/vendor/orders/{}", d.vendor_order.id), message)
        }
        Err(e) => match refusal(e, "lines") {
            // A line the use case names (`lines[0]`) is shown at the parcel's lines.
            Ok(mut r) => {
                if r.field.starts_with("lines[") {
                    r.field = "lines".to_owned();
                }
                refused(r)
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}

#[derive(Debug, Deserialize)]
pub struct TrackingForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    shipment_id: String,
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_number: String,
}

impl CsrfField for TrackingForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// Corrects a parcel's carrier and tracking number (the customer is emailed the new ones).
pub async fn correct_tracking(
    State(state): State<AppState>,
    nonce: CspNonce,
    client: ClientInfo,
    Path(id): Path<String>,
    VendorForm { session, form }: VendorForm<TrackingForm>,
) -> Response {
    let d = match load(&state, &session, &id).await {
        Ok(d) => d,
        Err(e) => return e.render(&nonce),
    };
    let Ok(shipment) = Uuid::parse_str(form.shipment_id.trim()) else {
        return PageError::not_found("no such parcel").render(&nonce);
    };
    let tracking = Tracking {
        carrier: form.carrier,
        tracking_number: form.tracking_number,
    };
    let who = actor(&session.principal, &client);
    let corrected = fulfilment::correct_tracking(
        &state.app,
        &who,
        session.vendor_id,
        d.vendor_order.id,
        &tracking,
        Some(shipment),
    )
    .await;
    match corrected {
        Ok(_) => done(
            &format!("/vendor/orders/{}", d.vendor_order.id),
            "Tracking corrected. The customer is emailed the new details.",
        ),
        Err(e) => match refusal(e, "tracking_number") {
            Ok(r) => {
                let problem = Problem {
                    form: "tracking",
                    refusal: r,
                };
                order_page(&state, &session, &nonce, &Flash(None), &d, Some(problem))
            }
            Err(e) => PageError::from(e).render(&nonce),
        },
    }
}
