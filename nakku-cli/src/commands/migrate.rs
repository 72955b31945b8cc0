//! `nakku migrate [--service S]` and `nakku migrate status`.

use clap::{Args, Subcommand};
use nakku_core::config::Settings;
use nakku_core::db::{migrate, Db};
use nakku_core::service::Service;

use crate::output::table;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Opts {
    #[command(subcommand)]
    action: Option<Action>,
    /// Only this service's database
    #[arg(long, value_name = "SERVICE")]
    service: Option<Service>,
}

#[derive(Debug, Subcommand)]
enum Action {
    /// Show applied and pending migrations per service, as a table (changes nothing)
    Status {
        /// Only this service's database
        #[arg(long, value_name = "SERVICE")]
        service: Option<Service>,
    },
}

fn services(only: Option<Service>) -> anyhow::Result<Vec<Service>> {
    let all = migrate::migrated_services();
    match only {
        None => Ok(all),
        Some(s) if all.contains(&s) => Ok(vec![s]),
        Some(s) => anyhow::bail!("the {s} service has no database migrations in this build"),
    }
}

pub async fn run(settings: &Settings, opts: Opts) -> anyhow::Result<()> {
    match opts.action {
        Some(Action::Status { service }) => status(settings, services(service)?).await,
        None => apply(settings, services(opts.service)?).await,
    }
}

/// Applies pending migrations; prints what it did per service.
pub async fn apply(settings: &Settings, services: Vec<Service>) -> anyhow::Result<()> {
    let mut t = table(&["service", "database", "applied now", "pending"]);
    for svc in services {
        let Some(url) = settings.database_url_for(svc) else {
            continue;
        };
        let db = Db::connect(&url, 1).await?;
        let applied = migrate::run(svc, &db).await?;
        let pending = migrate::pending(svc, &db).await?;
        t.add_row(vec![
            svc.name().to_owned(),
            db.display_url().to_owned(),
            applied.to_string(),
            pending.to_string(),
        ]);
        db.close().await;
    }
    println!("{t}");
    Ok(())
}

async fn status(settings: &Settings, services: Vec<Service>) -> anyhow::Result<()> {
    let mut t = table(&["service", "version", "description", "state"]);
    let mut pending = 0;
    for svc in services {
        let Some(url) = settings.database_url_for(svc) else {
            continue;
        };
        for m in migrate::status(svc, &url).await? {
            let state = match m.applied_on {
                Some(at) => format!("applied {at}"),
                None => {
                    pending += 1;
                    "pending".to_owned()
                }
            };
            t.add_row(vec![
                svc.name().to_owned(),
                format!("{:04}", m.version),
                m.description,
                state,
            ]);
        }
    }
    println!("{t}");
    println!(
        "{pending} pending migration(s){}",
        if pending > 0 {
            "; run `nakku migrate` to apply them"
        } else {
            ""
        }
    );
    Ok(())
}
