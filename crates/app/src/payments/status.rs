//! The shopper's view of their payment: "where is it" and "I have paid".

use souk_domain::payments::PaymentState;
use souk_storage::Exec;
use souk_storage::orders::{self, OrderRow};
use souk_storage::payments::{self as store};

use super::{PaymentStatus, start};
use crate::{App, AppError};

/// Where an order's payment stands, for the shopper.
#[derive(Debug, Clone)]
pub struct PaymentView {
    /// The order as it is after this call (`paid` once the payment arrived).
    pub order: OrderRow,
    pub provider: String,
    pub state: PaymentState,
    /// For the provider's browser library to complete the payment; `None` when there is
    /// nothing to complete or the provider cannot be reached right now.
    pub client_secret: Option<String>,
}

/// The shopper's "where is my payment" and "I have paid": Souk asks the provider (never
/// trusting the client) and applies the answer through the same idempotent transition as the
/// webhook, creating the payment at the provider if checkout could not. The caller has checked
/// that the shopper may read `order`.
pub async fn refresh(app: &App, order: &OrderRow) -> Result<PaymentView, AppError> {
    let status = match app.providers.get(&order.payment_method).cloned() {
        // Manual payment: what Souk recorded is all there is.
        None => PaymentStatus {
            provider: order.payment_method.clone(),
            state: if order.paid_amount > 0 {
                PaymentState::Succeeded
            } else {
                PaymentState::Pending
            },
            client_secret: None,
            last_error: None,
        },
        // Paid, shipped or cancelled: report what is recorded, no provider call needed.
        Some(_) if order.status != "pending_payment" => {
            let payment = store::latest_for_order(Exec::Db(&app.db), order.id).await?;
            PaymentStatus {
                provider: order.payment_method.clone(),
                state: payment.map_or(PaymentState::Pending, |p| p.state()),
                client_secret: None,
                last_error: None,
            }
        }
        Some(provider) => {
            let status = start(&app.db, provider.as_ref(), order).await?;
            app.jobs_committed();
            status
        }
    };
    let order = orders::detail(Exec::Db(&app.db), order.id)
        .await?
        .ok_or_else(|| AppError::not_found("no such order"))?
        .order;
    Ok(PaymentView {
        order,
        provider: status.provider,
        state: status.state,
        client_secret: status.client_secret,
    })
}
