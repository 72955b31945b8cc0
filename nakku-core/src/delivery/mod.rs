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
