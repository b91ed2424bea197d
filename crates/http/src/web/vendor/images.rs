//! Uploading images to a product from its page: a `multipart/form-data` form (a plain file
//! input, several files at once; `upload.js` adds dropping files on it). The form's token is
//! checked like every other form's before anything is stored.

use axum::extract::multipart::Multipart;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use souk_app::{AppError, FieldProblem};

use super::VendorSession;
use super::editor::{editor_page, fields_of, own_product};
use crate::AppState;
use crate::api::auth::ClientInfo;
use crate::api::common::actor;
use crate::web::panel::done;
use crate::web::session::{PanelSession, csrf_refused, genuine_form};
use crate::web::{CspNonce, Flash, PageError};

/// What the upload form sent.
#[derive(Default)]
struct Upload {
    csrf: String,
    alt: String,
    files: Vec<Vec<u8>>,
}

async fn read(mut multipart: Multipart) -> Result<Upload, StatusCode> {
    let mut upload = Upload::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(upload),
            Err(e) => return Err(e.status()),
        };
        match field.name() {
            Some("csrf") => upload.csrf = field.text().await.map_err(|e| e.status())?,
            Some("alt") => upload.alt = field.text().await.map_err(|e| e.status())?,
            Some("image") => {
                let bytes = field.bytes().await.map_err(|e| e.status())?;
                // A form sent with no file chosen has an empty part.
                if !bytes.is_empty() {
                    upload.files.push(bytes.to_vec());
                }
            }
            _ => {}
        }
    }
}

pub async fn upload(
    State(state): State<AppState>,
    session: VendorSession,
    nonce: CspNonce,
    client: ClientInfo,
    headers: HeaderMap,
    Path(id): Path<String>,
    multipart: Multipart,
) -> Response {
    let upload = match read(multipart).await {
        Ok(upload) => upload,
        Err(StatusCode::PAYLOAD_TOO_LARGE) => {
            return PageError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "File too large",
                "images may be at most 20 MB each, and one upload at most 20 MB in all; \
                 go back and choose fewer or smaller images",
            )
            .render(&nonce);
        }
        Err(_) => return csrf_refused(&nonce),
    };
    if !genuine_form(&state, &headers, session.csrf(), &upload.csrf) {
        return csrf_refused(&nonce);
    }
    let product = match own_product(&state, &session, &id).await {
        Ok(p) => p,
        Err(e) => return e.render(&nonce),
    };
    if upload.files.is_empty() {
        let message = "choose an image to upload".to_owned();
        return refused(
            &state,
            &session,
            &nonce,
            &product,
            message,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let who = actor(&session.principal, &client);
    let total = upload.files.len();
    let mut added = 0;
    for file in upload.files {
        let saved = souk_app::product_images::add(
            &state.app,
            &who,
            session.vendor_id,
            product.id,
            file,
            &upload.alt,
        )
        .await;
        match saved {
            Ok(_) => added += 1,
            Err(AppError::Refused {
                kind,
                detail,
                fields,
                ..
            }) if kind != souk_app::Kind::NotFound => {
                let why = fields.into_iter().next().map_or(detail, |f| f.message);
                let message = if total == 1 {
                    why
                } else {
                    format!("image {} of {total} was refused: {why}", added + 1)
                        + &if added > 0 {
                            format!(" (the {added} before it were added)")
                        } else {
                            String::new()
                        }
                };
                let product = match own_product(&state, &session, &id).await {
                    Ok(p) => p,
                    Err(e) => return e.render(&nonce),
                };
                return refused(
                    &state,
                    &session,
                    &nonce,
                    &product,
                    message,
                    crate::web::form_status(kind),
                )
                .await;
            }
            Err(e) => return PageError::from(e).render(&nonce),
        }
    }
    let message = match added {
        1 => "Image added: it shows after the product's other images.".to_owned(),
        n => format!("{n} images added, after the product's other images."),
    };
    done(&format!("/vendor/products/{}", product.id), &message)
}

/// The product page again, with why the upload was refused beside the file input.
async fn refused(
    state: &AppState,
    session: &VendorSession,
    nonce: &CspNonce,
    product: &souk_domain::catalog::Product,
    message: String,
    status: StatusCode,
) -> Response {
    let problem = FieldProblem {
        field: "image".into(),
        message,
    };
    editor_page(
        state,
        session,
        nonce,
        &Flash(None),
        Some(product),
        fields_of(product),
        vec![problem],
        status,
    )
    .await
}
