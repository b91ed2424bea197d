//! Live streams (Server-Sent Events): an order's changes for its customer, a vendor's orders,
//! and the platform feed for admins.
//!
//! One poller per process follows the durable `events` table by id and fans new rows out over
//! a broadcast channel; every stream filters for its audience. Events committed by any instance
//! on the same database reach every instance's streams within the poll interval, with no extra
//! server. A client that reconnects with `Last-Event-ID` first gets what it missed from the table
//! (kept for [`REPLAY_WINDOW`]), then live events. A consumer too slow to keep up with the
//! broadcast buffer is disconnected (it reconnects and catches up from the table) instead of
//! holding memory or slowing others. Streams are bounded in number (`SOUK_MAX_STREAMS`).

mod hub;
mod stream;

pub use hub::*;
use stream::{Grant, holders, open_stream, resume_point};

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use serde::Deserialize;
use souk_storage::events::Audience;
use utoipa::IntoParams;

use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::store::orders::{readable_order, with_query_token};
use crate::auth::{Admin, MaybePrincipal, VendorStaff};
use crate::error::{ApiResult, Problem};
use crate::extract::ApiQuery;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Resume after this event id (for clients that cannot send the `Last-Event-ID` header).
    #[param(value_type = Option<i64>)]
    pub last_event_id: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderStreamParams {
    /// Resume after this event id (for clients that cannot send the `Last-Event-ID` header).
    #[param(value_type = Option<i64>)]
    pub last_event_id: Option<String>,
    /// The checkout's `access_token` or the order link's token (guests; `EventSource` cannot
    /// send headers).
    pub access_token: Option<String>,
}

/// Live changes of one order (`order.paid`, `order.fulfilled`, …) for its customer: logged in,
/// or a guest with the checkout's access token (`X-Order-Token` or `?access_token=`).
#[utoipa::path(get, path = "/api/store/orders/{id}/events", tag = "store",
    params(
        ("id" = uuid::Uuid, Path, description = "Order id"),
        ("X-Order-Token" = Option<String>, Header, description = "The checkout's `access_token` (guests)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        OrderStreamParams,
    ),
    responses(
        (status = 200, description = "A live stream of `StreamEvent`s", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such order, or not yours", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn order_events(
    State(state): State<AppState>,
    caller: MaybePrincipal,
    client: ClientInfo,
    mut headers: HeaderMap,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<OrderStreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    with_query_token(&mut headers, params.access_token.as_deref());
    let detail = readable_order(&state, &caller, &headers, &id).await?;
    let resume = resume_point(&headers, params.last_event_id.as_deref())?;
    // The owner's session is checked again; a guest's token is not (it does not expire).
    let owner = caller
        .0
        .as_ref()
        .filter(|p| detail.order.user_id == Some(p.user_id));
    let audience = Audience::Order(detail.order.id);
    let holders = holders(caller.0.as_ref(), audience, &client.ip);
    open_stream(&state, audience, Grant::of(owner), holders, resume).await
}

/// Live feed for a vendor: its new orders and their payment, fulfilment, cancellation and
/// refunds — only this vendor's part of each order.
#[utoipa::path(get, path = "/api/vendor/events", tag = "vendor", security(("bearer" = [])),
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "A live stream of `StreamEvent`s", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a member of an approved vendor (`forbidden`, `vendor_not_approved`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn vendor_events(
    State(state): State<AppState>,
    staff: VendorStaff,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // A vendor awaiting approval has no orders to follow: no streams to hold either.
    staff.require_approved()?;
    let resume = resume_point(&headers, params.last_event_id.as_deref())?;
    let grant = Grant::of(Some(&staff.principal));
    let audience = Audience::Vendor(staff.vendor_id);
    let holders = holders(Some(&staff.principal), audience, "");
    open_stream(&state, audience, grant, holders, resume).await
}

/// The platform feed for admins: every order event.
#[utoipa::path(get, path = "/api/admin/events", tag = "admin", security(("bearer" = [])),
    params(
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id"),
        StreamParams,
    ),
    responses(
        (status = 200, description = "A live stream of `StreamEvent`s", content_type = "text/event-stream", body = String),
        (status = 400, description = "`invalid_last_event_id`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a platform admin", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`too_many_streams`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn admin_events(
    State(state): State<AppState>,
    admin: Admin,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume = resume_point(&headers, params.last_event_id.as_deref())?;
    let holders = holders(Some(&admin.0), Audience::Admin, "");
    open_stream(
        &state,
        Audience::Admin,
        Grant::of(Some(&admin.0)),
        holders,
        resume,
    )
    .await
}

/// The shapes of a live stream's events, for the OpenAPI document (`StreamEvent` and the
/// `data` schemas; the streams' responses point to them). The data is the event log's row as
/// it was committed; the stream tests check every event they receive against these schemas.
pub mod documented {
    #![allow(dead_code)] // Described, never built: the rows are written as JSON by their emitters.

    use utoipa::openapi::schema::{AnyOfBuilder, Schema};
    use utoipa::openapi::{Ref, RefOr};
    use utoipa::{PartialSchema, ToSchema};
    use uuid::Uuid;

    use crate::api::vocabulary;

    /// One Server-Sent Event: `id:` (resume with `Last-Event-ID`), `event:` (its type) and
    /// `data:` (one line of JSON). Comments (`: heartbeat`) come every 15 s.
    #[derive(ToSchema)]
    pub struct StreamEvent {
        /// Increasing; send the last one seen as `Last-Event-ID` to resume.
        #[schema(value_type = String, pattern = "^[0-9]+$")]
        id: String,
        #[schema(value_type = vocabulary::StreamEventType)]
        event: String,
        data: StreamEventData,
    }

    /// The `data:` of an event: which shape goes with the `event:` type is said on each (any
    /// of them, as one JSON object could fit more than one).
    pub struct StreamEventData;

    /// Each `data` shape with its name, for the document's components.
    fn shapes() -> Vec<(String, RefOr<Schema>)> {
        fn shape<T: ToSchema>() -> (String, RefOr<Schema>) {
            (T::name().into_owned(), T::schema())
        }
        vec![
            shape::<OrderEventData>(),
            shape::<VendorOrderEventData>(),
            shape::<PaymentFailedData>(),
            shape::<ProductUpdatedData>(),
            shape::<StockLowData>(),
            shape::<VendorAppliedData>(),
            shape::<JobFailedData>(),
        ]
    }

    impl PartialSchema for StreamEventData {
        fn schema() -> RefOr<Schema> {
            let mut any = AnyOfBuilder::new().description(Some(
                "The event's data (see each shape for the types it goes with).",
            ));
            for (name, _) in shapes() {
                any = any.item(Ref::from_schema_name(name));
            }
            any.into()
        }
    }

    impl ToSchema for StreamEventData {
        fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
            schemas.extend(shapes());
            schemas.push(shape_of_change());
        }
    }

    fn shape_of_change() -> (String, RefOr<Schema>) {
        (ProductChange::name().into_owned(), ProductChange::schema())
    }

    /// `order.*` on a customer's order stream and the admin feed (the order's row).
    #[derive(ToSchema)]
    pub struct OrderEventData {
        order_id: Uuid,
        #[schema(value_type = vocabulary::OrderStatus)]
        status: String,
    }

    /// `order.*` on a vendor's stream (that vendor's part of the order only).
    #[derive(ToSchema)]
    pub struct VendorOrderEventData {
        order_id: Uuid,
        vendor_order_id: Uuid,
        #[schema(value_type = vocabulary::VendorOrderStatus)]
        status: String,
        #[schema(value_type = vocabulary::OrderStatus)]
        order_status: String,
    }

    /// `payment.failed` (customer's order stream and the admin feed): the order stays payable.
    #[derive(ToSchema)]
    pub struct PaymentFailedData {
        order_id: Uuid,
        #[schema(value_type = vocabulary::PaymentState)]
        payment_state: String,
    }

    /// `product.updated` (vendor stream, admin feed).
    #[derive(ToSchema)]
    pub struct ProductUpdatedData {
        #[schema(value_type = ProductChange)]
        change: String,
        product_id: Uuid,
        vendor_id: Uuid,
        /// For `created` and `replaced`.
        handle: Option<String>,
        /// For `stock`.
        variant_id: Option<Uuid>,
        /// For `stock`.
        stock: Option<i64>,
    }

    /// What happened to the product.
    #[derive(ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum ProductChange {
        Created,
        Replaced,
        Archived,
        Stock,
    }

    /// `stock.low` (vendor stream, admin feed): a checkout took a variant to 5 or below.
    #[derive(ToSchema)]
    pub struct StockLowData {
        variant_id: Uuid,
        sku: String,
        product_title: String,
        stock: i64,
    }

    /// `vendor.applied` (admin feed): a vendor is waiting for approval.
    #[derive(ToSchema)]
    pub struct VendorAppliedData {
        vendor_id: Uuid,
        handle: String,
        name: String,
    }

    /// `job.failed` (admin feed): a job gave up after its last attempt.
    #[derive(ToSchema)]
    pub struct JobFailedData {
        job_id: Uuid,
        /// The job's kind (`order_email`, `webhook_delivery`, …).
        kind: String,
        error: String,
    }
}
