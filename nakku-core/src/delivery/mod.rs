//! Delivery (port 8087): the last mile. Delivery partners ([`partners`]: profile, vehicle,
//! home store, shifts, rate-limited location pings with a trimmed history); deliveries
//! ([`deliveries`]: one per order, assignment, the lifecycle with the shopper's code,
//! tracking, batching, geofences, live streams); promise vs actual ([`performance`]); route
//! optimisation for a rider's batch ([`route`]); delivery time slots with capacity per store
//! ([`slots`]); dark-store picking, packing and substitutions
//! ([`fulfilment`]); capacity caps that stretch promises, then pause a store ([`capacity`]); the consumers of order and catalogue events ([`consumers`]); and the
//! events it publishes ([`events`]).

/// The statuses of a delivery in a partner's hands, as an SQL list (a macro so that
/// constant queries can be built from it with `concat!`).
macro_rules! in_hand_sql {
    () => {
        "('assigned', 'at_store', 'picked_up', 'out_for_delivery', 'at_door')"
    };
}

pub mod capacity;
pub mod consumers;
pub mod deliveries;
pub mod events;
pub mod fulfilment;
pub mod partners;
pub mod performance;
pub mod route;
pub mod slots;

pub use partners::{DeliveryConfig, DeliveryService};

/// A delivery's status. Its moves are in one table ([`DeliveryStatus::next`]); a partner's
/// actions ([`deliveries`]) are checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Created with the order; waits for the order's confirmation.
    Awaiting,
    /// Confirmed: waits for a partner.
    Unassigned,
    Assigned,
    /// The partner is within the store's geofence.
    AtStore,
    PickedUp,
    OutForDelivery,
    /// The partner is within the door's geofence.
    AtDoor,
    Delivered,
    Failed,
    /// The order was cancelled (or failed) before pickup.
    Cancelled,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 10] = [
        DeliveryStatus::Awaiting,
        DeliveryStatus::Unassigned,
        DeliveryStatus::Assigned,
        DeliveryStatus::AtStore,
        DeliveryStatus::PickedUp,
        DeliveryStatus::OutForDelivery,
        DeliveryStatus::AtDoor,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Awaiting => "awaiting",
            DeliveryStatus::Unassigned => "unassigned",
            DeliveryStatus::Assigned => "assigned",
            DeliveryStatus::AtStore => "at_store",
            DeliveryStatus::PickedUp => "picked_up",
            DeliveryStatus::OutForDelivery => "out_for_delivery",
            DeliveryStatus::AtDoor => "at_door",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// Where a delivery in this status may go next.
    pub fn next(self) -> &'static [DeliveryStatus] {
        use DeliveryStatus::*;
        match self {
            Awaiting => &[Unassigned, Cancelled],
            Unassigned => &[Assigned, Cancelled],
            // Before pickup a partner may reject, end the shift or go silent: back in the pool.
            Assigned => &[AtStore, PickedUp, Unassigned, Cancelled],
            AtStore => &[PickedUp, Unassigned, Cancelled],
            PickedUp => &[OutForDelivery, Failed],
            OutForDelivery => &[AtDoor, Delivered, Failed],
            AtDoor => &[Delivered, Failed],
            Delivered | Failed | Cancelled => &[],
        }
    }

    pub fn can_become(self, to: DeliveryStatus) -> bool {
        self.next().contains(&to)
    }

    /// Whether the delivery is in a partner's hands (`in_hand_sql!` as a rule).
    pub fn in_hand(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Assigned
                | DeliveryStatus::AtStore
                | DeliveryStatus::PickedUp
                | DeliveryStatus::OutForDelivery
                | DeliveryStatus::AtDoor
        )
    }
}

#[cfg(test)]
mod status_tests {
    use super::DeliveryStatus;

    /// Every legal move of a delivery, and only those.
    const LEGAL: [(&str, &str); 18] = [
        ("awaiting", "unassigned"),
        ("awaiting", "cancelled"),
        ("unassigned", "assigned"),
        ("unassigned", "cancelled"),
        ("assigned", "at_store"),
        ("assigned", "picked_up"),
        ("assigned", "unassigned"),
        ("assigned", "cancelled"),
        ("at_store", "picked_up"),
        ("at_store", "unassigned"),
        ("at_store", "cancelled"),
        ("picked_up", "out_for_delivery"),
        ("picked_up", "failed"),
        ("out_for_delivery", "at_door"),
        ("out_for_delivery", "delivered"),
        ("out_for_delivery", "failed"),
        ("at_door", "delivered"),
        ("at_door", "failed"),
    ];

    #[test]
    fn a_delivery_moves_only_as_the_table_says() {
        let mut allowed = 0;
        for from in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(from.as_str()), Some(from));
            assert_eq!(serde_json::to_value(from).unwrap(), from.as_str());
            for to in DeliveryStatus::ALL {
                let legal = LEGAL.contains(&(from.as_str(), to.as_str()));
                assert_eq!(from.can_become(to), legal, "{from:?} → {to:?}");
                allowed += usize::from(legal);
            }
        }
        assert_eq!(allowed, LEGAL.len());
    }

    #[test]
    fn in_hand_is_the_sql_list() {
        let listed: Vec<&str> = in_hand_sql!()
            .trim_matches(|c| c == '(' || c == ')')
            .split(", ")
            .map(|s| s.trim_matches('\''))
            .collect();
        let in_hand: Vec<&str> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| s.in_hand())
            .map(DeliveryStatus::as_str)
            .collect();
        assert_eq!(listed, in_hand);
    }
}
