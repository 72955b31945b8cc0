//! `nakku up`: migrate every database, then serve everything. The README's first command.
//! (Seeding joins this once `nakku seed` lands with the catalogue.)

use nakku_core::config::Settings;
use nakku_core::db::migrate;

use super::serve::Opts;

pub async fn run(settings: Settings, opts: Opts) -> anyhow::Result<()> {
    super::migrate::apply(&settings, migrate::migrated_services()).await?;
    super::serve::run(settings, opts).await
}
