//! The payment work the worker runs on a timer; the payment steps themselves are use cases in
//! `souk_app::payments`.

use std::time::Duration;

use souk_storage::Db;

use souk_app::payments::{Providers, Reconciled, reconcile};

/// Runs [`reconcile`] every `every` until `shutdown` turns true.
pub async fn reconcile_forever(
    db: Db,
    providers: Providers,
    every: Duration,
    min_age: Duration,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    crate::every(every, shutdown, || async {
        match reconcile(&db, &providers, min_age).await {
            Ok(r) if r != Reconciled::default() => tracing::info!(?r, "payments reconciled"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "payment reconciliation failed; will retry"),
        }
    })
    .await;
}
