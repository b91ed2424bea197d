//! The application layer's one error type. A use case's own error enum converts into it beside
//! its definition, so each face maps failures in one place: the JSON API to a status and
//! problem+json, a page to a message beside the field.

use souk_storage::StorageError;

/// What kind of refusal, for a face to choose how to show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The thing asked for does not exist (or is not the caller's to see).
    NotFound,
    /// The input breaks a rule; see the field problems.
    Invalid,
    /// The current state does not allow it (already shipped, not dead, …).
    Conflict,
    /// Understood, but cannot be done with this content (e.g. a reused idempotency key).
    Unprocessable,
    /// The caller may not do this to this thing (e.g. an invitation for another address).
    Forbidden,
    /// Too many attempts; try again after `retry_after` seconds.
    Throttled,
    /// The credentials given are wrong.
    Unauthenticated,
    /// A third party Souk relies on refused or failed (e.g. the payment provider refused a
    /// refund).
    Upstream,
}

/// A problem with one input field (`lines[0].quantity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// Facts some refusals carry beyond their message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extra {
    /// `out_of_stock`: each variant short, with what was asked and what is left.
    pub shortages: Vec<souk_storage::orders::Shortage>,
    /// `cart_already_ordered`: the order the cart became.
    pub order_id: Option<uuid::Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A rule said no. `code` is stable (clients branch on it); `detail` says exactly why.
    #[error("{detail}")]
    Refused {
        kind: Kind,
        code: &'static str,
        title: &'static str,
        detail: String,
        fields: Vec<FieldProblem>,
        /// Seconds after which trying again may succeed (throttling).
        retry_after: Option<u32>,
        /// What a client needs to act on some refusals (boxed: rarely there).
        extra: Option<Box<Extra>>,
    },
    /// The database failed (unreachable, overloaded, or a bug): not the caller's fault.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Something inside Souk failed (logged; the caller gets a generic answer).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn refused(
        kind: Kind,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        AppError::Refused {
            kind,
            code,
            title,
            detail: detail.into(),
            fields: Vec::new(),
            retry_after: None,
            extra: None,
        }
    }

    /// Adds what a client needs to act on this refusal.
    pub fn with_extra(mut self, more: Extra) -> Self {
        if let AppError::Refused { extra, .. } = &mut self {
            *extra = Some(Box::new(more));
        }
        self
    }

    /// Adds a `Retry-After` to a refusal that is worth retrying shortly.
    pub fn retry_after(mut self, seconds: u32) -> Self {
        if let AppError::Refused { retry_after, .. } = &mut self {
            *retry_after = Some(seconds);
        }
        self
    }

    /// Too many attempts: `detail` says the limit; try again after `seconds`.
    pub fn throttled(
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
        seconds: u32,
    ) -> Self {
        AppError::Refused {
            kind: Kind::Throttled,
            code,
            title,
            detail: detail.into(),
            fields: Vec::new(),
            retry_after: Some(seconds),
            extra: None,
        }
    }

    /// `handle_taken`: a vendor, category or product handle in use.
    pub fn handle_taken(handle: impl std::fmt::Display) -> Self {
        Self::refused(
            Kind::Conflict,
            "handle_taken",
            "Handle taken",
            format!("the handle '{handle}' is taken"),
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::refused(Kind::NotFound, "not_found", "Not found", detail)
    }

    /// `validation_failed` with per-field problems.
    pub fn invalid(fields: Vec<FieldProblem>) -> Self {
        let detail = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect::<Vec<_>>()
            .join("; ");
        AppError::Refused {
            kind: Kind::Invalid,
            code: "validation_failed",
            title: "Validation failed",
            detail,
            fields,
            retry_after: None,
            extra: None,
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldProblem {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn internal(what: impl Into<String>) -> Self {
        AppError::Internal(what.into())
    }

    /// The stable code, for faces and tests.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Refused { code, .. } => code,
            AppError::Storage(_) => "storage",
            AppError::Internal(_) => "internal_error",
        }
    }
}
