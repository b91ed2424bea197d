//! What the panels' pages share: buttons and confirmations, a refused form shown again, the
//! flash after an action, and cursor pages.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::session::CsrfField;
use super::{CspNonce, Flash, PageError};

/// A form that only carries its CSRF token (a button: approve, retry…), and `confirm=yes`
/// when it comes from a confirmation page.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub confirm: String,
}

impl ActionForm {
    /// Sent from the confirmation page: a destructive action posted from anywhere else is sent
    /// there first.
    pub fn confirmed(&self) -> bool {
        self.confirm == "yes"
    }
}

impl CsrfField for ActionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// "Are you sure?": the page a destructive action shows before it is done. Its form posts
/// `confirm=yes` and the `hidden` fields to `action`.
#[derive(Debug, Default, serde::Serialize)]
pub struct Confirm {
    pub title: String,
    pub explain: Vec<String>,
    pub action: String,
    pub hidden: Vec<(&'static str, String)>,
    /// Ask for a reason, with this label.
    pub reason: Option<String>,
    /// Why the last try was refused (shown beside the reason).
    pub problem: Option<String>,
    pub button: String,
    pub back: String,
}

/// A refused form as its page shows it: the status, the field the message goes beside (the
/// use case's, else `default_field`) and the message.
pub struct Refusal {
    pub status: StatusCode,
    pub field: String,
    pub message: String,
}

/// The refusal in `e`, or `e` itself when it is not one (a failure is not the form's to show).
pub fn refusal(e: souk_app::AppError, default_field: &str) -> Result<Refusal, souk_app::AppError> {
    match e {
        souk_app::AppError::Refused {
            kind,
            detail,
            fields,
            ..
        } => {
            let (field, message) = fields
                .into_iter()
                .next()
                .map_or((default_field.to_owned(), detail), |f| (f.field, f.message));
            Ok(Refusal {
                status: super::form_status(kind),
                field,
                message,
            })
        }
        other => Err(other),
    }
}

/// A page's status and the problem it shows: 200 and none, or the refusal's.
pub fn with_problem(
    problem: Option<(StatusCode, minijinja::Value)>,
) -> (StatusCode, Option<minijinja::Value>) {
    match problem {
        Some((status, p)) => (status, Some(p)),
        None => (StatusCode::OK, None),
    }
}

/// After an action: back to `to` (303), with `message` shown there once.
pub fn done(to: &str, message: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, Flash::set(message));
    response
}

/// The `before` cursor of a list page: `Some(None)` for the first page, `None` when damaged.
pub fn cursor(before: Option<&str>) -> Option<Option<uuid::Uuid>> {
    match before.filter(|b| !b.is_empty()) {
        None => Some(None),
        Some(b) => uuid::Uuid::parse_str(b).ok().map(Some),
    }
}

pub fn bad_cursor(nonce: &CspNonce) -> Response {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "Bad page link",
        "the page link is damaged; start from the first page",
    )
    .render(nonce)
}

/// The cursor of the next (older) page, when this one was full.
pub fn next_cursor(
    ids: impl DoubleEndedIterator<Item = uuid::Uuid> + ExactSizeIterator,
    page_size: i64,
) -> Option<String> {
    if ids.len() as i64 == page_size {
        ids.last().map(|id| id.to_string())
    } else {
        None
    }
}

/// One product in a list: title, status, vendor, price range, units in stock, variants.
pub fn product_row(p: &souk_storage::catalog::ProductSummary) -> minijinja::Value {
    minijinja::context! {
        id => p.id.to_string(), title => p.title, handle => p.handle,
        status => p.status.as_str(), vendor => p.vendor.name,
        vendor_id => p.vendor.id.to_string(),
        currency => p.currency, price_min => p.price_min, price_max => p.price_max,
        stock => p.stock, low_stock => p.low_stock, variants => p.variants,
    }
}
