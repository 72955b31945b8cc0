//! Inventory use cases. Each change, its ledger entries and its events are one transaction.

use sqlx::AnyConnection;

use super::batch::{self, Outcome, Pending, Request};
use super::events::{StockConfirmed, StockReleased, StoreUpdated};
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

#[path = "reservations.rs"]
mod reservations;

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
        self.cached_warehouse_on(None, id_or_code).await
    }

    /// [`Self::cached_warehouse`] for a caller in a transaction: a miss is read on `conn`,
    /// not on a second connection from the pool. (Asking the pool while holding one of its
    /// connections waits for itself once as many callers do so as the pool has
    /// connections: a 16-connection inventory under load stalled for seconds at a time,
    /// each time the cache expired, until the pool's acquire timeout failed them all.)
    pub(super) async fn cached_warehouse_on(
        &self,
        conn: Option<&mut AnyConnection>,
        id_or_code: &str,
    ) -> Result<Warehouse, CoreError> {
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
        let w = match conn {
            Some(conn) => store::find_warehouse(conn, id_or_code)
                .await?
                .ok_or_else(|| CoreError::NotFound("store".to_owned()))?,
            None => self.warehouse(id_or_code).await?,
        };
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
}
