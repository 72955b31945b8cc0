//! What each event says to whom: a template per event type, rendered for every channel
//! (email gets the title as subject; SMS sends the body; push shows title and body).

use crate::events::{catalog, DecodeError, Envelope};
use crate::inventory::events::{BackInStock, LowStock};
use crate::money::rupees;
use crate::order::events::OrderUpdated;
use crate::payment::events::{PaymentFailed, PaymentRefunded};
use crate::user::events::UserRegistered;

/// Categories: `transactional` (orders and payments) and `account` cannot be turned off;
/// `marketing` (back in stock) and `alerts` (staff) can.
pub const CATEGORIES: [&str; 4] = ["transactional", "account", "marketing", "alerts"];
pub const ALWAYS_ON: [&str; 2] = ["transactional", "account"];
pub const CHANNELS: [&str; 3] = ["email", "sms", "push"];

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Recipients {
    Users(Vec<String>),
    /// Every account with the admin role.
    Admins,
}

/// A rendered message for an event, before preferences and quiet hours.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub to: Recipients,
    pub category: &'static str,
    pub channels: &'static [&'static str],
    pub title: String,
    pub body: String,
}

fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(6)..).unwrap_or(id)
}

/// The message an event causes, if any. Event types not listed cause none.
pub fn plan(env: &Envelope) -> Result<Option<Plan>, DecodeError> {
    let all: &'static [&'static str] = &CHANNELS;
    // A message to one shopper on every channel.
    let p = |user_id: &str, category, title: String, body: String| Plan {
        to: Recipients::Users(vec![user_id.to_owned()]),
        category,
        channels: all,
        title,
        body,
    };
    Ok(match env.event_type.as_str() {
        catalog::USER_REGISTERED => {
            let u: UserRegistered = env.decode()?;
            Some(Plan {
                channels: &["email"],
                ..p(
                    &u.user_id,
                    "account",
                    "Welcome to Nakku".into(),
                    format!(
                        "Hi {}, your account is ready. Groceries at your door in minutes.",
                        u.name
                    ),
                )
            })
        }
        catalog::ORDER_UPDATED => {
            let o: OrderUpdated = env.decode()?;
            let order = short(&o.order_id);
            let failure = o.failure_reason.as_deref().unwrap_or("an error");
            let (title, body) = match o.status.as_str() {
                "confirmed" => (
                    format!("Order {order} confirmed"),
                    format!("Your order {order} is confirmed and being packed."),
                ),
                "out_for_delivery" => (
                    format!("Order {order} is on its way"),
                    format!("Your order {order} is out for delivery."),
                ),
                "delivered" => (
                    format!("Order {order} delivered"),
                    format!("Your order {order} was delivered. Enjoy!"),
                ),
                "failed" if matches!(o.from.as_str(), "packed" | "out_for_delivery") => (
                    format!("Order {order} could not be delivered"),
                    format!("We could not deliver your order {order}: {failure}. Anything you paid is refunded."),
                ),
                "failed" => (
                    format!("Order {order} could not be placed"),
                    format!(
                        "We could not place your order {order}: {failure}. Nothing was charged, or it is being refunded."
                    ),
                ),
                "cancelled" => (
                    format!("Order {order} cancelled"),
                    format!("Your order {order} was cancelled. Any payment is refunded to its source."),
                ),
                _ => return Ok(None),
            };
            Some(p(&o.user_id, "transactional", title, body))
        }
        catalog::PAYMENT_FAILED => {
            let f = env.decode::<PaymentFailed>()?.0;
            let order = short(&f.order_id);
            Some(p(
                &f.user_id,
                "transactional",
                format!("Payment for order {order} failed"),
                format!(
                    "The payment of {} for order {order} failed: {}.",
                    rupees(f.amount_paise),
                    f.failure_reason.as_deref().unwrap_or("declined")
                ),
            ))
        }
        catalog::PAYMENT_REFUNDED => {
            let r: PaymentRefunded = env.decode()?;
            let order = short(&r.payment.order_id);
            let amount = rupees(r.refund_paise);
            let (title, body) = if r.cash_due_lowered {
                (
                    format!("{amount} less to pay for order {order}"),
                    format!(
                        "Your order {order} changed: {amount} less to pay on delivery. Your delivery partner will ask for {}.",
                        rupees(r.payment.amount_paise)
                    ),
                )
            } else {
                (
                    format!("Refund of {amount} issued"),
                    format!("We refunded {amount} for order {order}. It reaches your account in 3-5 working days."),
                )
            };
            Some(p(&r.payment.user_id, "transactional", title, body))
        }
        catalog::INVENTORY_BACK_IN_STOCK => {
            let back: BackInStock = env.decode()?;
            if back.notify_users.is_empty() {
                return Ok(None);
            }
            let (sku, store) = (&back.level.sku, &back.level.store);
            Some(Plan {
                to: Recipients::Users(back.notify_users),
                category: "marketing",
                channels: all,
                title: format!("{sku} is back in stock"),
                body: format!("{sku} is back at {store}. Add it before it runs out again."),
            })
        }
        catalog::INVENTORY_LOW_STOCK => {
            let low = env.decode::<LowStock>()?.0;
            Some(Plan {
                to: Recipients::Admins,
                category: "alerts",
                channels: &["email"],
                title: format!("Low stock: {} at {}", low.sku, low.store),
                body: format!(
                    "{} at {} is down to {} (threshold {}).",
                    low.sku, low.store, low.available, low.low_threshold
                ),
            })
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Service;

    #[test]
    fn order_steps_speak_to_the_shopper_and_other_moves_are_silent() {
        let env = |status: &str| {
            let moved = OrderUpdated {
                status: status.to_owned(),
                change: None,
                ..OrderUpdated::change(
                    "0190aaaa-bbbb-7ccc-8ddd-eeeeff123456",
                    "u1",
                    "BLR-1",
                    "paid",
                    crate::order::events::OrderChange::LineRemoved,
                )
            };
            Envelope::of(Service::Order, "o", "c", &moved)
        };
        let p = plan(&env("out_for_delivery")).unwrap().unwrap();
        assert_eq!(p.to, Recipients::Users(vec!["u1".into()]));
        assert_eq!(p.category, "transactional");
        assert_eq!(p.title, "Order 123456 is on its way");
        assert!(plan(&env("stock_reserved")).unwrap().is_none());
        assert!(plan(&env("paid")).unwrap().is_none());
    }

    #[test]
    fn back_in_stock_goes_to_the_watchers_as_marketing() {
        let back = BackInStock {
            level: crate::inventory::events::StockLevel {
                store: "BLR-1".into(),
                store_id: "w".into(),
                sku: "MANGO".into(),
                on_hand: 4,
                reserved: 0,
                available: 4,
                low_threshold: 5,
            },
            notify_users: vec!["u1".into(), "u2".into()],
        };
        let env = Envelope::of(Service::Inventory, "w:MANGO", "c", &back);
        let p = plan(&env).unwrap().unwrap();
        assert_eq!(p.category, "marketing");
        assert_eq!(p.to, Recipients::Users(vec!["u1".into(), "u2".into()]));
    }
}
