//! What one service asks of another, as traits. In embedded mode the other service runs in
//! the same process and implements the trait itself (see the `impl`s below); when it runs
//! elsewhere, nakku-server's `clients` module implements the same trait over its HTTP API.
//! Every call a saga makes through these is idempotent, so a timeout can always be retried.

use serde::{Deserialize, Serialize};

use crate::events::bus::BoxFut;
use crate::inventory::{Line, ReserveInput};
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

impl StockPort for crate::inventory::InventoryService {
    fn reserve<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        store: &'a str,
        lines: Vec<Line>,
    ) -> BoxFut<'a, Result<ReservationView, CoreError>> {
        Box::pin(async move {
            let input = ReserveInput {
                order_id: Some(order_id.to_owned()),
                store: Some(store.to_owned()),
                lines: Some(lines),
                ttl_secs: None,
            };
            let r = crate::inventory::InventoryService::reserve(self, ctx, input).await?;
            Ok(ReservationView {
                status: r.status,
                reason: r.reason,
            })
        })
    }

    fn confirm<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<ReservationView, CoreError>> {
        Box::pin(async move {
            let r = crate::inventory::InventoryService::confirm(self, ctx, order_id).await?;
            Ok(ReservationView {
                status: r.status,
                reason: r.reason,
            })
        })
    }

    fn release<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        reason: &'a str,
    ) -> BoxFut<'a, Result<ReservationView, CoreError>> {
        Box::pin(async move {
            let r = self.release_or_block(ctx, order_id, reason).await?;
            Ok(ReservationView {
                status: r.status,
                reason: r.reason,
            })
        })
    }

    fn return_line<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        sku: &'a str,
    ) -> BoxFut<'a, Result<(), CoreError>> {
        Box::pin(async move { crate::inventory::InventoryService::return_line(self, ctx, order_id, sku).await })
    }

    fn picked<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        short: Vec<Line>,
        add: Vec<Line>,
    ) -> BoxFut<'a, Result<(), CoreError>> {
        Box::pin(async move { crate::inventory::InventoryService::picked(self, ctx, order_id, &short, &add).await })
    }
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

impl AddressPort for crate::user::UserService {
    fn address<'a>(
        &'a self,
        _ctx: &'a RequestCtx,
        user_id: &'a str,
        address_id: &'a str,
    ) -> BoxFut<'a, Result<AddressSnapshot, CoreError>> {
        Box::pin(async move {
            let a = self.get_address(user_id, address_id).await?;
            Ok(AddressSnapshot {
                id: a.id,
                label: a.label,
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                pincode: a.pincode,
                lat: a.lat,
                lng: a.lng,
            })
        })
    }
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

impl Serving {
    /// Reads the `data` of `GET /locations/serviceability` (in-process or over HTTP).
    pub fn from_json(v: &serde_json::Value) -> Self {
        match serde_json::from_value::<crate::location::service::Serviceability>(v.clone()) {
            Ok(s) => Self::from(s),
            Err(_) => Serving {
                serviceable: false,
                store: None,
                road_distance_km: 0.0,
                eta_minutes: 0,
                message: None,
            },
        }
    }
}

impl From<crate::location::service::Serviceability> for Serving {
    fn from(s: crate::location::service::Serviceability) -> Self {
        Serving {
            serviceable: s.serviceable,
            store: s.store.map(|st| st.code),
            road_distance_km: s.road_distance_km.unwrap_or(0.0),
            eta_minutes: s.eta_minutes.unwrap_or(0),
            message: s.message,
        }
    }
}

/// Serviceability of a point (the location service).
pub trait PlacePort: Send + Sync {
    fn serving<'a>(&'a self, ctx: &'a RequestCtx, lat: f64, lng: f64) -> BoxFut<'a, Result<Serving, CoreError>>;
}

impl PlacePort for crate::location::LocationService {
    fn serving<'a>(&'a self, _ctx: &'a RequestCtx, lat: f64, lng: f64) -> BoxFut<'a, Result<Serving, CoreError>> {
        Box::pin(async move { Ok(Serving::from(self.serviceability(lat, lng).await?)) })
    }
}

/// An order's delivery slot as the delivery service booked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotBooking {
    pub order_id: String,
    pub store: String,
    #[serde(rename = "start", with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub start_ms: i64,
    #[serde(rename = "end", with = "rfc3339_ms")]
    #[schema(value_type = String, format = DateTime)]
    pub end_ms: i64,
    /// `booked` or `released`.
    pub status: String,
}

/// Millisecond times as RFC 3339 on the wire.
mod rfc3339_ms {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::id::ms_to_rfc3339(*ms))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let raw = String::deserialize(d)?;
        crate::id::parse_rfc3339_ms(&raw).ok_or_else(|| serde::de::Error::custom("not an RFC 3339 time"))
    }
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

impl SlotPort for crate::delivery::DeliveryService {
    fn book<'a>(
        &'a self,
        _ctx: &'a RequestCtx,
        order_id: &'a str,
        store: &'a str,
        start_ms: i64,
    ) -> BoxFut<'a, Result<SlotBooking, CoreError>> {
        Box::pin(async move { crate::delivery::DeliveryService::book(self, order_id, store, start_ms).await })
    }

    fn release<'a>(&'a self, _ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<(), CoreError>> {
        Box::pin(async move {
            self.release_slot(order_id).await?;
            Ok(())
        })
    }
}
