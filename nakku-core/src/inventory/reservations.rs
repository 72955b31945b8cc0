//! Reservations: holding stock for an order, selling it on payment, giving it back on
//! cancellation or expiry, and the changes picking makes; and [`StockPort`], the saga's
//! view of them in this process. A child module of `service`, so it shares the service's
//! private helpers.

use super::*;

impl InventoryService {
    pub(super) fn reservation(row: ReservationRow, lines: Vec<Line>, code: &str) -> Reservation {
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

    /// A write transaction holding `order_id`'s reservation row locked, with the
    /// reservation and its lines (404 without one): where each move of a reservation
    /// starts. At READ COMMITTED, so the locked read takes the reservation's row and not
    /// the gap beside it in the order index, where the batch writer inserts new
    /// reservations (at REPEATABLE READ the two deadlocked under load).
    async fn locked_reservation(
        &self,
        order_id: &str,
    ) -> Result<(crate::db::Tx, ReservationRow, Vec<Line>), CoreError> {
        let mut tx = self.db.begin_read_committed().await?;
        let (row, lines) = store::find_reservation(&mut tx, order_id, self.db.dialect().for_update())
            .await?
            .ok_or_else(|| CoreError::NotFound("reservation".to_owned()))?;
        Ok((tx, row, lines))
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
        let code = w.code.clone();
        let req = Request {
            row,
            lines,
            w,
            request_id: Some(ctx.request_id.clone()),
        };
        let outcome = match &self.writer {
            Some(writer) => {
                let (reply, answer) = tokio::sync::oneshot::channel();
                match writer.send(Pending { req, reply }).await {
                    Ok(()) => answer
                        .await
                        .map_err(|_| CoreError::Internal(anyhow::anyhow!("the reservation writer stopped")))?,
                    // The writer is gone (its runtime is shutting down): a batch of one.
                    Err(e) => Outcome::Retry(Box::new(e.0.req)),
                }
            }
            None => Outcome::Retry(Box::new(req)),
        };
        let outcome = match outcome {
            Outcome::Retry(req) => batch::apply_alone(&self.db, &req).await?,
            done => done,
        };
        match outcome {
            Outcome::Done(row, lines) => Ok(Self::reservation(row, lines, &code)),
            Outcome::Existing | Outcome::Retry(_) => self.get_reservation(&order_id).await,
        }
    }

    /// Turns held stock into a sale (on payment). Idempotent.
    pub async fn confirm(&self, _ctx: &RequestCtx, order_id: &str) -> Result<Reservation, CoreError> {
        let (mut tx, row, lines) = self.locked_reservation(order_id).await?;
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
        // The store through the short-lived cache (its id is the reservation's; the code
        // named in the events follows a change of code within seconds).
        let w = self.cached_warehouse_on(Some(&mut tx), &row.warehouse_id).await?;
        let mut movements = Vec::with_capacity(lines.len());
        for l in &lines {
            if !store::apply_deltas(&mut tx, &w.id, &l.sku, -l.quantity, -l.quantity).await? {
                return Err(CoreError::Internal(anyhow::anyhow!(
                    "held stock of {} for {order_id} is missing",
                    l.sku
                )));
            }
            movements.push(Movement {
                wh: &w.id,
                sku: &l.sku,
                on_hand_delta: -l.quantity,
                reserved_delta: -l.quantity,
                reason: "sale",
                note: None,
                ref_id: Some(order_id),
                actor: None,
            });
        }
        store::append_ledger_many(&mut tx, &movements).await?;
        // The lines' new numbers in one read, their events and the confirmation in one insert.
        let skus: Vec<String> = lines.iter().map(|l| l.sku.clone()).collect();
        let mut events = super::batch::stock_events_for(&mut tx, &w, &skus, |_| order_id.to_owned()).await?;
        let moved = store::transition(
            &mut tx,
            &row.id,
            ReservationStatus::Held,
            ReservationStatus::Confirmed,
            None,
        )
        .await?;
        let confirmed = StockConfirmed {
            order_id: order_id.to_owned(),
            store: w.code.clone(),
            lines: lines.clone(),
        };
        events.push(Envelope::of(Service::Inventory, order_id, order_id, &confirmed));
        outbox::append_many(&mut tx, &events).await?;
        tx.commit().await?;
        if !moved {
            return self.get_reservation(order_id).await;
        }
        // The row was locked and moved here: answer from what is in hand.
        let row = ReservationRow {
            status: ReservationStatus::Confirmed.as_str().to_owned(),
            updated_at: crate::id::now_ms(),
            ..row
        };
        Ok(Self::reservation(row, lines, &w.code))
    }

    /// Gives the stock back: a held reservation releases its hold; a confirmed one returns
    /// its units to the shelf (an order cancelled before dispatch). Idempotent.
    pub async fn release(
        &self,
        _ctx: &RequestCtx,
        order_id: &str,
        reason: &str,
        to_status: ReservationStatus,
    ) -> Result<Reservation, CoreError> {
        if !matches!(to_status, ReservationStatus::Released | ReservationStatus::Expired) {
            return Err(CoreError::Internal(anyhow::anyhow!(
                "a release ends in released or expired, not {to_status}"
            )));
        }
        let (mut tx, row, lines) = self.locked_reservation(order_id).await?;
        let from = ReservationStatus::parse(&row.status).ok_or_else(|| {
            CoreError::Internal(anyhow::anyhow!(
                "reservation {order_id} has the unknown status {:?}",
                row.status
            ))
        })?;
        if !from.can_become(to_status) {
            drop(tx);
            return self.get_reservation(order_id).await; // already released, expired or failed
        }
        let (on_hand_sign, ledger_reason) = match (from, to_status) {
            (ReservationStatus::Confirmed, _) => (1, "return"),
            (_, ReservationStatus::Expired) => (0, "expire"),
            _ => (0, "release"),
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
        store::transition(&mut tx, &row.id, from, to_status, Some(reason)).await?;
        let released = StockReleased {
            order_id: order_id.to_owned(),
            store: w.code.clone(),
            lines: lines.clone(),
            reason: reason.to_owned(),
            status: to_status.as_str().to_owned(),
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
            match self.release(ctx, order_id, reason, ReservationStatus::Released).await {
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
        let (mut tx, row, lines) = self.locked_reservation(order_id).await?;
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
        let (mut tx, row, lines) = self.locked_reservation(order_id).await?;
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
            let r = self
                .release(&ctx, &order_id, "reservation expired", ReservationStatus::Expired)
                .await?;
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
        crate::trace::as_service("inventory", async move {
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
        crate::trace::as_service("inventory", async move {
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
        crate::trace::as_service("inventory", async move {
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
        crate::trace::as_service("inventory", async move {
            InventoryService::return_line(self, ctx, order_id, sku).await
        })
    }

    fn picked<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        short: Vec<Line>,
        add: Vec<Line>,
    ) -> BoxFut<'a, Result<(), CoreError>> {
        crate::trace::as_service("inventory", async move {
            InventoryService::picked(self, ctx, order_id, &short, &add).await
        })
    }
}
