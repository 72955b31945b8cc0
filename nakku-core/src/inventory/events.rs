//! The inventory service's events, on `<prefix>.inventory`: stock levels of one SKU at one
//! store (keyed `<store id>:<sku>`) and reservations of one order (keyed by order id); and
//! [`apply_stock_event`], how any service keeps a replica of the stock levels.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use utoipa::ToSchema;

use crate::events::{catalog, Change, Envelope, Event};
use crate::id::now_ms;

/// A dark store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Warehouse {
    pub id: String,
    pub code: String,
    pub name: String,
    pub city: String,
    pub lat: f64,
    pub lng: f64,
    /// `HH:MM` local time (IST).
    pub opens_at: String,
    pub closes_at: String,
    pub active: bool,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// A reservation line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Line {
    #[schema(schema_with = crate::rules::sku)]
    pub sku: String,
    #[schema(schema_with = crate::rules::quantity)]
    pub quantity: i64,
}

impl Line {
    /// Lines from `(sku, quantity)` pairs, ordered by sku (as reservations and
    /// `cart.updated` list them).
    pub fn by_sku<'a>(pairs: impl IntoIterator<Item = (&'a str, i64)>) -> Vec<Line> {
        let mut lines: Vec<Line> = pairs
            .into_iter()
            .map(|(sku, quantity)| Line {
                sku: sku.to_owned(),
                quantity,
            })
            .collect();
        lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        lines
    }
}

/// One SKU's numbers at one store after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StockLevel {
    /// Store code.
    pub store: String,
    pub store_id: String,
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    /// `on_hand - reserved`.
    pub available: i64,
    pub low_threshold: i64,
}

/// `inventory.updated` v1: the numbers changed (the replicas of cart, catalogue and
/// delivery follow it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct StockUpdated(pub StockLevel);

impl Event for StockUpdated {
    const TYPE: &'static str = catalog::INVENTORY_UPDATED;
}

/// `inventory.low_stock` v1: available fell to the threshold or below (once until it
/// rises above it again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct LowStock(pub StockLevel);

impl Event for LowStock {
    const TYPE: &'static str = catalog::INVENTORY_LOW_STOCK;
}

/// `inventory.out_of_stock` v1: nothing available any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct OutOfStock(pub StockLevel);

impl Event for OutOfStock {
    const TYPE: &'static str = catalog::INVENTORY_OUT_OF_STOCK;
}

/// `inventory.back_in_stock` v1: available again after running out; the shoppers who
/// asked to be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackInStock {
    #[serde(flatten)]
    pub level: StockLevel,
    /// User ids watching this SKU at this store (each told once).
    pub notify_users: Vec<String>,
}

impl Event for BackInStock {
    const TYPE: &'static str = catalog::INVENTORY_BACK_IN_STOCK;
}

/// `inventory.reserved` v1: an order's stock is held until `expires_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StockReserved {
    pub order_id: String,
    pub store: String,
    pub store_id: String,
    pub lines: Vec<Line>,
    /// RFC 3339 UTC.
    pub expires_at: String,
}

impl StockReserved {
    /// What both reservation paths (direct and batched) publish for a held order.
    pub fn new(order_id: &str, w: &Warehouse, lines: Vec<Line>, expires_at_ms: i64) -> StockReserved {
        StockReserved {
            order_id: order_id.to_owned(),
            store: w.code.clone(),
            store_id: w.id.clone(),
            lines,
            expires_at: crate::id::ms_to_rfc3339(expires_at_ms),
        }
    }
}

impl Event for StockReserved {
    const TYPE: &'static str = catalog::INVENTORY_RESERVED;
}

/// `inventory.reservation_failed` v1: the first line that could not be held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReservationFailed {
    pub order_id: String,
    pub store: String,
    pub reason: String,
    pub sku: String,
    pub requested: i64,
    pub available: i64,
    /// The request that asked (absent when the batch writer made the attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ReservationFailed {
    /// The first line the store could not hold, with the reason both reservation paths
    /// record on the reservation too.
    pub fn short_of(order_id: &str, w: &Warehouse, line: &Line, available: i64, request_id: Option<String>) -> Self {
        ReservationFailed {
            order_id: order_id.to_owned(),
            store: w.code.clone(),
            reason: format!(
                "insufficient stock for {}: wanted {}, available {available}",
                line.sku, line.quantity
            ),
            sku: line.sku.clone(),
            requested: line.quantity,
            available,
            request_id,
        }
    }
}

impl Event for ReservationFailed {
    const TYPE: &'static str = catalog::INVENTORY_RESERVATION_FAILED;
}

/// `inventory.confirmed` v1: held stock became a sale (the order was paid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StockConfirmed {
    pub order_id: String,
    pub store: String,
    pub lines: Vec<Line>,
}

impl Event for StockConfirmed {
    const TYPE: &'static str = catalog::INVENTORY_CONFIRMED;
}

/// `inventory.released` v1: held or sold stock went back on the shelf.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StockReleased {
    pub order_id: String,
    pub store: String,
    pub lines: Vec<Line>,
    pub reason: String,
    /// The reservation's status after: `released`, `expired` or `returned`.
    pub status: String,
}

impl Event for StockReleased {
    const TYPE: &'static str = catalog::INVENTORY_RELEASED;
}
/// `inventory.store.updated` v1: a dark store was created, changed or deleted (the store
/// replicas of location and delivery follow it). Keyed by store id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoreUpdated {
    /// The store after the change (for `deleted`, as it was).
    pub store: Warehouse,
    pub change: Change,
}

impl Event for StoreUpdated {
    const TYPE: &'static str = catalog::WAREHOUSE_UPDATED;
}
/// Applies an `inventory.updated` event to a stock replica table `(store, sku, available,
/// event_ms, updated_at)`: newer facts only, so an older event arriving late changes
/// nothing. Shared by the stock replicas of the catalogue, the cart and delivery.
/// A stock level's key (store and sku) and when it was true: the newest per key is all a
/// replica keeps (see `Handler::latest_wins`). `None` for an event that does not decode,
/// which is then applied, and refused, on its own.
pub fn stock_event_key(env: &Envelope) -> Option<(String, i64)> {
    let level = env.decode::<StockUpdated>().ok()?.0;
    Some((format!("{}\u{1f}{}", level.store, level.sku), env.occurred_ms().ok()?))
}

pub async fn apply_stock_event(conn: &mut AnyConnection, table: &'static str, env: &Envelope) -> anyhow::Result<()> {
    let level = env.decode::<StockUpdated>()?.0;
    let (store, sku, available) = (&level.store, &level.sku, level.available);
    let at = env.occurred_ms()?;
    let now = now_ms();
    // Newer facts only: an older event arriving late changes nothing.
    let updated = sqlx::query(&format!(
        "UPDATE {table} SET available = ?, event_ms = ?, updated_at = ? WHERE store = ? AND sku = ? AND event_ms <= ?"
    ))
    .bind(available)
    .bind(at)
    .bind(now)
    .bind(store)
    .bind(sku)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        let exists = sqlx::query(&format!("SELECT 1 AS x FROM {table} WHERE store = ? AND sku = ?"))
            .bind(store)
            .bind(sku)
            .fetch_optional(&mut *conn)
            .await?
            .is_some();
        if !exists {
            sqlx::query(&format!(
                "INSERT INTO {table} (store, sku, available, event_ms, updated_at) VALUES (?, ?, ?, ?, ?)"
            ))
            .bind(store)
            .bind(sku)
            .bind(available)
            .bind(at)
            .bind(now)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}
