//! Changes to a placed order: cancellation, staff status moves, removing a line before
//! packing, and reordering. A child module of `service`, so it shares the service's private
//! helpers.

use super::*;

impl OrderService {
    /// Cancels an order before dispatch. A saga still running is asked to stop at its
    /// next step; a confirmed or packed order is refunded and its stock returned.
    pub async fn cancel(
        &self,
        _ctx: &RequestCtx,
        user_id: &str,
        staff: bool,
        id: &str,
        input: CancelInput,
    ) -> Result<OrderView, CoreError> {
        let reason = match input.reason {
            Some(r) => crate::rules::parse_text(&r, 300).map_err(|m| CoreError::validation("reason", m))?,
            None => "cancelled by the shopper".to_owned(),
        };
        let actor = if staff {
            format!("staff:{user_id}")
        } else {
            user_id.to_owned()
        };
        let mut tx = self.db.begin().await?;
        let lock = self.db.dialect().for_update();
        let row = sqlx::query(&format!(
            "SELECT {ROW_COLS} FROM orders WHERE id = ? AND deleted_at IS NULL{lock}"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| order_row(&r))
        .transpose()?
        .filter(|o| staff || o.user_id == user_id)
        .ok_or_else(|| CoreError::NotFound("order".to_owned()))?;
        match row.status.as_str() {
            "cancelled" => {
                drop(tx);
                return self.view(id).await; // cancelling twice is harmless
            }
            "out_for_delivery" | "delivered" | "failed" => {
                return Err(CoreError::conflict(
                    "status",
                    format!(
                        "the order is {}; it can no longer be cancelled",
                        row.status.replace('_', " ")
                    ),
                ))
            }
            _ => {}
        }
        if row.saga_state == "running" {
            // The saga stops at its next step boundary and compensates.
            sqlx::query("UPDATE orders SET cancel_requested = 1, next_attempt_at = ?, updated_at = ? WHERE id = ?")
                .bind(now_ms())
                .bind(now_ms())
                .bind(id)
                .execute(&mut *tx)
                .await?;
            timeline(
                &mut tx,
                id,
                &row.status,
                &format!("cancellation requested: {reason}"),
                &actor,
            )
            .await?;
        } else {
            let m = Move {
                from: &row.status,
                to: "cancelled",
                saga: "compensating",
                note: &reason,
                actor: &actor,
                failure: None,
            };
            if !self.apply_move(&mut tx, &row, &m).await? {
                return Err(CoreError::conflict("status", "the order changed meanwhile; try again"));
            }
        }
        tx.commit().await?;
        if let Err(e) = self.drive(id).await {
            tracing::warn!(order_id = id, error = %e, "compensation step failed; the recovery sweep retries it");
        }
        self.view(id).await
    }

    /// Staff move an order along after confirmation: packed, out_for_delivery, delivered.
    /// Delivering settles cash on delivery and emits `order.completed`.
    pub async fn set_status(
        &self,
        ctx: &RequestCtx,
        actor: &str,
        id: &str,
        input: StatusInput,
    ) -> Result<OrderView, CoreError> {
        let to = input.status.unwrap_or_default();
        if !super::STAFF_MOVES.contains(&to.as_str()) {
            return Err(CoreError::validation(
                "status",
                "must be packed, out_for_delivery or delivered (cancel with POST /orders/{id}/cancel)",
            ));
        }
        let reason = match input.reason {
            Some(r) => crate::rules::parse_text(&r, 300).map_err(|m| CoreError::validation("reason", m))?,
            None => to.replace('_', " "),
        };
        let mut tx = self.db.begin().await?;
        let row = self
            .load(&mut tx, id)
            .await?
            .ok_or_else(|| CoreError::NotFound("order".to_owned()))?;
        if !legal(&row.status, &to) {
            return Err(CoreError::conflict(
                "status",
                format!("an order that is {} cannot become {to}", row.status.replace('_', " ")),
            ));
        }
        if to == "delivered" && row.payment_kind == "cod" {
            drop(tx);
            self.payments.settle_cod(ctx, id).await?;
            tx = self.db.begin().await?;
        }
        let m = Move {
            from: &row.status,
            to: &to,
            saga: "done",
            note: &reason,
            actor,
            failure: None,
        };
        if !self.apply_move(&mut tx, &row, &m).await? {
            return Err(CoreError::conflict("status", "the order changed meanwhile; try again"));
        }
        tx.commit().await?;
        self.view(id).await
    }

    /// Removes a line before packing: its stock goes back and, when paid online, its amount
    /// is refunded. Retrying after a failure finishes the job (both steps are idempotent).
    pub async fn remove_line(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        staff: bool,
        id: &str,
        sku: &str,
    ) -> Result<OrderView, CoreError> {
        let row = self
            .load(&mut *self.db.pool().acquire().await?, id)
            .await?
            .filter(|o| staff || o.user_id == user_id)
            .ok_or_else(|| CoreError::NotFound("order".to_owned()))?;
        if row.status != "confirmed" {
            return Err(CoreError::conflict(
                "status",
                format!(
                    "lines can be removed once the order is confirmed and until it is packed; it is {}",
                    row.status.replace('_', " ")
                ),
            ));
        }
        let lines = sqlx::query("SELECT sku, line_total_paise, status FROM order_lines WHERE order_id = ?")
            .bind(id)
            .fetch_all(self.db.pool())
            .await?;
        let mut target = None;
        let mut live = 0;
        for l in &lines {
            let status = text(l, "status")?;
            if status != "removed" {
                live += 1;
            }
            if text(l, "sku")? == sku {
                target = Some((status, l.try_get::<i64, _>("line_total_paise")?));
            }
        }
        let Some((status, amount)) = target else {
            return Err(CoreError::NotFound("order line".to_owned()));
        };
        if status == "removed" {
            return self.view(id).await;
        }
        if live <= 1 {
            return Err(CoreError::conflict(
                "sku",
                "it is the only line left: cancel the order instead",
            ));
        }
        sqlx::query("UPDATE order_lines SET status = 'removing', updated_at = ? WHERE order_id = ? AND sku = ? AND status = 'active'")
            .bind(now_ms())
            .bind(id)
            .bind(sku)
            .write_on(&self.db)
            .await?;
        self.stock.return_line(ctx, id, sku).await?;
        let mut refunded = 0;
        if amount > 0 {
            // Paid online: refunded; cash on delivery: the amount to collect drops.
            let input = RefundInput {
                amount_paise: Some(amount),
                reason: Some(format!("{sku} removed from the order")),
                key: Some(format!("remove-{sku}")),
            };
            self.payments.refund(ctx, id, input).await?;
            if row.payment_kind != "cod" {
                refunded = amount;
            }
        }
        let mut tx = self.db.begin().await?;
        let r = sqlx::query("UPDATE order_lines SET status = 'removed', updated_at = ? WHERE order_id = ? AND sku = ? AND status = 'removing'")
            .bind(now_ms())
            .bind(id)
            .bind(sku)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 1 {
            sqlx::query(
                "UPDATE orders SET items_paise = items_paise - ?, total_paise = total_paise - ?, refunded_paise = refunded_paise + ?, \
                 version = version + 1, updated_at = ? WHERE id = ?",
            )
            .bind(amount)
            .bind(amount)
            .bind(refunded)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let note = if refunded > 0 {
                format!("{sku} removed; {} refunded", rupees(refunded))
            } else {
                format!("{sku} removed")
            };
            timeline(&mut tx, id, &row.status, &note, user_id).await?;
            let env = Envelope::of(
                Service::Order,
                id,
                id,
                &OrderUpdated {
                    sku: Some(sku.to_owned()),
                    refunded_paise: Some(refunded),
                    request_id: Some(ctx.request_id.clone()),
                    ..OrderUpdated::change(id, &row.user_id, &row.store, &row.status, OrderChange::LineRemoved)
                },
            );
            outbox::append(&mut tx, &env).await?;
        }
        tx.commit().await?;
        self.view(id).await
    }

    /// Puts an earlier order's lines back in the shopper's cart at current prices.
    pub async fn reorder(&self, ctx: &RequestCtx, user_id: &str, id: &str) -> Result<Value, CoreError> {
        let row = self
            .load(&mut *self.db.pool().acquire().await?, id)
            .await?
            .filter(|o| o.user_id == user_id)
            .ok_or_else(|| CoreError::NotFound("order".to_owned()))?;
        let lines: Vec<(String, i64)> = sqlx::query(
            "SELECT sku, quantity FROM order_lines WHERE order_id = ? AND status <> 'removed' ORDER BY sku",
        )
        .bind(id)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|l| Ok((text(l, "sku")?, l.try_get::<i64, _>("quantity")?)))
        .collect::<Result<_, sqlx::Error>>()?;
        self.carts.add_lines(ctx, user_id, &row.store, lines).await
    }

    /// Records a status move (conditional on the current status), its timeline entry and
    /// its events, in the caller's transaction. False when the order was no longer `from`.
    pub(in crate::order) async fn apply_move(
        &self,
        conn: &mut AnyConnection,
        row: &OrderRow,
        m: &Move<'_>,
    ) -> Result<bool, CoreError> {
        apply_move(conn, row, m).await
    }

    /// Lines the saga reserves.
    pub(in crate::order) async fn reservation_lines(&self, id: &str) -> Result<Vec<Line>, CoreError> {
        Ok(
            sqlx::query(
                "SELECT sku, quantity FROM order_lines WHERE order_id = ? AND status <> 'removed' ORDER BY sku",
            )
            .bind(id)
            .fetch_all(self.db.pool())
            .await?
            .iter()
            .map(|l| {
                Ok(Line {
                    sku: text(l, "sku")?,
                    quantity: l.try_get("quantity")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?,
        )
    }
}
