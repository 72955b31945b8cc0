//! Delivery (port 8087): the last mile. Delivery partners ([`partners`]: profile, vehicle,
//! home store, shifts, rate-limited location pings with a trimmed history); deliveries
//! ([`deliveries`]: one per order, assignment, the lifecycle with the shopper's code,
//! tracking); route optimisation for a rider's batch ([`route`]). Slots, batching, live
//! streams, geofences and promise-vs-actual per leg are still to come.

pub mod deliveries;
pub mod partners;
pub mod route;

pub use partners::{DeliveryConfig, DeliveryService};
