//! The storefront's branding: one row of settings platform admins change.

use crate::{Db, StorageError, Tx, now_ms};

/// The branding as stored (see `shop_settings` in the migrations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopSettingsRow {
    pub shop_name: Option<String>,
    pub tagline: String,
    pub accent_color: Option<String>,
    pub logo_url: Option<String>,
    /// JSON: `[{"label": …, "url": …}]`.
    pub footer_links: String,
}

crate::from_row!(ShopSettingsRow {
    shop_name,
    tagline,
    accent_color,
    logo_url,
    footer_links
});

/// The settings, or the defaults when none were ever saved.
pub async fn settings(db: &Db) -> Result<ShopSettingsRow, StorageError> {
    let row: Option<ShopSettingsRow> = crate::sql::query_as(
            "SELECT shop_name, tagline, accent_color, logo_url, footer_links FROM shop_settings WHERE id = 1",
        )
        .fetch_optional(db)
        .await?;
    Ok(row.unwrap_or_else(|| ShopSettingsRow {
        footer_links: "[]".to_owned(),
        ..ShopSettingsRow::default()
    }))
}

/// Saves every setting at once.
pub async fn save(tx: &mut Tx, s: &ShopSettingsRow) -> Result<(), StorageError> {
    crate::sql::query(
            "INSERT INTO shop_settings (id, shop_name, tagline, accent_color, logo_url, footer_links, updated_at) \
             VALUES (1, $1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE SET shop_name = $1, \
             tagline = $2, accent_color = $3, logo_url = $4, footer_links = $5, updated_at = $6",
        )
        .bind(&s.shop_name)
        .bind(&s.tagline)
        .bind(&s.accent_color)
        .bind(&s.logo_url)
        .bind(&s.footer_links)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}
