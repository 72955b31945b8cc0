//! The order saga, orchestrated by the order service.
//!
//! The saga's state is the order row (`status`, `saga_state`, `cancel_requested`,
//! `attempts`, `step_started_at`, `next_attempt_at`, `lease_until`). The next step is a pure
//! function of that row ([`next_step`]); every step calls another service through an
//! idempotent port (reserve and charge are keyed by the order id, release and refund are
//! safe to repeat), then records the outcome with a conditional status move. So a step
//! cut short by a crash is simply run again, by whichever instance next takes the order's
//! lease: the driver started right after placing, or the recovery sweep
//! ([`OrderService::recover_due`]) that every instance runs once a second.
//!
//! Compensation: a failed reservation fails the order (nothing is held); a declined
//! payment releases the stock and fails it; a reservation that expired before payment
//! completed is refunded and failed; a cancellation refunds what was captured and returns
//! the stock. A step that stays unanswered beyond the step timeout is resolved by
//! compensating. Compensation itself retries until it succeeds.

use crate::db::WriteOn;
use std::time::Duration;
use tracing::Instrument;

use super::service::{order_row, Move, OrderRow, OrderService, ROW_COLS};
use crate::error::CoreError;
use crate::id::now_ms;
use crate::inventory::events::Line;
use crate::ports::ChargeInput;
use crate::RequestCtx;

/// What the saga does next for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Reserve,
    Charge,
    /// Cash on delivery: record the amount due, then confirm the stock.
    ConfirmCod,
    Confirm,
    /// A cancellation asked for while the saga ran.
    Cancel,
    /// Picking changed the order: correct the stock and refund the difference.
    Adjust,
    /// Record the cash due of an order confirmed while payments were down.
    RecordCashDue,
    Compensate,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Reserve,
        Step::Charge,
        Step::ConfirmCod,
        Step::Confirm,
        Step::Cancel,
        Step::Adjust,
        Step::RecordCashDue,
        Step::Compensate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Reserve => "reserve_stock",
            Step::Charge => "charge_payment",
            Step::ConfirmCod => "confirm_cash_on_delivery",
            Step::Confirm => "confirm_stock",
            Step::Cancel => "cancel",
            Step::Adjust => "apply_picking_changes",
            Step::RecordCashDue => "record_cash_due",
            Step::Compensate => "compensate",
        }
    }
}

pub(super) fn next_step(o: &OrderRow) -> Option<Step> {
    match o.saga_state.as_str() {
        "compensating" => Some(Step::Compensate),
        "running" if o.cancel_requested => Some(Step::Cancel),
        "running" if o.adjust_pending => Some(Step::Adjust),
        "running" if o.cash_due_pending => Some(Step::RecordCashDue),
        "running" => match o.status.as_str() {
            "pending" => Some(Step::Reserve),
            "stock_reserved" if o.payment_kind == "cod" => Some(Step::ConfirmCod),
            "stock_reserved" => Some(Step::Charge),
            "paid" => Some(Step::Confirm),
            _ => None,
        },
        _ => None,
    }
}

/// An order's row as the saga's next look would read it, already in hand: just placed, or
/// just written by the saga's own move.
pub(super) struct Placed {
    pub row: OrderRow,
    /// Its lines, by sku (what the reservation asks for), when in hand.
    pub lines: Option<Vec<Line>>,
}

/// What one step came to.
enum Done {
    /// Moved on (or nothing to do): look at the row again, or use the row the step's
    /// move just wrote (a move applies only over the state it was made from, so a row it
    /// wrote is the order's).
    Next(Option<Box<OrderRow>>),
    /// The order is settled.
    Finished,
}

pub(super) const SAGA: &str = "saga";

/// The cash-on-delivery record of an order: the amount due, nothing charged.
fn cash_due(o: &OrderRow) -> ChargeInput {
    ChargeInput {
        order_id: o.id.clone(),
        user_id: o.user_id.clone(),
        amount_paise: o.total_paise,
        kind: "cod".into(),
        method_id: None,
    }
}

impl OrderService {
    /// How long a step may run. Compensation calls the provider more than once (look up,
    /// refund), so it gets three times the step timeout (at least 5 s) before it is retried;
    /// it is retried until it succeeds.
    fn timeout_of(&self, step: Step) -> Duration {
        match step {
            Step::Compensate => (self.cfg.step_timeout * 3).max(Duration::from_secs(5)),
            _ => self.cfg.step_timeout,
        }
    }

    /// A driver's lease outlives the step it runs, so a driver that died mid-step (a crash)
    /// is replaced soon after that step's timeout.
    fn lease_ms(&self, step: Step) -> i64 {
        self.timeout_of(step).as_millis() as i64 + 5_000
    }

    /// The lease a placing request takes with the order's insert.
    pub(super) fn first_lease(&self, now: i64) -> i64 {
        now + self.lease_ms(Step::Reserve)
    }

    /// Takes the order's lease: only one driver at a time, across instances. Returns when
    /// the lease ends, if taken.
    async fn claim(&self, id: &str) -> Result<Option<i64>, CoreError> {
        let now = now_ms();
        let until = now + self.lease_ms(Step::Reserve);
        let r =
            sqlx::query("UPDATE orders SET lease_until = ? WHERE id = ? AND lease_until < ? AND saga_state <> 'done'")
                .bind(until)
                .bind(id)
                .bind(now)
                .write_on(&self.db)
                .await?;
        Ok((r.rows_affected() == 1).then_some(until))
    }

    /// Gives the lease back (a saga that ended gave it back with its last move).
    async fn unlease(&self, id: &str) -> Result<(), CoreError> {
        sqlx::query("UPDATE orders SET lease_until = 0 WHERE id = ?")
            .bind(id)
            .write_on(&self.db)
            .await?;
        Ok(())
    }

    /// Runs the order's saga as far as it can go now. Returns quietly when another driver
    /// holds the order; a step that fails is recorded and scheduled for a retry.
    pub async fn drive(&self, id: &str) -> Result<(), CoreError> {
        let Some(lease) = self.claim(id).await? else {
            return Ok(());
        };
        self.drive_leased(id, lease).await
    }

    /// Drives an order whose lease this caller holds until `lease`, then gives it back.
    pub(super) async fn drive_leased(&self, id: &str, lease: i64) -> Result<(), CoreError> {
        self.drive_leased_from(id, lease, None).await
    }

    /// [`Self::drive_leased`] for an order just placed: its row and lines are in hand, so the
    /// first step reads neither. (Like every step after a move the saga made, which starts
    /// from the row that move wrote: a cancellation that landed meanwhile is seen at the
    /// next forward move, which does not apply over it; the saga then looks again, and
    /// compensation undoes by order id whatever the steps did.)
    pub(super) async fn drive_placed(&self, placed: Placed, lease: i64) -> Result<(), CoreError> {
        let id = placed.row.id.clone();
        self.drive_leased_from(&id, lease, Some(placed)).await
    }

    async fn drive_leased_from(&self, id: &str, lease: i64, placed: Option<Placed>) -> Result<(), CoreError> {
        match self.drive_claimed(id, lease, placed).await {
            Ok(true) => Ok(()),
            Ok(false) => self.unlease(id).await,
            Err(e) => {
                self.unlease(id).await?;
                Err(e)
            }
        }
    }

    /// True when the saga ended (its last move gave the lease back).
    async fn drive_claimed(&self, id: &str, mut lease: i64, mut in_hand: Option<Placed>) -> Result<bool, CoreError> {
        let ctx = RequestCtx {
            request_id: id.to_owned(),
            user_agent: None,
        };
        for _ in 0..16 {
            let (o, lines) = match in_hand.take() {
                Some(p) => (p.row, p.lines),
                None => match self.load(&mut *self.db.pool().acquire().await?, id).await? {
                    Some(o) => (o, None),
                    None => return Ok(false),
                },
            };
            let Some(step) = next_step(&o) else {
                return Ok(o.saga_state == "done");
            };
            let limit = self.timeout_of(step);
            // Renew only when this step could outlast the lease (steps usually take ms).
            if now_ms() + limit.as_millis() as i64 + 1_000 > lease {
                lease = now_ms() + self.lease_ms(step);
                sqlx::query("UPDATE orders SET lease_until = ? WHERE id = ?")
                    .bind(lease)
                    .bind(id)
                    .write_on(&self.db)
                    .await?;
            }
            let span = step_span(&o.id, step);
            let outcome = tokio::time::timeout(limit, self.run(&ctx, &o, step, lines))
                .instrument(span)
                .await;
            let error = match outcome {
                Ok(Ok(Done::Next(row))) => {
                    in_hand = row.map(|row| Placed { row: *row, lines: None });
                    continue;
                }
                Ok(Ok(Done::Finished)) => return Ok(true),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("{} did not answer within {} s", step.name(), limit.as_secs()),
            };
            self.step_failed(&o, step, &error).await?;
            return Ok(false);
        }
        Ok(false)
    }

    /// A step errored or timed out: retry later with backoff; past the step timeout, a
    /// forward step gives up and compensates.
    async fn step_failed(&self, o: &OrderRow, step: Step, error: &str) -> Result<(), CoreError> {
        let now = now_ms();
        let overdue = now - o.step_started_at >= self.cfg.step_timeout.as_millis() as i64;
        metrics::counter!("nakku_saga_step_failures_total", "step" => step.name()).increment(1);
        if overdue && matches!(step, Step::Reserve | Step::Charge | Step::Confirm | Step::ConfirmCod) {
            let reason = format!(
                "{} did not succeed within {} s: {error}",
                step.name(),
                self.cfg.step_timeout.as_secs()
            );
            tracing::warn!(order_id = %o.id, step = step.name(), %reason, "saga step timed out; compensating");
            let mut tx = self.db.begin().await?;
            let m = Move {
                from: &o.status,
                to: "failed",
                saga: "compensating",
                note: &reason,
                actor: SAGA,
                failure: Some(&reason),
            };
            self.apply_move(&mut tx, o, &m).await?;
            tx.commit().await?;
            return Ok(());
        }
        // Up to 0.2 s doubling per attempt to 10 s, jittered.
        let backoff = crate::retry::backoff_ms(o.attempts + 1, Duration::from_millis(200), Duration::from_secs(10));
        tracing::warn!(order_id = %o.id, step = step.name(), attempt = o.attempts + 1, error, "saga step failed; retrying");
        sqlx::query("UPDATE orders SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?")
            .bind(error.chars().take(500).collect::<String>())
            .bind(now + backoff)
            .bind(&o.id)
            .write_on(&self.db)
            .await?;
        Ok(())
    }

    /// Runs one step; `lines`: the order's lines when in hand (else read for a reservation).
    async fn run(
        &self,
        ctx: &RequestCtx,
        o: &OrderRow,
        step: Step,
        lines: Option<Vec<Line>>,
    ) -> Result<Done, CoreError> {
        match step {
            Step::Reserve => {
                let lines = match lines {
                    Some(l) => l,
                    None => self.reservation_lines(&o.id).await?,
                };
                let r = self.stock.reserve(ctx, &o.id, &o.store, lines).await?;
                if r.status == "held" {
                    self.advance(
                        o,
                        "stock_reserved",
                        "running",
                        &format!("stock reserved at {}", o.store),
                        None,
                    )
                    .await
                } else {
                    let why = format!(
                        "stock could not be reserved: {}",
                        r.reason.as_deref().unwrap_or(&r.status)
                    );
                    // Nothing is held; compensation still runs so a late charge cannot happen.
                    self.advance(o, "failed", "compensating", &why, Some(&why)).await
                }
            }
            Step::Charge => {
                let input = ChargeInput {
                    order_id: o.id.clone(),
                    user_id: o.user_id.clone(),
                    amount_paise: o.total_paise,
                    kind: o.payment_kind.clone(),
                    method_id: o.payment_method_id.clone(),
                };
                let p = self.payments.charge(ctx, input).await?;
                match p.status.as_str() {
                    "captured" => {
                        self.advance(
                            o,
                            "paid",
                            "running",
                            &format!("paid {} by {}", crate::money::rupees(p.captured_paise), o.payment_kind),
                            None,
                        )
                        .await
                    }
                    "failed" | "voided" => {
                        let why = format!("payment failed: {}", p.failure_reason.as_deref().unwrap_or(&p.status));
                        self.advance(o, "failed", "compensating", &why, Some(&why)).await
                    }
                    other => Err(CoreError::Unavailable(format!("payment is {other}; asking again"))),
                }
            }
            Step::ConfirmCod => {
                match self.payments.charge(ctx, cash_due(o)).await {
                    Ok(p) if p.status == "voided" => {
                        let why = "payment was cancelled".to_owned();
                        self.advance(o, "failed", "compensating", &why, Some(&why)).await
                    }
                    Ok(_) => self.confirm(ctx, o, "confirmed: cash on delivery").await,
                    // Degraded: cash needs nothing now; the amount due is recorded later.
                    Err(CoreError::Unavailable(why)) => {
                        tracing::warn!(order_id = %o.id, %why, "payments unreachable: confirming cash on delivery, recording the amount due later");
                        self.confirm_cash_later(ctx, o).await
                    }
                    Err(e) => Err(e),
                }
            }
            Step::Confirm => self.confirm(ctx, o, "confirmed").await,
            Step::Adjust => self.adjust(ctx, o).await,
            Step::RecordCashDue => {
                self.payments.charge(ctx, cash_due(o)).await?;
                let mut tx = self.db.begin().await?;
                let r = sqlx::query(
                    // The lease first: MySQL applies SET clauses in order, SQLite on the old row.
                    "UPDATE orders SET \
                     lease_until = CASE WHEN saga_state = 'running' AND (adjustment IS NULL OR adjusted_at IS NOT NULL) THEN 0 ELSE lease_until END, \
                     saga_state = CASE WHEN saga_state = 'running' AND (adjustment IS NULL OR adjusted_at IS NOT NULL) THEN 'done' ELSE saga_state END, \
                     cash_due_pending = 0, attempts = 0, last_error = NULL, version = version + 1, updated_at = ? WHERE id = ? AND cash_due_pending = 1",
                )
                .bind(now_ms())
                .bind(&o.id)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 1 {
                    let note = format!(
                        "cash due of {} recorded with payments",
                        crate::money::rupees(o.total_paise)
                    );
                    super::service::timeline(&mut tx, &o.id, &o.status, &note, SAGA).await?;
                }
                tx.commit().await?;
                Ok(Done::Next(None))
            }
            Step::Cancel => {
                let reason = "cancelled by request while the order was being placed".to_owned();
                self.advance(o, "cancelled", "compensating", &reason, None).await
            }
            Step::Compensate => {
                let reason = o
                    .failure_reason
                    .clone()
                    .unwrap_or_else(|| format!("order {}", o.status));
                let p = self.payments.cancel(ctx, &o.id, &reason).await?;
                self.stock.release(ctx, &o.id, &reason).await?;
                let mut tx = self.db.begin().await?;
                let r = sqlx::query(
                    "UPDATE orders SET saga_state = 'done', refunded_paise = ?, attempts = 0, last_error = NULL, lease_until = 0, version = version + 1, updated_at = ? \
                     WHERE id = ? AND saga_state = 'compensating'",
                )
                .bind(p.refunded_paise)
                .bind(now_ms())
                .bind(&o.id)
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() == 1 {
                    let note = if p.refunded_paise > 0 {
                        format!(
                            "compensated: {} refunded, stock released",
                            crate::money::rupees(p.refunded_paise)
                        )
                    } else {
                        "compensated: stock released, nothing charged".to_owned()
                    };
                    super::service::timeline(&mut tx, &o.id, &o.status, &note, SAGA).await?;
                }
                tx.commit().await?;
                metrics::counter!("nakku_saga_compensations_total").increment(1);
                Ok(Done::Finished)
            }
        }
    }

    /// Applies what picking changed (recorded from `delivery.packed`): the inventory drops
    /// the missing units and sells the substitutes (once per order), the payment refunds the
    /// difference (or, for cash on delivery, lowers the amount due), under the key `picking`.
    async fn adjust(&self, ctx: &RequestCtx, o: &OrderRow) -> Result<Done, CoreError> {
        let row = sqlx::query("SELECT adjustment FROM orders WHERE id = ?")
            .bind(&o.id)
            .fetch_one(self.db.pool())
            .await?;
        let raw = crate::db::opt_text(&row, "adjustment")?;
        let adj: serde_json::Value = raw
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok())
            .ok_or_else(|| {
                CoreError::Internal(anyhow::anyhow!("order {} has an unreadable picking adjustment", o.id))
            })?;
        let mut short = Vec::new();
        let mut add = Vec::new();
        for c in adj["changes"].as_array().into_iter().flatten() {
            if let (Some(sku), Some(n)) = (c["sku"].as_str(), c["missing"].as_i64()) {
                if n > 0 {
                    short.push(crate::inventory::events::Line {
                        sku: sku.to_owned(),
                        quantity: n,
                    });
                }
            }
            if let (Some(sku), Some(n)) = (c["substitute"]["sku"].as_str(), c["substitute"]["quantity"].as_i64()) {
                add.push(crate::inventory::events::Line {
                    sku: sku.to_owned(),
                    quantity: n,
                });
            }
        }
        self.stock.picked(ctx, &o.id, short, add).await?;
        let refund = adj["refund_paise"].as_i64().unwrap_or(0);
        if refund > 0 {
            let input = crate::ports::RefundInput {
                amount_paise: Some(refund),
                reason: Some("items not found at picking".into()),
                key: Some("picking".into()),
            };
            self.payments.refund(ctx, &o.id, input).await?;
        }
        let refunded = if o.payment_kind == "cod" { 0 } else { refund };
        let mut tx = self.db.begin().await?;
        let r = sqlx::query(
            // The lease first: MySQL applies SET clauses in order, SQLite on the old row.
            "UPDATE orders SET lease_until = CASE WHEN saga_state = 'running' AND cash_due_pending = 0 THEN 0 ELSE lease_until END, \
             saga_state = CASE WHEN saga_state = 'running' AND cash_due_pending = 0 THEN 'done' ELSE saga_state END, \
             adjusted_at = ?, refunded_paise = refunded_paise + ?, attempts = 0, last_error = NULL, \
             version = version + 1, updated_at = ? WHERE id = ? AND adjusted_at IS NULL",
        )
        .bind(now_ms())
        .bind(refunded)
        .bind(now_ms())
        .bind(&o.id)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() == 1 {
            let note = match (refund, o.payment_kind.as_str()) {
                (0, _) => "picking changes applied: substitutes at the same price".to_owned(),
                (r, "cod") => format!(
                    "picking changes applied: {} less to pay on delivery",
                    crate::money::rupees(r)
                ),
                (r, _) => format!("picking changes applied: {} refunded", crate::money::rupees(r)),
            };
            super::service::timeline(&mut tx, &o.id, &o.status, &note, SAGA).await?;
            let env = crate::events::Envelope::of(
                crate::service::Service::Order,
                &o.id,
                &o.id,
                &super::events::OrderUpdated {
                    refund_paise: Some(refund),
                    refunded_paise: Some(refunded),
                    ..super::events::OrderUpdated::change(
                        &o.id,
                        &o.user_id,
                        &o.store,
                        &o.status,
                        super::events::OrderChange::PickingApplied,
                    )
                },
            );
            crate::events::outbox::append(&mut tx, &env).await?;
        }
        tx.commit().await?;
        Ok(Done::Next(None))
    }

    /// Cash on delivery while payments are down: the stock is confirmed and the order with
    /// it; the saga stays running to record the amount due once payments answer.
    async fn confirm_cash_later(&self, ctx: &RequestCtx, o: &OrderRow) -> Result<Done, CoreError> {
        match self.stock.confirm(ctx, &o.id).await {
            Ok(_) => {
                let mut tx = self.db.begin().await?;
                sqlx::query("UPDATE orders SET cash_due_pending = 1 WHERE id = ? AND status = ?")
                    .bind(&o.id)
                    .bind(&o.status)
                    .execute(&mut *tx)
                    .await?;
                let m = Move {
                    from: &o.status,
                    to: "confirmed",
                    saga: "running",
                    note: "confirmed: cash on delivery (payments are unreachable; the amount due is recorded once they are back)",
                    actor: SAGA,
                    failure: None,
                };
                self.apply_move(&mut tx, o, &m).await?;
                tx.commit().await?;
                Ok(Done::Next(None))
            }
            Err(CoreError::Conflict { message, .. }) => {
                let why = format!("the stock hold ended before the order was confirmed: {message}");
                self.advance(o, "failed", "compensating", &why, Some(&why)).await
            }
            Err(e) => Err(e),
        }
    }

    async fn confirm(&self, ctx: &RequestCtx, o: &OrderRow, note: &str) -> Result<Done, CoreError> {
        match self.stock.confirm(ctx, &o.id).await {
            Ok(_) => self.advance(o, "confirmed", "done", note, None).await,
            Err(CoreError::Conflict { message, .. }) => {
                let why = format!("the stock hold ended before the order was confirmed: {message}");
                self.advance(o, "failed", "compensating", &why, Some(&why)).await
            }
            Err(e) => Err(e),
        }
    }

    async fn advance(
        &self,
        o: &OrderRow,
        to: &str,
        saga: &str,
        note: &str,
        failure: Option<&str>,
    ) -> Result<Done, CoreError> {
        let m = Move {
            from: &o.status,
            to,
            saga,
            note,
            actor: SAGA,
            failure,
        };
        // A move that no longer applies (a cancel landed) is fine: the next look decides.
        let moved = self.write_move(o, &m).await?;
        Ok(if moved && saga == "done" {
            Done::Finished
        } else if moved {
            // What the move wrote (its UPDATE's columns); a cancellation asked for after
            // it is seen by the next forward move, which does not apply over it.
            Done::Next(Some(Box::new(OrderRow {
                status: to.to_owned(),
                saga_state: saga.to_owned(),
                failure_reason: failure.map(str::to_owned).or_else(|| o.failure_reason.clone()),
                attempts: 0,
                step_started_at: now_ms(),
                ..o.clone()
            })))
        } else {
            Done::Next(None)
        })
    }

    /// Writes one saga move: through the writer, sharing a transaction with the moves of
    /// other orders, or alone (no writer, or its batch failed). True when it applied.
    async fn write_move(&self, o: &OrderRow, m: &Move<'_>) -> Result<bool, CoreError> {
        if let Some(writer) = &self.moves {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let req = super::service::moves::Request {
                row: o.clone(),
                to: m.to.to_owned(),
                saga: m.saga.to_owned(),
                note: m.note.to_owned(),
                failure: m.failure.map(str::to_owned),
                events: super::service::move_events(o, m),
            };
            // A writer that is gone (its runtime shutting down) leaves the move to be
            // written alone, as does a batch that failed.
            if writer.send(super::service::moves::Pending { req, reply }).await.is_ok() {
                if let Ok(Some(moved)) = answer.await {
                    return Ok(moved);
                }
            }
        }
        let mut tx = self.db.begin().await?;
        let moved = self.apply_move(&mut tx, o, m).await?;
        tx.commit().await?;
        Ok(moved)
    }

    /// Drives every order whose saga is due and not held by a live driver (after a crash,
    /// a retry delay, or a placement whose driver never started). Returns how many it took.
    pub async fn recover_due(&self, limit: i64) -> Result<usize, CoreError> {
        let now = now_ms();
        let ids: Vec<String> = sqlx::query(&format!(
            "SELECT {ROW_COLS} FROM orders WHERE saga_state IN ('running', 'compensating') AND next_attempt_at <= ? AND lease_until < ? \
             ORDER BY next_attempt_at LIMIT ?"
        ))
        .bind(now)
        .bind(now)
        .bind(limit)
        .fetch_all(self.db.pool())
        .await?
        .iter()
        .map(|r| order_row(r).map(|o| o.id))
        .collect::<Result<_, sqlx::Error>>()?;
        let n = ids.len();
        let mut set = tokio::task::JoinSet::new();
        for id in ids {
            let me = self.clone();
            set.spawn(
                async move {
                    if let Err(e) = me.drive(&id).await {
                        tracing::warn!(order_id = id, error = %e, "saga recovery step failed");
                    }
                }
                .in_current_span(),
            );
            while set.len() >= 32 {
                set.join_next().await;
            }
        }
        while set.join_next().await.is_some() {}
        Ok(n)
    }

    /// Orders whose saga has not finished, by state (for health and the dashboard).
    pub async fn saga_backlog(&self) -> Result<(i64, i64), CoreError> {
        let r = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN saga_state = 'running' THEN 1 ELSE 0 END), 0) AS SIGNED) AS running, \
             CAST(COALESCE(SUM(CASE WHEN saga_state = 'compensating' THEN 1 ELSE 0 END), 0) AS SIGNED) AS compensating \
             FROM orders WHERE saga_state <> 'done'",
        )
        .fetch_one(self.db.pool())
        .await?;
        use sqlx::Row;
        Ok((r.try_get("running")?, r.try_get("compensating")?))
    }
}

/// How often the recovery sweep looks for due sagas.
pub const SWEEP_EVERY: Duration = Duration::from_millis(500);

/// The saga's decision, given an order row, when it is driven next: what it does, and which
/// signal wins when several are raised at once.
/// The span one saga step runs in (its calls to other services are its children). No
/// span while tracing is off.
fn step_span(order_id: &str, step: Step) -> tracing::Span {
    if !crate::trace::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "saga step",
        otel.name = format!("saga {}", step.name()),
        order_id,
        step = step.name(),
        trace_id = tracing::field::Empty,
    );
    crate::trace::adopt(&span, None);
    span
}

#[cfg(test)]
pub(in crate::order) mod tests;
