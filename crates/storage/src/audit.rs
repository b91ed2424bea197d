//! The audit log: every admin and vendor write records who did what, when and from where,
//! in the same transaction as the write itself.

use uuid::Uuid;

use crate::db::Arg;
use crate::{Db, StorageError, Tx, now_ms};

/// One audit entry to record.
pub struct AuditEntry<'a> {
    pub actor_user_id: Uuid,
    pub actor_email: &'a str,
    /// Dotted verb, e.g. `vendor.approve`, `product.create`.
    pub action: &'a str,
    pub subject_type: &'a str,
    pub subject_id: String,
    /// The vendor the change concerns, so vendors' entries can be filtered.
    pub vendor_id: Option<Uuid>,
    pub ip: &'a str,
    pub details: serde_json::Value,
}

pub async fn record(tx: &mut Tx, e: &AuditEntry<'_>) -> Result<(), StorageError> {
    crate::sql::query(
            "INSERT INTO audit_log (id, actor_user_id, actor_email, action, subject_type, subject_id, vendor_id, ip, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(Uuid::now_v7())
        .bind(e.actor_user_id)
        .bind(e.actor_email)
        .bind(e.action)
        .bind(e.subject_type)
        .bind(&e.subject_id)
        .bind(e.vendor_id)
        .bind(e.ip)
        .bind(e.details.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(())
}

#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub actor_email: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub vendor_id: Option<Uuid>,
    pub ip: String,
    pub details: String,
    pub created_at: i64,
}

crate::from_row!(AuditRecord {
    id,
    actor_user_id,
    actor_email,
    action,
    subject_type,
    subject_id,
    vendor_id,
    ip,
    details,
    created_at
});

/// Which audit entries to list; every field narrows the list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// One vendor's entries.
    pub vendor_id: Option<Uuid>,
    /// One subject's entries: its type (`order`, `vendor`…) and id.
    pub subject: Option<(String, String)>,
    /// One action (`order.refund`).
    pub action: Option<String>,
    /// Entries before (older than) this one.
    pub before: Option<Uuid>,
    pub limit: i64,
}

/// Newest first, narrowed by `filter`.
pub async fn list(db: &Db, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StorageError> {
    let mut filters = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    if let Some(v) = filter.vendor_id {
        args.push(Arg::Uuid(v));
        filters.push(format!("vendor_id = ${}", args.len()));
    }
    if let Some((kind, id)) = &filter.subject {
        args.push(Arg::Text(kind.clone()));
        args.push(Arg::Text(id.clone()));
        filters.push(format!(
            "subject_type = ${} AND subject_id = ${}",
            args.len() - 1,
            args.len()
        ));
    }
    if let Some(action) = &filter.action {
        args.push(Arg::Text(action.clone()));
        filters.push(format!("action = ${}", args.len()));
    }
    if let Some(b) = filter.before {
        args.push(Arg::Uuid(b));
        filters.push(format!("id < ${}", args.len()));
    }
    args.push(Arg::I64(filter.limit));
    let sql = format!(
        "SELECT id, actor_user_id, actor_email, action, subject_type, subject_id, vendor_id, ip, details, created_at \
         FROM audit_log WHERE {} ORDER BY id DESC LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    crate::sql::query_as(sql).bind_all(args).fetch_all(db).await
}
