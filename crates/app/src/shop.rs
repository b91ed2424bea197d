//! The storefront's branding: its name, tagline, logo, accent colour and footer links, set by
//! platform admins (the admin panel's "Storefront" page) and shown on every storefront page.

use souk_domain::branding::{self, FooterLink, MAX_FOOTER_LINKS};
use souk_storage::shop::{self, ShopSettingsRow};

use crate::{Actor, App, AppError, FieldProblem, record_audit};

/// The branding as pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// The name shown: the one saved, else the server's (`SOUK_SHOP_NAME`).
    pub shop_name: String,
    /// Whether the name was saved here (else it follows the server's setting).
    pub custom_name: bool,
    pub tagline: String,
    pub accent_color: Option<String>,
    pub logo_url: Option<String>,
    pub footer_links: Vec<FooterLink>,
}

fn branding_of(app: &App, row: ShopSettingsRow) -> Branding {
    Branding {
        custom_name: row.shop_name.is_some(),
        shop_name: row
            .shop_name
            .unwrap_or_else(|| app.settings.shop_name.clone()),
        tagline: row.tagline,
        accent_color: row.accent_color,
        logo_url: row.logo_url,
        footer_links: serde_json::from_str(&row.footer_links).unwrap_or_default(),
    }
}

pub async fn branding(app: &App) -> Result<Branding, AppError> {
    Ok(branding_of(app, shop::settings(&app.db).await?))
}

/// What an admin sends to change the branding (the logo has its own upload).
#[derive(Debug, Clone, Default)]
pub struct BrandingInput {
    /// Empty: use the server's name.
    pub shop_name: String,
    pub tagline: String,
    /// Empty: the built-in colour.
    pub accent_color: String,
    /// (label, URL) pairs; pairs left entirely empty are dropped.
    pub footer_links: Vec<(String, String)>,
}

/// Checks every field (all problems at once, each under its field) and saves them together.
pub async fn update_branding(
    app: &App,
    actor: &Actor,
    input: BrandingInput,
) -> Result<Branding, AppError> {
    let mut problems = Vec::new();
    let mut problem = |field: String, message: String| {
        problems.push(FieldProblem { field, message });
    };
    let shop_name = if input.shop_name.trim().is_empty() {
        None
    } else {
        match branding::shop_name(&input.shop_name) {
            Ok(n) => Some(n),
            Err(m) => {
                problem("shop_name".into(), m.into());
                None
            }
        }
    };
    let tagline = branding::tagline(&input.tagline).unwrap_or_else(|m| {
        problem("tagline".into(), m.into());
        String::new()
    });
    let accent_color = branding::accent_color(&input.accent_color).unwrap_or_else(|m| {
        problem("accent_color".into(), m);
        None
    });
    let given: Vec<(usize, &(String, String))> = input
        .footer_links
        .iter()
        .enumerate()
        .filter(|(_, (l, u))| !(l.trim().is_empty() && u.trim().is_empty()))
        .collect();
    if given.len() > MAX_FOOTER_LINKS {
        problem(
            "footer_links".into(),
            format!("at most {MAX_FOOTER_LINKS} links"),
        );
    }
    let mut links = Vec::new();
    for (i, (label, url)) in given {
        match branding::footer_link(label, url) {
            Ok(link) => links.push(link),
            Err(m) => problem(format!("footer_links[{i}]"), m),
        }
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let mut tx = app.db.begin_write().await?;
    let current = shop::settings(&app.db).await?;
    let row = ShopSettingsRow {
        shop_name,
        tagline,
        accent_color,
        logo_url: current.logo_url,
        footer_links: serde_json::to_string(&links).expect("links serialize"),
    };
    shop::save(&mut tx, &row).await?;
    record_audit(
        &mut tx,
        actor,
        "shop.branding",
        ("shop", "branding"),
        None,
        serde_json::json!({
            "shop_name": row.shop_name, "tagline": row.tagline,
            "accent_color": row.accent_color, "footer_links": links,
        }),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    Ok(branding_of(app, row))
}

/// Sets the shop's logo from an uploaded image (checked and re-encoded like product images;
/// pages show its 160-pixel-wide size), or removes it (`bytes: None`). Audited.
pub async fn set_logo(
    app: &App,
    actor: &Actor,
    bytes: Option<Vec<u8>>,
) -> Result<Branding, AppError> {
    let files = match bytes {
        Some(bytes) => crate::product_images::store_upload(app, bytes).await?,
        None => Vec::new(),
    };
    // The smallest size that is still at least 160 pixels wide: a header shows it small.
    let url = files
        .iter()
        .filter(|f| f.width >= 160)
        .min_by_key(|f| f.width)
        .or(files.first())
        .map(|f| crate::product_images::media_url(&f.name));
    let mut tx = app.db.begin_write().await?;
    let mut row = shop::settings(&app.db).await?;
    row.logo_url = url.clone();
    shop::save(&mut tx, &row).await?;
    record_audit(
        &mut tx,
        actor,
        "shop.logo",
        ("shop", "branding"),
        None,
        serde_json::json!({"logo_url": url}),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    Ok(branding_of(app, row))
}
