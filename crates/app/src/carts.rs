//! Carts: open one, add and change lines, set the email and address, apply or remove a coupon,
//! choose a vendor's shipping option — each answered with the cart priced as checkout would
//! charge it. A guest cart's id is the only key to it; a customer's cart is theirs alone
//! (anyone else gets "no such cart", exactly as for an unknown id).
//!
//! Cart edits are relaxed writes (storage commits them without waiting for the disk): a cart
//! lost in a power cut is re-made by its shopper; an order never is.

use souk_domain::accounts::Email;
use souk_domain::cart::{self, Quote};
use souk_domain::orders::{Address, normalise_coupon_code};
use souk_storage::carts::{
    self, AddOutcome, CartDetails, CartRow, CartSnapshot, ChooseOutcome, MAX_LINES, MAX_QUANTITY,
};
use souk_storage::{Exec, catalog, coupons, now_ms};
use uuid::Uuid;

use crate::checkout::checked_address;
use crate::{App, AppError, FieldProblem, Kind};

/// A cart with its current prices, availability, coupon, shipping and tax.
pub struct PricedCart {
    pub snapshot: CartSnapshot,
    pub quote: Quote,
}

fn no_cart() -> AppError {
    AppError::not_found("no such cart")
}

fn not_open() -> AppError {
    AppError::refused(
        Kind::Conflict,
        "cart_not_open",
        "Cart closed",
        "this cart was checked out or merged and cannot change any more",
    )
}

/// The cart `id` as `customer` (`None`: a guest) may see it.
pub async fn cart_for(app: &App, customer: Option<Uuid>, id: Uuid) -> Result<CartRow, AppError> {
    let cart = carts::get(Exec::Db(&app.db), id)
        .await?
        .ok_or_else(no_cart)?;
    if cart.user_id.is_some() && cart.user_id != customer {
        return Err(no_cart());
    }
    Ok(cart)
}

/// The cart priced now.
pub async fn priced(app: &App, cart: CartRow) -> Result<PricedCart, AppError> {
    let snapshot = carts::snapshot(Exec::Db(&app.db), cart).await?;
    let pricing = snapshot.pricing();
    let quote = cart::quote(&pricing, now_ms(), app.settings.commission_bps).map_err(|e| {
        AppError::refused(
            Kind::Unprocessable,
            "cart_invalid",
            "Cart cannot be priced",
            e.to_string(),
        )
    })?;
    Ok(PricedCart { snapshot, quote })
}

async fn reload(app: &App, id: Uuid) -> Result<PricedCart, AppError> {
    let cart = carts::get(Exec::Db(&app.db), id)
        .await?
        .ok_or_else(no_cart)?;
    priced(app, cart).await
}

/// Starts a cart: a customer gets their open cart (made if needed); a guest a new one.
pub async fn open(app: &App, customer: Option<Uuid>) -> Result<PricedCart, AppError> {
    let id = carts::create(&app.db, customer, app.settings.currency.code()).await?;
    reload(app, id).await
}

/// Adds `quantity` of a variant for sale (to a line of the same variant and note, if any).
pub async fn add_item(
    app: &App,
    customer: Option<Uuid>,
    cart_id: Uuid,
    variant_id: Uuid,
    quantity: i64,
    note: &str,
) -> Result<PricedCart, AppError> {
    let mut problems = Vec::new();
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        problems.push(FieldProblem {
            field: "quantity".into(),
            message: format!("must be from 1 to {MAX_QUANTITY}"),
        });
    }
    let note = note.trim();
    if note.chars().count() > 500 || souk_domain::text::has_hidden_controls(note) {
        problems.push(FieldProblem {
            field: "note".into(),
            message: "at most 500 characters, no control characters".into(),
        });
    }
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let cart = cart_for(app, customer, cart_id).await?;
    if !catalog::variant_for_sale(&app.db, variant_id, &cart.currency).await? {
        return Err(AppError::refused(
            Kind::Unprocessable,
            "variant_unavailable",
            "Variant not for sale",
            "no such variant is for sale",
        ));
    }
    match carts::add_item(&app.db, cart.id, variant_id, quantity, note).await? {
        AddOutcome::Added => reload(app, cart.id).await,
        AddOutcome::NotOpen => Err(not_open()),
        AddOutcome::TooManyLines => Err(AppError::refused(
            Kind::Conflict,
            "cart_full",
            "Cart full",
            format!("a cart holds at most {MAX_LINES} lines"),
        )),
    }
}

/// Sets a line's quantity; 0 removes the line.
pub async fn set_quantity(
    app: &App,
    customer: Option<Uuid>,
    cart_id: Uuid,
    line_id: Uuid,
    quantity: i64,
) -> Result<PricedCart, AppError> {
    if !(0..=MAX_QUANTITY).contains(&quantity) {
        return Err(AppError::field(
            "quantity",
            format!("must be from 0 to {MAX_QUANTITY}"),
        ));
    }
    let cart = cart_for(app, customer, cart_id).await?;
    if cart.status != "open" {
        return Err(not_open());
    }
    if !carts::set_quantity(&app.db, cart.id, line_id, quantity).await? {
        return Err(AppError::not_found("no such line in this cart"));
    }
    reload(app, cart.id).await
}

/// Sets or clears the email and shipping address (`None`: leave as it is; `Some(None)`: clear).
pub async fn update_details(
    app: &App,
    customer: Option<Uuid>,
    cart_id: Uuid,
    email: Option<Option<String>>,
    shipping_address: Option<Option<Address>>,
) -> Result<PricedCart, AppError> {
    let mut problems = Vec::new();
    let email = match email {
        Some(Some(e)) => match Email::parse(&e) {
            Ok(e) => Some(Some(e.as_str().to_owned())),
            Err(m) => {
                problems.push(FieldProblem {
                    field: "email".into(),
                    message: m.to_string(),
                });
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    let address = match shipping_address {
        Some(Some(a)) => checked_address(&app.db, a, "shipping_address", &mut problems)
            .await?
            .map(|a| Some(serde_json::to_string(&a).expect("an address serializes"))),
        Some(None) => Some(None),
        None => None,
    };
    if !problems.is_empty() {
        return Err(AppError::invalid(problems));
    }
    let cart = cart_for(app, customer, cart_id).await?;
    let details = CartDetails {
        email,
        shipping_address: address,
        coupon_code: None,
    };
    change_details(app, cart.id, details).await
}

async fn change_details(
    app: &App,
    cart_id: Uuid,
    details: CartDetails,
) -> Result<PricedCart, AppError> {
    if !carts::update_details(&app.db, cart_id, details).await? {
        return Err(not_open());
    }
    reload(app, cart_id).await
}

/// Applies a coupon (replacing any other). It must exist and be usable now; whether it applies
/// to this cart (a minimum subtotal) shows in the quote.
pub async fn apply_coupon(
    app: &App,
    customer: Option<Uuid>,
    cart_id: Uuid,
    code: &str,
) -> Result<PricedCart, AppError> {
    let cart = cart_for(app, customer, cart_id).await?;
    let unusable = |code: &'static str, detail: &str| {
        AppError::refused(Kind::Unprocessable, code, "Coupon cannot be used", detail)
    };
    let code = normalise_coupon_code(code)
        .ok_or_else(|| unusable("coupon_not_found", "no such coupon"))?;
    let coupon = coupons::by_code(&app.db, &code)
        .await?
        .ok_or_else(|| unusable("coupon_not_found", "no such coupon"))?;
    if let Err(r) = coupon.limits().check(now_ms(), 0) {
        return Err(unusable(r.code(), "this coupon cannot be used now"));
    }
    let details = CartDetails {
        coupon_code: Some(Some(code)),
        ..CartDetails::default()
    };
    change_details(app, cart.id, details).await
}

pub async fn remove_coupon(
    app: &App,
    customer: Option<Uuid>,
    cart_id: Uuid,
) -> Result<PricedCart, AppError> {
    let cart = cart_for(app, customer, cart_id).await?;
    let details = CartDetails {
        coupon_code: Some(None),
        ..CartDetails::default()
    };
    change_details(app, cart.id, details).await
}

/// Chooses one of a vendor's shipping options for this cart (replacing that vendor's choice).
pub async fn choose_shipping(
    app: &App,
    customer: Option<Uuid>,
    cart_id: Uuid,
    option_id: Uuid,
) -> Result<PricedCart, AppError> {
    let cart = cart_for(app, customer, cart_id).await?;
    match carts::choose_shipping(&app.db, cart.id, option_id).await? {
        ChooseOutcome::Chosen => reload(app, cart.id).await,
        ChooseOutcome::NotOpen => Err(not_open()),
        ChooseOutcome::UnknownOption => Err(AppError::refused(
            Kind::Unprocessable,
            "unknown_shipping_option",
            "Unknown shipping option",
            "not a shipping option of a vendor in this cart",
        )),
    }
}
