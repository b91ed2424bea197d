//! Response bodies of the API. Typed structs (never ad-hoc JSON) so the OpenAPI document and the
//! responses cannot drift apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use souk_domain::catalog::{
    CategoryNode, CategoryRef, ImageDraft, Product, ProductOption, Variant,
};
use souk_domain::money::Money;
use souk_domain::time::rfc3339;
use souk_storage::catalog::VendorRecord;
use souk_storage::ledger;
use utoipa::ToSchema;
use uuid::Uuid;

/// An amount of money: integer minor units (cents) plus ISO 4217 currency code.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"amount": 1999, "currency": "USD"}))]
pub struct MoneyBody {
    pub amount: i64,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

/// An amount in a currency, as the API shows it.
pub fn money(amount: i64, currency: &str) -> MoneyBody {
    MoneyBody {
        amount,
        currency: currency.to_owned(),
    }
}

impl From<Money> for MoneyBody {
    fn from(m: Money) -> Self {
        MoneyBody {
            amount: m.amount,
            currency: m.currency.code().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorRefBody {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRefBody {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageBody {
    pub url: String,
    pub alt: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OptionBody {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariantBody {
    pub id: Uuid,
    pub sku: Option<String>,
    /// Option values joined, e.g. `M / Blue`; `Default` for a product without options.
    pub title: String,
    /// Option name → value.
    pub options: BTreeMap<String, String>,
    pub price: MoneyBody,
    /// The "was" price shown struck through, if any.
    pub compare_at_price: Option<MoneyBody>,
    /// Whether it can be bought now (in stock, or stock not tracked).
    pub available: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductBody {
    pub id: Uuid,
    pub handle: String,
    pub title: String,
    /// Sanitized HTML (an allow-list of formatting tags; no scripts, styles or event handlers).
    pub description_html: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub vendor: VendorRefBody,
    pub categories: Vec<CategoryRefBody>,
    pub images: Vec<ImageBody>,
    pub options: Vec<OptionBody>,
    pub variants: Vec<VariantBody>,
}

impl From<CategoryRef> for CategoryRefBody {
    fn from(c: CategoryRef) -> Self {
        CategoryRefBody {
            id: c.id,
            handle: c.handle,
            name: c.name,
        }
    }
}

impl From<ImageDraft> for ImageBody {
    fn from(i: ImageDraft) -> Self {
        ImageBody {
            url: i.url,
            alt: i.alt,
        }
    }
}

impl From<ProductOption> for OptionBody {
    fn from(o: ProductOption) -> Self {
        OptionBody {
            name: o.name,
            values: o.values,
        }
    }
}

impl From<Variant> for VariantBody {
    fn from(v: Variant) -> Self {
        VariantBody {
            available: v.available(),
            id: v.id,
            sku: v.sku,
            title: v.title,
            options: v.options.into_iter().collect(),
            price: v.price.into(),
            compare_at_price: v.compare_at_price.map(Into::into),
        }
    }
}

impl From<Product> for ProductBody {
    fn from(p: Product) -> Self {
        ProductBody {
            id: p.id,
            handle: p.handle,
            title: p.title,
            description_html: p.description_html,
            product_type: p.product_type,
            tags: p.tags,
            vendor: VendorRefBody {
                id: p.vendor.id,
                handle: p.vendor.handle,
                name: p.vendor.name,
            },
            categories: p.categories.into_iter().map(Into::into).collect(),
            images: p
                .images
                .into_iter()
                .map(|i| ImageBody {
                    url: i.url,
                    alt: i.alt,
                })
                .collect(),
            options: p.options.into_iter().map(Into::into).collect(),
            variants: p.variants.into_iter().map(Into::into).collect(),
        }
    }
}

/// One page of products.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<ProductBody>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// When `q` matched nothing and a one-letter correction of it did: the search the items
    /// are for (show "results for …"). `null` otherwise. Later pages keep the original `q`.
    pub corrected_q: Option<String>,
}

/// A category or vendor of a result set and how many of its products match.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetValueBody {
    pub handle: String,
    pub name: String,
    pub count: i64,
}

/// Matching products whose lowest variant price is at least `min` and below `max`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceBandBody {
    pub min: MoneyBody,
    /// `null` for the last band (no upper bound).
    pub max: Option<MoneyBody>,
    pub count: i64,
}

/// Facet counts of everything a product listing matches.
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetsBody {
    /// Matching products.
    pub total: i64,
    /// Matching products with at least one variant available now.
    pub in_stock: i64,
    /// The categories the matching products are filed in directly, most products first.
    pub categories: Vec<FacetValueBody>,
    /// The matching products' vendors, most products first.
    pub vendors: Vec<FacetValueBody>,
    /// Fixed price bands, cheapest first, empty ones included.
    pub price_bands: Vec<PriceBandBody>,
}

impl FacetsBody {
    pub fn new(facets: souk_storage::catalog::Facets, currency: &str) -> Self {
        let value = |v: souk_storage::catalog::FacetValue| FacetValueBody {
            handle: v.handle,
            name: v.name,
            count: v.count,
        };
        FacetsBody {
            total: facets.total,
            in_stock: facets.in_stock,
            categories: facets.categories.into_iter().map(value).collect(),
            vendors: facets.vendors.into_iter().map(value).collect(),
            price_bands: facets
                .price_bands
                .into_iter()
                .map(|b| PriceBandBody {
                    min: money(b.min, currency),
                    max: b.max.map(|m| money(m, currency)),
                    count: b.count,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryNodeBody {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    #[schema(no_recursion)]
    pub children: Vec<CategoryNodeBody>,
}

impl From<CategoryNode> for CategoryNodeBody {
    fn from(n: CategoryNode) -> Self {
        CategoryNodeBody {
            id: n.id,
            handle: n.handle,
            name: n.name,
            children: n.children.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryTree {
    /// Root categories, each with its descendants.
    pub items: Vec<CategoryNodeBody>,
    /// Always null: the whole list is in this page (every list has this one shape).
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorBody {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    /// Plain text from the vendor.
    pub description: String,
    /// Number of published products.
    pub product_count: i64,
}

/// A postal address. `country` is ISO 3166-1 alpha-2; `line2`, `region` and `phone` are optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Ada Lovelace", "line1": "1 Main St", "city": "Berlin",
    "postal_code": "10115", "country": "DE"}))]
pub struct AddressBody {
    pub name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: String,
    pub city: String,
    #[serde(default)]
    pub region: String,
    pub postal_code: String,
    pub country: String,
    #[serde(default)]
    pub phone: String,
}

impl From<AddressBody> for souk_domain::orders::Address {
    fn from(a: AddressBody) -> Self {
        souk_domain::orders::Address {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            phone: a.phone,
        }
    }
}

impl From<souk_domain::orders::Address> for AddressBody {
    fn from(a: souk_domain::orders::Address) -> Self {
        AddressBody {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            region: a.region,
            postal_code: a.postal_code,
            country: a.country,
            phone: a.phone,
        }
    }
}

/// Money in a request: `{"amount": minor units, "currency": "USD"}`, in the shop's currency.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyInput {
    pub amount: i64,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

impl MoneyInput {
    /// The amount in minor units, if it is in the shop's currency (else 422
    /// `currency_mismatch`: Souk does not convert).
    pub fn minor_units(
        &self,
        field: &str,
        shop: souk_domain::money::Currency,
    ) -> Result<i64, crate::error::ApiError> {
        if self.currency != shop.code() {
            return Err(crate::error::ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                "currency_mismatch",
                "Currency mismatch",
                format!(
                    "{field} is in {}, but this shop sells in {shop}; amounts are not converted",
                    self.currency.escape_debug()
                ),
            ));
        }
        Ok(self.amount)
    }
}

/// Money in a request where a bare integer used to be the shape: `{amount, currency}` (see
/// [`MoneyInput`]), or, deprecated, a bare integer of minor units in the shop's currency.
#[derive(Debug, Clone)]
pub enum MoneyArg {
    Money(MoneyInput),
    /// Deprecated: minor units, in the shop's currency.
    MinorUnits(i64),
}

impl<'de> Deserialize<'de> for MoneyArg {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Shape {
            Money(MoneyInput),
            MinorUnits(i64),
        }
        match Shape::deserialize(d) {
            Ok(Shape::Money(m)) => Ok(MoneyArg::Money(m)),
            Ok(Shape::MinorUnits(n)) => Ok(MoneyArg::MinorUnits(n)),
            Err(_) => Err(serde::de::Error::custom(
                "expected money: {\"amount\": minor units, \"currency\": the shop's currency code}",
            )),
        }
    }
}

impl MoneyArg {
    /// See [`MoneyInput::minor_units`]; a bare integer is taken as the shop's currency.
    pub fn minor_units(
        &self,
        field: &str,
        shop: souk_domain::money::Currency,
    ) -> Result<i64, crate::error::ApiError> {
        match self {
            MoneyArg::Money(m) => m.minor_units(field, shop),
            MoneyArg::MinorUnits(n) => Ok(*n),
        }
    }
}

impl utoipa::PartialSchema for MoneyArg {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        use utoipa::openapi::{Deprecated, Ref};
        OneOfBuilder::new()
            .item(Ref::from_schema_name("MoneyInput"))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .deprecated(Some(Deprecated::True))
                    .description(Some(
                        "Deprecated: minor units in the shop's currency; send `{amount, currency}`.",
                    )),
            )
            .description(Some(
                "Money: `{amount, currency}` in the shop's currency (another currency is 422 \
                 `currency_mismatch`); a bare integer of minor units is still accepted, deprecated.",
            ))
            .into()
    }
}

impl ToSchema for MoneyArg {
    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            "MoneyInput".to_owned(),
            <MoneyInput as utoipa::PartialSchema>::schema(),
        ));
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceBody {
    pub vendor_id: Uuid,
    /// From paid orders, after commission (and refunds).
    pub earned: MoneyBody,
    /// The platform's commission on those orders.
    pub commission: MoneyBody,
    pub paid_out: MoneyBody,
    /// Owed to the vendor now: earned − paid out.
    pub available: MoneyBody,
    /// Vendor-order totals of orders awaiting payment (not earned yet).
    pub pending: MoneyBody,
}

pub fn balance_body(b: &ledger::Balance, currency: &str) -> BalanceBody {
    BalanceBody {
        vendor_id: b.vendor_id,
        earned: money(b.earned, currency),
        commission: money(b.commission, currency),
        paid_out: money(b.paid_out, currency),
        available: money(b.available, currency),
        pending: money(b.pending, currency),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VendorAdminBody {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    /// `pending`, `active` or `suspended`.
    #[schema(value_type = crate::api::vocabulary::VendorStatus)]
    pub status: String,
    pub owner_email: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: Option<String>,
}

impl VendorAdminBody {
    pub fn from_record(
        v: &VendorRecord,
        owner_email: Option<String>,
        created_at: Option<i64>,
    ) -> Self {
        VendorAdminBody {
            id: v.id,
            handle: v.handle.clone(),
            name: v.name.clone(),
            status: v.status.clone(),
            owner_email,
            created_at: created_at.map(rfc3339),
        }
    }
}
