//! The payment service's use cases: saved methods, charges through the provider, refunds,
//! cancellations and cash on delivery; and [`PaymentPort`], what the order saga asks of it.

use super::*;
#[path = "methods.rs"]
mod methods;

pub(super) async fn emit<E: crate::events::Event>(
    conn: &mut AnyConnection,
    p: &Payment,
    payload: &E,
) -> Result<(), sqlx::Error> {
    outbox::append(conn, &Envelope::of(Service::Payment, &p.order_id, &p.order_id, payload)).await
}

/// Payment methods, charges and refunds over one database and one provider.
#[derive(Clone)]
pub struct PaymentService {
    db: Db,
    provider: Arc<dyn Provider>,
}

impl std::fmt::Debug for PaymentService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentService")
            .field("provider", &self.provider.name())
            .finish()
    }
}

impl PaymentService {
    pub fn new(db: Db, provider: Arc<dyn Provider>) -> Self {
        PaymentService { db, provider }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    // ---- methods ----

    async fn find(&self, conn: &mut AnyConnection, order_id: &str) -> Result<Option<Payment>, sqlx::Error> {
        sqlx::query(&format!(
            "SELECT {PAYMENT_COLS} FROM payments WHERE order_id = ? AND deleted_at IS NULL"
        ))
        .bind(order_id)
        .fetch_optional(conn)
        .await?
        .map(|r| payment_from_row(&r))
        .transpose()
    }

    pub async fn for_order(&self, order_id: &str) -> Result<Payment, CoreError> {
        self.find(&mut *self.db.pool().acquire().await?, order_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("payment".to_owned()))
    }

    /// A user's payments, newest first.
    pub async fn list(&self, user_id: &str, limit: i64) -> Result<Vec<Payment>, CoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYMENT_COLS} FROM payments WHERE user_id = ? AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT ?"
        ))
        .bind(user_id)
        .bind(limit.clamp(1, 100))
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows.iter().map(payment_from_row).collect::<Result<_, _>>()?)
    }

    pub async fn refunds(&self, order_id: &str) -> Result<Vec<Refund>, CoreError> {
        let rows = sqlx::query(
            "SELECT id, amount_paise, reason, idem_key, created_at FROM refunds WHERE order_id = ? ORDER BY id",
        )
        .bind(order_id)
        .fetch_all(self.db.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Refund {
                    id: text(r, "id")?,
                    amount_paise: r.try_get("amount_paise")?,
                    reason: text(r, "reason")?,
                    key: text(r, "idem_key")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(CoreError::from)
    }

    /// Who pays, as the provider is told: the saved method's UPI id, or its card as
    /// `brand ****last4`; none for a bare kind.
    async fn payer(&self, p: &Payment) -> Result<Option<String>, CoreError> {
        let Some(id) = &p.method_id else {
            return Ok(None);
        };
        let row = sqlx::query("SELECT upi_id, card_brand, last4 FROM payment_methods WHERE id = ?")
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(match row {
            Some(r) => match (opt_text(&r, "upi_id")?, opt_text(&r, "last4")?) {
                (Some(upi), _) => Some(upi),
                (None, Some(last4)) => Some(format!(
                    "{} ****{last4}",
                    opt_text(&r, "card_brand")?.unwrap_or_default()
                )),
                _ => None,
            },
            None => None,
        })
    }

    /// Charges an order once. Asking again returns the payment as it stands; a payment left
    /// `initiated` by a crash is completed by asking the provider again with the same key.
    /// Cash on delivery records the amount due without charging.
    pub async fn charge(&self, ctx: &RequestCtx, input: ChargeInput) -> Result<Payment, CoreError> {
        if !crate::id::is_id(&input.order_id) {
            return Err(CoreError::validation("order_id", "must be an order id"));
        }
        let bad = if !crate::id::is_id(&input.user_id) {
            Some(("user_id", "must be an account id"))
        } else if input.method_id.as_deref().is_some_and(|m| !crate::id::is_id(m)) {
            Some(("method_id", "must be the id of a saved payment method"))
        } else {
            None
        };
        if let Some((field, why)) = bad {
            // A new payment needs real ids; a repeated call is answered as the first was.
            match self.for_order(&input.order_id).await {
                Err(CoreError::NotFound(_)) => return Err(CoreError::validation(field, why)),
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        if !KINDS.contains(&input.kind.as_str()) {
            return Err(CoreError::validation(
                "kind",
                format!("must be one of {}", KINDS.join(", ")),
            ));
        }
        if input.amount_paise < 0 {
            return Err(CoreError::validation("amount_paise", "must not be negative"));
        }
        let now = now_ms();
        let cod = input.kind == "cod";
        let p = Payment {
            id: new_id(),
            order_id: input.order_id.clone(),
            user_id: input.user_id.clone(),
            kind: input.kind.clone(),
            method_id: input.method_id.clone(),
            amount_paise: input.amount_paise,
            currency: "INR".to_owned(),
            status: if cod {
                PaymentStatus::CodPending
            } else {
                PaymentStatus::Initiated
            }
            .as_str()
            .to_owned(),
            captured_paise: 0,
            refunded_paise: 0,
            provider: if cod {
                "cash".to_owned()
            } else {
                self.provider.name().to_owned()
            },
            provider_ref: None,
            failure_reason: None,
            attempts: i64::from(!cod),
            created_at: ms_to_rfc3339(now),
            updated_at: ms_to_rfc3339(now),
        };
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO payments ({PAYMENT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&p.id)
        .bind(&p.order_id)
        .bind(&p.user_id)
        .bind(&p.kind)
        .bind(p.method_id.clone())
        .bind(p.amount_paise)
        .bind(&p.currency)
        .bind(&p.status)
        .bind(0_i64)
        .bind(0_i64)
        .bind(&p.provider)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(p.attempts as i32)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        let payment = match inserted {
            Ok(_) => {
                emit(&mut tx, &p, &PaymentInitiated(PaymentState::of(&p, &ctx.request_id))).await?;
                tx.commit().await?;
                p
            }
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                let existing = self.for_order(&input.order_id).await?;
                if existing.status != PaymentStatus::Initiated.as_str() {
                    return Ok(existing); // answered before (or voided by a cancellation)
                }
                sqlx::query("UPDATE payments SET attempts = attempts + 1, updated_at = ? WHERE id = ?")
                    .bind(now_ms())
                    .bind(&existing.id)
                    .write_on(&self.db)
                    .await?;
                existing
            }
            Err(e) => return Err(e.into()),
        };
        if cod {
            return Ok(payment);
        }
        let payer = self.payer(&payment).await?;
        let outcome = self.provider.charge(&payment, payer.as_deref()).await?;
        self.record_outcome(ctx, &payment, outcome).await
    }

    /// Stores the provider's answer for an `initiated` payment.
    async fn record_outcome(
        &self,
        ctx: &RequestCtx,
        p: &Payment,
        outcome: ChargeOutcome,
    ) -> Result<Payment, CoreError> {
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let (status, captured, reference, reason) = match &outcome {
            ChargeOutcome::Captured { reference } => {
                (PaymentStatus::Captured, p.amount_paise, Some(reference.clone()), None)
            }
            ChargeOutcome::Declined { reason } => (PaymentStatus::Failed, 0, None, Some(reason.clone())),
        };
        let (from, to) = PaymentStatus::Initiated.to(status)?;
        let r = sqlx::query(
            "UPDATE payments SET status = ?, captured_paise = ?, provider_ref = ?, failure_reason = ?, updated_at = ? \
             WHERE id = ? AND status = ?",
        )
        .bind(to)
        .bind(captured)
        .bind(reference.clone())
        .bind(reason.clone())
        .bind(now)
        .bind(&p.id)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        // Moved: the row is the one in hand with the outcome; not moved: read what it is.
        let current = if r.rows_affected() == 1 {
            Payment {
                status: to.to_owned(),
                captured_paise: captured,
                provider_ref: reference.clone(),
                failure_reason: reason.clone(),
                updated_at: ms_to_rfc3339(now),
                ..p.clone()
            }
        } else {
            self.find(&mut tx, &p.order_id)
                .await?
                .ok_or_else(|| CoreError::NotFound("payment".to_owned()))?
        };
        if r.rows_affected() == 1 {
            let state = PaymentState::of(&current, &ctx.request_id);
            if status == PaymentStatus::Captured {
                emit(
                    &mut tx,
                    &current,
                    &PaymentCompleted {
                        payment: state,
                        settled: None,
                    },
                )
                .await?;
            } else {
                emit(&mut tx, &current, &PaymentFailed(state)).await?;
            }
            tx.commit().await?;
            metrics::counter!("nakku_payments_total", "outcome" => to).increment(1);
            return Ok(current);
        }
        tx.commit().await?;
        // Voided while the provider was answering: money taken for a cancelled order goes back.
        if current.status == PaymentStatus::Voided.as_str() {
            if let ChargeOutcome::Captured { reference } = outcome {
                return self.refund_late_capture(ctx, &current, &reference).await;
            }
        }
        Ok(current)
    }

    async fn refund_late_capture(&self, ctx: &RequestCtx, p: &Payment, reference: &str) -> Result<Payment, CoreError> {
        let refund_ref = self.provider.refund(p, p.amount_paise, "late-capture").await?;
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let (from, to) = PaymentStatus::Voided.to(PaymentStatus::Refunded)?;
        let r = sqlx::query(
            "UPDATE payments SET status = ?, captured_paise = amount_paise, refunded_paise = amount_paise, provider_ref = ?, updated_at = ? \
             WHERE id = ? AND status = ?",
        )
        .bind(to)
        .bind(reference)
        .bind(now)
        .bind(&p.id)
        .bind(from)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 && p.amount_paise > 0 {
            self.insert_refund(
                &mut tx,
                p,
                p.amount_paise,
                "order cancelled while the charge was in flight",
                "late-capture",
                &refund_ref,
            )
            .await?;
            let current = self
                .find(&mut tx, &p.order_id)
                .await?
                .ok_or_else(|| CoreError::NotFound("payment".to_owned()))?;
            let refunded = PaymentRefunded {
                payment: PaymentState::of(&current, &ctx.request_id),
                refund_paise: p.amount_paise,
                reason: "order cancelled while the charge was in flight".to_owned(),
                key: None,
                cash_due_lowered: false,
            };
            emit(&mut tx, &current, &refunded).await?;
        }
        tx.commit().await?;
        self.for_order(&p.order_id).await
    }

    async fn insert_refund(
        &self,
        conn: &mut AnyConnection,
        p: &Payment,
        amount: i64,
        reason: &str,
        key: &str,
        provider_ref: &str,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO refunds (id, payment_id, order_id, amount_paise, reason, idem_key, provider_ref, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(new_id())
        .bind(&p.id)
        .bind(&p.order_id)
        .bind(amount)
        .bind(reason)
        .bind(key)
        .bind(provider_ref)
        .bind(now)
        .bind(now)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Refunds up to what is left of the captured amount (`amount_paise` None: all of it).
    /// The same key refunds once; asking for more than is left is a 422 and changes nothing.
    pub async fn refund(&self, ctx: &RequestCtx, order_id: &str, input: RefundInput) -> Result<Payment, CoreError> {
        let mut v = Validator::new();
        let key = v.required("key", input.key).and_then(|k| {
            let k = k.trim().to_owned();
            v.check(
                "key",
                if (1..=100).contains(&k.len()) {
                    Ok(k)
                } else {
                    Err("must be 1-100 characters".to_owned())
                },
            )
        });
        let reason = match input.reason {
            Some(r) => v.check("reason", crate::rules::parse_text(&r, 500)),
            None => Some("refund".to_owned()),
        };
        if input.amount_paise.is_some_and(|a| a <= 0) {
            v.add("amount_paise", "must be positive");
        }
        v.finish()?;
        let (Some(key), Some(reason)) = (key, reason) else {
            return Err(CoreError::validation("key", "is required"));
        };
        let p = self.for_order(order_id).await?;
        let exists = sqlx::query("SELECT 1 AS x FROM refunds WHERE payment_id = ? AND idem_key = ?")
            .bind(&p.id)
            .bind(&key)
            .fetch_optional(self.db.pool())
            .await?
            .is_some();
        if exists {
            return Ok(p); // refunded before under this key
        }
        if p.status == PaymentStatus::CodPending.as_str() {
            return self.lower_cash_due(ctx, &p, input.amount_paise, &reason, &key).await;
        }
        let left = p.captured_paise - p.refunded_paise;
        let amount = input.amount_paise.unwrap_or(left);
        if left <= 0 || amount > left {
            return Err(CoreError::validation(
                "amount_paise",
                format!(
                    "{amount} paise is more than the {left} paise left to refund (captured {}, refunded {})",
                    p.captured_paise, p.refunded_paise
                ),
            ));
        }
        let refund_ref = self.provider.refund(&p, amount, &key).await?;
        let mut tx = self.db.begin().await?;
        match self
            .insert_refund(&mut tx, &p, amount, &reason, &key, &refund_ref)
            .await
        {
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                return self.for_order(order_id).await; // a concurrent retry won
            }
            other => other?,
        }
        let from = PaymentStatus::parse(&p.status)
            .ok_or_else(|| CoreError::Internal(anyhow::anyhow!("payment {} has the status {:?}", p.id, p.status)))?;
        let (_, full) = from.to(PaymentStatus::Refunded)?;
        let (_, part) = from.to(PaymentStatus::PartiallyRefunded)?;
        let r = sqlx::query(
            "UPDATE payments SET refunded_paise = refunded_paise + ?, \
             status = CASE WHEN refunded_paise + ? >= captured_paise THEN ? ELSE ? END, updated_at = ? \
             WHERE id = ? AND refunded_paise + ? <= captured_paise",
        )
        .bind(amount)
        .bind(amount)
        .bind(full)
        .bind(part)
        .bind(now_ms())
        .bind(&p.id)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(CoreError::validation(
                "amount_paise",
                "more than is left to refund (another refund just ran)",
            ));
        }
        let current = self
            .find(&mut tx, order_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("payment".to_owned()))?;
        let refunded = PaymentRefunded {
            payment: PaymentState::of(&current, &ctx.request_id),
            refund_paise: amount,
            reason: reason.to_string(),
            key: Some(key.to_string()),
            cash_due_lowered: false,
        };
        emit(&mut tx, &current, &refunded).await?;
        tx.commit().await?;
        metrics::counter!("nakku_refunds_total").increment(1);
        Ok(current)
    }

    /// A refund before cash on delivery is collected lowers the amount the rider collects
    /// (recorded as a refund under its key, so asking again does nothing).
    /// `payment.refunded` carries `cash_due_lowered` and, as `refunded_paise`, everything
    /// taken off the order so far.
    async fn lower_cash_due(
        &self,
        ctx: &RequestCtx,
        p: &Payment,
        amount: Option<i64>,
        reason: &str,
        key: &str,
    ) -> Result<Payment, CoreError> {
        let amount =
            amount.ok_or_else(|| CoreError::validation("amount_paise", "is required before cash is collected"))?;
        let mut tx = self.db.begin().await?;
        match self
            .insert_refund(&mut tx, p, amount, reason, key, "cash-due-lowered")
            .await
        {
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                return self.for_order(&p.order_id).await;
            }
            other => other?,
        }
        let r = sqlx::query(
            "UPDATE payments SET amount_paise = amount_paise - ?, updated_at = ? WHERE id = ? AND status = ? AND amount_paise >= ?",
        )
        .bind(amount)
        .bind(now_ms())
        .bind(&p.id)
        .bind(PaymentStatus::CodPending.as_str())
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Err(CoreError::validation(
                "amount_paise",
                format!("more than the {} paise due on delivery", p.amount_paise),
            ));
        }
        let lowered: i64 =
            sqlx::query("SELECT CAST(COALESCE(SUM(amount_paise), 0) AS SIGNED) AS n FROM refunds WHERE payment_id = ?")
                .bind(&p.id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        let current = self
            .find(&mut tx, &p.order_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("payment".to_owned()))?;
        let refunded = PaymentRefunded {
            payment: PaymentState {
                refunded_paise: lowered,
                ..PaymentState::of(&current, &ctx.request_id)
            },
            refund_paise: amount,
            reason: reason.to_string(),
            key: Some(key.to_string()),
            cash_due_lowered: true,
        };
        emit(&mut tx, &current, &refunded).await?;
        tx.commit().await?;
        Ok(current)
    }

    /// The saga's compensation: nothing owed for this order any more. No payment yet →
    /// a `voided` one is recorded so a late charge takes nothing; `initiated` (a charge in
    /// flight or cut by a crash) → the provider is asked and the answer recorded, then
    /// refunded if captured; captured → refunded in full; cash due → voided.
    pub async fn cancel(&self, ctx: &RequestCtx, order_id: &str, reason: &str) -> Result<Payment, CoreError> {
        // Only real order ids: a voided record for anything else would be litter.
        if !crate::id::is_id(order_id) {
            return Err(CoreError::NotFound("payment".to_owned()));
        }
        let now = now_ms();
        let found = self.find(&mut *self.db.pool().acquire().await?, order_id).await?;
        let p = match found {
            Some(p) => p,
            None => {
                let id = new_id();
                let r = sqlx::query(&format!(
                    "INSERT INTO payments ({PAYMENT_COLS}) VALUES (?, ?, '', 'none', NULL, 0, 'INR', ?, 0, 0, 'none', NULL, ?, 0, ?, ?)"
                ))
                .bind(&id)
                .bind(order_id)
                .bind(PaymentStatus::Voided.as_str())
                .bind(reason)
                .bind(now)
                .bind(now)
                .write_on(&self.db)
                .await;
                match r {
                    Ok(_) => return self.for_order(order_id).await,
                    Err(e) if crate::error::is_unique_violation(&e) => self.for_order(order_id).await?,
                    Err(e) => return Err(e.into()),
                }
            }
        };
        match PaymentStatus::parse(&p.status) {
            Some(PaymentStatus::Initiated) => {
                let payer = self.payer(&p).await?;
                let outcome = self.provider.lookup(&p, payer.as_deref()).await?;
                let p = self.record_outcome(ctx, &p, outcome).await?;
                if p.status == PaymentStatus::Captured.as_str() {
                    return self.refund_rest(ctx, order_id, reason).await;
                }
                Ok(p)
            }
            Some(PaymentStatus::CodPending) => {
                let (from, to) = PaymentStatus::CodPending.to(PaymentStatus::Voided)?;
                let mut tx = self.db.begin().await?;
                sqlx::query(
                    "UPDATE payments SET status = ?, failure_reason = ?, updated_at = ? WHERE id = ? AND status = ?",
                )
                .bind(to)
                .bind(reason)
                .bind(now)
                .bind(&p.id)
                .bind(from)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                self.for_order(order_id).await
            }
            Some(PaymentStatus::Captured | PaymentStatus::PartiallyRefunded) => {
                self.refund_rest(ctx, order_id, reason).await
            }
            _ => Ok(p),
        }
    }

    async fn refund_rest(&self, ctx: &RequestCtx, order_id: &str, reason: &str) -> Result<Payment, CoreError> {
        let input = RefundInput {
            amount_paise: None,
            reason: Some(reason.chars().take(500).collect()),
            key: Some("order-cancelled".to_owned()),
        };
        match self.refund(ctx, order_id, input).await {
            // Nothing left (refunded before): fine for a compensation.
            Err(CoreError::Validation(_)) => self.for_order(order_id).await,
            other => other,
        }
    }

    /// Cash collected at the door: the cash-on-delivery payment becomes captured.
    pub async fn settle_cod(&self, ctx: &RequestCtx, order_id: &str) -> Result<Payment, CoreError> {
        let mut tx = self.db.begin().await?;
        let p = settle_cod_on(&mut tx, ctx, order_id).await?;
        tx.commit().await?;
        Ok(p)
    }
}

impl crate::ports::PaymentPort for PaymentService {
    fn resolve_method<'a>(
        &'a self,
        _ctx: &'a RequestCtx,
        user_id: &'a str,
        raw: &'a str,
    ) -> BoxFut<'a, Result<MethodRef, CoreError>> {
        crate::trace::as_service("payment", PaymentService::resolve_method(self, user_id, raw))
    }
    fn charge<'a>(&'a self, ctx: &'a RequestCtx, input: ChargeInput) -> BoxFut<'a, Result<Payment, CoreError>> {
        crate::trace::as_service("payment", PaymentService::charge(self, ctx, input))
    }
    fn refund<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        input: RefundInput,
    ) -> BoxFut<'a, Result<Payment, CoreError>> {
        crate::trace::as_service("payment", PaymentService::refund(self, ctx, order_id, input))
    }
    fn cancel<'a>(
        &'a self,
        ctx: &'a RequestCtx,
        order_id: &'a str,
        reason: &'a str,
    ) -> BoxFut<'a, Result<Payment, CoreError>> {
        crate::trace::as_service("payment", PaymentService::cancel(self, ctx, order_id, reason))
    }
    fn settle_cod<'a>(&'a self, ctx: &'a RequestCtx, order_id: &'a str) -> BoxFut<'a, Result<Payment, CoreError>> {
        crate::trace::as_service("payment", PaymentService::settle_cod(self, ctx, order_id))
    }
}

/// Cash handed over at the door: the order's cash-on-delivery payment becomes captured
/// (once; again is a no-op), in the caller's transaction.
pub(super) async fn settle_cod_on(
    conn: &mut AnyConnection,
    ctx: &RequestCtx,
    order_id: &str,
) -> Result<Payment, CoreError> {
    let (from, to) = PaymentStatus::CodPending.to(PaymentStatus::Captured)?;
    let r = sqlx::query(
        "UPDATE payments SET status = ?, captured_paise = amount_paise, updated_at = ? WHERE order_id = ? AND status = ?",
    )
    .bind(to)
    .bind(now_ms())
    .bind(order_id)
    .bind(from)
    .execute(&mut *conn)
    .await?;
    let p = sqlx::query(&format!(
        "SELECT {PAYMENT_COLS} FROM payments WHERE order_id = ? AND deleted_at IS NULL"
    ))
    .bind(order_id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| payment_from_row(&r))
    .transpose()?
    .ok_or_else(|| CoreError::NotFound("payment".to_owned()))?;
    if r.rows_affected() == 1 {
        let payload = PaymentCompleted {
            payment: PaymentState::of(&p, &ctx.request_id),
            settled: Some("cash".to_owned()),
        };
        emit(conn, &p, &payload).await?;
    }
    Ok(p)
}
