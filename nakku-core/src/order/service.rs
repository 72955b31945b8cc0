//! Order use cases: placing (idempotent per key), reading, history, cancellation, line
//! removal, reorder and the staff's status moves. The saga itself is in [`super::saga`].

use crate::db::WriteOn;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::events::*;
use super::*;
use crate::db::{opt_text, text, Db};
use crate::error::{CoreError, Validator};
use crate::events::{outbox, Envelope};
use crate::id::{is_id, ms_to_rfc3339, new_id, now_ms, parse_day, stable_hash};
use crate::inventory::events::Line;
use crate::money::rupees;
use crate::ports::RefundInput;
use crate::ports::StockPort;
use crate::ports::{CartPort, PaymentPort, Quote};
use crate::service::Service;
use crate::RequestCtx;

/// Settings of the order service.
#[derive(Debug, Clone)]
pub struct OrderConfig {
    /// A reservation or payment unanswered this long is resolved by compensation.
    pub step_timeout: Duration,
    /// Start the saga right after placing (off in tests that drive it by hand).
    pub autodrive: bool,
}

impl Default for OrderConfig {
    fn default() -> Self {
        OrderConfig {
            step_timeout: Duration::from_secs(30),
            autodrive: true,
        }
    }
}

/// Orders over one database, with the services the saga talks to.
#[derive(Clone)]
pub struct OrderService {
    pub(super) db: Db,
    pub(super) cfg: OrderConfig,
    pub(super) stock: Arc<dyn StockPort>,
    pub(super) payments: Arc<dyn PaymentPort>,
    pub(super) carts: Arc<dyn CartPort>,
    /// Delivery slots; without it only express orders are taken.
    pub(super) slots: Option<Arc<dyn crate::ports::SlotPort>>,
}

/// The order row the saga and the handlers act on.
#[derive(Debug, Clone)]
pub(super) struct OrderRow {
    pub id: String,
    pub user_id: String,
    pub store: String,
    pub status: String,
    pub payment_kind: String,
    pub payment_method_id: Option<String>,
    pub total_paise: i64,
    pub saga_state: String,
    pub cancel_requested: bool,
    pub failure_reason: Option<String>,
    pub attempts: i64,
    pub step_started_at: i64,
    /// Picking changed the order and the saga has not applied it yet.
    pub adjust_pending: bool,
    /// Confirmed for cash on delivery while payments were down: the amount due is still to
    /// be recorded with the payment service.
    pub cash_due_pending: bool,
}

pub(super) const ROW_COLS: &str =
    "id, user_id, store, status, payment_kind, payment_method_id, total_paise, saga_state, \
     cancel_requested, failure_reason, attempts, step_started_at, \
     CASE WHEN adjustment IS NOT NULL AND adjusted_at IS NULL THEN 1 ELSE 0 END AS adjust_pending, cash_due_pending";

pub(super) fn order_row(r: &AnyRow) -> Result<OrderRow, sqlx::Error> {
    Ok(OrderRow {
        id: text(r, "id")?,
        user_id: text(r, "user_id")?,
        store: text(r, "store")?,
        status: text(r, "status")?,
        payment_kind: text(r, "payment_kind")?,
        payment_method_id: opt_text(r, "payment_method_id")?,
        total_paise: r.try_get("total_paise")?,
        saga_state: text(r, "saga_state")?,
        cancel_requested: r.try_get::<i64, _>("cancel_requested")? != 0,
        failure_reason: opt_text(r, "failure_reason")?,
        attempts: r.try_get("attempts")?,
        step_started_at: r.try_get("step_started_at")?,
        adjust_pending: r.try_get::<i64, _>("adjust_pending")? != 0,
        cash_due_pending: r.try_get::<i64, _>("cash_due_pending")? != 0,
    })
}

/// One state change to record: the status move, the saga state after it, and why.
pub(super) struct Move<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub saga: &'a str,
    pub note: &'a str,
    pub actor: &'a str,
    pub failure: Option<&'a str>,
}

impl OrderService {
    pub fn new(
        db: Db,
        cfg: OrderConfig,
        stock: Arc<dyn StockPort>,
        payments: Arc<dyn PaymentPort>,
        carts: Arc<dyn CartPort>,
    ) -> Self {
        OrderService {
            db,
            cfg,
            stock,
            payments,
            carts,
            slots: None,
        }
    }

    /// Takes scheduled orders, booking their slot with the delivery service.
    pub fn with_slots(mut self, slots: Arc<dyn crate::ports::SlotPort>) -> Self {
        self.slots = Some(slots);
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub(super) async fn load(&self, conn: &mut AnyConnection, id: &str) -> Result<Option<OrderRow>, CoreError> {
        load_row(conn, id).await
    }

    /// Places an order from the shopper's cart. The same key with the same body returns the
    /// same order (`true` = replayed); the same key with another body is a 422.
    pub async fn place(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        key: Option<&str>,
        input: PlaceInput,
    ) -> Result<(OrderView, bool), CoreError> {
        self.place_order(ctx, user_id, key, input).await
    }
}

/// The order row the saga and the status moves work on.
pub(super) async fn load_row(conn: &mut AnyConnection, id: &str) -> Result<Option<OrderRow>, CoreError> {
    if !is_id(id) {
        return Ok(None);
    }
    let r = sqlx::query(&format!(
        "SELECT {ROW_COLS} FROM orders WHERE id = ? AND deleted_at IS NULL"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| order_row(&r)).transpose()?)
}

impl OrderService {
    async fn place_order(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        key: Option<&str>,
        input: PlaceInput,
    ) -> Result<(OrderView, bool), CoreError> {
        let mut v = Validator::new();
        let key = v.required("Idempotency-Key", key.map(str::trim)).and_then(|k| {
            v.check(
                "Idempotency-Key",
                if (1..=128).contains(&k.len()) && k.chars().all(|c| c.is_ascii_graphic()) {
                    Ok(k.to_owned())
                } else {
                    Err("header must be 1-128 visible ASCII characters (a UUID per checkout attempt works)".to_owned())
                },
            )
        });
        let address_id = v.required("address_id", input.address_id.clone());
        let method = v.required("payment_method", input.payment_method.clone());
        let substitution = input.substitution.clone().unwrap_or_else(|| "substitute".to_owned());
        if !SUBSTITUTIONS.contains(&substitution.as_str()) {
            v.add("substitution", format!("must be one of {}", SUBSTITUTIONS.join(", ")));
        }
        let note = match &input.note {
            Some(n) => v.check("note", crate::rules::parse_text(n, 500)),
            None => None,
        };
        let slot = match &input.slot {
            Some(raw) => v.check(
                "slot",
                crate::id::parse_rfc3339_ms(raw.trim())
                    .ok_or_else(|| "must be a slot's start as RFC 3339 (from GET /api/v1/deliveries/slots)".to_owned()),
            ),
            None => None,
        };
        if slot.is_some() && self.slots.is_none() {
            v.add(
                "slot",
                "scheduled delivery is not available here; leave slot out for express delivery",
            );
        }
        v.finish()?;
        let (Some(key), Some(address_id), Some(method)) = (key, address_id, method) else {
            return Err(CoreError::validation("address_id", "is required"));
        };
        let hash = format!(
            "{:016x}",
            stable_hash(
                serde_json::to_string(&input)
                    .map_err(|e| CoreError::Internal(e.into()))?
                    .as_bytes()
            )
        );
        if let Some(replay) = self.replay(user_id, &key, &hash).await? {
            return Ok((replay, true));
        }
        let pay = match self.payments.resolve_method(ctx, user_id, &method).await {
            Ok(p) => p,
            // Degraded: with the payment service unreachable, cash on delivery still works
            // (the amount due is recorded once it is back); online payment cannot.
            Err(CoreError::Unavailable(why)) if method.trim().eq_ignore_ascii_case("cod") => {
                tracing::warn!(%why, "payments unreachable: taking a cash-on-delivery order without them");
                crate::ports::MethodRef {
                    kind: "cod".to_owned(),
                    method_id: None,
                }
            }
            Err(CoreError::Unavailable(why)) => {
                return Err(CoreError::Unavailable(format!(
                "online payment is unavailable right now ({why}); pay cash on delivery instead (payment_method: cod)"
            )))
            }
            Err(e) => return Err(e),
        };
        let quote = self
            .carts
            .checkout(ctx, user_id, input.store.as_deref(), &address_id)
            .await?;
        check_quote(&quote, input.quote_id.as_deref())?;

        let id = new_id();
        // The slot is booked under the new order's id before the order is saved; if saving
        // fails it is given back here (or, if this process dies first, by the delivery
        // service once no order with that id arrived).
        let booking = match (slot, &self.slots) {
            (Some(start), Some(port)) => Some(port.book(ctx, &id, &quote.store, start).await?),
            _ => None,
        };
        let saved = self
            .save_order(
                ctx,
                user_id,
                &key,
                &hash,
                &id,
                &input,
                &quote,
                &pay,
                &substitution,
                note,
                booking.as_ref(),
            )
            .await;
        if !matches!(saved, Ok((_, false))) {
            if let (Some(_), Some(port)) = (&booking, &self.slots) {
                if let Err(e) = port.release(ctx, &id).await {
                    tracing::warn!(order_id = %id, error = %e, "could not give back the slot of an order not saved; the delivery service will");
                }
            }
        }
        saved
    }

    #[allow(clippy::too_many_arguments)]
    async fn save_order(
        &self,
        ctx: &RequestCtx,
        user_id: &str,
        key: &str,
        hash: &str,
        id: &str,
        input: &PlaceInput,
        quote: &Quote,
        pay: &crate::ports::MethodRef,
        substitution: &str,
        note: Option<String>,
        booking: Option<&crate::ports::SlotBooking>,
    ) -> Result<(OrderView, bool), CoreError> {
        let id = id.to_owned();
        let now = now_ms();
        let lines: Vec<&crate::ports::CartLine> = quote.lines.iter().collect();
        let quote_json = serde_json::to_string(&quote).map_err(|e| CoreError::Internal(e.into()))?;
        let address_json = serde_json::to_string(&quote.address).map_err(|e| CoreError::Internal(e.into()))?;
        // The placing request takes the saga's lease with the insert, and drives it right
        // after; if this process dies first, the recovery sweep takes over once it ends.
        let lease = if self.cfg.autodrive { self.first_lease(now) } else { 0 };
        let mut tx = self.db.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO orders (id, user_id, store, status, payment_kind, payment_method_id, substitution, address_id, address, quote, \
             items_paise, fees_paise, total_paise, refunded_paise, currency, note, idem_key, request_hash, saga_state, cancel_requested, \
             attempts, step_started_at, next_attempt_at, lease_until, version, created_at, updated_at, slot_start, slot_end) \
             VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, 'running', 0, 0, ?, ?, ?, 1, ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(&quote.store)
        .bind(&pay.kind)
        .bind(pay.method_id.clone())
        .bind(substitution)
        .bind(&input.address_id)
        .bind(&address_json)
        .bind(&quote_json)
        .bind(quote.items_paise)
        .bind(quote.fees_paise)
        .bind(quote.total_paise)
        .bind(&quote.currency)
        .bind(note)
        .bind(key)
        .bind(hash)
        .bind(now)
        .bind(now + 1_000)
        .bind(lease)
        .bind(now)
        .bind(now)
        .bind(booking.map(|b| b.start_ms))
        .bind(booking.map(|b| b.end_ms))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if crate::error::is_unique_violation(&e) => {
                drop(tx);
                // A concurrent request with the same key won the race.
                return match self.replay(user_id, key, hash).await? {
                    Some(o) => Ok((o, true)),
                    None => Err(CoreError::Internal(anyhow::anyhow!(
                        "idempotency key clash without an order"
                    ))),
                };
            }
            other => other?,
        };
        for l in &lines {
            sqlx::query(
                "INSERT INTO order_lines (order_id, sku, product_id, name, unit, unit_price_paise, mrp_paise, quantity, line_total_paise, status, created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)",
            )
            .bind(&id)
            .bind(&l.sku)
            .bind(l.product_id.clone().unwrap_or_default())
            .bind(&l.name)
            .bind(&l.unit)
            .bind(l.unit_price_paise)
            .bind(l.mrp_paise)
            .bind(l.quantity)
            .bind(l.line_total_paise)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        timeline(&mut tx, &id, "pending", "order placed", user_id).await?;
        let payload = OrderCreated {
            order_id: id.to_owned(),
            user_id: user_id.to_owned(),
            store: quote.store.clone(),
            status: "pending".to_owned(),
            lines: lines
                .iter()
                .map(|l| PlacedLine {
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    unit_price_paise: l.unit_price_paise,
                })
                .collect(),
            items_paise: quote.items_paise,
            fees_paise: quote.fees_paise,
            total_paise: quote.total_paise,
            currency: quote.currency.clone(),
            payment_kind: pay.kind.clone(),
            address: DropPoint {
                city: quote.address.city.clone(),
                pincode: quote.address.pincode.clone(),
                lat: quote.address.lat,
                lng: quote.address.lng,
            },
            substitution: substitution.to_owned(),
            slot: booking.map(|b| SlotWindow {
                start: ms_to_rfc3339(b.start_ms),
                end: ms_to_rfc3339(b.end_ms),
            }),
            request_id: ctx.request_id.clone(),
        };
        outbox::append(&mut tx, &Envelope::of(Service::Order, &id, &id, &payload)).await?;
        tx.commit().await?;
        metrics::counter!("nakku_orders_placed_total").increment(1);
        // Gross merchandise value, in minor units (₹ × 100), by currency.
        metrics::counter!("nakku_order_value_paise_total", "currency" => quote.currency.clone())
            .increment(u64::try_from(quote.total_paise).unwrap_or(0));
        if self.cfg.autodrive && tokio::runtime::Handle::try_current().is_ok() {
            let me = self.clone();
            let order_id = id.clone();
            // The saga outlives the request; its span stays in the request's trace.
            let span = if crate::trace::enabled() {
                let span = tracing::info_span!("saga", order_id = %order_id, trace_id = tracing::field::Empty);
                crate::trace::adopt(&span, None);
                span
            } else {
                tracing::Span::none()
            };
            tokio::spawn(
                async move {
                    if let Err(e) = me.drive_leased(&order_id, lease).await {
                        tracing::warn!(order_id, error = %e, "saga step failed; the recovery sweep retries it");
                    }
                }
                .instrument(span),
            );
        }
        Ok((self.view(&id).await?, false))
    }

    async fn replay(&self, user_id: &str, key: &str, hash: &str) -> Result<Option<OrderView>, CoreError> {
        let Some(r) = sqlx::query("SELECT id, request_hash FROM orders WHERE user_id = ? AND idem_key = ?")
            .bind(user_id)
            .bind(key)
            .fetch_optional(self.db.pool())
            .await?
        else {
            return Ok(None);
        };
        if text(&r, "request_hash")? != hash {
            return Err(CoreError::validation(
                "Idempotency-Key",
                "was already used for a different order request; use a new key for a new order",
            ));
        }
        Ok(Some(self.view(&text(&r, "id")?).await?))
    }

    /// The full order: lines, fees as shown, saga state and timeline.
    pub async fn view(&self, id: &str) -> Result<OrderView, CoreError> {
        let mut conn = self.db.pool().acquire().await?;
        let r = sqlx::query(
            "SELECT id, user_id, store, status, payment_kind, payment_method_id, substitution, address, quote, items_paise, fees_paise, \
             total_paise, refunded_paise, currency, note, saga_state, cancel_requested, failure_reason, last_error, attempts, \
             step_started_at, next_attempt_at, version, created_at, updated_at, slot_start, slot_end, adjustment, adjusted_at, \
             CASE WHEN adjustment IS NOT NULL AND adjusted_at IS NULL THEN 1 ELSE 0 END AS adjust_pending, cash_due_pending FROM orders WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| CoreError::NotFound("order".to_owned()))?;
        let lines = sqlx::query(
            "SELECT sku, product_id, name, unit, unit_price_paise, mrp_paise, quantity, line_total_paise, status FROM order_lines WHERE order_id = ? ORDER BY created_at, sku",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|l| {
            Ok(OrderLine {
                sku: text(l, "sku")?,
                product_id: text(l, "product_id")?,
                name: text(l, "name")?,
                unit: text(l, "unit")?,
                unit_price_paise: l.try_get("unit_price_paise")?,
                mrp_paise: l.try_get("mrp_paise")?,
                quantity: l.try_get("quantity")?,
                line_total_paise: l.try_get("line_total_paise")?,
                status: text(l, "status")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()?;
        let timeline =
            sqlx::query("SELECT status, note, actor, created_at FROM order_timeline WHERE order_id = ? ORDER BY id")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|t| {
                    Ok(TimelineEntry {
                        status: text(t, "status")?,
                        note: opt_text(t, "note")?,
                        actor: opt_text(t, "actor")?,
                        at: ms_to_rfc3339(t.try_get("created_at")?),
                    })
                })
                .collect::<Result<_, sqlx::Error>>()?;
        // The stored checkout; an unreadable one shows no fees rather than failing the view.
        let quote: Value = serde_json::from_str(&text(&r, "quote")?).unwrap_or(Value::Null);
        let row = order_row(&r)?;
        let step = super::saga::next_step(&row).map(|s| s.name().to_owned());
        let adjusted_at = r.try_get::<Option<i64>, _>("adjusted_at")?;
        let picking = opt_text(&r, "adjustment")?
            .and_then(|a| serde_json::from_str::<Picking>(&a).ok())
            .map(|p| Picking {
                applied_at: adjusted_at.map(ms_to_rfc3339),
                ..p
            });
        let delivery_slot = match (
            r.try_get::<Option<i64>, _>("slot_start")?,
            r.try_get::<Option<i64>, _>("slot_end")?,
        ) {
            (Some(a), Some(b)) => Some(SlotWindow {
                start: ms_to_rfc3339(a),
                end: ms_to_rfc3339(b),
            }),
            _ => None,
        };
        Ok(OrderView {
            payment: PaymentChoice {
                kind: row.payment_kind.clone(),
                method_id: row.payment_method_id.clone(),
            },
            substitution: text(&r, "substitution")?,
            note: opt_text(&r, "note")?,
            address: serde_json::from_str(&text(&r, "address")?).ok(),
            lines,
            items_paise: r.try_get("items_paise")?,
            fees: serde_json::from_value(quote["fees"].clone()).unwrap_or_default(),
            fees_paise: r.try_get("fees_paise")?,
            total_paise: row.total_paise,
            refunded_paise: r.try_get("refunded_paise")?,
            currency: text(&r, "currency")?,
            eta_minutes: quote["eta_minutes"].as_i64(),
            quote_id: quote["quote_id"].as_str().map(str::to_owned),
            picking,
            delivery_slot,
            saga: SagaView {
                state: row.saga_state.clone(),
                next_step: step,
                attempts: row.attempts,
                last_error: opt_text(&r, "last_error")?,
                cancel_requested: row.cancel_requested,
                step_started_at: ms_to_rfc3339(row.step_started_at),
            },
            failure_reason: row.failure_reason.clone(),
            timeline,
            version: r.try_get("version")?,
            created_at: ms_to_rfc3339(r.try_get("created_at")?),
            updated_at: ms_to_rfc3339(r.try_get("updated_at")?),
            id: row.id,
            user_id: row.user_id,
            store: row.store,
            status: row.status,
        })
    }

    /// An order its owner or staff may see; anyone else gets 404.
    pub async fn get(&self, user_id: &str, staff: bool, id: &str) -> Result<OrderView, CoreError> {
        let row = self
            .load(&mut *self.db.pool().acquire().await?, id)
            .await?
            .filter(|o| staff || o.user_id == user_id)
            .ok_or_else(|| CoreError::NotFound("order".to_owned()))?;
        self.view(&row.id).await
    }

    /// History, newest first: a shopper's own orders, or (staff) any with filters.
    pub async fn list(&self, user_id: &str, staff: bool, q: ListQuery) -> Result<OrderPage, CoreError> {
        let mut v = Validator::new();
        let limit = q.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            v.add("limit", "must be from 1 to 100");
        }
        if let Some(s) = &q.status {
            if !STATUSES[..9].contains(&s.as_str()) {
                v.add("status", format!("must be one of {}", STATUSES[..9].join(", ")));
            }
        }
        let from = q.from.as_deref().and_then(|f| v.check("from", parse_day(f, false)));
        let to = q.to.as_deref().and_then(|t| v.check("to", parse_day(t, true)));
        let cursor = q.cursor.as_deref().and_then(|c| {
            v.check(
                "cursor",
                c.split_once('_')
                    .and_then(|(ms, id)| Some((ms.parse::<i64>().ok()?, id.to_owned())))
                    .filter(|(_, id)| is_id(id))
                    .ok_or_else(|| "is not a cursor from this list".to_owned()),
            )
        });
        if !staff && (q.user_id.is_some() || q.store.is_some()) {
            v.add("user_id", "only staff can list other shoppers' orders");
        }
        v.finish()?;
        let mut sql = "SELECT id, created_at FROM orders WHERE deleted_at IS NULL".to_owned();
        let mut binds: Vec<Value> = Vec::new();
        let who = if staff {
            q.user_id.clone()
        } else {
            Some(user_id.to_owned())
        };
        if let Some(u) = who {
            sql.push_str(" AND user_id = ?");
            binds.push(json!(u));
        }
        if let Some(s) = q.store.clone() {
            sql.push_str(" AND store = ?");
            binds.push(json!(s.to_ascii_uppercase()));
        }
        if let Some(s) = q.status.clone() {
            sql.push_str(" AND status = ?");
            binds.push(json!(s));
        }
        if let Some(f) = from {
            sql.push_str(" AND created_at >= ?");
            binds.push(json!(f));
        }
        if let Some(t) = to {
            sql.push_str(" AND created_at <= ?");
            binds.push(json!(t));
        }
        if let Some((ms, id)) = cursor {
            sql.push_str(" AND (created_at < ? OR (created_at = ? AND id < ?))");
            binds.extend([json!(ms), json!(ms), json!(id)]);
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        binds.push(json!(limit + 1));
        let mut query = sqlx::query(&sql);
        for b in &binds {
            query = match b {
                Value::String(s) => query.bind(s.clone()),
                other => query.bind(other.as_i64().unwrap_or_default()),
            };
        }
        let rows = query.fetch_all(self.db.pool()).await?;
        let mut items = Vec::new();
        let mut next = None;
        for (i, r) in rows.iter().enumerate() {
            if i as i64 == limit {
                break;
            }
            let id = text(r, "id")?;
            if i as i64 == limit - 1 && rows.len() as i64 > limit {
                next = Some(format!("{}_{id}", r.try_get::<i64, _>("created_at")?));
            }
            items.push(self.view(&id).await?);
        }
        Ok(OrderPage {
            items,
            next_cursor: next,
        })
    }

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
        if !["packed", "out_for_delivery", "delivered"].contains(&to.as_str()) {
            return Err(CoreError::validation(
                "status",
                "must be packed, out_for_delivery or delivered (cancel with POST /orders/{id}/cancel)",
            ));
        }
        let reason = input.reason.unwrap_or_else(|| to.replace('_', " "));
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
    pub(super) async fn apply_move(
        &self,
        conn: &mut AnyConnection,
        row: &OrderRow,
        m: &Move<'_>,
    ) -> Result<bool, CoreError> {
        apply_move(conn, row, m).await
    }

    /// Lines the saga reserves.
    pub(super) async fn reservation_lines(&self, id: &str) -> Result<Vec<Line>, CoreError> {
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

/// Refuses a checkout with blocking problems; accepts changed prices only when the shopper
/// sent the quote that showed them, and refuses any change from a quote the shopper sent.
fn check_quote(quote: &Quote, seen: Option<&str>) -> Result<(), CoreError> {
    let mut problems = crate::error::FieldErrors::new();
    for (k, msgs) in &quote.problems {
        let line = quote.lines.iter().find(|l| format!("items.{}", l.sku) == *k);
        let only_price = line.is_some_and(|l| !l.blocking());
        if only_price && seen == Some(quote.quote_id.as_str()) {
            continue;
        }
        let msgs = if only_price {
            msgs.iter()
                .map(|m| format!("{m}; review the checkout and place the order with its quote_id to accept"))
                .collect()
        } else {
            msgs.clone()
        };
        problems.insert(k.clone(), msgs);
    }
    if let Some(s) = seen {
        if s != quote.quote_id {
            problems.insert(
                "quote_id".into(),
                vec![format!("the checkout changed since it was shown (total now {}); show it again and place the order with the new quote_id {}", rupees(quote.total_paise), quote.quote_id)],
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CoreError::Validation(problems))
    }
}

pub(super) async fn timeline(
    conn: &mut AnyConnection,
    order_id: &str,
    status: &str,
    note: &str,
    actor: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO order_timeline (id, order_id, status, note, actor, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        .bind(new_id())
        .bind(order_id)
        .bind(status)
        .bind(note.chars().take(500).collect::<String>())
        .bind(actor)
        .bind(now_ms())
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a status move (conditional on the current status), its timeline entry and
/// its events, in the caller's transaction. False when the order was no longer `from`.
pub(super) async fn apply_move(conn: &mut AnyConnection, row: &OrderRow, m: &Move<'_>) -> Result<bool, CoreError> {
    let now = now_ms();
    // A saga that is done holds no lease: the driver's last move gives it back.
    // `keep`: a move made beside a saga still at work (the order following its delivery
    // while the saga applies picking changes) leaves the saga's state to the saga.
    // The saga's forward moves do not apply once the shopper asked to cancel: a cancel that
    // lands between the saga loading the order and moving it (after the charge, before the
    // confirmation, say) must not be overtaken — the saga looks again and compensates.
    let forward_by_saga = m.actor == super::saga::SAGA && !matches!(m.to, "failed" | "cancelled");
    let r = sqlx::query(
        "UPDATE orders SET status = ?, saga_state = CASE WHEN ? = 'keep' THEN saga_state ELSE ? END, \
         failure_reason = COALESCE(?, failure_reason), attempts = 0, last_error = NULL, \
         step_started_at = ?, next_attempt_at = ?, lease_until = CASE WHEN ? = 'done' THEN 0 ELSE lease_until END, \
         version = version + 1, updated_at = ? WHERE id = ? AND status = ? AND (? = 0 OR cancel_requested = 0)",
    )
    .bind(m.to)
    .bind(m.saga)
    .bind(m.saga)
    .bind(m.failure.map(str::to_owned))
    .bind(now)
    .bind(now)
    .bind(m.saga)
    .bind(now)
    .bind(&row.id)
    .bind(m.from)
    .bind(i64::from(forward_by_saga))
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() != 1 {
        return Ok(false);
    }
    timeline(conn, &row.id, m.to, m.note, m.actor).await?;
    let payload = OrderUpdated {
        order_id: row.id.clone(),
        user_id: row.user_id.clone(),
        store: row.store.clone(),
        status: m.to.to_owned(),
        from: m.from.to_owned(),
        change: None,
        reason: Some(m.note.to_owned()),
        failure_reason: m.failure.map(str::to_owned),
        total_paise: Some(row.total_paise),
        payment_kind: Some(row.payment_kind.clone()),
        sku: None,
        refund_paise: None,
        refunded_paise: None,
        request_id: None,
    };
    let mut events = vec![Envelope::of(Service::Order, &row.id, &row.id, &payload)];
    match m.to {
        "cancelled" => events.push(Envelope::of(Service::Order, &row.id, &row.id, &OrderCancelled(payload))),
        "delivered" => events.push(Envelope::of(Service::Order, &row.id, &row.id, &OrderCompleted(payload))),
        _ => {}
    }
    outbox::append_many(conn, &events).await?;
    metrics::counter!("nakku_order_transitions_total", "to" => m.to.to_owned()).increment(1);
    Ok(true)
}
