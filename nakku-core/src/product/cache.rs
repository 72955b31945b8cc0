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

use crate::config::redact_url;
use crate::tls::ExtraRoots;

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
        gate: RedisGate,
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

    /// Connects to Redis at `url` (`rediss://` for TLS); keys are `<prefix>:<key>`.
    pub async fn redis(url: &str, roots: &ExtraRoots, prefix: &str, ttl: Duration) -> anyhow::Result<Self> {
        // Short timeouts: a slow Redis must cost a request milliseconds, not seconds.
        let conn = connect_redis(url, roots, Duration::from_millis(500), 2).await?;
        Ok(Cache::Redis {
            conn,
            prefix: prefix.to_owned(),
            ttl,
            gate: RedisGate::default(),
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
            Cache::Redis { conn, prefix, gate, .. } => {
                let mut c = conn.clone();
                match gate.call(c.get::<_, Option<String>>(format!("{prefix}:{key}"))).await {
                    Some(Ok(v)) => v.map(Arc::from),
                    Some(Err(e)) => {
                        error("get", &e);
                        None
                    }
                    None => None,
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
            Cache::Redis {
                conn,
                prefix,
                ttl,
                gate,
            } => {
                let mut c = conn.clone();
                if let Some(Err(e)) = gate
                    .call(c.set_ex::<_, _, ()>(format!("{prefix}:{key}"), value.as_ref(), ttl.as_secs().max(1)))
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
                if let Err(e) = bounded(c.del::<_, ()>(full)).await {
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
                bounded(redis::cmd("PING").query_async::<String>(&mut c))
                    .await
                    .map(|_| ())
                    .map_err(|e| anyhow::anyhow!("redis: {e}"))
            }
        }
    }
}

/// The longest a cache or rate-limit call to Redis may take, whatever the connection is
/// doing. The connection manager's own response timeout bounds one attempt, but a call made
/// while it reconnects waits for the reconnection: with Redis gone (a proxy that accepts
/// and closes) product pages took over 30 s in the fault suite. Past this the call counts as
/// failed: a miss for the cache, the instance's own buckets for rate limits.
pub const REDIS_CALL_LIMIT: Duration = Duration::from_millis(800);

/// How long calls skip Redis after one failed: each would otherwise wait for its own
/// timeout while Redis is gone.
const REDIS_REST: Duration = Duration::from_secs(2);

/// Redis calls that can do without it (cache reads and fills, rate-limit checks): after a
/// failed call the next ones skip Redis for [`REDIS_REST`] — a miss, the instance's own
/// buckets — and the first one after that tries again. Invalidations and health pings do
/// not go through it: they always try.
#[derive(Clone, Default)]
pub struct RedisGate {
    /// Until when (ms since the epoch) calls skip Redis.
    resting_until: Arc<std::sync::atomic::AtomicI64>,
}

impl RedisGate {
    /// `None` while resting; otherwise the call's result (a failure starts a rest).
    pub async fn call<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<redis::RedisResult<T>> {
        use std::sync::atomic::Ordering;
        if crate::id::now_ms() < self.resting_until.load(Ordering::Relaxed) {
            return None;
        }
        let r = bounded(call).await;
        if r.is_err() {
            let rest = i64::try_from(REDIS_REST.as_millis()).unwrap_or(i64::MAX);
            self.resting_until
                .store(crate::id::now_ms().saturating_add(rest), Ordering::Relaxed);
        }
        Some(r)
    }
}

/// `call`, failed with a timeout error after [`REDIS_CALL_LIMIT`].
pub async fn bounded<T>(call: impl std::future::Future<Output = redis::RedisResult<T>>) -> redis::RedisResult<T> {
    match tokio::time::timeout(REDIS_CALL_LIMIT, call).await {
        Ok(r) => r,
        Err(_) => Err(redis::RedisError::from((
            redis::ErrorKind::IoError,
            "no answer",
            format!("Redis did not answer within {REDIS_CALL_LIMIT:?}"),
        ))),
    }
}

fn error(op: &str, e: &redis::RedisError) {
    metrics::counter!("nakku_cache_errors_total").increment(1);
    tracing::warn!(op, error = %e, "redis cache error; reading from the database");
}

/// A self-healing Redis connection (the catalogue cache and the gateway's shared rate
/// limits): connects within 5 s or fails naming the server; a refused certificate is
/// explained (see [`crate::tls::explain`]).
pub async fn connect_redis(
    url: &str,
    roots: &ExtraRoots,
    response_timeout: Duration,
    retries: usize,
) -> anyhow::Result<ConnectionManager> {
    let client = roots.redis_client(url)?;
    let peer = redact_url(url);
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(response_timeout)
        .set_number_of_retries(retries);
    match tokio::time::timeout(
        Duration::from_secs(5),
        ConnectionManager::new_with_config(client, config),
    )
    .await
    {
        Err(_) => anyhow::bail!("connecting to Redis at {peer} timed out after 5 s"),
        Ok(Err(e)) => match crate::tls::explain(&e, &peer, "NAKKU_TLS_CA_FILE") {
            Some(why) => anyhow::bail!("connecting to Redis: {why}"),
            None => anyhow::bail!("connecting to Redis at {peer}: {e}"),
        },
        Ok(Ok(conn)) => Ok(conn),
    }
}
