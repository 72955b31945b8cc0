//! What building a service needs besides its routes: its database (migrations checked),
//! the catalogue with its cache, the relay and consumer settings, the token secret.

use super::*;

/// The catalogue service with its cache: Redis when `redis_url` is set (keys under
/// `<event_topic_prefix>:product:`), in-process otherwise.
pub async fn build_catalogue(settings: &Settings, db: Db) -> anyhow::Result<nakku_core::product::ProductService> {
    use nakku_core::product::{cache::Cache, ProductConfig, ProductService};
    let ttl = Duration::from_secs(settings.cache_ttl_secs);
    let cache = match &settings.redis_url {
        Some(url) => {
            let roots = nakku_core::tls::ExtraRoots::from_settings(settings)?;
            Cache::redis(
                url.expose(),
                &roots,
                &format!("{}:product", settings.event_topic_prefix),
                ttl,
            )
            .await?
        }
        None => Cache::local(50_000, ttl),
    };
    let cfg = ProductConfig {
        refresh_every: Duration::from_millis(settings.catalogue_refresh_ms),
    };
    let started = std::time::Instant::now();
    let svc = ProductService::new(db, cache, cfg)
        .await
        .context("loading the catalogue index")?;
    tracing::info!(
        products = svc.indexed(),
        cache = svc.cache().kind(),
        ms = started.elapsed().as_millis() as u64,
        "catalogue index built"
    );
    Ok(svc)
}

pub(super) fn relay_config(s: &Settings) -> RelayConfig {
    RelayConfig {
        batch: s.relay_batch_size,
        poll: Duration::from_millis(s.relay_poll_ms),
        topic_prefix: s.event_topic_prefix.clone(),
        ..RelayConfig::default()
    }
}

/// Consumer settings from the configuration.
pub fn consumer_config(s: &Settings) -> ConsumerConfig {
    ConsumerConfig {
        max_attempts: s.consumer_max_attempts,
        topic_prefix: s.event_topic_prefix.clone(),
        ..ConsumerConfig::default()
    }
}

/// Connects a service's database and refuses to serve on an out-of-date schema.
pub async fn open_database(settings: &Settings, svc: Service) -> anyhow::Result<Db> {
    let url = settings
        .database_url_for(svc)
        .with_context(|| format!("the {svc} service has no database"))?;
    let db = Db::connect(&url, settings.db_max_connections).await?;
    let pending = migrate::pending(svc, &db).await?;
    if pending > 0 {
        bail!(
            "database of the {svc} service ({}) has {pending} pending migration(s); run `nakku migrate` first",
            db.display_url()
        );
    }
    Ok(db)
}

/// The JWT secret: configured, or in embedded mode generated once and kept in the data
/// directory. Production (MySQL) deployments must share one configured secret across
/// instances, so there it is required.
pub fn resolve_jwt_secret(settings: &Settings) -> anyhow::Result<Secret> {
    if let Some(s) = &settings.jwt_secret {
        return Ok(s.clone());
    }
    if !settings.is_embedded() {
        bail!("NAKKU_JWT_SECRET must be set (at least 32 bytes) when services use MySQL, so that every instance signs alike");
    }
    let path = settings.data_dir.join("jwt_secret");
    read_or_create_secret(&path)
}

fn read_or_create_secret(path: &Path) -> anyhow::Result<Secret> {
    match std::fs::read_to_string(path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(Secret::new(s.trim())),
        Ok(_) => bail!(
            "{} holds a secret shorter than 32 bytes; delete it to generate a new one",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let secret = auth::generate_secret();
    write_private(path, &secret).with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "NAKKU_JWT_SECRET is not set: generated a signing secret and stored it in the data directory (fine for embedded mode; set NAKKU_JWT_SECRET in production)"
    );
    Ok(Secret::new(secret))
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(content.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    std::fs::write(path, content)
}
