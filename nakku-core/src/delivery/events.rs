//! The delivery service's events, on `<prefix>.delivery`: a delivery's steps (keyed by order
//! id; the order follows them, and cash on delivery is settled on completion), what picking
//! changed, a store's load (keyed by store code) and a slot's bookings (keyed
//! `<store>:<slot start ms>`); and the replica of the stores' load that location and the
//! catalogue keep ([`LoadReplica`], [`store_load`]).

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};
use utoipa::ToSchema;

use crate::db::text;
use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{catalog, Envelope, Event};

/// The promise and how long each leg took, in minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Promise {
    pub promised_minutes: Option<i64>,
    #[schema(format = DateTime)]
    pub promised_by: Option<String>,
    pub actual_minutes: Option<f64>,
    pub breached: Option<bool>,
    pub legs: Legs,
}

/// Confirmed → assigned → picked up → out for delivery → delivered, in minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Legs {
    pub assign: Option<f64>,
    pub pickup: Option<f64>,
    pub depart: Option<f64>,
    pub ride: Option<f64>,
}

/// The delivery a step event is about, as it stands after the step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryState {
    pub order_id: String,
    pub user_id: String,
    pub store: String,
    pub partner_id: Option<String>,
    /// `cod` for cash on delivery, else how it was paid.
    pub payment_kind: String,
    /// What the shopper owes at the door for cash on delivery (after refunds), else the
    /// order's total.
    pub total_paise: i64,
    /// The delivery's status after the step.
    pub status: String,
}

/// `delivery.scheduled` v1: a rider was assigned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryScheduled {
    #[serde(flatten)]
    pub delivery: DeliveryState,
    /// The rider's estimated ride to the store.
    pub partner_to_store_minutes: i64,
}

impl Event for DeliveryScheduled {
    const TYPE: &'static str = catalog::DELIVERY_SCHEDULED;
}

/// `delivery.started` v1: the rider left the store with the goods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct DeliveryStarted(pub DeliveryState);

impl Event for DeliveryStarted {
    const TYPE: &'static str = catalog::DELIVERY_STARTED;
}

/// `delivery.completed` v1: handed over (the shopper's code matched), with the promise and
/// how long each leg took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryCompleted {
    #[serde(flatten)]
    pub delivery: DeliveryState,
    #[serde(flatten)]
    pub promise: Promise,
}

impl Event for DeliveryCompleted {
    const TYPE: &'static str = catalog::DELIVERY_COMPLETED;
}

/// `delivery.failed` v1: the goods could not be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryFailed {
    #[serde(flatten)]
    pub delivery: DeliveryState,
    pub reason: Option<String>,
}

impl Event for DeliveryFailed {
    const TYPE: &'static str = catalog::DELIVERY_FAILED;
}

/// What a picker put in the bag instead of a missing item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PickedSubstitute {
    pub sku: String,
    pub name: Option<String>,
    pub quantity: Option<i64>,
    pub unit_price_paise: Option<i64>,
}

/// One ordered line picking could not fill as ordered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PickChange {
    pub sku: String,
    /// Units not found.
    pub missing: i64,
    pub unit_price_paise: i64,
    /// Refunded for this line (missing units, less any substitute's price).
    pub refund_paise: i64,
    pub substitute: Option<PickedSubstitute>,
}

/// `delivery.packed` v1: the order is picked and bagged; `changes` lists what differs from
/// the order (the order service applies them to its lines, stock and payment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPacked {
    pub order_id: String,
    pub store: String,
    pub user_id: String,
    pub payment_kind: String,
    pub picker_id: Option<String>,
    pub changes: Vec<PickChange>,
    /// The sum of the changes' refunds.
    pub refund_paise: i64,
    /// From the start of picking to packed, to a tenth of a minute.
    pub pick_minutes: Option<f64>,
}

impl Event for DeliveryPacked {
    const TYPE: &'static str = catalog::DELIVERY_PACKED;
}

/// `delivery.store.load` v1: a store's load changed status or extra minutes (`open`, `busy`
/// with extra minutes on its promises, or `paused`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoreLoadChanged {
    pub store: String,
    pub status: String,
    pub extra_minutes: i64,
    /// Orders in the window, and what the riders on shift can take in one.
    pub orders_window: i64,
    pub capacity: i64,
    pub window_minutes: i64,
}

impl Event for StoreLoadChanged {
    const TYPE: &'static str = catalog::DELIVERY_STORE_LOAD;
}

/// `delivery.slot.updated` v1: a scheduled-delivery slot's bookings or capacity changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlotUpdated {
    pub store: String,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub start: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub end: i64,
    pub capacity: i64,
    pub booked: i64,
}

impl Event for SlotUpdated {
    const TYPE: &'static str = catalog::DELIVERY_SLOT_UPDATED;
}

/// A store's load as a replica keeps it: `(status, extra_minutes)`; open when unknown.
pub async fn store_load(conn: &mut AnyConnection, store: &str) -> Result<(String, i64), sqlx::Error> {
    Ok(
        match sqlx::query("SELECT status, extra_minutes FROM store_load WHERE store = ?")
            .bind(store)
            .fetch_optional(conn)
            .await?
        {
            Some(r) => (text(&r, "status")?, r.try_get("extra_minutes")?),
            None => ("open".to_owned(), 0),
        },
    )
}

/// What shoppers are told about a store's load (`None` when it is open).
pub fn load_message(store_name: &str, status: &str, extra_minutes: i64) -> Option<String> {
    match status {
        "busy" => Some(format!(
            "{store_name} is very busy: deliveries take about {extra_minutes} minutes longer than usual"
        )),
        "paused" => Some(format!(
            "{store_name} is not taking new orders for a few minutes: every picker and rider is busy; try again shortly"
        )),
        _ => None,
    }
}

/// `<svc>.load`: a replica of the stores' load (`delivery.store.load`), for the location
/// service's serviceability and the catalogue. The newest report wins.
pub struct LoadReplica(pub &'static str);

impl Handler for LoadReplica {
    fn name(&self) -> &'static str {
        self.0
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[(StoreLoadChanged::TYPE, StoreLoadChanged::VERSION)]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let l: StoreLoadChanged = env.decode()?;
            let (store, status, extra) = (l.store.as_str(), l.status.as_str(), l.extra_minutes);
            let at = env.occurred_ms()?;
            let r = sqlx::query(
                "UPDATE store_load SET status = ?, extra_minutes = ?, seen_ms = ? WHERE store = ? AND seen_ms <= ?",
            )
            .bind(status)
            .bind(extra)
            .bind(at)
            .bind(store)
            .bind(at)
            .execute(&mut *conn)
            .await?;
            if r.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO store_load (store, status, extra_minutes, seen_ms) SELECT ?, ?, ?, ? \
                     WHERE NOT EXISTS (SELECT 1 FROM store_load WHERE store = ?)",
                )
                .bind(store)
                .bind(status)
                .bind(extra)
                .bind(at)
                .bind(store)
                .execute(conn)
                .await?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM store_load").execute(conn).await?;
            Ok(())
        })
    }
}
