//! Accounts as platform staff manage them: find one by email, see its orders and sessions, and
//! disable it (every session ends at once and it cannot sign in) or enable it again.

use souk_storage::accounts::{self, SessionRecord};
use souk_storage::customers::{self, CustomerRow};
use souk_storage::orders::{self, OrderFilter, OrderRow};
use uuid::Uuid;

use crate::{Actor, App, AppError, Kind, record_audit};

/// Accounts by email prefix (any case), or newest first without one.
pub async fn search(
    app: &App,
    email_prefix: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<CustomerRow>, AppError> {
    let prefix = email_prefix
        .map(|p| p.trim().to_lowercase())
        .filter(|p| !p.is_empty());
    if prefix.as_ref().is_some_and(|p| p.chars().count() > 254) {
        return Err(AppError::field("q", "at most 254 characters"));
    }
    Ok(customers::list(&app.db, prefix.as_deref(), before, limit).await?)
}

/// An account with its latest orders and live sessions.
pub struct CustomerOverview {
    pub customer: CustomerRow,
    pub orders: Vec<OrderRow>,
    pub sessions: Vec<SessionRecord>,
}

pub async fn overview(app: &App, id: Uuid) -> Result<CustomerOverview, AppError> {
    let customer = customers::get(&app.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such customer"))?;
    let filter = OrderFilter {
        user_id: Some(id),
        limit: 25,
        ..Default::default()
    };
    let orders = orders::list(&app.db, &filter).await?;
    let sessions = accounts::list_sessions(&app.db, id).await?;
    Ok(CustomerOverview {
        customer,
        orders,
        sessions,
    })
}

/// Disables an account (its sessions end in the same transaction) or enables it again.
/// Staff cannot disable their own account: the panel would lock them out mid-action.
pub async fn set_disabled(
    app: &App,
    actor: &Actor,
    id: Uuid,
    disabled: bool,
) -> Result<CustomerRow, AppError> {
    if disabled && id == actor.user_id {
        return Err(AppError::refused(
            Kind::Conflict,
            "cannot_disable_self",
            "Not your own account",
            "you cannot disable the account you are signed in with",
        ));
    }
    let mut tx = app.db.begin_write().await?;
    if !accounts::set_disabled(&mut tx, id, disabled).await? {
        return Err(AppError::not_found("no such customer"));
    }
    let ended = if disabled {
        accounts::revoke_all_sessions(&mut tx, id).await?
    } else {
        0
    };
    let action = if disabled {
        "user.disable"
    } else {
        "user.enable"
    };
    record_audit(
        &mut tx,
        actor,
        action,
        ("user", id),
        None,
        serde_json::json!({"sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    customers::get(&app.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("no such customer"))
}

/// Ends one session of an account (a stolen laptop, a shared computer).
pub async fn end_session(
    app: &App,
    actor: &Actor,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    if !accounts::revoke_session_in(&mut tx, user_id, session_id).await? {
        return Err(AppError::not_found("no such session"));
    }
    record_audit(
        &mut tx,
        actor,
        "user.end_session",
        ("user", user_id),
        None,
        serde_json::json!({"session_id": session_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
