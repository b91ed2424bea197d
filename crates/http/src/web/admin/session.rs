//! Who may enter the admin panel: platform admins.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;

use crate::AppState;
use crate::auth::Principal;
use crate::web::session::{PanelSession, SignedForm, signed_in, to_sign_in};
use crate::web::{CspNonce, PageError};

/// A platform admin's session, from the session cookie. Anyone else is sent to the sign-in
/// page (with the page they wanted to come back to); a signed-in non-admin gets 403.
pub struct AdminSession {
    pub principal: Principal,
    /// The token every form of this session carries.
    pub csrf: String,
}

impl FromRequestParts<AppState> for AdminSession {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let nonce = CspNonce::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let Some(session) = signed_in(parts, state, &nonce).await? else {
            return Err(to_sign_in(parts, "/admin/sign-in"));
        };
        if !session.principal.is_admin {
            return Err(PageError::new(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "the admin panel is for platform admins",
            )
            .render(&nonce));
        }
        Ok(AdminSession {
            csrf: session.csrf,
            principal: session.principal,
        })
    }
}

impl PanelSession for AdminSession {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A signed-in admin's form, already checked (see [`SignedForm`]).
pub type AdminForm<T> = SignedForm<AdminSession, T>;

impl crate::web::webhooks::WebhookPanel for AdminSession {
    const PAGES: &'static str = "/admin/webhooks";

    fn owner(&self) -> souk_storage::webhooks::Owner {
        souk_storage::webhooks::Owner::Platform
    }

    fn principal(&self) -> &Principal {
        &self.principal
    }

    fn chrome(&self) -> minijinja::Value {
        super::chrome(self, "webhooks")
    }
}
