//! `nakku bench events|inventory|catalogue`: benchmarks, each beside a reference measured in the
//! same run on the same bus or database.

use clap::Subcommand;
use nakku_core::config::Settings;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The event bus: raw produce/consume rates, relay throughput, publish→consume latency
    Events(super::events_bench::Opts),
    /// Reservations on one hot sku beside a bare conditional UPDATE
    Inventory(super::inventory_bench::Opts),
    /// Catalogue search latency (p50/p99) beside a primary-key lookup
    Catalogue(super::catalogue_bench::Opts),
}

pub async fn run(settings: &Settings, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Events(o) => super::events_bench::run(settings, o).await,
        Command::Inventory(o) => super::inventory_bench::run(o).await,
        Command::Catalogue(o) => super::catalogue_bench::run(o).await,
    }
}
