//! Accounts as platform staff look them up: by email prefix, newest first, with how many orders
//! each placed and the vendor it works for.

use uuid::Uuid;

use crate::db::Arg;
use crate::{Db, StorageError};

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub created_at: i64,
    pub email_verified_at: Option<i64>,
    pub is_admin: bool,
    pub disabled_at: Option<i64>,
    pub orders: i64,
    pub vendor_name: Option<String>,
}

crate::from_row!(CustomerRow {
    id,
    email,
    name,
    created_at,
    email_verified_at,
    is_admin,
    disabled_at,
    orders,
    vendor_name
});

const CUSTOMER_SELECT: &str = "SELECT u.id, u.email, u.name, u.created_at, u.email_verified_at, \
     u.is_admin, u.disabled_at, \
     (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id) AS orders, \
     (SELECT v.name FROM vendor_members m JOIN vendors v ON v.id = m.vendor_id WHERE m.user_id = u.id) AS vendor_name \
     FROM users u";

/// The next string after every string starting with `prefix` (its last character bumped): with
/// it, a prefix search is a range of the email index.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Accounts newest first; `email_prefix` (lower-case) narrows to emails starting with it,
/// then sorted by email. `before` continues after that id (newest first) or email (prefix).
pub async fn list(
    db: &Db,
    email_prefix: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<CustomerRow>, StorageError> {
    let mut filters = vec!["1 = 1".to_owned()];
    let mut args = Vec::new();
    let order = match email_prefix {
        Some(prefix) => {
            args.push(Arg::Text(prefix.to_owned()));
            filters.push(format!("u.email >= ${}", args.len()));
            if let Some(end) = prefix_end(prefix) {
                args.push(Arg::Text(end));
                filters.push(format!("u.email < ${}", args.len()));
            }
            args.push(Arg::Text(prefix.to_owned()));
            filters.push(format!(
                "substr(u.email, 1, length(${n})) = ${n}",
                n = args.len()
            ));
            if let Some(after) = before {
                args.push(Arg::Text(after.to_owned()));
                filters.push(format!("u.email > ${}", args.len()));
            }
            "u.email"
        }
        None => {
            if let Some(id) = before.and_then(|b| Uuid::parse_str(b).ok()) {
                args.push(Arg::Uuid(id));
                filters.push(format!("u.id < ${}", args.len()));
            }
            "u.id DESC"
        }
    };
    args.push(Arg::I64(limit));
    let sql = format!(
        "{CUSTOMER_SELECT} WHERE {} ORDER BY {order} LIMIT ${}",
        filters.join(" AND "),
        args.len()
    );
    crate::sql::query_as(sql).bind_all(args).fetch_all(db).await
}

pub async fn get(db: &Db, id: Uuid) -> Result<Option<CustomerRow>, StorageError> {
    let sql = format!("{CUSTOMER_SELECT} WHERE u.id = $1");
    crate::sql::query_as(sql).bind(id).fetch_optional(db).await
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_range_ends_just_after_every_email_that_starts_with_it() {
        assert_eq!(prefix_end("ann").as_deref(), Some("ano"));
        assert_eq!(prefix_end("a@").as_deref(), Some("aA"));
        assert_eq!(prefix_end(""), None);
        let end = prefix_end("ann").unwrap();
        for email in ["ann", "ann@example.com", "anna.b@x.org", "ann~"] {
            assert!(email >= "ann" && email < end.as_str(), "{email}");
        }
    }
}
