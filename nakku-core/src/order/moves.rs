//! The saga's moves, written in batches (group commit in the application, as the
//! inventory's reservations are): the moves of concurrent orders' sagas share one
//! transaction — one conditional UPDATE per order, one multi-row insert for their timeline
//! entries, one for their events — instead of a transaction of three statements each.
//! Each move is still conditional on the order's state (a cancellation that landed stops a
//! forward move, in a batch as alone), and the orders of a batch are updated in id order
//! (a fixed lock order across instances). A batch that fails as a whole (a deadlock, a
//! database error) sends each of its moves back to be applied alone, which is also the path
//! without a writer.

use sqlx::AnyConnection;
use tokio::sync::{mpsc, oneshot};

use super::service::{count_transition, move_row, timelines, Entry, Move, OrderRow};
use crate::db::Db;
use crate::error::CoreError;
use crate::events::{outbox, Envelope};

/// Most moves in one transaction.
pub(in crate::order) const MAX_BATCH: usize = 64;

/// One saga move to write.
pub(in crate::order) struct Request {
    pub row: OrderRow,
    pub to: String,
    pub saga: String,
    pub note: String,
    pub failure: Option<String>,
    /// The events the move publishes when it applies, made by the caller (so they carry
    /// the trace of the saga step that moved, not the writer's).
    pub events: Vec<Envelope>,
}

impl Request {
    fn as_move(&self) -> Move<'_> {
        Move {
            from: &self.row.status,
            to: &self.to,
            saga: &self.saga,
            note: &self.note,
            actor: super::saga::SAGA,
            failure: self.failure.as_deref(),
        }
    }
}

/// One move waiting for its batch, and where to say what became of it: `Some(applied)`,
/// or `None` when the batch failed and the caller is to apply it alone.
pub(in crate::order) struct Pending {
    pub req: Request,
    pub reply: oneshot::Sender<Option<bool>>,
}

/// Starts the writer; returns its queue.
pub(in crate::order) fn spawn_writer(db: Db) -> mpsc::Sender<Pending> {
    crate::db::batch::spawn_writer(MAX_BATCH, crate::trace::service_span("order"), move |batch| {
        let db = db.clone();
        async move { run_batch(&db, batch).await }
    })
}

async fn run_batch(db: &Db, mut batch: Vec<Pending>) {
    batch.sort_by(|a, b| a.req.row.id.cmp(&b.req.row.id));
    let outcome = async {
        let mut tx = db.begin().await?;
        let applied = apply(&mut tx, &batch).await?;
        tx.commit().await?;
        Ok::<_, CoreError>(applied)
    }
    .await;
    match outcome {
        Ok(applied) => {
            metrics::histogram!("nakku_order_move_batch_size").record(batch.len() as f64);
            for (p, moved) in batch.into_iter().zip(applied) {
                if moved {
                    count_transition(&p.req.to);
                }
                let _ = p.reply.send(Some(moved));
            }
        }
        Err(e) => {
            metrics::counter!("nakku_order_move_batch_failures_total").increment(1);
            tracing::warn!(error = %e, moves = batch.len(), "a batch of saga moves failed; applying them one by one");
            for p in batch {
                let _ = p.reply.send(None);
            }
        }
    }
}

/// Applies the batch's moves in `conn`'s transaction; one flag per move: applied or not.
async fn apply(conn: &mut AnyConnection, batch: &[Pending]) -> Result<Vec<bool>, CoreError> {
    let mut applied = Vec::with_capacity(batch.len());
    let mut entries = Vec::new();
    let mut events = Vec::new();
    for p in batch {
        let m = p.req.as_move();
        let moved = move_row(conn, &p.req.row, &m).await?;
        if moved {
            entries.push(Entry {
                order_id: &p.req.row.id,
                status: m.to,
                note: m.note,
                actor: m.actor,
            });
            events.extend(p.req.events.iter().cloned());
        }
        applied.push(moved);
    }
    timelines(conn, &entries).await?;
    outbox::append_many(conn, &events).await?;
    Ok(applied)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::Secret;
    use crate::order::events::OrderUpdated;
    use crate::service::Service;
    use sqlx::Row;

    async fn db() -> (Db, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&Secret::new(format!("sqlite://{}/order.db", dir.path().display())), 4)
            .await
            .unwrap();
        crate::db::migrate::run(Service::Order, &db).await.unwrap();
        (db, dir)
    }

    /// An order placed and moved as far as `status`; `cancel`: the shopper asked to cancel.
    async fn order(db: &Db, id: &str, status: &str, cancel: bool) -> OrderRow {
        let row = OrderRow {
            id: id.into(),
            ..crate::order::saga::tests::given(status, "running", "upi")
        };
        sqlx::query(
            "INSERT INTO orders (id, user_id, store, status, payment_kind, substitution, address_id, address, quote, \
             items_paise, fees_paise, total_paise, currency, idem_key, request_hash, saga_state, cancel_requested, \
             step_started_at, next_attempt_at, lease_until, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'refund', 'a', '{}', '{}', ?, 0, ?, 'INR', ?, 'h', ?, ?, 0, 0, 1, 0, 0)",
        )
        .bind(&row.id)
        .bind(&row.user_id)
        .bind(&row.store)
        .bind(&row.status)
        .bind(&row.payment_kind)
        .bind(row.total_paise)
        .bind(row.total_paise)
        .bind(&row.id)
        .bind(&row.saga_state)
        .bind(i64::from(cancel))
        .execute(db.pool())
        .await
        .unwrap();
        row
    }

    fn pending(row: OrderRow, to: &str, note: &str) -> (Pending, oneshot::Receiver<Option<bool>>) {
        let (reply, answer) = oneshot::channel();
        let req = Request {
            to: to.into(),
            saga: if to == "confirmed" { "done" } else { "running" }.into(),
            note: note.into(),
            failure: None,
            events: crate::order::service::move_events(
                &row,
                &Move {
                    from: &row.status,
                    to,
                    saga: "running",
                    note,
                    actor: crate::order::saga::SAGA,
                    failure: None,
                },
            ),
            row,
        };
        (Pending { req, reply }, answer)
    }

    async fn count(db: &Db, sql: &str) -> i64 {
        sqlx::query(sql).fetch_one(db.pool()).await.unwrap().get::<i64, _>("n")
    }

    #[tokio::test]
    async fn each_move_of_a_batch_applies_on_its_own_terms() {
        let (db, _dir) = db().await;
        let a = order(&db, "0190d5e0-0000-7000-8000-00000000000a", "pending", false).await;
        let b = order(&db, "0190d5e0-0000-7000-8000-00000000000b", "paid", false).await;
        // Moved by someone else since the saga looked: its move no longer applies.
        let mut stale = order(&db, "0190d5e0-0000-7000-8000-00000000000c", "paid", false).await;
        stale.status = "stock_reserved".into();
        // The shopper asked to cancel: the saga's forward move must not overtake it.
        let cancelled = order(&db, "0190d5e0-0000-7000-8000-00000000000d", "paid", true).await;
        let (pb, rb) = pending(b, "confirmed", "confirmed");
        let (pa, ra) = pending(a, "stock_reserved", "stock reserved at BLR-1");
        let (pc, rc) = pending(stale, "paid", "paid ₹120");
        let (pd, rd) = pending(cancelled, "confirmed", "confirmed");
        run_batch(&db, vec![pb, pa, pc, pd]).await;
        assert_eq!(ra.await.unwrap(), Some(true));
        assert_eq!(rb.await.unwrap(), Some(true));
        assert_eq!(rc.await.unwrap(), Some(false));
        assert_eq!(rd.await.unwrap(), Some(false));

        let statuses: Vec<(String, String, i64)> =
            sqlx::query("SELECT id, status, lease_until FROM orders ORDER BY id")
                .fetch_all(db.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        crate::db::text(r, "id").unwrap(),
                        crate::db::text(r, "status").unwrap(),
                        r.get("lease_until"),
                    )
                })
                .collect();
        let got: Vec<(&str, i64)> = statuses.iter().map(|(_, s, l)| (s.as_str(), *l)).collect();
        // The confirmed order's saga is done and gave its lease back.
        assert_eq!(
            got,
            vec![("stock_reserved", 1), ("confirmed", 0), ("paid", 1), ("paid", 1)]
        );
        // One timeline entry and one event for each move that applied, none for the others.
        let timeline: Vec<(String, String)> =
            sqlx::query("SELECT order_id, status FROM order_timeline ORDER BY order_id")
                .fetch_all(db.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        crate::db::text(r, "order_id").unwrap(),
                        crate::db::text(r, "status").unwrap(),
                    )
                })
                .collect();
        assert_eq!(
            timeline,
            vec![
                (
                    "0190d5e0-0000-7000-8000-00000000000a".to_owned(),
                    "stock_reserved".to_owned()
                ),
                (
                    "0190d5e0-0000-7000-8000-00000000000b".to_owned(),
                    "confirmed".to_owned()
                ),
            ]
        );
        let events = crate::events::outbox::recent(&mut db.pool().acquire().await.unwrap(), 10)
            .await
            .unwrap();
        let moved: Vec<(String, String)> = events
            .iter()
            .map(|e| {
                let p: OrderUpdated = e.envelope.decode().unwrap();
                (p.order_id, p.status)
            })
            .collect();
        assert_eq!(moved, timeline);
    }

    #[tokio::test]
    async fn a_batch_that_fails_writes_nothing_and_sends_every_move_back() {
        let (db, _dir) = db().await;
        let a = order(&db, "0190d5e0-0000-7000-8000-00000000000a", "pending", false).await;
        let b = order(&db, "0190d5e0-0000-7000-8000-00000000000b", "paid", false).await;
        let (pa, ra) = pending(a, "stock_reserved", "stock reserved at BLR-1");
        let (mut pb, rb) = pending(b, "confirmed", "confirmed");
        // An event the outbox refuses (over the size limit) fails the batch after both
        // orders' rows were updated in it.
        pb.req.events[0].payload = serde_json::json!({ "pad": "x".repeat(2 * crate::events::DEFAULT_MAX_EVENT_BYTES) });
        run_batch(&db, vec![pa, pb]).await;
        assert_eq!(ra.await.unwrap(), None);
        assert_eq!(rb.await.unwrap(), None);
        assert_eq!(
            count(
                &db,
                "SELECT COUNT(*) AS n FROM orders WHERE status IN ('pending', 'paid')"
            )
            .await,
            2,
            "both moves rolled back"
        );
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM order_timeline").await, 0);
        assert_eq!(count(&db, "SELECT COUNT(*) AS n FROM outbox").await, 0);
    }
}
