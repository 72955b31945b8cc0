//! `nakku bench events|inventory|catalogue|orders|gateway|live`: benchmarks, each beside a reference measured in the
//! same run on the same bus or database.

use clap::Subcommand;
use nakku_core::config::{Secret, Settings};
use nakku_core::db::Db;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The event bus: raw produce/consume rates, relay throughput, publish→consume latency
    Events(super::events_bench::Opts),
    /// Reservations on one hot sku beside a bare conditional UPDATE
    Inventory(super::inventory_bench::Opts),
    /// Catalogue search latency (p50/p99) beside a primary-key lookup
    Catalogue(super::catalogue_bench::Opts),
    /// The full order flow (cart → order → confirmed) beside the same transactions as raw SQL
    Orders(super::orders_bench::Opts),
    /// The gateway's cost: the same requests straight to the service, through it and through a minimal proxy
    Gateway(super::gateway_bench::Opts),
    /// Idle GraphQL subscriptions held through a running gateway: memory and CPU they cost
    Live(super::live_bench::Opts),
}

pub async fn run(settings: &Settings, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Events(o) => super::events_bench::run(settings, o).await,
        Command::Inventory(o) => super::inventory_bench::run(o).await,
        Command::Catalogue(o) => super::catalogue_bench::run(o).await,
        Command::Orders(o) => super::orders_bench::run(o).await,
        Command::Gateway(o) => super::gateway_bench::run(o).await,
        Command::Live(o) => super::live_bench::run(settings, o).await,
    }
}

/// Runs `measure` on `database_url`, or on a scratch SQLite file named `file` when none is
/// given; a given (MySQL) database is dropped afterwards, whatever the outcome.
pub async fn with_scratch_db<T>(
    database_url: Option<&str>,
    file: &str,
    max_connections: u32,
    measure: impl AsyncFnOnce(&Db) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let scratch = tempfile::tempdir()?;
    let url = match database_url {
        Some(u) => Secret::new(u),
        None => Secret::new(format!("sqlite://{}/{file}", scratch.path().display())),
    };
    let db = Db::connect(&url, max_connections).await?;
    let result = measure(&db).await;
    db.close().await;
    if database_url.is_some() {
        nakku_core::db::drop_mysql_database(&url).await.ok();
    }
    result
}

/// This process's resident memory, from `/proc/self/status`: (peak so far, now), in MiB;
/// `None` where there is no such file (not Linux).
pub fn resident_mib() -> Option<(f64, f64)> {
    resident_mib_of("self")
}

/// [`resident_mib`] of process `pid` (`self`, or a number).
pub fn resident_mib_of(pid: &str) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let kib: f64 = status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some((kib / 1024.0 * 10.0).round() / 10.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}
