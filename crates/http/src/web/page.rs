//! What every page shares: the templates, the per-request CSP nonce and security headers, the
//! flash message after an action, and error pages.

use std::sync::OnceLock;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use minijinja::{Environment, Value, context};

use super::assets;

/// Templates an operator replaced (`DATA_DIR/templates/web/`), read once at start-up.
static OVERRIDES: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();

/// The templates, compiled into the binary (or an operator's replacements); `.html` ones
/// escape everything they print.
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        environment(OVERRIDES.get().map_or(&[], Vec::as_slice))
            .unwrap_or_else(|e| panic!("templates: {e}"))
    })
}

/// Reads the replacement templates in `dir` (`DATA_DIR/templates/web/`): a file named like a
/// built-in template (`store/product.html`, `store/base.html`…) replaces it. All templates
/// are compiled now, so a mistake stops start-up with its file and line instead of failing a
/// page later. Call once, before serving; returns the names replaced. Files that replace
/// nothing are reported too (a misspelt name would otherwise be silently ignored).
pub fn load_template_overrides(
    dir: &std::path::Path,
) -> Result<(Vec<&'static str>, Vec<String>), String> {
    let mut found: Vec<(&'static str, &'static str)> = Vec::new();
    for (name, _) in TEMPLATES {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            // Kept for the life of the process, like the built-in ones.
            Ok(source) => found.push((name, Box::leak(source.into_boxed_str()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    let mut unused = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if !TEMPLATES.iter().any(|(n, _)| *n == rel) {
                    unused.push(rel);
                }
            }
        }
    }
    let env = environment(&found).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, _) in &found {
        env.get_template(name)
            .map_err(|e| format!("{}: {e}", dir.join(name).display()))?;
    }
    let names = found.iter().map(|(n, _)| *n).collect();
    OVERRIDES
        .set(found)
        .map_err(|_| "the templates were already loaded".to_owned())?;
    Ok((names, unused))
}

/// Every template, with `overrides` in place of the built-in ones they name.
fn environment(
    overrides: &[(&'static str, &'static str)],
) -> Result<Environment<'static>, minijinja::Error> {
    {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            let source = overrides
                .iter()
                .find(|(n, _)| n == name)
                .map_or(*source, |(_, s)| *s);
            env.add_template(name, source)?;
        }
        env.add_function("asset", |name: String| {
            Value::from_safe_string(assets::url(&name))
        });
        env.add_filter("money", money_filter);
        env.add_filter("datetime", datetime_filter);
        Ok(env)
    }
}

/// Every template, by name.
pub(super) const TEMPLATES: &[(&str, &str)] = &[
    ("admin/base.html", include_str!("templates/admin/base.html")),
    (
        "admin/sign_in.html",
        include_str!("templates/admin/sign_in.html"),
    ),
    ("admin/home.html", include_str!("templates/admin/home.html")),
    (
        "admin/order_rows.html",
        include_str!("templates/admin/order_rows.html"),
    ),
    (
        "admin/orders.html",
        include_str!("templates/admin/orders.html"),
    ),
    (
        "admin/order.html",
        include_str!("templates/admin/order.html"),
    ),
    (
        "admin/vendors.html",
        include_str!("templates/admin/vendors.html"),
    ),
    (
        "admin/vendor.html",
        include_str!("templates/admin/vendor.html"),
    ),
    (
        "admin/customers.html",
        include_str!("templates/admin/customers.html"),
    ),
    (
        "admin/customer.html",
        include_str!("templates/admin/customer.html"),
    ),
    (
        "admin/session_rows.html",
        include_str!("templates/admin/session_rows.html"),
    ),
    (
        "admin/sessions.html",
        include_str!("templates/admin/sessions.html"),
    ),
    (
        "admin/products.html",
        include_str!("templates/admin/products.html"),
    ),
    (
        "admin/categories.html",
        include_str!("templates/admin/categories.html"),
    ),
    (
        "admin/money.html",
        include_str!("templates/admin/money.html"),
    ),
    (
        "admin/storefront.html",
        include_str!("templates/admin/storefront.html"),
    ),
    (
        "panel/webhooks.html",
        include_str!("templates/panel/webhooks.html"),
    ),
    (
        "panel/webhook_created.html",
        include_str!("templates/panel/webhook_created.html"),
    ),
    (
        "panel/webhook.html",
        include_str!("templates/panel/webhook.html"),
    ),
    (
        "admin/api_keys.html",
        include_str!("templates/admin/api_keys.html"),
    ),
    (
        "admin/api_key_created.html",
        include_str!("templates/admin/api_key_created.html"),
    ),
    (
        "admin/email_test.html",
        include_str!("templates/admin/email_test.html"),
    ),
    (
        "admin/email_result.html",
        include_str!("templates/admin/email_result.html"),
    ),
    ("admin/feed.html", include_str!("templates/admin/feed.html")),
    (
        "admin/search.html",
        include_str!("templates/admin/search.html"),
    ),
    (
        "panel/confirm.html",
        include_str!("templates/panel/confirm.html"),
    ),
    ("admin/jobs.html", include_str!("templates/admin/jobs.html")),
    (
        "admin/audit.html",
        include_str!("templates/admin/audit.html"),
    ),
    (
        "admin/error.html",
        include_str!("templates/admin/error.html"),
    ),
    (
        "vendor/base.html",
        include_str!("templates/vendor/base.html"),
    ),
    (
        "vendor/sign_in.html",
        include_str!("templates/vendor/sign_in.html"),
    ),
    (
        "vendor/sign_up.html",
        include_str!("templates/vendor/sign_up.html"),
    ),
    (
        "vendor/apply.html",
        include_str!("templates/vendor/apply.html"),
    ),
    (
        "vendor/awaiting.html",
        include_str!("templates/vendor/awaiting.html"),
    ),
    (
        "vendor/home.html",
        include_str!("templates/vendor/home.html"),
    ),
    (
        "vendor/order_rows.html",
        include_str!("templates/vendor/order_rows.html"),
    ),
    (
        "vendor/orders.html",
        include_str!("templates/vendor/orders.html"),
    ),
    (
        "vendor/money.html",
        include_str!("templates/vendor/money.html"),
    ),
    (
        "vendor/shop.html",
        include_str!("templates/vendor/shop.html"),
    ),
    (
        "vendor/shipping.html",
        include_str!("templates/vendor/shipping.html"),
    ),
    (
        "vendor/team.html",
        include_str!("templates/vendor/team.html"),
    ),
    (
        "vendor/join.html",
        include_str!("templates/vendor/join.html"),
    ),
    (
        "vendor/products.html",
        include_str!("templates/vendor/products.html"),
    ),
    (
        "vendor/product.html",
        include_str!("templates/vendor/product.html"),
    ),
    (
        "vendor/inventory.html",
        include_str!("templates/vendor/inventory.html"),
    ),
    (
        "vendor/import.html",
        include_str!("templates/vendor/import.html"),
    ),
    (
        "vendor/import_progress.html",
        include_str!("templates/vendor/import_progress.html"),
    ),
    (
        "vendor/order.html",
        include_str!("templates/vendor/order.html"),
    ),
    ("store/base.html", include_str!("templates/store/base.html")),
    ("store/card.html", include_str!("templates/store/card.html")),
    ("store/home.html", include_str!("templates/store/home.html")),
    ("store/list.html", include_str!("templates/store/list.html")),
    (
        "store/product.html",
        include_str!("templates/store/product.html"),
    ),
    ("store/cart.html", include_str!("templates/store/cart.html")),
    (
        "store/checkout.html",
        include_str!("templates/store/checkout.html"),
    ),
    (
        "store/order.html",
        include_str!("templates/store/order.html"),
    ),
    (
        "store/error.html",
        include_str!("templates/store/error.html"),
    ),
    ("store/form.html", include_str!("templates/store/form.html")),
    (
        "store/message.html",
        include_str!("templates/store/message.html"),
    ),
    (
        "store/account.html",
        include_str!("templates/store/account.html"),
    ),
    (
        "store/sessions.html",
        include_str!("templates/store/sessions.html"),
    ),
];

/// `{{ amount|money(currency) }}`: minor units as a decimal amount with the currency code.
fn money_filter(amount: i64, currency: String) -> String {
    money_text(amount, &currency)
}

/// Minor units as `12.50 EUR`.
pub fn money_text(amount: i64, currency: &str) -> String {
    match souk_domain::money::Currency::parse(currency) {
        Ok(c) => format!(
            "{} {currency}",
            souk_domain::money::format_decimal(amount, c)
        ),
        Err(_) => format!("{amount} {currency}"),
    }
}

/// `{{ ms|datetime }}`: Unix milliseconds as `2026-12-04 10:15 UTC`.
fn datetime_filter(ms: i64) -> String {
    let at = souk_domain::time::rfc3339(ms);
    format!("{} UTC", at.get(..16).unwrap_or(&at).replace('T', " "))
}

/// The nonce of this response's Content-Security-Policy: only `<script nonce="…">` runs. It
/// also carries the home of the panel the request is in, where an error page leads back to.
#[derive(Debug, Clone)]
pub struct CspNonce(pub String, pub &'static str);

impl<S: Send + Sync> FromRequestParts<S> for CspNonce {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<CspNonce>()
            .cloned()
            .unwrap_or_else(|| CspNonce(String::new(), "/")))
    }
}

/// Origins one page may load scripts and frames from and connect to beyond its own: set on
/// the response by the only page that needs them (the card payment, for Stripe.js).
#[derive(Debug, Clone)]
pub struct ThirdPartyOrigins {
    pub script: String,
    pub frame: String,
    pub connect: String,
}

/// Marks a catalog page (home, category, search, vendor, product): the same for this shopper
/// until the catalog or their cart changes, so a browser may keep it and ask again with
/// `If-None-Match` instead of never keeping it. Every other page stays `no-store`.
#[derive(Debug, Clone, Copy)]
pub struct Revalidated;

/// `response`, marked [`Revalidated`].
pub fn revalidated(mut response: Response) -> Response {
    response.extensions_mut().insert(Revalidated);
    response
}

/// Largest page body read whole to be validated; a larger one is sent without an `ETag`.
const VALIDATED_MAX_BYTES: usize = 512 * 1024;

/// The weak `ETag` of a page: a hash of its body without its nonce, which is the only part
/// that differs from one request to the next (the form token and cart count are the
/// shopper's, and change the tag when they change).
fn page_etag(body: &[u8], nonce: &str) -> Option<String> {
    use sha2::Digest;
    let text = std::str::from_utf8(body).ok()?;
    let mut hash = sha2::Sha256::new();
    if nonce.is_empty() {
        hash.update(text);
    } else {
        for part in text.split(nonce) {
            hash.update(part);
            hash.update([0]);
        }
    }
    Some(weak_etag(&hash.finalize()))
}

/// Whether `If-None-Match` names `etag` (weak comparison, `*` included).
fn none_match(headers: &axum::http::HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || bare(t) == bare(etag))
}

/// The `ETag` of a [`Revalidated`] page, when whoever made the page knows it without reading
/// the body again (a shared page: see `store::shared`).
#[derive(Clone)]
pub struct KnownEtag(pub String);

/// A weak `ETag` naming `digest` (a SHA-256).
pub fn weak_etag(digest: &[u8]) -> String {
    format!(
        "W/\"{}\"",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
    )
}

/// A [`Revalidated`] page with its `ETag`, or `304 Not Modified` when the browser has it. The
/// 304 carries no `Content-Security-Policy`: the browser keeps the one it stored with the page,
/// whose nonce is the one in the page it shows (a new nonce would block its scripts).
async fn validate(response: Response, nonce: &str, asked: &axum::http::HeaderMap) -> Response {
    let (mut parts, body) = response.into_parts();
    if let Some(KnownEtag(etag)) = parts.extensions.remove::<KnownEtag>() {
        return tagged(parts, body, &etag, asked);
    }
    let body = match axum::body::to_bytes(body, VALIDATED_MAX_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "a page could not be read to be validated");
            return PageError::internal().render(&CspNonce(nonce.to_owned(), "/"));
        }
    };
    match page_etag(&body, nonce) {
        Some(etag) => tagged(parts, axum::body::Body::from(body), &etag, asked),
        None => Response::from_parts(parts, axum::body::Body::from(body)),
    }
}

/// A page with its `ETag`, or `304 Not Modified` when the browser has it.
fn tagged(
    mut parts: axum::http::response::Parts,
    body: axum::body::Body,
    etag: &str,
    asked: &axum::http::HeaderMap,
) -> Response {
    let Ok(value) = HeaderValue::from_str(etag) else {
        return Response::from_parts(parts, body);
    };
    parts.headers.insert(header::ETAG, value);
    // Kept by this browser only, and asked about again before every use.
    parts.headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
    if none_match(asked, etag) {
        parts.status = StatusCode::NOT_MODIFIED;
        for name in [
            header::CONTENT_SECURITY_POLICY,
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
        ] {
            parts.headers.remove(name);
        }
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    Response::from_parts(parts, body)
}

/// Gives each request a nonce and each page its security headers.
pub async fn page_headers(mut req: Request, next: Next) -> Response {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator is available");
    // URL-safe letters: nothing in it is escaped in the page, so the page's ETag can leave the
    // nonce out as it appears in the policy.
    let nonce = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let path = req.uri().path();
    let home = if path == "/vendor" || path.starts_with("/vendor/") {
        "/vendor"
    } else if path == "/admin" || path.starts_with("/admin/") {
        "/admin"
    } else {
        "/"
    };
    // The storefront shows product images wherever the catalog says they are (an import's
    // `https://` URLs); the panels only their own.
    let images = if home == "/" {
        "'self' data: https:"
    } else {
        "'self' data:"
    };
    req.extensions_mut().insert(CspNonce(nonce.clone(), home));
    let read = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    let asked = req.headers().clone();
    let mut response = next.run(req).await;
    let (scripts, frames, connect) = match response.extensions_mut().remove::<ThirdPartyOrigins>() {
        Some(o) => (
            format!(" {}", o.script),
            format!("frame-src {}; ", o.frame),
            format!(" {}", o.connect),
        ),
        None => Default::default(),
    };
    let headers = response.headers_mut();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'{scripts}; style-src 'self' 'nonce-{nonce}'; \
         img-src {images}; connect-src 'self'{connect}; {frames}form-action 'self'; base-uri 'none'; \
         frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let is_page = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_page {
        // Pages show one person's data: never kept by a browser or a proxy.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if read
            && response.status() == StatusCode::OK
            && response.extensions().get::<Revalidated>().is_some()
        {
            return validate(response, &nonce, &asked).await;
        }
    }
    response
}

/// The message shown once on the next page after an action ("Payment recorded").
pub struct Flash(pub Option<String>);

const FLASH_COOKIE: &str = "souk_flash";

impl<S: Send + Sync> FromRequestParts<S> for Flash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let message = crate::auth::cookie(&parts.headers, FLASH_COOKIE).and_then(|v| {
            let query = format!("m={v}");
            let (_, m) = form_urlencoded::parse(query.as_bytes()).next()?;
            Some(m.chars().take(200).collect::<String>())
        });
        Ok(Flash(message))
    }
}

impl Flash {
    /// The `Set-Cookie` that shows `message` on the next page.
    pub fn set(message: &str) -> HeaderValue {
        let encoded: String = form_urlencoded::byte_serialize(message.as_bytes()).collect();
        HeaderValue::from_str(&format!(
            "{FLASH_COOKIE}={encoded}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"
        ))
        .expect("an encoded message is a valid header")
    }

    fn clear() -> HeaderValue {
        HeaderValue::from_static("souk_flash=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// A page to render: a template and what it shows.
pub struct Page {
    pub template: &'static str,
    pub status: StatusCode,
    pub context: Value,
}

impl Page {
    pub fn new(template: &'static str, context: Value) -> Self {
        Page {
            template,
            status: StatusCode::OK,
            context,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Renders with the request's nonce and flash message (which is then spent).
    pub fn render(self, nonce: &CspNonce, flash: &Flash) -> Response {
        let ctx = context! { nonce => nonce.0, flash => flash.0, ..self.context };
        let html = match templates()
            .get_template(self.template)
            .and_then(|t| t.render(ctx))
        {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(template = self.template, error = %e, "a page failed to render");
                return PageError::internal().render(nonce);
            }
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        if flash.0.is_some() {
            response
                .headers_mut()
                .append(header::SET_COOKIE, Flash::clear());
        }
        response
    }
}

/// The status of a page showing a refused form again: a field the use case refused is 422
/// (the form was understood, its content was not acceptable); others as the API answers.
pub fn form_status(kind: souk_app::Kind) -> StatusCode {
    match kind {
        souk_app::Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        other => crate::error::status_of(other),
    }
}

/// A page that could not be shown: its status and a sentence for the reader.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub detail: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> Self {
        PageError {
            status,
            title,
            detail: detail.into(),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", detail)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "the page could not be shown; try again in a moment",
        )
    }

    pub fn render(self, nonce: &CspNonce) -> Response {
        let ctx = context! {
            nonce => nonce.0, home => nonce.1, title => self.title, detail => self.detail,
            status => self.status.as_u16(),
        };
        let html = templates()
            .get_template("admin/error.html")
            .and_then(|t| t.render(ctx))
            .unwrap_or_else(|_| format!("<!doctype html><title>{}</title>", self.status));
        (
            self.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response()
    }
}

impl From<souk_app::AppError> for PageError {
    fn from(e: souk_app::AppError) -> Self {
        match e {
            souk_app::AppError::Refused {
                kind,
                title,
                detail,
                ..
            } => {
                let status = crate::error::status_of(kind);
                PageError {
                    status,
                    title: match status {
                        StatusCode::NOT_FOUND => "Not found",
                        StatusCode::FORBIDDEN => "Not allowed",
                        StatusCode::TOO_MANY_REQUESTS => "Too many requests",
                        StatusCode::CONFLICT => "Not possible now",
                        _ => {
                            tracing::debug!(%title, "refused");
                            "Not possible"
                        }
                    },
                    detail,
                }
            }
            other => {
                tracing::error!(error = %other, "a page failed");
                PageError::internal()
            }
        }
    }
}

impl From<souk_storage::StorageError> for PageError {
    fn from(e: souk_storage::StorageError) -> Self {
        souk_app::AppError::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        let env = super::templates();
        for (name, _) in super::TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
