//! The gateway's rate limits: a token bucket per caller and route class — signed-in callers
//! by user id, anonymous ones by IP address. Classes: `auth` (register, login, refresh:
//! per IP, against password guessing), `write` (every other non-GET) and `read` (GET).
//! A bucket holds a minute's allowance and refills evenly over the minute.
//!
//! With `NAKKU_REDIS_URL` the buckets live in Redis (one Lua script updates a bucket
//! atomically on Redis's clock), so every gateway instance draws from the same ones;
//! without it, or while Redis is unreachable, each instance keeps its own (the `governor`
//! crate's keyed limiter).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// Requests per minute per caller for each class; 0 switches a class off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub auth: u32,
    pub write: u32,
    pub read: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Auth,
    Write,
    Read,
}

impl Class {
    pub fn of(method: &str, endpoint_path: &str) -> Class {
        if matches!(endpoint_path, "auth/register" | "auth/login" | "auth/refresh") {
            Class::Auth
        } else if method == "GET" || method == "HEAD" || method == "OPTIONS" {
            Class::Read
        } else {
            Class::Write
        }
    }

    fn name(self) -> &'static str {
        match self {
            Class::Auth => "auth",
            Class::Write => "write",
            Class::Read => "read",
        }
    }
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until a token is back (when refused).
    pub retry_after_secs: u64,
}

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// A bucket's update on Redis: refill by elapsed time (Redis's clock), take one token if
/// there is one. Returns {allowed, tokens left, ms until the next token}.
const SCRIPT: &str = r#"
local cap = tonumber(ARGV[1])
local per_ms = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then tokens = cap; ts = now end
tokens = math.min(cap, tokens + math.max(0, now - ts) * per_ms)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / per_ms)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / per_ms) + 1000)
return {allowed, math.floor(tokens), wait}
"#;

pub struct Limiter {
    limits: Limits,
    local: [Option<Keyed>; 3],
    redis: Option<(redis::aio::ConnectionManager, String)>,
    script: redis::Script,
    /// Skips Redis for a moment after it failed (see `RedisGate`).
    gate: nakku_core::product::cache::RedisGate,
}

impl Limiter {
    /// In-process buckets only.
    pub fn local(limits: Limits) -> Limiter {
        let make = |n: u32| NonZeroU32::new(n).map(|n| RateLimiter::keyed(Quota::per_minute(n)).with_middleware());
        Limiter {
            limits,
            local: [make(limits.auth), make(limits.write), make(limits.read)],
            redis: None,
            script: redis::Script::new(SCRIPT),
            gate: Default::default(),
        }
    }

    /// Buckets shared through Redis (keys `<prefix>:rl:<class>:<caller>`).
    pub async fn shared(
        limits: Limits,
        url: &str,
        roots: &nakku_core::tls::ExtraRoots,
        prefix: &str,
    ) -> anyhow::Result<Limiter> {
        let conn = nakku_core::product::cache::connect_redis(url, roots, Duration::from_millis(300), 1).await?;
        let mut l = Limiter::local(limits);
        l.redis = Some((conn, prefix.to_owned()));
        Ok(l)
    }

    pub fn kind(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "local"
        }
    }

    fn limit(&self, class: Class) -> u32 {
        match class {
            Class::Auth => self.limits.auth,
            Class::Write => self.limits.write,
            Class::Read => self.limits.read,
        }
    }

    /// Takes a token for `caller` in `class`; `None` when the class is not limited.
    pub async fn check(&self, class: Class, caller: &str) -> Option<Decision> {
        let limit = self.limit(class);
        if limit == 0 {
            return None;
        }
        if let Some((conn, prefix)) = &self.redis {
            let key = format!("{prefix}:rl:{}:{caller}", class.name());
            let per_ms = f64::from(limit) / 60_000.0;
            let mut conn = conn.clone();
            let r: Option<Result<(i64, i64, i64), _>> = self
                .gate
                .call(self.script.key(key).arg(limit).arg(per_ms).invoke_async(&mut conn))
                .await;
            match r {
                // Resting after a failure: this instance's own buckets meanwhile.
                None => {}
                Some(Ok((allowed, left, wait_ms))) => {
                    return Some(Decision {
                        allowed: allowed == 1,
                        limit,
                        remaining: u32::try_from(left.max(0)).unwrap_or(0),
                        retry_after_secs: (u64::try_from(wait_ms.max(0)).unwrap_or(0)).div_ceil(1000).max(1),
                    })
                }
                Some(Err(e)) => {
                    // Limits keep holding per instance while Redis is away.
                    metrics::counter!("nakku_rate_limit_redis_errors_total").increment(1);
                    tracing::warn!(error = %e, "rate limit store unreachable; limiting in this instance");
                }
            }
        }
        let keyed = self.local[class as usize].as_ref()?;
        Some(match keyed.check_key(&caller.to_owned()) {
            Ok(snapshot) => Decision {
                allowed: true,
                limit,
                remaining: snapshot.remaining_burst_capacity(),
                retry_after_secs: 0,
            },
            Err(not_until) => Decision {
                allowed: false,
                limit,
                remaining: 0,
                retry_after_secs: not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs_f64()
                    .ceil()
                    .max(1.0) as u64,
            },
        })
    }

    /// Forgets idle in-process buckets now and then.
    pub fn spawn_upkeep(self: &Arc<Self>) {
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(me) = me.upgrade() else { break };
                for keyed in me.local.iter().flatten() {
                    keyed.retain_recent();
                    keyed.shrink_to_fit();
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_caller_gets_the_minutes_allowance_then_waits_and_others_are_unaffected() {
        let l = Limiter::local(Limits {
            auth: 3,
            write: 0,
            read: 100,
        });
        for left in (0..3).rev() {
            let d = l.check(Class::Auth, "ip:1.2.3.4").await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let d = l.check(Class::Auth, "ip:1.2.3.4").await.unwrap();
        assert!(!d.allowed);
        assert!((1..=20).contains(&d.retry_after_secs), "{d:?}");
        assert!(l.check(Class::Auth, "ip:5.6.7.8").await.unwrap().allowed);
        assert!(
            l.check(Class::Read, "ip:1.2.3.4").await.unwrap().allowed,
            "classes apart"
        );
        assert_eq!(l.check(Class::Write, "ip:1.2.3.4").await, None, "off");
        assert_eq!(Class::of("POST", "auth/login"), Class::Auth);
        assert_eq!(Class::of("POST", "orders"), Class::Write);
        assert_eq!(Class::of("GET", "orders"), Class::Read);
    }
}

/// The limiter when its Redis store answers with errors: it keeps limiting in the instance.
#[cfg(test)]
mod fallback_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server speaking just enough of Redis's protocol to accept connections, answering
    /// every command with an error (a store that is up but failing). Returns its URL and
    /// how many commands it refused.
    async fn failing_store() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = refused.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        // One reply per command: each one is an array starting a line with `*`.
                        let chunk = &buf[..n];
                        let commands = usize::from(chunk.first() == Some(&b'*'))
                            + chunk.windows(3).filter(|w| w == b"\r\n*").count();
                        count.fetch_add(commands, std::sync::atomic::Ordering::SeqCst);
                        let reply = b"-ERR fault injected\r\n".repeat(commands);
                        if s.write_all(&reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (url, refused)
    }

    #[tokio::test]
    async fn a_failing_redis_falls_back_to_limits_in_this_instance() {
        let (url, refused) = failing_store().await;
        let limits = Limits {
            auth: 2,
            write: 0,
            read: 100,
        };
        let l = Limiter::shared(limits, &url, &Default::default(), "t").await.unwrap();
        assert_eq!(l.kind(), "redis");
        let before = refused.load(std::sync::atomic::Ordering::SeqCst);
        // Given Redis refusing every call, when a caller keeps signing in, then the
        // instance's own buckets answer: the allowance, then 429s with a wait.
        let first = l.check(Class::Auth, "ip:1.2.3.4").await.unwrap();
        assert!(
            refused.load(std::sync::atomic::Ordering::SeqCst) > before,
            "Redis was asked first"
        );
        assert!(first.allowed);
        assert_eq!(first.remaining, 1);
        assert!(l.check(Class::Auth, "ip:1.2.3.4").await.unwrap().allowed);
        let third = l.check(Class::Auth, "ip:1.2.3.4").await.unwrap();
        assert!(!third.allowed, "{third:?}");
        assert!(third.retry_after_secs >= 1, "{third:?}");
        // Other callers and classes keep their own buckets; unlimited classes stay unlimited.
        assert!(l.check(Class::Auth, "ip:5.6.7.8").await.unwrap().allowed);
        assert!(l.check(Class::Read, "ip:1.2.3.4").await.unwrap().allowed);
        assert_eq!(l.check(Class::Write, "ip:1.2.3.4").await, None);
    }
}
