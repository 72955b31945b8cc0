//! The order service's events: what it promises every consumer (delivery, cart, payment's
//! cash follower, notification, analytics). Published on `<prefix>.order`, keyed by order id.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::{catalog, Event, Upcast};

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

/// One fee of a placed order, as the checkout priced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderFee {
    /// `delivery`, `small_cart`, `surge`; `unspecified` for the lump sum of an order placed
    /// before fees were itemised (an upcast `order.created` v1).
    pub code: String,
    pub paise: i64,
}

/// `order.created` v2: an order was placed (status `pending`); its saga starts.
///
/// v2 itemises the fees (`fees`, each with its code) where v1 had only their sum
/// (`fees_paise`): analytics reports delivery, small-cart and surge fee income apart. A
/// removed field is a breaking change, hence the new version; consumers still accept v1
/// (`OrderCreatedV1`, upcast with its sum as one `unspecified` fee), so events already in
/// the log or from a not-yet-upgraded order service are read alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderCreated {
    pub order_id: String,
    pub user_id: String,
    /// Store code.
    pub store: String,
    pub status: String,
    pub lines: Vec<PlacedLine>,
    pub items_paise: i64,
    /// Every fee charged, in the checkout's order (none: no fees).
    pub fees: Vec<OrderFee>,
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
    const VERSION: u32 = 2;
}

impl OrderCreated {
    /// The fees' sum (v1's `fees_paise`).
    pub fn fees_paise(&self) -> i64 {
        self.fees.iter().map(|f| f.paise).sum()
    }
}

/// `order.created` v1, still accepted: the fees as one sum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderCreatedV1 {
    pub order_id: String,
    pub user_id: String,
    pub store: String,
    pub status: String,
    pub lines: Vec<PlacedLine>,
    pub items_paise: i64,
    pub fees_paise: i64,
    pub total_paise: i64,
    pub currency: String,
    pub payment_kind: String,
    pub address: DropPoint,
    pub substitution: String,
    pub slot: Option<SlotWindow>,
    pub request_id: String,
}

impl Event for OrderCreatedV1 {
    const TYPE: &'static str = catalog::ORDER_CREATED;
}

impl Upcast for OrderCreatedV1 {
    type Into = OrderCreated;

    fn upcast(self) -> OrderCreated {
        let fees = if self.fees_paise == 0 {
            Vec::new()
        } else {
            vec![OrderFee {
                code: "unspecified".to_owned(),
                paise: self.fees_paise,
            }]
        };
        OrderCreated {
            order_id: self.order_id,
            user_id: self.user_id,
            store: self.store,
            status: self.status,
            lines: self.lines,
            items_paise: self.items_paise,
            fees,
            total_paise: self.total_paise,
            currency: self.currency,
            payment_kind: self.payment_kind,
            address: self.address,
            substitution: self.substitution,
            slot: self.slot,
            request_id: self.request_id,
        }
    }
}

impl OrderCreated {
    /// An `order.created` of either version, as v2: what every consumer reads.
    pub fn from_envelope(env: &crate::events::Envelope) -> Result<OrderCreated, crate::events::DecodeError> {
        env.decode_upcast::<OrderCreatedV1, OrderCreated>()
    }
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

    fn created_v1() -> OrderCreatedV1 {
        OrderCreatedV1 {
            order_id: "o1".into(),
            user_id: "u1".into(),
            store: "BLR-1".into(),
            status: "pending".into(),
            lines: vec![PlacedLine {
                sku: "MILK".into(),
                quantity: 2,
                unit_price_paise: 3_000,
            }],
            items_paise: 6_000,
            fees_paise: 2_500,
            total_paise: 8_500,
            currency: "INR".into(),
            payment_kind: "upi".into(),
            address: DropPoint {
                city: "Bengaluru".into(),
                pincode: "560001".into(),
                lat: 12.97,
                lng: 77.59,
            },
            substitution: "substitute".into(),
            slot: None,
            request_id: "r1".into(),
        }
    }

    #[test]
    fn order_created_v2_is_published_and_a_v1_is_still_read_as_v2() {
        // An older producer's v1: the fees' sum becomes one `unspecified` fee.
        let old = Envelope::of(Service::Order, "o1", "r1", &created_v1());
        assert_eq!(old.version, 1);
        let read = OrderCreated::from_envelope(&old).unwrap();
        assert_eq!(
            read.fees,
            [OrderFee {
                code: "unspecified".into(),
                paise: 2_500
            }]
        );
        assert_eq!(
            (read.fees_paise(), read.total_paise, read.lines.len()),
            (2_500, 8_500, 1)
        );
        // No fees in v1: none in v2.
        let free = Envelope::of(
            Service::Order,
            "o1",
            "r1",
            &OrderCreatedV1 {
                fees_paise: 0,
                ..created_v1()
            },
        );
        assert!(OrderCreated::from_envelope(&free).unwrap().fees.is_empty());
        // The current producer's v2, itemised, read as it is.
        let v2 = OrderCreated {
            fees: vec![
                OrderFee {
                    code: "delivery".into(),
                    paise: 2_000,
                },
                OrderFee {
                    code: "surge".into(),
                    paise: 500,
                },
            ],
            ..read
        };
        let env = Envelope::of(Service::Order, "o1", "r1", &v2);
        assert_eq!(env.version, 2);
        assert!(env.payload.get("fees_paise").is_none(), "{}", env.payload);
        assert_eq!(OrderCreated::from_envelope(&env).unwrap(), v2);
        // A version nobody has written yet is refused, not misread.
        let mut v3 = env.clone();
        v3.version = 3;
        assert!(OrderCreated::from_envelope(&v3).is_err());
    }
}
