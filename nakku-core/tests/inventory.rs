//! Reservations below HTTP, with and without the batching writer: the same race, the same
//! invariants (no oversell, all or nothing, one answer per order id, a reconciling ledger).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use nakku_core::config::Secret;
use nakku_core::db::{migrate, Db};
use nakku_core::inventory::{InventoryConfig, InventoryService, Line, ReserveInput, RestockInput, WarehouseInput};
use nakku_core::service::Service;
use nakku_core::RequestCtx;

async fn service(batch: bool) -> (Arc<InventoryService>, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&Secret::new(format!("sqlite://{}/inv.db", dir.path().display())), 8)
        .await
        .unwrap();
    migrate::run(Service::Inventory, &db).await.unwrap();
    let svc = Arc::new(InventoryService::new(
        db,
        InventoryConfig {
            batch_reservations: batch,
            ..Default::default()
        },
    ));
    let ctx = RequestCtx::internal("test");
    let w = svc
        .create_warehouse(
            &ctx,
            WarehouseInput {
                code: Some("T-1".into()),
                name: Some("T".into()),
                city: Some("B".into()),
                lat: Some(12.9),
                lng: Some(77.6),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    for (sku, q) in [("A", 10), ("B", 3)] {
        svc.restock(
            &ctx,
            "t",
            &w.id,
            sku,
            RestockInput {
                quantity: Some(q),
                note: None,
            },
        )
        .await
        .unwrap();
    }
    (svc, w.id, dir)
}

fn order(id: &str, lines: &[(&str, i64)]) -> ReserveInput {
    ReserveInput {
        order_id: Some(id.into()),
        store: Some("T-1".into()),
        lines: Some(
            lines
                .iter()
                .map(|(s, q)| Line {
                    sku: (*s).into(),
                    quantity: *q,
                })
                .collect(),
        ),
        ttl_secs: None,
    }
}

async fn race(batch: bool) {
    let (svc, wh, _dir) = service(batch).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..40 {
        let svc = svc.clone();
        tasks.spawn(async move {
            // Every third order also wants a unit of the scarce B: all or nothing.
            let lines: &[(&str, i64)] = if i % 3 == 0 { &[("A", 1), ("B", 1)] } else { &[("A", 1)] };
            let r = svc
                .reserve(&RequestCtx::internal("t"), order(&format!("o-{i}"), lines))
                .await
                .unwrap();
            // The same order again (a client retry) gets the same answer.
            let again = svc
                .reserve(&RequestCtx::internal("t"), order(&format!("o-{i}"), lines))
                .await
                .unwrap();
            assert_eq!(
                (again.id.clone(), again.status.clone()),
                (r.id.clone(), r.status.clone())
            );
            r
        });
    }
    let mut held_a = 0;
    let mut held_b = 0;
    let (mut held, mut failed) = (0, 0);
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        if r.status == "held" {
            held += 1;
            for l in &r.lines {
                if l.sku == "A" {
                    held_a += l.quantity;
                } else {
                    held_b += l.quantity;
                }
            }
        } else {
            assert_eq!(r.status, "failed");
            failed += 1;
        }
    }
    // Each held order took one A: exactly ten of the forty were served, all or nothing.
    assert_eq!((held, failed), (10, 30));
    let levels = svc.stock_for(&wh, &["A".to_owned(), "B".to_owned()]).await.unwrap();
    assert_eq!(held_a, 10, "exactly the stock of A is reserved");
    assert!(held_b <= 3);
    assert_eq!((levels[0].reserved, levels[0].available), (10, 0));
    assert_eq!(levels[1].reserved, held_b, "B holds only what succeeded orders took");
    assert_eq!(
        levels[1].reserved + levels[1].available,
        3,
        "no unit of B lost or made up"
    );
    let recon = svc.reconcile(&wh).await.unwrap();
    assert!(recon.reconciled, "{recon:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_never_oversell_in_batches() {
    race(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reservations_never_oversell_one_transaction_each() {
    race(false).await;
}

/// Given a batch the database refuses half-way (here the ledger table is gone, as a
/// deadlock or a lost connection would end it), when the writer applies it, then nothing of
/// it stays (stock, reservations) and every order comes back to be reserved on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_fails_half_way_is_rolled_back_and_every_order_retried_alone() {
    use nakku_core::inventory::batch::{spawn_writer, Outcome, Pending, Request};
    use nakku_core::inventory::store::ReservationRow;
    use nakku_core::inventory::Warehouse;

    let (svc, wh, _dir) = service(true).await;
    let db = svc.db().clone();
    sqlx::query("ALTER TABLE stock_ledger RENAME TO stock_ledger_away")
        .execute(db.pool())
        .await
        .unwrap();
    let writer = spawn_writer(db.clone());
    let w = Warehouse {
        id: wh.clone(),
        code: "T-1".into(),
        name: "T".into(),
        city: "B".into(),
        lat: 12.9,
        lng: 77.6,
        opens_at: "00:00".into(),
        closes_at: "00:00".into(),
        active: true,
        created_at: 0,
        updated_at: 0,
    };
    let now = nakku_core::id::now_ms();
    let mut answers = Vec::new();
    // In one batch or several, as the writer gathers them: each batch fails the same way.
    for i in 0..3 {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let p = Pending {
            req: Request {
                row: ReservationRow {
                    id: nakku_core::id::new_id(),
                    order_id: format!("b-{i}"),
                    warehouse_id: wh.clone(),
                    status: "held".into(),
                    reason: None,
                    expires_at: now + 600_000,
                    created_at: now,
                    updated_at: now,
                },
                lines: vec![Line {
                    sku: "A".into(),
                    quantity: 2,
                }],
                w: w.clone(),
                request_id: None,
            },
            reply,
        };
        writer.send(p).await.unwrap();
        answers.push(answer);
    }
    let mut retried = Vec::new();
    for a in answers {
        match a.await.unwrap() {
            Outcome::Retry(p) => retried.push(p.row.order_id.clone()),
            Outcome::Done(row, _) => panic!("{} applied although its batch failed", row.order_id),
            Outcome::Existing => panic!("an order came back as existing"),
        }
    }
    assert_eq!(retried, ["b-0", "b-1", "b-2"], "each order is handed back, in order");
    // Nothing of the batch stayed.
    let levels = svc.stock_for(&wh, &["A".to_owned()]).await.unwrap();
    assert_eq!((levels[0].reserved, levels[0].available), (0, 10));
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reservations")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0);
    // With the ledger back, the service's own path reserves them (the caller's retry).
    sqlx::query("ALTER TABLE stock_ledger_away RENAME TO stock_ledger")
        .execute(db.pool())
        .await
        .unwrap();
    for id in &retried {
        let r = svc
            .reserve(&RequestCtx::internal("t"), order(id, &[("A", 2)]))
            .await
            .unwrap();
        assert_eq!(r.status, "held", "{id}");
    }
    assert!(svc.reconcile(&wh).await.unwrap().reconciled);
}
