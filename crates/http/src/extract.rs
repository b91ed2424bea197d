//! Extractors that turn bad input into problem responses instead of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// Query-string parameters; unknown or repeated parameters and NUL characters are refused.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        if query.to_ascii_lowercase().contains("%00") {
            return Err(ApiError::invalid_query("NUL characters are not accepted"));
        }
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| ApiError::invalid_query(e.inner().to_string()))
    }
}

/// A JSON request body. Syntax errors → 400 `invalid_json`; wrong types, missing or unknown
/// fields → 400 `validation_failed` naming the field; other media types → 415.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json"
                    || (mime.starts_with("application/") && mime.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
                "send the body as application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                payload_too_large()
            } else {
                ApiError::invalid_json(format!("could not read the body: {e}"))
            }
        })?;
        ensure_object(&bytes)?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Every request body of the API is a JSON object. serde also fills a struct from an array
/// (its fields in order), which would let `[null, null]` clear a cart's email and address
/// unnoticed: refuse any other top-level value first.
fn ensure_object(bytes: &[u8]) -> Result<(), ApiError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(()),
        Some(_) => Err(ApiError::validation(vec![FieldError {
            field: "body".into(),
            message: "expected a JSON object".into(),
        }])),
    }
}

pub fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Payload too large",
        "the request body is larger than this server accepts",
    )
}

/// Parses a JSON body strictly (see [`ApiJson`]).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // PostgreSQL cannot store NUL in text; refuse it here rather than fail at the database.
    if contains_nul_escape(bytes) {
        return Err(ApiError::validation(vec![FieldError {
            field: "body".into(),
            message: "NUL characters (\\u0000) are not accepted".into(),
        }]));
    }
    // Syntax first (also catches nesting deeper than serde_json's recursion limit), then shape:
    // the two kinds of mistake get different codes.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|e| ApiError::invalid_json(e.to_string()))?;
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::validation(vec![FieldError {
            field: if path == "." { "body".to_owned() } else { path },
            message: e.into_inner().to_string(),
        }])
    })
}

fn contains_nul_escape(bytes: &[u8]) -> bool {
    bytes
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].eq_ignore_ascii_case(b"0000"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        qty: u32,
    }

    fn code(r: Result<Body, ApiError>) -> (u16, &'static str, Vec<FieldError>) {
        let e = r.unwrap_err();
        (e.status.as_u16(), e.code, e.errors)
    }

    #[test]
    fn valid_body_parses() {
        assert!(parse_json::<Body>(br#"{"name":"a","qty":1}"#).is_ok());
    }

    #[test]
    fn only_an_object_is_a_body() {
        assert!(ensure_object(br#" {"name":"a","qty":1}"#).is_ok());
        for body in [
            &b"[\"a\", 1]"[..],
            b"  [null, null]",
            b"\"a\"",
            b"7",
            b"null",
        ] {
            let e = ensure_object(body).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, "validation_failed"));
        }
        // What the check stops: serde alone accepts an array for a struct.
        assert!(parse_json::<Body>(br#"["a", 1]"#).is_ok());
    }

    #[test]
    fn malformed_json_is_invalid_json() {
        assert_eq!(code(parse_json(b"{\"name\":")).1, "invalid_json");
        assert_eq!(code(parse_json(b"{} trailing")).1, "invalid_json");
    }

    #[test]
    fn unknown_and_mistyped_fields_name_the_field() {
        let (status, c, errors) = code(parse_json(br#"{"name":"a","qty":1,"role":"admin"}"#));
        assert_eq!((status, c), (400, "validation_failed"));
        assert!(errors[0].message.contains("role"));
        let (_, _, errors) = code(parse_json(br#"{"name":"a","qty":-1}"#));
        assert_eq!(errors[0].field, "qty");
    }

    #[test]
    fn nul_is_refused() {
        assert_eq!(
            code(parse_json(br#"{"name":"a\u0000","qty":1}"#)).1,
            "validation_failed"
        );
    }

    #[test]
    fn deep_nesting_is_a_client_error() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let e = parse_json::<serde_json::Value>(deep.as_bytes()).unwrap_err();
        assert_eq!(e.status.as_u16(), 400);
    }
}
