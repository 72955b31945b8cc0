//! `nakku products ...`: operator commands on the catalogue, run on a machine with database
//! access. Running catalogue instances pick the changes up within their refresh interval.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use nakku_core::config::Settings;
use nakku_core::product::import::is_json;
use nakku_core::service::Service;
use nakku_core::RequestCtx;

use crate::output::table;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import products from a CSV or JSON file (the columns of POST /products/import)
    Import {
        /// The file (.csv or .json; otherwise told apart by its first character)
        file: PathBuf,
        /// Import the good rows even when some rows are bad
        #[arg(long)]
        partial: bool,
    },
}

pub async fn run(settings: &Settings, cmd: Command) -> anyhow::Result<()> {
    let Command::Import { file, partial } = cmd;
    let body = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
    let ext = file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let json = match ext.as_deref() {
        Some("json") => true,
        Some("csv") => false,
        _ => is_json(None, &body),
    };
    let db = nakku_server::open_database(settings, Service::Product).await?;
    let result = async {
        let svc = nakku_server::startup::build_catalogue(settings, db.clone()).await?;
        let report = svc.import(&RequestCtx::internal("cli-import"), &body, json, partial).await?;
        let mut t = table(&["rows", "created", "updated", "unchanged", "failed", "imported"]);
        t.add_row(vec![
            report.rows.to_string(),
            report.created.to_string(),
            report.updated.to_string(),
            report.unchanged.to_string(),
            report.failed.len().to_string(),
            report.imported.to_string(),
        ]);
        println!("{t}");
        for f in &report.failed {
            println!("line {}: {}", f.line, f.errors.join("; "));
        }
        if !report.imported {
            anyhow::bail!(
                "{} of {} rows have problems; nothing was imported (fix them, or pass --partial to import the good rows)",
                report.failed.len(),
                report.rows
            );
        }
        Ok(())
    }
    .await;
    db.close().await;
    result
}
