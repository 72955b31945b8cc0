//! `nakku up`: migrate every database, seed the demo data when there is none, then serve
//! everything. The README's first command.

use clap::Args;
use nakku_core::config::Settings;
use nakku_core::db::migrate;
use nakku_core::service::Service;
use sqlx::Row;

#[derive(Debug, Args)]
pub struct UpOpts {
    #[command(flatten)]
    serve: super::serve::Opts,
    /// Do not seed the demo data, even into empty databases
    #[arg(long)]
    no_seed: bool,
    /// Seed only the first N stores of the demo data (a quicker start)
    #[arg(long, value_name = "N")]
    stores: Option<usize>,
}

pub async fn run(settings: Settings, opts: UpOpts) -> anyhow::Result<()> {
    super::migrate::apply(&settings, migrate::migrated_services()).await?;
    if !opts.no_seed && is_empty(&settings).await? {
        println!("No stores yet: seeding the demo data (nakku seed; --no-seed skips this)…");
        super::seed::run(
            &settings,
            super::seed::Opts {
                scale: 1,
                stores: opts.stores,
                concurrency: 16,
            },
        )
        .await?;
    }
    super::serve::run_then(settings, opts.serve, || {
        println!("What next: `nakku simulate` drives shoppers and riders through the gateway;");
        println!("           `nakku dashboard` watches it live. Sign-ins: see fixtures/people.csv (password nakku-demo-123).");
    })
    .await
}

/// Whether the inventory service has no store at all (a fresh deployment).
async fn is_empty(settings: &Settings) -> anyhow::Result<bool> {
    let db = nakku_server::open_database(settings, Service::Inventory).await?;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM warehouses")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    db.close().await;
    Ok(n == 0)
}
