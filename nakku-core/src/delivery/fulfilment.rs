//! Dark-store fulfilment: what happens between "confirmed" and "handed to a rider".
//!
//! - **Pickers** are store staff: any account an admin registers at a store. On shift they
//!   are given the oldest waiting order of their store, one at a time (the pick timer starts).
//! - **Pick list**: the order's lines sorted by bin (`PUT /deliveries/stores/{store}/bins`;
//!   codes like `A-03-2` sort in walking order; lines without a bin come last).
//! - **Missing items** follow the shopper's substitution preference: `substitute` takes the
//!   picker's choice or the suggested one (same category, in stock at the store, the same or
//!   a lower price, same brand first, then the nearest price), `refund` refunds the missing
//!   units, `call` takes the substitute the picker agreed with the shopper, else refunds.
//!   The price difference of a substitute is refunded too.
//! - **Packing** (every line decided) emits `delivery.packed` with the changes; the order
//!   service records them, and its saga refunds the amount and corrects the stock.
//! - A rider cannot pick up an order of a store that has pickers until it is packed.
//! - **Capacity**: each store's orders over the last five minutes against what its staff on
//!   shift can handle (pickers × `picks_per_picker`, riders × `orders_per_rider`, the
//!   smaller): past it the promise stretches (`busy`), past half as much again the store
//!   takes no new orders (`paused`) until the load falls. A store with nobody on shift is
//!   not capped (its orders wait for the first shift). Changes are published as
//!   `delivery.store.load`; the location service's serviceability, the cart's checkout and
//!   the catalogue show them.

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::deliveries::{minutes_between, ms};
use super::events::{DeliveryPacked, PickChange, PickedSubstitute};
use super::partners::DeliveryService;
use crate::db::{opt_text, text};
use crate::error::{CoreError, Validator};
use crate::events::{outbox, Envelope};
use crate::id::now_ms;
use crate::service::Service;
#[path = "pickers.rs"]
mod pickers;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PickerInput {
    #[schema(schema_with = crate::rules::store_code, required = true)]
    pub store: Option<String>,
    #[schema(schema_with = crate::rules::text::<100>, required = true)]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct BinsInput {
    /// sku → bin code: 1 to 5000 skus, each bin 1-32 letters, digits, '-' or '.'.
    #[schema(schema_with = pickers::bins_schema, required = true)]
    pub bins: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LineInput {
    /// Units found on the shelf (0 to the line's quantity).
    #[schema(minimum = 0, required = true)]
    pub picked: Option<i64>,
    /// The substitute put in the bag for the missing units.
    #[schema(schema_with = crate::rules::sku)]
    pub substitute_sku: Option<String>,
}

const PICK_COLS: &str = "order_id, store, status, substitution, picker_id, refund_paise, pick_after, queued_at, started_at, picked_at, packed_at";

/// A picker as they and admins see them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Picker {
    pub user_id: String,
    pub store: String,
    pub name: String,
    pub on_shift: bool,
    #[schema(format = DateTime)]
    pub shift_started_at: Option<String>,
}

/// How many bins a store's map now has.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BinsSet {
    pub store: String,
    pub bins: usize,
}

/// An order's pick list in bin order, with its timers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PickList {
    pub order_id: String,
    pub store: String,
    /// `awaiting` (not confirmed yet), `queued`, `picking` or `packed`.
    pub status: String,
    /// The shopper's choice for missing items: `substitute`, `refund` or `call`.
    pub substitution: String,
    pub picker_id: Option<String>,
    pub refund_paise: i64,
    pub lines: Vec<PickLine>,
    pub times: PickTimes,
    pub timers: PickTimers,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PickLine {
    pub sku: String,
    pub name: Option<String>,
    pub bin: Option<String>,
    pub quantity: i64,
    pub unit_price_paise: i64,
    /// Units found (none until recorded).
    pub picked: Option<i64>,
    /// `pending`, `picked`, `substituted` or `short` (refunded).
    pub outcome: String,
    pub substitute: Option<Substitute>,
    pub refund_paise: i64,
    /// For a line not decided yet: the best substitute in stock.
    pub suggested_substitute: Option<Suggestion>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Substitute {
    pub sku: String,
    pub quantity: Option<i64>,
    pub unit_price_paise: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Suggestion {
    pub sku: String,
    pub name: String,
    pub unit_price_paise: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PickTimes {
    #[schema(format = DateTime)]
    pub queued_at: Option<String>,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub picked_at: Option<String>,
    #[schema(format = DateTime)]
    pub packed_at: Option<String>,
}

/// Minutes waiting for a picker, picking and packing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PickTimers {
    pub wait_minutes: Option<f64>,
    pub pick_minutes: Option<f64>,
    pub pack_minutes: Option<f64>,
}

impl DeliveryService {
    async fn pick_row(&self, conn: &mut AnyConnection, order_id: &str) -> Result<AnyRow, CoreError> {
        sqlx::query(&format!(
            "SELECT {PICK_COLS} FROM picks WHERE order_id = ? AND deleted_at IS NULL"
        ))
        .bind(order_id)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| CoreError::NotFound("pick list".into()))
    }

    /// Whether `user_id` may work on picks of `store`: a picker of that store, or an admin.
    async fn may_pick(
        &self,
        conn: &mut AnyConnection,
        user_id: &str,
        admin: bool,
        store: &str,
    ) -> Result<bool, CoreError> {
        if admin {
            return Ok(true);
        }
        Ok(
            sqlx::query("SELECT 1 AS x FROM pickers WHERE user_id = ? AND store = ? AND deleted_at IS NULL")
                .bind(user_id)
                .bind(store)
                .fetch_optional(conn)
                .await?
                .is_some(),
        )
    }

    /// `GET /deliveries/picks/{order_id}`: the pick list in bin order, with timers and, for
    /// lines not yet decided, the suggested substitute.
    pub async fn pick_list(&self, user_id: &str, admin: bool, order_id: &str) -> Result<PickList, CoreError> {
        let mut conn = self.db().pool().acquire().await?;
        let p = self.pick_row(&mut conn, order_id).await?;
        let store = text(&p, "store")?;
        if !self.may_pick(&mut conn, user_id, admin, &store).await? {
            return Err(CoreError::NotFound("pick list".into()));
        }
        let rows = sqlx::query(
            "SELECT l.sku AS sku, l.quantity AS quantity, l.unit_price_paise AS unit_price_paise, l.picked AS picked, l.outcome AS outcome, \
             l.substitute_sku AS substitute_sku, l.substitute_quantity AS substitute_quantity, l.substitute_price_paise AS substitute_price_paise, \
             l.refund_paise AS refund_paise, b.bin AS bin, f.name AS name \
             FROM pick_lines l LEFT JOIN bins b ON b.store = ? AND b.sku = l.sku LEFT JOIN f_products f ON f.sku = l.sku \
             WHERE l.order_id = ? ORDER BY CASE WHEN b.bin IS NULL THEN 1 ELSE 0 END, b.bin, l.sku",
        )
        .bind(&store)
        .bind(order_id)
        .fetch_all(&mut *conn)
        .await?;
        let substitution = text(&p, "substitution")?;
        let mut lines = Vec::new();
        for r in &rows {
            let sku = text(r, "sku")?;
            let outcome = text(r, "outcome")?;
            let suggestion = if outcome == "pending" && substitution != "refund" {
                self.suggest(&mut conn, &store, order_id, &sku, r.try_get("unit_price_paise")?, 1)
                    .await?
                    .map(|(s, name, price)| Suggestion {
                        sku: s,
                        name,
                        unit_price_paise: price,
                    })
            } else {
                None
            };
            let substitute = match opt_text(r, "substitute_sku")? {
                Some(s) => Some(Substitute {
                    sku: s,
                    quantity: r.try_get("substitute_quantity")?,
                    unit_price_paise: r.try_get("substitute_price_paise")?,
                }),
                None => None,
            };
            lines.push(PickLine {
                sku,
                name: opt_text(r, "name")?,
                bin: opt_text(r, "bin")?,
                quantity: r.try_get("quantity")?,
                unit_price_paise: r.try_get("unit_price_paise")?,
                picked: r.try_get("picked")?,
                outcome,
                substitute,
                refund_paise: r.try_get("refund_paise")?,
                suggested_substitute: suggestion,
            });
        }
        let t = |c: &str| p.try_get::<Option<i64>, _>(c);
        Ok(PickList {
            order_id: order_id.to_owned(),
            store,
            status: text(&p, "status")?,
            substitution,
            picker_id: opt_text(&p, "picker_id")?,
            refund_paise: p.try_get("refund_paise")?,
            lines,
            times: PickTimes {
                queued_at: ms(&p, "queued_at")?,
                started_at: ms(&p, "started_at")?,
                picked_at: ms(&p, "picked_at")?,
                packed_at: ms(&p, "packed_at")?,
            },
            timers: PickTimers {
                wait_minutes: minutes_between(t("queued_at")?, t("started_at")?),
                pick_minutes: minutes_between(t("started_at")?, t("picked_at")?),
                pack_minutes: minutes_between(t("picked_at")?, t("packed_at")?),
            },
        })
    }

    /// The caller's picks in progress.
    pub async fn my_picks(&self, user_id: &str) -> Result<super::partners::Items<PickList>, CoreError> {
        self.picker(user_id).await?;
        let ids: Vec<String> =
            sqlx::query("SELECT order_id FROM picks WHERE picker_id = ? AND status = 'picking' ORDER BY started_at")
                .bind(user_id)
                .fetch_all(self.db().pool())
                .await?
                .iter()
                .map(|r| text(r, "order_id"))
                .collect::<Result<_, _>>()?;
        let mut items = Vec::new();
        for id in ids {
            items.push(self.pick_list(user_id, false, &id).await?);
        }
        Ok(super::partners::Items { items })
    }

    /// The best substitute for `units` missing units of `sku` at `price` or less: same
    /// category, in stock at the store, not already in the order; same brand first, then
    /// the nearest price.
    async fn suggest(
        &self,
        conn: &mut AnyConnection,
        store: &str,
        order_id: &str,
        sku: &str,
        price: i64,
        units: i64,
    ) -> Result<Option<(String, String, i64)>, CoreError> {
        let Some(me) = sqlx::query("SELECT category_id, brand FROM f_products WHERE sku = ?")
            .bind(sku)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let r = sqlx::query(
            "SELECT p.sku AS sku, p.name AS name, p.price_paise AS price FROM f_products p JOIN f_stock s ON s.store = ? AND s.sku = p.sku \
             WHERE p.category_id = ? AND p.active = 1 AND p.sku <> ? AND p.price_paise <= ? AND s.available >= ? \
             AND NOT EXISTS (SELECT 1 FROM pick_lines x WHERE x.order_id = ? AND (x.sku = p.sku OR x.substitute_sku = p.sku)) \
             ORDER BY CASE WHEN p.brand = ? THEN 0 ELSE 1 END, p.price_paise DESC, p.sku LIMIT 1",
        )
        .bind(store)
        .bind(text(&me, "category_id")?)
        .bind(sku)
        .bind(price)
        .bind(units)
        .bind(order_id)
        .bind(text(&me, "brand")?)
        .fetch_optional(conn)
        .await?;
        Ok(
            r.map(|r| -> Result<_, sqlx::Error> { Ok((text(&r, "sku")?, text(&r, "name")?, r.try_get("price")?)) })
                .transpose()?,
        )
    }

    /// Records what was found for one line. All found → `picked`; some missing → a
    /// substitute by the shopper's preference (see the module), or a refund of the missing
    /// units. A line may be recorded again until the order is packed.
    pub async fn record_line(
        &self,
        user_id: &str,
        admin: bool,
        order_id: &str,
        sku: &str,
        input: LineInput,
    ) -> Result<PickList, CoreError> {
        let mut conn = self.db().pool().acquire().await?;
        let p = self.pick_row(&mut conn, order_id).await?;
        let store = text(&p, "store")?;
        if !self.may_pick(&mut conn, user_id, admin, &store).await? {
            return Err(CoreError::NotFound("pick list".into()));
        }
        let status = text(&p, "status")?;
        if status != "picking" || !(admin || opt_text(&p, "picker_id")?.as_deref() == Some(user_id)) {
            return Err(CoreError::conflict(
                "status",
                format!("this order is {status} and not being picked by you"),
            ));
        }
        let line = sqlx::query("SELECT quantity, unit_price_paise FROM pick_lines WHERE order_id = ? AND sku = ?")
            .bind(order_id)
            .bind(sku)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| CoreError::NotFound("pick line".into()))?;
        let (quantity, price): (i64, i64) = (line.try_get("quantity")?, line.try_get("unit_price_paise")?);
        let picked = input
            .picked
            .ok_or_else(|| CoreError::validation("picked", "is required: the units found"))?;
        if !(0..=quantity).contains(&picked) {
            return Err(CoreError::validation(
                "picked",
                format!("must be from 0 to the line's {quantity}"),
            ));
        }
        let missing = quantity - picked;
        let substitution = text(&p, "substitution")?;
        let chosen = input
            .substitute_sku
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let (outcome, substitute, refund) = if missing == 0 {
            if chosen.is_some() {
                return Err(CoreError::validation(
                    "substitute_sku",
                    "nothing is missing on this line",
                ));
            }
            ("picked", None, 0)
        } else if let Some(s) = chosen {
            if substitution == "refund" {
                return Err(CoreError::validation(
                    "substitute_sku",
                    "the shopper asked for a refund of missing items, not a substitute",
                ));
            }
            let sub = self.check_substitute(&mut conn, order_id, sku, &s, price).await?;
            ("substituted", Some(sub), 0)
        } else if substitution == "substitute" {
            match self.suggest(&mut conn, &store, order_id, sku, price, missing).await? {
                Some((s, name, sp)) => ("substituted", Some((s, name, sp)), 0),
                None => ("short", None, missing * price),
            }
        } else {
            ("short", None, missing * price)
        };
        let refund = match &substitute {
            Some((_, _, sp)) => missing * (price - sp),
            None => refund,
        };
        let now = now_ms();
        // The reads' connection goes back before the write takes one: holding it while
        // asking the pool for another waits for itself when the pool is that small (or
        // that busy).
        drop(conn);
        let mut tx = self.db().begin().await?;
        sqlx::query(
            "UPDATE pick_lines SET picked = ?, outcome = ?, substitute_sku = ?, substitute_quantity = ?, substitute_price_paise = ?, \
             refund_paise = ?, updated_at = ? WHERE order_id = ? AND sku = ?",
        )
        .bind(picked)
        .bind(outcome)
        .bind(substitute.as_ref().map(|s| s.0.clone()))
        .bind(substitute.as_ref().map(|_| missing))
        .bind(substitute.as_ref().map(|s| s.2))
        .bind(refund)
        .bind(now)
        .bind(order_id)
        .bind(sku)
        .execute(&mut *tx)
        .await?;
        // Every line decided: the picking is done (the pick timer stops).
        sqlx::query(
            "UPDATE picks SET picked_at = CASE WHEN EXISTS (SELECT 1 FROM pick_lines WHERE order_id = ? AND outcome = 'pending') \
             THEN NULL ELSE ? END, updated_at = ? WHERE order_id = ? AND status = 'picking'",
        )
        .bind(order_id)
        .bind(now)
        .bind(now)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.pick_list(user_id, admin, order_id).await
    }

    /// A substitute the picker chose: a known, active product of the same category at the
    /// same or a lower price, not already in the order.
    async fn check_substitute(
        &self,
        conn: &mut AnyConnection,
        order_id: &str,
        sku: &str,
        chosen: &str,
        price: i64,
    ) -> Result<(String, String, i64), CoreError> {
        let bad = |m: String| CoreError::validation("substitute_sku", m);
        let r = sqlx::query("SELECT name, category_id, price_paise, active FROM f_products WHERE sku = ?")
            .bind(chosen)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| bad(format!("no product {chosen}")))?;
        let mine: Option<String> = sqlx::query("SELECT category_id FROM f_products WHERE sku = ?")
            .bind(sku)
            .fetch_optional(&mut *conn)
            .await?
            .map(|m| text(&m, "category_id"))
            .transpose()?;
        let sp: i64 = r.try_get("price_paise")?;
        if chosen == sku || r.try_get::<i64, _>("active")? == 0 {
            return Err(bad(format!("{chosen} cannot stand in for {sku}")));
        }
        if mine.is_some_and(|c| text(&r, "category_id").is_ok_and(|x| x != c)) {
            return Err(bad(format!("{chosen} is not in the same category as {sku}")));
        }
        if sp > price {
            return Err(bad(format!(
                "{chosen} costs more than the {price} paise the shopper paid for {sku}"
            )));
        }
        let taken = sqlx::query(
            "SELECT 1 AS x FROM pick_lines WHERE order_id = ? AND sku <> ? AND (sku = ? OR substitute_sku = ?)",
        )
        .bind(order_id)
        .bind(sku)
        .bind(chosen)
        .bind(chosen)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
        if taken {
            return Err(bad(format!("{chosen} is already in this order")));
        }
        Ok((chosen.to_owned(), text(&r, "name")?, sp))
    }

    /// Packs a picked order: every line decided, else 409 naming those left. Emits
    /// `delivery.packed` with what changed; for cash on delivery the amount to collect
    /// drops by the refund.
    pub async fn pack(&self, user_id: &str, admin: bool, order_id: &str) -> Result<PickList, CoreError> {
        let mut tx = self.db().begin().await?;
        let p = self.pick_row(&mut tx, order_id).await?;
        let store = text(&p, "store")?;
        if !self.may_pick(&mut tx, user_id, admin, &store).await? {
            return Err(CoreError::NotFound("pick list".into()));
        }
        let status = text(&p, "status")?;
        if status == "packed" {
            drop(tx);
            return self.pick_list(user_id, admin, order_id).await;
        }
        if status != "picking" || !(admin || opt_text(&p, "picker_id")?.as_deref() == Some(user_id)) {
            return Err(CoreError::conflict(
                "status",
                format!("this order is {status} and not being picked by you"),
            ));
        }
        let lines = sqlx::query(
            "SELECT l.sku AS sku, l.quantity AS quantity, l.unit_price_paise AS unit_price_paise, l.picked AS picked, l.outcome AS outcome, \
             l.substitute_sku AS substitute_sku, l.substitute_quantity AS substitute_quantity, l.substitute_price_paise AS substitute_price_paise, \
             l.refund_paise AS refund_paise, f.name AS sub_name FROM pick_lines l LEFT JOIN f_products f ON f.sku = l.substitute_sku \
             WHERE l.order_id = ? ORDER BY l.sku",
        )
        .bind(order_id)
        .fetch_all(&mut *tx)
        .await?;
        let pending: Vec<String> = lines
            .iter()
            .filter(|l| text(l, "outcome").is_ok_and(|o| o == "pending"))
            .map(|l| text(l, "sku"))
            .collect::<Result<_, _>>()?;
        if !pending.is_empty() {
            return Err(CoreError::conflict(
                "lines",
                format!("record what was found for {} first", pending.join(", ")),
            ));
        }
        let mut changes = Vec::new();
        let mut refund = 0;
        for l in &lines {
            let outcome = text(l, "outcome")?;
            if outcome == "picked" {
                continue;
            }
            let quantity: i64 = l.try_get("quantity")?;
            let picked: i64 = l.try_get::<Option<i64>, _>("picked")?.unwrap_or(0);
            let r: i64 = l.try_get("refund_paise")?;
            refund += r;
            let substitute = match opt_text(l, "substitute_sku")? {
                Some(sku) => Some(PickedSubstitute {
                    sku,
                    name: opt_text(l, "sub_name")?,
                    quantity: l.try_get("substitute_quantity")?,
                    unit_price_paise: l.try_get("substitute_price_paise")?,
                }),
                None => None,
            };
            changes.push(PickChange {
                sku: text(l, "sku")?,
                missing: quantity - picked,
                unit_price_paise: l.try_get("unit_price_paise")?,
                refund_paise: r,
                substitute,
            });
        }
        let now = now_ms();
        let done = sqlx::query(
            "UPDATE picks SET status = 'packed', packed_at = ?, picked_at = COALESCE(picked_at, ?), refund_paise = ?, updated_at = ? \
             WHERE order_id = ? AND status = 'picking'",
        )
        .bind(now)
        .bind(now)
        .bind(refund)
        .bind(now)
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Err(CoreError::conflict("status", "the order changed meanwhile; look again"));
        }
        let d = sqlx::query("SELECT user_id, payment_kind, total_paise FROM deliveries WHERE order_id = ?")
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| CoreError::NotFound("delivery".into()))?;
        let kind = text(&d, "payment_kind")?;
        if kind == "cod" && refund > 0 {
            sqlx::query("UPDATE deliveries SET total_paise = total_paise - ?, updated_at = ? WHERE order_id = ?")
                .bind(refund)
                .bind(now)
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
        }
        let packed = DeliveryPacked {
            order_id: order_id.to_owned(),
            store: store.clone(),
            user_id: text(&d, "user_id")?,
            payment_kind: kind,
            picker_id: opt_text(&p, "picker_id")?,
            changes,
            refund_paise: refund,
            pick_minutes: p
                .try_get::<Option<i64>, _>("started_at")?
                .map(|s| ((now - s) as f64 / 6_000.0).round() / 10.0),
        };
        outbox::append(&mut tx, &Envelope::of(Service::Delivery, order_id, order_id, &packed)).await?;
        tx.commit().await?;
        metrics::counter!("nakku_orders_packed_total").increment(1);
        self.pick_list(user_id, admin, order_id).await
    }

    /// Gives each free picker on shift the oldest waiting order of their store. Returns how
    /// many picks started.
    pub async fn assign_picks(&self) -> Result<usize, CoreError> {
        let now = now_ms();
        let free = sqlx::query(
            "SELECT k.user_id AS user_id, k.store AS store FROM pickers k WHERE k.on_shift = 1 AND k.deleted_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM picks p WHERE p.picker_id = k.user_id AND p.status = 'picking') ORDER BY k.shift_started_at, k.user_id",
        )
        .fetch_all(self.db().pool())
        .await?;
        let mut started = 0;
        for f in &free {
            let (picker, store) = (text(f, "user_id")?, text(f, "store")?);
            let next = sqlx::query(
                "SELECT order_id FROM picks WHERE store = ? AND status = 'queued' AND (pick_after IS NULL OR pick_after <= ?) \
                 ORDER BY queued_at, order_id LIMIT 1",
            )
            .bind(&store)
            .bind(now)
            .fetch_optional(self.db().pool())
            .await?;
            let Some(next) = next else { continue };
            let r = sqlx::query(
                "UPDATE picks SET status = 'picking', picker_id = ?, started_at = COALESCE(started_at, ?), updated_at = ? \
                 WHERE order_id = ? AND status = 'queued'",
            )
            .bind(&picker)
            .bind(now)
            .bind(now)
            .bind(text(&next, "order_id")?)
            .execute(self.db().pool())
            .await?;
            started += r.rows_affected() as usize;
        }
        Ok(started)
    }

    /// Whether a rider may take the order: packed, or at a store without pickers.
    pub(super) async fn ready_for_pickup(
        &self,
        conn: &mut AnyConnection,
        order_id: &str,
    ) -> Result<Option<String>, CoreError> {
        let Some(p) = sqlx::query("SELECT store, status FROM picks WHERE order_id = ?")
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let status = text(&p, "status")?;
        if status == "packed" {
            return Ok(None);
        }
        let picking = sqlx::query("SELECT 1 AS x FROM pickers WHERE store = ? AND deleted_at IS NULL")
            .bind(text(&p, "store")?)
            .fetch_optional(conn)
            .await?
            .is_some();
        Ok(picking.then(|| format!("the order is not packed yet (it is {status})")))
    }
}

fn not_a_picker() -> CoreError {
    CoreError::NotFound("picker (an admin registers pickers with PUT /api/v1/deliveries/pickers/{user_id})".into())
}

/// Creates the pick job of a new order (in the `delivery.orders` transaction).
pub(super) async fn create_pick(
    conn: &mut AnyConnection,
    p: &crate::order::events::OrderCreated,
) -> anyhow::Result<()> {
    let id = &p.order_id;
    let now = now_ms();
    let made = sqlx::query(
        "INSERT INTO picks (order_id, store, status, substitution, created_at, updated_at) \
         SELECT ?, ?, 'awaiting', ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM picks WHERE order_id = ?)",
    )
    .bind(id)
    .bind(&p.store)
    .bind(&p.substitution)
    .bind(now)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if made.rows_affected() == 0 {
        return Ok(());
    }
    for l in &p.lines {
        sqlx::query(
            "INSERT INTO pick_lines (order_id, sku, quantity, unit_price_paise, outcome, refund_paise, updated_at) VALUES (?, ?, ?, ?, 'pending', 0, ?)",
        )
        .bind(id)
        .bind(&l.sku)
        .bind(l.quantity)
        .bind(l.unit_price_paise)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
