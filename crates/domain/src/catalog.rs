//! Catalog rules: vendors, products, variants, categories, and what makes them valid.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;
use uuid::Uuid;

use crate::money::Money;

/// Most options a product may have (as in Shopify: size, colour, material…).
pub const MAX_OPTIONS: usize = 3;
pub const MAX_HANDLE_LEN: usize = 255;
pub const MAX_TITLE_LEN: usize = 255;
pub const MAX_VARIANTS: usize = 2048;
pub const MAX_IMAGES: usize = 250;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error(
        "handle '{0}' is invalid: use 1-255 lower-case letters, digits, '-' or '_', starting with a letter or digit"
    )]
    InvalidHandle(String),
    #[error("{0}")]
    Invalid(String),
}

/// A URL-safe, human-readable identifier (`blue-t-shirt`), unique per kind of object.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Handle(String);

impl Handle {
    pub fn parse(s: &str) -> Result<Self, CatalogError> {
        let ok = !s.is_empty()
            && s.len() <= MAX_HANDLE_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            && s.as_bytes()[0].is_ascii_alphanumeric();
        if ok {
            Ok(Handle(s.to_owned()))
        } else {
            Err(CatalogError::InvalidHandle(s.to_owned()))
        }
    }

    /// Derives a handle from a display name: "Crème Brûlée & Co." → "creme-brulee-co".
    pub fn slugify(name: &str) -> Option<Self> {
        let mut out = String::new();
        let mut pending_dash = false;
        for c in name.chars() {
            let c = fold_accent(c);
            if c.is_ascii_alphanumeric() {
                if pending_dash && !out.is_empty() {
                    out.push('-');
                }
                pending_dash = false;
                out.push(c.to_ascii_lowercase());
            } else {
                pending_dash = true;
            }
            if out.len() >= MAX_HANDLE_LEN - 1 {
                break;
            }
        }
        Handle::parse(out.trim_end_matches('-')).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fold_accent(c: char) -> char {
    match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'a',
        'ç' | 'Ç' => 'c',
        'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
        'ñ' | 'Ñ' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
        'ý' | 'ÿ' | 'Ý' => 'y',
        other => other,
    }
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

string_enum!(
    /// Only `active` vendors' products are shown to shoppers.
    VendorStatus { Pending => "pending", Active => "active", Suspended => "suspended" }
);

string_enum!(
    /// Only `published` products are shown to shoppers.
    ProductStatus { Draft => "draft", Published => "published", Archived => "archived" }
);

/// A product as a vendor (or an import) describes it, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    pub handle: Handle,
    pub title: String,
    /// Already sanitized: see [`crate::html::sanitize`].
    pub description_html: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub status: ProductStatus,
    /// Category path from the root, by display name (`["Apparel", "Shirts"]`).
    pub category_path: Vec<String>,
    pub option_names: Vec<String>,
    pub variants: Vec<VariantDraft>,
    pub images: Vec<ImageDraft>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VariantDraft {
    pub sku: Option<String>,
    /// One value per option name, in the product's option order.
    pub option_values: Vec<String>,
    pub price: i64,
    pub compare_at_price: Option<i64>,
    /// Units on hand. `None`: an existing variant keeps the stock it has (a new one starts at
    /// 0), so saving a product loaded a while ago never undoes the sales made since.
    pub stock: Option<i64>,
    pub track_inventory: bool,
    pub grams: i64,
}

/// The most units one variant may hold (also the bound of the stock endpoint): far above any
/// shop's stock, far below where restoring a cancelled order's units could overflow.
pub const MAX_STOCK: i64 = 1_000_000_000;
/// The highest price, in minor units (10 billion in a two-decimal currency).
pub const MAX_PRICE: i64 = 1_000_000_000_000;
/// The heaviest variant, in grams (1,000 tonnes): keeps weight sums of a cart far from overflow.
pub const MAX_GRAMS: i64 = 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageDraft {
    pub url: String,
    pub alt: String,
}

impl ProductDraft {
    /// Checks the rules every stored product obeys; returns every violation, not just the first.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let title = self.title.trim();
        if title.is_empty() {
            problems.push("title must not be empty".to_owned());
        } else if title.chars().count() > MAX_TITLE_LEN {
            problems.push(format!("title must be at most {MAX_TITLE_LEN} characters"));
        }
        if self.option_names.len() > MAX_OPTIONS {
            problems.push(format!("a product has at most {MAX_OPTIONS} options"));
        }
        let mut names = HashSet::new();
        for name in &self.option_names {
            if name.trim().is_empty() {
                problems.push("option names must not be empty".to_owned());
            } else if !names.insert(name.trim().to_lowercase()) {
                problems.push(format!("option '{name}' is listed twice"));
            }
        }
        if self.variants.is_empty() {
            problems.push("a product needs at least one variant".to_owned());
        }
        if self.variants.len() > MAX_VARIANTS {
            problems.push(format!("a product has at most {MAX_VARIANTS} variants"));
        }
        if self.images.len() > MAX_IMAGES {
            problems.push(format!("a product has at most {MAX_IMAGES} images"));
        }
        let mut combos = HashSet::new();
        let mut skus = HashSet::new();
        for v in &self.variants {
            if v.option_values.len() != self.option_names.len() {
                problems.push(format!(
                    "variant {} has {} option values but the product has {} options",
                    v.describe(),
                    v.option_values.len(),
                    self.option_names.len()
                ));
            } else if v.option_values.iter().any(|o| o.trim().is_empty()) {
                problems.push(format!(
                    "variant {} has an empty option value",
                    v.describe()
                ));
            } else if !combos.insert(v.option_values.join("\u{1f}")) {
                problems.push(format!(
                    "two variants have the same options ({})",
                    v.option_values.join(" / ")
                ));
            }
            if let Some(sku) = &v.sku
                && !skus.insert(sku.as_str())
            {
                problems.push(format!("SKU '{sku}' is used by two variants"));
            }
            if v.price < 0 {
                problems.push("price must not be negative".to_owned());
            } else if v.price > MAX_PRICE {
                problems.push(format!("price must be at most {MAX_PRICE}"));
            }
            if v.compare_at_price.is_some_and(|c| c < 0) {
                problems.push("compare-at price must not be negative".to_owned());
            } else if v.compare_at_price.is_some_and(|c| c > MAX_PRICE) {
                problems.push(format!("compare-at price must be at most {MAX_PRICE}"));
            }
            match v.stock {
                Some(s) if s < 0 => problems.push(format!(
                    "variant {}: stock must not be negative",
                    v.describe()
                )),
                Some(s) if s > MAX_STOCK => problems.push(format!(
                    "variant {}: stock must be at most {MAX_STOCK}",
                    v.describe()
                )),
                _ => {}
            }
            if v.grams < 0 {
                problems.push("weight must not be negative".to_owned());
            } else if v.grams > MAX_GRAMS {
                problems.push(format!("weight must be at most {MAX_GRAMS} grams"));
            }
        }
        for image in &self.images {
            if !is_http_url(&image.url) && !is_media_path(&image.url) {
                problems.push(format!(
                    "image URL '{}' must be an http(s) URL or an uploaded image",
                    image.url
                ));
            }
        }
        problems
    }
}

impl VariantDraft {
    fn describe(&self) -> String {
        match &self.sku {
            Some(sku) => format!("'{sku}'"),
            None => format!("'{}'", self.option_values.join(" / ")),
        }
    }

    /// Display title: option values joined, as shops show them ("M / Blue").
    pub fn title(&self) -> String {
        variant_title(&self.option_values)
    }
}

pub fn variant_title(values: &[String]) -> String {
    if values.is_empty() {
        "Default".to_owned()
    } else {
        values.join(" / ")
    }
}

pub fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    match rest {
        Some(rest) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    }
}

/// Whether `s` is the path of an image uploaded to this shop: `/media/<sha256 hex>.<jpg|png>`.
pub fn is_media_path(s: &str) -> bool {
    let Some((hash, ext)) = s.strip_prefix("/media/").and_then(|n| n.split_once('.')) else {
        return false;
    };
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && matches!(ext, "jpg" | "png")
}

/// Whether a shopper can buy a variant now.
pub fn is_available(track_inventory: bool, stock: i64) -> bool {
    !track_inventory || stock > 0
}

// ----- read models: what the storefront shows -----

#[derive(Debug, Clone, PartialEq)]
pub struct VendorRef {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryRef {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductOption {
    pub name: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub id: Uuid,
    pub sku: Option<String>,
    pub title: String,
    pub options: Vec<(String, String)>,
    pub price: Money,
    pub compare_at_price: Option<Money>,
    pub stock: i64,
    pub track_inventory: bool,
    pub grams: i64,
}

impl Variant {
    pub fn available(&self) -> bool {
        is_available(self.track_inventory, self.stock)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: Uuid,
    pub handle: String,
    pub title: String,
    pub description_html: String,
    pub product_type: String,
    pub tags: Vec<String>,
    pub status: ProductStatus,
    pub vendor: VendorRef,
    pub categories: Vec<CategoryRef>,
    pub images: Vec<ImageDraft>,
    pub options: Vec<ProductOption>,
    pub variants: Vec<Variant>,
    pub created_at_ms: i64,
}

impl Product {
    /// Option values in the order variants first use them.
    pub fn collect_options(names: &[String], variants: &[Vec<String>]) -> Vec<ProductOption> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let mut values: Vec<String> = Vec::new();
                for v in variants {
                    if let Some(value) = v.get(i)
                        && !values.contains(value)
                    {
                        values.push(value.clone());
                    }
                }
                ProductOption {
                    name: name.clone(),
                    values,
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub handle: String,
    pub name: String,
    pub position: i64,
}

/// A category with its descendants, for the storefront's navigation.
#[derive(Debug, Clone, PartialEq)]
pub struct CategoryNode {
    pub id: Uuid,
    pub handle: String,
    pub name: String,
    pub children: Vec<CategoryNode>,
}

/// Builds the forest of categories from a flat list (parents may come after children).
pub fn category_tree(mut all: Vec<Category>) -> Vec<CategoryNode> {
    all.sort_by(|a, b| {
        a.position
            .cmp(&b.position)
            .then_with(|| a.name.cmp(&b.name))
    });
    fn build(parent: Option<Uuid>, all: &[Category], depth: usize) -> Vec<CategoryNode> {
        if depth > 64 {
            return Vec::new(); // a cycle cannot be stored, but never recurse without bound
        }
        all.iter()
            .filter(|c| c.parent_id == parent)
            .map(|c| CategoryNode {
                id: c.id,
                handle: c.handle.clone(),
                name: c.name.clone(),
                children: build(Some(c.id), all, depth + 1),
            })
            .collect()
    }
    let known: HashSet<Uuid> = all.iter().map(|c| c.id).collect();
    // Orphans (parent missing) are shown at the root rather than lost.
    let fixed: Vec<Category> = all
        .iter()
        .cloned()
        .map(|mut c| {
            if c.parent_id.is_some_and(|p| !known.contains(&p)) {
                c.parent_id = None;
            }
            c
        })
        .collect();
    build(None, &fixed, 0)
}

/// The order of a product listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductSort {
    Newest,
    PriceAsc,
    PriceDesc,
    Title,
    /// Best full-text match first; only with a search query.
    Relevance,
}

impl ProductSort {
    pub const ALL: [ProductSort; 5] = [
        Self::Newest,
        Self::PriceAsc,
        Self::PriceDesc,
        Self::Title,
        Self::Relevance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::PriceAsc => "price_asc",
            Self::PriceDesc => "price_desc",
            Self::Title => "title",
            Self::Relevance => "relevance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// What a shopper asked the catalog for.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductQuery {
    pub search: Option<String>,
    pub category: Option<String>,
    pub vendor: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub in_stock: bool,
    pub sort: ProductSort,
    pub limit: u32,
}

/// Splits a shopper's search text into safe search terms: letters and digits only, at most 16.
pub fn search_terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(16)
        .map(|t| t.to_lowercase().chars().take(64).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ProductDraft {
        ProductDraft {
            handle: Handle::parse("tee").unwrap(),
            title: "Tee".into(),
            description_html: String::new(),
            product_type: String::new(),
            tags: vec![],
            status: ProductStatus::Published,
            category_path: vec![],
            option_names: vec!["Size".into()],
            variants: vec![VariantDraft {
                sku: Some("T-S".into()),
                option_values: vec!["S".into()],
                price: 100,
                compare_at_price: None,
                stock: Some(1),
                track_inventory: true,
                grams: 0,
            }],
            images: vec![],
        }
    }

    #[test]
    fn handles() {
        assert!(Handle::parse("blue-shirt_2").is_ok());
        for bad in ["", "Blue", "-x", "a b", "é", &"a".repeat(256)] {
            assert!(Handle::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Handle::slugify("Crème Brûlée & Co.").unwrap().as_str(),
            "creme-brulee-co"
        );
        assert_eq!(Handle::slugify("  --  "), None);
    }

    #[test]
    fn a_valid_draft_has_no_problems() {
        assert!(draft().validate().is_empty());
    }

    #[test]
    fn draft_problems_are_all_reported() {
        let mut d = draft();
        d.title = " ".into();
        let mut twin = d.variants[0].clone();
        twin.stock = Some(-1);
        d.variants.push(twin);
        d.images.push(ImageDraft {
            url: "ftp://x".into(),
            alt: String::new(),
        });
        let problems = d.validate();
        assert!(problems.iter().any(|p| p.contains("title")));
        assert!(problems.iter().any(|p| p.contains("same options")));
        assert!(problems.iter().any(|p| p.contains("SKU 'T-S'")));
        assert!(problems.iter().any(|p| p.contains("stock")));
        assert!(problems.iter().any(|p| p.contains("image URL")));
    }

    #[test]
    fn tree_nests_children_and_keeps_orphans() {
        let id = |n: u128| Uuid::from_u128(n);
        let c = |i, p: Option<u128>, h: &str| Category {
            id: id(i),
            parent_id: p.map(id),
            handle: h.into(),
            name: h.into(),
            position: 0,
        };
        let tree = category_tree(vec![
            c(2, Some(1), "shirts"),
            c(1, None, "apparel"),
            c(3, Some(99), "lost"),
        ]);
        assert_eq!(tree.len(), 2);
        let apparel = tree.iter().find(|n| n.handle == "apparel").unwrap();
        assert_eq!(apparel.children[0].handle, "shirts");
    }

    #[test]
    fn search_terms_drop_syntax() {
        assert_eq!(
            search_terms("Blue \"shirt\" OR *x* AND-NOT:"),
            vec!["blue", "shirt", "or", "x", "and", "not"]
        );
    }
}
