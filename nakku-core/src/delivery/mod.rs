//! Delivery (port 8087): the last mile. So far: delivery partners ([`partners`]: profile,
//! vehicle, home store, shifts, rate-limited location pings with a trimmed history) and
//! route optimisation for a rider's batch ([`route`]). Deliveries themselves (assignment,
//! the lifecycle with OTP, tracking, slots) are the rest of the delivery issue.

pub mod partners;
pub mod route;

pub use partners::{DeliveryConfig, DeliveryService};
