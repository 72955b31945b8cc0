//! What one service asks of another, as traits with the types they exchange. In embedded
//! mode the other service runs in the same process and implements the trait itself (the
//! `impl`s live in the providing domain: `impl StockPort for InventoryService` in
//! `inventory/service.rs`, and so on); when it runs elsewhere, nakku-server's `clients`
//! module implements the same trait over its HTTP API. Every call a saga makes through
//! these is idempotent, so a timeout can always be retried. A leaf of the import graph:
//! nothing here names a domain's service.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::events::bus::BoxFut;
use crate::inventory::events::Line;
use crate::{CoreError, RequestCtx};

/// The parts of a reservation the saga acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReservationView {
    /// `held`, `confirmed`, `released`, `expired` or `failed`.
    pub status: String,
    pub reason: Option<String>,
}

/// Stock at a dark store: reservations for orders (the inventory service).
pub trait StockPort: Send + Sync {
    /// Reserves every line or none; asking again for the same order returns the first answer.
    fn reserve<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        store: &'a str,
        lines: Vec<Line>,
    ) -> BoxFut<'a, Result<ReservationView, CoreError>>;
    /// Turns the held stock into a sale. A reservation that expired or was released is a
    /// `Conflict`.
    fn confirm<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<ReservationView, CoreError>>;
    /// Gives the stock back (held or sold); for an order never reserved, records that it is
    /// released so a late reservation request cannot take stock.
    fn release<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        reason: &'a str,
    ) -> BoxFut<'a, Result<ReservationView, CoreError>>;
    /// Returns one sold line to the shelf (a line removed before packing).
    fn return_line<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        sku: &'a str,
    ) -> BoxFut<'a, Result<(), CoreError>>;
    /// What picking found: units not on the shelf and substitutes taken instead. Once per
    /// order; asking again does nothing.
    fn picked<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        short: Vec<Line>,
        add: Vec<Line>,
    ) -> BoxFut<'a, Result<(), CoreError>>;
}

/// A saved address as the cart and order services snapshot it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressSnapshot {
    pub id: String,
    pub label: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub pincode: String,
    pub lat: f64,
    pub lng: f64,
}

/// A shopper's saved addresses (the user service).
pub trait AddressPort: Send + Sync {
    /// The address, if it is this user's; `NotFound` otherwise.
    fn address<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        address_id: &'a str,
    ) -> BoxFut<'a, Result<AddressSnapshot, CoreError>>;
}

/// Which store serves a point, how far by road and how soon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Serving {
    pub serviceable: bool,
    pub store: Option<String>,
    pub road_distance_km: f64,
    pub eta_minutes: i64,
    /// Why not, for shoppers.
    pub message: Option<String>,
}

/// Serviceability of a point (the location service).
pub trait PlacePort: Send + Sync {
    fn serving<'a>(&'a self, ctx: &'a RequestCtx, lat: f64, lng: f64) -> BoxFut<'a, Result<Serving, CoreError>>;
}

/// An order's delivery slot as the delivery service booked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotBooking {
    pub order_id: String,
    pub store: String,
    #[serde(rename = "start", with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start_ms: i64,
    #[serde(rename = "end", with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub end_ms: i64,
    /// `booked` or `released`.
    pub status: String,
}

/// Delivery slots (the delivery service): the order service books one while placing a
/// scheduled order. Booking is idempotent by order id.
pub trait SlotPort: Send + Sync {
    fn book<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        store: &'a str,
        start_ms: i64,
    ) -> BoxFut<'a, Result<SlotBooking, CoreError>>;
    /// Gives the slot back (an order that was never saved); harmless when there is none.
    fn release<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<(), CoreError>>;
}

/// An address to check (the user service asks the location service; also the body of
/// `POST /locations/validate-address`).
#[derive(Debug, Default, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddressCheckInput {
    #[schema(schema_with = crate::rules::text::<200>, required = true)]
    pub line1: Option<String>,
    #[schema(schema_with = crate::rules::text::<100>, required = true)]
    pub city: Option<String>,
    #[schema(schema_with = crate::rules::pincode, required = true)]
    pub pincode: Option<String>,
    #[schema(schema_with = crate::rules::latitude, required = true)]
    pub lat: Option<f64>,
    #[schema(schema_with = crate::rules::longitude, required = true)]
    pub lng: Option<f64>,
}

/// What the location service says about an address.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddressVerdict {
    pub problems: crate::error::FieldErrors,
    /// Some(true/false) when a zone lookup was made.
    pub serviceable: Option<bool>,
    /// The store that serves it.
    pub store: Option<String>,
}

/// Checks addresses for the user service: the location service in this process, or its
/// HTTP API when it runs elsewhere.
pub trait AddressChecker: Send + Sync {
    fn check<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        input: AddressCheckInput,
    ) -> BoxFut<'a, Result<AddressVerdict, CoreError>>;
}

// ---- carts (the cart service) ----

/// One problem with one cart line. `price_changed` is a notice (the order goes through once
/// the shopper has seen the new price); the others block checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineProblem {
    /// `unavailable`, `out_of_stock`, `insufficient_stock`, `over_limit`, `price_changed`.
    pub code: String,
    pub message: String,
}

/// A cart line as shown, with its current price and problems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CartLine {
    pub sku: String,
    pub product_id: Option<String>,
    pub name: String,
    pub unit: String,
    pub quantity: i64,
    pub unit_price_paise: i64,
    pub mrp_paise: i64,
    pub line_total_paise: i64,
    /// The unit price when the shopper added or last changed the line.
    pub price_seen_paise: i64,
    pub available: i64,
    pub max_per_order: i64,
    pub problems: Vec<LineProblem>,
}

impl CartLine {
    pub fn blocking(&self) -> bool {
        self.problems.iter().any(|p| p.code != "price_changed")
    }
}

/// One fee of a checkout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Fee {
    /// `delivery`, `small_cart`, `surge`.
    pub code: String,
    pub label: String,
    pub amount_paise: i64,
}

/// The priced checkout the shopper is shown; an order stores exactly this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Quote {
    pub cart_id: String,
    pub store: String,
    pub address: AddressSnapshot,
    pub lines: Vec<CartLine>,
    pub items_paise: i64,
    pub fees: Vec<Fee>,
    pub fees_paise: i64,
    pub total_paise: i64,
    pub currency: String,
    pub road_distance_km: f64,
    pub eta_minutes: i64,
    /// Problems by field (`items.<sku>`, `address_id`, `cart`): empty when the order can go.
    pub problems: BTreeMap<String, Vec<String>>,
    /// True when nothing but price notices stands in the way.
    pub can_place_order: bool,
    /// Fingerprint of what is shown: send it with the order to accept changed prices.
    pub quote_id: String,
}

/// What the order service asks of carts (in process or over HTTP).
pub trait CartPort: Send + Sync {
    fn checkout<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        store: Option<&'a str>,
        address_id: &'a str,
    ) -> BoxFut<'a, Result<Quote, CoreError>>;
    /// Puts lines back in the shopper's cart (reorder).
    fn add_lines<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        store: &'a str,
        lines: Vec<(String, i64)>,
    ) -> BoxFut<'a, Result<serde_json::Value, CoreError>>;
}

// ---- payments (the payment service) ----

/// A payment's status. Every write of a status goes through [`PaymentStatus::to`], which
/// refuses a move its table ([`PaymentStatus::next`]) does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Sent to the provider; its answer is awaited.
    Initiated,
    /// Cash on delivery: due at the door.
    CodPending,
    Captured,
    Failed,
    /// Cancelled before any money moved (or blocked before the charge arrived).
    Voided,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 7] = [
        PaymentStatus::Initiated,
        PaymentStatus::CodPending,
        PaymentStatus::Captured,
        PaymentStatus::Failed,
        PaymentStatus::Voided,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Initiated => "initiated",
            PaymentStatus::CodPending => "cod_pending",
            PaymentStatus::Captured => "captured",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Voided => "voided",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<PaymentStatus> {
        PaymentStatus::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Where a payment in this status may go next.
    pub fn next(self) -> &'static [PaymentStatus] {
        use PaymentStatus::*;
        match self {
            Initiated => &[Captured, Failed],
            // Cash taken at the door, or the order cancelled before delivery.
            CodPending => &[Captured, Voided],
            Captured => &[PartiallyRefunded, Refunded],
            // A further partial refund keeps it partially refunded.
            PartiallyRefunded => &[PartiallyRefunded, Refunded],
            // A charge that landed after the order was cancelled is refunded at once.
            Voided => &[Refunded],
            Failed | Refunded => &[],
        }
    }

    /// The names to write for the move `self → to` (`WHERE status = from`, `SET status =
    /// to`); an internal error when the table does not allow it.
    pub fn to(self, to: PaymentStatus) -> Result<(&'static str, &'static str), CoreError> {
        if self.next().contains(&to) {
            Ok((self.as_str(), to.as_str()))
        } else {
            Err(CoreError::Internal(anyhow::anyhow!(
                "a payment cannot go from {} to {}",
                self.as_str(),
                to.as_str()
            )))
        }
    }
}

/// A payment as clients and the saga see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Payment {
    pub id: String,
    pub order_id: String,
    pub user_id: String,
    pub kind: String,
    pub method_id: Option<String>,
    pub amount_paise: i64,
    pub currency: String,
    /// `initiated`, `captured`, `failed`, `voided`, `cod_pending`, `refunded`, `partially_refunded`.
    pub status: String,
    pub captured_paise: i64,
    pub refunded_paise: i64,
    pub provider: String,
    pub provider_ref: Option<String>,
    pub failure_reason: Option<String>,
    pub attempts: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// What the order saga asks to charge.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChargeInput {
    #[schema(schema_with = crate::rules::id)]
    pub order_id: String,
    #[schema(schema_with = crate::rules::id)]
    pub user_id: String,
    #[schema(minimum = 0)]
    pub amount_paise: i64,
    #[schema(schema_with = kind_schema)]
    pub kind: String,
    #[schema(schema_with = crate::rules::id)]
    pub method_id: Option<String>,
}

/// The ways to pay.
pub const KINDS: [&str; 4] = ["cod", "upi", "card", "wallet"];

/// [`KINDS`] as the OpenAPI document shows them.
pub fn kind_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&KINDS)
}

/// How a shopper says how to pay: one of [`KINDS`], or the id of a saved method.
pub fn choice_schema() -> utoipa::openapi::schema::Schema {
    utoipa::openapi::schema::Schema::AnyOf(
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(kind_schema())
            .item(crate::rules::id())
            .build(),
    )
}
/// A refund's idempotency key: 1 to 100 characters (printable ASCII here, so characters
/// and bytes agree).
fn refund_key_schema() -> utoipa::openapi::schema::Object {
    crate::rules::matching("^[!-~]{1,100}$")
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RefundInput {
    #[schema(minimum = 1)]
    pub amount_paise: Option<i64>,
    #[schema(schema_with = crate::rules::text::<500>)]
    pub reason: Option<String>,
    /// Idempotency key: the same key refunds once.
    #[schema(schema_with = refund_key_schema, required = true)]
    pub key: Option<String>,
}

/// How a shopper asked to pay: a kind, possibly a saved method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MethodRef {
    pub kind: String,
    pub method_id: Option<String>,
}

/// What the order saga asks of payments (the payment service, in process or over HTTP).
pub trait PaymentPort: Send + Sync {
    fn resolve_method<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        user_id: &'a str,
        raw: &'a str,
    ) -> BoxFut<'a, Result<MethodRef, CoreError>>;
    fn charge<'a>(&'a self, ctx: &'a RequestCtx, input: ChargeInput) -> BoxFut<'a, Result<Payment, CoreError>>;
    fn refund<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        input: RefundInput,
    ) -> BoxFut<'a, Result<Payment, CoreError>>;
    fn cancel<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        reason: &'a str,
    ) -> BoxFut<'a, Result<Payment, CoreError>>;
    fn settle_cod<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<Payment, CoreError>>;
}
