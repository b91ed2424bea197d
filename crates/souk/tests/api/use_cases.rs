//! The use cases called directly, the way a second face (the HTML pages, the CLI) calls them:
//! no HTTP, no handler, the same database as the rest of the suite (SQLite, or PostgreSQL when
//! `SOUK_TEST_DATABASE_URL` is set). What they must show is that the rules, the transaction and
//! the follow-up jobs live in `souk_app`, so a face that only translates gets them all.

use souk_app::checkout::{Checkout, CheckoutAsk, CheckoutRules};
use souk_app::{Actor, App, AppError, Kind, Settings};
use souk_domain::orders::Address;
use souk_storage::orders::OrderDetail;
use souk_storage::{Exec, carts, catalog, jobs, orders};
use uuid::Uuid;

use crate::checkout::stocked;
use crate::helpers::{TestDatabase, seed, test_database};

/// An `App` over a fresh, migrated test database, with the per-customer limits lifted (these
/// tests place many orders from one address).
async fn quiet_app() -> (App, TestDatabase) {
    let database = test_database().await;
    let db = souk::startup::open_database(&database.url, 4)
        .await
        .expect("open the test database");
    let settings = Settings {
        checkout: CheckoutRules {
            unpaid_orders_per_customer: 0,
            checkouts_per_hour: 1_000_000,
            ..CheckoutRules::default()
        },
        ..Settings::default()
    };
    (App::quiet(db, settings), database)
}

async fn first_variant(app: &App, handle: &str) -> Uuid {
    catalog::product_by_handle(&app.db, handle, false)
        .await
        .unwrap()
        .expect("the seeded product")
        .variants[0]
        .id
}

async fn cart_with(app: &App, variant: Uuid, quantity: i64) -> souk_storage::carts::CartRow {
    let id = carts::create(&app.db, None, "USD").await.unwrap();
    carts::add_item(&app.db, id, variant, quantity, "")
        .await
        .unwrap();
    carts::get(Exec::Db(&app.db), id).await.unwrap().unwrap()
}

fn berlin() -> Address {
    Address {
        name: "Ada Lovelace".into(),
        line1: "1 Main St".into(),
        line2: String::new(),
        city: "Berlin".into(),
        region: String::new(),
        postal_code: "10115".into(),
        country: "DE".into(),
        phone: String::new(),
    }
}

fn ask<'a>(cart: &'a souk_storage::carts::CartRow, key: &'a str, email: &str) -> CheckoutAsk<'a> {
    CheckoutAsk {
        cart,
        customer: None,
        email: Some(email.to_owned()),
        shipping_address: Some(berlin()),
        payment_method: "manual".into(),
        idempotency_key: key,
        fingerprint: format!("{}:{email}", cart.id).into_bytes(),
        client_address_key: "127.0.0.1".into(),
    }
}

/// What a face of its own would store: here, just the order id and total.
fn render(order: &OrderDetail) -> (u16, String) {
    (201, format!("{} {}", order.order.id, order.order.total))
}

async fn checkout(app: &App, ask: CheckoutAsk<'_>) -> Result<Checkout, AppError> {
    souk_app::checkout::checkout(app, ask, render).await
}

async fn jobs_of_kind(app: &App, kind: &str) -> usize {
    jobs::list(&app.db, None, None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|j| j.kind == kind)
        .count()
}

#[tokio::test]
async fn a_checkout_called_directly_places_one_order_per_key_with_its_emails_and_replays_its_answer()
 {
    let (app, _database) = quiet_app().await;
    seed(&app.db, "pens", &[stocked("pen", &[800], 10)]).await;
    let variant = first_variant(&app, "pen").await;
    let cart = cart_with(&app, variant, 3).await;

    let placed = checkout(&app, ask(&cart, "k-1", "ada@example.com"))
        .await
        .unwrap();
    assert!(!placed.replayed);
    let order_id = placed.order_id.expect("an order was placed");
    assert_eq!(
        placed.body,
        format!("{order_id} 2400"),
        "the face's own answer"
    );
    assert!(
        placed.access_token.is_some(),
        "a guest gets the order's key"
    );
    assert_eq!(
        catalog::variant_stock(&app.db, variant).await.unwrap(),
        Some(7)
    );
    // The confirmation emails (customer, and the one vendor) committed with the order.
    assert_eq!(jobs_of_kind(&app, souk_app::jobs::ORDER_EMAIL_JOB).await, 2);

    // The same request again: the stored answer, the same guest key, nothing new written.
    let again = checkout(&app, ask(&cart, "k-1", "ada@example.com"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.order_id, again.status, &again.body),
        (Some(order_id), 201, &placed.body)
    );
    assert_eq!(again.access_token, placed.access_token);
    assert_eq!(
        catalog::variant_stock(&app.db, variant).await.unwrap(),
        Some(7)
    );
    assert_eq!(jobs_of_kind(&app, souk_app::jobs::ORDER_EMAIL_JOB).await, 2);

    // The same key for another request is refused; another key finds the cart ordered.
    let reused = checkout(&app, ask(&cart, "k-1", "bob@example.com"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), "idempotency_key_reused");
    let ordered = checkout(&app, ask(&cart, "k-2", "ada@example.com"))
        .await
        .unwrap_err();
    match ordered {
        AppError::Refused {
            kind: Kind::Conflict,
            code: "cart_already_ordered",
            extra: Some(extra),
            ..
        } => assert_eq!(extra.order_id, Some(order_id)),
        other => panic!("expected cart_already_ordered with the order: {other:?}"),
    }
}

#[tokio::test]
async fn a_checkout_short_of_stock_reports_each_shortage_and_writes_nothing() {
    let (app, _database) = quiet_app().await;
    seed(&app.db, "pens", &[stocked("pen", &[800], 2)]).await;
    let variant = first_variant(&app, "pen").await;
    let cart = cart_with(&app, variant, 5).await;

    let refused = checkout(&app, ask(&cart, "short", "ada@example.com"))
        .await
        .unwrap_err();
    match refused {
        AppError::Refused {
            kind: Kind::Conflict,
            code: "out_of_stock",
            extra: Some(extra),
            ..
        } => {
            assert_eq!(extra.shortages.len(), 1);
            let s = &extra.shortages[0];
            assert_eq!((s.variant_id, s.requested, s.available), (variant, 5, 2));
        }
        other => panic!("expected out_of_stock with the shortage: {other:?}"),
    }
    // Nothing half-written: the stock, the cart, the queue are as they were.
    assert_eq!(
        catalog::variant_stock(&app.db, variant).await.unwrap(),
        Some(2)
    );
    let cart = carts::get(Exec::Db(&app.db), cart.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cart.status, "open");
    assert_eq!(jobs_of_kind(&app, souk_app::jobs::ORDER_EMAIL_JOB).await, 0);

    // The same key may be used again once the cart fits the stock (a refusal stored nothing).
    let line = carts::snapshot(Exec::Db(&app.db), cart.clone())
        .await
        .unwrap()
        .lines[0]
        .id;
    carts::set_quantity(&app.db, cart.id, line, 2)
        .await
        .unwrap();
    let mut retry = ask(&cart, "short", "ada@example.com");
    retry.fingerprint = b"a new request".to_vec();
    assert!(!checkout(&app, retry).await.unwrap().replayed);
}

#[tokio::test]
async fn an_admin_cancellation_called_directly_gives_the_stock_back_emails_once_and_is_audited() {
    let (app, _database) = quiet_app().await;
    seed(&app.db, "pens", &[stocked("pen", &[800], 10)]).await;
    let variant = first_variant(&app, "pen").await;
    let cart = cart_with(&app, variant, 4).await;
    let order_id = checkout(&app, ask(&cart, "c", "ada@example.com"))
        .await
        .unwrap()
        .order_id
        .unwrap();
    let mut tx = app.db.begin_write().await.unwrap();
    let user = souk_storage::accounts::create_user(&mut tx, "admin@example.com", "Ops", "x", true)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let admin = Actor {
        user_id: user.id,
        email: user.email,
        ip: "127.0.0.1".into(),
    };

    let cancelled = souk_app::orders::cancel(&app, &admin, order_id, "customer asked")
        .await
        .unwrap();
    assert_eq!(cancelled.order.status, "cancelled");
    assert_eq!(
        catalog::variant_stock(&app.db, variant).await.unwrap(),
        Some(10)
    );
    let emails_after_cancel = jobs_of_kind(&app, souk_app::jobs::ORDER_EMAIL_JOB).await;
    assert_eq!(
        emails_after_cancel, 3,
        "confirmations, then the cancellation"
    );

    // Twice is refused by the order's state, and tells nobody again.
    let again = souk_app::orders::cancel(&app, &admin, order_id, "again")
        .await
        .unwrap_err();
    assert_eq!(again.code(), "invalid_transition");
    assert_eq!(
        jobs_of_kind(&app, souk_app::jobs::ORDER_EMAIL_JOB).await,
        emails_after_cancel
    );
    let audit = souk_storage::audit::list(
        &app.db,
        &souk_storage::audit::AuditFilter {
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.action == "order.cancel" && e.subject_id == order_id.to_string()),
        "the cancellation is in the audit log: {audit:?}"
    );
    let order = orders::detail(Exec::Db(&app.db), order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.order.cancel_reason.as_deref(), Some("customer asked"));
}
