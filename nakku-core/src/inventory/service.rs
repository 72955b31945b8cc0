//! Inventory use cases. Each change, its ledger entries and its events are one transaction.

use sqlx::AnyConnection;

use super::events::{ReservationFailed, StockConfirmed, StockReleased, StockReserved, StoreUpdated};
use super::store::{self, Movement, Numbers, ReservationRow, WarehouseRow};
use super::*;
use crate::db::Db;
use crate::error::{CoreError, ResultExt, Validator};
use crate::events::bus::BoxFut;
use crate::events::{outbox, Change, Envelope};
use crate::id::{new_id, now_ms};
use crate::ports::{ReservationView, StockPort};
use crate::rules::{check_lat, check_lng, parse_text};
use crate::service::Service;
use crate::RequestCtx;

/// An on-hand movement requested by an admin.
struct OnHandMove<'a> {
    actor: &'a str,
    sku: &'a str,
    delta: i64,
    reason: &'a str,
    note: Option<&'a str>,
}

/// Settings of the inventory service.
#[derive(Debug, Clone)]
pub struct InventoryConfig {
    /// How long a reservation holds stock before it is released automatically.
    pub reservation_ttl_secs: i64,
    /// Low-stock threshold of new items.
    pub default_low_threshold: i64,
    /// Gather concurrent reservations into shared transactions (see [`super::batch`]).
    pub batch_reservations: bool,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            reservation_ttl_secs: 600,
            default_low_threshold: 5,
            batch_reservations: true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct InventoryService {
    db: Db,
    cfg: InventoryConfig,
    /// The reservation writer's queue (see [`super::batch`]); None outside a runtime.
    writer: Option<tokio::sync::mpsc::Sender<super::batch::Pending>>,
    /// Stores looked up by reservations, kept for a few seconds: a checkout burst should not
    /// read the same store row once per order. Store changes reach reservations within
    /// [`STORE_CACHE_MS`].
    store_cache: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, (i64, Warehouse)>>>,
}

/// How long a cached store serves reservations.
const STORE_CACHE_MS: i64 = 5_000;

fn missing() -> CoreError {
    CoreError::Internal(anyhow::anyhow!("validated fields missing"))
}

async fn emit_event<E: crate::events::Event>(
    conn: &mut AnyConnection,
    aggregate: &str,
    correlation: &str,
    payload: &E,
) -> Result<(), CoreError> {
    outbox::append(conn, &Envelope::of(Service::Inventory, aggregate, correlation, payload)).await?;
    Ok(())
}

impl InventoryService {
    /// With `batch_reservations`, inside a tokio runtime, this starts the reservation writer
    /// that batches concurrent reservations into shared transactions.
    pub fn new(db: Db, cfg: InventoryConfig) -> Self {
        let writer = (cfg.batch_reservations && tokio::runtime::Handle::try_current().is_ok())
            .then(|| super::batch::spawn_writer(db.clone()));
        InventoryService {
            db,
            cfg,
            writer,
            store_cache: Default::default(),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, CoreError> {
        Ok(self.db.pool().acquire().await?)
    }

    // ---- warehouses ----

    pub async fn create_warehouse(&self, ctx: &RequestCtx, input: WarehouseInput) -> Result<Warehouse, CoreError> {
        let mut v = Validator::new();
        let code = v
            .required("code", input.code)
            .and_then(|c| v.check("code", parse_code(&c)));
        let name = v
            .required("name", input.name)
            .and_then(|n| v.check("name", parse_text(&n, 200)));
        let city = v
            .required("city", input.city)
            .and_then(|n| v.check("city", parse_text(&n, 100)));
        let lat = v.required("lat", input.lat).and_then(|x| v.check("lat", check_lat(x)));
        let lng = v.required("lng", input.lng).and_then(|x| v.check("lng", check_lng(x)));
        let opens = v.check("opens_at", parse_hhmm(input.opens_at.as_deref().unwrap_or("06:00")));
        let closes = v.check("closes_at", parse_hhmm(input.closes_at.as_deref().unwrap_or("24:00")));
        v.finish()?;
        let (Some(code), Some(name), Some(city), Some(lat), Some(lng), Some(opens), Some(closes)) =
            (code, name, city, lat, lng, opens, closes)
        else {
            return Err(missing());
        };
        let now = now_ms();
        let w = Warehouse {
            id: new_id(),
            code,
            name,
            city,
            lat,
            lng,
            opens_at: hhmm(opens),
            closes_at: hhmm(closes),
            active: input.active.unwrap_or(true),
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.db.begin().await?;
        store::insert_warehouse(&mut tx, &WarehouseRow { w: &w, opens, closes })
            .await
            .on_unique_violation(|_| CoreError::conflict("code", "a store with this code already exists"))?;
        emit_event(
            &mut tx,
            &w.id,
            &ctx.request_id,
            &StoreUpdated {
                store: w.clone(),
                change: Change::Created,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(w)
    }

    pub async fn list_warehouses(&self) -> Result<Vec<Warehouse>, CoreError> {
        Ok(store::list_warehouses(&mut *self.conn().await?).await?)
    }

    /// [`Self::warehouse`] through the short-lived store cache.
    async fn cached_warehouse(&self, id_or_code: &str) -> Result<Warehouse, CoreError> {
        let now = now_ms();
        let hit = {
            let cache = self.store_cache.lock().unwrap_or_else(|p| p.into_inner());
            cache
                .get(id_or_code)
                .filter(|(at, _)| now - at < STORE_CACHE_MS)
                .map(|(_, w)| w.clone())
        };
        if let Some(w) = hit {
            return Ok(w);
        }
        let w = self.warehouse(id_or_code).await?;
        let mut cache = self.store_cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 10_000 {
            cache.clear();
        }
        cache.insert(id_or_code.to_owned(), (now, w.clone()));
        Ok(w)
    }

    /// A live store by id or code.
    pub async fn warehouse(&self, id_or_code: &str) -> Result<Warehouse, CoreError> {
        store::find_warehouse(&mut *self.conn().await?, id_or_code)
            .await?
            .ok_or_else(|| CoreError::NotFound("store".to_owned()))
    }

    pub async fn update_warehouse(
        &self,
        ctx: &RequestCtx,
        id_or_code: &str,
        input: WarehouseInput,
    ) -> Result<Warehouse, CoreError> {
        let mut v = Validator::new();
        let code = input.code.and_then(|c| v.check("code", parse_code(&c)));
        let name = input.name.and_then(|n| v.check("name", parse_text(&n, 200)));
        let city = input.city.and_then(|n| v.check("city", parse_text(&n, 100)));
        let lat = input.lat.and_then(|x| v.check("lat", check_lat(x)));
        let lng = input.lng.and_then(|x| v.check("lng", check_lng(x)));
        let opens = input.opens_at.and_then(|t| v.check("opens_at", parse_hhmm(&t)));
        let closes = input.closes_at.and_then(|t| v.check("closes_at", parse_hhmm(&t)));
        v.finish()?;
        let mut tx = self.db.begin().await?;
        let mut w = store::find_warehouse(&mut tx, id_or_code)
            .await?
            .ok_or_else(|| CoreError::NotFound("store".to_owned()))?;
        let opens = opens.unwrap_or(parse_hhmm(&w.opens_at).unwrap_or(0));
        let closes = closes.unwrap_or(parse_hhmm(&w.closes_at).unwrap_or(0));
        w.code = code.unwrap_or(w.code);
        w.name = name.unwrap_or(w.name);
        w.city = city.unwrap_or(w.city);
        w.lat = lat.unwrap_or(w.lat);
        w.lng = lng.unwrap_or(w.lng);
        w.opens_at = hhmm(opens);
        w.closes_at = hhmm(closes);
        w.active = input.active.unwrap_or(w.active);
        w.updated_at = now_ms();
        store::update_warehouse(&mut tx, &WarehouseRow { w: &w, opens, closes })
            .await
            .on_unique_violation(|_| CoreError::conflict("code", "a store with this code already exists"))?;
        emit_event(
            &mut tx,
            &w.id,
            &ctx.request_id,
            &StoreUpdated {
                store: w.clone(),
                change: Change::Updated,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(w)
    }

    pub async fn delete_warehouse(&self, ctx: &RequestCtx, id_or_code: &str) -> Result<(), CoreError> {
        let mut tx = self.db.begin().await?;
        let w = store::find_warehouse(&mut tx, id_or_code)
            .await?
            .ok_or_else(|| CoreError::NotFound("store".to_owned()))?;
        store::soft_delete_warehouse(&mut tx, &w.id).await?;
        emit_event(
            &mut tx,
            &w.id,
            &ctx.request_id,
            &StoreUpdated {
                store: w.clone(),
                change: Change::Deleted,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- stock ----

    /// The API view of a stock row; `None` = the store does not stock the sku.
    fn level(store: &str, sku: &str, n: Option<Numbers>) -> StockLevel {
        let tracked = n.is_some();
        let n = n.unwrap_or(Numbers {
            on_hand: 0,
            reserved: 0,
            low_threshold: 0,
            low_alerted: false,
            out_alerted: true,
        });
        StockLevel {
            store: store.to_owned(),
            sku: sku.to_owned(),
            tracked,
            on_hand: n.on_hand,
            reserved: n.reserved,
            available: n.available(),
            in_stock: n.available() > 0,
            low_threshold: n.low_threshold,
            low: n.available() <= n.low_threshold,
        }
    }

    /// Live stock of several skus at one store in one call. Skus the store does not stock
    /// come back with `tracked: false` and nothing available.
    pub async fn stock_for(&self, store_ref: &str, skus: &[String]) -> Result<Vec<StockLevel>, CoreError> {
        let mut v = Validator::new();
        if skus.is_empty() || skus.len() > 200 {
            v.add("skus", "give 1 to 200 comma-separated skus");
        }
        let parsed: Vec<String> = skus.iter().filter_map(|s| v.check("skus", parse_sku(s))).collect();
        v.finish()?;
        let w = self.warehouse(store_ref).await?;
        let found = store::numbers_many(&mut *self.conn().await?, &w.id, &parsed).await?;
        Ok(parsed
            .iter()
            .map(|sku| Self::level(&w.code, sku, found.iter().find(|(s, _)| s == sku).map(|(_, n)| *n)))
            .collect())
    }

    /// One tracked sku at a store (404 when the store does not stock it).
    pub async fn stock_item(&self, store_ref: &str, sku: &str) -> Result<StockLevel, CoreError> {
        let sku = parse_sku(sku).map_err(|e| CoreError::validation("sku", e))?;
        let w = self.warehouse(store_ref).await?;
        let n = store::numbers(&mut *self.conn().await?, &w.id, &sku)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("sku {sku} at store {}", w.code)))?;
        Ok(Self::level(&w.code, &sku, Some(n)))
    }

    /// Starts tracking a sku at a store, or changes its low-stock threshold.
    pub async fn set_threshold(
        &self,
        ctx: &RequestCtx,
        store_ref: &str,
        sku: &str,
        input: ThresholdInput,
    ) -> Result<StockLevel, CoreError> {
        let sku = parse_sku(sku).map_err(|e| CoreError::validation("sku", e))?;
        let threshold = match input.low_threshold {
            Some(t) if (0..=MAX_QUANTITY).contains(&t) => t,
            Some(_) => {
                return Err(CoreError::validation(
                    "low_threshold",
                    format!("must be from 0 to {MAX_QUANTITY}"),
                ))
            }
            None => return Err(CoreError::validation("low_threshold", "is required")),
        };
        let w = self.warehouse(store_ref).await?;
        let mut tx = self.db.begin().await?;
        store::ensure_stock_row(&mut tx, &w.id, &sku, threshold).await?;
        store::set_threshold(&mut tx, &w.id, &sku, threshold).await?;
        self.after_change(&mut tx, &w, &sku, &ctx.request_id).await?;
        tx.commit().await?;
        self.stock_item(&w.id, &sku).await
    }

    /// Adds received goods.
    pub async fn restock(
        &self,
        ctx: &RequestCtx,
        actor: &str,
        store_ref: &str,
        sku: &str,
        input: RestockInput,
    ) -> Result<StockLevel, CoreError> {
        let mut v = Validator::new();
        let sku = v.check("sku", parse_sku(sku));
        let qty = v
            .required("quantity", input.quantity)
            .and_then(|q| v.check("quantity", check_quantity(q)));
        let note = input.note.and_then(|n| v.check("note", parse_text(&n, 500)));
        v.finish()?;
        let (Some(sku), Some(qty)) = (sku, qty) else {
            return Err(missing());
        };
        let movement = OnHandMove {
            actor,
            sku: &sku,
            delta: qty,
            reason: "restock",
            note: note.as_deref(),
        };
        self.move_on_hand(ctx, store_ref, movement, true).await
    }

    /// One on-hand movement (restock or adjustment) with its ledger entry and alerts, in one
    /// transaction. Refused with 409 when it would leave fewer units than are reserved.
    async fn move_on_hand(
        &self,
        ctx: &RequestCtx,
        store_ref: &str,
        mv: OnHandMove<'_>,
        create: bool,
    ) -> Result<StockLevel, CoreError> {
        let w = self.warehouse(store_ref).await?;
        let sku = mv.sku;
        let mut tx = self.db.begin().await?;
        if create {
            store::ensure_stock_row(&mut tx, &w.id, sku, self.cfg.default_low_threshold).await?;
        }
        let n = store::numbers(&mut tx, &w.id, sku)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("sku {sku} at store {}", w.code)))?;
        if !store::apply_deltas(&mut tx, &w.id, sku, mv.delta, 0).await? {
            return Err(CoreError::conflict(
                "delta",
                format!(
                    "would leave fewer than the {} units reserved for orders (on hand {})",
                    n.reserved, n.on_hand
                ),
            ));
        }
        let m = Movement {
            wh: &w.id,
            sku,
            on_hand_delta: mv.delta,
            reserved_delta: 0,
            reason: mv.reason,
            note: mv.note,
            ref_id: None,
            actor: Some(mv.actor),
        };
        store::append_ledger(&mut tx, &m).await?;
        self.after_change(&mut tx, &w, sku, &ctx.request_id).await?;
        tx.commit().await?;
        self.stock_item(&w.id, sku).await
    }

    /// Corrects on-hand stock (damage, expiry, counts). It cannot take away units that are
    /// reserved for orders.
    pub async fn adjust(
        &self,
        ctx: &RequestCtx,
        actor: &str,
        store_ref: &str,
        sku: &str,
        input: AdjustInput,
    ) -> Result<StockLevel, CoreError> {
        let mut v = Validator::new();
        let sku = v.check("sku", parse_sku(sku));
        let delta = v.required("delta", input.delta);
        if let Some(d) = delta {
            if d == 0 || !(-MAX_QUANTITY..=MAX_QUANTITY).contains(&d) {
                v.add(
                    "delta",
                    format!("must be a non-zero whole number from -{MAX_QUANTITY} to {MAX_QUANTITY}"),
                );
            }
        }
        let reason = v.required("reason", input.reason);
        if let Some(r) = &reason {
            if !ADJUST_REASONS.contains(&r.as_str()) {
                v.add("reason", format!("must be one of {}", ADJUST_REASONS.join(", ")));
            }
        }
        let note = input.note.and_then(|n| v.check("note", parse_text(&n, 500)));
        v.finish()?;
        let (Some(sku), Some(delta), Some(reason)) = (sku, delta, reason) else {
            return Err(missing());
        };
        let movement = OnHandMove {
            actor,
            sku: &sku,
            delta,
            reason: &reason,
            note: note.as_deref(),
        };
        self.move_on_hand(ctx, store_ref, movement, false).await
    }

    /// Emits `inventory.updated` and the alert transitions after a change of a sku's
    /// numbers: low stock once per downward crossing of the threshold (re-armed when it
    /// rises above), out of stock once per reaching zero, back in stock (with the shoppers
    /// who asked to be told) once per leaving zero.
    async fn after_change(
        &self,
        conn: &mut AnyConnection,
        w: &Warehouse,
        sku: &str,
        correlation: &str,
    ) -> Result<(), CoreError> {
        let events = super::batch::stock_events_for(conn, w, &[sku.to_owned()], |_| correlation.to_owned()).await?;
        outbox::append_many(conn, &events).await?;
        Ok(())
    }

    pub async fn low_stock(&self, store_ref: &str) -> Result<Vec<StockLevel>, CoreError> {
        let w = self.warehouse(store_ref).await?;
        let rows = store::low_stock(&mut *self.conn().await?, &w.id).await?;
        Ok(rows
            .into_iter()
            .map(|(sku, n)| Self::level(&w.code, &sku, Some(n)))
            .collect())
    }

    pub async fn ledger(
        &self,
        store_ref: &str,
        sku: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>, CoreError> {
        let sku = parse_sku(sku).map_err(|e| CoreError::validation("sku", e))?;
        if !(1..=500).contains(&limit) {
            return Err(CoreError::validation("limit", "must be between 1 and 500"));
        }
        let w = self.warehouse(store_ref).await?;
        Ok(store::ledger(&mut *self.conn().await?, &w.id, &sku, cursor, limit).await?)
    }

    /// Items whose numbers differ from their ledger (empty = all reconcile).
    pub async fn reconcile(&self, store_ref: &str) -> Result<Reconciliation, CoreError> {
        let w = self.warehouse(store_ref).await?;
        let diffs = store::reconcile(&mut *self.conn().await?, &w.id).await?;
        let mismatches: Vec<Mismatch> = diffs
            .into_iter()
            .map(|(sku, on_hand, ledger_on_hand, reserved, ledger_reserved)| Mismatch {
                sku,
                on_hand,
                ledger_on_hand,
                reserved,
                ledger_reserved,
            })
            .collect();
        Ok(Reconciliation {
            store: w.code,
            reconciled: mismatches.is_empty(),
            mismatches,
        })
    }

    /// A shopper asks to be told when a sku is back at a store. Idempotent.
    pub async fn watch(&self, user_id: &str, store_ref: &str, sku: &str) -> Result<Watch, CoreError> {
        let sku = parse_sku(sku).map_err(|e| CoreError::validation("sku", e))?;
        let w = self.warehouse(store_ref).await?;
        let level = self.stock_for(&w.id, std::slice::from_ref(&sku)).await?;
        if level.first().is_some_and(|l| l.in_stock) {
            return Err(CoreError::conflict("sku", "is in stock now"));
        }
        let added = store::add_watcher(&mut *self.conn().await?, &w.id, &sku, user_id).await?;
        Ok(Watch {
            store: w.code,
            sku,
            watching: true,
            already_watching: !added,
        })
    }

    fn reservation(row: ReservationRow, lines: Vec<Line>, code: &str) -> Reservation {
        Reservation {
            id: row.id,
            order_id: row.order_id,
            store: code.to_owned(),
            status: row.status,
            reason: row.reason,
            lines,
            expires_at: row.expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }

    pub async fn get_reservation(&self, order_id: &str) -> Result<Reservation, CoreError> {
        let mut conn = self.conn().await?;
        let (row, lines) = store::find_reservation(&mut conn, order_id, "")
            .await?
            .ok_or_else(|| CoreError::NotFound("reservation".to_owned()))?;
        let code = store::find_warehouse(&mut conn, &row.warehouse_id)
            .await?
            .map(|w| w.code)
            .unwrap_or_default();
        Ok(Self::reservation(row, lines, &code))
    }

    /// Reserves every line for an order at one store, or none. Idempotent per order id:
    /// asking again returns the first answer (including a failure). A failure is a
    /// `failed` reservation naming the short lines, not an error: the saga acts on it.
    pub async fn reserve(&self, ctx: &RequestCtx, input: ReserveInput) -> Result<Reservation, CoreError> {
        let mut v = Validator::new();
        let order_id = v.required("order_id", input.order_id).and_then(|o| {
            let o = o.trim().to_owned();
            v.check(
                "order_id",
                if (1..=128).contains(&o.len()) {
                    Ok(o)
                } else {
                    Err("must be 1-128 characters".to_owned())
                },
            )
        });
        let store_ref = v.required("store", input.store);
        let mut lines = v.required("lines", input.lines).unwrap_or_default();
        if lines.is_empty() || lines.len() > 100 {
            v.add("lines", "give 1 to 100 lines");
        }
        for (i, l) in lines.iter_mut().enumerate() {
            if let Some(s) = v.check(&format!("lines[{i}].sku"), parse_sku(&l.sku)) {
                l.sku = s;
            }
            v.check(&format!("lines[{i}].quantity"), check_quantity(l.quantity));
        }
        lines.sort_by(|a, b| a.sku.cmp(&b.sku)); // a fixed lock order: no deadlocks between orders
        if lines.windows(2).any(|p| p[0].sku == p[1].sku) {
            v.add("lines", "each sku may appear once");
        }
        let ttl = input.ttl_secs.unwrap_or(self.cfg.reservation_ttl_secs);
        if !(1..=86_400).contains(&ttl) {
            v.add("ttl_secs", "must be from 1 to 86400");
        }
        v.finish()?;
        let (Some(order_id), Some(store_ref)) = (order_id, store_ref) else {
            return Err(missing());
        };
        let w = self.cached_warehouse(&store_ref).await?;
        if !w.active {
            return Err(CoreError::conflict("store", format!("store {} is not active", w.code)));
        }
        let now = now_ms();
        let row = ReservationRow {
            id: new_id(),
            order_id: order_id.clone(),
            warehouse_id: w.id.clone(),
            status: "held".to_owned(),
            reason: None,
            expires_at: now + ttl * 1000,
            created_at: now,
            updated_at: now,
        };
        let Some(writer) = &self.writer else {
            return self.reserve_direct(ctx, row, lines, w).await;
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let code = w.code.clone();
        let pending = super::batch::Pending { row, lines, w, reply };
        if let Err(e) = writer.send(pending).await {
            let p = e.0;
            return self.reserve_direct(ctx, p.row, p.lines, p.w).await;
        }
        match answer.await {
            Ok(super::batch::Outcome::Done(row, lines)) => Ok(Self::reservation(row, lines, &code)),
            Ok(super::batch::Outcome::Existing) => self.get_reservation(&order_id).await,
            Ok(super::batch::Outcome::Retry(p)) => self.reserve_direct(ctx, p.row, p.lines, p.w).await,
            Err(_) => Err(CoreError::Internal(anyhow::anyhow!("the reservation writer stopped"))),
        }
    }

    /// One reservation in its own transaction (no writer, or its batch failed).
    async fn reserve_direct(
        &self,
        ctx: &RequestCtx,
        mut row: ReservationRow,
        lines: Vec<Line>,
        w: Warehouse,
    ) -> Result<Reservation, CoreError> {
        let order_id = row.order_id.clone();
        let now = row.created_at;
        let mut tx = self.db.begin().await?;
        match store::insert_reservation(&mut tx, &row).await {
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                return self.get_reservation(&order_id).await; // a concurrent duplicate won
            }
            other => other?,
        }
        let mut short = None;
        for l in &lines {
            if !store::apply_deltas(&mut tx, &w.id, &l.sku, 0, l.quantity).await? {
                short = Some(l.clone());
                break;
            }
        }
        if let Some(line) = short {
            tx.rollback().await?;
            return self.record_failure(ctx, row, &lines, &w, &line).await;
        }
        store::insert_lines(&mut tx, &row.id, &lines).await?;
        for l in &lines {
            let m = Movement {
                wh: &w.id,
                sku: &l.sku,
                on_hand_delta: 0,
                reserved_delta: l.quantity,
                reason: "reserve",
                note: None,
                ref_id: Some(&order_id),
                actor: None,
            };
            store::append_ledger(&mut tx, &m).await?;
            self.after_change(&mut tx, &w, &l.sku, &order_id).await?;
        }
        let reserved = StockReserved::new(&order_id, &w, lines.clone(), row.expires_at);
        emit_event(&mut tx, &order_id, &order_id, &reserved).await?;
        tx.commit().await?;
        row.updated_at = now;
        Ok(Self::reservation(row, lines, &w.code))
    }

    async fn record_failure(
        &self,
        ctx: &RequestCtx,
        mut row: ReservationRow,
        lines: &[Line],
        w: &Warehouse,
        short: &Line,
    ) -> Result<Reservation, CoreError> {
        let available = store::numbers(&mut *self.conn().await?, &w.id, &short.sku)
            .await?
            .map(|n| n.available())
            .unwrap_or(0);
        let failed = ReservationFailed::short_of(&row.order_id, w, short, available, Some(ctx.request_id.clone()));
        row.status = "failed".to_owned();
        row.reason = Some(failed.reason.clone());
        let mut tx = self.db.begin().await?;
        match store::insert_reservation(&mut tx, &row).await {
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                return self.get_reservation(&row.order_id).await;
            }
            other => other?,
        }
        store::insert_lines(&mut tx, &row.id, lines).await?;
        emit_event(&mut tx, &row.order_id, &row.order_id, &failed).await?;
        tx.commit().await?;
        Ok(Self::reservation(row, lines.to_vec(), &w.code))
    }

    /// Turns held stock into a sale (on payment). Idempotent.
    pub async fn confirm(&self, _ctx: &RequestCtx, order_id: &str) -> Result<Reservation, CoreError> {
        let mut tx = self.db.begin().await?;
        let (row, lines) = store::find_reservation(&mut tx, order_id, self.db.dialect().for_update())
            .await?
            .ok_or_else(|| CoreError::NotFound("reservation".to_owned()))?;
        match row.status.as_str() {
            "confirmed" => {
                drop(tx);
                return self.get_reservation(order_id).await;
            }
            "held" => {}
            other => {
                return Err(CoreError::conflict(
                    "status",
                    format!("the reservation for {order_id} is {other}; it cannot be confirmed"),
                ))
            }
        }
        let w = store::find_warehouse(&mut tx, &row.warehouse_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("store".to_owned()))?;
        for l in &lines {
            if !store::apply_deltas(&mut tx, &w.id, &l.sku, -l.quantity, -l.quantity).await? {
                return Err(CoreError::Internal(anyhow::anyhow!(
                    "held stock of {} for {order_id} is missing",
                    l.sku
                )));
            }
            let m = Movement {
                wh: &w.id,
                sku: &l.sku,
                on_hand_delta: -l.quantity,
                reserved_delta: -l.quantity,
                reason: "sale",
                note: None,
                ref_id: Some(order_id),
                actor: None,
            };
            store::append_ledger(&mut tx, &m).await?;
            self.after_change(&mut tx, &w, &l.sku, order_id).await?;
        }
        store::transition(&mut tx, &row.id, "held", "confirmed", None).await?;
        let confirmed = StockConfirmed {
            order_id: order_id.to_owned(),
            store: w.code.clone(),
            lines: lines.clone(),
        };
        emit_event(&mut tx, order_id, order_id, &confirmed).await?;
        tx.commit().await?;
        self.get_reservation(order_id).await
    }

    /// Gives the stock back: a held reservation releases its hold; a confirmed one returns
    /// its units to the shelf (an order cancelled before dispatch). Idempotent.
    pub async fn release(
        &self,
        _ctx: &RequestCtx,
        order_id: &str,
        reason: &str,
        to_status: &str,
    ) -> Result<Reservation, CoreError> {
        let mut tx = self.db.begin().await?;
        let (row, lines) = store::find_reservation(&mut tx, order_id, self.db.dialect().for_update())
            .await?
            .ok_or_else(|| CoreError::NotFound("reservation".to_owned()))?;
        let (on_hand_sign, ledger_reason) = match row.status.as_str() {
            "held" => (0, if to_status == "expired" { "expire" } else { "release" }),
            "confirmed" if to_status == "released" => (1, "return"),
            _ => {
                drop(tx);
                return self.get_reservation(order_id).await; // already released, expired or failed
            }
        };
        let w = store::find_warehouse(&mut tx, &row.warehouse_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("store".to_owned()))?;
        for l in &lines {
            let (dh, dr) = if on_hand_sign == 0 {
                (0, -l.quantity)
            } else {
                (l.quantity, 0)
            };
            if !store::apply_deltas(&mut tx, &w.id, &l.sku, dh, dr).await? {
                return Err(CoreError::Internal(anyhow::anyhow!(
                    "releasing {} for {order_id} did not apply",
                    l.sku
                )));
            }
            let m = Movement {
                wh: &w.id,
                sku: &l.sku,
                on_hand_delta: dh,
                reserved_delta: dr,
                reason: ledger_reason,
                note: Some(reason),
                ref_id: Some(order_id),
                actor: None,
            };
            store::append_ledger(&mut tx, &m).await?;
            self.after_change(&mut tx, &w, &l.sku, order_id).await?;
        }
        store::transition(&mut tx, &row.id, &row.status, to_status, Some(reason)).await?;
        let released = StockReleased {
            order_id: order_id.to_owned(),
            store: w.code.clone(),
            lines: lines.clone(),
            reason: reason.to_owned(),
            status: to_status.to_owned(),
        };
        emit_event(&mut tx, order_id, order_id, &released).await?;
        tx.commit().await?;
        self.get_reservation(order_id).await
    }

    /// [`Self::release`] for the saga's compensation: an order that was never reserved (the
    /// request is still in flight, or never arrived) gets a `released` reservation without
    /// lines, so a reservation request arriving late finds it and takes no stock.
    pub async fn release_or_block(
        &self,
        ctx: &RequestCtx,
        order_id: &str,
        reason: &str,
    ) -> Result<Reservation, CoreError> {
        for _ in 0..2 {
            match self.release(ctx, order_id, reason, "released").await {
                Err(CoreError::NotFound(_)) => {}
                other => return other,
            }
            let now = now_ms();
            let row = ReservationRow {
                id: new_id(),
                order_id: order_id.to_owned(),
                warehouse_id: String::new(),
                status: "released".to_owned(),
                reason: Some(format!("{reason} (before any stock was reserved)")),
                expires_at: now,
                created_at: now,
                updated_at: now,
            };
            match store::insert_reservation(&mut *self.conn().await?, &row).await {
                Ok(()) => return Ok(Self::reservation(row, Vec::new(), "")),
                Err(e) if crate::error::is_unique_violation(&e) => continue, // the reservation just landed
                Err(e) => return Err(e.into()),
            }
        }
        self.get_reservation(order_id).await
    }

    /// Returns the sold units of one line of a confirmed order to the shelf (a line removed
    /// before packing). Idempotent: the line leaves the reservation, so asking again does
    /// nothing.
    pub async fn return_line(&self, _ctx: &RequestCtx, order_id: &str, sku: &str) -> Result<(), CoreError> {
        let mut tx = self.db.begin().await?;
        let (row, lines) = store::find_reservation(&mut tx, order_id, self.db.dialect().for_update())
            .await?
            .ok_or_else(|| CoreError::NotFound("reservation".to_owned()))?;
        let Some(line) = lines.into_iter().find(|l| l.sku == sku) else {
            return Ok(()); // returned before
        };
        if row.status != "confirmed" {
            return Err(CoreError::conflict(
                "status",
                format!(
                    "the reservation for {order_id} is {}; only sold lines can be returned",
                    row.status
                ),
            ));
        }
        let w = store::find_warehouse(&mut tx, &row.warehouse_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("store".to_owned()))?;
        sqlx::query("DELETE FROM reservation_lines WHERE reservation_id = ? AND sku = ?")
            .bind(&row.id)
            .bind(sku)
            .execute(&mut *tx)
            .await?;
        if !store::apply_deltas(&mut tx, &w.id, sku, line.quantity, 0).await? {
            return Err(CoreError::Internal(anyhow::anyhow!(
                "returning {sku} for {order_id} did not apply"
            )));
        }
        let m = Movement {
            wh: &w.id,
            sku,
            on_hand_delta: line.quantity,
            reserved_delta: 0,
            reason: "return",
            note: Some("line removed from the order"),
            ref_id: Some(order_id),
            actor: None,
        };
        store::append_ledger(&mut tx, &m).await?;
        self.after_change(&mut tx, &w, sku, order_id).await?;
        let returned = StockReleased {
            order_id: order_id.to_owned(),
            store: w.code.clone(),
            lines: vec![line.clone()],
            reason: "line removed from the order".to_owned(),
            status: "returned".to_owned(),
        };
        emit_event(&mut tx, order_id, order_id, &returned).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records what picking found for a confirmed order, once per order: `short` units were
    /// not on the shelf, so they leave the order's sold lines and the shelf's count drops to
    /// what other orders hold (the picker found it empty); `add` units of substitutes went
    /// into the bag, so they are sold to the order (as far as the count allows; anything
    /// beyond it is noted in the ledger as a count difference). Asking again does nothing.
    pub async fn picked(
        &self,
        _ctx: &RequestCtx,
        order_id: &str,
        short: &[Line],
        add: &[Line],
    ) -> Result<(), CoreError> {
        for l in short.iter().chain(add) {
            parse_sku(&l.sku).map_err(|m| CoreError::validation("sku", m))?;
            crate::inventory::check_quantity(l.quantity).map_err(|m| CoreError::validation("quantity", m))?;
        }
        let mut tx = self.db.begin().await?;
        let (row, lines) = store::find_reservation(&mut tx, order_id, self.db.dialect().for_update())
            .await?
            .ok_or_else(|| CoreError::NotFound("reservation".to_owned()))?;
        let first = sqlx::query("INSERT INTO pick_adjustments (order_id, created_at) VALUES (?, ?)")
            .bind(order_id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await;
        match first {
            Err(e) if crate::error::is_unique_violation(&e) => return Ok(()), // applied before
            other => {
                other?;
            }
        }
        if row.status != "confirmed" {
            return Err(CoreError::conflict(
                "status",
                format!(
                    "the reservation for {order_id} is {}; picking adjusts sold orders only",
                    row.status
                ),
            ));
        }
        let w = store::find_warehouse(&mut tx, &row.warehouse_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("store".to_owned()))?;
        let note_short = format!("not found on the shelf when picking order {order_id}");
        let mut touched = Vec::new();
        for l in short {
            let held = lines.iter().find(|x| x.sku == l.sku).map_or(0, |x| x.quantity);
            if held == 0 {
                continue;
            }
            let left = held - l.quantity.min(held);
            if left == 0 {
                sqlx::query("DELETE FROM reservation_lines WHERE reservation_id = ? AND sku = ?")
                    .bind(&row.id)
                    .bind(&l.sku)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query("UPDATE reservation_lines SET quantity = ? WHERE reservation_id = ? AND sku = ?")
                    .bind(left)
                    .bind(&row.id)
                    .bind(&l.sku)
                    .execute(&mut *tx)
                    .await?;
            }
            // The shelf was empty: what is not held for other orders is not there.
            if let Some(n) = store::numbers(&mut tx, &w.id, &l.sku).await? {
                let gone = n.available();
                if gone > 0 && store::apply_deltas(&mut tx, &w.id, &l.sku, -gone, 0).await? {
                    let m = Movement {
                        wh: &w.id,
                        sku: &l.sku,
                        on_hand_delta: -gone,
                        reserved_delta: 0,
                        reason: "count_correction",
                        note: Some(&note_short),
                        ref_id: Some(order_id),
                        actor: Some("picking"),
                    };
                    store::append_ledger(&mut tx, &m).await?;
                }
            }
            touched.push(l.sku.clone());
        }
        for l in add {
            store::ensure_stock_row(&mut tx, &w.id, &l.sku, self.cfg.default_low_threshold).await?;
            let available = store::numbers(&mut tx, &w.id, &l.sku)
                .await?
                .map_or(0, |n| n.available());
            let take = l.quantity.min(available.max(0));
            if take > 0 && !store::apply_deltas(&mut tx, &w.id, &l.sku, -take, 0).await? {
                return Err(CoreError::Internal(anyhow::anyhow!(
                    "taking a substitute for {order_id} did not apply"
                )));
            }
            let note = if take < l.quantity {
                format!(
                    "substitute for order {order_id}: {} unit(s) beyond the count went out; count the shelf",
                    l.quantity - take
                )
            } else {
                format!("substitute for order {order_id}")
            };
            let m = Movement {
                wh: &w.id,
                sku: &l.sku,
                on_hand_delta: -take,
                reserved_delta: 0,
                reason: "sale",
                note: Some(&note),
                ref_id: Some(order_id),
                actor: Some("picking"),
            };
            store::append_ledger(&mut tx, &m).await?;
            let held = lines.iter().find(|x| x.sku == l.sku).map_or(0, |x| x.quantity);
            if held == 0 {
                store::insert_lines(&mut tx, &row.id, std::slice::from_ref(l)).await?;
            } else {
                sqlx::query(
                    "UPDATE reservation_lines SET quantity = quantity + ? WHERE reservation_id = ? AND sku = ?",
                )
                .bind(l.quantity)
                .bind(&row.id)
                .bind(&l.sku)
                .execute(&mut *tx)
                .await?;
            }
            touched.push(l.sku.clone());
        }
        for sku in &touched {
            self.after_change(&mut tx, &w, sku, order_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Releases held reservations past their expiry; returns how many.
    pub async fn expire_due(&self) -> Result<usize, CoreError> {
        let due = store::due_for_expiry(&mut *self.conn().await?, now_ms(), 200).await?;
        let ctx = RequestCtx::internal("expiry");
        let mut n = 0;
        for order_id in due {
            let r = self.release(&ctx, &order_id, "reservation expired", "expired").await?;
            if r.status == "expired" {
                n += 1;
            }
        }
        Ok(n)
    }
}

/// The saga's view of inventory, in this process.
impl StockPort for InventoryService {
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
            let r = InventoryService::reserve(self, ctx, input).await?;
            Ok(ReservationView {
                status: r.status,
                reason: r.reason,
            })
        })
    }

    fn confirm<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<ReservationView, CoreError>> {
        Box::pin(async move {
            let r = InventoryService::confirm(self, ctx, order_id).await?;
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
        Box::pin(async move { InventoryService::return_line(self, ctx, order_id, sku).await })
    }

    fn picked<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        short: Vec<Line>,
        add: Vec<Line>,
    ) -> BoxFut<'a, Result<(), CoreError>> {
        Box::pin(async move { InventoryService::picked(self, ctx, order_id, &short, &add).await })
    }
}
