//! Migrations, embedded in the binary: one folder per backend, identical versions and names.

use std::borrow::Cow;

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::{Db, StorageError};

macro_rules! migrations {
    ($backend:literal: $(($version:literal, $name:literal, $file:literal)),+ $(,)?) => {
        vec![$(Migration::new(
            $version,
            Cow::Borrowed($name),
            MigrationType::Simple,
            SqlStr::from_static(include_str!(concat!("../migrations/", $backend, "/", $file))),
            false,
        )),+]
    };
}

fn sqlite() -> Migrator {
    Migrator::with_migrations(
        migrations!("sqlite": (1, "catalog", "0001_catalog.sql"), (2, "jobs", "0002_jobs.sql"), (3, "accounts", "0003_accounts.sql"), (4, "audit", "0004_audit.sql"), (5, "api_keys", "0005_api_keys.sql"), (6, "orders", "0006_orders.sql"), (7, "payments", "0007_payments.sql"), (8, "events", "0008_events.sql"), (9, "webhooks", "0009_webhooks.sql"), (10, "housekeeping_indexes", "0010_housekeeping_indexes.sql"), (11, "unpaid_orders", "0011_unpaid_orders.sql"), (12, "queue_at_any_backlog", "0012_queue_at_any_backlog.sql"), (13, "vendor_profiles", "0013_vendor_profiles.sql"), (14, "vendor_invitations", "0014_vendor_invitations.sql"), (15, "targeted_refunds", "0015_targeted_refunds.sql"), (16, "shipments", "0016_shipments.sql"), (17, "vendor_listing_indexes", "0017_vendor_listing_indexes.sql"), (18, "admin_panel", "0018_admin_panel.sql"), (19, "vendor_dashboard", "0019_vendor_dashboard.sql"), (20, "media", "0020_media.sql"), (21, "product_imports", "0021_product_imports.sql"), (22, "vendor_logo", "0022_vendor_logo.sql"), (23, "shop_settings", "0023_shop_settings.sql"), (24, "category_listing", "0024_category_listing.sql"), (25, "search_words", "0025_search_words.sql"), (26, "available_variants", "0026_available_variants.sql"), (27, "order_numbers", "0027_order_numbers.sql"), (28, "stock_filter_indexes", "0028_stock_filter_indexes.sql")),
    )
}

fn postgres() -> Migrator {
    Migrator::with_migrations(
        migrations!("postgres": (1, "catalog", "0001_catalog.sql"), (2, "jobs", "0002_jobs.sql"), (3, "accounts", "0003_accounts.sql"), (4, "audit", "0004_audit.sql"), (5, "api_keys", "0005_api_keys.sql"), (6, "orders", "0006_orders.sql"), (7, "payments", "0007_payments.sql"), (8, "events", "0008_events.sql"), (9, "webhooks", "0009_webhooks.sql"), (10, "housekeeping_indexes", "0010_housekeeping_indexes.sql"), (11, "unpaid_orders", "0011_unpaid_orders.sql"), (12, "queue_at_any_backlog", "0012_queue_at_any_backlog.sql"), (13, "vendor_profiles", "0013_vendor_profiles.sql"), (14, "vendor_invitations", "0014_vendor_invitations.sql"), (15, "targeted_refunds", "0015_targeted_refunds.sql"), (16, "shipments", "0016_shipments.sql"), (17, "vendor_listing_indexes", "0017_vendor_listing_indexes.sql"), (18, "admin_panel", "0018_admin_panel.sql"), (19, "vendor_dashboard", "0019_vendor_dashboard.sql"), (20, "media", "0020_media.sql"), (21, "product_imports", "0021_product_imports.sql"), (22, "vendor_logo", "0022_vendor_logo.sql"), (23, "shop_settings", "0023_shop_settings.sql"), (24, "category_listing", "0024_category_listing.sql"), (25, "search_words", "0025_search_words.sql"), (26, "available_variants", "0026_available_variants.sql"), (27, "order_numbers", "0027_order_numbers.sql"), (28, "stock_filter_indexes", "0028_stock_filter_indexes.sql")),
    )
}

impl Db {
    /// Applies every pending migration. Safe to run from several processes at once.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Db::Sqlite { write, .. } => sqlite().run(write).await?,
            Db::Postgres(pool) => postgres().run(pool).await?,
        }
        Ok(())
    }

    /// Whether the database holds Souk's schema (it was migrated at least once).
    pub async fn has_schema(&self) -> Result<bool, StorageError> {
        Ok(match self {
            Db::Sqlite { .. } => {
                crate::sql::query_scalar::<i64>(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_one(self)
                .await?
                    > 0
            }
            Db::Postgres(pool) => {
                sqlx::query_scalar::<_, bool>("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                    .fetch_one(pool)
                    .await?
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migration file that is not listed here is never run (it happened: an index existed
    /// in the folder only). Every file of each backend's folder is listed, in order, with the
    /// version and name its file name gives.
    #[test]
    fn every_migration_file_is_listed_in_order() {
        for (backend, migrator) in [("sqlite", sqlite()), ("postgres", postgres())] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend);
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|f| f.ends_with(".sql"))
                .collect();
            files.sort();
            let listed: Vec<String> = migrator
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.version, m.description))
                .collect();
            assert_eq!(listed, files, "{backend}");
        }
    }
}
