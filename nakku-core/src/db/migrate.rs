//! Embedded migrations per backend and per service, applied with sqlx's migrator.

use std::collections::HashMap;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::Row;

use super::{Db, Dialect};
use crate::config::Secret;
use crate::service::Service;

static SQLITE_USER: Migrator = sqlx::migrate!("../migrations/sqlite/user");
static MYSQL_USER: Migrator = sqlx::migrate!("../migrations/mysql/user");
static SQLITE_PRODUCT: Migrator = sqlx::migrate!("../migrations/sqlite/product");
static MYSQL_PRODUCT: Migrator = sqlx::migrate!("../migrations/mysql/product");
static SQLITE_INVENTORY: Migrator = sqlx::migrate!("../migrations/sqlite/inventory");
static MYSQL_INVENTORY: Migrator = sqlx::migrate!("../migrations/mysql/inventory");
static SQLITE_LOCATION: Migrator = sqlx::migrate!("../migrations/sqlite/location");
static MYSQL_LOCATION: Migrator = sqlx::migrate!("../migrations/mysql/location");
static SQLITE_ORDER: Migrator = sqlx::migrate!("../migrations/sqlite/order");
static MYSQL_ORDER: Migrator = sqlx::migrate!("../migrations/mysql/order");
static SQLITE_CART: Migrator = sqlx::migrate!("../migrations/sqlite/cart");
static MYSQL_CART: Migrator = sqlx::migrate!("../migrations/mysql/cart");
static SQLITE_PAYMENT: Migrator = sqlx::migrate!("../migrations/sqlite/payment");
static MYSQL_PAYMENT: Migrator = sqlx::migrate!("../migrations/mysql/payment");
static SQLITE_ANALYTICS: Migrator = sqlx::migrate!("../migrations/sqlite/analytics");
static MYSQL_ANALYTICS: Migrator = sqlx::migrate!("../migrations/mysql/analytics");
static SQLITE_NOTIFICATION: Migrator = sqlx::migrate!("../migrations/sqlite/notification");
static MYSQL_NOTIFICATION: Migrator = sqlx::migrate!("../migrations/mysql/notification");
static SQLITE_DELIVERY: Migrator = sqlx::migrate!("../migrations/sqlite/delivery");
static MYSQL_DELIVERY: Migrator = sqlx::migrate!("../migrations/mysql/delivery");

/// The migrations of one service on one backend; `None` for services without a database
/// or whose code has not landed yet.
pub fn migrator(svc: Service, dialect: Dialect) -> Option<&'static Migrator> {
    match (svc, dialect) {
        (Service::User, Dialect::Sqlite) => Some(&SQLITE_USER),
        (Service::User, Dialect::MySql) => Some(&MYSQL_USER),
        (Service::Product, Dialect::Sqlite) => Some(&SQLITE_PRODUCT),
        (Service::Product, Dialect::MySql) => Some(&MYSQL_PRODUCT),
        (Service::Inventory, Dialect::Sqlite) => Some(&SQLITE_INVENTORY),
        (Service::Inventory, Dialect::MySql) => Some(&MYSQL_INVENTORY),
        (Service::Location, Dialect::Sqlite) => Some(&SQLITE_LOCATION),
        (Service::Location, Dialect::MySql) => Some(&MYSQL_LOCATION),
        (Service::Order, Dialect::Sqlite) => Some(&SQLITE_ORDER),
        (Service::Order, Dialect::MySql) => Some(&MYSQL_ORDER),
        (Service::Cart, Dialect::Sqlite) => Some(&SQLITE_CART),
        (Service::Cart, Dialect::MySql) => Some(&MYSQL_CART),
        (Service::Payment, Dialect::Sqlite) => Some(&SQLITE_PAYMENT),
        (Service::Payment, Dialect::MySql) => Some(&MYSQL_PAYMENT),
        (Service::Analytics, Dialect::Sqlite) => Some(&SQLITE_ANALYTICS),
        (Service::Analytics, Dialect::MySql) => Some(&MYSQL_ANALYTICS),
        (Service::Notification, Dialect::Sqlite) => Some(&SQLITE_NOTIFICATION),
        (Service::Notification, Dialect::MySql) => Some(&MYSQL_NOTIFICATION),
        (Service::Delivery, Dialect::Sqlite) => Some(&SQLITE_DELIVERY),
        (Service::Delivery, Dialect::MySql) => Some(&MYSQL_DELIVERY),
        _ => None,
    }
}

/// Services that have migrations in this build.
pub fn migrated_services() -> Vec<Service> {
    Service::ALL
        .into_iter()
        .filter(|s| migrator(*s, Dialect::Sqlite).is_some())
        .collect()
}

/// Applies every pending migration; returns how many were applied.
pub async fn run(svc: Service, db: &Db) -> anyhow::Result<usize> {
    let Some(m) = migrator(svc, db.dialect()) else {
        return Ok(0);
    };
    let before = applied_versions(db).await?.len();
    m.run(db.pool())
        .await
        .with_context(|| format!("migrating {} ({})", svc, db.display_url()))?;
    let after = applied_versions(db).await?.len();
    Ok(after.saturating_sub(before))
}

/// One migration and whether it is applied.
#[derive(Debug, Clone)]
pub struct MigrationStatus {
    pub version: i64,
    pub description: String,
    pub applied_on: Option<String>,
}

/// Lists the migrations of `svc` against the database at `url` without creating it.
pub async fn status(svc: Service, url: &Secret) -> anyhow::Result<Vec<MigrationStatus>> {
    let dialect = Dialect::from_url(url.expose()).context("unsupported database URL")?;
    let Some(m) = migrator(svc, dialect) else {
        return Ok(Vec::new());
    };
    let applied = if Db::exists(url).await? {
        let db = Db::connect(url, 1).await?;
        let a = applied_versions(&db).await;
        db.close().await;
        a?
    } else {
        HashMap::new()
    };
    Ok(m.iter()
        .filter(|mig| !mig.migration_type.is_down_migration())
        .map(|mig| MigrationStatus {
            version: mig.version,
            description: mig.description.to_string(),
            applied_on: applied.get(&mig.version).cloned(),
        })
        .collect())
}

/// Number of migrations not yet applied to `db`.
pub async fn pending(svc: Service, db: &Db) -> anyhow::Result<usize> {
    let Some(m) = migrator(svc, db.dialect()) else {
        return Ok(0);
    };
    let applied = applied_versions(db).await?;
    Ok(m.iter()
        .filter(|mig| !mig.migration_type.is_down_migration() && !applied.contains_key(&mig.version))
        .count())
}

async fn applied_versions(db: &Db) -> anyhow::Result<HashMap<i64, String>> {
    let table_exists = match db.dialect() {
        Dialect::Sqlite => "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
        Dialect::MySql => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '_sqlx_migrations'",
    };
    let n: i64 = sqlx::query(table_exists).fetch_one(db.pool()).await?.try_get("n")?;
    if n == 0 {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(
        "SELECT version, CAST(installed_on AS CHAR) AS installed_on FROM _sqlx_migrations WHERE success = 1",
    )
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("version")?, super::text(r, "installed_on")?)))
        .collect()
}
