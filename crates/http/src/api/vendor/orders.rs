//! `/api/vendor/orders`: the vendor's own vendor orders and lines, fulfilment in parcels, and
//! tracking corrections.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use souk_app::fulfilment::{self, Tracking};
use souk_domain::orders::{Address, order_number};
use souk_domain::time::rfc3339;
use souk_storage::orders::{self, ShipLine, VendorOrderDetail};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::{PageParams, actor, next_cursor, path_id};
use crate::api::schema::{AddressBody, MoneyBody, money};
use crate::api::store::orders::{
    OrderLineBody, ShipmentBody, line_body, part_fulfillment, shipment_body,
};
use crate::auth::VendorStaff;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiJson, ApiQuery};

/// A vendor's part of an order. The customer's email and other vendors' lines are not shown;
/// the shipping address is, because the vendor ships.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorOrderBody {
    pub id: Uuid,
    pub order_id: Uuid,
    pub order_number: String,
    /// The customer order's status (`pending_payment`: do not ship yet).
    #[schema(value_type = crate::api::vocabulary::OrderStatus)]
    pub order_status: String,
    /// This vendor order's status: `unfulfilled`, `fulfilled`, `cancelled`.
    #[schema(value_type = crate::api::vocabulary::VendorOrderStatus)]
    pub status: String,
    /// The goods: `unfulfilled`, `partially_fulfilled` (some units shipped), `fulfilled`,
    /// `cancelled`.
    #[schema(value_type = crate::api::vocabulary::FulfillmentStatus)]
    pub fulfillment_status: String,
    pub ship_to: AddressBody,
    pub shipping_option: Option<String>,
    pub lines: Vec<OrderLineBody>,
    /// Goods after discount.
    pub subtotal: MoneyBody,
    pub shipping: MoneyBody,
    pub tax: MoneyBody,
    pub total: MoneyBody,
    /// The platform's commission on this vendor order, and its rate in basis points.
    pub commission: MoneyBody,
    pub commission_bps: i64,
    /// Given back to the customer from this part: refunds aimed at it, and its share of
    /// refunds of the whole order (each reverses the earning and commission in proportion).
    pub refunded: MoneyBody,
    /// The latest shipment's carrier and tracking number (every parcel is in `shipments`).
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    #[schema(format = DateTime)]
    pub placed_at: String,
    /// When the last unit shipped.
    #[schema(format = DateTime)]
    pub fulfilled_at: Option<String>,
    /// The parcels sent, oldest first.
    pub shipments: Vec<ShipmentBody>,
}

fn vendor_order_body(d: &VendorOrderDetail, currency: &str) -> VendorOrderBody {
    let v = &d.vendor_order;
    VendorOrderBody {
        id: v.id,
        order_id: v.order_id,
        order_number: order_number(&v.order_id),
        order_status: d.order_status.clone(),
        status: v.status.clone(),
        fulfillment_status: part_fulfillment(&v.status, &d.lines, v.id),
        ship_to: serde_json::from_str::<Address>(&d.shipping_address)
            .expect("stored addresses are valid")
            .into(),
        shipping_option: v.shipping_rate.clone(),
        lines: d.lines.iter().map(|l| line_body(l, currency)).collect(),
        subtotal: money(v.subtotal, currency),
        shipping: money(v.shipping, currency),
        tax: money(v.tax, currency),
        total: money(v.total, currency),
        commission: money(v.commission, currency),
        commission_bps: v.commission_bps,
        refunded: money(v.refunded, currency),
        carrier: v.carrier.clone(),
        tracking_number: v.tracking_number.clone(),
        placed_at: rfc3339(d.placed_at),
        fulfilled_at: v.fulfilled_at.map(rfc3339),
        shipments: d.shipments.iter().map(shipment_body).collect(),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorOrderPage {
    pub items: Vec<VendorOrderBody>,
    pub next_cursor: Option<String>,
}

/// This vendor's orders, newest first.
#[utoipa::path(get, path = "/api/vendor/orders", operation_id = "vendor_list_orders", tag = "vendor", params(PageParams), security(("bearer" = [])),
    responses(
        (status = 200, description = "Vendor orders", body = VendorOrderPage),
        (status = 400, description = "Bad parameters", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    staff: VendorStaff,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<VendorOrderPage>> {
    let (limit, before, status) =
        params.parse(&crate::api::vocabulary::VendorOrderStatus::values())?;
    let rows =
        orders::vendor_orders(&state.db, staff.vendor_id, status.as_deref(), before, limit).await?;
    let currency = state.config.currency.code();
    Ok(Json(VendorOrderPage {
        next_cursor: next_cursor(rows.iter().map(|r| r.vendor_order.id), rows.len(), limit),
        items: rows
            .iter()
            .map(|d| vendor_order_body(d, currency))
            .collect(),
    }))
}

/// One of this vendor's orders.
#[utoipa::path(get, path = "/api/vendor/orders/{id}", operation_id = "vendor_get_order", tag = "vendor", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Vendor order id")),
    responses(
        (status = 200, description = "The vendor order", body = VendorOrderBody),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such vendor order of yours", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    staff: VendorStaff,
    Path(id): Path<String>,
) -> ApiResult<Json<VendorOrderBody>> {
    let id = path_id(&id, "vendor order")?;
    let d = orders::vendor_order(&state.db, staff.vendor_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such vendor order"))?;
    Ok(Json(vendor_order_body(&d, state.config.currency.code())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfilRequest {
    pub carrier: String,
    pub tracking_number: String,
    /// The units in this parcel, for a partial shipment. Omitted: everything left to ship.
    #[serde(default)]
    #[schema(min_items = 1)]
    pub lines: Option<Vec<ShipLineRequest>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipLineRequest {
    /// An order line of this vendor order (`lines[].id`).
    pub line_id: Uuid,
    /// At most what is left to ship of the line (`quantity - shipped_quantity`).
    #[schema(minimum = 1)]
    pub quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackingRequest {
    pub carrier: String,
    pub tracking_number: String,
    /// The shipment to correct; omitted: the latest one.
    #[serde(default)]
    pub shipment_id: Option<Uuid>,
}

/// Correct the carrier and tracking number of a shipment already sent (a typo, a parcel
/// re-sent): the latest one, or the one named by `shipment_id`. The customer is emailed the
/// corrected details; sending the same details again changes nothing and sends nothing.
#[utoipa::path(put, path = "/api/vendor/orders/{id}/tracking", tag = "vendor", request_body = TrackingRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Vendor order id")),
    responses(
        (status = 200, description = "The vendor order with the corrected tracking", body = VendorOrderBody),
        (status = 400, description = "Missing carrier or tracking number, or `shipment_id` not a shipment of this vendor order (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such vendor order of this vendor", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not shipped yet: fulfil it (`invalid_transition`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn correct_tracking(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TrackingRequest>,
) -> ApiResult<Json<VendorOrderBody>> {
    let tracking = Tracking {
        carrier: body.carrier,
        tracking_number: body.tracking_number,
    };
    let d = fulfilment::correct_tracking(
        &state.app,
        &actor(&staff.principal, &client),
        staff.vendor_id,
        path_id(&id, "vendor order")?,
        &tracking,
        body.shipment_id,
    )
    .await?;
    Ok(Json(vendor_order_body(&d, state.config.currency.code())))
}

/// Ship this vendor's part, whole or in parcels: each call records one shipment (carrier,
/// tracking number, and the units of each line in it — all that is left when `lines` is
/// omitted). The vendor order becomes `fulfilled` when its last unit ships; the order
/// `partially_fulfilled`, or `fulfilled` when every vendor has shipped everything. Only paid
/// orders ship; once anything has shipped the order can no longer be cancelled (refund instead).
#[utoipa::path(post, path = "/api/vendor/orders/{id}/fulfil", tag = "vendor", request_body = FulfilRequest, security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Vendor order id")),
    responses(
        (status = 200, description = "The vendor order with its new shipment", body = VendorOrderBody),
        (status = 400, description = "Missing carrier or tracking number, or a line that is not this vendor order's, named twice or with more units than are left (`validation_failed`)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not vendor staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such vendor order of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not paid yet, cancelled or already fulfilled (`invalid_transition`)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn fulfil(
    State(state): State<AppState>,
    staff: VendorStaff,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FulfilRequest>,
) -> ApiResult<Json<VendorOrderBody>> {
    let tracking = Tracking {
        carrier: body.carrier,
        tracking_number: body.tracking_number,
    };
    let lines = body.lines.map(|lines| {
        lines
            .into_iter()
            .map(|l| ShipLine {
                line_id: l.line_id,
                quantity: l.quantity,
            })
            .collect()
    });
    let d = fulfilment::fulfil(
        &state.app,
        &actor(&staff.principal, &client),
        staff.vendor_id,
        path_id(&id, "vendor order")?,
        &tracking,
        lines,
    )
    .await?;
    Ok(Json(vendor_order_body(&d, state.config.currency.code())))
}
