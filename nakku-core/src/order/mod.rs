//! The order domain: orders placed from the cart with an idempotency key, an explicit state
//! machine with a timeline, and the order saga (see [`saga`]) that reserves stock, charges
//! and confirms, or puts everything back.

pub mod deliveries;
pub mod saga;
pub mod service;

use serde::{Deserialize, Serialize};

pub use service::{OrderConfig, OrderService};

/// Every status, in the order an order normally moves through them.
pub const STATUSES: [&str; 10] = [
    "pending",
    "stock_reserved",
    "paid",
    "confirmed",
    "packed",
    "out_for_delivery",
    "delivered",
    "cancelled",
    "failed",
    // Not a status an order takes; listed so filters can name every value.
    "any",
];

/// Statuses an order can no longer leave.
pub const TERMINAL: [&str; 3] = ["delivered", "cancelled", "failed"];

/// Whether `from → to` is a legal move of the state machine.
pub fn legal(from: &str, to: &str) -> bool {
    matches!(
        (from, to),
        ("pending", "stock_reserved" | "failed" | "cancelled")
            | ("stock_reserved", "paid" | "confirmed" | "failed" | "cancelled")
            | ("paid", "confirmed" | "failed" | "cancelled")
            | ("confirmed", "packed" | "cancelled")
            | ("packed", "out_for_delivery" | "cancelled" | "failed")
            // A failed delivery: the saga refunds and the goods go back on the shelf.
            | ("out_for_delivery", "delivered" | "failed")
    )
}

/// What a shopper wants done with an item missing at picking.
pub const SUBSTITUTIONS: [&str; 3] = ["substitute", "refund", "call"];

/// `POST /orders`.
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlaceInput {
    #[schema(value_type = String, required = true)]
    pub address_id: Option<String>,
    #[schema(value_type = String, required = true)]
    pub payment_method: Option<String>,
    /// `substitute` (default), `refund` or `call`.
    pub substitution: Option<String>,
    /// The cart's store (default: the shopper's most recent cart).
    pub store: Option<String>,
    /// The checkout's `quote_id` as shown: required to accept changed prices, and when given
    /// the order is refused if anything in the checkout changed since.
    pub quote_id: Option<String>,
    pub note: Option<String>,
    /// A delivery slot's start (RFC 3339, from `GET /deliveries/slots`); none = express.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    pub status: Option<String>,
    /// RFC 3339 or YYYY-MM-DD (inclusive).
    pub from: Option<String>,
    pub to: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
    /// Staff only.
    pub user_id: Option<String>,
    pub store: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CancelInput {
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StatusInput {
    pub status: Option<String>,
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_legal_moves_are_allowed() {
        assert!(legal("pending", "stock_reserved"));
        assert!(legal("stock_reserved", "confirmed"), "cash on delivery skips paid");
        assert!(legal("packed", "cancelled"));
        assert!(!legal("delivered", "cancelled"));
        assert!(!legal("out_for_delivery", "cancelled"));
        assert!(!legal("failed", "pending"));
        assert!(!legal("pending", "delivered"));
        for t in TERMINAL {
            assert!(STATUSES.iter().all(|s| !legal(t, s)), "{t} is terminal");
        }
    }
}
