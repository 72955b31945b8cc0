//! Reservations, applied in batches: concurrent reservations are gathered by a writer task
//! and applied several to a transaction, so a hot sku pays one BEGIN/COMMIT, one ledger
//! INSERT, one outbox INSERT and one read-back per batch instead of per order. Each
//! reservation is still all-or-nothing (a short line undoes that order's earlier lines inside
//! the transaction) and idempotent per order id. If a batch fails as a whole (a deadlock with
//! another instance, a database error), every order in it is retried as a batch of one
//! ([`apply_alone`]), which is also the path without a writer: there is one way to reserve.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use super::events::{BackInStock, LowStock, OutOfStock, ReservationFailed, StockLevel, StockReserved, StockUpdated};
use super::store::{self, Movement, ReservationRow};
use super::{Line, Warehouse};
use crate::db::Db;
use crate::error::{is_unique_violation, CoreError};
use crate::events::{outbox, Envelope};
use crate::service::Service;

/// One reservation to apply: the row to insert, its lines (sorted by sku: a fixed lock
/// order), the store, and the request that asked for it (named in a failure event).
#[derive(Clone)]
pub struct Request {
    pub row: ReservationRow,
    pub lines: Vec<Line>,
    pub w: Warehouse,
    pub request_id: Option<String>,
}

/// One reservation waiting for its batch.
pub struct Pending {
    pub req: Request,
    pub reply: oneshot::Sender<Outcome>,
}

/// What the writer says about one order.
pub enum Outcome {
    /// Applied (held or failed); the row to return.
    Done(ReservationRow, Vec<Line>),
    /// The order id already had a reservation: read and return it.
    Existing,
    /// The batch failed: the caller applies it alone ([`apply_alone`]).
    Retry(Box<Request>),
}

/// Most orders in one transaction.
pub const MAX_BATCH: usize = 64;

/// Starts a writer; returns its queue.
pub fn spawn_writer(db: Db) -> mpsc::Sender<Pending> {
    crate::db::batch::spawn_writer(MAX_BATCH, crate::trace::service_span("inventory"), move |batch| {
        let db = db.clone();
        async move { run_batch(&db, batch).await }
    })
}

async fn run_batch(db: &Db, batch: Vec<Pending>) {
    let mut tx = match db.begin().await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "reservation batch could not start; retrying orders one by one");
            return retry_all(batch);
        }
    };
    let requests: Vec<&Request> = batch.iter().map(|p| &p.req).collect();
    match apply(&mut tx, &requests).await {
        Ok(results) => match tx.commit().await {
            Ok(()) => {
                metrics::histogram!("nakku_inventory_reservation_batch_size").record(batch.len() as f64);
                for (p, r) in batch.into_iter().zip(results) {
                    count(&r);
                    let _ = p.reply.send(r);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reservation batch did not commit; retrying orders one by one");
                retry_all(batch)
            }
        },
        Err(e) => {
            let _ = tx.rollback().await;
            tracing::warn!(error = %e, "reservation batch failed; retrying orders one by one");
            retry_all(batch)
        }
    }
}

fn count(outcome: &Outcome) {
    if let Outcome::Done(row, _) = outcome {
        let status = if row.status == "held" { "held" } else { "failed" };
        metrics::counter!("nakku_inventory_reservations_total", "status" => status).increment(1);
    }
}

fn retry_all(batch: Vec<Pending>) {
    metrics::counter!("nakku_inventory_reservation_batch_failures_total").increment(1);
    for p in batch {
        let _ = p.reply.send(Outcome::Retry(Box::new(p.req)));
    }
}

/// Applies one reservation in a transaction of its own: a batch of one. An order id
/// reserved meanwhile by another instance (the unique key on `order_id`) is `Existing`.
pub async fn apply_alone(db: &Db, req: &Request) -> Result<Outcome, CoreError> {
    let mut tx = db.begin().await?;
    match apply(&mut tx, &[req]).await {
        Ok(mut outcomes) => {
            tx.commit().await?;
            let outcome = outcomes.pop().unwrap_or(Outcome::Existing);
            count(&outcome);
            Ok(outcome)
        }
        Err(CoreError::Database(e)) if is_unique_violation(&e) => {
            let _ = tx.rollback().await;
            Ok(Outcome::Existing)
        }
        Err(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

/// Applies every order of the batch inside `conn`'s transaction; returns one outcome per
/// order (`Existing` for ids already reserved, before or earlier in this batch).
async fn apply(conn: &mut AnyConnection, batch: &[&Request]) -> Result<Vec<Outcome>, CoreError> {
    let ids: Vec<&str> = batch.iter().map(|p| p.row.order_id.as_str()).collect();
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new("SELECT order_id FROM reservations WHERE order_id IN ");
    crate::db::push_list(&mut qb, ids.iter().copied());
    let mut taken: HashSet<String> = qb
        .build()
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| crate::db::text(r, "order_id"))
        .collect::<Result<_, _>>()?;

    let mut outcomes = Vec::with_capacity(batch.len());
    let mut rows = Vec::new();
    let mut all_lines: Vec<(String, Line)> = Vec::new();
    let mut movements: Vec<(String, String, i64, String)> = Vec::new(); // (wh, sku, qty, order)
    let mut events = Vec::new();
    let mut touched: BTreeMap<String, (Warehouse, BTreeMap<String, String>)> = BTreeMap::new(); // wh → (w, sku → last order)
    for p in batch.iter().copied() {
        let order = &p.row.order_id;
        if !taken.insert(order.clone()) {
            outcomes.push(Outcome::Existing);
            continue;
        }
        let mut applied: Vec<&Line> = Vec::new();
        let mut short = None;
        for l in &p.lines {
            if store::apply_deltas(conn, &p.w.id, &l.sku, 0, l.quantity).await? {
                applied.push(l);
            } else {
                short = Some(l);
                break;
            }
        }
        let mut row = p.row.clone();
        if let Some(s) = short {
            for l in applied {
                if !store::apply_deltas(conn, &p.w.id, &l.sku, 0, -l.quantity).await? {
                    return Err(CoreError::Internal(anyhow::anyhow!(
                        "undoing {} for {order} did not apply",
                        l.sku
                    )));
                }
            }
            let available = store::numbers(conn, &p.w.id, &s.sku)
                .await?
                .map(|n| n.available())
                .unwrap_or(0);
            let failed = ReservationFailed::short_of(order, &p.w, s, available, p.request_id.clone());
            row.status = "failed".to_owned();
            row.reason = Some(failed.reason.clone());
            events.push(Envelope::of(Service::Inventory, order, order, &failed));
        } else {
            let entry = touched
                .entry(p.w.id.clone())
                .or_insert_with(|| (p.w.clone(), BTreeMap::new()));
            for l in &p.lines {
                movements.push((p.w.id.clone(), l.sku.clone(), l.quantity, order.clone()));
                entry.1.insert(l.sku.clone(), order.clone());
            }
            let reserved = StockReserved::new(order, &p.w, p.lines.clone(), row.expires_at);
            events.push(Envelope::of(Service::Inventory, order, order, &reserved));
        }
        all_lines.extend(p.lines.iter().map(|l| (row.id.clone(), l.clone())));
        outcomes.push(Outcome::Done(row.clone(), p.lines.clone()));
        rows.push(row);
    }
    store::insert_reservations(conn, &rows).await?;
    store::insert_lines_many(conn, &all_lines).await?;
    let ledger: Vec<Movement> = movements
        .iter()
        .map(|(wh, sku, q, order)| Movement {
            wh,
            sku,
            on_hand_delta: 0,
            reserved_delta: *q,
            reason: "reserve",
            note: None,
            ref_id: Some(order),
            actor: None,
        })
        .collect();
    for chunk in ledger.chunks(500) {
        store::append_ledger_many(conn, chunk).await?;
    }
    let mut stock_events = Vec::new();
    for (w, skus) in touched.values() {
        let by_sku: HashMap<String, String> = skus.clone().into_iter().collect();
        let list: Vec<String> = skus.keys().cloned().collect();
        stock_events
            .extend(stock_events_for(conn, w, &list, |sku| by_sku.get(sku).cloned().unwrap_or_default()).await?);
    }
    stock_events.extend(events);
    for chunk in stock_events.chunks(200) {
        outbox::append_many(conn, chunk).await?;
    }
    Ok(outcomes)
}

/// The events a change of some skus' numbers causes, with the alert flags updated:
/// `inventory.updated` always; low stock once per downward crossing of the threshold
/// (re-armed when it rises above); out of stock once per reaching zero; back in stock (with
/// the shoppers who asked to be told) once per leaving zero.
pub async fn stock_events_for(
    conn: &mut AnyConnection,
    w: &Warehouse,
    skus: &[String],
    correlation: impl Fn(&str) -> String,
) -> Result<Vec<Envelope>, CoreError> {
    let mut events = Vec::new();
    for (sku, n) in store::numbers_many(conn, &w.id, skus).await? {
        let corr = correlation(&sku);
        let aggregate = format!("{}:{sku}", w.id);
        let available = n.available();
        let level = StockLevel {
            store: w.code.clone(),
            store_id: w.id.clone(),
            sku: sku.clone(),
            on_hand: n.on_hand,
            reserved: n.reserved,
            available,
            low_threshold: n.low_threshold,
        };
        events.push(Envelope::of(
            Service::Inventory,
            &aggregate,
            &corr,
            &StockUpdated(level.clone()),
        ));
        let mut low = n.low_alerted;
        let mut out = n.out_alerted;
        if available <= n.low_threshold && !n.low_alerted {
            low = true;
            events.push(Envelope::of(
                Service::Inventory,
                &aggregate,
                &corr,
                &LowStock(level.clone()),
            ));
        } else if available > n.low_threshold && n.low_alerted {
            low = false;
        }
        if available == 0 && !n.out_alerted {
            out = true;
            events.push(Envelope::of(Service::Inventory, &aggregate, &corr, &OutOfStock(level)));
        } else if available > 0 && n.out_alerted {
            out = false;
            let notify_users = store::take_watchers(conn, &w.id, &sku).await?;
            let back = BackInStock { level, notify_users };
            events.push(Envelope::of(Service::Inventory, &aggregate, &corr, &back));
        }
        if (low, out) != (n.low_alerted, n.out_alerted) {
            store::set_flags(conn, &w.id, &sku, low, out).await?;
        }
    }
    Ok(events)
}
