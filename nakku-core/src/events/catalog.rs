//! Event type names, as constants so a typo is a compile error.

pub const USER_REGISTERED: &str = "user.registered";
pub const USER_LOGIN: &str = "user.login";
pub const USER_UPDATED: &str = "user.updated";
pub const USER_DELETED: &str = "user.deleted";
pub const USER_ADDRESS_ADDED: &str = "user.address.added";
pub const USER_ADDRESS_UPDATED: &str = "user.address.updated";
pub const USER_ADDRESS_DELETED: &str = "user.address.deleted";

pub const PRODUCT_CREATED: &str = "product.created";
pub const PRODUCT_UPDATED: &str = "product.updated";
pub const PRODUCT_DELETED: &str = "product.deleted";
pub const CATEGORY_UPDATED: &str = "product.category.updated";

pub const INVENTORY_UPDATED: &str = "inventory.updated";
pub const INVENTORY_LOW_STOCK: &str = "inventory.low_stock";
pub const INVENTORY_OUT_OF_STOCK: &str = "inventory.out_of_stock";
pub const INVENTORY_BACK_IN_STOCK: &str = "inventory.back_in_stock";
pub const INVENTORY_RESERVED: &str = "inventory.reserved";
pub const INVENTORY_RESERVATION_FAILED: &str = "inventory.reservation_failed";
pub const INVENTORY_RELEASED: &str = "inventory.released";
pub const INVENTORY_CONFIRMED: &str = "inventory.confirmed";
pub const WAREHOUSE_UPDATED: &str = "inventory.store.updated";

pub const ORDER_CREATED: &str = "order.created";
pub const ORDER_UPDATED: &str = "order.updated";
pub const ORDER_CANCELLED: &str = "order.cancelled";
pub const ORDER_COMPLETED: &str = "order.completed";

pub const CART_UPDATED: &str = "cart.updated";
pub const CART_CLEARED: &str = "cart.cleared";

pub const PAYMENT_INITIATED: &str = "payment.initiated";
pub const PAYMENT_COMPLETED: &str = "payment.completed";
pub const PAYMENT_FAILED: &str = "payment.failed";
pub const PAYMENT_REFUNDED: &str = "payment.refunded";

pub const DELIVERY_SCHEDULED: &str = "delivery.scheduled";
pub const DELIVERY_STARTED: &str = "delivery.started";
pub const DELIVERY_COMPLETED: &str = "delivery.completed";
pub const DELIVERY_FAILED: &str = "delivery.failed";
pub const DELIVERY_SLOT_UPDATED: &str = "delivery.slot.updated";
pub const DELIVERY_PACKED: &str = "delivery.packed";
pub const DELIVERY_STORE_LOAD: &str = "delivery.store.load";

pub const NOTIFICATION_SENT: &str = "notification.sent";
pub const NOTIFICATION_FAILED: &str = "notification.failed";

pub const LOCATION_VALIDATED: &str = "location.validated";

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
