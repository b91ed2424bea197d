//! The HTTP error type: every failure leaves Souk as `application/problem+json` (RFC 9457) with a
//! stable snake_case `code` clients can branch on, a short `title` and a specific `detail`.
//!
//! Policy: client errors say exactly what was wrong; server errors are logged with their cause
//! and answered with a generic message (no internals leak). Storage errors convert here, at the
//! edge, and nowhere else.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use souk_app::{AppError, Kind};
use souk_storage::StorageError;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error response body (RFC 9457 problem details).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "about:blank", "title": "Not found", "status": 404,
    "detail": "no product with handle 'blue-mug'", "code": "not_found"
}))]
pub struct Problem {
    /// Always `about:blank`: the `code` identifies the problem.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `not_found`, `validation_failed`, `invalid_json`.
    pub code: String,
    /// Per-field problems, for `validation_failed`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable = false)]
    pub errors: Vec<FieldError>,
    /// For `out_of_stock`: each variant short, with what was asked and what is left.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(nullable = false)]
    pub variants: Vec<StockShortage>,
    /// For `cart_already_ordered`: the order the cart became.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub order_id: Option<uuid::Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StockShortage {
    pub variant_id: uuid::Uuid,
    pub requested: i64,
    pub available: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FieldError {
    /// The parameter or JSON path the problem is about (`limit`, `variants[0].price`).
    pub field: String,
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds a client should wait before retrying (503/429).
    pub retry_after: Option<u32>,
    /// Adds `WWW-Authenticate: Bearer` (401s).
    pub www_authenticate: bool,
    pub variants: Box<[StockShortage]>,
    /// Boxed to keep `ApiError` (the `Err` of every handler) small.
    pub order_id: Option<Box<uuid::Uuid>>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            www_authenticate: false,
            variants: Box::default(),
            order_id: None,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found", detail)
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError {
            errors,
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "Validation failed",
                detail,
            )
        }
    }

    pub fn invalid_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "Invalid JSON",
            detail,
        )
    }

    pub fn invalid_query(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "Invalid query string",
            detail,
        )
    }

    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "Service unavailable",
                detail,
            )
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal server error",
            "something went wrong on our side; it has been logged",
        )
    }

    pub fn problem(&self) -> Problem {
        Problem {
            kind: "about:blank",
            title: self.title.to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            errors: self.errors.clone(),
            variants: self.variants.to_vec(),
            order_id: self.order_id.as_deref().copied(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.problem())).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Every use case's error reaches the API through [`AppError`]; this is its one mapping.
impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        match e.into() {
            AppError::Storage(e) => storage_error(e),
            AppError::Internal(what) => {
                tracing::error!(error = %what, "internal failure");
                ApiError::internal()
            }
            AppError::Refused {
                kind,
                code,
                title,
                detail,
                fields,
                retry_after,
                extra,
            } => {
                let status = status_of(kind);
                ApiError {
                    errors: fields
                        .into_iter()
                        .map(|f| FieldError {
                            field: f.field,
                            message: f.message,
                        })
                        .collect(),
                    retry_after,
                    variants: extra
                        .as_ref()
                        .map(|x| {
                            x.shortages
                                .iter()
                                .map(|s| StockShortage {
                                    variant_id: s.variant_id,
                                    requested: s.requested,
                                    available: s.available,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                    order_id: extra.and_then(|x| x.order_id).map(Box::new),
                    ..ApiError::new(status, code, title, detail)
                }
            }
        }
    }
}

fn storage_error(e: StorageError) -> ApiError {
    match e {
        StorageError::InvalidCursor => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            "Invalid cursor",
            "the cursor is not one this listing returned; start again without it",
        ),
        StorageError::Conflict(detail) => {
            ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
        }
        other if other.is_unavailable() => {
            tracing::warn!(error = %other, "database unavailable: shedding the request");
            ApiError::unavailable(
                "database_unavailable",
                "the database cannot be reached right now; retry shortly",
            )
        }
        other if other.is_overloaded() => {
            tracing::warn!("database pool exhausted: shedding the request");
            ApiError::unavailable("overloaded", "the server is busy; retry shortly")
        }
        other => {
            tracing::error!(error = %other, "storage failure");
            ApiError::internal()
        }
    }
}

/// The HTTP status of a refusal of this kind (the same for the JSON API and the pages).
pub fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::Invalid => StatusCode::BAD_REQUEST,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Upstream => StatusCode::BAD_GATEWAY,
    }
}
