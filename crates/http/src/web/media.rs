//! Uploaded images, served from the media directory. A file's name is the digest of its bytes,
//! so it never changes: it is cached for a year and its name is its ETag. Every response
//! forbids sniffing and carries a sandboxing CSP, so even a file opened directly runs nothing.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

pub async fn serve(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: HeaderMap,
) -> Response {
    let missing = || ApiError::not_found("no such image").into_response();
    let Some(store) = &state.app.media else {
        return missing();
    };
    let (Some(path), Some(content_type)) =
        (store.path(&name), souk_storage::media::content_type(&name))
    else {
        return missing();
    };
    let etag = format!("\"{}\"", name.split('.').next().unwrap_or_default());
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match tokio::fs::read(&path).await {
            Ok(bytes) => bytes.into_response(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return missing(),
            Err(e) => {
                tracing::error!(error = %e, file = %path.display(), "cannot read a stored image");
                return ApiError::internal().into_response();
            }
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    response
}
