//! Transactional email: templates rendered at send time, delivered over SMTP (lettre) or, with
//! no SMTP configured, written as `.eml` files under the data directory.
//!
//! Delivery is at-least-once (a crash between the server's `250` and recording the job as done
//! resends): every message carries a `Message-ID` derived from its job id, so a duplicate is
//! recognisable as the same message.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use minijinja::Environment;
use uuid::Uuid;

use crate::JobError;

pub use souk_app::jobs::{EMAIL_JOB, EMAIL_MAX_ATTEMPTS, EmailJob, enqueue_email};

#[derive(Debug, thiserror::Error)]
pub enum MailConfigError {
    #[error("SOUK_SMTP_URL is not a valid URL: {0}")]
    Url(String),
    #[error("SOUK_SMTP_URL: {0}")]
    Invalid(String),
    #[error("SOUK_MAIL_FROM '{0}' is not an email address like 'Shop <shop@example.com>'")]
    From(String),
    #[error("SOUK_SMTP_CA_FILE: {0}")]
    Ca(String),
}

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Development and the zero-configuration demo: one `.eml` file per email.
    Files(PathBuf),
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    templates: Environment<'static>,
    shop_name: String,
}

/// Built-in templates; an operator overrides one by putting a file of the same name in
/// `DATA_DIR/templates/email/`.
const BUILTIN: &[(&str, &str)] = &[
    (
        "verify_email.subject.txt",
        include_str!("../templates/email/verify_email.subject.txt"),
    ),
    (
        "verify_email.txt",
        include_str!("../templates/email/verify_email.txt"),
    ),
    (
        "verify_email.html",
        include_str!("../templates/email/verify_email.html"),
    ),
    (
        "password_reset.subject.txt",
        include_str!("../templates/email/password_reset.subject.txt"),
    ),
    (
        "password_reset.txt",
        include_str!("../templates/email/password_reset.txt"),
    ),
    (
        "password_reset.html",
        include_str!("../templates/email/password_reset.html"),
    ),
    (
        "account_exists.subject.txt",
        include_str!("../templates/email/account_exists.subject.txt"),
    ),
    (
        "account_exists.txt",
        include_str!("../templates/email/account_exists.txt"),
    ),
    (
        "account_exists.html",
        include_str!("../templates/email/account_exists.html"),
    ),
    (
        "order_confirmation.subject.txt",
        include_str!("../templates/email/order_confirmation.subject.txt"),
    ),
    (
        "order_confirmation.txt",
        include_str!("../templates/email/order_confirmation.txt"),
    ),
    (
        "order_confirmation.html",
        include_str!("../templates/email/order_confirmation.html"),
    ),
    (
        "vendor_new_order.subject.txt",
        include_str!("../templates/email/vendor_new_order.subject.txt"),
    ),
    (
        "vendor_new_order.txt",
        include_str!("../templates/email/vendor_new_order.txt"),
    ),
    (
        "vendor_new_order.html",
        include_str!("../templates/email/vendor_new_order.html"),
    ),
    (
        "payment_received.subject.txt",
        include_str!("../templates/email/payment_received.subject.txt"),
    ),
    (
        "payment_received.txt",
        include_str!("../templates/email/payment_received.txt"),
    ),
    (
        "payment_received.html",
        include_str!("../templates/email/payment_received.html"),
    ),
    (
        "test_email.subject.txt",
        include_str!("../templates/email/test_email.subject.txt"),
    ),
    (
        "test_email.txt",
        include_str!("../templates/email/test_email.txt"),
    ),
    (
        "test_email.html",
        include_str!("../templates/email/test_email.html"),
    ),
    (
        "webhook_disabled.subject.txt",
        include_str!("../templates/email/webhook_disabled.subject.txt"),
    ),
    (
        "webhook_disabled.txt",
        include_str!("../templates/email/webhook_disabled.txt"),
    ),
    (
        "webhook_disabled.html",
        include_str!("../templates/email/webhook_disabled.html"),
    ),
    (
        "order_refunded.subject.txt",
        include_str!("../templates/email/order_refunded.subject.txt"),
    ),
    (
        "order_refunded.txt",
        include_str!("../templates/email/order_refunded.txt"),
    ),
    (
        "order_refunded.html",
        include_str!("../templates/email/order_refunded.html"),
    ),
    (
        "order_shipped.subject.txt",
        include_str!("../templates/email/order_shipped.subject.txt"),
    ),
    (
        "order_shipped.txt",
        include_str!("../templates/email/order_shipped.txt"),
    ),
    (
        "order_shipped.html",
        include_str!("../templates/email/order_shipped.html"),
    ),
    (
        "order_cancelled.subject.txt",
        include_str!("../templates/email/order_cancelled.subject.txt"),
    ),
    (
        "order_cancelled.txt",
        include_str!("../templates/email/order_cancelled.txt"),
    ),
    (
        "order_cancelled.html",
        include_str!("../templates/email/order_cancelled.html"),
    ),
    (
        "vendor_invitation.subject.txt",
        include_str!("../templates/email/vendor_invitation.subject.txt"),
    ),
    (
        "vendor_invitation.txt",
        include_str!("../templates/email/vendor_invitation.txt"),
    ),
    (
        "vendor_invitation.html",
        include_str!("../templates/email/vendor_invitation.html"),
    ),
    (
        "vendor_approved.subject.txt",
        include_str!("../templates/email/vendor_approved.subject.txt"),
    ),
    (
        "vendor_approved.txt",
        include_str!("../templates/email/vendor_approved.txt"),
    ),
    (
        "vendor_approved.html",
        include_str!("../templates/email/vendor_approved.html"),
    ),
    (
        "order_link.subject.txt",
        include_str!("../templates/email/order_link.subject.txt"),
    ),
    (
        "order_link.txt",
        include_str!("../templates/email/order_link.txt"),
    ),
    (
        "order_link.html",
        include_str!("../templates/email/order_link.html"),
    ),
];

impl Mailer {
    /// `smtp_url`: `smtp://[user:pass@]host[:port][?tls=starttls|opportunistic|none]` or
    /// `smtps://…` (TLS from the first byte). `None`: write `.eml` files to `DATA_DIR/mail`.
    pub fn new(
        smtp_url: Option<&str>,
        from: &str,
        data_dir: &Path,
        shop_name: &str,
    ) -> Result<Mailer, MailConfigError> {
        Self::with_ca(smtp_url, None, from, data_dir, shop_name)
    }

    /// Like [`Mailer::new`], also trusting the PEM certificate(s) in `ca_file` for the SMTP
    /// server's TLS (an internal relay with its own certificate authority).
    pub fn with_ca(
        smtp_url: Option<&str>,
        ca_file: Option<&Path>,
        from: &str,
        data_dir: &Path,
        shop_name: &str,
    ) -> Result<Mailer, MailConfigError> {
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailConfigError::From(from.to_owned()))?;
        let ca = match ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| MailConfigError::Ca(format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        let transport = match smtp_url {
            Some(url) => Transport::Smtp(smtp_transport(url, ca.as_deref())?),
            None => {
                let dir = data_dir.join("mail");
                make_private(&dir);
                Transport::Files(dir)
            }
        };
        let override_dir = data_dir.join("templates").join("email");
        let mut templates = Environment::new();
        templates.set_loader(move |name| {
            if name.contains('/') || name.contains("..") {
                return Ok(None);
            }
            match std::fs::read_to_string(override_dir.join(name)) {
                Ok(text) => Ok(Some(text)),
                Err(_) => Ok(BUILTIN
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, t)| (*t).to_owned())),
            }
        });
        Ok(Mailer {
            transport,
            from,
            templates,
            shop_name: shop_name.to_owned(),
        })
    }

    /// Where `.eml` files go when no SMTP server is configured.
    pub fn file_dir(&self) -> Option<&Path> {
        match &self.transport {
            Transport::Files(dir) => Some(dir),
            Transport::Smtp(_) => None,
        }
    }

    fn render(
        &self,
        template: &str,
        vars: &serde_json::Value,
    ) -> Result<(String, String, String), JobError> {
        let mut context = vars.clone();
        if let Some(map) = context.as_object_mut() {
            map.entry("shop_name")
                .or_insert_with(|| self.shop_name.clone().into());
        }
        let render = |suffix: &str| -> Result<String, JobError> {
            let name = format!("{template}.{suffix}");
            self.templates
                .get_template(&name)
                .and_then(|t| t.render(&context))
                .map_err(|e| JobError::Permanent(format!("template {name}: {e}")))
        };
        Ok((
            render("subject.txt")?.trim().to_owned(),
            render("txt")?,
            render("html")?,
        ))
    }

    /// Renders and delivers one email. The job id becomes its `Message-ID`.
    pub async fn send(&self, job_id: Uuid, email: &EmailJob) -> Result<(), JobError> {
        let (subject, text, html) = self.render(&email.template, &email.vars)?;
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| JobError::Permanent(format!("'{}' is not an email address", email.to)))?;
        let domain = self.from.email.domain().to_owned();
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .message_id(Some(format!("<{job_id}@{domain}>")))
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| JobError::Permanent(format!("cannot build the message: {e}")))?;
        match &self.transport {
            Transport::Smtp(smtp) => match smtp.send(message).await {
                Ok(_) => Ok(()),
                Err(e) if refused_for_good(&e) => Err(JobError::Permanent(format!(
                    "SMTP refused the message: {e}"
                ))),
                Err(e) => Err(JobError::Retryable(format!("SMTP: {e}"))),
            },
            Transport::Files(dir) => {
                let bytes = message.formatted();
                let path = dir.join(format!("{job_id}.eml"));
                let tmp = dir.join(format!(".{job_id}.eml.tmp"));
                // The files carry live sign-in links: readable by the server's user only.
                let write = async {
                    let mut builder = tokio::fs::DirBuilder::new();
                    builder.recursive(true);
                    #[cfg(unix)]
                    builder.mode(0o700);
                    builder.create(dir).await?;
                    let mut options = tokio::fs::OpenOptions::new();
                    options.write(true).create(true).truncate(true);
                    #[cfg(unix)]
                    options.mode(0o600);
                    let mut file = options.open(&tmp).await?;
                    tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
                    drop(file);
                    tokio::fs::rename(&tmp, &path).await
                };
                write.await.map_err(|e| {
                    JobError::Retryable(format!("cannot write {}: {e}", path.display()))
                })?;
                tracing::info!(path = %path.display(), "email written to a file (no SMTP server configured)");
                Ok(())
            }
        }
    }
}

/// An existing mail directory (from before its files were made private) becomes 0700 with
/// 0600 files: they hold live sign-in links. Best effort: a failure is logged, not fatal.
fn make_private(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let chmod = |path: &Path, mode: u32| {
            if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
                tracing::warn!(path = %path.display(), error = %e, "cannot make a mail file private");
            }
        };
        chmod(dir, 0o700);
        for entry in entries.flatten() {
            chmod(&entry.path(), 0o600);
        }
    }
}

fn smtp_transport(
    raw: &str,
    ca_pem: Option<&[u8]>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailConfigError> {
    let url = url::Url::parse(raw).map_err(|e| MailConfigError::Url(e.to_string()))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| MailConfigError::Invalid("no host".to_owned()))?
        .to_owned();
    let tls_mode = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let tls_parameters = || -> Result<TlsParameters, MailConfigError> {
        let mut builder = TlsParameters::builder(host.clone());
        if let Some(pem) = ca_pem {
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(MailConfigError::Ca(
                    "no PEM certificate in the file".to_owned(),
                ));
            }
            let cert =
                Certificate::from_pem(pem).map_err(|e| MailConfigError::Ca(e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build()
            .map_err(|e| MailConfigError::Invalid(e.to_string()))
    };
    let (tls, default_port) = match (url.scheme(), tls_mode.as_deref()) {
        ("smtps", None | Some("wrapper" | "implicit")) => (Tls::Wrapper(tls_parameters()?), 465),
        ("smtp", Some("starttls" | "required")) => (Tls::Required(tls_parameters()?), 587),
        ("smtp", Some("opportunistic")) => (Tls::Opportunistic(tls_parameters()?), 587),
        ("smtp", None | Some("none")) => (Tls::None, 25),
        (scheme, mode) => {
            return Err(MailConfigError::Invalid(format!(
                "unsupported scheme/tls combination {scheme}://…?tls={}; use smtps://, or smtp:// with tls=starttls|opportunistic|none",
                mode.unwrap_or("")
            )));
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(url.port().unwrap_or(default_port))
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if !url.username().is_empty() {
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        builder = builder.credentials(Credentials::new(
            decode(url.username()),
            decode(url.password().unwrap_or("")),
        ));
    }
    Ok(builder.build())
}

/// Whether an SMTP refusal will never change for this message: the recipient or its address is
/// refused. Other 5xx replies — a rejected login (535), a quota or rate limit, a policy or
/// system problem — are fixed on the server's side, so the mail waits and is retried rather
/// than lost. RFC 3463 enhanced codes decide when the server gives one (`5.1.x`: addressing,
/// `5.5.x`: the request itself); otherwise the basic codes 501, 550, 551 and 553.
fn refused_for_good(e: &lettre::transport::smtp::Error) -> bool {
    let Some(code) = e.status() else {
        return false;
    };
    let text = e.to_string();
    let enhanced = text.split_whitespace().find(|w| {
        let parts: Vec<&str> = w.trim_end_matches([',', ':']).split('.').collect();
        parts.len() == 3
            && parts[0] == "5"
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    match enhanced {
        Some(status) => status.starts_with("5.1.") || status.starts_with("5.5."),
        None => matches!(u16::from(code), 501 | 550 | 551 | 553),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A pooled transport starts its pool's upkeep on the runtime.
    #[tokio::test]
    async fn smtp_urls() {
        assert!(smtp_transport("smtp://127.0.0.1:2525", None).is_ok());
        assert!(smtp_transport("smtp://user:p%40ss@mail.example:587?tls=starttls", None).is_ok());
        assert!(smtp_transport("smtps://mail.example", None).is_ok());
        assert!(smtp_transport("smtp://mail.example?tls=bogus", None).is_err());
        assert!(smtp_transport("http://mail.example", None).is_err());
        assert!(smtp_transport("not a url", None).is_err());
        assert!(smtp_transport("smtps://mail.example", Some(b"not a certificate")).is_err());
    }

    #[test]
    fn templates_render_with_escaping_and_overrides() {
        let dir = std::env::temp_dir().join(format!("souk-mail-{}", Uuid::now_v7()));
        let mailer = Mailer::new(None, "Shop <shop@example.com>", &dir, "Souk Demo").unwrap();
        let vars = serde_json::json!({"name": "<Zoë>", "link": "https://x/y?t=1&u=2", "expires_minutes": 60});
        let (subject, text, html) = mailer.render("password_reset", &vars).unwrap();
        assert_eq!(subject, "Reset your Souk Demo password");
        assert!(text.contains("Hello <Zoë>,"), "plain text is not escaped");
        assert!(html.contains("Hello &lt;Zoë&gt;,"), "HTML is escaped");
        std::fs::create_dir_all(dir.join("templates/email")).unwrap();
        std::fs::write(
            dir.join("templates/email/password_reset.subject.txt"),
            "Custom {{ name }}",
        )
        .unwrap();
        let mailer = Mailer::new(None, "shop@example.com", &dir, "Souk Demo").unwrap();
        assert_eq!(
            mailer.render("password_reset", &vars).unwrap().0,
            "Custom <Zoë>"
        );
        assert!(matches!(
            mailer.render("nope", &vars),
            Err(JobError::Permanent(_))
        ));
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Addresses show one line per line in HTML mail: real `<br>`s, the text itself escaped.
    #[test]
    fn addresses_break_into_lines_and_stay_escaped() {
        let dir = std::env::temp_dir().join(format!("souk-mail-{}", Uuid::now_v7()));
        let mailer = Mailer::new(None, "shop@example.com", &dir, "Souk Demo").unwrap();
        let vars = serde_json::json!({
            "name": "Ada", "order_number": "#1", "order_id": "x", "lines": [],
            "subtotal": "1", "has_discount": false, "discount": "0", "shipping": "0", "tax": "0",
            "tax_inclusive": false, "total": "1", "payment_method": "manual",
            "pending_payment": false, "address": "Ada <b>L</b>\n1 Main St\nBerlin",
            "vendor_name": "V", "carrier": "C", "tracking_number": "T",
        });
        for template in ["order_confirmation", "order_shipped", "vendor_new_order"] {
            let (_, _, html) = mailer.render(template, &vars).unwrap();
            assert!(
                html.contains("Ada &lt;b&gt;L&lt;&#x2f;b&gt;<br>1 Main St<br>Berlin"),
                "{template}: {html}"
            );
        }
    }
}
