//! `souk export products [--vendor HANDLE]`: the catalog as a Shopify product CSV on stdout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use souk_domain::shopify::{self, ExportProduct};
use souk_storage::catalog;

use crate::cli::{ExportProductsArgs, GlobalArgs};
use crate::startup::{database_url, open_database};

const PAGE: u32 = 500;

pub async fn run(global: &GlobalArgs, args: ExportProductsArgs) -> anyhow::Result<ExitCode> {
    let url = database_url(global)?;
    let db = open_database(&url, 2).await?;
    if let Some(vendor) = &args.vendor
        && catalog::vendor_by_handle(&db, vendor, false)
            .await?
            .is_none()
    {
        anyhow::bail!("no vendor with handle '{vendor}'");
    }
    let stdout = std::io::stdout();
    let mut writer = csv::Writer::from_writer(stdout.lock());
    shopify::write_header(&mut writer)?;
    let mut cursor = None;
    loop {
        let (products, next) =
            catalog::export_page(&db, args.vendor.as_deref(), cursor, PAGE).await?;
        for (vendor_name, draft) in &products {
            shopify::write_product(
                &mut writer,
                &ExportProduct { vendor_name, draft },
                global.currency,
            )?;
        }
        match next {
            Some(_) => cursor = next,
            None => break,
        }
    }
    writer
        .into_inner()
        .map_err(|e| e.into_error())
        .context("cannot write to standard output")?
        .flush()?;
    db.close().await;
    Ok(ExitCode::SUCCESS)
}
