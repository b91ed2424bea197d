//! Checkout: a cart becomes an order, exactly once per idempotency key.
//!
//! One write transaction takes the stock, consumes the coupon, writes the order with its
//! vendor orders, lines and events, queues the confirmation emails and stores the answer under
//! the key — all of it or nothing. A retry with the same key and request gets the stored
//! answer again (with the payment's client secret fetched anew); the same key with another
//! request is refused; a duplicate while the first is still running is told to retry shortly.
//!
//! What is stored for a key is the order id and the face's own rendering of the answer (the
//! JSON API stores its response body, so API clients get a byte-identical replay). A face that
//! keeps no body — a page form redirecting to the order — renders its replay from the order id.
//! See docs/architecture.md, "Exactly once for two faces".

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use souk_domain::accounts::{Email, customer_key, token_hash};
use souk_domain::orders::{Address, order_access_token, order_access_token_unkeyed};
use souk_storage::carts::CartRow;
use souk_storage::orders::{
    self, CheckoutOutcome, CheckoutRateLimit, CheckoutRequest, OrderDetail,
};
use souk_storage::{Db, Exec, jobs, now_ms, rates};
use uuid::Uuid;

use crate::jobs::checkout_jobs;
use crate::{App, AppError, Extra, FieldProblem, Kind, outbox};

/// The ways an order can be paid.
pub const PAYMENT_METHODS: &[&str] = &["manual", "stripe"];
/// The window of the checkouts-per-hour limit.
const CHECKOUT_WINDOW_MS: i64 = 3600 * 1000;
/// How long checkout waits for Stripe to create the payment: a slow Stripe gives a pending
/// answer, completed later by the payment status call or reconciliation with the same key.
const STRIPE_BUDGET: Duration = Duration::from_secs(8);

/// The limits on what checkouts may hold and how often they may run.
#[derive(Debug, Clone)]
pub struct CheckoutRules {
    /// How long an unpaid order keeps its stock before the sweep cancels it.
    pub order_hold: Duration,
    /// The same for a guest's unpaid `manual` order (nothing proves a guest intends to pay,
    /// and the hold is what a hoarder is after).
    pub guest_manual_hold: Duration,
    /// Unpaid orders one customer may hold at once (0: no limit).
    pub unpaid_orders_per_customer: i64,
    /// Orders per hour from one client address (guests) or account.
    pub checkouts_per_hour: i64,
}

impl Default for CheckoutRules {
    fn default() -> Self {
        CheckoutRules {
            order_hold: Duration::from_secs(24 * 3600),
            guest_manual_hold: Duration::from_secs(12 * 3600),
            unpaid_orders_per_customer: 3,
            checkouts_per_hour: 30,
        }
    }
}

/// Idempotency keys of checkouts running in this process.
#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<Mutex<HashSet<Vec<u8>>>>);

struct Running<'a> {
    set: &'a InFlight,
    key: Vec<u8>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.0.lock() {
            set.remove(&self.key);
        }
    }
}

/// The signed-in customer checking out.
#[derive(Debug, Clone)]
pub struct Customer {
    pub user_id: Uuid,
    pub email: String,
}

/// A checkout as asked for. What it omits (email, address) comes from the cart.
#[derive(Debug, Clone)]
pub struct CheckoutAsk<'a> {
    /// The cart, already checked to be the caller's to check out.
    pub cart: &'a CartRow,
    pub customer: Option<Customer>,
    pub email: Option<String>,
    pub shipping_address: Option<Address>,
    pub payment_method: String,
    /// The client's `Idempotency-Key`.
    pub idempotency_key: &'a str,
    /// What identifies the request under that key (a replay must match it).
    pub fingerprint: Vec<u8>,
    /// The client address guests' checkouts are counted by.
    pub client_address_key: String,
}

/// A checkout's answer: the order placed now, or the stored answer of an earlier request.
#[derive(Debug, Clone)]
pub struct Checkout {
    pub order_id: Option<Uuid>,
    /// `true` when an earlier request with this key placed it.
    pub replayed: bool,
    /// The face's rendering stored with the key, and its status.
    pub status: u16,
    pub body: String,
    /// The guest's key to the order.
    pub access_token: Option<String>,
    /// For Stripe orders still to be paid: what the browser completes the payment with
    /// (`None` when Stripe could not be reached in time; ask the payment status later).
    pub client_secret: Option<String>,
}

/// Validates an address, and its region where the shop's tax rates depend on it; problems
/// are reported under `field`.
pub async fn checked_address(
    db: &Db,
    address: Address,
    field: &str,
    problems: &mut Vec<FieldProblem>,
) -> Result<Option<Address>, AppError> {
    match address.validate() {
        Ok(mut a) => {
            if rates::has_regional_tax(db, &a.country).await?
                && let Err(message) = a.normalise_region()
            {
                problems.push(FieldProblem {
                    field: format!("{field}.region"),
                    message,
                });
                return Ok(None);
            }
            Ok(Some(a))
        }
        Err(found) => {
            problems.extend(found.into_iter().map(|(f, m)| FieldProblem {
                field: format!("{field}.{f}"),
                message: m,
            }));
            Ok(None)
        }
    }
}

fn key_reused() -> AppError {
    AppError::refused(
        Kind::Unprocessable,
        "idempotency_key_reused",
        "Idempotency key reused",
        "this Idempotency-Key was used with a different request; use a new key for a new request",
    )
}

fn payment_method_unavailable(detail: String) -> AppError {
    AppError::refused(
        Kind::Unprocessable,
        "payment_method_unavailable",
        "Payment method unavailable",
        detail,
    )
}

/// Checks out `ask.cart`. `render` is the face's answer for a placed order, stored under the
/// key in the same transaction and given back, as it was, to a retry.
pub async fn checkout(
    app: &App,
    ask: CheckoutAsk<'_>,
    render: impl Fn(&OrderDetail) -> (u16, String),
) -> Result<Checkout, AppError> {
    let cart = ask.cart;
    let scope = format!("checkout:{}", cart.id);
    let key_hash = token_hash(ask.idempotency_key);

    // Fast path: a retry of a request that already succeeded.
    if let Some(prior) = orders::idempotent_response(&app.db, &scope, &key_hash).await? {
        if prior.request_hash != ask.fingerprint {
            return Err(key_reused());
        }
        let status = prior.response_status as u16;
        return replay(
            app,
            ask.idempotency_key,
            status,
            prior.response_body,
            prior.order_id,
        )
        .await;
    }
    let _running = {
        let key = [scope.as_bytes(), &key_hash].concat();
        let mut set = app
            .checkouts
            .0
            .lock()
            .map_err(|_| AppError::internal("the running-checkouts set is poisoned"))?;
        if !set.insert(key.clone()) {
            return Err(AppError::refused(
                Kind::Conflict,
                "request_in_progress",
                "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )
            .retry_after(1));
        }
        Running {
            set: &app.checkouts,
            key,
        }
    };

    let (email, address) = contact(app, &ask).await?;
    if ask.payment_method == "stripe" && app.providers.stripe.is_none() {
        return Err(payment_method_unavailable(
            "stripe is not configured on this shop (SOUK_STRIPE_SECRET_KEY and SOUK_STRIPE_WEBHOOK_SECRET are unset)".into(),
        ));
    }
    if !PAYMENT_METHODS.contains(&ask.payment_method.as_str()) {
        return Err(payment_method_unavailable(format!(
            "payment_method must be one of: {}",
            PAYMENT_METHODS.join(", ")
        )));
    }

    let rules = &app.settings.checkout;
    // Checkouts per hour — a guest's per client address, a customer's per account — counted
    // inside the checkout transaction: only placed orders count, exactly, at no extra write.
    let bucket = match &ask.customer {
        Some(c) => format!("checkout:user:{}", c.user_id),
        None => format!("checkout:address:{}", ask.client_address_key),
    };
    let hold = if ask.customer.is_none() && ask.payment_method == "manual" {
        rules.guest_manual_hold.min(rules.order_hold)
    } else {
        rules.order_hold
    };
    let order_id = Uuid::now_v7();
    let token = order_access_token(
        &app.settings.webhooks.server_key,
        ask.idempotency_key,
        order_id.as_bytes(),
    );
    let request = CheckoutRequest {
        cart_id: cart.id,
        caller: ask.customer.as_ref().map(|c| c.user_id),
        email: email.as_str().to_owned(),
        shipping_address: serde_json::to_string(&address).expect("an address serializes"),
        payment_method: ask.payment_method.clone(),
        // A signed-in customer is counted by their account, whatever address they type.
        customer_key: customer_key(
            ask.customer
                .as_ref()
                .map_or(email.as_str(), |c| c.email.as_str()),
        ),
        unpaid_limit: Some(rules.unpaid_orders_per_customer).filter(|n| *n > 0),
        hold_ms: i64::try_from(hold.as_millis()).unwrap_or(i64::MAX),
        rate_limit: Some(CheckoutRateLimit {
            bucket,
            window_ms: CHECKOUT_WINDOW_MS,
            limit: rules.checkouts_per_hour,
        }),
        scope,
        key_hash,
        request_hash: ask.fingerprint.clone(),
        order_id,
        access_token_hash: token_hash(&token),
        default_commission_bps: app.settings.commission_bps,
    };
    let mut attempt = 0;
    let outcome = loop {
        attempt += 1;
        match place(app, &request, &render).await {
            Err(e) if e.is_retryable_conflict() && attempt < 4 => continue,
            other => break other?,
        }
    };
    match outcome {
        (CheckoutOutcome::Placed { order, .. }, Some((status, body))) => {
            app.jobs_committed();
            Ok(Checkout {
                order_id: Some(order_id),
                replayed: false,
                status,
                body,
                access_token: Some(token),
                client_secret: client_secret(app, &order).await?,
            })
        }
        (
            CheckoutOutcome::Replay {
                status,
                body,
                order_id,
            },
            _,
        ) => replay(app, ask.idempotency_key, status, body, order_id).await,
        (refused, _) => Err(refusal(refused)),
    }
}

/// The email and shipping address of the order: as given, or else saved on the cart.
async fn contact(app: &App, ask: &CheckoutAsk<'_>) -> Result<(Email, Address), AppError> {
    let mut problems = Vec::new();
    let missing = |field: &str| FieldProblem {
        field: field.into(),
        message: "required: send it, or save it on the cart first (PATCH /api/store/carts/{id})"
            .into(),
    };
    let email = match ask.email.as_deref().or(ask.cart.email.as_deref()) {
        Some(raw) => match Email::parse(raw) {
            Ok(e) => Some(e),
            Err(m) => {
                problems.push(FieldProblem {
                    field: "email".into(),
                    message: m.to_string(),
                });
                None
            }
        },
        None => {
            problems.push(missing("email"));
            None
        }
    };
    let saved = ask
        .cart
        .shipping_address
        .as_deref()
        .and_then(|json| serde_json::from_str::<Address>(json).ok());
    let address = match ask.shipping_address.clone().or(saved) {
        Some(a) => checked_address(&app.db, a, "shipping_address", &mut problems).await?,
        None => {
            problems.push(missing("shipping_address"));
            None
        }
    };
    match (email, address) {
        (Some(email), Some(address)) => Ok((email, address)),
        _ => Err(AppError::invalid(problems)),
    }
}

/// One attempt: the order, its confirmation emails and the stored answer (returned with a
/// placed order) commit together.
async fn place(
    app: &App,
    request: &CheckoutRequest,
    render: &impl Fn(&OrderDetail) -> (u16, String),
) -> Result<(CheckoutOutcome, Option<(u16, String)>), souk_storage::StorageError> {
    let mut tx = app.db.begin_write().await?;
    let outcome = orders::place_order(&mut tx, request).await?;
    let CheckoutOutcome::Placed { order, low_stock } = &outcome else {
        // Nothing was written to keep: dropping `tx` rolls it back.
        return Ok((outcome, None));
    };
    outbox::order_placed(&mut tx, order, low_stock).await?;
    jobs::enqueue_many(&mut tx, &checkout_jobs(order)).await?;
    let (status, body) = render(order);
    orders::store_checkout_response(&mut tx, request, status, &body).await?;
    tx.commit().await?;
    Ok((outcome, Some((status, body))))
}

/// The stored answer of an earlier request with this key, with the guest's token derived again
/// and the payment's client secret fetched anew.
async fn replay(
    app: &App,
    key: &str,
    status: u16,
    body: String,
    order_id: Option<Uuid>,
) -> Result<Checkout, AppError> {
    let (access_token, client_secret) = match order_id {
        Some(id) => {
            let token = replay_token(app, key, id).await?;
            let secret = match orders::detail(Exec::Db(&app.db), id).await? {
                Some(order) => client_secret(app, &order).await?,
                None => None,
            };
            (Some(token), secret)
        }
        None => (None, None),
    };
    Ok(Checkout {
        order_id,
        replayed: true,
        status,
        body,
        access_token,
        client_secret,
    })
}

/// The guest token of a replayed checkout. Orders placed before tokens were keyed by the server
/// key carry the hash of the older derivation; their replays get that token back.
async fn replay_token(app: &App, key: &str, order_id: Uuid) -> Result<String, AppError> {
    let token = order_access_token(&app.settings.webhooks.server_key, key, order_id.as_bytes());
    if let Some(stored) = orders::access_token_hash(&app.db, order_id).await?
        && stored != token_hash(&token)
    {
        let older = order_access_token_unkeyed(key, order_id.as_bytes());
        if stored == token_hash(&older) {
            return Ok(older);
        }
    }
    Ok(token)
}

/// A Stripe order still to be paid gets its payment at Stripe now (after the order committed,
/// never inside its transaction), or fetched on a replay. If Stripe cannot be reached in time
/// the answer still stands, without a secret, never an error.
async fn client_secret(app: &App, order: &OrderDetail) -> Result<Option<String>, AppError> {
    let Some(stripe) = app.providers.stripe.clone() else {
        return Ok(None);
    };
    if order.order.payment_method != "stripe" || order.order.status != "pending_payment" {
        return Ok(None);
    }
    let started = tokio::time::timeout(
        STRIPE_BUDGET,
        crate::payments::start(&app.db, stripe.as_ref(), &order.order),
    )
    .await;
    Ok(match started {
        Ok(status) => status?.client_secret,
        Err(_) => None,
    })
}

fn throttled(code: &'static str, title: &'static str, detail: &str, until_ms: i64) -> AppError {
    let wait = (until_ms - now_ms()) / 1000;
    AppError::throttled(
        code,
        title,
        detail,
        u32::try_from(wait.max(1)).unwrap_or(u32::MAX),
    )
}

/// Why a checkout that placed nothing was refused.
fn refusal(outcome: CheckoutOutcome) -> AppError {
    match outcome {
        CheckoutOutcome::TooManyCheckouts { window_start } => throttled(
            "too_many_checkouts",
            "Too many checkouts",
            "too many orders from this address (or account) in the last hour; try again later",
            window_start + CHECKOUT_WINDOW_MS,
        ),
        CheckoutOutcome::TooManyUnpaid { released_at } => throttled(
            "too_many_unpaid_orders",
            "Too many unpaid orders",
            "this customer already has as many unpaid orders as allowed; pay one, or order again when the oldest is released (see Retry-After)",
            released_at.unwrap_or_else(|| now_ms() + 60_000),
        ),
        CheckoutOutcome::KeyReused => key_reused(),
        CheckoutOutcome::CartNotFound => AppError::not_found("no such cart"),
        CheckoutOutcome::CartNotOpen { order_id } => AppError::refused(
            Kind::Conflict,
            "cart_already_ordered",
            "Cart already checked out",
            "this cart was already checked out; one cart makes one order",
        )
        .with_extra(Extra {
            order_id,
            ..Extra::default()
        }),
        CheckoutOutcome::Empty => AppError::refused(
            Kind::Unprocessable,
            "cart_empty",
            "Cart empty",
            "add something to the cart first",
        ),
        CheckoutOutcome::Unpriceable(detail) => AppError::refused(
            Kind::Unprocessable,
            "cart_invalid",
            "Cart cannot be priced",
            detail,
        ),
        CheckoutOutcome::Invalid(lines) => AppError::Refused {
            kind: Kind::Unprocessable,
            code: "cart_invalid",
            title: "Cart cannot be checked out",
            detail: "some lines are no longer for sale; remove them".into(),
            fields: lines
                .into_iter()
                .map(|(i, m)| FieldProblem {
                    field: format!("lines[{i}]"),
                    message: m.to_owned(),
                })
                .collect(),
            retry_after: None,
            extra: None,
        },
        CheckoutOutcome::OutOfStock(shortages) => AppError::refused(
            Kind::Conflict,
            "out_of_stock",
            "Out of stock",
            "not enough stock for some variants; see `variants` for what is left",
        )
        .with_extra(Extra {
            shortages,
            ..Extra::default()
        }),
        CheckoutOutcome::Coupon(code) => AppError::refused(
            Kind::Conflict,
            code,
            "Coupon cannot be used",
            "the cart's coupon cannot be used any more; remove it to check out without it",
        ),
        CheckoutOutcome::Placed { .. } | CheckoutOutcome::Replay { .. } => {
            AppError::internal("an answered checkout taken for a refusal")
        }
    }
}
