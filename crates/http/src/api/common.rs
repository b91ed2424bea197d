//! Pieces shared by the authenticated APIs: list parameters and the audit helper.

use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, FieldError};

/// `limit` and `cursor` of id-ordered admin and vendor lists (newest first).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1–100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only items with this status.
    pub status: Option<String>,
}

impl PageParams {
    pub fn parse(&self, statuses: &[&str]) -> ApiResult<(i64, Option<Uuid>, Option<String>)> {
        let mut errors = Vec::new();
        let limit = match self.limit.as_deref() {
            None => 50,
            Some(l) => match l.parse::<i64>() {
                Ok(n) if (1..=100).contains(&n) => n,
                _ => {
                    errors.push(FieldError {
                        field: "limit".into(),
                        message: "must be a whole number from 1 to 100".into(),
                    });
                    50
                }
            },
        };
        let cursor = match self.cursor.as_deref() {
            None => None,
            Some(c) => match Uuid::try_parse(c) {
                Ok(id) => Some(id),
                Err(_) => {
                    errors.push(FieldError {
                        field: "cursor".into(),
                        message: "is not a cursor this API returned".into(),
                    });
                    None
                }
            },
        };
        if let Some(s) = &self.status
            && !statuses.contains(&s.as_str())
        {
            errors.push(FieldError {
                field: "status".into(),
                message: format!("must be one of {}", statuses.join(", ")),
            });
        }
        if errors.is_empty() {
            Ok((limit, cursor, self.status.clone()))
        } else {
            Err(ApiError::validation(errors))
        }
    }
}

/// The cursor for the page after `ids` (a full page has a next page, perhaps empty).
pub fn next_cursor(
    ids: impl DoubleEndedIterator<Item = Uuid>,
    len: usize,
    limit: i64,
) -> Option<String> {
    if len as i64 == limit {
        ids.last().map(|id| id.to_string())
    } else {
        None
    }
}

/// The audit log's view of who asks, for the use cases.
pub fn actor(principal: &Principal, client: &crate::api::auth::ClientInfo) -> souk_app::Actor {
    souk_app::Actor {
        user_id: principal.user_id,
        email: principal.email.clone(),
        ip: client.ip.clone(),
    }
}

/// An id from a path; anything that is not one of ours is simply not found.
pub fn path_id(raw: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::try_parse(raw).map_err(|_| ApiError::not_found(format!("no such {what}")))
}

/// A required `Idempotency-Key` header, checked before the body is read: a client that forgot
/// it learns that first, not after fixing its body (400 `idempotency_key_required`).
pub struct RequiredIdempotencyKey(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for RequiredIdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        idempotency_key(&parts.headers)?
            .map(RequiredIdempotencyKey)
            .ok_or_else(|| {
                ApiError::new(
                    axum::http::StatusCode::BAD_REQUEST,
                    "idempotency_key_required",
                    "Idempotency key required",
                    "send an Idempotency-Key header (a UUID is a good choice) so the request can \
                     be retried safely",
                )
            })
    }
}

/// The `Idempotency-Key` header: `None` when absent, 400 `invalid_idempotency_key` unless it is
/// 1–255 printable ASCII characters (Stripe's rule).
pub fn idempotency_key(headers: &axum::http::HeaderMap) -> ApiResult<Option<String>> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .map(|k| Some(k.to_owned()))
        .ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Invalid idempotency key",
                "the Idempotency-Key must be 1–255 printable ASCII characters",
            )
        })
}
