//! The closed sets of words the API speaks — statuses, kinds, methods, sorts, event types,
//! scopes — as named string enums in the OpenAPI document, so generated clients get union types
//! instead of `string`. Each list is taken from the rule that owns it (the domain's enums, the
//! job queue, the webhook sender) where there is one, so the document cannot drift from what
//! the server accepts and returns; the handlers validate against the same lists.
//!
//! Fields and parameters name these types with `#[schema(value_type = …)]` /
//! `#[param(value_type = …)]`; the OpenAPI test fails on any `status`, `kind`, `sort`, `role`,
//! `state` or `*_status` field left a bare string. One exception: a job's `kind` stays a string,
//! because during a rolling upgrade a newer instance may queue kinds this one does not know and
//! the admin job list must still show them.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

macro_rules! vocabulary {
    ($( $(#[doc = $doc:literal])+ $name:ident => $values:expr; )+) => { $(
        $(#[doc = $doc])+
        pub struct $name;

        impl $name {
            /// Every value, in the order the document lists them.
            pub fn values() -> Vec<&'static str> {
                $values
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let doc: Vec<&str> = vec![$($doc.trim()),+];
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .description(Some(doc.join(" ")))
                    .enum_values(Some(Self::values()))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    )+ };
}

vocabulary! {
    /// A customer order's status.
    OrderStatus => souk_domain::orders::ORDER_STATUSES.iter().map(|s| s.as_str()).collect();
    /// Where an order's money stands (Shopify's financial status), apart from its shipping.
    PaymentStatus => souk_domain::orders::PaymentStatus::ALL.iter().map(|s| s.as_str()).collect();
    /// Where an order's goods stand, from its vendor orders (`cancelled`: nothing will ship).
    FulfillmentStatus => souk_domain::orders::FulfillmentStatus::ALL.iter().map(|s| s.as_str()).collect();
    /// One vendor's part of an order.
    VendorOrderStatus => souk_domain::orders::VendorOrderStatus::ALL.iter().map(|s| s.as_str()).collect();
    /// A vendor's standing: only `active` vendors sell.
    VendorStatus => souk_domain::catalog::VendorStatus::ALL.iter().map(|s| s.as_str()).collect();
    /// Only `published` products are shown to shoppers.
    ProductStatus => souk_domain::catalog::ProductStatus::ALL.iter().map(|s| s.as_str()).collect();
    /// The order of a product listing (`relevance` only with a search query).
    ProductSort => souk_domain::catalog::ProductSort::ALL.iter().map(|s| s.as_str()).collect();
    /// A provider payment's state.
    PaymentState => souk_domain::payments::PaymentState::ALL.iter().map(|s| s.as_str()).collect();
    /// How the customer pays: `manual` (bank transfer or cash on delivery; an admin records the
    /// payment) or `stripe`.
    PaymentMethod => souk_app::checkout::PAYMENT_METHODS.to_vec();
    /// A refund's state: `pending` while the provider works on it.
    RefundStatus => vec!["pending", "succeeded", "failed"];
    /// `percent` (value in basis points) or `fixed` (value in minor units).
    CouponKind => COUPON_KINDS.to_vec();
    /// How a shipping rate prices a vendor's part of an order.
    ShippingRateKind => SHIPPING_RATE_KINDS.to_vec();
    /// `open`, `ordered` (checked out) or `merged` (into a customer's cart at login).
    CartStatus => vec!["open", "ordered", "merged"];
    /// A background job's state: `dead` after its last attempt failed.
    JobStatus => souk_storage::jobs::JobStatus::ALL.iter().map(|s| s.as_str()).collect();
    /// A webhook message's state: `failed` gave up, `skipped` (the endpoint was disabled).
    MessageStatus => MESSAGE_STATUSES.to_vec();
    /// An invitation to a vendor's staff: `pending` until accepted, revoked or expired.
    InvitationStatus => vec!["pending", "accepted", "revoked", "expired"];
    /// A member's role at a vendor.
    VendorRole => vec!["owner", "staff"];
    /// What an API key may do.
    ApiKeyScope => crate::auth::API_KEY_SCOPES.to_vec();
    /// An event type webhook endpoints can subscribe to.
    EventType => souk_domain::webhooks::EVENT_TYPES.to_vec();
    /// The `event:` field of a live stream's events: the webhook event types plus the
    /// stream-only `vendor.applied` (admin feed) and `job.failed` (admin feed).
    StreamEventType => souk_domain::webhooks::EVENT_TYPES.iter().copied().chain(STREAM_ONLY_EVENT_TYPES.iter().copied()).collect();
    /// `ok` (the process is up) or `ready` (and its database answers).
    HealthStatus => vec!["ok", "ready"];
    /// Always `accepted`.
    AcceptedStatus => vec!["accepted"];
}

pub const COUPON_KINDS: &[&str] = &["percent", "fixed"];
pub const SHIPPING_RATE_KINDS: &[&str] = &["flat", "free_over", "by_weight"];
pub const MESSAGE_STATUSES: &[&str] = &["pending", "delivered", "failed", "skipped"];
/// Live-stream kinds that are not webhook event types.
pub const STREAM_ONLY_EVENT_TYPES: &[&str] = &["vendor.applied", "job.failed"];

/// Which vocabulary the `status` query parameter of each list takes (the lists share one
/// parameter struct, so the document is told here), keyed by path.
pub fn status_filter(path: &str) -> Option<RefOr<Schema>> {
    let name = match path {
        "/api/admin/orders" | "/api/store/orders" => "OrderStatus",
        "/api/vendor/orders" => "VendorOrderStatus",
        "/api/admin/vendors" => "VendorStatus",
        "/api/vendor/products" => "ProductStatus",
        "/api/admin/jobs" => "JobStatus",
        "/api/admin/webhooks/{id}/messages" | "/api/vendor/webhooks/{id}/messages" => {
            "MessageStatus"
        }
        _ => return None,
    };
    Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(name)))
}
