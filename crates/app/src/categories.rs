//! The category tree shoppers browse, kept by platform staff: create, rename or move, delete.

use souk_domain::accounts::validate_name;
use souk_domain::catalog::{Category, Handle};
use souk_storage::catalog::{self, DeleteCategory};
use uuid::Uuid;

use crate::{Actor, App, AppError, FieldProblem, Kind, record_audit};

/// A new category as asked for.
#[derive(Debug, Clone)]
pub struct NewCategory {
    pub name: String,
    /// Default: derived from the name.
    pub handle: Option<String>,
    /// Handle of the parent category; none for a root.
    pub parent: Option<String>,
    /// Order among siblings (ascending).
    pub position: i64,
}

/// A category renamed, moved or reordered.
#[derive(Debug, Clone)]
pub struct CategoryChange {
    pub name: String,
    pub parent: Option<String>,
    pub position: i64,
}

fn problem(problems: &mut Vec<FieldProblem>, field: &str, message: impl Into<String>) {
    problems.push(FieldProblem {
        field: field.to_owned(),
        message: message.into(),
    });
}

async fn parent_id(
    app: &App,
    parent: Option<&str>,
    problems: &mut Vec<FieldProblem>,
) -> Result<Option<Uuid>, AppError> {
    let Some(handle) = parent else {
        return Ok(None);
    };
    let ids = catalog::category_ids(&app.db, &[handle.to_owned()]).await?;
    let id = ids.get(handle).copied();
    if id.is_none() {
        problem(
            problems,
            "parent",
            format!("no category with handle '{handle}'"),
        );
    }
    Ok(id)
}

/// One category by id.
pub async fn get(app: &App, id: Uuid) -> Result<Category, AppError> {
    catalog::all_categories(&app.db)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| AppError::not_found("no such category"))
}

pub async fn create(app: &App, actor: &Actor, input: NewCategory) -> Result<Category, AppError> {
    let mut problems = Vec::new();
    let name = validate_name(&input.name)
        .map_err(|m| problem(&mut problems, "name", m))
        .ok();
    let handle = match &input.handle {
        Some(h) => Handle::parse(h)
            .map_err(|e| problem(&mut problems, "handle", e.to_string()))
            .ok(),
        None => name.as_deref().and_then(Handle::slugify),
    };
    let parent = parent_id(app, input.parent.as_deref(), &mut problems).await?;
    let (Some(name), Some(handle), true) = (name, handle, problems.is_empty()) else {
        if problems.is_empty() {
            problem(
                &mut problems,
                "handle",
                "give a handle; none can be derived from the name",
            );
        }
        return Err(AppError::invalid(problems));
    };
    let mut tx = app.db.begin_write().await?;
    let id = match catalog::create_category(&mut tx, parent, handle.as_str(), &name, input.position)
        .await
    {
        Ok(id) => id,
        Err(e) if e.is_unique_violation() => {
            return Err(AppError::handle_taken(&handle));
        }
        Err(e) => return Err(e.into()),
    };
    record_audit(
        &mut tx,
        actor,
        "category.create",
        ("category", id),
        None,
        serde_json::json!({"handle": handle}),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    get(app, id).await
}

pub async fn update(
    app: &App,
    actor: &Actor,
    id: Uuid,
    change: CategoryChange,
) -> Result<Category, AppError> {
    get(app, id).await?;
    let mut problems = Vec::new();
    let name = validate_name(&change.name)
        .map_err(|m| problem(&mut problems, "name", m))
        .ok();
    let parent = parent_id(app, change.parent.as_deref(), &mut problems).await?;
    if let Some(p) = parent
        && catalog::would_cycle(&app.db, id, p).await?
    {
        problem(
            &mut problems,
            "parent",
            "a category cannot be moved under itself",
        );
    }
    let (Some(name), true) = (name, problems.is_empty()) else {
        return Err(AppError::invalid(problems));
    };
    let mut tx = app.db.begin_write().await?;
    catalog::update_category(&mut tx, id, &name, parent, change.position).await?;
    record_audit(
        &mut tx,
        actor,
        "category.update",
        ("category", id),
        None,
        serde_json::json!({"name": name}),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    get(app, id).await
}

/// Deletes a category that has no children; its products just lose it.
pub async fn delete(app: &App, actor: &Actor, id: Uuid) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    match catalog::delete_category(&mut tx, id).await? {
        DeleteCategory::Deleted => {}
        DeleteCategory::NotFound => return Err(AppError::not_found("no such category")),
        DeleteCategory::HasChildren => {
            return Err(AppError::refused(
                Kind::Conflict,
                "category_not_empty",
                "Category not empty",
                "move or delete its subcategories first",
            ));
        }
    }
    record_audit(
        &mut tx,
        actor,
        "category.delete",
        ("category", id),
        None,
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    app.catalog_changed();
    Ok(())
}
