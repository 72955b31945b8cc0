//! Event type names, as constants so a typo is a compile error.

pub const USER_REGISTERED: &str = "user.registered";
pub const USER_LOGIN: &str = "user.login";
pub const USER_UPDATED: &str = "user.updated";
pub const USER_DELETED: &str = "user.deleted";
pub const USER_ADDRESS_ADDED: &str = "user.address.added";
pub const USER_ADDRESS_UPDATED: &str = "user.address.updated";
pub const USER_ADDRESS_DELETED: &str = "user.address.deleted";

/// Every domain that publishes events (one topic each).
pub const DOMAINS: [&str; 10] = [
    "user",
    "product",
    "inventory",
    "order",
    "cart",
    "payment",
    "delivery",
    "notification",
    "location",
    "analytics",
];

/// Payload schema version of each event type. Bump when a payload changes incompatibly.
pub fn version_of(_event_type: &str) -> u32 {
    1
}
