//! `nakku`: run and operate Nakku. Each subcommand lives in `commands/<name>.rs` as
//! `Opts` + `run`; the work itself is in nakku-core and nakku-server.

mod commands;
mod output;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use nakku_core::config::Settings;

/// mimalloc instead of glibc's malloc: a request allocates many small, short-lived objects
/// (headers, futures, JSON) on one thread and often frees them on another, where glibc's
/// arenas spent a tenth of the gateway's CPU in their own bookkeeping (`unlink_chunk`,
/// consolidation, arena locks). The library crates leave the choice to their users.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Nakku: a quick-commerce backend. Run `nakku up` to start everything on SQLite.
#[derive(Debug, Parser)]
#[command(name = "nakku", version, about, propagate_version = true)]
pub struct Cli {
    /// Data directory for SQLite files and the generated JWT secret [env: NAKKU_DATA_DIR]
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Configuration file (default: ./nakku.toml when present) [env: NAKKU_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate every database, seed the demo data when there is none, then serve everything (the quick start)
    Up(commands::up::UpOpts),
    /// Serve services (all implemented ones, or those named with --service)
    Serve(commands::serve::Opts),
    /// Apply pending database migrations, or show their status
    Migrate(commands::migrate::Opts),
    /// The event bus: tail events, replay consumers, handle dead letters
    #[command(subcommand)]
    Events(commands::events::Command),
    /// Benchmarks: the event bus, inventory reservations, catalogue search, the order flow, the gateway
    #[command(subcommand)]
    Bench(commands::bench::Command),
    /// Load the demo data (stores, zones, catalogue, stock, shoppers, partners) through the services; idempotent
    Seed(commands::seed::Opts),
    /// Drive a running deployment like real shoppers and riders; report rates, latencies, outcomes and invariants
    Simulate(commands::simulate::Opts),
    /// Live terminal dashboard for operators and support: orders, funnel, GMV, stock
    /// alerts, partners, delivery times, service health, the event tail, order lookup
    Dashboard(commands::dashboard::Opts),
    /// Check the promises in the databases themselves: orders settled, stock equal to its ledger,
    /// payments matching their orders (one each), outboxes drained, no dead letter; exits 2 if one is broken
    Verify(commands::verify::Opts),
    /// Fault drills against a deployment: each fault of a plan applied and healed under
    /// simulated load, then the promises checked; one row per fault, exits 2 if one broke
    Chaos(commands::chaos::Opts),
    /// Operator commands on accounts
    #[command(subcommand)]
    Users(commands::users::Command),
    /// Operator commands on the catalogue: bulk import
    #[command(subcommand)]
    Products(commands::products::Command),
    /// The settings: every key this binary reads, or a deployment's effective values and their sources
    #[command(subcommand)]
    Config(commands::config::Command),
    /// The public API's OpenAPI document, and what a newer one breaks for older clients
    #[command(subcommand)]
    Api(commands::api::Command),
}

impl Cli {
    /// Settings from defaults, file and environment, with the global flags on top.
    fn settings(&self) -> anyhow::Result<Settings> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let mut s = Settings::load(self.config.as_deref(), &env)?;
        if let Some(d) = &self.data_dir {
            s.data_dir = d.clone();
        }
        Ok(s)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Config(cmd) = cli.command {
        // Before the settings are loaded: `show` loads them itself to say where each came from.
        return commands::config::run(cmd, cli.config.as_deref(), cli.data_dir.as_deref());
    }
    let settings = cli.settings()?;
    let process = match &cli.command {
        Command::Serve(opts) => opts.process_name(),
        _ => "nakku".to_owned(),
    };
    let tracing = nakku_server::telemetry::init(&settings, &process)?;
    let mut cmd = cli.command;
    if let Command::Chaos(o) = &mut cmd {
        o.config = cli.config;
    }
    let result = command(settings, cmd).await;
    tracing.shutdown().await;
    result
}

async fn command(settings: nakku_core::config::Settings, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Up(opts) => commands::up::run(settings, opts).await,
        Command::Serve(opts) => commands::serve::run(settings, opts).await,
        Command::Migrate(opts) => commands::migrate::run(&settings, opts).await,
        Command::Seed(opts) => commands::seed::run(&settings, opts).await,
        Command::Simulate(opts) => commands::simulate::run(&settings, opts).await,
        Command::Dashboard(opts) => commands::dashboard::run(&settings, opts).await,
        Command::Verify(opts) => commands::verify::run(&settings, opts).await,
        Command::Chaos(opts) => commands::chaos::run(&settings, opts).await,
        Command::Users(cmd) => commands::users::run(&settings, cmd).await,
        Command::Products(cmd) => commands::products::run(&settings, cmd).await,
        Command::Events(cmd) => commands::events::run(&settings, cmd).await,
        Command::Bench(cmd) => commands::bench::run(&settings, cmd).await,
        Command::Api(cmd) => commands::api::run(cmd),
        // Handled in `run`, before the settings are loaded.
        Command::Config(_) => anyhow::bail!("`nakku config` does not run on loaded settings"),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }
}
