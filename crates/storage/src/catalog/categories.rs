//! Category administration.

use uuid::Uuid;

use super::all_categories;
use crate::{Db, StorageError, Tx, now_ms};

pub async fn create_category(
    tx: &mut Tx,
    parent: Option<Uuid>,
    handle: &str,
    name: &str,
    position: i64,
) -> Result<Uuid, StorageError> {
    let id = Uuid::now_v7();
    crate::sql::query("INSERT INTO categories (id, parent_id, handle, name, position, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(parent)
            .bind(handle)
            .bind(name)
            .bind(position)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected();
    Ok(id)
}

/// Whether making `parent` the parent of `id` would put `id` under itself.
pub async fn would_cycle(db: &Db, id: Uuid, parent: Uuid) -> Result<bool, StorageError> {
    let all = all_categories(db).await?;
    let mut at = Some(parent);
    for _ in 0..=all.len() {
        match at {
            Some(c) if c == id => return Ok(true),
            Some(c) => at = all.iter().find(|x| x.id == c).and_then(|x| x.parent_id),
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// Updates name, parent and position; false if there is no such category.
pub async fn update_category(
    tx: &mut Tx,
    id: Uuid,
    name: &str,
    parent: Option<Uuid>,
    position: i64,
) -> Result<bool, StorageError> {
    let n = crate::sql::query(
        "UPDATE categories SET name = $2, parent_id = $3, position = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(parent)
    .bind(position)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

#[derive(Debug, PartialEq, Eq)]
pub enum DeleteCategory {
    Deleted,
    NotFound,
    HasChildren,
}

/// Deletes a category without children (its products simply lose it).
pub async fn delete_category(tx: &mut Tx, id: Uuid) -> Result<DeleteCategory, StorageError> {
    let children: i64 =
        crate::sql::query_scalar("SELECT COUNT(*) FROM categories WHERE parent_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if children > 0 {
        return Ok(DeleteCategory::HasChildren);
    }
    let n = crate::sql::query("DELETE FROM categories WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    Ok(if n == 1 {
        DeleteCategory::Deleted
    } else {
        DeleteCategory::NotFound
    })
}
