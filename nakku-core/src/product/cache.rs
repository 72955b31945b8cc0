//! The cache for hot catalogue reads (product pages, the category tree): Redis when
//! `NAKKU_REDIS_URL` is set, so every instance shares it and a change made through any of
//! them is seen by all; otherwise an in-process cache (quick_cache) that other instances'
//! changes reach through the index refresher. Entries carry a time to live as a backstop.
//!
//! A cache failure never fails a request: a Redis error counts as a miss (and is logged and
//! counted in `nakku_cache_errors_total`), and the read goes to the database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;
use redis::AsyncCommands;

#[derive(Clone)]
pub enum Cache {
    Local {
        entries: Arc<quick_cache::sync::Cache<String, (Instant, Arc<str>)>>,
        ttl: Duration,
    },
    Redis {
        conn: ConnectionManager,
        prefix: String,
        ttl: Duration,
    },
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cache::Local { .. } => f.write_str("Cache::Local"),
            Cache::Redis { prefix, .. } => write!(f, "Cache::Redis({prefix})"),
        }
    }
}

impl Cache {
    pub fn local(capacity: usize, ttl: Duration) -> Self {
        Cache::Local {
            entries: Arc::new(quick_cache::sync::Cache::new(capacity.max(16))),
            ttl,
        }
    }

    /// Connects to Redis at `url`; keys are `<prefix>:<key>`.
    pub async fn redis(url: &str, prefix: &str, ttl: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).map_err(|e| anyhow::anyhow!("invalid NAKKU_REDIS_URL: {e}"))?;
        // Short timeouts: a slow Redis must cost a request milliseconds, not seconds.
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_millis(500))
            .set_number_of_retries(2);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("connecting to Redis timed out after 5 s"))?
        .map_err(|e| anyhow::anyhow!("connecting to Redis: {e}"))?;
        Ok(Cache::Redis {
            conn,
            prefix: prefix.to_owned(),
            ttl,
        })
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Cache::Local { .. } => "local",
            Cache::Redis { .. } => "redis",
        }
    }

    pub async fn get(&self, key: &str) -> Option<Arc<str>> {
        let hit = match self {
            Cache::Local { entries, ttl } => entries.get(key).filter(|(at, _)| at.elapsed() < *ttl).map(|(_, v)| v),
            Cache::Redis { conn, prefix, .. } => {
                let mut c = conn.clone();
                match c.get::<_, Option<String>>(format!("{prefix}:{key}")).await {
                    Ok(v) => v.map(Arc::from),
                    Err(e) => {
                        error("get", &e);
                        None
                    }
                }
            }
        };
        metrics::counter!("nakku_cache_requests_total", "result" => if hit.is_some() { "hit" } else { "miss" })
            .increment(1);
        hit
    }

    pub async fn put(&self, key: &str, value: Arc<str>) {
        match self {
            Cache::Local { entries, .. } => entries.insert(key.to_owned(), (Instant::now(), value)),
            Cache::Redis { conn, prefix, ttl } => {
                let mut c = conn.clone();
                if let Err(e) = c
                    .set_ex::<_, _, ()>(format!("{prefix}:{key}"), value.as_ref(), ttl.as_secs().max(1))
                    .await
                {
                    error("set", &e);
                }
            }
        }
    }

    pub async fn invalidate(&self, keys: &[String]) {
        if keys.is_empty() {
            return;
        }
        match self {
            Cache::Local { entries, .. } => {
                for k in keys {
                    entries.remove(k);
                }
            }
            Cache::Redis { conn, prefix, .. } => {
                let mut c = conn.clone();
                let full: Vec<String> = keys.iter().map(|k| format!("{prefix}:{k}")).collect();
                if let Err(e) = c.del::<_, ()>(full).await {
                    error("del", &e);
                }
            }
        }
    }

    /// Checks the cache can be reached (for `/health`).
    pub async fn ping(&self) -> anyhow::Result<()> {
        match self {
            Cache::Local { .. } => Ok(()),
            Cache::Redis { conn, .. } => {
                let mut c = conn.clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .map(|_| ())
                    .map_err(|e| anyhow::anyhow!("redis: {e}"))
            }
        }
    }
}

fn error(op: &str, e: &redis::RedisError) {
    metrics::counter!("nakku_cache_errors_total").increment(1);
    tracing::warn!(op, error = %e, "redis cache error; reading from the database");
}
