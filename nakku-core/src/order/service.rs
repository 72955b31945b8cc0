//! Order use cases: placing (idempotent per key), reading, history, cancellation, line
//! removal, reorder and the staff's status moves. The saga itself is in [`super::saga`].

use crate::db::WriteOn;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

use serde_json::Value;
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

#[path = "changes.rs"]
mod changes;
#[path = "moves.rs"]
pub(super) mod moves;
#[path = "placing.rs"]
mod placing;

/// Settings of the order service.
#[derive(Debug, Clone)]
pub struct OrderConfig {
    /// A reservation or payment unanswered this long is resolved by compensation.
    pub step_timeout: Duration,
    /// Start the saga right after placing (off in tests that drive it by hand).
    pub autodrive: bool,
    /// Write the saga's moves of concurrent orders in shared transactions (see
    /// `order::service::moves`); off, each move is a transaction of its own.
    pub batch_moves: bool,
}

impl Default for OrderConfig {
    fn default() -> Self {
        OrderConfig {
            step_timeout: Duration::from_secs(30),
            autodrive: true,
            batch_moves: true,
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
    /// The saga moves' writer (see [`moves`]); None outside a runtime or with
    /// `batch_moves` off.
    pub(super) moves: Option<tokio::sync::mpsc::Sender<moves::Pending>>,
    /// The reads of open live feeds, gathered (see [`OrderService::follow`]); started on
    /// first use.
    followed: std::sync::OnceLock<crate::gather::Gather<OrderView>>,
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
        // The writer needs a runtime to run on (a service built outside one writes alone).
        let moves =
            (cfg.batch_moves && tokio::runtime::Handle::try_current().is_ok()).then(|| moves::spawn_writer(db.clone()));
        OrderService {
            moves,
            db,
            cfg,
            stock,
            payments,
            carts,
            slots: None,
            followed: std::sync::OnceLock::new(),
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
    /// The full order: lines, fees as shown, saga state and timeline.
    pub async fn view(&self, id: &str) -> Result<OrderView, CoreError> {
        self.views(&[id.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| CoreError::NotFound("order".to_owned()))
    }

    /// The orders of `ids` that exist, in that order, each as [`Self::view`] shows it: in
    /// three statements whatever their number (the orders, their lines, their timelines) —
    /// what a page of orders is answered with.
    pub async fn views(&self, ids: &[String]) -> Result<Vec<OrderView>, CoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db.pool().acquire().await?;
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
            "SELECT id, user_id, store, status, payment_kind, payment_method_id, substitution, address, quote, items_paise, fees_paise, \
             total_paise, refunded_paise, currency, note, saga_state, cancel_requested, failure_reason, last_error, attempts, \
             step_started_at, next_attempt_at, version, created_at, updated_at, slot_start, slot_end, adjustment, adjusted_at, \
             CASE WHEN adjustment IS NOT NULL AND adjusted_at IS NULL THEN 1 ELSE 0 END AS adjust_pending, cash_due_pending FROM orders \
             WHERE deleted_at IS NULL AND id IN ",
        );
        crate::db::push_list(&mut qb, ids);
        let orders = qb.build().fetch_all(&mut *conn).await?;
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
            "SELECT order_id, sku, product_id, name, unit, unit_price_paise, mrp_paise, quantity, line_total_paise, status \
             FROM order_lines WHERE order_id IN ",
        );
        crate::db::push_list(&mut qb, ids);
        qb.push(" ORDER BY order_id, created_at, sku");
        let line_rows = qb.build().fetch_all(&mut *conn).await?;
        let mut lines: HashMap<String, Vec<OrderLine>> = HashMap::new();
        for l in line_rows {
            lines.entry(text(&l, "order_id")?).or_default().push(OrderLine {
                sku: text(&l, "sku")?,
                product_id: text(&l, "product_id")?,
                name: text(&l, "name")?,
                unit: text(&l, "unit")?,
                unit_price_paise: l.try_get("unit_price_paise")?,
                mrp_paise: l.try_get("mrp_paise")?,
                quantity: l.try_get("quantity")?,
                line_total_paise: l.try_get("line_total_paise")?,
                status: text(&l, "status")?,
            });
        }
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
            "SELECT order_id, status, note, actor, created_at FROM order_timeline WHERE order_id IN ",
        );
        crate::db::push_list(&mut qb, ids);
        qb.push(" ORDER BY id");
        let timeline_rows = qb.build().fetch_all(&mut *conn).await?;
        let mut timelines: HashMap<String, Vec<TimelineEntry>> = HashMap::new();
        for t in timeline_rows {
            timelines.entry(text(&t, "order_id")?).or_default().push(TimelineEntry {
                status: text(&t, "status")?,
                note: opt_text(&t, "note")?,
                actor: opt_text(&t, "actor")?,
                at: ms_to_rfc3339(t.try_get("created_at")?),
            });
        }
        let mut by_id: HashMap<String, OrderView> = HashMap::new();
        for r in &orders {
            let id = text(r, "id")?;
            let lines = lines.remove(&id).unwrap_or_default();
            let timeline = timelines.remove(&id).unwrap_or_default();
            by_id.insert(id, Self::view_of(r, lines, timeline)?);
        }
        Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
    }

    /// The order `id` as its owner (or staff) sees it, for a live feed that asks every
    /// second: the asks of every feed of this process within 25 ms are answered by one
    /// read of all their orders ([`Self::views`]: three statements for up to 500 orders),
    /// instead of four statements per feed per second. Anyone else gets the same 404 as
    /// for an order that does not exist.
    pub async fn follow(&self, user_id: &str, staff: bool, id: &str) -> Result<OrderView, CoreError> {
        let gather = self.followed.get_or_init(|| {
            let svc = self.clone();
            crate::gather::Gather::feeds("orders", move |ids| {
                let svc = svc.clone();
                async move { Ok(svc.views(&ids).await?.into_iter().map(|v| (v.id.clone(), v)).collect()) }
            })
        });
        gather
            .get(id)
            .await?
            .filter(|o| staff || o.user_id == user_id)
            .ok_or_else(|| CoreError::NotFound("order".to_owned()))
    }

    /// An order's view from its row, lines and timeline.
    fn view_of(r: &AnyRow, lines: Vec<OrderLine>, timeline: Vec<TimelineEntry>) -> Result<OrderView, CoreError> {
        // The stored checkout; an unreadable one shows no fees rather than failing the view.
        let quote: Value = serde_json::from_str(&text(r, "quote")?).unwrap_or(Value::Null);
        let row = order_row(r)?;
        let step = super::saga::next_step(&row).map(|s| s.name().to_owned());
        let adjusted_at = r.try_get::<Option<i64>, _>("adjusted_at")?;
        let picking = opt_text(r, "adjustment")?
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
            substitution: text(r, "substitution")?,
            note: opt_text(r, "note")?,
            address: serde_json::from_str(&text(r, "address")?).ok(),
            lines,
            items_paise: r.try_get("items_paise")?,
            fees: serde_json::from_value(quote["fees"].clone()).unwrap_or_default(),
            fees_paise: r.try_get("fees_paise")?,
            total_paise: row.total_paise,
            refunded_paise: r.try_get("refunded_paise")?,
            currency: text(r, "currency")?,
            eta_minutes: quote["eta_minutes"].as_i64(),
            quote_id: quote["quote_id"].as_str().map(str::to_owned),
            picking,
            delivery_slot,
            saga: SagaView {
                state: row.saga_state.clone(),
                next_step: step,
                attempts: row.attempts,
                last_error: opt_text(r, "last_error")?,
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
        // The view carries its owner: three statements, not a look at the row first.
        self.views(&[id.to_owned()])
            .await?
            .pop()
            .filter(|o| staff || o.user_id == user_id)
            .ok_or_else(|| CoreError::NotFound("order".to_owned()))
    }

    /// History, newest first: a shopper's own orders, or (staff) any with filters.
    pub async fn list(&self, user_id: &str, staff: bool, q: ListQuery) -> Result<OrderPage, CoreError> {
        let mut v = Validator::new();
        let limit = q.limit.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            v.add("limit", "must be from 1 to 100");
        }
        if let Some(s) = &q.status {
            if OrderStatus::parse(s).is_none() {
                v.add("status", format!("must be one of {}", STATUSES.join(", ")));
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
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new("SELECT id, created_at FROM orders WHERE deleted_at IS NULL");
        let who = if staff {
            q.user_id.clone()
        } else {
            Some(user_id.to_owned())
        };
        if let Some(u) = who {
            qb.push(" AND user_id = ").push_bind(u);
        }
        if let Some(s) = &q.store {
            qb.push(" AND store = ").push_bind(s.to_ascii_uppercase());
        }
        if let Some(s) = q.status.clone() {
            qb.push(" AND status = ").push_bind(s);
        }
        if let Some(f) = from {
            qb.push(" AND created_at >= ").push_bind(f);
        }
        if let Some(t) = to {
            qb.push(" AND created_at <= ").push_bind(t);
        }
        if let Some((ms, id)) = cursor {
            qb.push(" AND (created_at < ").push_bind(ms);
            qb.push(" OR (created_at = ").push_bind(ms);
            qb.push(" AND id < ").push_bind(id).push("))");
        }
        qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(limit + 1);
        let query = qb.build();
        let rows = query.fetch_all(self.db.pool()).await?;
        let mut ids = Vec::new();
        let mut next = None;
        for (i, r) in rows.iter().enumerate() {
            if i as i64 == limit {
                break;
            }
            let id = text(r, "id")?;
            if i as i64 == limit - 1 && rows.len() as i64 > limit {
                next = Some(format!("{}_{id}", r.try_get::<i64, _>("created_at")?));
            }
            ids.push(id);
        }
        // The page's orders in three statements, not three per order.
        Ok(OrderPage {
            items: self.views(&ids).await?,
            next_cursor: next,
        })
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
    timelines(
        conn,
        &[Entry {
            order_id,
            status,
            note,
            actor,
        }],
    )
    .await
}

/// One timeline entry to write.
pub(super) struct Entry<'a> {
    pub order_id: &'a str,
    pub status: &'a str,
    pub note: &'a str,
    pub actor: &'a str,
}

/// Writes timeline entries in one multi-row insert (entries of several orders: a batch of
/// saga moves).
pub(super) async fn timelines(conn: &mut AnyConnection, entries: &[Entry<'_>]) -> Result<(), sqlx::Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
        "INSERT INTO order_timeline (id, order_id, status, note, actor, created_at) ",
    );
    qb.push_values(entries, |mut row, e| {
        row.push_bind(new_id())
            .push_bind(e.order_id.to_owned())
            .push_bind(e.status.to_owned())
            .push_bind(e.note.chars().take(500).collect::<String>())
            .push_bind(e.actor.to_owned())
            .push_bind(now);
    });
    qb.build().execute(conn).await?;
    Ok(())
}

/// Records a status move (conditional on the current status), its timeline entry and
/// its events, in the caller's transaction. False when the order was no longer `from`.
pub(super) async fn apply_move(conn: &mut AnyConnection, row: &OrderRow, m: &Move<'_>) -> Result<bool, CoreError> {
    if !move_row(conn, row, m).await? {
        return Ok(false);
    }
    timeline(conn, &row.id, m.to, m.note, m.actor).await?;
    outbox::append_many(conn, &move_events(row, m)).await?;
    count_transition(m.to);
    Ok(true)
}

/// The conditional status move of [`apply_move`] alone: false when the order was no longer
/// `from` (or a cancellation stops a forward move of the saga).
pub(super) async fn move_row(conn: &mut AnyConnection, row: &OrderRow, m: &Move<'_>) -> Result<bool, CoreError> {
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
    Ok(r.rows_affected() == 1)
}

/// Counts a status move that applied.
pub(super) fn count_transition(to: &str) {
    metrics::counter!("nakku_order_transitions_total", "to" => to.to_owned()).increment(1);
}

/// The events a move that applied publishes: `order.updated`, and `order.cancelled` or
/// `order.completed` when it ends the order that way.
pub(super) fn move_events(row: &OrderRow, m: &Move<'_>) -> Vec<Envelope> {
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
    events
}
