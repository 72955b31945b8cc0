//! `nakku bench inventory`: reservation throughput on one hot sku beside the bare
//! conditional UPDATE it is built on, measured in the same run on the same database.

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use nakku_core::db::{migrate, Db, WriteOn};
use nakku_core::inventory::{InventoryConfig, InventoryService, Line, ReserveInput, RestockInput, WarehouseInput};
use nakku_core::service::Service;
use nakku_core::RequestCtx;
use serde::Serialize;

use crate::output::table;

#[derive(Debug, Args)]
pub struct Opts {
    /// Operations per measurement
    #[arg(long, default_value_t = 4000)]
    ops: usize,
    /// Concurrent workers (shoppers checking out at once)
    #[arg(long, default_value_t = 64)]
    workers: usize,
    /// Database (default: a scratch SQLite file); e.g. mysql://root@127.0.0.1:3306/nakku_bench_inventory (dropped after)
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    database: String,
    workers: usize,
    ops: usize,
    bare_update_per_s: f64,
    reservations_per_s: f64,
    ratio: f64,
    ledger_reconciles: bool,
}

pub async fn run(o: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(o.ops > 0 && o.workers > 0, "--ops and --workers must be positive");
    let report = super::bench::with_scratch_db(
        o.database_url.as_deref(),
        "bench_inventory.db",
        (o.workers as u32).clamp(2, 64),
        async |db| measure(db, &o).await,
    )
    .await?;
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let mut t = table(&[
            "database",
            "workers",
            "bare conditional UPDATE /s",
            "reservations /s",
            "ratio",
            "ledger reconciles",
        ]);
        t.add_row(vec![
            report.database.clone(),
            report.workers.to_string(),
            format!("{:.0}", report.bare_update_per_s),
            format!("{:.0}", report.reservations_per_s),
            format!("{:.2}", report.ratio),
            report.ledger_reconciles.to_string(),
        ]);
        println!("{t}");
    }
    Ok(())
}

async fn measure(db: &Db, o: &Opts) -> anyhow::Result<Report> {
    migrate::run(Service::Inventory, db).await?;
    let svc = Arc::new(InventoryService::new(db.clone(), InventoryConfig::default()));
    let ctx = RequestCtx::internal("bench");
    let store = svc
        .create_warehouse(
            &ctx,
            WarehouseInput {
                code: Some(format!("BENCH-{}", &nakku_core::id::new_id()[30..])),
                name: Some("Bench".into()),
                city: Some("Bengaluru".into()),
                lat: Some(12.97),
                lng: Some(77.59),
                ..Default::default()
            },
        )
        .await?;
    for sku in ["HOT-BARE", "HOT-RES"] {
        svc.restock(
            &ctx,
            "bench",
            &store.id,
            sku,
            RestockInput {
                quantity: Some(o.ops as i64 * 2),
                note: None,
            },
        )
        .await?;
    }

    // Reference: the bare conditional UPDATE a reservation is built on, autocommit.
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..o.workers {
        let (db, wh, n) = (db.clone(), store.id.clone(), share(o.ops, o.workers, w));
        tasks.spawn(async move {
            for _ in 0..n {
                let r = sqlx::query(
                    "UPDATE stock SET reserved = reserved + 1, updated_at = ? \
                     WHERE warehouse_id = ? AND sku = 'HOT-BARE' AND on_hand - reserved >= 1",
                )
                .bind(nakku_core::id::now_ms())
                .bind(&wh)
                .write_on(&db)
                .await?;
                anyhow::ensure!(r.rows_affected() == 1, "bare update found no stock");
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let bare = o.ops as f64 / start.elapsed().as_secs_f64();

    // Reservations: one line of the hot sku each, through the service.
    let start = Instant::now();
    for w in 0..o.workers {
        let (svc, wh, n) = (svc.clone(), store.id.clone(), share(o.ops, o.workers, w));
        tasks.spawn(async move {
            let ctx = RequestCtx::internal("bench");
            for i in 0..n {
                let r = svc
                    .reserve(
                        &ctx,
                        ReserveInput {
                            order_id: Some(format!("bench-{w}-{i}")),
                            store: Some(wh.clone()),
                            lines: Some(vec![Line {
                                sku: "HOT-RES".into(),
                                quantity: 1,
                            }]),
                            ttl_secs: None,
                        },
                    )
                    .await?;
                anyhow::ensure!(r.status == "held", "reservation {} {}", r.order_id, r.status);
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    let reservations = o.ops as f64 / start.elapsed().as_secs_f64();
    // The bare updates bypassed the ledger on purpose; only the reserved sku must reconcile.
    let recon = svc.reconcile(&store.id).await?;
    let reconciles = recon.mismatches.iter().all(|x| x.sku == "HOT-BARE");
    Ok(Report {
        database: db.display_url().to_owned(),
        workers: o.workers,
        ops: o.ops,
        bare_update_per_s: bare.round(),
        reservations_per_s: reservations.round(),
        ratio: (reservations / bare * 100.0).round() / 100.0,
        ledger_reconciles: reconciles,
    })
}

/// Worker `w`'s share of `total` operations.
fn share(total: usize, workers: usize, w: usize) -> usize {
    total / workers + usize::from(w < total % workers)
}
