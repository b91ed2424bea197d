//! Telling the other instances that the catalog changed, so that their in-process caches of it
//! follow at once rather than at the end of their lifetime (PostgreSQL's `LISTEN`/`NOTIFY`).
//!
//! A notice is only a wake-up: it carries no data, may be lost (a listener reconnecting, a
//! failed `NOTIFY`), and the cache's time-to-live stays the safety net. On SQLite there is one
//! serving process per file, so there is nobody to tell.

use sqlx::postgres::PgListener;
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::{Db, StorageError};

/// The channel the notices go through; the payload is the id of the instance that sends it.
const CHANNEL: &str = "souk_catalog_changed";

/// Announces this process's catalog changes to the others. Cheap to call after every commit:
/// changes announced while a notice is being sent share the next one.
#[derive(Clone, Debug)]
pub struct CatalogAnnouncer {
    wake: Option<mpsc::Sender<()>>,
}

impl CatalogAnnouncer {
    /// Starts announcing for instance `me` (a background task, which ends with the last clone
    /// of the announcer). Does nothing on SQLite or outside a Tokio runtime.
    pub fn start(db: &Db, me: Uuid) -> Self {
        let (Db::Postgres(pool), Ok(runtime)) = (db, tokio::runtime::Handle::try_current()) else {
            return CatalogAnnouncer { wake: None };
        };
        let (wake, mut woken) = mpsc::channel::<()>(1);
        let pool = pool.clone();
        runtime.spawn(async move {
            while woken.recv().await.is_some() {
                if pool.is_closed() {
                    break;
                }
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(me.to_string())
                    .execute(&pool)
                    .await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, "could not tell the other instances that the \
                        catalog changed; their caches follow when their entries expire");
                }
            }
        });
        CatalogAnnouncer { wake: Some(wake) }
    }

    /// The catalog changed (committed).
    pub fn catalog_changed(&self) {
        if let Some(wake) = &self.wake {
            // Full: a notice is already due, and it will cover this change too.
            let _ = wake.try_send(());
        }
    }
}

/// What a [`CatalogListener`] heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogNotice {
    /// Another instance changed the catalog.
    Changed,
    /// The connection was lost and is back: notices may have been missed meanwhile.
    MaybeMissed,
}

/// Hears the other instances' [`CatalogAnnouncer`]s (it holds one pooled connection).
pub struct CatalogListener {
    listener: PgListener,
    me: String,
}

impl CatalogListener {
    /// Listens for instance `me`, ignoring its own notices; `None` on SQLite.
    pub async fn listen(db: &Db, me: Uuid) -> Result<Option<Self>, StorageError> {
        let Db::Postgres(pool) = db else {
            return Ok(None);
        };
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Some(CatalogListener {
            listener,
            me: me.to_string(),
        }))
    }

    /// The next notice of another instance. An error when the pool is closed (shutdown) or the
    /// database cannot be reached.
    pub async fn next(&mut self) -> Result<CatalogNotice, StorageError> {
        loop {
            match self.listener.try_recv().await? {
                Some(notice) if notice.payload() == self.me => continue,
                Some(_) => return Ok(CatalogNotice::Changed),
                None => return Ok(CatalogNotice::MaybeMissed),
            }
        }
    }
}
