//! Delivery (port 8087): the last mile. So far: route optimisation for a rider's batch
//! ([`route`]); partners, assignment, the delivery lifecycle and tracking are the rest of
//! the delivery issue.

pub mod route;
