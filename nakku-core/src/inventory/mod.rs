//! The inventory domain: dark stores, stock per sku per store, reservations for orders,
//! the stock ledger and stock alerts.
//!
//! Stock never goes negative under any concurrency: every change is a conditional UPDATE
//! whose WHERE clause carries the invariant (`on_hand - reserved >= qty`), and the affected
//! row count decides; nothing reads then writes. Every movement is appended to
//! `stock_ledger`, whose deltas sum to the stock row (checked by `reconcile`).

pub mod batch;
pub mod events;
pub mod service;
pub mod store;

use serde::{Deserialize, Serialize};

pub use crate::rules::{check_quantity, hhmm, is_open_at, parse_code, parse_hhmm, parse_sku, MAX_QUANTITY};
pub use events::{Line, Warehouse};
pub use service::{InventoryConfig, InventoryService};

/// Stock of one sku at one store.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StockLevel {
    pub store: String,
    pub sku: String,
    /// False when the store does not stock this sku at all.
    pub tracked: bool,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub in_stock: bool,
    pub low_threshold: i64,
    pub low: bool,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: String,
    pub sku: String,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    pub reason: String,
    pub note: Option<String>,
    pub ref_id: Option<String>,
    pub actor: Option<String>,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

/// A reservation for one order.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Reservation {
    pub id: String,
    pub order_id: String,
    pub store: String,
    /// `held`, `confirmed`, `released`, `expired` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    pub lines: Vec<Line>,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct WarehouseInput {
    #[schema(schema_with = crate::rules::store_code, required = true)]
    pub code: Option<String>,
    #[schema(schema_with = crate::rules::text::<200>, required = true)]
    pub name: Option<String>,
    #[schema(schema_with = crate::rules::text::<100>, required = true)]
    pub city: Option<String>,
    #[schema(schema_with = crate::rules::latitude, required = true)]
    pub lat: Option<f64>,
    #[schema(schema_with = crate::rules::longitude, required = true)]
    pub lng: Option<f64>,
    #[schema(schema_with = crate::rules::hhmm_schema)]
    pub opens_at: Option<String>,
    #[schema(schema_with = crate::rules::hhmm_schema)]
    pub closes_at: Option<String>,
    pub active: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RestockInput {
    #[schema(schema_with = crate::rules::quantity, required = true)]
    pub quantity: Option<i64>,
    #[schema(schema_with = crate::rules::text::<500>)]
    pub note: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AdjustInput {
    #[schema(schema_with = delta_schema, required = true)]
    pub delta: Option<i64>,
    #[schema(schema_with = adjust_reason_schema, required = true)]
    pub reason: Option<String>,
    #[schema(schema_with = crate::rules::text::<500>)]
    pub note: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ThresholdInput {
    #[schema(schema_with = threshold_schema, required = true)]
    pub low_threshold: Option<i64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReserveInput {
    #[schema(schema_with = crate::rules::text::<128>, required = true)]
    pub order_id: Option<String>,
    #[schema(value_type = String, min_length = 1, required = true)]
    pub store: Option<String>,
    #[schema(value_type = Vec<Line>, min_items = 1, max_items = 100, required = true)]
    pub lines: Option<Vec<Line>>,
    /// Overrides the configured reservation lifetime.
    #[schema(minimum = 1, maximum = 86400)]
    pub ttl_secs: Option<i64>,
}

/// A reservation's status. Its moves are in one table ([`ReservationStatus::next`]); the
/// store refuses any other ([`store::transition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    /// The units are held for the order until it is paid, released or the hold expires.
    Held,
    /// Sold: the held units left the shelf.
    Confirmed,
    /// Given back: a hold let go, or sold units returned to the shelf before dispatch.
    Released,
    /// The hold ran out (`reservation_ttl_secs`) before the order was paid.
    Expired,
    /// Nothing was held: a line was short. The saga fails the order.
    Failed,
}

impl ReservationStatus {
    pub const ALL: [ReservationStatus; 5] = [
        ReservationStatus::Held,
        ReservationStatus::Confirmed,
        ReservationStatus::Released,
        ReservationStatus::Expired,
        ReservationStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Held => "held",
            ReservationStatus::Confirmed => "confirmed",
            ReservationStatus::Released => "released",
            ReservationStatus::Expired => "expired",
            ReservationStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<ReservationStatus> {
        ReservationStatus::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Where a reservation in this status may go next.
    pub fn next(self) -> &'static [ReservationStatus] {
        use ReservationStatus::*;
        match self {
            Held => &[Confirmed, Released, Expired],
            // An order cancelled after payment, before dispatch: its units go back.
            Confirmed => &[Released],
            Released | Expired | Failed => &[],
        }
    }

    pub fn can_become(self, to: ReservationStatus) -> bool {
        self.next().contains(&to)
    }
}

impl std::fmt::Display for ReservationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReleaseInput {
    pub reason: Option<String>,
    /// For an order never reserved, record it as released so a late reservation takes
    /// nothing (the order saga's compensation).
    pub block: Option<bool>,
}

/// [`ADJUST_REASONS`] as the OpenAPI document shows them.
fn adjust_reason_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&ADJUST_REASONS)
}

/// An adjustment: a non-zero whole number of units either way.
fn delta_schema() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::Schema::AnyOf(
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(crate::rules::whole::<{ -MAX_QUANTITY }, -1>())
            .item(crate::rules::whole::<1, MAX_QUANTITY>())
            .build(),
    )
}

/// A low-stock threshold.
fn threshold_schema() -> utoipa::openapi::schema::Object {
    crate::rules::whole::<0, MAX_QUANTITY>()
}

/// Reasons an admin may give for an adjustment.
pub const ADJUST_REASONS: [&str; 5] = ["damaged", "expired", "count_correction", "returned", "other"];

/// Stock numbers against the ledger at a store (`reconciled` when nothing differs).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Reconciliation {
    pub store: String,
    pub reconciled: bool,
    pub mismatches: Vec<Mismatch>,
}

/// A sku whose numbers differ from the sum of its ledger.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Mismatch {
    pub sku: String,
    pub on_hand: i64,
    pub ledger_on_hand: i64,
    pub reserved: i64,
    pub ledger_reserved: i64,
}

/// A shopper's back-in-stock watch.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Watch {
    pub store: String,
    pub sku: String,
    pub watching: bool,
    /// True when the shopper was already watching (nothing changed).
    pub already_watching: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every legal move of a reservation, and only those.
    const LEGAL: [(&str, &str); 4] = [
        ("held", "confirmed"),
        ("held", "released"),
        ("held", "expired"),
        ("confirmed", "released"), // cancelled after payment, before dispatch
    ];

    #[test]
    fn a_reservation_moves_only_as_the_table_says() {
        let mut refused = 0;
        for from in ReservationStatus::ALL {
            assert_eq!(ReservationStatus::parse(from.as_str()), Some(from));
            assert_eq!(serde_json::to_value(from).unwrap(), from.as_str());
            for to in ReservationStatus::ALL {
                let legal = LEGAL.contains(&(from.as_str(), to.as_str()));
                assert_eq!(from.can_become(to), legal, "{from} → {to}");
                refused += usize::from(!legal);
            }
        }
        assert_eq!(refused, 5 * 5 - LEGAL.len());
        assert_eq!(ReservationStatus::parse("HELD"), None);
        for end in ["released", "expired", "failed"] {
            let s = ReservationStatus::parse(end).unwrap();
            assert!(s.next().is_empty(), "{end} is final");
        }
    }

    #[test]
    fn skus_codes_and_times_are_checked() {
        assert_eq!(parse_sku(" MILK-1L ").unwrap(), "MILK-1L");
        assert!(parse_sku("a b").is_err() && parse_sku("").is_err());
        assert_eq!(parse_code("blr-kor-01").unwrap(), "BLR-KOR-01");
        assert!(parse_code("x").is_err());
        assert_eq!(parse_hhmm("07:30").unwrap(), 450);
        assert_eq!(parse_hhmm("24:00").unwrap(), 1440);
        for bad in ["7", "25:00", "10:60", "ab:cd", "24:01"] {
            assert!(parse_hhmm(bad).is_err(), "{bad}");
        }
        assert_eq!(hhmm(450), "07:30");
        assert!(check_quantity(0).is_err() && check_quantity(-3).is_err() && check_quantity(MAX_QUANTITY + 1).is_err());
    }

    #[test]
    fn opening_hours_follow_india_time_and_may_cross_midnight() {
        // 2026-01-01T00:00:00Z is 05:30 IST.
        let t = 1_767_225_600_000;
        assert!(!is_open_at(6 * 60, 23 * 60, t));
        assert!(is_open_at(5 * 60, 23 * 60, t));
        assert!(is_open_at(22 * 60, 6 * 60, t), "open overnight");
        assert!(is_open_at(0, 0, t), "round the clock");
    }
}
