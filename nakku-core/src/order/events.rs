//! The order service's events: what it promises every consumer (delivery, cart, payment's
//! cash follower, notification, analytics). Published on `<prefix>.order`, keyed by order id.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::{catalog, Event};

/// A booked delivery slot (RFC 3339 UTC), as orders and deliveries show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlotWindow {
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
}

/// One line of a placed order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PlacedLine {
    pub sku: String,
    pub quantity: i64,
    /// Price per unit at checkout, in paise.
    pub unit_price_paise: i64,
}

/// Where the order goes (no street lines: consumers need the place, not the address).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DropPoint {
    pub city: String,
    pub pincode: String,
    pub lat: f64,
    pub lng: f64,
}

/// `order.created` v1: an order was placed (status `pending`); its saga starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderCreated {
    pub order_id: String,
    pub user_id: String,
    /// Store code.
    pub store: String,
    pub status: String,
    pub lines: Vec<PlacedLine>,
    pub items_paise: i64,
    pub fees_paise: i64,
    pub total_paise: i64,
    pub currency: String,
    /// `upi`, `card`, `wallet` or `cod`.
    pub payment_kind: String,
    pub address: DropPoint,
    /// What the picker does when an item is missing: `substitute`, `refund` or `call`.
    pub substitution: String,
    /// The booked slot; none for an express order.
    pub slot: Option<SlotWindow>,
    pub request_id: String,
}

impl Event for OrderCreated {
    const TYPE: &'static str = catalog::ORDER_CREATED;
}

/// What changed in an `order.updated` that is not a status move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderChange {
    /// Staff removed a line before packing (`sku`, `refunded_paise`).
    LineRemoved,
    /// The saga applied the picker's substitutions and refunds (`refund_paise`, `refunded_paise`).
    PickingApplied,
}

/// `order.updated` v1: the order moved from `from` to `status`, or (with `change`) kept its
/// status and changed otherwise. Also the payload of `order.cancelled` and `order.completed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderUpdated {
    pub order_id: String,
    pub user_id: String,
    pub store: String,
    pub status: String,
    /// The status before (equal to `status` for a `change`).
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<OrderChange>,
    /// A status move's note (as on the timeline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the order failed or was cancelled by the saga.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_paise: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_kind: Option<String>,
    /// `line_removed`: the line's SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    /// `picking_applied`: what this change gave back, in paise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_paise: Option<i64>,
    /// Everything given back on the order so far, in paise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refunded_paise: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl OrderUpdated {
    /// A change that keeps the status, with nothing else set.
    pub fn change(order_id: &str, user_id: &str, store: &str, status: &str, change: OrderChange) -> OrderUpdated {
        OrderUpdated {
            order_id: order_id.to_owned(),
            user_id: user_id.to_owned(),
            store: store.to_owned(),
            status: status.to_owned(),
            from: status.to_owned(),
            change: Some(change),
            reason: None,
            failure_reason: None,
            total_paise: None,
            payment_kind: None,
            sku: None,
            refund_paise: None,
            refunded_paise: None,
            request_id: None,
        }
    }
}

impl Event for OrderUpdated {
    const TYPE: &'static str = catalog::ORDER_UPDATED;
}

/// `order.cancelled` v1: the same payload as the `order.updated` that moved it to cancelled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct OrderCancelled(pub OrderUpdated);

impl Event for OrderCancelled {
    const TYPE: &'static str = catalog::ORDER_CANCELLED;
}

/// `order.completed` v1: the same payload as the `order.updated` that moved it to delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct OrderCompleted(pub OrderUpdated);

impl Event for OrderCompleted {
    const TYPE: &'static str = catalog::ORDER_COMPLETED;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Envelope;
    use crate::service::Service;

    fn moved() -> OrderUpdated {
        OrderUpdated {
            change: None,
            reason: Some("payment captured".into()),
            total_paise: Some(24_000),
            payment_kind: Some("upi".into()),
            ..OrderUpdated::change("o1", "u1", "BLR-1", "paid", OrderChange::LineRemoved)
        }
    }

    #[test]
    fn a_typed_event_travels_with_its_type_and_version_and_decodes_back() {
        let env = Envelope::of(Service::Order, "o1", "r1", &moved());
        assert_eq!((env.event_type.as_str(), env.version), ("order.updated", 1));
        // A status move carries no `change` key at all; its note is the `reason`.
        assert!(env.payload.get("change").is_none(), "{}", env.payload);
        assert_eq!(env.payload["reason"], "payment captured");
        assert_eq!(env.decode::<OrderUpdated>().unwrap(), moved());
        let cancelled = Envelope::of(Service::Order, "o1", "r1", &OrderCancelled(moved()));
        assert_eq!(cancelled.event_type, "order.cancelled");
        assert_eq!(cancelled.payload, env.payload, "the same payload as the move");
    }

    #[test]
    fn a_payload_missing_a_field_or_of_another_version_is_refused_by_name() {
        let mut env = Envelope::of(Service::Order, "o1", "r1", &moved());
        env.payload.as_object_mut().unwrap().remove("store");
        let e = env.decode::<OrderUpdated>().unwrap_err().to_string();
        assert!(e.contains("order.updated v1") && e.contains("store"), "{e}");
        let mut env = Envelope::of(Service::Order, "o1", "r1", &moved());
        env.version = 2;
        let e = env.decode::<OrderUpdated>().unwrap_err().to_string();
        assert!(e.contains("expected version 1"), "{e}");
    }
}
