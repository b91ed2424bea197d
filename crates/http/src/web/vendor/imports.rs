//! Importing a Shopify product CSV from the dashboard, and exporting the catalog as one. The
//! upload is checked at once; its products are written in the background and the import's
//! page shows a progress bar (kept current by `import_progress.js`, or by reloading) and the
//! file's refused lines.

use axum::extract::multipart::Multipart;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::{Value, context};
use souk_app::AppError;
use souk_storage::imports::ImportRow;
use uuid::Uuid;

use super::{VendorSession, chrome};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::session::{PanelSession, csrf_refused, genuine_form};
use crate::web::{CspNonce, Flash, Page, PageError};

/// A running import not heard from for this long was cut off (its server stopped).
const STALLED_MS: i64 = 120_000;

fn status(row: &ImportRow) -> &str {
    if row.status == "running" && souk_storage::now_ms() - row.updated_at > STALLED_MS {
        "interrupted"
    } else {
        &row.status
    }
}

fn percent(row: &ImportRow) -> i64 {
    if row.products == 0 {
        100
    } else {
        row.written * 100 / row.products
    }
}

fn summary(row: &ImportRow) -> Value {
    context! {
        id => row.id.to_string(), file => row.file_name, status => status(row),
        rows => row.rows_read, products => row.products, written => row.written,
        percent => percent(row), error => row.error,
        rejected => serde_json::from_str::<serde_json::Value>(&row.rejected)
            .ok()
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0),
        created_at => row.created_at,
    }
}

async fn import_form(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    flash: &Flash,
    problem: Option<(StatusCode, String)>,
) -> Response {
    let recent = match souk_storage::imports::recent(&state.db, session.vendor_id, 10).await {
        Ok(rows) => rows,
        Err(e) => return PageError::from(e).render(nonce),
    };
    let (code, problem) = match problem {
        Some((code, message)) => (code, Some(message)),
        None => (StatusCode::OK, None),
    };
    let ctx = context! {
        imports => recent.iter().map(summary).collect::<Vec<_>>(),
        problem => problem,
        ..chrome(&session.principal, &session.csrf, "products")
    };
    Page::new("vendor/import.html", ctx)
        .with_status(code)
        .render(nonce, flash)
}

pub async fn show_form(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
) -> Response {
    import_form(&state, &session, &nonce, &flash, None).await
}

pub async fn start(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    client: ClientInfo,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Response {
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("csrf") => csrf = field.text().await.unwrap_or_default(),
                Some("file") => {
                    let name = field.file_name().unwrap_or_default().to_owned();
                    match field.bytes().await {
                        Ok(bytes) if !bytes.is_empty() => file = Some((name, bytes.to_vec())),
                        Ok(_) => {}
                        Err(e) => return too_large_or_refused(&nonce, e.status()),
                    }
                }
                _ => {}
            },
            Ok(None) => break,
            Err(e) => return too_large_or_refused(&nonce, e.status()),
        }
    }
    if !genuine_form(&state, &headers, session.csrf(), &csrf) {
        return csrf_refused(&nonce);
    }
    let Some((name, bytes)) = file else {
        let problem = Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            "choose a CSV file to import".to_owned(),
        ));
        return import_form(&state, &session, &nonce, &Flash(None), problem).await;
    };
    let who = actor(&session.principal, &client);
    let started = souk_app::catalog_import::start_for_vendor(
        &state.app,
        &who,
        session.vendor_id,
        &name,
        &bytes,
    )
    .await;
    match started {
        Ok(id) => Redirect::to(&format!("/vendor/imports/{id}")).into_response(),
        Err(AppError::Refused {
            kind,
            detail,
            fields,
            ..
        }) if kind != souk_app::Kind::NotFound => {
            let message = fields.into_iter().next().map_or(detail, |f| f.message);
            let problem = Some((crate::web::form_status(kind), message));
            import_form(&state, &session, &nonce, &Flash(None), problem).await
        }
        Err(e) => PageError::from(e).render(&nonce),
    }
}

fn too_large_or_refused(nonce: &CspNonce, status: StatusCode) -> Response {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "File too large",
            "a CSV file may be at most 20 MB; split it and import the parts",
        )
        .render(nonce);
    }
    csrf_refused(nonce)
}

async fn own_import(
    state: &AppState,
    session: &VendorSession,
    id: &str,
) -> Result<ImportRow, PageError> {
    let id = Uuid::parse_str(id).map_err(|_| PageError::not_found("no such import"))?;
    souk_storage::imports::get(&state.db, session.vendor_id, id)
        .await?
        .ok_or_else(|| PageError::not_found("no such import"))
}

pub async fn show(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    let row = match own_import(&state, &session, &id).await {
        Ok(row) => row,
        Err(e) => return e.render(&nonce),
    };
    let rejected: Vec<serde_json::Value> = serde_json::from_str(&row.rejected).unwrap_or_default();
    let ctx = context! {
        import => summary(&row),
        lines => rejected.iter().map(|r| context! {
            line => r["line"].as_u64(), message => r["message"].as_str(),
        }).collect::<Vec<_>>(),
        ..chrome(&session.principal, &session.csrf, "products")
    };
    Page::new("vendor/import_progress.html", ctx).render(&nonce, &flash)
}

/// How far an import has got, for the progress bar's script.
pub async fn progress(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    Path(id): Path<String>,
) -> Response {
    match own_import(&state, &session, &id).await {
        Ok(row) => axum::Json(serde_json::json!({
            "status": status(&row), "written": row.written, "products": row.products,
            "percent": percent(&row),
        }))
        .into_response(),
        Err(e) => e.render(&nonce),
    }
}

/// The whole catalog as a Shopify product CSV (any status).
pub async fn export(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
) -> Response {
    match souk_app::catalog_import::vendor_csv(&state.app, session.vendor_id).await {
        Ok(csv) => {
            let mut response = csv.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"products.csv\""),
            );
            response
        }
        Err(e) => PageError::from(e).render(&nonce),
    }
}
