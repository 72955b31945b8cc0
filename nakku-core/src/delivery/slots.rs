//! Delivery time slots: besides express (as soon as possible), a shopper may choose a slot
//! of the store's day (`slot_minutes` long, within its opening hours, India time, at least
//! `slot_lead_minutes` ahead, today and the next days). Each slot holds a capacity of
//! orders per store (the store's setting, else the configured default); a full slot is not
//! offered. The order service books the slot while placing the order ([`crate::ports::SlotPort`],
//! idempotent by order id); a cancelled or failed order gives it back, and so does a booking
//! whose order never arrived (a placement that died between booking and saving).
//!
//! Every change of a slot's bookings or capacity emits `delivery.slot.updated` with the
//! slot's figures, which analytics turns into slot utilisation.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, Row};

use super::events::SlotUpdated;
use super::partners::DeliveryService;
use crate::db::text;
use crate::error::CoreError;
use crate::events::bus::BoxFut;
use crate::events::{outbox, Envelope};
use crate::id::{ms_to_rfc3339, now_ms, parse_rfc3339_ms};
use crate::ports::{SlotBooking, SlotPort};
use crate::rules::parse_hhmm;
use crate::service::Service;
use crate::RequestCtx;

const DAY_MS: i64 = 86_400_000;
const IST_MS: i64 = 330 * 60_000;

/// A booking whose order has not arrived this long after it was made is given back.
pub const ORPHAN_AFTER_MS: i64 = 10 * 60_000;

/// How a store's slots are cut.
#[derive(Debug, Clone, Copy)]
pub struct SlotRules {
    pub slot_minutes: i64,
    pub days: i64,
    pub lead_minutes: i64,
}

/// The slots (start, end in ms) a store open `opens..closes` (minutes after midnight, India
/// time; equal = round the clock; closing before opening = past midnight) offers at `now`.
pub fn offered(opens: i64, closes: i64, now: i64, rules: SlotRules) -> Vec<(i64, i64)> {
    let midnight = (now + IST_MS).div_euclid(DAY_MS) * DAY_MS - IST_MS;
    let (o, c) = match opens.cmp(&closes) {
        std::cmp::Ordering::Equal => (0, 24 * 60),
        std::cmp::Ordering::Greater => (opens, closes + 24 * 60),
        std::cmp::Ordering::Less => (opens, closes),
    };
    let len = rules.slot_minutes.max(1);
    let earliest = now + rules.lead_minutes * 60_000;
    let horizon = midnight + rules.days.max(1) * DAY_MS;
    let mut out = Vec::new();
    // From yesterday: a store open past midnight still serves yesterday's evening.
    for d in -1..rules.days.max(1) {
        let base = midnight + d * DAY_MS;
        let mut t = o;
        while t + len <= c {
            let start = base + t * 60_000;
            if start >= earliest && start < horizon {
                out.push((start, start + len * 60_000));
            }
            t += len;
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct SlotQuery {
    #[param(value_type = String, min_length = 2, max_length = 32, pattern = "^[A-Za-z0-9-]+$", required = true)]
    pub store: Option<String>,
    /// Admins: list full slots too.
    pub all: Option<bool>,
}

fn capacity_schema() -> utoipa::openapi::schema::Object {
    crate::rules::whole::<0, MAX_SLOT_CAPACITY>()
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CapacityInput {
    #[schema(schema_with = capacity_schema, required = true)]
    pub capacity: Option<i64>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct BookInput {
    #[schema(schema_with = crate::rules::id, required = true)]
    pub order_id: Option<String>,
    #[schema(schema_with = crate::rules::store_code, required = true)]
    pub store: Option<String>,
    /// The slot's start, RFC 3339.
    #[schema(schema_with = crate::rules::time, required = true)]
    pub start: Option<String>,
}

/// Largest capacity a store may set per slot.
pub const MAX_SLOT_CAPACITY: i64 = 10_000;

/// A store's slots with room, soonest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotList {
    pub store: String,
    pub slot_minutes: i64,
    pub items: Vec<SlotView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotView {
    #[schema(format = DateTime)]
    pub start: String,
    #[schema(format = DateTime)]
    pub end: String,
    pub capacity: i64,
    pub booked: i64,
    pub remaining: i64,
}

/// A store's capacity per slot, as set.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SlotCapacity {
    pub store: String,
    pub capacity: i64,
}

/// An order's slot after a release: its booking (now `released`), or `status: none` when
/// it never had one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Released {
    Booking(SlotBooking),
    NoBooking { order_id: String, status: String },
}

impl DeliveryService {
    fn rules(&self) -> SlotRules {
        SlotRules {
            slot_minutes: self.cfg().slot_minutes,
            days: self.cfg().slot_days,
            lead_minutes: self.cfg().slot_lead_minutes,
        }
    }

    /// The store's opening hours (minutes), from the stores replica; 404 for a store it
    /// does not know.
    async fn hours(&self, conn: &mut AnyConnection, store: &str) -> Result<(i64, i64), CoreError> {
        let r = sqlx::query("SELECT opens_at, closes_at, active FROM stores WHERE code = ? AND deleted_at IS NULL")
            .bind(store)
            .fetch_optional(&mut *conn)
            .await?
            .filter(|r| r.try_get::<i64, _>("active").is_ok_and(|a| a != 0))
            .ok_or_else(|| CoreError::NotFound("store".into()))?;
        match (parse_hhmm(&text(&r, "opens_at")?), parse_hhmm(&text(&r, "closes_at")?)) {
            (Ok(o), Ok(c)) => Ok((o, c)),
            _ => Err(CoreError::Internal(anyhow::anyhow!(
                "store {store} has unreadable opening hours"
            ))),
        }
    }

    async fn store_capacity(&self, conn: &mut AnyConnection, store: &str) -> Result<i64, CoreError> {
        Ok(sqlx::query("SELECT capacity FROM slot_settings WHERE store = ?")
            .bind(store)
            .fetch_optional(conn)
            .await?
            .map(|r| r.try_get::<i64, _>("capacity"))
            .transpose()?
            .unwrap_or(self.cfg().slot_capacity))
    }

    /// `GET /deliveries/slots?store=`: the store's slots with room, soonest first (admins
    /// may ask for full ones too with `all=true`).
    pub async fn slots(&self, admin: bool, q: SlotQuery) -> Result<SlotList, CoreError> {
        let store = q
            .store
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                CoreError::validation("store", "is required (the store code from serviceability or the cart)")
            })?;
        let mut conn = self.db().pool().acquire().await?;
        let (opens, closes) = self.hours(&mut conn, &store).await?;
        let default = self.store_capacity(&mut conn, &store).await?;
        let all = offered(opens, closes, now_ms(), self.rules());
        let (Some(first), Some(last)) = (all.first(), all.last()) else {
            return Ok(SlotList {
                store,
                slot_minutes: self.cfg().slot_minutes,
                items: Vec::new(),
            });
        };
        let rows = sqlx::query(
            "SELECT slot_start, capacity, booked FROM slots WHERE store = ? AND slot_start >= ? AND slot_start <= ?",
        )
        .bind(&store)
        .bind(first.0)
        .bind(last.0)
        .fetch_all(&mut *conn)
        .await?;
        let mut known = std::collections::HashMap::new();
        for r in &rows {
            known.insert(
                r.try_get::<i64, _>("slot_start")?,
                (r.try_get::<i64, _>("capacity")?, r.try_get::<i64, _>("booked")?),
            );
        }
        let show_full = admin && q.all.unwrap_or(false);
        let items: Vec<SlotView> = all
            .iter()
            .filter_map(|(s, e)| {
                let (capacity, booked) = known.get(s).copied().unwrap_or((default, 0));
                let remaining = (capacity - booked).max(0);
                (remaining > 0 || show_full).then(|| SlotView {
                    start: ms_to_rfc3339(*s),
                    end: ms_to_rfc3339(*e),
                    capacity,
                    booked,
                    remaining,
                })
            })
            .collect();
        Ok(SlotList {
            store,
            slot_minutes: self.cfg().slot_minutes,
            items,
        })
    }

    /// `PUT /deliveries/stores/{store}/slots`: the store's capacity per slot, for slots not
    /// started yet (those booked beyond it keep their orders; they are simply full).
    pub async fn set_capacity(&self, store: &str, input: CapacityInput) -> Result<SlotCapacity, CoreError> {
        let capacity = input
            .capacity
            .ok_or_else(|| CoreError::validation("capacity", "is required"))?;
        if !(0..=MAX_SLOT_CAPACITY).contains(&capacity) {
            return Err(CoreError::validation(
                "capacity",
                format!("must be a whole number from 0 (no slots) to {MAX_SLOT_CAPACITY}"),
            ));
        }
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        self.hours(&mut tx, store).await?;
        let r = sqlx::query("UPDATE slot_settings SET capacity = ?, updated_at = ? WHERE store = ?")
            .bind(capacity)
            .bind(now)
            .bind(store)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            sqlx::query("INSERT INTO slot_settings (store, capacity, created_at, updated_at) VALUES (?, ?, ?, ?)")
                .bind(store)
                .bind(capacity)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        let changed = sqlx::query("SELECT slot_start FROM slots WHERE store = ? AND slot_start > ? AND capacity <> ?")
            .bind(store)
            .bind(now)
            .bind(capacity)
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("UPDATE slots SET capacity = ?, updated_at = ? WHERE store = ? AND slot_start > ?")
            .bind(capacity)
            .bind(now)
            .bind(store)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        for r in &changed {
            slot_updated(&mut tx, store, r.try_get("slot_start")?).await?;
        }
        tx.commit().await?;
        Ok(SlotCapacity {
            store: store.to_owned(),
            capacity,
        })
    }

    /// Books the slot starting at `start_ms` for an order. Asking again for the same order
    /// and slot returns the booking; another slot for a booked order, or a full, past or
    /// unknown slot, is refused.
    pub async fn book(&self, order_id: &str, store: &str, start_ms: i64) -> Result<SlotBooking, CoreError> {
        if !crate::id::is_id(order_id) {
            return Err(CoreError::validation("order_id", "must be an order id"));
        }
        let mut conn = self.db().pool().acquire().await?;
        if let Some(b) = self.booking(&mut conn, order_id).await? {
            return same_booking(b, store, start_ms);
        }
        let (opens, closes) = self.hours(&mut conn, store).await?;
        let Some((start, end)) = offered(opens, closes, now_ms(), self.rules())
            .into_iter()
            .find(|(s, _)| *s == start_ms)
        else {
            return Err(CoreError::validation(
                "slot",
                format!(
                    "{} is not a delivery slot {store} offers now; choose one from GET /api/v1/deliveries/slots?store={store}",
                    ms_to_rfc3339(start_ms)
                ),
            ));
        };
        let capacity = self.store_capacity(&mut conn, store).await?;
        drop(conn);
        let now = now_ms();
        let mut tx = self.db().begin().await?;
        let created = sqlx::query(
            "INSERT INTO slots (store, slot_start, slot_end, capacity, booked, created_at, updated_at) \
             SELECT ?, ?, ?, ?, 0, ?, ? WHERE NOT EXISTS (SELECT 1 FROM slots WHERE store = ? AND slot_start = ?)",
        )
        .bind(store)
        .bind(start)
        .bind(end)
        .bind(capacity)
        .bind(now)
        .bind(now)
        .bind(store)
        .bind(start)
        .execute(&mut *tx)
        .await;
        match created {
            // Two first bookings of one slot at once: the other made the row.
            Err(e) if crate::error::is_unique_violation(&e) => {}
            other => {
                other?;
            }
        }
        let took = sqlx::query(
            "UPDATE slots SET booked = booked + 1, updated_at = ? WHERE store = ? AND slot_start = ? AND booked < capacity",
        )
        .bind(now)
        .bind(store)
        .bind(start)
        .execute(&mut *tx)
        .await?;
        if took.rows_affected() != 1 {
            return Err(CoreError::conflict(
                "slot",
                format!(
                    "the {} slot at {store} is full; choose another (GET /api/v1/deliveries/slots?store={store})",
                    ms_to_rfc3339(start)
                ),
            ));
        }
        let inserted = sqlx::query(
            "INSERT INTO slot_bookings (order_id, store, slot_start, slot_end, status, created_at, updated_at) VALUES (?, ?, ?, ?, 'booked', ?, ?)",
        )
        .bind(order_id)
        .bind(store)
        .bind(start)
        .bind(end)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                // The same order booked at the same moment elsewhere: that answer stands.
                let mut conn = self.db().pool().acquire().await?;
                let b = self
                    .booking(&mut conn, order_id)
                    .await?
                    .ok_or_else(|| CoreError::Internal(anyhow::anyhow!("booking clash without a booking")))?;
                return same_booking(b, store, start_ms);
            }
            other => {
                other?;
            }
        }
        slot_updated(&mut tx, store, start).await?;
        tx.commit().await?;
        metrics::counter!("nakku_slot_bookings_total").increment(1);
        Ok(SlotBooking {
            order_id: order_id.to_owned(),
            store: store.to_owned(),
            start_ms: start,
            end_ms: end,
            status: "booked".into(),
        })
    }

    async fn booking(&self, conn: &mut AnyConnection, order_id: &str) -> Result<Option<SlotBooking>, CoreError> {
        let r =
            sqlx::query("SELECT order_id, store, slot_start, slot_end, status FROM slot_bookings WHERE order_id = ?")
                .bind(order_id)
                .fetch_optional(conn)
                .await?;
        Ok(r.map(|r| -> Result<SlotBooking, sqlx::Error> {
            Ok(SlotBooking {
                order_id: text(&r, "order_id")?,
                store: text(&r, "store")?,
                start_ms: r.try_get("slot_start")?,
                end_ms: r.try_get("slot_end")?,
                status: text(&r, "status")?,
            })
        })
        .transpose()?)
    }

    /// `POST /deliveries/slots/bookings`, for the order service.
    pub async fn book_input(&self, input: BookInput) -> Result<SlotBooking, CoreError> {
        let mut v = crate::error::Validator::new();
        let order_id = v.required("order_id", input.order_id);
        let store = v.required("store", input.store);
        let start = v.required("start", input.start).and_then(|s| {
            v.check(
                "start",
                parse_rfc3339_ms(&s).ok_or_else(|| "must be an RFC 3339 time".to_owned()),
            )
        });
        v.finish()?;
        let (Some(order_id), Some(store), Some(start)) = (order_id, store, start) else {
            return Err(CoreError::validation("order_id", "is required"));
        };
        self.book(&order_id, &store, start).await
    }

    /// Gives an order's slot back (a cancelled or failed order); harmless when there is none.
    pub async fn release_slot(&self, order_id: &str) -> Result<Released, CoreError> {
        if !crate::id::is_id(order_id) {
            return Err(CoreError::NotFound("slot booking".into()));
        }
        let mut tx = self.db().begin().await?;
        release(&mut tx, order_id).await?;
        tx.commit().await?;
        let mut conn = self.db().pool().acquire().await?;
        Ok(match self.booking(&mut conn, order_id).await? {
            Some(b) => Released::Booking(b),
            None => Released::NoBooking {
                order_id: order_id.to_owned(),
                status: "none".to_owned(),
            },
        })
    }

    /// Gives back bookings whose order never arrived (see [`ORPHAN_AFTER_MS`]).
    pub async fn release_orphans(&self) -> Result<usize, CoreError> {
        let ids: Vec<String> = sqlx::query(
            "SELECT b.order_id AS order_id FROM slot_bookings b WHERE b.status = 'booked' AND b.created_at < ? \
             AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = b.order_id) LIMIT 100",
        )
        .bind(now_ms() - ORPHAN_AFTER_MS)
        .fetch_all(self.db().pool())
        .await?
        .iter()
        .map(|r| text(r, "order_id"))
        .collect::<Result<_, _>>()?;
        for id in &ids {
            tracing::warn!(order_id = %id, "slot booking without an order; giving it back");
            self.release_slot(id).await?;
        }
        Ok(ids.len())
    }
}

fn same_booking(b: SlotBooking, store: &str, start_ms: i64) -> Result<SlotBooking, CoreError> {
    if b.status != "booked" {
        return Err(CoreError::conflict(
            "order_id",
            "this order's slot was given back; place a new order",
        ));
    }
    if b.store != store || b.start_ms != start_ms {
        return Err(CoreError::conflict(
            "slot",
            format!(
                "this order already holds the {} slot at {}",
                ms_to_rfc3339(b.start_ms),
                b.store
            ),
        ));
    }
    Ok(b)
}

/// Gives an order's slot back in the caller's transaction; false when it held none.
pub(super) async fn release(conn: &mut AnyConnection, order_id: &str) -> Result<bool, sqlx::Error> {
    let Some(r) = sqlx::query("SELECT store, slot_start FROM slot_bookings WHERE order_id = ? AND status = 'booked'")
        .bind(order_id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(false);
    };
    let (store, start): (String, i64) = (text(&r, "store")?, r.try_get("slot_start")?);
    let now = now_ms();
    let done = sqlx::query(
        "UPDATE slot_bookings SET status = 'released', updated_at = ? WHERE order_id = ? AND status = 'booked'",
    )
    .bind(now)
    .bind(order_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() != 1 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE slots SET booked = booked - 1, updated_at = ? WHERE store = ? AND slot_start = ? AND booked > 0",
    )
    .bind(now)
    .bind(&store)
    .bind(start)
    .execute(&mut *conn)
    .await?;
    slot_updated(conn, &store, start).await?;
    Ok(true)
}

/// `delivery.slot.updated` with the slot's current figures.
async fn slot_updated(conn: &mut AnyConnection, store: &str, start: i64) -> Result<(), sqlx::Error> {
    let Some(r) = sqlx::query("SELECT slot_end, capacity, booked FROM slots WHERE store = ? AND slot_start = ?")
        .bind(store)
        .bind(start)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(());
    };
    let key = format!("{store}:{start}");
    let slot = SlotUpdated {
        store: store.to_owned(),
        start,
        end: r.try_get("slot_end")?,
        capacity: r.try_get("capacity")?,
        booked: r.try_get("booked")?,
    };
    outbox::append(conn, &Envelope::of(Service::Delivery, &key, &key, &slot)).await
}

/// Slot bookings for the order service, in this process.
impl SlotPort for DeliveryService {
    fn book<'a>(
        &'a self,
        _ctx: &'a RequestCtx,
        order_id: &'a str,
        store: &'a str,
        start_ms: i64,
    ) -> BoxFut<'a, Result<SlotBooking, CoreError>> {
        crate::trace::as_service("delivery", async move {
            DeliveryService::book(self, order_id, store, start_ms).await
        })
    }

    fn release<'a>(&'a self, _ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<(), CoreError>> {
        crate::trace::as_service("delivery", async move {
            self.release_slot(order_id).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: SlotRules = SlotRules {
        slot_minutes: 60,
        days: 2,
        lead_minutes: 60,
    };

    /// `h:m` India time on 2026-11-26 plus `day` days, in ms.
    fn ist(day: i64, h: i64, m: i64) -> i64 {
        // 2026-11-26 00:00 IST = 2026-11-25 18:30 UTC.
        let base = chrono::DateTime::parse_from_rfc3339("2026-11-25T18:30:00Z")
            .map(|t| t.timestamp_millis())
            .unwrap_or_default();
        base + day * DAY_MS + (h * 60 + m) * 60_000
    }

    #[test]
    fn slots_fall_within_opening_hours_after_the_lead_time() {
        let s = offered(7 * 60, 22 * 60, ist(0, 10, 15), RULES);
        // Today from 12:00 (11:00 starts within the hour's lead) to 21:00, then 07:00-21:00.
        assert_eq!(s.first().copied(), Some((ist(0, 12, 0), ist(0, 13, 0))));
        assert_eq!(s.iter().filter(|(a, _)| *a < ist(1, 0, 0)).count(), 10);
        assert_eq!(s.iter().filter(|(a, _)| *a >= ist(1, 0, 0)).count(), 15);
        assert_eq!(s.last().copied(), Some((ist(1, 21, 0), ist(1, 22, 0))));
        assert!(s.windows(2).all(|w| w[0].1 <= w[1].0), "no overlap, in order");
    }

    #[test]
    fn a_store_open_past_midnight_offers_its_night_slots() {
        // Open 18:00-02:00: at 23:50 the next slot is 01:00-02:00, after midnight.
        let s = offered(18 * 60, 2 * 60, ist(0, 23, 50), RULES);
        assert_eq!(s.first().copied(), Some((ist(1, 1, 0), ist(1, 2, 0))));
        // Round the clock: 24 a day less those within the lead.
        let all = offered(0, 0, ist(0, 0, 0), RULES);
        assert_eq!(all.len(), 48 - 1);
    }
}
