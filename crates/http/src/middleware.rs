//! Cross-cutting HTTP behaviour: metrics, load shedding, and turning every error into a problem.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::{ApiError, PROBLEM_JSON};
use crate::extract::payload_too_large;

/// Counts requests and records latency by method, route template and status.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("souk_http_requests_total", &labels).increment(1);
    metrics::histogram!("souk_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}

/// Refuses work beyond the in-flight limit at once (503 + `Retry-After`) instead of queueing
/// without bound: under overload Souk slows down and sheds load, it does not fall over.
pub async fn shed_load(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match state.in_flight.clone().try_acquire_owned() {
        Ok(_permit) => next.run(req).await,
        Err(_) => {
            metrics::counter!("souk_http_requests_shed_total").increment(1);
            ApiError::unavailable("overloaded", "the server is at capacity; retry shortly")
                .into_response()
        }
    }
}

/// Rewrites error responses that did not come from Souk's own handlers (unknown routes, wrong
/// methods, body limits, timeouts, extractor rejections) as problem+json.
/// Live event streams carry `X-Accel-Buffering: no`, so a reverse proxy in front (nginx)
/// passes each event on as it comes rather than holding it in a buffer.
pub async fn unbuffered_streams(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let streaming = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if streaming {
        response.headers_mut().insert(
            header::HeaderName::from_static("x-accel-buffering"),
            header::HeaderValue::from_static("no"),
        );
    }
    response
}

pub async fn problem_responses(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    // A page's error is an HTML page of its own (the web face renders it).
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let detail = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(bytes) if !bytes.is_empty() => String::from_utf8_lossy(&bytes).into_owned(),
        _ => String::new(),
    };
    let mut error = match status {
        StatusCode::NOT_FOUND => ApiError::not_found("no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "method_not_allowed",
            "Method not allowed",
            "this resource does not support that method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => payload_too_large(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "unsupported_media_type",
            "Unsupported media type",
            detail,
        ),
        StatusCode::REQUEST_TIMEOUT | StatusCode::SERVICE_UNAVAILABLE => ApiError::unavailable(
            "timeout",
            "the request took too long and was abandoned; retry shortly",
        ),
        s if s.is_server_error() => ApiError::internal(),
        s => ApiError::new(
            s,
            "bad_request",
            "Bad request",
            if detail.is_empty() {
                "the request is malformed".to_owned()
            } else {
                detail
            },
        ),
    };
    if error.status != status && status != StatusCode::REQUEST_TIMEOUT {
        error.status = status;
    }
    let mut response = error.into_response();
    if let Some(allow) = allow {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// The response for a panic inside a handler: logged, answered as a generic 500.
pub fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let message = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = message, "handler panicked");
    ApiError::internal().into_response()
}

/// The largest body an image upload may have: the largest image kept, and room for the
/// multipart framing and its other fields.
pub const UPLOAD_BODY_LIMIT: usize = souk_app::images::MAX_UPLOAD_BYTES + 256 * 1024;

/// Whether the request uploads a file: a product image (the API's and the dashboard's), a
/// shop logo or a product CSV to import.
fn is_upload(req: &Request) -> bool {
    let path = req.uri().path();
    let image = path.ends_with("/images")
        && (path.starts_with("/api/vendor/products/") || path.starts_with("/vendor/products/"));
    req.method() == axum::http::Method::POST
        && (image
            || path == "/vendor/products/import"
            || path == "/vendor/shop/logo"
            || path == "/admin/storefront/logo")
}

/// Bodies larger than the server accepts are refused (413) before a handler reads them: an
/// image upload may be as large as an image Souk keeps, any other request `body_limit`. A
/// declared length over the limit is refused at once; a streamed body is cut off at it.
pub async fn limit_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = if is_upload(&req) {
        UPLOAD_BODY_LIMIT
    } else {
        state.config.body_limit
    };
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return payload_too_large().into_response();
    }
    let req = req.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, limit)));
    next.run(req).await
}
