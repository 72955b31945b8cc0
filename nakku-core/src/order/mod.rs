//! The order domain: orders placed from the cart with an idempotency key, an explicit state
//! machine with a timeline, and the order saga (see [`saga`]) that reserves stock, charges
//! and confirms, or puts everything back.

pub mod deliveries;
pub mod events;
pub mod saga;
pub mod service;

use serde::{Deserialize, Serialize};

pub use events::SlotWindow;
pub use service::{OrderConfig, OrderService};

/// Every status's name, in [`OrderStatus::ALL`]'s order (derived, so it cannot drift).
pub const STATUSES: [&str; OrderStatus::ALL.len()] = {
    let mut names = [""; OrderStatus::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = OrderStatus::ALL[i].as_str();
        i += 1;
    }
    names
};

/// An order's status. The API, the database and the events carry its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    StockReserved,
    Paid,
    Confirmed,
    Packed,
    OutForDelivery,
    Delivered,
    Cancelled,
    Failed,
}

impl OrderStatus {
    /// Every status, in the order an order normally moves through them.
    pub const ALL: [OrderStatus; 9] = [
        OrderStatus::Pending,
        OrderStatus::StockReserved,
        OrderStatus::Paid,
        OrderStatus::Confirmed,
        OrderStatus::Packed,
        OrderStatus::OutForDelivery,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::StockReserved => "stock_reserved",
            OrderStatus::Paid => "paid",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Packed => "packed",
            OrderStatus::OutForDelivery => "out_for_delivery",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The state machine, in one table: where an order in this status may go next.
    pub fn next(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Pending => &[StockReserved, Failed, Cancelled],
            // Cash on delivery skips `paid`.
            StockReserved => &[Paid, Confirmed, Failed, Cancelled],
            Paid => &[Confirmed, Failed, Cancelled],
            Confirmed => &[Packed, Cancelled],
            Packed => &[OutForDelivery, Cancelled, Failed],
            // A failed delivery: the saga refunds and the goods go back on the shelf.
            OutForDelivery => &[Delivered, Failed],
            Delivered | Cancelled | Failed => &[],
        }
    }

    /// A status the order can no longer leave.
    pub fn is_terminal(self) -> bool {
        self.next().is_empty()
    }
}

/// Whether `from → to` is a legal move of the state machine ([`OrderStatus::next`]).
pub fn legal(from: &str, to: &str) -> bool {
    match (OrderStatus::parse(from), OrderStatus::parse(to)) {
        (Some(from), Some(to)) => from.next().contains(&to),
        _ => false,
    }
}

/// What a shopper wants done with an item missing at picking.
pub const SUBSTITUTIONS: [&str; 3] = ["substitute", "refund", "call"];

/// [`SUBSTITUTIONS`] as the OpenAPI document shows them.
fn substitution_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&SUBSTITUTIONS)
}

/// The statuses staff move an order to by hand (cancelling has its own endpoint).
pub const STAFF_MOVES: [&str; 3] = ["packed", "out_for_delivery", "delivered"];

fn staff_move_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&STAFF_MOVES)
}

fn status_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&STATUSES)
}

/// `POST /orders`.
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlaceInput {
    #[schema(schema_with = crate::rules::id, required = true)]
    pub address_id: Option<String>,
    #[schema(schema_with = crate::ports::choice_schema, required = true)]
    pub payment_method: Option<String>,
    /// `substitute` (default), `refund` or `call`.
    #[schema(schema_with = substitution_schema)]
    pub substitution: Option<String>,
    /// The cart's store (default: the shopper's most recent cart).
    #[schema(schema_with = crate::rules::store_code)]
    pub store: Option<String>,
    /// The checkout's `quote_id` as shown: required to accept changed prices, and when given
    /// the order is refused if anything in the checkout changed since.
    pub quote_id: Option<String>,
    #[schema(schema_with = crate::rules::text::<500>)]
    pub note: Option<String>,
    /// A delivery slot's start (RFC 3339, from `GET /deliveries/slots`); none = express.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::rules::time)]
    pub slot: Option<String>,
}

/// An order as shoppers and staff see it (`GET /orders/{id}` and every move's answer).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub id: String,
    pub user_id: String,
    pub store: String,
    /// One of [`STATUSES`].
    pub status: String,
    pub payment: PaymentChoice,
    /// What to do with an item missing at picking: `substitute`, `refund` or `call`.
    pub substitution: String,
    pub note: Option<String>,
    /// The delivery address as it was when the order was placed.
    pub address: Option<crate::ports::AddressSnapshot>,
    pub lines: Vec<OrderLine>,
    pub items_paise: i64,
    /// The fees as the checkout showed them.
    pub fees: Vec<crate::ports::Fee>,
    pub fees_paise: i64,
    pub total_paise: i64,
    pub refunded_paise: i64,
    pub currency: String,
    pub eta_minutes: Option<i64>,
    /// The checkout quote the order was placed from.
    pub quote_id: Option<String>,
    /// What picking changed (missing items, substitutes, the refund), once packed.
    pub picking: Option<Picking>,
    pub delivery_slot: Option<SlotWindow>,
    pub saga: SagaView,
    pub failure_reason: Option<String>,
    pub timeline: Vec<TimelineEntry>,
    /// Bumped by every change.
    pub version: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// How an order is paid: `kind` is `card`, `upi`, `wallet`, `netbanking` or `cod`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentChoice {
    pub kind: String,
    pub method_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub sku: String,
    pub product_id: String,
    pub name: String,
    pub unit: String,
    pub unit_price_paise: i64,
    pub mrp_paise: i64,
    pub quantity: i64,
    pub line_total_paise: i64,
    /// `ok`, `removed`, `short` (missing at picking) or `substitute` (added at picking).
    pub status: String,
}

/// The changes picking made, as the delivery service reported them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Picking {
    /// Per line: what was missing and what replaced it.
    #[schema(value_type = Vec<Object>)]
    pub changes: Vec<serde_json::Value>,
    pub refund_paise: i64,
    pub picker_id: Option<String>,
    /// When the saga applied the changes (stock and payment); null while pending.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub applied_at: Option<String>,
}

/// Where the order saga is: `running`, `compensating`, `done` or `failed`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SagaView {
    pub state: String,
    /// The step it will run next (none when finished).
    pub next_step: Option<String>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub cancel_requested: bool,
    #[schema(format = DateTime)]
    pub step_started_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub status: String,
    pub note: Option<String>,
    /// Who made the move: an account as `role:id`, or a part of the system (`saga`, `picking`).
    pub actor: Option<String>,
    #[schema(format = DateTime)]
    pub at: String,
}

/// A page of orders, newest first; pass `next_cursor` as `cursor` for the next.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    pub items: Vec<OrderView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListQuery {
    #[param(schema_with = status_schema)]
    pub status: Option<String>,
    /// RFC 3339 or YYYY-MM-DD (inclusive).
    #[param(schema_with = crate::rules::day)]
    pub from: Option<String>,
    #[param(schema_with = crate::rules::day)]
    pub to: Option<String>,
    #[param(schema_with = crate::rules::cursor)]
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Staff only.
    #[param(schema_with = crate::rules::id)]
    pub user_id: Option<String>,
    #[param(schema_with = crate::rules::store_code)]
    pub store: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CancelInput {
    #[schema(schema_with = crate::rules::text::<300>)]
    pub reason: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StatusInput {
    #[schema(schema_with = staff_move_schema, required = true)]
    pub status: Option<String>,
    #[schema(schema_with = crate::rules::text::<300>)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statuses an order can no longer leave.
    const TERMINAL: [&str; 3] = ["delivered", "cancelled", "failed"];

    #[test]
    fn the_status_names_are_the_listed_ones_and_terminal_means_no_way_out() {
        let names: Vec<&str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, STATUSES);
        assert_eq!(
            STATUSES,
            [
                "pending",
                "stock_reserved",
                "paid",
                "confirmed",
                "packed",
                "out_for_delivery",
                "delivered",
                "cancelled",
                "failed"
            ]
        );
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(s.is_terminal(), TERMINAL.contains(&s.as_str()), "{s:?}");
        }
        assert_eq!(OrderStatus::parse("any"), None);
    }

    /// Every legal move of the state machine, and only those.
    const LEGAL: [(&str, &str); 17] = [
        ("pending", "stock_reserved"),
        ("pending", "failed"),
        ("pending", "cancelled"),
        ("stock_reserved", "paid"),
        ("stock_reserved", "confirmed"), // cash on delivery skips paid
        ("stock_reserved", "failed"),
        ("stock_reserved", "cancelled"),
        ("paid", "confirmed"),
        ("paid", "failed"),
        ("paid", "cancelled"),
        ("confirmed", "packed"),
        ("confirmed", "cancelled"),
        ("packed", "out_for_delivery"),
        ("packed", "cancelled"),
        ("packed", "failed"),
        ("out_for_delivery", "delivered"),
        ("out_for_delivery", "failed"), // a failed delivery: refunded, goods back on the shelf
    ];

    fn statuses() -> impl Iterator<Item = &'static str> {
        STATUSES.into_iter()
    }

    #[test]
    fn every_legal_move_is_allowed() {
        for (from, to) in LEGAL {
            assert!(legal(from, to), "{from} → {to}");
        }
    }

    #[test]
    fn every_other_move_between_statuses_is_refused() {
        let mut refused = 0;
        for from in statuses() {
            for to in statuses() {
                if !LEGAL.contains(&(from, to)) {
                    assert!(!legal(from, to), "{from} → {to} must be refused");
                    refused += 1;
                }
            }
        }
        assert_eq!(refused, 9 * 9 - LEGAL.len());
    }

    #[test]
    fn moves_to_unknown_or_filter_only_statuses_are_refused() {
        for s in statuses() {
            for odd in ["any", "", "PAID", "shipped", "confirmed "] {
                assert!(!legal(s, odd), "{s} → {odd:?}");
                assert!(!legal(odd, s), "{odd:?} → {s}");
            }
        }
    }

    #[test]
    fn a_move_to_the_same_status_is_refused() {
        for s in statuses() {
            assert!(!legal(s, s), "{s} → {s}");
        }
    }

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
